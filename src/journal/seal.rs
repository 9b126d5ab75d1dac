//! Sealing a journal: an SSH signature (namespace `bringup-journal`) over its head — the last
//! `seq` and `hash` — made and checked by OpenSSH's own `ssh-keygen -Y`, so an auditor needs
//! nothing but OpenSSH to check it. Owns the signed message's format and the two files beside
//! the journal; never writes the journal itself.
//!
//! `JOURNAL.seal` holds the signed message, exactly:
//!
//! ```text
//! bringup-journal-seal v1
//! seq 42
//! hash 3f5c…(64 lowercase hex)
//! ```
//!
//! and `JOURNAL.sig` the armoured SSH signature of those bytes, so that
//! `ssh-keygen -Y verify -f allowed_signers -I PRINCIPAL -n bringup-journal -s JOURNAL.sig < JOURNAL.seal`
//! checks it. The hash at `seq` covers every event before it through the chain.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::journal::files::{self, FILE_MODE};

/// The SSH signature namespace of journal seals (`ssh-keygen -n`).
pub const NAMESPACE: &str = "bringup-journal";
/// First line of the signed message; names the format's version.
const MAGIC: &str = "bringup-journal-seal v1";
/// The signed message is a few dozen bytes; anything much larger is not one.
const MAX_MESSAGE: u64 = 4096;

/// The head of a journal as signed: its last `seq` and that event's `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    /// The exact bytes that are signed.
    pub fn message(&self) -> String {
        format!("{MAGIC}\nseq {}\nhash {}\n", self.seq, self.hash)
    }

    /// Read a message back; only the exact form [`Head::message`] writes is accepted.
    pub fn parse(text: &str) -> Option<Head> {
        let mut lines = text.strip_suffix('\n')?.split('\n');
        if lines.next()? != MAGIC {
            return None;
        }
        let seq = lines.next()?.strip_prefix("seq ")?.parse().ok()?;
        let hash = lines.next()?.strip_prefix("hash ")?.to_string();
        let is_hex =
            hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !is_hex || lines.next().is_some() {
            return None;
        }
        let head = Head { seq, hash };
        (head.message() == text).then_some(head)
    }
}

/// Which key signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKey {
    /// The ssh-agent's first key (`SSH_AUTH_SOCK`).
    Agent,
    /// A private key file, or a public key file whose private half is in the agent.
    File(PathBuf),
}

/// Errors sealing or checking a seal.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot run 'ssh-keygen': {0}; install OpenSSH's ssh-keygen (8.1 or later)")]
    NoKeygen(io::Error),
    /// ssh-keygen ran and never ended: stopped after `sshsig::TIMEOUT`.
    #[error("{0}; run the check again, and if it stalls again check ssh-keygen by hand")]
    Stalled(io::Error),
    #[error(
        "no ssh-agent to sign with (SSH_AUTH_SOCK is not set); start one and ssh-add a key, or pass -i KEY"
    )]
    NoAgent,
    #[error("the ssh-agent holds no key; ssh-add one, or pass -i KEY")]
    AgentEmpty,
    #[error("cannot list the ssh-agent's keys: {0}; check SSH_AUTH_SOCK, or pass -i KEY")]
    Agent(String),
    #[error("cannot sign with {key}: {reason}")]
    Sign { key: String, reason: String },
    #[error("cannot write '{path}': {source}; check the folder's permissions")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read '{path}': {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "'{0}' is not a bringup seal (expected '{MAGIC}', 'seq N', 'hash H'); the seal was altered"
    )]
    BadMessage(PathBuf),
    #[error("'{present}' exists but '{missing}' does not; the seal is incomplete")]
    Incomplete { present: PathBuf, missing: PathBuf },
    #[error("the signature is not valid for any signer in '{signers}': {reason}")]
    BadSignature { signers: PathBuf, reason: String },
}

/// `JOURNAL.sig`: the signature.
pub fn sig_path(journal: &Path) -> PathBuf {
    beside(journal, ".sig")
}

/// `JOURNAL.seal`: the signed message.
pub fn message_path(journal: &Path) -> PathBuf {
    beside(journal, ".seal")
}

fn beside(journal: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = journal.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    journal.with_file_name(name)
}

/// A seal read from beside a journal.
#[derive(Debug, Clone)]
pub struct Seal {
    pub head: Head,
    pub message_path: PathBuf,
    pub sig_path: PathBuf,
}

