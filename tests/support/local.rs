//! `bringup` runs on the local transport, as the tests that drive the real binary start them:
//! a folder holding the runbook and a journal path under `journal/`, the binary run from that
//! folder with output captured, and a bounded wait for it to end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A temp folder holding `rb.toml` (written from `toml`), and `journal/run.jsonl` there (not
/// created: bringup makes the folder).
pub fn folder(toml: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let runbook = dir.path().join("rb.toml");
    std::fs::write(&runbook, toml).expect("write runbook");
    let journal = dir.path().join("journal/run.jsonl");
    (dir, runbook, journal)
}

/// The real binary, run from `dir` as user `tester`, stdin closed, stdout and stderr captured;
/// `dir` is its `XDG_STATE_HOME` too (a shared run logs there, never in the real home).
pub fn bringup(dir: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("bringup"));
    cmd.current_dir(dir)
        .env("USER", "tester")
        .env("XDG_STATE_HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Run to the end, bounded: a hung binary fails the test.
pub fn output(cmd: &mut Command) -> Output {
    let child = cmd.spawn().expect("spawn bringup");
    finish(child)
}

/// Wait (bounded) for `child` to end and collect its output: a hung binary fails the test.
/// Its pipes are read while it runs, so a child that writes more than a pipe holds (64 KiB)
/// is never stuck writing while the test waits for it.
pub fn finish(mut child: Child) -> Output {
    fn drain<R: std::io::Read + Send + 'static>(
        pipe: Option<R>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bringup did not end within 60s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout read"),
        stderr: stderr.join().expect("stderr read"),
    }
}

/// `sh -c SCRIPT BRINGUP`, run from `dir` as [`bringup`] runs: `script` ends with
/// `exec "$0" "$@"` to run the real binary (with the arguments the caller adds) after setting
/// up the shell, such as a umask or a file size limit.
pub fn under_sh(dir: &Path, script: &str) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(script)
        .arg(assert_cmd::cargo::cargo_bin("bringup"))
        .current_dir(dir)
        .env("USER", "tester")
        .env("XDG_STATE_HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sh
}
