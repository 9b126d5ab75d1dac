//! Scenario drills over a real OpenSSH server on loopback (`run --drill --scenario`, the real
//! binary): injects, restores and guards run on SSH hosts; a `confirm` inject is approved by
//! `--yes` like a restore; a guard that starts failing on its SSH host trips the drill;
//! SIGTERM mid-inject stops the inject on its host and restores the service.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::run::{read_journal, stderr, stdout};
use crate::support::sshd::{Lab, Sshd, current_user};
use crate::support::wait::{wait_exit, wait_for};
use serde_json::Value;

struct Rig {
    lab: Lab,
    _sshd: Sshd,
    state: PathBuf,
    runbook: PathBuf,
    journal: PathBuf,
}

/// Hosts `h0` and `h1` (one sshd, two ports). `db` (tier 1, on h0) and `api` (tier 2, on both,
/// depends on db) are up while `<state>/<id>.up` exists. `db`'s inject asks for approval and
/// then sleeps `db_inject_sleep`. Guard `site ok` runs on h1 every second and fails while
/// `<state>/trip` exists.
fn rig(db_inject_sleep: &str) -> Rig {
    let lab = Lab::new();
    let sshd = lab.sshd(2);
    lab.ssh_home(&sshd.known_hosts_lines());
    let state = lab.path("state");
    fs::create_dir_all(&state).expect("state dir");
    for id in ["db", "api"] {
        fs::write(state.join(format!("{id}.up")), "").expect("up");
    }
    let s = state.display();
    let host = |id: &str, port: u16| {
        format!(
            "[hosts.{id}]\naddress = \"127.0.0.1\"\nport = {port}\nidentity = \"{}\"\n\n",
            lab.client_key.display()
        )
    };
    let text = format!(
        r#"[runbook]
name = "drill over ssh"

[defaults]
user = "{user}"
timeout = "20s"

{h0}{h1}
[[service]]
id = "db"
name = "Database"
tier = 1
rto = "10m"
hosts = ["h0"]
  [[service.check]]
  name = "up"
  run = "test -f {s}/db.up"
  [[service.restore]]
  name = "start db"
  run = "sleep 0.2; touch {s}/db.up"
  [[service.inject]]
  name = "kill db"
  run = "rm -f {s}/db.up; sleep {db_inject_sleep}"
  confirm = true

[[service]]
id = "api"
name = "API"
tier = 2
rto = "10m"
hosts = ["h0", "h1"]
depends_on = ["db"]
  [[service.check]]
  name = "up on {{{{host}}}}"
  run = "test -f {s}/api.up && echo serving on {{{{host}}}}"
  expect_output = "serving on h[01]"
  [[service.restore]]
  name = "start api"
  run = "touch {s}/api.up"
  [[service.inject]]
  name = "kill api"
  run = "rm -f {s}/api.up"

[[scenario]]
id = "site-loss"
name = "Site lost"
inject = ["db", "api"]

[[guard]]
name = "site ok"
run = "test ! -f {s}/trip"
hosts = ["h1"]
every = "1s"
"#,
        user = current_user(),
        h0 = host("h0", sshd.ports[0]),
        h1 = host("h1", sshd.ports[1]),
    );
    let runbook = lab.path("runbook.toml");
    fs::write(&runbook, text).expect("write runbook");
    let journal = lab.journal("drill");
    Rig {
        lab,
        _sshd: sshd,
        state,
        runbook,
        journal,
    }
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn injected(events: &[Value]) -> Vec<(String, String)> {
    of_kind(events, "step_started")
        .iter()
        .filter(|e| e["phase"] == "inject")
        .map(|e| {
            (
                e["service"].as_str().unwrap_or_default().to_string(),
                e["host"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn finished(events: &[Value]) -> Value {
    of_kind(events, "drill_phase")
        .into_iter()
        .find(|e| e["phase"] == "finished")
        .cloned()
        .expect("drill finished")
}

#[test]
fn a_drill_over_ssh_injects_restores_and_passes_with_the_inject_approved_by_yes() {
    crate::require!(Sshd);
    let rig = rig("0");
    let out = rig.lab.run_journaled(
        &["--drill", "--scenario", "site-loss", "--yes"],
        &rig.journal,
        &rig.runbook,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    let events = read_journal(&rig.journal);
    assert_eq!(events[0]["scenario"], "site-loss");
    let approvals = of_kind(&events, "approval");
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["step"], "kill db");
    assert_eq!(approvals[0]["decision"], "approved");
    assert_eq!(
        injected(&events),
        [
            ("db".to_string(), "h0".to_string()),
            ("api".to_string(), "h0".to_string()),
            ("api".to_string(), "h1".to_string())
        ]
    );
    // Both services were seen down after their inject, then restored in plan order.
    let states: Vec<(String, String)> = of_kind(&events, "service_state")
        .iter()
        .map(|e| {
            (
                e["service"].as_str().unwrap_or_default().to_string(),
                e["to"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let at = |svc: &str, to: &str| {
        states
            .iter()
            .position(|(s, t)| s == svc && t == to)
            .unwrap_or_else(|| panic!("{svc} never {to}: {states:?}"))
    };
    assert!(at("db", "down") < at("db", "restoring"));
    assert!(at("db", "restored") < at("api", "restoring"), "tier order");
    let done = finished(&events);
    assert_eq!(done["outcome"], "passed", "{done}");
    assert!(guard_runs_left_no_trip(&events));
    assert!(rig.state.join("db.up").exists() && rig.state.join("api.up").exists());
}

fn guard_runs_left_no_trip(events: &[Value]) -> bool {
    of_kind(events, "guard_tripped").is_empty()
}

#[test]
fn a_guard_on_an_ssh_host_that_starts_failing_trips_the_drill() {
    crate::require!(Sshd);
    let rig = rig("3");
    let mut child = rig.lab.spawn_journaled(
        &["--drill", "--scenario", "site-loss", "--yes"],
        &rig.journal,
        &rig.runbook,
        std::process::Stdio::null(),
    );
    wait_for("db's inject to start", Duration::from_secs(30), || {
        fs::read_to_string(&rig.journal)
            .is_ok_and(|t| t.contains(r#""phase":"inject","step":"kill db""#))
    });
    fs::write(rig.state.join("trip"), "").expect("trip the guard");
    let status = wait_exit(&mut child, Duration::from_secs(60)).expect("bringup ends");
    assert_eq!(status.code(), Some(1));
    let events = read_journal(&rig.journal);
    let tripped = of_kind(&events, "guard_tripped");
    assert_eq!(tripped.len(), 1, "{tripped:?}");
    assert_eq!(tripped[0]["guard"], "site ok");
    assert_eq!(tripped[0]["host"], "h1");
    assert_eq!(tripped[0]["exit_code"], 1);
    assert_eq!(
        injected(&events),
        [("db".to_string(), "h0".to_string())],
        "api is not injected after the trip"
    );
    assert!(rig.state.join("db.up").exists(), "db restored");
    assert!(rig.state.join("api.up").exists(), "api never broken");
    let done = finished(&events);
    assert_eq!(done["outcome"], "failed");
    assert!(
        done["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("guard 'site ok' tripped")),
        "{done}"
    );
}

#[test]
fn sigterm_mid_inject_over_ssh_stops_the_inject_on_its_host_and_restores_the_service() {
    crate::require!(Sshd);
    let rig = rig("30");
    let mut child = rig.lab.spawn_journaled(
        &["--drill", "--scenario", "site-loss", "--yes"],
        &rig.journal,
        &rig.runbook,
        std::process::Stdio::null(),
    );
    wait_for("db's inject to break it", Duration::from_secs(30), || {
        fs::read_to_string(&rig.journal)
            .is_ok_and(|t| t.contains(r#""phase":"inject","step":"kill db""#))
            && !rig.state.join("db.up").exists()
    });
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = wait_exit(&mut child, Duration::from_secs(60)).expect("bringup ends");
    assert_eq!(status.code(), Some(3));
    let events = read_journal(&rig.journal);
    assert_eq!(
        injected(&events),
        [("db".to_string(), "h0".to_string())],
        "api is not injected after the signal"
    );
    let inject_ended = of_kind(&events, "step_finished")
        .into_iter()
        .find(|e| e["phase"] == "inject")
        .expect("the inject's end is recorded");
    assert_ne!(inject_ended["outcome"], "ok", "stopped on its host");
    assert!(rig.state.join("db.up").exists(), "db restored over ssh");
    let end = events.last().expect("events");
    assert_eq!(end["kind"], "run_finished");
    assert_eq!(end["outcome"], "interrupted");
    assert_eq!(end["services"]["db"], "restored");
    assert_eq!(end["services"]["api"], "healthy", "never injected");
    assert_eq!(end["left_down"], serde_json::json!([]));
}
