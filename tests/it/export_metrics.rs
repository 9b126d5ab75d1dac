//! Metrics as the reports compute them from a journal alone: RTO met, missed and pending,
//! time to first and to all restored, restore attempts; and the empty-journal edge.

use std::path::Path;

use crate::support::events::state;
use bringup::engine::state::{Mode, ServiceState as S};
use bringup::export::metrics::Rto;
use bringup::journal::{self, Event, JournalWriter, ManualClock, ServiceInfo};
use bringup::runbook::model::ServiceId;
use chrono::{DateTime, TimeDelta, Utc};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
        .expect("literal")
        .with_timezone(&Utc)
}

fn svc(id: &str, rto_min: u64) -> ServiceInfo {
    ServiceInfo {
        id: ServiceId::new(id),
        name: id.to_uppercase(),
        tier: 1,
        rto_ms: Some(rto_min * 60_000),
        depends_on: Vec::new(),
        checks: Vec::new(),
    }
}

/// fast: down at 1 min, restored at 4 min (RTO 5 min: met), after two restore attempts.
/// slow: down at 1 min, restored at 12 min (RTO 10 min: missed).
/// late: down at 1 min, never restored, RTO 60 min, run still going at 12 min (pending).
fn write(path: &Path, finish: bool) {
    let clock = ManualClock::new(t0());
    let mut w =
        JournalWriter::create_with_clock(path, &[], Box::new(clock.clone())).expect("create");
    let mut at = |min: i64, e: Event| {
        clock.set(t0() + TimeDelta::minutes(min));
        w.append(&e).expect("append");
    };
    at(
        0,
        Event::RunStarted {
            executor: None,
            about: Box::default(),
            runbook: "drill".into(),
            runbook_sha256: "ab".repeat(32),
            operator: "park".into(),
            vars: indexmap::IndexMap::new(),
            version: "0.1.0".into(),
            mode: Mode::Drill,
            services: vec![svc("fast", 5), svc("slow", 10), svc("late", 60)],
            incident_start: None,
            scenario: None,
        },
    );
    for id in ["fast", "slow", "late"] {
        at(1, state(id, S::Checking, S::Down));
    }
    at(2, state("fast", S::Down, S::Restoring));
    at(2, state("fast", S::Restoring, S::Failed));
    at(3, state("fast", S::Failed, S::Restoring));
    at(4, state("fast", S::Restoring, S::Restored));
    at(5, state("slow", S::Down, S::Restoring));
    at(12, state("slow", S::Restoring, S::Restored));
    if finish {
        at(
            13,
            Event::RunFinished {
                outcome: "incomplete".into(),
                services: indexmap::IndexMap::new(),
                left_down: None,
            },
        );
    }
}

#[test]
fn rto_is_met_missed_or_pending_measured_from_run_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.jsonl");
    write(&path, false);
    let j = journal::read_journal(&path).expect("read");
    let a = bringup::export::analyse(&j);
    let get = |id: &str| {
        a.services
            .iter()
            .find(|s| s.info.id.as_str() == id)
            .expect("service")
    };
    assert_eq!(get("fast").rto, Rto::Met);
    assert_eq!(get("fast").restore_attempts, 2);
    // Measured from the outage's start: the run's, as no incident start was given.
    assert_eq!(get("fast").time_to_restore_ms, Some(4 * 60_000));
    assert_eq!(get("fast").outages[0].time_to_detect_ms, Some(60_000));
    assert_eq!(get("slow").rto, Rto::Missed);
    assert_eq!(get("slow").restored_after_ms, Some(12 * 60_000));
    assert_eq!(get("late").rto, Rto::Pending);
    assert_eq!(a.metrics.time_to_first_restored_ms, Some(4 * 60_000));
    assert_eq!(a.metrics.time_to_all_restored_ms, None);
    assert_eq!(a.metrics.services_down, 3);
}

#[test]
fn a_finished_run_reports_an_unrestored_service_within_its_rto_as_not_restored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.jsonl");
    write(&path, true);
    let j = journal::read_journal(&path).expect("read");
    let a = bringup::export::analyse(&j);
    let late = a
        .services
        .iter()
        .find(|s| s.info.id.as_str() == "late")
        .expect("late");
    assert_eq!(late.rto, Rto::NotRestored);
    assert_eq!(late.state, S::Down);
}

#[test]
fn an_empty_journal_verifies_and_exports_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.jsonl");
    std::fs::write(&path, "").expect("write");
    assert!(journal::verify(&path).expect("read").is_intact());
    let j = journal::read_journal(&path).expect("read");
    for f in [
        bringup::cli::ExportFormat::Markdown,
        bringup::cli::ExportFormat::Status,
        bringup::cli::ExportFormat::Html,
        bringup::cli::ExportFormat::Json,
        bringup::cli::ExportFormat::Csv,
    ] {
        assert!(!bringup::export::render(&j, f).expect("renders").is_empty());
    }
}