/// The seal beside `journal`, `None` when there is none at all.
pub fn read(journal: &Path) -> Result<Option<Seal>, SealError> {
    let message_path = message_path(journal);
    let sig_path = sig_path(journal);
    match (exists(&message_path), exists(&sig_path)) {
        (false, false) => return Ok(None),
        (true, false) => {
            return Err(SealError::Incomplete {
                present: message_path,
                missing: sig_path,
            });
        }
        (false, true) => {
            return Err(SealError::Incomplete {
                present: sig_path,
                missing: message_path,
            });
        }
        (true, true) => {}
    }
    let read_err = |source| SealError::Read {
        path: message_path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&message_path)
        .map_err(read_err)?;
    let mut text = String::new();
    io::Read::read_to_string(&mut io::Read::take(file, MAX_MESSAGE), &mut text)
        .map_err(read_err)?;
    let head = Head::parse(&text).ok_or_else(|| SealError::BadMessage(message_path.clone()))?;
    Ok(Some(Seal {
        head,
        message_path,
        sig_path,
    }))
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Sign `head` of `journal` with `key`; writes `JOURNAL.seal` and `JOURNAL.sig` (0600, each
/// replaced whole, never through a link). Returns what signed, for the operator.
pub fn seal(journal: &Path, head: &Head, key: &SigningKey) -> Result<String, SealError> {
    // What a seal killed mid-way left behind (its own pattern only, see `files::temp_path`).
    let agent_key = beside(journal, ".signer.pub");
    for out in [&agent_key, &message_path(journal), &sig_path(journal)] {
        files::remove_stale_temps(out);
    }
    let (key_file, agent_pub, described) = match key {
        SigningKey::File(path) => (path.clone(), None, format!("key '{}'", path.display())),
        SigningKey::Agent => {
            let public = agent_first_key()?;
            let tmp = files::temp_path(&agent_key);
            let _ = fs::remove_file(&tmp);
            write_new(&tmp, public.as_bytes())?;
            let comment = public.split_whitespace().nth(2).unwrap_or("").to_string();
            let described = if comment.is_empty() {
                "the ssh-agent's first key".to_string()
            } else {
                format!("the ssh-agent's first key ('{comment}')")
            };
            (tmp.clone(), Some(tmp), described)
        }
    };
    let signed = sign(&key_file, agent_pub.is_some(), head.message().as_bytes());
    if let Some(tmp) = agent_pub {
        let _ = fs::remove_file(tmp);
    }
    let signature = signed.map_err(|reason| SealError::Sign {
        key: described.clone(),
        reason,
    })?;
    replace(&message_path(journal), head.message().as_bytes())?;
    replace(&sig_path(journal), &signature)?;
    Ok(described)
}

/// The agent's first public key, as one `ssh-add -L` line.
fn agent_first_key() -> Result<String, SealError> {
    use crate::sshsig::KeygenError;
    crate::sshsig::agent_first_key().map_err(|e| match e {
        KeygenError::NoAgent => SealError::NoAgent,
        KeygenError::AgentEmpty => SealError::AgentEmpty,
        other => SealError::Agent(other.to_string()),
    })
}

/// `ssh-keygen -Y sign` over `message` on stdin; the armoured signature from stdout.
fn sign(key_file: &Path, agent: bool, message: &[u8]) -> Result<Vec<u8>, String> {
    crate::sshsig::sign(NAMESPACE, key_file, agent, message).map_err(|e| e.to_string())
}

/// Check the seal's signature against an allowed signers file (OpenSSH's format); the
/// principal that signed.
pub fn check_signature(seal: &Seal, signers: &Path) -> Result<String, SealError> {
    let bad = |reason: String| SealError::BadSignature {
        signers: signers.to_path_buf(),
        reason,
    };
    let mut find = Command::new("ssh-keygen");
    find.args(["-Y", "find-principals", "-n", NAMESPACE, "-s"])
        .arg(&seal.sig_path)
        .arg("-f")
        .arg(signers);
    let found = run_with_input(&mut find, b"").map_err(keygen_error)?;
    let principals = String::from_utf8_lossy(&found.stdout);
    let Some(principal) = principals.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(bad(stderr_line(
            &found.stderr,
            "no allowed signer holds the key that signed",
        )));
    };
    let message = fs::read(&seal.message_path).map_err(|source| SealError::Read {
        path: seal.message_path.clone(),
        source,
    })?;
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-Y", "verify", "-n", NAMESPACE, "-f"])
        .arg(signers)
        .arg("-I")
        .arg(principal)
        .arg("-s")
        .arg(&seal.sig_path);
    let out = run_with_input(&mut cmd, &message).map_err(keygen_error)?;
    if out.status.success() {
        Ok(principal.to_string())
    } else {
        Err(bad(stderr_line(
            &out.stderr,
            "ssh-keygen rejected the signature",
        )))
    }
}

/// What a journal's seal proves about it, as reports count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// The signature is valid for an allowed signer, and the chain reaches the signed head
    /// intact as the journal's last event.
    Verified { principal: String, seq: u64 },
    /// Sealed, and the signed head is the journal's last event, but no signers were given to
    /// check the signature against.
    NotChecked { seq: u64 },
    /// No seal: whatever it records is a claim.
    Unsealed,
    /// A seal that does not vouch for this journal, and why (one line).
    Refuted(String),
}

