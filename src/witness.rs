//! Witnesses (SPEC "Sites and witnesses"): copies of a journal's head kept where its operator
//! cannot rewrite them, so that a cut or rewritten journal is caught even when it was sealed
//! again. A hash chain and a seal made with the operator's own key prove nothing against the
//! operator; a head held by someone else does.
//!
//! Owns the head as a witness holds it ([`WitnessedHead`], one JSON object: the run's
//! identity, `seq`, `hash`, `ts`, and a seal's signature when a key was at hand), the two
//! kinds of witness ([`Target`]: a directory, `dir.rs`; an etcd cluster, `etcd.rs`), the
//! tasks that keep writing the newest head to each of them without ever making the run wait
//! ([`Witnesses`]), and the comparison `verify --witness` makes ([`compare`]). Never writes
//! the journal: each attempt's result goes back as a [`Report`], which the driver journals.

pub mod dir;
pub mod etcd;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::journal::etcd::{Access, RunUrl};
use crate::journal::seal::SigningKey;

/// A head is handed to the witnesses once this many events have become durable since the
/// last one (and always at the end of the run).
pub const EVERY: u64 = 50;
/// One attempt at one witness, from connecting to the last byte: a frozen witness is given
/// up on after this and retried later.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a head may wait to be signed before it is written unsigned.
const SIGN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a witness keeps heads: `path = "DIR"` or `url = "etcd://HOST:PORT[,…]/NAME"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A directory (an NFS mount, another team's host…): one file per run, `<run>.heads`,
    /// appended one line per head.
    Dir(PathBuf),
    /// An etcd cluster: one key per head under `bringup/witness/NAME/<run>/`.
    Etcd(RunUrl),
}

impl Target {
    /// `etcd://…` as a cluster, anything else as a directory (relative to `base`).
    pub fn parse(text: &str, base: Option<&Path>) -> Result<Target, String> {
        if RunUrl::is_etcd(text) {
            return RunUrl::parse(text)
                .map(Target::Etcd)
                .map_err(|e| e.to_string().replace("shared run URL", "witness URL"));
        }
        if text.trim().is_empty() {
            return Err("a witness directory '' names nothing".to_string());
        }
        let path = PathBuf::from(text);
        Ok(Target::Dir(match base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Dir(path) => write!(f, "{}", path.display()),
            Target::Etcd(url) => write!(f, "{url}"),
        }
    }
}

/// A journal's head as a witness holds it. `sig` is a seal's signature (namespace
/// `bringup-journal`) over the seal message of `seq` and `hash` (`journal::seal::Head`),
/// so `ssh-keygen -Y verify` checks it as it checks `JOURNAL.sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessedHead {
    /// The run: the hash of its `run_started`, which no other run shares.
    pub run: String,
    pub seq: u64,
    pub hash: String,
    /// The event's own `ts`.
    pub ts: DateTime<Utc>,
    /// The runbook's name, for whoever browses the witness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// The signing key's SHA256 fingerprint, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The armoured SSH signature, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

impl WitnessedHead {
    /// The head as a seal signs it.
    pub fn seal_head(&self) -> crate::journal::seal::Head {
        crate::journal::seal::Head {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }

    /// One line of JSON (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What one attempt at one witness came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Written {
        witness: usize,
        seq: u64,
    },
    Failed {
        witness: usize,
        seq: u64,
        attempt: u32,
        error: String,
        next_retry: Duration,
    },
}

/// The tasks that keep a run's witnesses up to date: one per witness, each writing the
/// newest head it was given (older ones not yet written are skipped: the newest covers them
/// through the chain), retried with a webhook's backoff (`notify::backoff`).
pub struct Witnesses {
    heads: watch::Sender<Option<WitnessedHead>>,
    stop: CancellationToken,
}

