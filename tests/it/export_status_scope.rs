//! The status notice of a run that `--only` restricted: functions of services the run never
//! checked are listed as not checked, not as still recovering, and the notice claims nothing
//! about them. Journals are built with `JournalWriter`, as a real `--only` run writes them.

use std::path::Path;

use crate::support::events::state;
use bringup::cli::ExportFormat;
use bringup::engine::state::{Mode, Phase, ServiceState as S, StepOutcome};
use bringup::journal::{self, CheckInfo, Event, JournalWriter, ManualClock, ServiceInfo};
use bringup::runbook::model::{HostId, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z")
        .expect("literal")
        .with_timezone(&Utc)
}

fn svc(id: &str, feature: &str) -> ServiceInfo {
    ServiceInfo {
        id: ServiceId::new(id),
        name: id.to_uppercase(),
        tier: 1,
        rto_ms: None,
        depends_on: Vec::new(),
        checks: vec![CheckInfo {
            step: format!("{id} up"),
            feature: Some(feature.into()),
        }],
    }
}

fn check(id: &str, phase: Phase, ok: bool) -> Event {
    Event::StepFinished {
        service: ServiceId::new(id),
        phase,
        step: format!("{id} up"),
        host: HostId::new("op"),
        attempt: 1,
        outcome: if ok {
            StepOutcome::Ok
        } else {
            StepOutcome::Failed
        },
        exit_code: Some(i32::from(!ok)),
        duration_ms: 5,
        error: None,
    }
}

/// The runbook has `talk`, `web` and `mail`; the run was `--only talk --only web`: `talk` is
/// checked down then restored, `web` is checked down and its restore fails (unless
/// `web_restored`), `mail` is never touched and ends `unknown`, as a real run records it.
fn write(path: &Path, web_restored: bool) {
    let clock = ManualClock::new(t0());
    let mut w =
        JournalWriter::create_with_clock(path, &[], Box::new(clock.clone())).expect("create");
    let mut minute = 0;
    let mut at = |e: Event| {
        minute += 1;
        clock.set(t0() + TimeDelta::minutes(minute));
        w.append(&e).expect("append");
    };
    at(Event::RunStarted {
        executor: None,
        about: Box::default(),
        runbook: "scoped".into(),
        runbook_sha256: "cd".repeat(32),
        operator: "park".into(),
        vars: indexmap::IndexMap::new(),
        version: "0.1.0".into(),
        mode: Mode::Incident,
        services: vec![
            svc("talk", "Send and receive messages"),
            svc("web", "Open the web app"),
            svc("mail", "Read mail over IMAP"),
        ],
        incident_start: None,
        scenario: None,
    });
    for id in ["talk", "web"] {
        at(state(id, S::Unknown, S::Checking));
        at(check(id, Phase::Check, false));
        at(state(id, S::Checking, S::Down));
        at(state(id, S::Down, S::Restoring));
    }
    at(state("talk", S::Restoring, S::Verifying));
    at(check("talk", Phase::Verify, true));
    at(state("talk", S::Verifying, S::Restored));
    if web_restored {
        at(state("web", S::Restoring, S::Verifying));
        at(check("web", Phase::Verify, true));
        at(state("web", S::Verifying, S::Restored));
    } else {
        at(state("web", S::Restoring, S::Failed));
    }
    let mut end = indexmap::IndexMap::new();
    end.insert(ServiceId::new("talk"), S::Restored);
    end.insert(
        ServiceId::new("web"),
        if web_restored { S::Restored } else { S::Failed },
    );
    end.insert(ServiceId::new("mail"), S::Unknown);
    at(Event::RunFinished {
        outcome: if web_restored {
            "restored"
        } else {
            "incomplete"
        }
        .into(),
        services: end,
        left_down: None,
    });
}

fn status(web_restored: bool) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scoped.jsonl");
    write(&path, web_restored);
    let j = journal::read_journal(&path).expect("read");
    bringup::export::render(&j, ExportFormat::Status).expect("status")
}