impl Evidence {
    /// Whether a report counts it: with signers only a verified journal; without, anything
    /// whose seal (if any) is not refuted.
    pub fn counts(&self, signers: bool) -> bool {
        match self {
            Evidence::Verified { .. } => true,
            Evidence::NotChecked { .. } | Evidence::Unsealed => !signers,
            Evidence::Refuted(_) => false,
        }
    }

    /// A short stable word for json: `sealed_verified`, `sealed_not_checked`, `unsealed`,
    /// `seal_refuted`.
    pub fn code(&self) -> &'static str {
        match self {
            Evidence::Verified { .. } => "sealed_verified",
            Evidence::NotChecked { .. } => "sealed_not_checked",
            Evidence::Unsealed => "unsealed",
            Evidence::Refuted(_) => "seal_refuted",
        }
    }

    /// A few words, for a table of journals.
    pub fn word(&self) -> String {
        match self {
            Evidence::Verified { principal, seq } => {
                format!("sealed and verified ('{principal}', seq {seq})")
            }
            Evidence::NotChecked { seq } => format!("sealed, not checked (seq {seq})"),
            Evidence::Unsealed => "unsealed".to_string(),
            Evidence::Refuted(_) => "seal refuted".to_string(),
        }
    }

    /// One phrase for a person.
    pub fn describe(&self) -> String {
        match self {
            Evidence::Verified { principal, seq } => {
                format!("sealed and verified (signed by '{principal}' at seq {seq})")
            }
            Evidence::NotChecked { seq } => {
                format!("sealed at seq {seq}, signature not checked (no --allowed-signers)")
            }
            Evidence::Unsealed => "unsealed: its results are a claim, not evidence".to_string(),
            Evidence::Refuted(why) => format!("not evidence: its seal does not hold: {why}"),
        }
    }
}

/// Judge a journal's seal: `sealed` as [`read`] returned it, the chain as checked, and the
/// hash the chain holds at the signed `seq` (`None` when it does not reach it). The
/// signature is checked with `ssh-keygen` only when `signers` is given, and only once the
/// chain and the head hold (a signature over a head the journal does not have proves nothing
/// about it).
pub fn evidence(
    sealed: Result<Option<Seal>, SealError>,
    signers: Option<&Path>,
    chain: &crate::journal::verify::Report,
    at_head: Option<&str>,
) -> Evidence {
    let seal = match sealed {
        Ok(Some(s)) => s,
        Ok(None) => return Evidence::Unsealed,
        Err(e) => return Evidence::Refuted(format!("its seal cannot be used: {e}")),
    };
    let (seq, last_seq) = (seal.head.seq, chain.last_seq);
    if let Some(p) = chain.first_problem() {
        return Evidence::Refuted(format!("the chain is broken at {p}"));
    }
    match at_head {
        None => {
            return Evidence::Refuted(format!(
                "the signed head seq {seq} is missing: the journal was cut after it was sealed (it ends at seq {last_seq})"
            ));
        }
        Some(h) if h != seal.head.hash => {
            return Evidence::Refuted(format!(
                "the hash at seq {seq} differs from the signed one: the journal was rewritten after it was sealed"
            ));
        }
        Some(_) if last_seq > seq => {
            return Evidence::Refuted(format!(
                "{} event(s) after the signed seq {seq} are not covered by the seal; seal it again",
                last_seq - seq
            ));
        }
        Some(_) => {}
    }
    match signers {
        None => Evidence::NotChecked { seq },
        Some(signers) => match check_signature(&seal, signers) {
            Ok(principal) => Evidence::Verified { principal, seq },
            Err(e) => Evidence::Refuted(e.to_string()),
        },
    }
}

fn run_with_input(cmd: &mut Command, input: &[u8]) -> io::Result<std::process::Output> {
    crate::sshsig::run_with_input(cmd, input)
}

/// Why ssh-keygen gave no answer: it could not start (not installed), or it was stopped.
fn keygen_error(e: io::Error) -> SealError {
    if e.kind() == io::ErrorKind::TimedOut {
        SealError::Stalled(e)
    } else {
        SealError::NoKeygen(e)
    }
}

/// The last non-empty line ssh-keygen printed on stderr, or `fallback`.
fn stderr_line(stderr: &[u8], fallback: &str) -> String {
    crate::sshsig::stderr_line(stderr, fallback)
}

/// Create `path` new (never an existing file or a link), 0600, holding `bytes`.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    let write_err = |source| SealError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
        .map_err(write_err)?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(write_err)?;
    f.write_all(bytes).map_err(write_err)?;
    f.sync_all().map_err(write_err)
}

