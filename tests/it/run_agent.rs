//! `bringup run`, the real binary, authenticating through a real OpenSSH `ssh-agent` against a
//! real sshd on loopback: a host without `identity` gets in only through the agent, and a host
//! whose `identity` is a passphrase-protected key gets in through the agent holding that key,
//! or fails with a message naming the key file and `ssh-add`.
//!
//! bringup runs with HOME set to the lab directory, which holds no default key
//! (`~/.ssh/id_*`), so the agent is the only way in unless the runbook names a key. The agent
//! is the test's own child on a socket inside the lab, killed on drop; the environment
//! variables reach bringup through `Command::env`, never through this process's environment.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::agent::{Agent, PASSPHRASE, agent_key};
use crate::support::run::{read_journal, stderr};
use crate::support::sshd::{append, current_user};
use serde_json::Value;

/// A lab with one sshd, a HOME trusting it and holding no default key, a passphrase-protected
/// client key the sshd authorizes, and an agent holding that key.
struct Rig {
    base: crate::support::rig::Rig,
    agent: Agent,
    locked_key: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        let base = crate::support::rig::Rig::ssh(1);
        let lab = base.lab();
        let ssh = lab.path(".ssh");
        let locked_key = lab.path("locked_ed25519");
        let public = agent_key(&locked_key, PASSPHRASE);
        append(&lab.authorized_keys, &format!("{public}\n"));
        let agent = Agent::start(lab);
        agent.add(lab, &locked_key);
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            assert!(!ssh.join(name).exists(), "HOME must hold no default key");
        }
        Rig {
            base,
            agent,
            locked_key,
        }
    }

    /// One host `h0` (with `identity` if given) and one check that touches `marker`.
    fn runbook(&self, name: &str, identity: Option<&Path>, marker: &Path) -> PathBuf {
        let identity =
            identity.map_or_else(String::new, |p| format!("identity = \"{}\"\n", p.display()));
        let text = format!(
            "[runbook]\nname = \"agent\"\n\n[defaults]\nuser = \"{user}\"\ntimeout = \"20s\"\n\n\
             [hosts.h0]\naddress = \"127.0.0.1\"\nport = {port}\n{identity}\n\
             [[service]]\nid = \"probe\"\nname = \"probe\"\ntier = 0\nhosts = [\"h0\"]\n\n  \
             [[service.check]]\n  name = \"touch\"\n  run = \"touch {marker}\"\n",
            user = current_user(),
            port = self.base.sshd().ports[0],
            marker = marker.display(),
        );
        let path = self.base.path(&format!("{name}.toml"));
        fs::write(&path, text).expect("write runbook");
        path
    }

    /// `bringup run --yes` on `runbook`, journaling to `journal`; the agent only if `agent`.
    fn run(&self, runbook: &Path, journal: &Path, agent: bool) -> std::process::Output {
        let mut cmd = self.base.bringup();
        cmd.args(["run", "--yes", "--journal"])
            .arg(journal)
            .arg(runbook);
        if agent {
            cmd.env("SSH_AUTH_SOCK", &self.agent.sock);
        }
        cmd.output().expect("bringup runs")
    }

    /// With the agent, runbook `name` (`identity` if given) exits 0, its check runs on the
    /// host and every step ends `ok`.
    fn gets_in_with_agent(&self, name: &str, identity: Option<&Path>) {
        let marker = self.base.path("ran-with-agent");
        let runbook = self.runbook(name, identity, &marker);
        let journal = self.base.path("with-agent.jsonl");
        let out = self.run(&runbook, &journal, true);
        assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
        assert!(marker.exists(), "the check did not run on the host");
        finished(&journal, "ok");
    }

    /// Without the agent, runbook `name` exits 1, its check never runs (`ran` says what went
    /// wrong if it did) and every step ends `error`; returns the first step's error text.
    fn refused_without_agent(&self, name: &str, identity: Option<&Path>, ran: &str) -> String {
        let marker = self.base.path("ran-without-agent");
        let runbook = self.runbook(name, identity, &marker);
        let journal = self.base.path("without-agent.jsonl");
        let out = self.run(&runbook, &journal, false);
        assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
        assert!(!marker.exists(), "{ran}");
        let step = finished(&journal, "error");
        step["error"].as_str().expect("error text").to_string()
    }
}

/// The run's first `step_finished`, after checking every one of them (the check and, after a
/// failure, its verification) ended with `outcome`.
fn finished(journal: &Path, outcome: &str) -> Value {
    let events = read_journal(journal);
    let steps: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "step_finished")
        .collect();
    assert!(!steps.is_empty(), "no step_finished in the journal");
    for step in &steps {
        assert_eq!(step["outcome"], outcome, "{step}");
        assert_eq!(step["host"], "h0", "{step}");
    }
    steps[0].clone()
}

#[test]
fn a_host_without_identity_gets_in_through_the_agent_and_not_without_it() {
    crate::require!(Sshd);
    let rig = Rig::new();
    rig.gets_in_with_agent("no-identity", None);
    let error = rig.refused_without_agent("no-identity-2", None, "ran without any key");
    assert!(error.contains("authentication failed"), "{error}");
    assert!(error.contains("host 'h0'"), "{error}");
    assert!(
        error.contains(&format!("user '{}'", current_user())),
        "{error}"
    );
    assert!(error.contains("ssh-agent"), "{error}");
}

#[test]
fn a_passphrase_protected_identity_works_through_the_agent_and_says_ssh_add_without_it() {
    crate::require!(Sshd);
    let rig = Rig::new();
    rig.gets_in_with_agent("locked", Some(&rig.locked_key));
    let error = rig.refused_without_agent(
        "locked-2",
        Some(&rig.locked_key),
        "ran with a key it could not decrypt",
    );
    let key = rig.locked_key.display().to_string();
    assert!(error.contains(&format!("'{key}'")), "{error}");
    assert!(error.contains("passphrase"), "{error}");
    assert!(error.contains(&format!("ssh-add {key}")), "{error}");
}
