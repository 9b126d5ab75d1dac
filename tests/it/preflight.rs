//! `bringup preflight`, the real binary, against a real OpenSSH server on loopback and a local
//! host: a ready runbook, an unknown host key, a closed port, a missing command, sudo that
//! cannot run, `--checks` on a down service, `--format json`, and that nothing is changed.
//!
//! Each test runs bringup with HOME set to its lab directory (so `~/.ssh/known_hosts` is the
//! lab's) and the ssh-agent hidden, so only the runbook's `identity` is offered.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::run::{stderr, stdout};
use crate::support::sshd::{current_user, free_ports};
use serde_json::Value;

crate::file_rig!(
    /// The shared ssh rig (one sshd on one port, host `h0`) with this file's runbook and command.
    Rig
);

impl Rig {
    /// `trust`: whether the sshd's key is in `~/.ssh/known_hosts`.
    fn new(trust: bool) -> Rig {
        Rig(if trust {
            crate::support::rig::Rig::ssh(1)
        } else {
            crate::support::rig::Rig::ssh_untrusted(1)
        })
    }

    /// `[defaults]`, host `h0` (the sshd), host `op` (local), then `services`.
    fn runbook(&self, services: &str) -> PathBuf {
        let mut text = format!(
            "[defaults]\nuser = \"{}\"\ntimeout = \"20s\"\nconnect_timeout = \"5s\"\n\n{}[hosts.op]\ntransport = \"local\"\n\n",
            current_user(),
            self.host_toml("h0", self.sshd().ports[0]),
        );
        let _ = write!(
            text,
            "{}",
            services.replace("STATE", &self.state.display().to_string())
        );
        self.write_runbook(&text)
    }

    fn preflight(&self, args: &[&str], runbook: &Path) -> Output {
        self.bringup()
            .arg("preflight")
            .args(args)
            .arg(runbook)
            .output()
            .expect("bringup runs")
    }
}

/// A service on both hosts whose check passes while `STATE/up` exists, whose restore would
/// create `STATE/restored`, and whose inject would remove `STATE/up`.
const READY: &str = r#"
[[service]]
id = "web"
hosts = ["h0", "op"]
  [[service.check]]
  name = "answers"
  run = "test -f STATE/up && cat STATE/up"
  expect_output = "up"
  [[service.restore]]
  name = "start"
  run = "touch STATE/restored"
  [[service.inject]]
  name = "stop"
  run = "rm -f STATE/up"
"#;

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// The table row of `host`, its cells split on runs of spaces.
fn row(text: &str, host: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.split("  ").next() == Some(host))
        .unwrap_or_else(|| panic!("no row for {host} in\n{text}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("json: {e}\n{}", stdout(out)))
}

fn host<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["hosts"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["host"] == id))
        .unwrap_or_else(|| panic!("no host {id} in {doc}"))
}

#[test]
fn a_ready_runbook_exits_0_says_so_and_changes_nothing() {
    crate::require!(Sshd);
    let rig = Rig::new(true);
    fs::write(rig.state.join("up"), "up\n").expect("write up");
    let rb = rig.runbook(READY);
    let out = rig.preflight(&["--checks"], &rb);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(0), "{text}\n{}", stderr(&out));
    assert_eq!(
        row(&text, "h0"),
        [
            "h0",
            "yes",
            "known",
            "ok",
            "none of 2",
            "not needed",
            "1/1 pass"
        ]
    );
    assert_eq!(
        row(&text, "op"),
        [
            "op",
            "local",
            "local",
            "local",
            "none of 2",
            "not needed",
            "1/1 pass"
        ]
    );
    assert_eq!(row(&text, "web"), ["web", "1", "healthy"]);
    assert!(text.contains("\nREADY: 2 hosts ready"), "{text}");
    assert!(
        !rig.state.join("restored").exists(),
        "a restore step ran during preflight"
    );
    assert!(
        rig.state.join("up").exists(),
        "an inject step ran during preflight"
    );
    assert!(
        !rig.dir().join(".local/share/bringup/known_hosts").exists(),
        "preflight recorded a host key"
    );
}

#[test]
fn an_unknown_host_key_exits_1_naming_the_host_and_records_nothing() {
    crate::require!(Sshd);
    let rig = Rig::new(false);
    let rb = rig.runbook(READY);
    let out = rig.preflight(&[], &rb);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}");
    assert_eq!(&row(&text, "h0")[..4], ["h0", "yes", "unknown", "-"]);
    assert!(
        text.contains("✗ host 'h0': unknown host key SHA256:"),
        "{text}"
    );
    assert!(
        text.contains("\nNOT READY: 1 of 2 hosts not ready"),
        "{text}"
    );
    assert!(!rig.dir().join(".local/share/bringup/known_hosts").exists());
}

