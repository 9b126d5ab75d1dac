//! `bringup run`, the real binary, against real OpenSSH servers on loopback, for the SSH safety
//! rules: host keys read as OpenSSH reads them (`@revoked`, plain and hashed; the known key
//! type preferred; another type is "changed"), a frozen host heard about through keepalives,
//! `connect_timeout` against a listener that never speaks SSH, and Ctrl-C while connecting.
//!
//! Each test runs bringup with HOME set to its lab directory, so `~/.ssh/known_hosts` is the
//! lab's and bringup's own known_hosts lands under the lab too; the ssh-agent is hidden.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::procs::{process_named, serving_sshd, unique};
use crate::support::run::{read_journal, stderr, stdout};
use crate::support::sshd::{Lab, Sshd, current_user, keygen};
use crate::support::wait::{wait_exit, wait_for};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

crate::file_rig!(
    /// The shared ssh rig without an sshd (each test starts its own) and a HOME for bringup
    /// holding `.ssh/known_hosts` (as each test writes it).
    Rig
);

impl Rig {
    fn new() -> Rig {
        Rig(crate::support::rig::Rig::ssh_home())
    }

    /// Replace `~/.ssh/known_hosts`.
    fn known_hosts(&self, text: &str) {
        fs::write(self.path(".ssh/known_hosts"), text).expect("write known_hosts");
    }

    /// Where bringup records keys it accepted.
    fn bringup_known_hosts(&self) -> PathBuf {
        self.path(".local/share/bringup/known_hosts")
    }

    /// A runbook with one service on host `h0` at 127.0.0.1:`port`, whose one check runs
    /// `check` with `timeout`; `defaults` goes into `[defaults]`.
    fn runbook(&self, port: u16, check: &str, timeout: &str, defaults: &str) -> PathBuf {
        self.write_runbook(&format!(
            "[runbook]\nname = \"safety\"\n\n[defaults]\nuser = \"{}\"\n{defaults}\n\n{}\
             [[service]]\nid = \"svc\"\nhosts = [\"h0\"]\n  [[service.check]]\n  name = \"probe\"\n  \
             run = \"{check}\"\n  timeout = \"{timeout}\"\n",
            current_user(),
            self.host_toml("h0", port),
        ))
    }

    /// `bringup run --check-only ARGS --journal JOURNAL RUNBOOK`, waited for.
    fn check(&self, args: &[&str], journal: &Path, runbook: &Path) -> Output {
        let args: Vec<&str> = std::iter::once("--check-only")
            .chain(args.iter().copied())
            .collect();
        self.run_journaled(&args, journal, runbook)
    }

    fn spawn_check(&self, journal: &Path, runbook: &Path) -> Child {
        self.lab()
            .spawn_journaled(&["--check-only"], journal, runbook, Stdio::null())
    }

    /// A check that leaves `ran` in the lab when it runs at all.
    fn ran_marker(&self) -> (PathBuf, String) {
        let ran = self.path("ran");
        let command = format!("touch {}", ran.display());
        (ran, command)
    }
}

/// The one `step_finished` of the journal.
fn finished(journal: &Path) -> Value {
    let events = read_journal(journal);
    let mut done = events.iter().filter(|e| e["kind"] == "step_finished");
    let first = done.next().expect("a step_finished event").clone();
    assert!(done.next().is_none(), "one step_finished: {events:?}");
    first
}

fn error_of(event: &Value) -> String {
    event["error"].as_str().unwrap_or_default().to_string()
}

/// `kind base64` of a public key line.
fn key_fields(public: &str) -> String {
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("pid fits"))
}

/// A revoked key: refused with and without `--accept-new-host-keys`, named as revoked with
/// the known_hosts file and line, nothing runs, and nothing is recorded in bringup's file.
fn assert_revoked_refused(rig: &Rig, sshd: &Sshd, line_no: usize) {
    let (ran, command) = rig.ran_marker();
    let runbook = rig.runbook(sshd.ports[0], &command, "10s", "");
    for (i, args) in [&[][..], &["--accept-new-host-keys"][..]]
        .iter()
        .enumerate()
    {
        let journal = rig.journal_named(&format!("revoked-{i}"));
        let out = rig.check(args, &journal, &runbook);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let error = error_of(&finished(&journal));
        assert!(error.contains("REVOKED"), "{args:?}: {error}");
        assert!(error.contains(&sshd.fingerprint()), "{error}");
        let entry = format!("{}:{line_no}", rig.path(".ssh/known_hosts").display());
        assert!(error.contains(&entry), "names {entry}: {error}");
        let shown = format!("{}{}", stdout(&out), stderr(&out));
        assert!(shown.contains("REVOKED"), "{args:?}: {shown}");
        assert!(!ran.exists(), "the check ran on a host with a revoked key");
        let recorded = fs::read_to_string(rig.bringup_known_hosts()).unwrap_or_default();
        assert!(
            !recorded.contains(&key_fields(&sshd.host_public)),
            "the revoked key was recorded: {recorded}"
        );
    }
    assert_eq!(sshd.accepted(), 0, "bringup authenticated to the host");
}

