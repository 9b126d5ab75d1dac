//! The executing operator's key proof (SPEC "Who did it") is bounded: with allowed signers and
//! no `--sign-key`, `bringup run` asks the ssh-agent at `SSH_AUTH_SOCK` for its key; an agent
//! that accepts the connection and never answers stops the start after a while with an error
//! that names what did not answer and what to do, instead of hanging it. The silent agent is
//! a real unix socket this test listens on; the run is the real binary.

use std::io::Read as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::run::stderr;

/// How long bringup lets a process of the proof run (`sshsig::TIMEOUT`).
const PROOF_TIMEOUT: Duration = Duration::from_secs(10);

/// A unix socket at `path` that accepts every connection and never writes a byte; the
/// connections are handed back when `stop` is set (bounded: two minutes at most).
fn silent_agent(path: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<UnixStream>> {
    let listener = UnixListener::bind(path).expect("bind the agent socket");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        held
    })
}

#[test]
fn a_silent_ssh_agent_stops_the_start_in_bounded_time_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let key = d.join("kim");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "kim", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen runs");
    assert!(made.status.success(), "{}", stderr(&made));
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    std::fs::write(d.join("allowed_signers"), format!("kim {public}")).expect("signers");
    let runbook = d.join("rb.toml");
    std::fs::write(
        &runbook,
        format!(
            "[runbook]\nname = \"proof\"\noperators = \"allowed_signers\"\n\n\
             [hosts.h1]\ntransport = \"local\"\n\n\
             [[service]]\nid = \"probe\"\nhosts = [\"h1\"]\n\n\
             [[service.check]]\nname = \"touch\"\nrun = \"touch {}\"\n",
            d.join("ran").display()
        ),
    )
    .expect("runbook");

    let sock = d.join("agent.sock");
    let stop = Arc::new(AtomicBool::new(false));
    let agent = silent_agent(&sock, Arc::clone(&stop));
    let started = Instant::now();
    // Bounded at 60 s: a start that hangs fails the test there.
    let out = crate::support::local::output(
        crate::support::local::bringup(d)
            .env("SSH_AUTH_SOCK", &sock)
            .args(["run", "--yes", "--operator", "kim", "--journal"])
            .arg(d.join("journal/run.jsonl"))
            .arg(&runbook),
    );
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let held = agent.join().expect("agent thread");

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        took >= PROOF_TIMEOUT && took < PROOF_TIMEOUT + Duration::from_secs(20),
        "took {took:?}: {err}"
    );
    assert!(
        err.contains(
            "cannot prove who executes the run: 'ssh-add -L' did not answer in 10 s and was stopped"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "the ssh-agent at SSH_AUTH_SOCK ('{}')",
            sock.display()
        )),
        "{err}"
    );
    assert!(err.contains("--sign-key KEY"), "{err}");
    assert!(!d.join("ran").exists(), "nothing ran without the proof");
    assert!(
        !d.join("journal/run.jsonl").exists(),
        "no empty journal is left to stand in the way of the same command run again"
    );

    // The process that asked was stopped: its end of the connection is closed.
    assert!(!held.is_empty(), "bringup asked the agent");
    for mut stream in held {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        assert!(
            read.is_ok(),
            "the connection is still open: the asking process was left running ({read:?})"
        );
    }
}
