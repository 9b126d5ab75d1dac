//! Real OpenSSH servers on loopback for tests: generated host and client keys, private
//! authorized_keys, known_hosts and ssh_config files, and a guard that kills sshd on drop.
//! Nothing here talks to anything but 127.0.0.1.
//!
//! ```ignore
//! mod support;
//! use support::sshd::Lab;
//! let lab = Lab::new();                  // temp dir, client key, authorized_keys
//! let sshd = lab.sshd(2);                // one sshd listening on 2 free ports
//! lab.trust(&sshd);                      // its key into the lab's user known_hosts
//! let rb = support::sshd::runbook(vec![lab.host("web-1", sshd.ports[0])]);
//! let exec = bringup::exec::Executor::new(&rb, lab.options());
//! ```

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use bringup::exec::ExecOptions;
use bringup::runbook::model::{Defaults, Host, HostId, Runbook, Transport};

use super::tools::Tool;

/// Where Debian puts sshd; tests start the one [`Tool::Sshd`] finds (`BRINGUP_TEST_SSHD`).
pub const SSHD: &str = "/usr/sbin/sshd";
/// Most ListenAddress ports one sshd gets from this harness.
pub const MAX_PORTS: usize = 16;

/// `ssh-keygen -t kind` without a passphrase; returns the public key line.
pub fn keygen(path: &Path, kind: &str) -> String {
    keygen_as(path, kind, "bringup-test", "")
}

