//! Outages measured from their real start: `--incident-start` through the real binary, a drill
//! whose outage starts at its inject, and a re-check after a restore that keeps the restore.
//! Every step runs on the local transport, as real processes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::run::{read_journal as read_lines, stderr};
use assert_cmd::cargo::CommandCargoExt;
use bringup::cli::OpenArgs;
use bringup::cmd::session;
use bringup::driver::{Driver, Inbox};
use bringup::engine::ServiceState;
use bringup::engine::event::Input;
use bringup::export::metrics::{OutageCause, Rto, analyse};
use bringup::journal::{Event, read_journal};
use bringup::runbook::model::ServiceId;
use bringup::session::{Scope, Session};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// `mail` on the local host: down until its restore touches `dir/mail.up`, RTO 30 minutes;
/// its inject removes the file.
fn runbook(dir: &Path) -> PathBuf {
    let up = dir.join("mail.up");
    let text = format!(
        r#"
[runbook]
name = "outages"

[hosts.box]
transport = "local"

[[service]]
id = "mail"
name = "Mail"
tier = 1
hosts = ["box"]
rto = "30m"
  [[service.check]]
  name = "up"
  run = "test -f {up}"
  [[service.restore]]
  name = "start mail"
  run = "sleep 0.3; touch {up}"
  [[service.inject]]
  name = "stop mail"
  run = "rm -f {up}"
"#,
        up = up.display()
    );
    let path = dir.join("runbook.toml");
    fs::write(&path, text).expect("write runbook");
    path
}

fn bringup(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("bringup").expect("bringup binary");
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

fn export(dir: &Path, journal: &Path, format: &str) -> String {
    let out = bringup(dir)
        .args(["export", "--format", format])
        .arg(journal)
        .output()
        .expect("export runs");
    assert!(out.status.success(), "export failed: {}", stderr(&out));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(out));
}

#[test]
fn an_incident_start_90_minutes_ago_makes_the_restore_take_over_90_minutes_and_miss_a_30m_rto() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runbook = runbook(dir.path());
    let journal = dir.path().join("j.jsonl");
    let out = bringup(dir.path())
        .args(["run", "--yes", "--incident-start", "-90m", "--journal"])
        .arg(&journal)
        .arg(&runbook)
        .output()
        .expect("run");
    assert_exit(&out, 0);
    let summary = String::from_utf8_lossy(&out.stdout);
    let line = summary
        .lines()
        .find(|l| l.trim_start().starts_with("mail (found down)"))
        .unwrap_or_else(|| panic!("run's summary lists the outage: {summary}"));
    assert!(
        line.contains("up again after 1h 30m") && line.ends_with("RTO missed"),
        "{line}"
    );
    let events = read_lines(&journal);
    let start = &events[0];
    assert_eq!(start["kind"], "run_started");
    let incident: DateTime<Utc> = start["incident_start"]
        .as_str()
        .expect("incident_start recorded")
        .parse()
        .expect("a time");
    let run_ts: DateTime<Utc> = start["ts"].as_str().expect("ts").parse().expect("a time");
    let before = (run_ts - incident).num_seconds();
    assert!((5390..=5410).contains(&before), "{before} s before the run");

    let json: Value = serde_json::from_str(&export(dir.path(), &journal, "json")).expect("json");
    assert_eq!(json["run"]["incident_start_given"], true);
    let mail = &json["services"][0];
    assert_eq!(mail["id"], "mail");
    let outages = mail["outages"].as_array().expect("outages");
    assert_eq!(outages.len(), 1, "{outages:?}");
    assert_eq!(outages[0]["cause"], "found down");
    let ttr = outages[0]["time_to_restore_ms"].as_i64().expect("ttr");
    assert!(ttr >= 90 * 60 * 1000, "time to restore {ttr} ms");
    assert_eq!(outages[0]["rto"], "missed");
    assert_eq!(mail["rto"], "missed");

    let status = export(dir.path(), &journal, "status");
    let began = format!(
        "The disruption began at {}.",
        incident.format("%Y-%m-%d %H:%M UTC")
    );
    assert!(status.contains(&began), "{status}");
    // The user notice counts the outage from the incident's start too.
    let notice = export(dir.path(), &journal, "notice");
    let from = format!("From {}", incident.format("%Y-%m-%d %H:%M"));
    assert!(notice.contains(&from), "{notice}");
    let md = export(dir.path(), &journal, "markdown");
    assert!(md.contains("given with `--incident-start`"), "{md}");
    let row = md
        .lines()
        .find(|l| l.starts_with("| mail | found down |"))
        .unwrap_or_else(|| panic!("an outage row for mail: {md}"));
    assert!(row.contains("| 1h 30m "), "{row}");
    assert!(row.ends_with("| missed |"), "{row}");
}

#[test]
fn a_bad_or_future_incident_start_is_bad_input_and_journals_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runbook = runbook(dir.path());
    for value in ["yesterday", "2999-01-01T00:00:00Z", "-90x"] {
        let journal = dir.path().join("bad.jsonl");
        let out = bringup(dir.path())
            .args(["run", "--yes", "--incident-start", value, "--journal"])
            .arg(&journal)
            .arg(&runbook)
            .output()
            .expect("run");
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(&format!("'{value}'")), "{err}");
        assert!(!journal.exists(), "a journal was made for '{value}'");
        assert!(!dir.path().join("mail.up").exists(), "something ran");
    }
}

