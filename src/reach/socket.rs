//! A file-journal run's Unix socket, `<journal>.sock`: how `approve`, `note`, `done` and
//! `attach` reach a run that keeps its journal in a file (SPEC "One picture of the run").
//! One request per connection, one line of JSON each way, bounded in size. Only the
//! executing process's own user (or root) is served: the socket is 0600, and the peer's
//! uid is checked on every connection.
//!
//! The journal's lock decides who owns the run, never the socket: the run that holds the
//! lock replaces a socket a killed run left behind, and a run removes its own socket (and
//! only its own) when it ends. Must not: carry anything but requests, the live view and
//! the runbook's text; print anything.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use super::{Answer, Incoming, Posted, ReplyTo};

/// The socket's mode: owner read and write only.
pub const SOCKET_MODE: u32 = 0o600;
/// The longest line either side sends (a request, an answer, the live view, the runbook).
pub const MAX_LINE: usize = 4 << 20;
/// How long a connection may take to send its request.
const READ_WAIT: Duration = Duration::from_secs(10);

/// The socket beside a journal: `<journal>.sock`.
pub fn socket_path(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().unwrap_or_default().to_os_string();
    name.push(".sock");
    journal.with_file_name(name)
}

/// What a connection asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// Carry out a request; the answer comes once what it records is on disk.
    Ask(Posted),
    /// The executing process's view of the services now (`null` before the first).
    Live,
    /// The runbook's text the run executes.
    Runbook,
}

#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    #[error(
        "no run is listening on '{journal}' (no socket '{socket}', or nobody behind it): is the run still going? Start or resume it with `bringup run RUNBOOK --resume {journal}`"
    )]
    NotListening { journal: String, socket: String },
    #[error("'{path}': {source}")]
    Io { path: String, source: io::Error },
    #[error("'{0}' is not a socket; it is left alone (move it away to let the run listen)")]
    NotASocket(String),
    #[error("the answer from '{0}' is not one bringup knows: {1}")]
    Unreadable(String, String),
    #[error(
        "the run behind '{0}' did not answer within {1} s; the request may still be carried out"
    )]
    NoAnswer(String, u64),
    #[error("a run's socket needs an async runtime")]
    NoRuntime,
}

/// The listening side, for the run's life: stops and removes its socket when dropped.
#[derive(Debug)]
pub struct Listener {
    path: PathBuf,
    /// The socket file's (device, inode) as bound: only this one is removed.
    made: (u64, u64),
    stop: CancellationToken,
    live: Arc<Mutex<Option<Vec<u8>>>>,
}

type Wrap<T> = Arc<dyn Fn(Incoming) -> T + Send + Sync>;

