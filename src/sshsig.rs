//! OpenSSH signatures through OpenSSH's own `ssh-keygen -Y` (sign, verify, find-principals,
//! check-novalidate): the one place bringup runs it, for journal seals (`journal::seal`) and
//! operators' requests (`identity`). Owns no message format and words no error for a user:
//! each caller says what to do in its own terms (`-i KEY`, `--sign-key KEY`).
//!
//! Reading a signature's public key (its SHA256 fingerprint, and the key to look up in an
//! allowed-signers file) is done here from the armoured `SSHSIG` blob, so that no second
//! process is needed for it.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// Why `ssh-keygen` or the agent could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error("'ssh-keygen' is not installed (OpenSSH 8.1 or later is needed)")]
    NotInstalled,
    #[error("cannot run 'ssh-keygen': {0}")]
    Spawn(io::Error),
    #[error("SSH_AUTH_SOCK is not set")]
    NoAgent,
    #[error("the ssh-agent holds no key")]
    AgentEmpty,
    #[error("cannot list the ssh-agent's keys: {0}")]
    Agent(String),
    /// ssh-keygen ran and said no: its last line on stderr.
    #[error("{0}")]
    Refused(String),
    /// The process did not end in time ([`TIMEOUT`]) and was stopped: `what` is the program
    /// and the operation it was asked for (`ssh-add -L`, `ssh-keygen -Y sign`).
    #[error("'{what}' did not answer in {} s and was stopped", .after.as_secs())]
    TimedOut { what: String, after: Duration },
    /// `ssh-keygen -Y sign` with the agent's key did not end in [`AGENT_SIGN_TIMEOUT`] and was
    /// stopped. The agent cannot be told apart from one that hangs: a key added with
    /// `ssh-add -c` waits for its user to confirm, and the agent lists no such constraint.
    #[error(
        "the ssh-agent did not answer in {} s: if the key asks for confirmation (ssh-add -c), confirm it when the agent asks; otherwise check that the ssh-agent at SSH_AUTH_SOCK ('{socket}') answers (ssh-add -l)",
        .after.as_secs()
    )]
    AgentSilent { after: Duration, socket: String },
    #[error("cannot write a temporary file in '{path}': {source}")]
    Temp {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// How long one `ssh-keygen` or `ssh-add` may run. Signing and checking take milliseconds;
/// one still running after this waits on something that is not coming (an ssh-agent that
/// accepts and never answers, a prompt nobody sees), and is stopped.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long signing with the agent's key (`ssh-keygen -Y sign -U`) may run: a key added with
/// `ssh-add -c` makes the agent ask its user to confirm each use (through ssh-askpass), and
/// someone woken at 3 a.m. takes longer than [`TIMEOUT`] to read the dialog. Listing the
/// agent's keys (`ssh-add -L`) asks no one and keeps [`TIMEOUT`], so an agent that never
/// answers still stops a start within it.
pub const AGENT_SIGN_TIMEOUT: Duration = Duration::from_secs(60);

/// What ssh-keygen says when the agent answers a signing request with a failure: a confirmation
/// declined, or one the agent could not ask for (no ssh-askpass, no display where it runs).
const AGENT_REFUSED: &str = "agent refused operation";

/// The agent's first public key, as one `ssh-add -L` line (with its newline).
pub fn agent_first_key() -> Result<String, KeygenError> {
    if std::env::var_os("SSH_AUTH_SOCK").is_none_or(|s| s.is_empty()) {
        return Err(KeygenError::NoAgent);
    }
    let mut cmd = Command::new("ssh-add");
    cmd.arg("-L");
    let out = run_with_input(&mut cmd, b"").map_err(|e| match timed_out(&e) {
        Some(error) => error,
        None => KeygenError::Agent(e.to_string()),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // `ssh-add -L` exits 1 with "The agent has no identities." when it is empty.
    match stdout
        .lines()
        .find(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-") || l.starts_with("sk-"))
    {
        Some(line) => Ok(format!("{line}\n")),
        None if out.status.code() == Some(1) => Err(KeygenError::AgentEmpty),
        None => Err(KeygenError::Agent(stderr_line(&out.stderr, &stdout))),
    }
}

/// `ssh-keygen -Y sign -n NAMESPACE` over `message` on stdin; the armoured signature.
/// `agent`: `key_file` is a public key whose private half is in the agent (`-U`).
pub fn sign(
    namespace: &str,
    key_file: &Path,
    agent: bool,
    message: &[u8],
) -> Result<Vec<u8>, KeygenError> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-Y", "sign", "-n", namespace]);
    if agent {
        cmd.arg("-U");
    }
    cmd.arg("-f").arg(key_file);
    let out = if agent {
        run_within(&mut cmd, message, AGENT_SIGN_TIMEOUT).map_err(|e| match timed_out(&e) {
            Some(_) => KeygenError::AgentSilent {
                after: AGENT_SIGN_TIMEOUT,
                socket: std::env::var_os("SSH_AUTH_SOCK")
                    .map(|s| crate::text::visible(&s.to_string_lossy()).into_owned())
                    .unwrap_or_default(),
            },
            None => keygen_error(e),
        })?
    } else {
        keygen(&mut cmd, message)?
    };
    if out.status.success() && out.stdout.starts_with(b"-----BEGIN SSH SIGNATURE-----") {
        return Ok(out.stdout);
    }
    let said = stderr_line(&out.stderr, "ssh-keygen made no signature");
    Err(KeygenError::Refused(
        if agent && said.contains(AGENT_REFUSED) {
            refused_by_agent(&said)
        } else {
            said
        },
    ))
}

/// ssh-keygen's "agent refused operation", with what it most often means.
fn refused_by_agent(said: &str) -> String {
    format!(
        "{said} (if the key asks for confirmation (ssh-add -c), it was declined or the agent could not ask: it needs SSH_ASKPASS and a DISPLAY where it runs)"
    )
}

/// The principals of `signers` that may sign in `namespace` with the key that made the
/// signature in `sig_file` (`ssh-keygen -Y find-principals`); empty when none.
pub fn find_principals(
    namespace: &str,
    signers: &Path,
    sig_file: &Path,
) -> Result<Vec<String>, KeygenError> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-Y", "find-principals", "-n", namespace, "-s"])
        .arg(sig_file)
        .arg("-f")
        .arg(signers);
    let out = keygen(&mut cmd, b"")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// `ssh-keygen -Y verify`: the signature in `sig_file` is valid over `message` for
/// `principal` in `namespace`, by a key `signers` lists for it. `Err(Refused)` says why not.
pub fn verify(
    namespace: &str,
    signers: &Path,
    principal: &str,
    sig_file: &Path,
    message: &[u8],
) -> Result<(), KeygenError> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-Y", "verify", "-n", namespace, "-f"])
        .arg(signers)
        .arg("-I")
        .arg(principal)
        .arg("-s")
        .arg(sig_file);
    let out = keygen(&mut cmd, message)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(KeygenError::Refused(stderr_line(
            &out.stderr,
            "ssh-keygen rejected the signature",
        )))
    }
}

/// `ssh-keygen -Y check-novalidate`: the signature is valid over `message` for the key it
/// carries, whoever that is.
pub fn check_novalidate(
    namespace: &str,
    sig_file: &Path,
    message: &[u8],
) -> Result<(), KeygenError> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-Y", "check-novalidate", "-n", namespace, "-s"])
        .arg(sig_file);
    let out = keygen(&mut cmd, message)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(KeygenError::Refused(stderr_line(
            &out.stderr,
            "ssh-keygen rejected the signature",
        )))
    }
}