#[test]
fn an_incident_start_with_resume_is_refused_and_the_journal_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runbook = runbook(dir.path());
    let journal = dir.path().join("run.jsonl");
    let first = bringup(dir.path())
        .args(["run", "--yes", "--journal"])
        .arg(&journal)
        .arg(&runbook)
        .output()
        .expect("run");
    assert!(first.status.code().is_some(), "{}", stderr(&first));
    let before = std::fs::read(&journal).expect("journal");
    let out = bringup(dir.path())
        .args(["run", "--yes", "--incident-start", "-90m", "--resume"])
        .arg(&journal)
        .arg(&runbook)
        .output()
        .expect("run");
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("--incident-start") && err.contains("--resume"),
        "{err}"
    );
    assert_eq!(std::fs::read(&journal).expect("journal"), before);
}

/// A drill session on the runbook, driven through the real driver and local transport.
fn drill(dir: &Path) -> (Driver, Inbox, PathBuf) {
    let path = runbook(dir);
    let journal = dir.join("drill.jsonl");
    let args = OpenArgs {
        journal: Some(journal.clone()),
        operator: Some("tester".into()),
        log_file: Some(dir.join("bringup.log")),
        drill: true,
        ..OpenArgs::default()
    };
    let rb = session::load_runbook(&path, &args).expect("valid runbook");
    let Session {
        driver, messages, ..
    } = session::open(rb, &args, Scope::Restore, "test").expect("session");
    (driver, messages, journal)
}

/// Feed the driver's messages until `mail` is in `state` with nothing running; bounded.
async fn settle(driver: &mut Driver, inbox: &mut Inbox, state: ServiceState) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mail = ServiceId::new("mail");
    while driver.engine().service(&mail).map(|v| v.state) != Some(state) || driver.busy() {
        match tokio::time::timeout_at(deadline, inbox.next()).await {
            Ok(Some(batch)) => {
                driver.on_messages(batch).expect("journal writable");
            }
            _ => panic!("mail never settled {state}"),
        }
    }
}

/// The time of the first journal event matching `pick`.
fn ts_of(journal: &Path, pick: impl Fn(&Event) -> bool) -> DateTime<Utc> {
    read_journal(journal)
        .expect("journal reads")
        .records
        .iter()
        .find(|r| pick(&r.event))
        .map(|r| r.ts)
        .expect("event found")
}

#[tokio::test]
async fn a_drill_measures_time_to_restore_from_its_inject_and_a_recheck_keeps_the_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("mail.up"), "").expect("mail starts up");
    let (mut driver, mut inbox, journal) = drill(dir.path());
    driver.input(Input::RunPlan).expect("run plan");
    settle(&mut driver, &mut inbox, ServiceState::Healthy).await;
    // Time passes before the inject: the outage must not start at the run's start.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    driver
        .input(Input::Inject(ServiceId::new("mail")))
        .expect("inject");
    settle(&mut driver, &mut inbox, ServiceState::Restored).await;
    let restored_at = ts_of(&journal, |e| {
        matches!(
            e,
            Event::ServiceState {
                to: ServiceState::Restored,
                ..
            }
        )
    });
    // `c` on the restored service: a passing check, and the restore stays in every view.
    driver
        .input(Input::Check(ServiceId::new("mail")))
        .expect("check");
    settle(&mut driver, &mut inbox, ServiceState::Restored).await;
    driver
        .finish(bringup::outcome::RunOutcome::Restored)
        .expect("finish");

    let inject_at = ts_of(&journal, |e| {
        matches!(
            e,
            Event::StepStarted {
                phase: bringup::engine::Phase::Inject,
                ..
            }
        )
    });
    let run_at = ts_of(&journal, |e| matches!(e, Event::RunStarted { .. }));
    let checks = read_journal(&journal)
        .expect("journal reads")
        .records
        .iter()
        .filter(|r| {
            matches!(
                &r.event,
                Event::StepStarted {
                    phase: bringup::engine::Phase::Check,
                    ..
                }
            )
        })
        .count();
    assert_eq!(checks, 3, "the sweep, the check after the inject, and `c`");

    let recorded = read_journal(&journal).expect("journal reads");
    let a = analyse(&recorded);
    let mail = &a.services[0];
    assert_eq!(
        mail.state,
        ServiceState::Restored,
        "the re-check kept it restored"
    );
    assert_eq!(mail.outages.len(), 1, "{:?}", mail.outages);
    let outage = &mail.outages[0];
    assert_eq!(outage.cause, OutageCause::Inject);
    assert_eq!(outage.started, inject_at);
    assert_eq!(outage.ended, Some(restored_at));
    assert!(outage.restored);
    assert_eq!(
        outage.time_to_restore_ms,
        Some((restored_at - inject_at).num_milliseconds())
    );
    assert!(
        (inject_at - run_at).num_milliseconds() >= 1400,
        "the inject came well after the start"
    );
    assert_eq!(outage.rto, Rto::Met);
    assert_eq!(mail.restored_at, Some(restored_at));

    // The impact table still shows the restore after the re-check.
    let md = bringup::export::markdown::render(&a);
    let row = md
        .lines()
        .find(|l| l.starts_with("| Mail (mail) |"))
        .unwrap_or_else(|| panic!("impact row: {md}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[3], "restored", "{row}");
    assert_ne!(cells[5], "—", "restored time kept: {row}");
    assert_ne!(cells[6], "—", "time to restore kept: {row}");
    assert!(md.contains("| mail | drill inject |"), "{md}");
}