/// The lines listed under `heading`, up to the next heading or paragraph.
fn section<'a>(notice: &'a str, heading: &str) -> Vec<&'a str> {
    let (_, rest) = notice
        .split_once(&format!("## {heading}\n\n"))
        .unwrap_or_else(|| panic!("no '{heading}' section in:\n{notice}"));
    rest.lines().take_while(|l| l.starts_with("- ")).collect()
}

#[test]
fn a_service_outside_only_is_not_checked_rather_than_still_recovering() {
    let notice = status(false);
    assert_eq!(
        section(&notice, "Available now"),
        ["- Send and receive messages"]
    );
    assert_eq!(
        section(&notice, "Still recovering"),
        ["- Open the web app"],
        "only what the run checked and found not back is recovering"
    );
    assert_eq!(
        section(&notice, "Not checked in this run"),
        ["- Read mail over IMAP"]
    );
    assert!(
        notice.contains("does not say whether they are working"),
        "{notice}"
    );
    insta::assert_snapshot!(notice);
}

#[test]
fn every_checked_function_back_does_not_claim_the_unchecked_ones_are_back() {
    let notice = status(true);
    assert_eq!(
        section(&notice, "Not checked in this run"),
        ["- Read mail over IMAP"]
    );
    assert!(!notice.contains("every function is back"), "{notice}");
    assert!(
        !notice.contains("All functions have been restored"),
        "{notice}"
    );
    assert_eq!(
        section(&notice, "Still recovering"),
        ["- Nothing among the functions we checked."]
    );
    insta::assert_snapshot!(notice);
}

/// `talk` passes; `mail` passed once, then its next check could not run: unreachable.
#[test]
fn an_unreachable_service_s_functions_are_not_known_rather_than_available_or_recovering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("unreachable.jsonl");
    let clock = ManualClock::new(t0());
    let mut w =
        JournalWriter::create_with_clock(&path, &[], Box::new(clock.clone())).expect("create");
    let mut minute = 0;
    let mut at = |e: Event| {
        minute += 1;
        clock.set(t0() + TimeDelta::minutes(minute));
        w.append(&e).expect("append");
    };
    at(Event::RunStarted {
        executor: None,
        runbook: "unreachable".into(),
        runbook_sha256: "cd".repeat(32),
        operator: "park".into(),
        vars: indexmap::IndexMap::new(),
        version: "0.1.0".into(),
        mode: Mode::Incident,
        services: vec![
            svc("talk", "Send and receive messages"),
            svc("mail", "Read mail over IMAP"),
        ],
        incident_start: None,
        scenario: None,
        about: Box::default(),
    });
    for id in ["talk", "mail"] {
        at(state(id, S::Unknown, S::Checking));
        at(check(id, Phase::Check, true));
        at(state(id, S::Checking, S::Healthy));
    }
    at(state("mail", S::Healthy, S::Checking));
    at(Event::StepFinished {
        service: ServiceId::new("mail"),
        phase: Phase::Check,
        step: "mail up".into(),
        host: HostId::new("op"),
        attempt: 1,
        outcome: StepOutcome::Error,
        exit_code: None,
        duration_ms: 5,
        error: Some("host 'op': cannot connect".into()),
    });
    at(Event::ServiceState {
        service: ServiceId::new("mail"),
        from: S::Checking,
        to: S::Unreachable,
        reason: Some("check 'mail up' could not run on 'op'".into()),
    });
    let j = journal::read_journal(&path).expect("read");
    let notice = bringup::export::render(&j, ExportFormat::Status).expect("status");
    assert_eq!(
        section(&notice, "Available now"),
        ["- Send and receive messages"]
    );
    assert_eq!(
        section(&notice, "Not checked in this run"),
        ["- Read mail over IMAP"],
        "{notice}"
    );
    assert!(
        !notice.contains("- Read mail over IMAP\n\n## Not"),
        "{notice}"
    );
}