#[test]
fn a_revoked_host_key_is_refused_even_with_accept_new_host_keys_and_never_recorded() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let sshd = rig.lab().sshd(1);
    rig.known_hosts(&format!(
        "# revoked after the leak\n@revoked [127.0.0.1]:{} {}\n",
        sshd.ports[0],
        key_fields(&sshd.host_public)
    ));
    assert_revoked_refused(&rig, &sshd, 2);
}

#[test]
fn a_hashed_revoked_entry_is_refused_even_when_the_key_is_also_listed_as_known() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let sshd = rig.lab().sshd(1);
    // `ssh-keygen -H` leaves marker lines alone, so hash the plain line, then mark it.
    let scratch = rig.path("to_hash");
    Lab::write_known_hosts(&scratch, &sshd.known_hosts_lines(), true);
    let hashed = fs::read_to_string(&scratch).expect("hashed line");
    let hashed = hashed
        .lines()
        .find(|l| l.starts_with("|1|"))
        .expect("a hashed line");
    rig.known_hosts(&format!("@revoked {hashed}\n{}", sshd.known_hosts_lines()));
    assert_revoked_refused(&rig, &sshd, 1);
}

/// An sshd offering an RSA and an ed25519 host key; the RSA key's public line.
fn sshd_with_rsa_and_ed25519(rig: &Rig) -> (Sshd, String) {
    let rsa = rig.path(&unique("host_rsa-"));
    let rsa_public = keygen(&rsa, "rsa");
    let extra = format!("HostKey {}\n", rsa.display());
    let sshd = rig
        .lab()
        .sshd_on(&crate::support::sshd::free_ports(1), None, &extra);
    (sshd, rsa_public)
}

#[test]
fn a_host_known_by_its_rsa_key_negotiates_rsa_and_runs() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let (sshd, rsa_public) = sshd_with_rsa_and_ed25519(&rig);
    rig.known_hosts(&format!(
        "[127.0.0.1]:{} {}\n",
        sshd.ports[0],
        key_fields(&rsa_public)
    ));
    let (ran, command) = rig.ran_marker();
    let runbook = rig.runbook(sshd.ports[0], &command, "10s", "");
    let journal = rig.journal_named("rsa");
    let out = rig.check(&[], &journal, &runbook);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(finished(&journal)["outcome"], "ok");
    assert!(ran.exists(), "the check ran");
    assert!(
        !rig.bringup_known_hosts().exists(),
        "nothing new was recorded"
    );
}

#[test]
fn another_rsa_key_known_for_a_host_that_also_offers_ed25519_is_changed_even_with_the_flag() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let (sshd, _) = sshd_with_rsa_and_ed25519(&rig);
    let other = keygen(&rig.path("other_rsa"), "rsa");
    rig.known_hosts(&format!(
        "[127.0.0.1]:{} {}\n",
        sshd.ports[0],
        key_fields(&other)
    ));
    let (ran, command) = rig.ran_marker();
    let runbook = rig.runbook(sshd.ports[0], &command, "10s", "");
    let journal = rig.journal_named("changed");
    let out = rig.check(&["--accept-new-host-keys"], &journal, &runbook);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = error_of(&finished(&journal));
    assert!(error.contains("HOST KEY CHANGED"), "{error}");
    assert!(!ran.exists(), "the check ran on a host whose key changed");
    assert!(
        !rig.bringup_known_hosts().exists(),
        "a key was recorded for a host whose key changed"
    );
}

#[test]
fn a_key_of_another_type_than_the_known_one_is_changed_not_new() {
    crate::require!(Sshd);
    let rig = Rig::new();
    // The sshd offers ed25519 only; known_hosts holds an RSA key for it.
    let sshd = rig.lab().sshd(1);
    let rsa = keygen(&rig.path("known_rsa"), "rsa");
    rig.known_hosts(&format!(
        "[127.0.0.1]:{} {}\n",
        sshd.ports[0],
        key_fields(&rsa)
    ));
    let (ran, command) = rig.ran_marker();
    let runbook = rig.runbook(sshd.ports[0], &command, "10s", "");
    let journal = rig.journal_named("other-type");
    let out = rig.check(&["--accept-new-host-keys"], &journal, &runbook);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = error_of(&finished(&journal));
    assert!(error.contains("HOST KEY CHANGED"), "{error}");
    assert!(error.contains("known ssh-rsa SHA256:"), "{error}");
    assert!(error.contains("offered ssh-ed25519 SHA256:"), "{error}");
    assert!(!ran.exists(), "the check ran");
    let recorded = fs::read_to_string(rig.bringup_known_hosts()).unwrap_or_default();
    assert!(
        !recorded.contains(&key_fields(&sshd.host_public)),
        "the flag accepted a key of another type: {recorded}"
    );
}

