//! A drill's scorecard separates the time a restore waited for an operator's approval from
//! the time its commands ran, and a drill's exit summary points to the scorecard.

use std::path::Path;

use crate::support::drill::{Script, svc, time};
use crate::support::run::{bringup_cmd, stderr};
use bringup::engine::state::{Decision, Phase, ServiceState, StepOutcome};
use bringup::journal::event::{Provenance, QuestionKind};
use bringup::journal::{DrillOutcome, DrillPhase, Event};
use bringup::runbook::model::{HostId, ServiceId};
use serde_json::Value;

fn finished(id: &str, phase: Phase, step: &str, host: &str, duration_ms: u64) -> Event {
    Event::StepFinished {
        service: ServiceId::new(id),
        phase,
        step: step.into(),
        host: HostId::new(host),
        attempt: 1,
        outcome: StepOutcome::Ok,
        exit_code: Some(0),
        duration_ms,
        error: None,
    }
}

/// `db` injected at 10 s, found down at 20 s; its confirm step is asked at 21 s and approved
/// at 81 s (a minute waiting for a person); the step then runs 5 s on each of two hosts side
/// by side, the verification 2 s; restored at 90 s.
fn write(path: &Path) {
    let sc = "db-loss";
    let mut s = Script::start(
        path,
        time("2026-06-01T02:00:00Z"),
        "pangyo",
        Some(sc),
        vec![svc("db", 1, 600, &[])],
        &[],
    );
    s.phase(1.0, sc, DrillPhase::Baseline);
    s.healthy(2.0, "db");
    s.phase(10.0, sc, DrillPhase::Inject);
    s.inject(10.0, "db", "db-1");
    s.state(12.0, "db", ServiceState::Healthy, ServiceState::Checking);
    s.state(20.0, "db", ServiceState::Checking, ServiceState::Down);
    s.state(21.0, "db", ServiceState::Down, ServiceState::Restoring);
    s.at(
        21.0,
        Event::Asked {
            service: ServiceId::new("db"),
            step: "promote replica".into(),
            phase: None,
            question: QuestionKind::Approval,
        },
    );
    s.at(
        81.0,
        Event::Approval {
            service: ServiceId::new("db"),
            step: "promote replica".into(),
            phase: None,
            decision: Decision::Approved,
            operator: "ana".into(),
            provenance: Provenance::default(),
        },
    );
    s.at(
        86.0,
        finished("db", Phase::Restore, "promote replica", "db-1", 5000),
    );
    s.at(
        86.0,
        finished("db", Phase::Restore, "promote replica", "db-2", 4000),
    );
    s.state(86.0, "db", ServiceState::Restoring, ServiceState::Verifying);
    s.at(88.0, finished("db", Phase::Verify, "db up", "db-1", 2000));
    s.state(90.0, "db", ServiceState::Verifying, ServiceState::Restored);
    s.finished(91.0, sc, DrillOutcome::Passed, None);
    s.run_finished(92.0);
}

fn export(path: &Path, format: &str) -> String {
    let out = bringup_cmd()
        .arg("export")
        .arg(path)
        .args(["--format", format])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).expect("utf-8")
}

#[test]
fn the_scorecard_separates_waiting_for_an_approval_from_running_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("drill.jsonl");
    write(&path);

    let md = export(&path, "scorecard");
    let at = md
        .find("## Where the time went")
        .unwrap_or_else(|| panic!("no time section in\n{md}"));
    let section = &md[at..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with("| "))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert_eq!(rows[0][2], "Waiting for approval", "{section}");
    assert_eq!(rows[0][3], "Running commands", "{section}");
    let db = rows.iter().find(|r| r[0] == "db").expect("a row for db");
    assert_eq!(
        db[1], "1m 20s",
        "time to restore, from the inject: {section}"
    );
    assert_eq!(
        db[2], "1m 00s",
        "asked at 21 s, approved at 81 s: {section}"
    );
    assert_eq!(db[3], "7.0 s", "5 s (slowest host) + 2 s verify: {section}");

    let doc: Value = serde_json::from_str(&export(&path, "json")).expect("JSON");
    let service = &doc["scorecard"]["services"][0];
    assert_eq!(service["waiting_for_approval_ms"], 60_000, "{service}");
    assert_eq!(service["running_commands_ms"], 7_000, "{service}");
}

#[test]
fn a_headless_drill_s_exit_summary_points_to_the_scorecard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = dir.path().join("db.up");
    std::fs::write(&up, "").expect("up");
    let runbook = dir.path().join("drill.toml");
    std::fs::write(
        &runbook,
        format!(
            r#"[hosts.op]
transport = "local"

[[service]]
id = "db"
hosts = ["op"]
rto = "10m"
  [[service.check]]
  name = "up"
  run = "test -f '{up}'"
  [[service.restore]]
  name = "start"
  run = "touch '{up}'"
  [[service.inject]]
  name = "stop"
  run = "rm -f '{up}'"

[[scenario]]
id = "db-loss"
name = "Database lost"
inject = ["db"]
"#,
            up = up.display()
        ),
    )
    .expect("runbook");
    let journal = dir.path().join("drill.jsonl");
    let out = bringup_cmd()
        .args(["run", "--drill", "--scenario", "db-loss", "--journal"])
        .arg(&journal)
        .arg(&runbook)
        .output()
        .expect("runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let hint = format!("bringup export {} --format scorecard", journal.display());
    assert!(err.contains(&hint), "{err}");
}