impl Listener {
    /// Listen on `<journal>.sock` (the caller holds the journal's lock, so a socket already
    /// there is a dead run's), serving `runbook` as the run's text and sending each request,
    /// made into a `T` by `wrap`, to `tx`. Needs a tokio runtime.
    pub fn start<T: Send + 'static>(
        journal: &Path,
        runbook: Option<String>,
        tx: tokio::sync::mpsc::Sender<T>,
        wrap: impl Fn(Incoming) -> T + Send + Sync + 'static,
    ) -> Result<Listener, ReachError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| ReachError::NoRuntime)?;
        let path = socket_path(journal);
        let io_err = |source| ReachError::Io {
            path: path.display().to_string(),
            source,
        };
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_socket() => fs::remove_file(&path).map_err(io_err)?,
            Ok(_) => return Err(ReachError::NotASocket(path.display().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let std_listener = std::os::unix::net::UnixListener::bind(&path).map_err(io_err)?;
        // The umask may have left it open to others; the peer check covers the moment between.
        fs::set_permissions(&path, fs::Permissions::from_mode(SOCKET_MODE)).map_err(io_err)?;
        std_listener.set_nonblocking(true).map_err(io_err)?;
        let meta = fs::symlink_metadata(&path).map_err(io_err)?;
        let listener = {
            let _entered = handle.enter();
            UnixListener::from_std(std_listener).map_err(io_err)?
        };
        let stop = CancellationToken::new();
        let live = Arc::new(Mutex::new(None));
        let served = Served {
            runbook: Arc::new(runbook),
            live: live.clone(),
            stop: stop.clone(),
        };
        let wrap: Wrap<T> = Arc::new(wrap);
        handle.spawn(accept(listener, served, tx, wrap));
        Ok(Listener {
            path,
            made: (meta.dev(), meta.ino()),
            stop,
            live,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The executing process's view of the run, as `Call::Live` answers it; never waits.
    pub fn publish(&self, view: Vec<u8>) {
        *self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(view);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
        // A later run may already listen there (it took the lock once this one let go).
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.made
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What every connection is served from.
#[derive(Clone)]
struct Served {
    runbook: Arc<Option<String>>,
    live: Arc<Mutex<Option<Vec<u8>>>>,
    stop: CancellationToken,
}

async fn accept<T: Send + 'static>(
    listener: UnixListener,
    served: Served,
    tx: tokio::sync::mpsc::Sender<T>,
    wrap: Wrap<T>,
) {
    loop {
        let stream = tokio::select! {
            () = served.stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("the run's socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (served, tx, wrap) = (served.clone(), tx.clone(), wrap.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = served.stop.cancelled() => {}
                () = serve(stream, &served, &tx, &wrap) => {}
            }
        });
    }
}

/// Whether `uid` may use the run: its own user, or root.
fn allowed(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}

fn refused(why: impl Into<String>) -> Vec<u8> {
    let answer = Answer {
        seq: None,
        refused: Some(why.into()),
    };
    serde_json::to_vec(&answer).unwrap_or_default()
}

/// One connection: its request read (bounded in size and time), carried out, answered.
async fn serve<T>(
    stream: UnixStream,
    served: &Served,
    tx: &tokio::sync::mpsc::Sender<T>,
    wrap: &Wrap<T>,
) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let uid = stream.peer_cred().map(|c| c.uid());
    let (read, mut write) = stream.into_split();
    let reply = match uid {
        Ok(uid) if allowed(uid) => match read_line(read).await {
            Ok(line) => match serde_json::from_slice::<Call>(&line) {
                Ok(Call::Live) => served
                    .live
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
                    .unwrap_or_else(|| b"null".to_vec()),
                Ok(Call::Runbook) => {
                    serde_json::to_vec(served.runbook.as_ref()).unwrap_or_default()
                }
                Ok(Call::Ask(posted)) => {
                    let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
                    let id = format!("socket-{}", NEXT.fetch_add(1, Ordering::Relaxed));
                    let incoming = Incoming {
                        id,
                        posted,
                        reply: ReplyTo::Socket(answer_tx),
                    };
                    if tx.send(wrap(incoming)).await.is_err() {
                        refused("the run is ending; nothing more is carried out")
                    } else {
                        match answer_rx.await {
                            Ok(answer) => serde_json::to_vec(&answer).unwrap_or_default(),
                            Err(_) => refused("the run ended before carrying it out"),
                        }
                    }
                }
                Err(e) => refused(format!("the request is not one bringup knows ({e})")),
            },
            Err(why) => refused(why),
        },
        Ok(uid) => {
            tracing::warn!(uid, "the run's socket refused a connection of another user");
            refused(format!(
                "uid {uid} may not use this run: only its own user (or root) may"
            ))
        }
        Err(e) => refused(format!("cannot tell who is asking ({e})")),
    };
    let mut line = reply;
    line.push(b'\n');
    let _ = write.write_all(&line).await;
    let _ = write.shutdown().await;
}

/// One line, at most [`MAX_LINE`] bytes, within [`READ_WAIT`].
async fn read_line(read: impl tokio::io::AsyncRead + Unpin) -> Result<Vec<u8>, String> {
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX) + 1;
    let mut reader = BufReader::new(read.take(limit));
    let mut line = Vec::new();
    match tokio::time::timeout(READ_WAIT, reader.read_until(b'\n', &mut line)).await {
        Err(_) => Err(format!("no request within {} s", READ_WAIT.as_secs())),
        Ok(Err(e)) => Err(format!("reading the request: {e}")),
        Ok(Ok(_)) if line.len() > MAX_LINE => Err(format!("the request is over {MAX_LINE} bytes")),
        Ok(Ok(_)) => Ok(line),
    }
}

/// Make `call` to the run on `journal` and wait (at most `wait`) for its one line back.
pub async fn call(journal: &Path, call: &Call, wait: Duration) -> Result<Vec<u8>, ReachError> {
    let path = socket_path(journal);
    let not_listening = || ReachError::NotListening {
        journal: journal.display().to_string(),
        socket: path.display().to_string(),
    };
    let io_err = |source| ReachError::Io {
        path: path.display().to_string(),
        source,
    };
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(not_listening());
        }
        Err(e) => return Err(io_err(e)),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(call)
        .map_err(|e| ReachError::Unreadable(path.display().to_string(), e.to_string()))?;
    line.push(b'\n');
    write.write_all(&line).await.map_err(io_err)?;
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX) + 1;
    let mut reader = BufReader::new(read.take(limit));
    let mut back = Vec::new();
    match tokio::time::timeout(wait, reader.read_until(b'\n', &mut back)).await {
        Err(_) => Err(ReachError::NoAnswer(
            journal.display().to_string(),
            wait.as_secs(),
        )),
        Ok(Err(e)) => Err(io_err(e)),
        Ok(Ok(0)) => Err(not_listening()),
        Ok(Ok(_)) => Ok(back),
    }
}