/// Replace `path` whole: a fresh file renamed over it (a link at `path` is replaced, not
/// followed; see [`files::write_atomically`]).
fn replace(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    files::write_atomically(path, |w| w.write_all(bytes)).map_err(|source| SealError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Head {
        Head {
            seq: 42,
            hash: "ab".repeat(32),
        }
    }

    #[test]
    fn a_stalled_ssh_keygen_is_not_told_to_be_installed() {
        let stalled = keygen_error(io::Error::new(
            io::ErrorKind::TimedOut,
            "'ssh-keygen -Y verify' did not answer in 10 s and was stopped",
        ))
        .to_string();
        assert!(stalled.contains("did not answer"), "{stalled}");
        assert!(!stalled.contains("install"), "{stalled}");
        let missing = keygen_error(io::Error::from(io::ErrorKind::NotFound)).to_string();
        assert!(
            missing.contains("install OpenSSH's ssh-keygen"),
            "{missing}"
        );
    }

    #[test]
    fn the_signed_message_is_three_lines_and_reads_back_exactly() {
        let h = head();
        let m = h.message();
        assert_eq!(
            m,
            format!(
                "bringup-journal-seal v1\nseq 42\nhash {}\n",
                "ab".repeat(32)
            )
        );
        assert_eq!(Head::parse(&m), Some(h));
    }

    #[test]
    fn a_message_in_any_other_form_is_not_a_seal() {
        let good = head().message();
        for bad in [
            good.trim_end().to_string(),
            good.replace("v1", "v2"),
            good.replace("seq 42", "seq 042"),
            good.replace("seq 42", "seq -1"),
            good.replace(&"ab".repeat(32), &"AB".repeat(32)),
            good.replace(&"ab".repeat(32), "abc"),
            format!("{good}extra\n"),
            good.replace('\n', "\r\n"),
        ] {
            assert_eq!(Head::parse(&bad), None, "{bad:?}");
        }
    }

    #[allow(clippy::unnecessary_wraps)] // as `read` returns it
    fn sealed_at(seq: u64) -> Result<Option<Seal>, SealError> {
        Ok(Some(Seal {
            head: Head {
                seq,
                hash: "ab".repeat(32),
            },
            message_path: PathBuf::from("/nonexistent/j.jsonl.seal"),
            sig_path: PathBuf::from("/nonexistent/j.jsonl.sig"),
        }))
    }

    fn chain(last_seq: u64) -> crate::journal::verify::Report {
        crate::journal::verify::Report {
            last_seq,
            ..Default::default()
        }
    }

    #[test]
    fn a_seal_is_judged_against_the_chain_before_any_signature() {
        let signed = "ab".repeat(32);
        assert_eq!(
            evidence(Ok(None), None, &chain(9), None),
            Evidence::Unsealed
        );
        assert_eq!(
            evidence(sealed_at(9), None, &chain(9), Some(&signed)),
            Evidence::NotChecked { seq: 9 }
        );
        let refuted = |e: Evidence| match e {
            Evidence::Refuted(why) => why,
            other => panic!("not refuted: {other:?}"),
        };
        let cut = refuted(evidence(sealed_at(9), None, &chain(7), None));
        assert!(cut.contains("the journal was cut"), "{cut}");
        let other = "cd".repeat(32);
        let rewritten = refuted(evidence(sealed_at(9), None, &chain(9), Some(&other)));
        assert!(
            rewritten.contains("rewritten after it was sealed"),
            "{rewritten}"
        );
        let tail = refuted(evidence(sealed_at(9), None, &chain(11), Some(&signed)));
        assert!(
            tail.starts_with("2 event(s) after the signed seq 9"),
            "{tail}"
        );
        let mut broken = chain(9);
        broken.problems.push(crate::journal::verify::Problem {
            line: 3,
            seq: 3,
            kind: crate::journal::verify::ProblemKind::SeqGap {
                expected: 3,
                found: 4,
            },
        });
        let broken = refuted(evidence(sealed_at(9), None, &broken, Some(&signed)));
        assert!(
            broken.starts_with("the chain is broken at seq 3"),
            "{broken}"
        );
        // Whatever it is, only a verified journal counts once signers are given.
        assert!(Evidence::NotChecked { seq: 9 }.counts(false));
        assert!(!Evidence::NotChecked { seq: 9 }.counts(true));
        assert!(!Evidence::Unsealed.counts(true));
        assert!(!Evidence::Refuted(String::new()).counts(false));
    }

    #[test]
    fn the_seal_files_sit_beside_the_journal() {
        let j = Path::new("/x/run.jsonl");
        assert_eq!(sig_path(j), Path::new("/x/run.jsonl.sig"));
        assert_eq!(message_path(j), Path::new("/x/run.jsonl.seal"));
    }
}