#[test]
fn a_closed_port_exits_1_naming_the_host_as_unreachable() {
    crate::require!(Sshd);
    let rig = Rig::new(true);
    let closed = free_ports(1)[0];
    let rb = rig.runbook(&format!(
        "[hosts.gone]\naddress = \"127.0.0.1\"\nport = {closed}\n\n[[service]]\nid = \"web\"\nhosts = [\"gone\"]\n  [[service.check]]\n  name = \"c\"\n  run = \"true\"\n"
    ));
    let out = rig.preflight(&[], &rb);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}");
    assert_eq!(&row(&text, "gone")[..4], ["gone", "no", "-", "-"]);
    assert!(
        text.contains("✗ host 'gone': cannot connect to '"),
        "{text}"
    );
}

#[test]
fn a_missing_command_exits_1_naming_the_host_the_command_and_the_step() {
    crate::require!(Sshd);
    let rig = Rig::new(true);
    let rb = rig.runbook(
        "[[service]]\nid = \"web\"\nhosts = [\"h0\"]\n  [[service.check]]\n  name = \"probe\"\n  run = \"definitely-not-a-command-xyz --flag\"\n",
    );
    let out = rig.preflight(&[], &rb);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}");
    assert_eq!(
        row(&text, "h0"),
        [
            "h0",
            "yes",
            "known",
            "ok",
            "definitely-not-a-command-xyz",
            "not needed"
        ]
    );
    assert!(
        text.contains("✗ host 'h0': command 'definitely-not-a-command-xyz' not found (first command of check 'probe' of 'web')"),
        "{text}"
    );
}

#[test]
fn sudo_that_cannot_run_non_interactively_exits_1_naming_the_host() {
    crate::require!(Sshd);
    let rig = Rig::new(true);
    // On the test machine sudo is absent or asks for a password: `sudo -n true` fails either way.
    let probe = Command::new("sh")
        .args(["-c", "sudo -n true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sh runs");
    if probe.success() {
        eprintln!("skipped: sudo -n works for this user here, so it cannot be shown failing");
        return;
    }
    let rb = rig.runbook(
        "[[service]]\nid = \"web\"\nhosts = [\"h0\"]\n  [[service.check]]\n  name = \"c\"\n  run = \"true\"\n  [[service.restore]]\n  name = \"start\"\n  run = \"sudo -n systemctl start web\"\n",
    );
    let out = rig.preflight(&[], &rb);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}");
    assert_eq!(row(&text, "h0")[5], "failed", "{text}");
    assert!(
        text.contains("✗ host 'h0': 'sudo -n true' failed, but steps there use sudo"),
        "{text}"
    );
}

#[test]
fn checks_report_a_down_service_and_json_carries_the_same_facts() {
    crate::require!(Sshd);
    let rig = Rig::new(true);
    // No STATE/up: the check fails on both hosts; the restore that would fix it never runs.
    let rb = rig.runbook(&format!(
        "{READY}\n[[service]]\nid = \"db\"\nhosts = [\"h0\"]\n  [[service.check]]\n  name = \"probe\"\n  run = \"definitely-not-a-command-xyz --flag\"\n"
    ));
    let out = rig.preflight(&["--checks"], &rb);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}");
    let web = row(&text, "web");
    assert_eq!(&web[..3], ["web", "1", "down"], "{text}");
    assert!(web[3].starts_with("check 'answers' failed on"), "{text}");

    let out = rig.preflight(&["--checks", "--format", "json"], &rb);
    assert_eq!(code(&out), Some(1));
    let doc = json(&out);
    assert_eq!(doc["ready"], false);
    let h0 = host(&doc, "h0");
    assert_eq!(h0["reachable"], "yes");
    assert_eq!(h0["host_key"], "known");
    assert_eq!(h0["auth"], "ok");
    assert_eq!(
        h0["commands_missing"],
        serde_json::json!(["definitely-not-a-command-xyz"])
    );
    assert_eq!(h0["checks"], serde_json::json!([0, 2]));
    assert_eq!(host(&doc, "op")["reachable"], "local");
    let services = doc["services"].as_array().expect("services");
    assert_eq!(services[0]["service"], "web");
    assert_eq!(services[0]["state"], "down");
    assert_eq!(services[1]["state"], "down");
    assert!(
        doc["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("NOT READY")),
        "{doc}"
    );
    assert!(!rig.state.join("restored").exists(), "a restore step ran");
}

#[test]
fn only_limits_preflight_to_the_selected_services_hosts() {
    crate::require!(Sshd);
    let rig = Rig::new(true);
    let rb = rig.runbook(
        "[[service]]\nid = \"web\"\nhosts = [\"op\"]\n  [[service.check]]\n  name = \"c\"\n  run = \"true\"\n[[service]]\nid = \"db\"\nhosts = [\"h0\"]\n  [[service.check]]\n  name = \"c\"\n  run = \"definitely-not-a-command-xyz\"\n",
    );
    let out = rig.preflight(&["--only", "web"], &rb);
    assert_eq!(code(&out), Some(0), "{}", stdout(&out));
    assert!(!stdout(&out).contains("h0"), "{}", stdout(&out));
    let out = rig.preflight(&["--only", "wbe"], &rb);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("did you mean 'web'?"),
        "{}",
        stderr(&out)
    );
}