#[test]
fn a_frozen_host_ends_the_running_step_as_connection_lost_within_the_keepalive_budget() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let sshd = rig.lab().sshd(1);
    rig.known_hosts(&sshd.known_hosts_lines());
    let marker = unique("frozen-nap-");
    let bin = rig.path("bin");
    fs::create_dir_all(&bin).expect("bin dir");
    let nap = bin.join(&marker);
    let sleep = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sleep exists");
    fs::copy(sleep, &nap).expect("copy sleep");
    let runbook = rig.runbook(sshd.ports[0], &format!("{} 60", nap.display()), "120s", "");
    let journal = rig.journal_named("frozen");
    let mut child = rig.spawn_check(&journal, &runbook);
    let mut napping = None;
    wait_for("the long step on the host", Duration::from_secs(20), || {
        napping = process_named(&marker);
        napping.is_some()
    });
    let napping = napping.expect("the nap runs");
    let served_by = serving_sshd(napping).expect("the sshd serving the step");
    kill(Pid::from_raw(served_by), Signal::SIGSTOP).expect("SIGSTOP the host's sshd");
    let frozen_at = Instant::now();
    let status = wait_exit(&mut child, Duration::from_secs(40));
    let took = frozen_at.elapsed();
    // Let the host go again, and end the step this test started there, by its id.
    let _ = kill(Pid::from_raw(served_by), Signal::SIGCONT);
    let _ = kill(Pid::from_raw(napping), Signal::SIGKILL);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("bringup did not hear about the frozen host within 40 s");
    };
    assert_eq!(status.code(), Some(1));
    let step = finished(&journal);
    assert_eq!(step["outcome"], "error", "{step}");
    let error = error_of(&step);
    assert!(
        error.contains("connection lost; outcome unknown"),
        "{error}"
    );
    assert!(
        took < Duration::from_secs(20),
        "heard about the frozen host only after {took:?}"
    );
}

/// A listener on loopback that accepts TCP (the kernel does, from its backlog) and never
/// says a word of SSH.
fn silent_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    (listener, port)
}

#[test]
fn connect_timeout_ends_a_check_against_a_host_that_never_speaks_ssh() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let (_listener, port) = silent_listener();
    let (ran, command) = rig.ran_marker();
    let runbook = rig.runbook(port, &command, "60s", "connect_timeout = \"1s\"");
    let journal = rig.journal_named("silent");
    let started = Instant::now();
    let out = rig.check(&[], &journal, &runbook);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let step = finished(&journal);
    assert_eq!(step["outcome"], "error", "{step}");
    let error = error_of(&step);
    assert!(error.contains("connect_timeout 1s"), "{error}");
    assert!(error.contains("SSH handshake"), "{error}");
    assert!(
        took < Duration::from_secs(5),
        "a 1 s connect_timeout took {took:?}"
    );
    assert!(!ran.exists());
}

#[test]
fn ctrl_c_while_connecting_exits_3_at_once() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let (listener, port) = silent_listener();
    listener.set_nonblocking(true).expect("non-blocking");
    let (_, command) = rig.ran_marker();
    let runbook = rig.runbook(port, &command, "60s", "connect_timeout = \"30s\"");
    let journal = rig.journal_named("interrupted");
    let mut child = rig.spawn_check(&journal, &runbook);
    // bringup is connecting once its TCP connection arrives; hold it open, silent.
    let mut held = None;
    wait_for("bringup to connect", Duration::from_secs(20), || {
        held = listener.accept().ok();
        held.is_some()
    });
    std::thread::sleep(Duration::from_millis(300));
    kill(pid_of(&child), Signal::SIGINT).expect("Ctrl-C");
    let interrupted_at = Instant::now();
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let took = interrupted_at.elapsed();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("bringup still connecting 10 s after Ctrl-C");
    };
    assert_eq!(status.code(), Some(3));
    assert!(
        took < Duration::from_secs(2),
        "Ctrl-C while connecting took {took:?}"
    );
    drop(held);
}