fn keygen(cmd: &mut Command, input: &[u8]) -> Result<Output, KeygenError> {
    run_with_input(cmd, input).map_err(keygen_error)
}

/// What a [`run_within`] error means for `ssh-keygen`.
fn keygen_error(e: io::Error) -> KeygenError {
    if let Some(error) = timed_out(&e) {
        return error;
    }
    match e.kind() {
        io::ErrorKind::NotFound => KeygenError::NotInstalled,
        _ => KeygenError::Spawn(e),
    }
}

/// The [`KeygenError::TimedOut`] a [`run_within`] error stands for, if it is one.
fn timed_out(e: &io::Error) -> Option<KeygenError> {
    let stopped = e.get_ref()?.downcast_ref::<Stopped>()?;
    Some(KeygenError::TimedOut {
        what: stopped.what.clone(),
        after: stopped.after,
    })
}

/// A process [`run_within`] stopped after `after`.
#[derive(Debug, thiserror::Error)]
#[error("'{what}' did not answer in {} s and was stopped", .after.as_secs())]
struct Stopped {
    what: String,
    after: Duration,
}

/// Run `cmd` with `input` on its standard input; its output. Bounded: a process still
/// running after [`TIMEOUT`] is killed and reaped, and the error (kind `TimedOut`) names it.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> io::Result<Output> {
    run_within(cmd, input, TIMEOUT)
}

/// [`run_with_input`] bounded by `limit` instead of [`TIMEOUT`].
fn run_within(cmd: &mut Command, input: &[u8], limit: Duration) -> io::Result<Output> {
    let what = described(cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // Signed messages are small: they fit the pipe, so this cannot block on the child's
        // output. A child that exits without reading is not an error here. Dropped here: the
        // child reads the end of its input.
        match stdin.write_all(input) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                stop(&mut child);
                return Err(e);
            }
        }
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                stop(&mut child);
                let stopped = Stopped { what, after: limit };
                return Err(io::Error::new(io::ErrorKind::TimedOut, stopped));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                stop(&mut child);
                return Err(e);
            }
        }
    };
    // The process has ended: its pipes close unless something it started holds them, which
    // is not waited for long.
    let collect =
        |rx: mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

/// Kill `child` and reap it (it has not ended by itself, or it is not wanted any more).
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Everything `pipe` gives until its end, read on a thread of its own (so that a child that
/// writes more than a pipe holds is never stuck while it is waited for).
fn drain<R: io::Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(bytes);
    });
    rx
}