/// Ask the run on `journal` to carry out `posted`; what became of it.
pub async fn ask(journal: &Path, posted: &Posted, wait: Duration) -> Result<Answer, ReachError> {
    let back = call(journal, &Call::Ask(posted.clone()), wait).await?;
    serde_json::from_slice(&back)
        .map_err(|e| ReachError::Unreadable(journal.display().to_string(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_is_delivered_answered_and_the_socket_is_0600_and_gone_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("j.jsonl");
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Incoming>(4);
        let listener = Listener::start(&journal, Some("text".into()), tx, |i| i).expect("listen");
        let mode = fs::metadata(listener.path())
            .expect("socket")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, SOCKET_MODE);
        tokio::spawn(async move {
            let incoming = rx.recv().await.expect("a request");
            assert_eq!(incoming.posted.operator, "kim");
            if let ReplyTo::Socket(tx) = incoming.reply {
                let _ = tx.send(Answer {
                    seq: Some(7),
                    refused: None,
                });
            }
        });
        let posted = Posted {
            operator: "kim".into(),
            ask: serde_json::json!({"kind": "note", "text": "hi"}),
            signed: None,
        };
        let answer = ask(&journal, &posted, Duration::from_secs(5))
            .await
            .expect("answered");
        assert_eq!(answer.seq, Some(7));
        let text = call(&journal, &Call::Runbook, Duration::from_secs(5))
            .await
            .expect("runbook");
        assert_eq!(text, b"\"text\"\n");
        let path = listener.path().to_path_buf();
        drop(listener);
        assert!(!path.exists(), "the socket is removed at the end");
        let gone = call(&journal, &Call::Live, Duration::from_secs(1)).await;
        assert!(
            matches!(gone, Err(ReachError::NotListening { .. })),
            "{gone:?}"
        );
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_and_a_file_in_its_place_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("j.jsonl");
        let stale = std::os::unix::net::UnixListener::bind(socket_path(&journal)).expect("bind");
        drop(stale);
        let (tx, _rx) = tokio::sync::mpsc::channel::<Incoming>(4);
        let listener = Listener::start(&journal, None, tx.clone(), |i| i).expect("replaced");
        drop(listener);
        fs::write(socket_path(&journal), b"not a socket").expect("write");
        let refused = Listener::start(&journal, None, tx, |i| i);
        assert!(
            matches!(refused, Err(ReachError::NotASocket(_))),
            "{refused:?}"
        );
        assert!(socket_path(&journal).exists());
    }
}