#[test]
fn an_empty_journal_claims_no_function_is_back_and_names_no_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.jsonl");
    std::fs::write(&path, "").expect("write");
    let j = journal::read_journal(&path).expect("read");
    let status = bringup::export::render(&j, bringup::cli::ExportFormat::Status).expect("status");
    assert!(status.contains("no function has been checked"), "{status}");
    assert!(!status.contains("every function is back"), "{status}");
    assert!(!status.contains("have been restored"), "{status}");
    let md = bringup::export::render(&j, bringup::cli::ExportFormat::Markdown).expect("md");
    assert!(md.contains("**Authors:** —"), "{md}");
    assert!(!md.contains("by ."), "{md}");
}

#[test]
fn a_manual_check_marked_done_makes_its_feature_available() {
    use bringup::engine::state::ManualOutcome;
    use bringup::journal::CheckInfo;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("manual.jsonl");
    let mut w = JournalWriter::create(&path, &[]).expect("create");
    let mut info = svc("vip", 30);
    info.checks = vec![CheckInfo {
        step: "ask netops".into(),
        feature: Some("Reach the site by its address".into()),
    }];
    let mut services = vec![info];
    let mut other = svc("mail", 30);
    other.checks = vec![CheckInfo {
        step: "ask netops".into(),
        feature: Some("Read mail".into()),
    }];
    services.push(other);
    for e in [
        Event::RunStarted {
            executor: None,
            about: Box::default(),
            runbook: "manual".into(),
            runbook_sha256: "ab".repeat(32),
            operator: "park".into(),
            vars: indexmap::IndexMap::new(),
            version: "0.1.0".into(),
            mode: Mode::Drill,
            services,
            incident_start: None,
            scenario: None,
        },
        state("vip", S::Unknown, S::Checking),
        state("mail", S::Unknown, S::Down),
        state("mail", S::Down, S::Restoring),
        Event::Manual {
            service: ServiceId::new("vip"),
            step: "ask netops".into(),
            outcome: ManualOutcome::Done,
            operator: "park".into(),
            provenance: bringup::journal::event::Provenance::default(),
        },
        // A restore step of the same name is not a check.
        Event::Manual {
            service: ServiceId::new("mail"),
            step: "ask netops".into(),
            outcome: ManualOutcome::Done,
            operator: "park".into(),
            provenance: bringup::journal::event::Provenance::default(),
        },
    ] {
        w.append(&e).expect("append");
    }
    drop(w);
    let j = journal::read_journal(&path).expect("read");
    let status = bringup::export::render(&j, bringup::cli::ExportFormat::Status).expect("status");
    let (up, rest) = status
        .split_once("## Still recovering")
        .expect("two sections");
    assert!(up.contains("- Reach the site by its address"), "{status}");
    assert!(rest.contains("- Read mail"), "{status}");
}

#[test]
fn a_drill_inject_that_failed_is_an_action_item() {
    use bringup::engine::state::{Phase, StepOutcome};
    use bringup::runbook::model::HostId;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("drill.jsonl");
    let mut w = JournalWriter::create(&path, &[]).expect("create");
    w.append(&Event::StepFinished {
        service: ServiceId::new("talk"),
        phase: Phase::Inject,
        step: "stop gateway".into(),
        host: HostId::new("gw-1"),
        attempt: 1,
        outcome: StepOutcome::Failed,
        exit_code: Some(5),
        duration_ms: 10,
        error: None,
    })
    .expect("append");
    drop(w);
    let j = journal::read_journal(&path).expect("read");
    let a = bringup::export::analyse(&j);
    assert_eq!(a.actions.len(), 1, "{:?}", a.actions);
    assert_eq!(
        a.actions[0].what,
        "Inject step 'stop gateway' of 'talk' on gw-1 ended failed (exit 5): find out why"
    );
}

#[test]
fn a_failed_restore_stays_an_action_item_when_an_inject_of_the_same_name_succeeds_later() {
    use bringup::engine::state::{Phase, StepOutcome};
    use bringup::runbook::model::HostId;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("same-name.jsonl");
    let mut w = JournalWriter::create(&path, &[]).expect("create");
    let finished = |phase, outcome, exit_code| Event::StepFinished {
        service: ServiceId::new("talk"),
        phase,
        step: "gateway".into(),
        host: HostId::new("gw-1"),
        attempt: 1,
        outcome,
        exit_code: Some(exit_code),
        duration_ms: 10,
        error: None,
    };
    w.append(&finished(Phase::Restore, StepOutcome::Failed, 3))
        .expect("append");
    w.append(&finished(Phase::Inject, StepOutcome::Ok, 0))
        .expect("append");
    drop(w);
    let j = journal::read_journal(&path).expect("read");
    let a = bringup::export::analyse(&j);
    assert!(
        a.actions.iter().any(|x| x
            .what
            .starts_with("Restore step 'gateway' of 'talk' on gw-1 ended failed")),
        "{:?}",
        a.actions
    );
}