/// `cmd` as an error names it: the program and its operation (`ssh-keygen -Y sign`,
/// `ssh-add -L`), without the paths and values that follow.
fn described(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .filter(|a| a != "-q")
            .take(2),
    );
    words.join(" ")
}

/// The last non-empty line a process printed on stderr (as visible text), or `fallback`.
pub fn stderr_line(stderr: &[u8], fallback: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map_or_else(
            || fallback.to_string(),
            |l| crate::text::visible(l).into_owned(),
        )
}

/// What an armoured SSH signature says about itself (not whether it is valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    /// The signer's public key blob (the SSH wire form, as base64-decoded from a key line).
    pub key: Vec<u8>,
    /// The namespace it was made in.
    pub namespace: String,
}

impl SignatureInfo {
    /// The key's fingerprint as OpenSSH prints it: `SHA256:` and unpadded base64.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key)
    }
}

/// `SHA256:…` of a public key blob.
pub fn fingerprint(key: &[u8]) -> String {
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(key))
    )
}

/// Read an armoured SSH signature (`-----BEGIN SSH SIGNATURE-----`, PROTOCOL.sshsig);
/// `None` when it is not one.
pub fn signature_info(armoured: &str) -> Option<SignatureInfo> {
    let body: String = armoured
        .trim()
        .strip_prefix("-----BEGIN SSH SIGNATURE-----")?
        .strip_suffix("-----END SSH SIGNATURE-----")?
        .split_whitespace()
        .collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let rest = blob.strip_prefix(b"SSHSIG")?;
    let (version, rest) = rest.split_at_checked(4)?;
    if u32::from_be_bytes(version.try_into().ok()?) != 1 {
        return None;
    }
    let (key, rest) = ssh_string(rest)?;
    let (namespace, _) = ssh_string(rest)?;
    Some(SignatureInfo {
        key: key.to_vec(),
        namespace: String::from_utf8(namespace.to_vec()).ok()?,
    })
}

/// One SSH wire `string`: a big-endian u32 length, then that many bytes.
fn ssh_string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_at_checked(4)?;
    let len = usize::try_from(u32::from_be_bytes(len.try_into().ok()?)).ok()?;
    rest.split_at_checked(len)
}

/// A private folder (0700) for the files `ssh-keygen` must read from disk (a signature, an
/// agent's public key), removed with everything in it when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    next: std::sync::atomic::AtomicU64,
}

impl Scratch {
    /// A new folder under the system's temporary folder.
    pub fn new() -> Result<Scratch, KeygenError> {
        let base = std::env::temp_dir();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = base.join(format!("bringup-sig-{}-{stamp}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|source| KeygenError::Temp {
                path: base.clone(),
                source,
            })?;
        Ok(Scratch {
            dir,
            next: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Write `bytes` to a fresh file (0600, never through a link) in the folder; its path.
    pub fn file(&self, suffix: &str, bytes: &[u8]) -> Result<PathBuf, KeygenError> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.join(format!("{n}{suffix}"));
        let err = |source| KeygenError::Temp {
            path: self.dir.clone(),
            source,
        };
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&path)
            .map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_agent_while_signing_names_both_a_pending_confirmation_and_a_hung_agent() {
        let e = KeygenError::AgentSilent {
            after: AGENT_SIGN_TIMEOUT,
            socket: "/run/user/1000/agent.sock".into(),
        };
        assert_eq!(
            e.to_string(),
            "the ssh-agent did not answer in 60 s: if the key asks for confirmation (ssh-add -c), \
             confirm it when the agent asks; otherwise check that the ssh-agent at SSH_AUTH_SOCK \
             ('/run/user/1000/agent.sock') answers (ssh-add -l)"
        );
    }

    #[test]
    fn signing_with_the_agent_waits_longer_than_listing_its_keys() {
        assert_eq!(AGENT_SIGN_TIMEOUT, Duration::from_secs(60));
        assert_eq!(TIMEOUT, Duration::from_secs(10));
    }

    #[test]
    fn an_agent_refusal_says_what_it_most_often_means() {
        let said = refused_by_agent("Signing (stdin) failed: agent refused operation");
        assert!(
            said.starts_with("Signing (stdin) failed: agent refused operation (if the key"),
            "{said}"
        );
        assert!(said.contains("ssh-add -c"), "{said}");
        assert!(said.contains("SSH_ASKPASS and a DISPLAY"), "{said}");
    }

    #[test]
    fn a_process_is_stopped_at_the_limit_it_was_given_and_the_error_says_which() {
        let started = Instant::now();
        let e = run_within(
            Command::new("sleep").arg("30"),
            b"",
            Duration::from_millis(300),
        )
        .expect_err("stopped");
        assert!(started.elapsed() < Duration::from_secs(5), "bounded");
        match timed_out(&e) {
            Some(KeygenError::TimedOut { what, after }) => {
                assert_eq!(what, "sleep 30");
                assert_eq!(after, Duration::from_millis(300));
            }
            other => panic!("not a time-out: {other:?}"),
        }
    }
}