/// `ssh-keygen -t KIND -C COMMENT -N PASSPHRASE -f PATH`; returns the public key line.
pub fn keygen_as(path: &Path, kind: &str, comment: &str, passphrase: &str) -> String {
    let status = Command::new(Tool::SshClient.path())
        .args(["-q", "-t", kind, "-N", passphrase, "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
    fs::read_to_string(path.with_extension("pub"))
        .expect("public key written")
        .trim()
        .to_string()
}

/// `SHA256:…` of the public key file `public`, as `ssh-keygen -lf` prints it.
pub fn fingerprint_of(public: &Path) -> String {
    let out = Command::new(Tool::SshClient.path())
        .arg("-lf")
        .arg(public)
        .output()
        .expect("ssh-keygen -lf runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_string()
}

/// Free loopback ports, found by binding port 0 (all held at once so they differ).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

/// A temporary directory with a client key that every sshd of this lab authorizes.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub client_key: PathBuf,
    pub authorized_keys: PathBuf,
    /// The user's known_hosts as bringup sees it (`ExecOptions.user_known_hosts`).
    pub user_known_hosts: PathBuf,
    /// bringup's own known_hosts (`ExecOptions.known_hosts`).
    pub bringup_known_hosts: PathBuf,
    pub ssh_config: PathBuf,
}

impl Lab {
    pub fn new() -> Lab {
        // sshd refuses to start without its privilege-separation directory.
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::tempdir().expect("temp dir");
        let client_key = dir.path().join("client_ed25519");
        let public = keygen(&client_key, "ed25519");
        let authorized_keys = dir.path().join("authorized_keys");
        fs::write(&authorized_keys, format!("{public}\n")).expect("write authorized_keys");
        let user_known_hosts = dir.path().join("user_known_hosts");
        fs::write(&user_known_hosts, "").expect("write known_hosts");
        let ssh_config = dir.path().join("ssh_config");
        fs::write(&ssh_config, "").expect("write ssh_config");
        Lab {
            bringup_known_hosts: dir.path().join("bringup/known_hosts"),
            dir,
            client_key,
            authorized_keys,
            user_known_hosts,
            ssh_config,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `~/.ssh` of the lab as bringup's HOME: `known_hosts` holding `known_hosts` and an empty
    /// `config`. Returns the folder.
    pub fn ssh_home(&self, known_hosts: &str) -> PathBuf {
        let ssh = self.path(".ssh");
        fs::create_dir_all(&ssh).expect("create ~/.ssh");
        fs::write(ssh.join("known_hosts"), known_hosts).expect("write known_hosts");
        fs::write(ssh.join("config"), "").expect("write ssh config");
        ssh
    }

    /// `name.jsonl` in the lab: a journal path for one run.
    pub fn journal(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.jsonl"))
    }

    /// The real `bringup` binary, run from the lab with HOME there and no ssh-agent.
    pub fn bringup(&self) -> Command {
        let mut cmd = Command::cargo_bin("bringup").expect("bringup binary");
        cmd.current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("XDG_DATA_HOME")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// `bringup run ARGS --journal JOURNAL RUNBOOK` from the lab, not started.
    pub fn run_command(&self, args: &[&str], journal: &Path, runbook: &Path) -> Command {
        let mut cmd = self.bringup();
        cmd.arg("run")
            .args(args)
            .arg("--journal")
            .arg(journal)
            .arg(runbook);
        cmd
    }

    /// `bringup run ARGS --journal JOURNAL RUNBOOK` from the lab, waited for.
    pub fn run_journaled(&self, args: &[&str], journal: &Path, runbook: &Path) -> Output {
        self.run_command(args, journal, runbook)
            .output()
            .expect("bringup runs")
    }

    /// `bringup run ARGS --journal JOURNAL RUNBOOK` from the lab started, stdout discarded.
    pub fn spawn_journaled(
        &self,
        args: &[&str],
        journal: &Path,
        runbook: &Path,
        stderr: Stdio,
    ) -> Child {
        self.run_command(args, journal, runbook)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("bringup starts")
    }

    /// One sshd with a fresh ed25519 host key, listening on `ports` free loopback ports.
    pub fn sshd(&self, ports: usize) -> Sshd {
        self.sshd_on(&free_ports(ports), None, "")
    }

    /// One sshd on the given ports; `host_key` reuses a key file (same identity as another
    /// sshd), otherwise a new one is made. `extra` is put at the top of sshd_config (it comes
    /// first, so it wins: sshd keeps the first value of a keyword).
    pub fn sshd_on(&self, ports: &[u16], host_key: Option<&Path>, extra: &str) -> Sshd {
        self.sshd_at("127.0.0.1", ports, host_key, extra)
    }

    /// As [`Lab::sshd_on`], listening on loopback address `ip` (127.0.0.2 is another
    /// machine as far as bringup can tell).
    pub fn sshd_at(&self, ip: &str, ports: &[u16], host_key: Option<&Path>, extra: &str) -> Sshd {
        assert!(
            !ports.is_empty() && ports.len() <= MAX_PORTS,
            "1..={MAX_PORTS} ports per sshd"
        );
        let dir = tempfile::Builder::new()
            .prefix("sshd-")
            .tempdir_in(self.dir.path())
            .expect("sshd dir")
            .keep();
        let key = if let Some(key) = host_key {
            key.to_path_buf()
        } else {
            let key = dir.join("host_ed25519");
            keygen(&key, "ed25519");
            key
        };
        let host_public = fs::read_to_string(key.with_extension("pub"))
            .expect("host public key")
            .trim()
            .to_string();
        let mut config = format!(
            "{extra}HostKey {}\nAuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPidFile none\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin yes\n\
             SetEnv SHLVL=1\nMaxStartups 200\nMaxSessions 32\nAllowTcpForwarding yes\nLogLevel INFO\n",
            key.display(),
            self.authorized_keys.display()
        );
        for port in ports {
            let _ = writeln!(config, "ListenAddress {ip}:{port}");
        }
        let config_path = dir.join("sshd_config");
        fs::write(&config_path, config).expect("write sshd_config");
        let log = dir.join("sshd.log");
        let child = Command::new(Tool::Sshd.path())
            .args(["-D", "-e", "-f"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("sshd log"))
            .spawn()
            .expect("start sshd");
        let mut sshd = Sshd {
            child,
            ip: ip.to_string(),
            ports: ports.to_vec(),
            dir,
            log,
            host_key: key,
            host_public,
        };
        sshd.wait_ready();
        sshd
    }

    /// Record every port of `sshd` in the user known_hosts (plain `[127.0.0.1]:port` lines).
    pub fn trust(&self, sshd: &Sshd) {
        append(&self.user_known_hosts, &sshd.known_hosts_lines());
    }

    /// Write `lines` to a known_hosts file; `hashed` runs `ssh-keygen -H` over it.
    pub fn write_known_hosts(path: &Path, lines: &str, hashed: bool) {
        fs::write(path, lines).expect("write known_hosts");
        if hashed {
            let status = Command::new(Tool::SshClient.path())
                .arg("-H")
                .arg("-f")
                .arg(path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("ssh-keygen -H runs");
            assert!(status.success(), "ssh-keygen -H failed");
            let _ = fs::remove_file(path.with_extension("old"));
            let mut old = path.as_os_str().to_owned();
            old.push(".old");
            let _ = fs::remove_file(PathBuf::from(old));
        }
    }

    /// Options pointing only at this lab's files, agent off (so only the lab's key is used).
    pub fn options(&self) -> ExecOptions {
        ExecOptions {
            accept_new_host_keys: false,
            known_hosts: Some(self.bringup_known_hosts.clone()),
            user_known_hosts: Some(self.user_known_hosts.clone()),
            ssh_config: Some(self.ssh_config.clone()),
            connect_timeout: Duration::from_secs(5),
            use_agent: false,
            ..ExecOptions::default()
        }
    }

    /// An `ssh` host at 127.0.0.1:`port` as the current user with the lab's client key.
    pub fn host(&self, id: &str, port: u16) -> Host {
        Host {
            id: HostId::new(id),
            transport: Transport::Ssh,
            address: "127.0.0.1".into(),
            port: Some(port),
            user: Some(current_user()),
            identity: Some(self.client_key.clone()),
            jump: None,
            tags: Vec::new(),
        }
    }

    /// A jump host `bastion` (its own sshd) and `db-1` on another sshd reached through it,
    /// neither key known: `(bastion, inner, runbook)`.
    pub fn jump_pair(&self) -> (Sshd, Sshd, Runbook) {
        let bastion = self.sshd(1);
        let inner = self.sshd(1);
        let mut db = self.host("db-1", inner.ports[0]);
        db.jump = Some(HostId::new("bastion"));
        let rb = runbook(vec![db, self.host("bastion", bastion.ports[0])]);
        (bastion, inner, rb)
    }

    /// Fails the test unless bringup's known_hosts records `sshd`'s key at its first port
    /// (`[127.0.0.1]:PORT ssh-ed25519 KEY`); `what` goes in the message before the file.
    #[track_caller]
    pub fn assert_recorded(&self, sshd: &Sshd, what: &str) {
        let recorded = fs::read_to_string(&self.bringup_known_hosts).expect("key recorded");
        let key_field = sshd.host_public.split_whitespace().nth(1).expect("key");
        assert!(
            recorded.contains(&format!(
                "[127.0.0.1]:{} ssh-ed25519 {key_field}",
                sshd.ports[0]
            )),
            "{what}{recorded}"
        );
    }
}

pub fn append(path: &Path, text: &str) {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    file.write_all(text.as_bytes()).expect("append");
}

pub fn current_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}

/// A runbook holding just these hosts (no services), concurrency 32.
pub fn runbook(hosts: Vec<Host>) -> Runbook {
    Runbook {
        notice: bringup::runbook::model::Notice::default(),
        notify: Vec::new(),
        name: "ssh test".into(),
        description: String::new(),
        path: PathBuf::from("test.toml"),
        sha256: String::new(),
        defaults: Defaults::default(),
        vars: indexmap::IndexMap::new(),
        secret_vars: std::collections::BTreeSet::new(),
        hosts: hosts.into_iter().map(|h| (h.id.clone(), h)).collect(),
        groups: indexmap::IndexMap::new(),
        services: Vec::new(),
        drills: bringup::runbook::drill::Drills::default(),
        sites: bringup::runbook::sites::Sites::default(),
        operators: bringup::runbook::model::Operators::default(),
        witnesses: Vec::new(),
    }
}

/// A running sshd; killed when dropped.
pub struct Sshd {
    child: Child,
    /// The loopback address it listens on.
    pub ip: String,
    pub ports: Vec<u16>,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub host_key: PathBuf,
    /// `ssh-ed25519 AAAA… comment`
    pub host_public: String,
}

impl Sshd {
    fn wait_ready(&mut self) {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("poll sshd") {
                panic!("sshd exited ({status}): {}", self.log_text());
            }
            if self
                .ports
                .iter()
                .all(|p| TcpStream::connect((self.ip.as_str(), *p)).is_ok())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("sshd did not listen within 5s: {}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connections that authenticated so far (from sshd's log).
    pub fn accepted(&self) -> usize {
        self.log_text().matches("Accepted publickey").count()
    }

    /// `[127.0.0.1]:port key` for each port.
    pub fn known_hosts_lines(&self) -> String {
        let key: Vec<&str> = self.host_public.split_whitespace().take(2).collect();
        let mut lines = String::new();
        for p in &self.ports {
            let _ = writeln!(lines, "[{}]:{p} {}", self.ip, key.join(" "));
        }
        lines
    }

    /// `SHA256:…` of the host key, as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.host_key.with_extension("pub"))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
