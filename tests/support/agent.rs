//! A real OpenSSH `ssh-agent -D` for tests, on a socket inside a lab folder, killed on drop.
//! Its socket reaches the binary under test through `Command::env("SSH_AUTH_SOCK", …)`,
//! never through the test process's own environment.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use super::sshd::Lab;

/// The passphrase `add` gives through its askpass script.
pub const PASSPHRASE: &str = "secretpw";

/// The comment of the keys [`agent_key`] makes, which [`Agent::add`] looks for in the agent.
pub const KEY_COMMENT: &str = "agent-test";

/// An ed25519 key at `path` for the agent (`passphrase` may be empty); its public line.
pub fn agent_key(path: &Path, passphrase: &str) -> String {
    super::sshd::keygen_as(path, "ed25519", KEY_COMMENT, passphrase)
}

/// A private `ssh-agent -D` listening on a socket in the lab; killed when dropped.
pub struct Agent {
    child: Child,
    pub sock: PathBuf,
}

impl Agent {
    pub fn start(lab: &Lab) -> Agent {
        let sock = lab.path("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let agent = Agent { child, sock };
        for _ in 0..100 {
            if agent.sock.exists() {
                return agent;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("ssh-agent never created '{}'", agent.sock.display());
    }

    /// `ssh-add key`, the passphrase given by an askpass script (no terminal involved).
    pub fn add(&self, lab: &Lab, key: &Path) {
        let askpass = lab.path("askpass.sh");
        fs::write(&askpass, format!("#!/bin/sh\necho {PASSPHRASE}\n")).expect("write askpass");
        fs::set_permissions(&askpass, fs::Permissions::from_mode(0o755)).expect("chmod askpass");
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add runs");
        assert!(
            out.status.success(),
            "ssh-add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = Command::new("ssh-add")
            .arg("-l")
            .env("SSH_AUTH_SOCK", &self.sock)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add -l runs");
        assert!(
            String::from_utf8_lossy(&listed.stdout).contains(KEY_COMMENT),
            "the agent does not hold the key"
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
