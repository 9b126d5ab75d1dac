//! The `local` transport: commands on the operator's machine through tokio processes.
//! Each command runs as `sh -s` in its own process group, its script written to the shell's
//! standard input (never an argument, so no value shows in `ps`), with stdout and stderr on
//! one pipe, so a timeout or cancel stops the whole group; it must not decide whether a step
//! passed.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use super::StepResult;
use super::lines::Chunker;
use crate::journal::mask::Masker;

/// How long a stopped group gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

enum Ended {
    Exited(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    Cancelled,
}

/// Run `command` with `sh -s` here; stream stdout and stderr into `output` as chunks of bytes,
/// with every secret of `masker` replaced by `***`. `host` only names the host in messages.
pub async fn run(
    host: &str,
    command: &str,
    timeout: Duration,
    output: Sender<Vec<u8>>,
    masker: Masker,
    cancel: CancellationToken,
) -> StepResult {
    let started = Instant::now();
    let now = tokio::time::Instant::now();
    let deadline = tokio::time::Instant::from_std(super::deadline_after(now.into_std(), timeout));
    // One pipe behind both stdout and stderr (`2>&1`): lines keep the order the command
    // wrote them in, which two pipes read side by side cannot promise.
    let (reader, writer) = match merged_pipe() {
        Ok(pair) => pair,
        Err(err) => {
            return StepResult::error(
                format!("host '{host}': cannot make an output pipe: {err}"),
                started.elapsed(),
            );
        }
    };
    let mut child = match Command::new("sh")
        .arg("-s")
        .stdin(Stdio::piped())
        .stdout(writer.0)
        .stderr(writer.1)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            return StepResult::error(
                format!("host '{host}': cannot start 'sh': {err}"),
                started.elapsed(),
            );
        }
    };
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    // The parent's copies of the write end went into `Command` and are closed after spawn,
    // so the reader sees end-of-file once the command and its children are done.
    let readers = tokio::spawn(pump(Some(reader), output, masker));
    // Written while the output is read, so a script larger than the pipe cannot deadlock; a
    // command that stops early makes the write fail (EPIPE), which is no error of the step.
    // Dropping the pipe afterwards is the end of the script.
    let script = super::stdin_script(command);
    let writer = child.stdin.take().map(|mut stdin| {
        tokio::spawn(async move {
            let _ = stdin.write_all(&script).await;
            let _ = stdin.shutdown().await;
        })
    });

    let ended = tokio::select! {
        status = child.wait() => Ended::Exited(status),
        () = tokio::time::sleep_until(deadline) => Ended::TimedOut,
        () = cancel.cancelled() => Ended::Cancelled,
    };
    if let Some(writer) = writer {
        writer.abort();
    }
    match ended {
        Ended::Exited(Ok(status)) => {
            // Wait for the pipes to drain, but not past the timeout: a background process that
            // inherited them must not hold the step open.
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let abort = readers.abort_handle();
            if tokio::time::timeout(remaining, readers).await.is_err() {
                abort.abort();
            }
            let code = status
                .code()
                .or_else(|| status.signal().map(|signal| 128 + signal))
                .unwrap_or(-1);
            StepResult::exited(code, started.elapsed())
        }
        Ended::Exited(Err(err)) => {
            readers.abort();
            StepResult::error(
                format!("host '{host}': lost track of the command: {err}"),
                started.elapsed(),
            )
        }
        Ended::TimedOut | Ended::Cancelled => {
            if let Some(group) = group {
                stop_group(group, &mut child).await;
            }
            readers.abort();
            let reason = if matches!(ended, Ended::TimedOut) {
                format!(
                    "host '{host}': timed out after {}; its process group was killed",
                    humantime::format_duration(timeout)
                )
            } else {
                format!("host '{host}': cancelled; its process group was killed")
            };
            if matches!(ended, Ended::TimedOut) {
                StepResult::timed_out(reason, started.elapsed())
            } else {
                StepResult::error(reason, started.elapsed())
            }
        }
    }
}

fn merged_pipe() -> std::io::Result<(tokio::net::unix::pipe::Receiver, (Stdio, Stdio))> {
    let (read, write) = std::io::pipe()?;
    let write_err = write.try_clone()?;
    let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(read.into())?;
    Ok((receiver, (Stdio::from(write), Stdio::from(write_err))))
}

/// SIGTERM to the whole group, a short grace, then SIGKILL to whatever is left of it.
async fn stop_group(group: Pid, child: &mut tokio::process::Child) {
    // ESRCH (group already gone) is the outcome we want, so errors are ignored.
    let _ = killpg(group, Signal::SIGTERM);
    let _ = tokio::time::timeout(TERM_GRACE, child.wait()).await;
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait().await;
}

async fn pump(reader: Option<impl AsyncRead + Unpin>, output: Sender<Vec<u8>>, masker: Masker) {
    let Some(mut reader) = reader else { return };
    let mut chunker = Chunker::masking(masker);
    let mut buf = vec![0_u8; 32 * 1024];
    let mut chunks = Vec::new();
    loop {
        // Wake for the held output's age, so a command that prints and waits is seen.
        let read = reader.read(&mut buf);
        let read = match chunker.due() {
            Some(due) => {
                if let Ok(read) = tokio::time::timeout_at(due.into(), read).await {
                    read
                } else {
                    chunker.flush_due(std::time::Instant::now(), |c| chunks.push(c));
                    send_all(&output, &mut chunks).await;
                    continue;
                }
            }
            None => read.await,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        chunker.push(&buf[..n], std::time::Instant::now(), |c| chunks.push(c));
        send_all(&output, &mut chunks).await;
    }
    chunker.finish(|c| chunks.push(c));
    send_all(&output, &mut chunks).await;
}

async fn send_all(output: &Sender<Vec<u8>>, chunks: &mut Vec<Vec<u8>>) {
    for chunk in chunks.drain(..) {
        // A closed receiver means nobody wants the output; keep draining the pipe so the
        // command is not blocked on a full pipe.
        let _ = output.send(chunk).await;
    }
}
