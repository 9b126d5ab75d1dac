//! A key added to the ssh-agent with `ssh-add -c` makes the agent ask its user to confirm each
//! use (through ssh-askpass), and `ssh-add -l`/`-L` list no such constraint. A start that
//! proves who executes the run with such a key waits for the confirmation longer than an
//! agent that never answers is waited for (`sshsig::AGENT_SIGN_TIMEOUT`, 60 s, against 10 s
//! for listing the keys), and a declined confirmation says what it most often means. The agent
//! is a real OpenSSH `ssh-agent -D` whose askpass is a script of the test's; the run is the
//! real binary.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::local::{bringup, output};
use crate::support::run::{read_journal, stderr};

/// An `ssh-agent -D` on a socket in `dir` whose confirmations are answered by `askpass`
/// (through `SSH_ASKPASS`, with a `DISPLAY` so that the agent uses it); killed on drop.
struct AskingAgent {
    child: Child,
    sock: PathBuf,
}

impl AskingAgent {
    fn start(dir: &Path, askpass: &Path) -> AskingAgent {
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .env("SSH_ASKPASS", askpass)
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let agent = AskingAgent { child, sock };
        crate::support::wait::wait_for("the agent's socket", Duration::from_secs(5), || {
            agent.sock.exists()
        });
        agent
    }

    /// `ssh-add -c KEY`: every use of the key is to be confirmed.
    fn add_confirmed(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg("-c")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add runs");
        assert!(out.status.success(), "ssh-add -c: {}", stderr(&out));
        let listed = Command::new("ssh-add")
            .arg("-L")
            .env("SSH_AUTH_SOCK", &self.sock)
            .output()
            .expect("ssh-add -L runs");
        let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
        // What bringup can learn of the key: its line, and nothing of the constraint.
        assert!(listed.starts_with("ssh-ed25519 ") && listed.trim_end().ends_with(" kim"));
    }
}

impl Drop for AskingAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A folder with kim's key (no passphrase), allowed signers listing it, a runbook that needs
/// the proof (`operators`) and whose one check touches `ran`, and an askpass script that
/// notes each question in `asked`, waits `delay` seconds and answers with `exit`.
fn rig(delay: u64, exit: u8) -> (tempfile::TempDir, PathBuf, AskingAgent) {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let key = d.join("kim");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "kim", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen runs");
    assert!(made.status.success(), "{}", stderr(&made));
    let public = fs::read_to_string(key.with_extension("pub")).expect("public key");
    fs::write(d.join("allowed_signers"), format!("kim {public}")).expect("signers");
    let runbook = d.join("rb.toml");
    fs::write(
        &runbook,
        format!(
            "[runbook]\nname = \"confirm\"\noperators = \"allowed_signers\"\n\n\
             [hosts.h1]\ntransport = \"local\"\n\n\
             [[service]]\nid = \"probe\"\nhosts = [\"h1\"]\n\n\
             [[service.check]]\nname = \"touch\"\nrun = \"touch {}\"\n",
            d.join("ran").display()
        ),
    )
    .expect("runbook");
    let askpass = d.join("askpass.sh");
    fs::write(
        &askpass,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nsleep {delay}\nexit {exit}\n",
            d.join("asked").display()
        ),
    )
    .expect("askpass");
    fs::set_permissions(&askpass, fs::Permissions::from_mode(0o755)).expect("chmod askpass");
    let agent = AskingAgent::start(d, &askpass);
    agent.add_confirmed(&key);
    (dir, runbook, agent)
}

fn run(dir: &Path, runbook: &Path, agent: &AskingAgent) -> std::process::Output {
    output(
        bringup(dir)
            .env("SSH_AUTH_SOCK", &agent.sock)
            .args(["run", "--yes", "--operator", "kim", "--journal"])
            .arg(dir.join("journal/run.jsonl"))
            .arg(runbook),
    )
}

#[test]
fn a_start_waits_past_ten_seconds_for_the_operator_to_confirm_an_agent_key_added_with_ssh_add_c() {
    crate::require!(SshClient);
    // Longer than the 10 s a listing of the agent's keys is given.
    let delay = 12;
    let (dir, runbook, agent) = rig(delay, 0);
    let d = dir.path();
    let started = Instant::now();
    let out = run(d, &runbook, &agent);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(took >= Duration::from_secs(delay), "took {took:?}");
    let asked = fs::read_to_string(d.join("asked")).expect("the agent asked");
    assert!(asked.contains("Allow use of key kim?"), "{asked}");
    assert!(d.join("ran").exists(), "the run went on once confirmed");
    let journal = read_journal(&d.join("journal/run.jsonl"));
    assert_eq!(journal[0]["kind"], "run_started");
    assert_eq!(journal[0]["identity"], "verified", "{}", journal[0]);
}

#[test]
fn a_declined_confirmation_stops_the_start_saying_the_key_asks_for_one() {
    crate::require!(SshClient);
    let (dir, runbook, agent) = rig(0, 1);
    let d = dir.path();
    let out = run(d, &runbook, &agent);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "bringup: cannot prove who executes the run: cannot sign with the ssh-agent's first key"
        ),
        "{err}"
    );
    assert!(
        !err.contains("--sign-key:"),
        "no --sign-key was given: {err}"
    );
    assert!(err.contains("agent refused operation (if the key asks for confirmation (ssh-add -c), it was declined or the agent could not ask"), "{err}");
    assert!(!d.join("ran").exists(), "nothing ran without the proof");
}