impl Witnesses {
    /// Start one task per target; heads are signed with `key` first when one is given. Each
    /// [`Report`] goes to `tx` as `wrap(report)`.
    pub fn start<M: Send + 'static>(
        targets: &[Target],
        access: &Access,
        key: Option<SigningKey>,
        tx: &mpsc::Sender<M>,
        wrap: fn(Report) -> M,
    ) -> Witnesses {
        let stop = CancellationToken::new();
        let (heads, given) = watch::channel(None);
        let signed = match key {
            Some(key) => {
                let (signed_tx, signed_rx) = watch::channel(None);
                tokio::spawn(sign_each(key, given, signed_tx, stop.clone()));
                signed_rx
            }
            None => given,
        };
        for (index, target) in targets.iter().enumerate() {
            tokio::spawn(keep(
                index,
                Sink::new(target.clone(), access.clone()),
                signed.clone(),
                tx.clone(),
                wrap,
                stop.clone(),
            ));
        }
        Witnesses { heads, stop }
    }

    /// The newest durable head: every witness writes it as soon as it can.
    pub fn send(&self, head: WitnessedHead) {
        self.heads.send_replace(Some(head));
    }

    /// Stop every task: nothing more is written or retried.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Witnesses {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Sign each newest head (one `ssh-keygen` at a time, off the runtime's threads) and pass it
/// on; a head that cannot be signed is passed on unsigned (logged): a witness without a
/// signature still catches a cut.
async fn sign_each(
    key: SigningKey,
    mut given: watch::Receiver<Option<WitnessedHead>>,
    signed: watch::Sender<Option<WitnessedHead>>,
    stop: CancellationToken,
) {
    let guard = OneThread::default();
    loop {
        tokio::select! {
            changed = given.changed() => if changed.is_err() { return },
            () = stop.cancelled() => return,
        }
        let Some(mut head) = given.borrow_and_update().clone() else {
            continue;
        };
        let key = key.clone();
        let message = head.seal_head().message();
        let signing = guard.run(move || sign(&key, message.as_bytes()));
        match tokio::time::timeout(SIGN_TIMEOUT, signing).await {
            Ok(Ok(Ok((fingerprint, sig)))) => {
                head.key = Some(fingerprint);
                head.sig = Some(sig);
            }
            Ok(Ok(Err(e))) => tracing::warn!("witness heads are written unsigned: {e}"),
            Ok(Err(e)) => tracing::warn!("witness head {} is written unsigned: {e}", head.seq),
            Err(_) => tracing::warn!(
                "witness head {} is written unsigned: signing hung",
                head.seq
            ),
        }
        signed.send_replace(Some(head));
    }
}

/// A seal's signature over `message` with `key`: the key's fingerprint and the armoured
/// signature.
pub fn sign(key: &SigningKey, message: &[u8]) -> Result<(String, String), String> {
    use crate::journal::seal::NAMESPACE;
    use crate::sshsig;
    let scratch = sshsig::Scratch::new().map_err(|e| e.to_string())?;
    let (file, agent) = match key {
        SigningKey::File(path) => (path.clone(), false),
        SigningKey::Agent => {
            let public = sshsig::agent_first_key().map_err(|e| e.to_string())?;
            (
                scratch
                    .file(".pub", public.as_bytes())
                    .map_err(|e| e.to_string())?,
                true,
            )
        }
    };
    let sig = sshsig::sign(NAMESPACE, &file, agent, message).map_err(|e| e.to_string())?;
    let sig = String::from_utf8_lossy(&sig).into_owned();
    let fingerprint = sshsig::signature_info(&sig)
        .map(|i| i.fingerprint())
        .unwrap_or_default();
    Ok((fingerprint, sig))
}

/// Check a head's signature against an allowed signers file: the principal that signed it,
/// or why it does not hold.
pub fn check_signature(head: &WitnessedHead, signers: &Path) -> Result<String, String> {
    use crate::journal::seal::NAMESPACE;
    use crate::sshsig;
    let Some(sig) = &head.sig else {
        return Err("the head is not signed".to_string());
    };
    let scratch = sshsig::Scratch::new().map_err(|e| e.to_string())?;
    let sig_file = scratch
        .file(".sig", sig.as_bytes())
        .map_err(|e| e.to_string())?;
    let principals =
        sshsig::find_principals(NAMESPACE, signers, &sig_file).map_err(|e| e.to_string())?;
    let Some(principal) = principals.first() else {
        return Err("no allowed signer holds the key that signed it".to_string());
    };
    let message = head.seal_head().message();
    sshsig::verify(NAMESPACE, signers, principal, &sig_file, message.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(principal.clone())
}

/// One witness's task: write the newest head not yet written; on a failure, report it and
/// wait the backoff before trying again (with whatever head is newest by then).
async fn keep<M>(
    index: usize,
    mut sink: Sink,
    mut heads: watch::Receiver<Option<WitnessedHead>>,
    tx: mpsc::Sender<M>,
    wrap: fn(Report) -> M,
    stop: CancellationToken,
) {
    let mut written = 0u64;
    let mut attempt = 0u32;
    loop {
        let head = heads.borrow_and_update().clone();
        let Some(head) = head.filter(|h| h.seq > written) else {
            tokio::select! {
                changed = heads.changed() => if changed.is_err() { return },
                () = stop.cancelled() => return,
            }
            continue;
        };
        attempt = attempt.saturating_add(1);
        let result = tokio::select! {
            r = tokio::time::timeout(ATTEMPT_TIMEOUT, sink.write(&head)) => r
                .unwrap_or_else(|_| Err(format!("no answer in {}s", ATTEMPT_TIMEOUT.as_secs()))),
            () = stop.cancelled() => return,
        };
        let (report, retry) = match result {
            Ok(()) => {
                written = head.seq;
                attempt = 0;
                (
                    Report::Written {
                        witness: index,
                        seq: head.seq,
                    },
                    None,
                )
            }
            Err(error) => {
                sink.reset();
                let next_retry = crate::notify::backoff(attempt);
                (
                    Report::Failed {
                        witness: index,
                        seq: head.seq,
                        attempt,
                        error,
                        next_retry,
                    },
                    Some(next_retry),
                )
            }
        };
        tokio::select! {
            _ = tx.send(wrap(report)) => {}
            () = stop.cancelled() => return,
        }
        if let Some(delay) = retry {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}

/// One witness, as its task writes to it.
enum Sink {
    Dir(PathBuf, OneThread),
    Etcd {
        url: RunUrl,
        access: Access,
        conn: Option<Box<crate::journal::etcd::Etcd>>,
    },
}

impl Sink {
    fn new(target: Target, access: Access) -> Sink {
        match target {
            Target::Dir(dir) => Sink::Dir(dir, OneThread::default()),
            Target::Etcd(url) => Sink::Etcd {
                url,
                access,
                conn: None,
            },
        }
    }

    async fn write(&mut self, head: &WitnessedHead) -> Result<(), String> {
        match self {
            Sink::Dir(dir, guard) => {
                let (dir, head) = (dir.clone(), head.clone());
                // A hung mount hangs this witness's one thread only; the attempt times out
                // above it, and the next one is refused until that thread returns.
                guard
                    .run(move || dir::append(&dir, &head))
                    .await?
                    .map_err(|e| e.to_string())
            }
            Sink::Etcd { url, access, conn } => {
                if conn.is_none() {
                    *conn = Some(Box::new(
                        crate::journal::etcd::Etcd::connect_bounded(
                            &url.endpoints,
                            access,
                            ATTEMPT_TIMEOUT,
                        )
                        .await
                        .map_err(|e| e.to_string())?,
                    ));
                }
                let Some(etcd) = conn.as_mut() else {
                    return Err("not connected".to_string());
                };
                etcd::put(etcd, url, head).await
            }
        }
    }

    /// After a failure: connect afresh next time.
    fn reset(&mut self) {
        if let Sink::Etcd { conn, .. } = self {
            *conn = None;
        }
    }
}

/// Blocking work (a write to a directory that may sit on a hung mount, `ssh-keygen`) on a
/// thread of its own, one at a time: while one has not returned, the next is refused at once
/// rather than piling up threads, and nothing takes a thread the run's own work needs.
#[derive(Default)]
struct OneThread {
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl OneThread {
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        use std::sync::atomic::Ordering;
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err("the last attempt has not returned yet (a hung mount?)".to_string());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let busy = self.busy.clone();
        let spawned = std::thread::Builder::new()
            .name("witness-io".into())
            .spawn(move || {
                let _ = tx.send(work());
                busy.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            self.busy.store(false, Ordering::Release);
            return Err(format!("cannot start a thread: {e}"));
        }
        rx.await.map_err(|_| "the attempt stopped".to_string())
    }
}

/// Why a witness's heads could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read witness '{target}': {reason}")]
    Unreadable { target: String, reason: String },
}

/// What a witness holds for one run: its heads in the order found, and lines that are not
/// heads of this run (each a finding: a witness holds nothing else).
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub heads: Vec<WitnessedHead>,
    /// Where (a line number or a key) and what is wrong.
    pub bad: Vec<(String, String)>,
}

/// The heads `target` holds for `run`.
pub async fn read(target: &Target, run: &str, access: &Access) -> Result<Held, ReadError> {
    match target {
        Target::Dir(path) => dir::read(path, run),
        Target::Etcd(url) => etcd::read(url, run, access).await,
    }
}

/// How a journal disagrees with a witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The witness holds a head past the journal's end: its tail was cut.
    Cut {
        seq: u64,
        ts: DateTime<Utc>,
        last_seq: u64,
    },
    /// The journal's event at `seq` is not the one the witness saw.
    Rewritten {
        seq: u64,
        witnessed: String,
        found: String,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Cut { seq, ts, last_seq } => write!(
                f,
                "it holds seq {seq} (witnessed {}), but the journal ends at seq {last_seq}: the journal was cut",
                ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            Finding::Rewritten {
                seq,
                witnessed,
                found,
            } => write!(
                f,
                "at seq {seq} it holds hash {witnessed}, the journal holds {found}: the journal was rewritten from seq {seq} or before"
            ),
        }
    }
}

/// Each head against the journal: `hash_at(seq)` is the journal's hash at `seq` (`None`
/// past its end), `last_seq` its last event. Findings in seq order, one per seq.
pub fn compare<'a>(
    heads: &[WitnessedHead],
    hash_at: impl Fn(u64) -> Option<&'a str>,
    last_seq: u64,
) -> Vec<Finding> {
    let mut sorted: Vec<&WitnessedHead> = heads.iter().collect();
    sorted.sort_by_key(|h| h.seq);
    sorted.dedup_by(|a, b| a.seq == b.seq && a.hash == b.hash);
    let mut findings = Vec::new();
    for head in sorted {
        match hash_at(head.seq) {
            None => findings.push(Finding::Cut {
                seq: head.seq,
                ts: head.ts,
                last_seq,
            }),
            Some(found) if found != head.hash => findings.push(Finding::Rewritten {
                seq: head.seq,
                witnessed: head.hash.clone(),
                found: found.to_string(),
            }),
            Some(_) => {}
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64, hash: &str) -> WitnessedHead {
        WitnessedHead {
            run: "r".repeat(64),
            seq,
            hash: hash.to_string(),
            ts: DateTime::UNIX_EPOCH,
            runbook: None,
            key: None,
            sig: None,
        }
    }

    #[test]
    fn a_head_past_the_end_is_a_cut_and_a_different_hash_a_rewrite() {
        let journal = ["a", "b", "c"];
        let at = |seq: u64| journal.get(usize::try_from(seq).ok()? - 1).copied();
        assert!(compare(&[head(2, "b"), head(3, "c")], at, 3).is_empty());
        assert_eq!(
            compare(&[head(5, "e"), head(2, "b")], at, 3),
            vec![Finding::Cut {
                seq: 5,
                ts: DateTime::UNIX_EPOCH,
                last_seq: 3
            }]
        );
        assert_eq!(
            compare(&[head(2, "x"), head(2, "x")], at, 3),
            vec![Finding::Rewritten {
                seq: 2,
                witnessed: "x".into(),
                found: "b".into()
            }],
            "one finding per head, duplicates once"
        );
    }

    #[tokio::test]
    async fn a_hung_write_takes_one_thread_and_the_next_attempt_is_refused_at_once() {
        let guard = OneThread::default();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hung = guard.run(move || hold.recv().ok());
        let first = tokio::time::timeout(Duration::from_millis(50), hung).await;
        assert!(first.is_err(), "still hung");
        let refused = guard.run(|| ()).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("has not returned")),
            "{refused:?}"
        );
        release.send(()).expect("release");
        for _ in 0..200 {
            if guard.run(|| ()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the thread came back, so the next attempt runs");
    }

    #[test]
    fn a_directory_is_relative_to_the_runbook_and_etcd_urls_are_checked() {
        let base = Path::new("/rb");
        assert_eq!(
            Target::parse("w", Some(base)),
            Ok(Target::Dir(PathBuf::from("/rb/w")))
        );
        assert!(matches!(
            Target::parse("etcd://127.0.0.1:2379/ledger", None),
            Ok(Target::Etcd(u)) if u.name == "ledger"
        ));
        let err = Target::parse("etcd://127.0.0.1/ledger", None).expect_err("no port");
        assert!(
            err.contains("witness URL") && err.contains("needs a port"),
            "{err}"
        );
        assert!(Target::parse(" ", None).is_err());
    }
}
