//! What customers and the post-mortem read of an incident like the demo's: customer texts
//! (`status`, `status-json`, `notice`) name only checks' `feature`s, the notice's cause is the
//! runbook's `cause` or the operators' `cause:` notes, status-json's top-level status follows
//! Statuspage's rule, and the post-mortem lists each action item once, its causes and what is
//! still down. Journals are written with `JournalWriter`, in the order a run writes them;
//! every export is parsed (JSON) or cut into its sections (Markdown).

use std::path::Path;

use crate::support::events::state;
use crate::support::run::bringup_cmd;
use bringup::engine::state::{Mode, Phase, ServiceState as S, StepOutcome};
use bringup::journal::event::Provenance;
use bringup::journal::{CheckInfo, Event, JournalWriter, ManualClock, RunbookAbout, ServiceInfo};
use bringup::runbook::model::{HostId, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

const DESCRIPTION: &str = "Messaging first, then media, PC login, mail.";
/// Internal services: no check of theirs names a `feature`.
const INTERNAL: [&str; 4] = [
    "Account database (MySQL)",
    "Internal cache warmer",
    "database",
    "cache-warmer",
];
const HEALTHY: [(&str, &str); 7] = [
    ("auth", "Log in on mobile"),
    ("media", "Send photos and videos"),
    ("pc-login", "Log in on PC and Mac"),
    ("channel", "Talk Channel messages from businesses"),
    ("push", "Notifications"),
    ("smtp", "Send and receive mail"),
    ("search", "Search"),
];

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-10-15T06:30:00Z")
        .expect("literal")
        .with_timezone(&Utc)
}

fn svc(id: &str, name: &str, feature: Option<&str>) -> ServiceInfo {
    ServiceInfo {
        id: ServiceId::new(id),
        name: name.into(),
        tier: 1,
        rto_ms: None,
        depends_on: Vec::new(),
        checks: vec![CheckInfo {
            step: format!("{id} up"),
            feature: feature.map(Into::into),
        }],
    }
}

fn finished(id: &str, phase: Phase, step: &str, host: &str, attempt: u32, code: i32) -> Event {
    Event::StepFinished {
        service: ServiceId::new(id),
        phase,
        step: step.into(),
        host: HostId::new(host),
        attempt,
        outcome: if code == 0 {
            StepOutcome::Ok
        } else {
            StepOutcome::Failed
        },
        exit_code: Some(code),
        duration_ms: 40,
        error: None,
    }
}

fn check(id: &str, phase: Phase, ok: bool) -> Event {
    finished(id, phase, &format!("{id} up"), "op", 1, i32::from(!ok))
}

fn note(text: &str) -> Event {
    Event::Note {
        operator: "ana".into(),
        text: text.into(),
        provenance: Provenance::default(),
    }
}

/// `run_started` of the ten services, and their ids.
fn run_started(cause: Option<&str>) -> (Event, Vec<ServiceId>) {
    let mut services = vec![
        svc("database", "Account database (MySQL)", None),
        svc("cache-warmer", "Internal cache warmer", None),
        svc(
            "talk",
            "Message send and receive",
            Some("Send and receive messages"),
        ),
        svc(
            "mail-imap",
            "Mail in other apps (IMAP and POP3)",
            Some("Read mail in other mail apps (IMAP)"),
        ),
    ];
    services.extend(
        HEALTHY
            .iter()
            .map(|(id, f)| svc(id, &id.to_uppercase(), Some(f))),
    );
    let ids: Vec<ServiceId> = services.iter().map(|s| s.id.clone()).collect();
    let started = Event::RunStarted {
        executor: None,
        about: Box::new(RunbookAbout {
            description: Some(DESCRIPTION.into()),
            cause: cause.map(Into::into),
            contact: Some("help@example.com".into()),
            ..RunbookAbout::default()
        }),
        runbook: "Pangyo DC fire".into(),
        runbook_sha256: "ab".repeat(32),
        operator: "ana".into(),
        vars: indexmap::IndexMap::new(),
        version: "0.1.0".into(),
        mode: Mode::Incident,
        services,
        incident_start: None,
        scenario: None,
    };
    (started, ids)
}

/// Ten services as the demo has them: seven healthy functions; `database` and `cache-warmer`
/// (no `feature`) found down and restored; `talk` restored after its gateway start needed two
/// attempts on each of its two hosts; `mail-imap` whose mount fails, is retried by hand and
/// fails again. Two notes: a cause and an internal one.
fn write(path: &Path, cause: Option<&str>) {
    let clock = ManualClock::new(t0());
    let mut w =
        JournalWriter::create_with_clock(path, &[], Box::new(clock.clone())).expect("create");
    let mut minute = 0;
    let mut at = |e: Event| {
        minute += 1;
        clock.set(t0() + TimeDelta::minutes(minute));
        w.append(&e).expect("append");
    };
    let (started, ids) = run_started(cause);
    at(started);
    for (id, _) in HEALTHY {
        at(state(id, S::Unknown, S::Checking));
        at(check(id, Phase::Check, true));
        at(state(id, S::Checking, S::Healthy));
    }
    for id in ["database", "cache-warmer", "talk", "mail-imap"] {
        at(state(id, S::Unknown, S::Checking));
        at(check(id, Phase::Check, false));
        at(state(id, S::Checking, S::Down));
    }
    at(note("cause: the UPS batteries in room B2 caught fire"));
    at(note("paged netops on the bridge"));
    for id in ["database", "cache-warmer"] {
        at(state(id, S::Down, S::Restoring));
        at(finished(id, Phase::Restore, "start", "op", 1, 0));
        at(state(id, S::Restoring, S::Verifying));
        at(check(id, Phase::Verify, true));
        at(state(id, S::Verifying, S::Restored));
    }
    at(state("talk", S::Down, S::Restoring));
    for host in ["msg-gw-1", "msg-gw-2"] {
        at(finished(
            "talk",
            Phase::Restore,
            "start gateway",
            host,
            1,
            1,
        ));
        at(finished(
            "talk",
            Phase::Restore,
            "start gateway",
            host,
            2,
            0,
        ));
    }
    at(state("talk", S::Restoring, S::Verifying));
    at(check("talk", Phase::Verify, true));
    at(state("talk", S::Verifying, S::Restored));
    // mail-imap fails, an operator retries it by hand, it fails again.
    for from in [S::Down, S::Failed] {
        at(state("mail-imap", from, S::Restoring));
        at(finished(
            "mail-imap",
            Phase::Restore,
            "mount mailstore",
            "mail-1",
            1,
            32,
        ));
        at(Event::ServiceState {
            service: ServiceId::new("mail-imap"),
            from: S::Restoring,
            to: S::Failed,
            reason: Some("restore step 'mount mailstore' failed".into()),
        });
    }
    let mut end = indexmap::IndexMap::new();
    for id in ids {
        let s = match id.as_str() {
            "mail-imap" => S::Failed,
            "database" | "cache-warmer" | "talk" => S::Restored,
            _ => S::Healthy,
        };
        end.insert(id, s);
    }
    at(Event::RunFinished {
        outcome: "incomplete".into(),
        services: end,
        left_down: None,
    });
}

/// The export of a journal written by `write`, as the CLI prints it.
fn export(format: &str, cause: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fire.jsonl");
    write(&path, cause);
    let out = bringup_cmd()
        .arg("export")
        .arg(&path)
        .args(["--format", format])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).expect("utf-8")
}

/// The body of the `## heading` section of a Markdown document, up to the next `## `.
fn section(doc: &str, heading: &str) -> String {
    let start = format!("## {heading}\n");
    let at = doc
        .find(&start)
        .unwrap_or_else(|| panic!("no '## {heading}' in:\n{doc}"));
    let rest = &doc[at + start.len()..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

fn assert_no_internal_service(format: &str, text: &str) {
    for name in INTERNAL {
        assert!(
            !text.contains(name),
            "{format} names the internal service '{name}':\n{text}"
        );
    }
}

#[test]
fn customer_texts_name_only_checks_features() {
    for format in ["status", "status-json", "notice"] {
        let text = export(format, None);
        assert_no_internal_service(format, &text);
    }
    let notice = export("notice", None);
    let done = section(&notice, "What we have done");
    assert!(
        done.contains("restored Send and receive messages"),
        "{done}"
    );
    assert!(
        !done.contains("restored ."),
        "no empty line for an internal service: {done}"
    );
    let status = export("status", None);
    assert!(
        section(&status, "Still recovering").contains("- Read mail in other mail apps (IMAP)"),
        "{status}"
    );
    let doc: Value = serde_json::from_str(&export("status-json", None)).expect("JSON");
    let names: Vec<&str> = doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(names.contains(&"Send and receive messages"), "{names:?}");
}

#[test]
fn status_json_top_level_status_is_statuspage_s_not_the_worst_component() {
    let doc: Value = serde_json::from_str(&export("status-json", None)).expect("JSON");
    let statuses: Vec<&str> = doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| c["status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "major_outage").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "operational").count(),
        8,
        "{statuses:?}"
    );
    assert_eq!(
        doc["status"],
        serde_json::json!({"indicator": "major", "description": "Partial System Outage"}),
        "one function down among nine is a partial outage of the system, not a major one"
    );
}

#[test]
fn the_notice_s_cause_is_the_cause_note_never_the_description() {
    let notice = export("notice", None);
    let cause = section(&notice, "Cause");
    assert!(
        cause.contains("the UPS batteries in room B2 caught fire"),
        "{cause}"
    );
    assert!(
        !cause.contains("cause:"),
        "the prefix is taken off: {cause}"
    );
    assert!(!notice.contains(DESCRIPTION), "{notice}");
    assert!(
        !notice.contains("paged netops"),
        "other notes are internal: {notice}"
    );
}

#[test]
fn the_notice_s_cause_starts_with_the_runbook_s_cause() {
    let notice = export("notice", Some("A fire in our Pangyo datacenter."));
    let cause = section(&notice, "Cause");
    let runbook = cause
        .find("A fire in our Pangyo datacenter.")
        .unwrap_or_else(|| panic!("{cause}"));
    let note = cause
        .find("UPS batteries")
        .unwrap_or_else(|| panic!("{cause}"));
    assert!(runbook < note, "{cause}");
    assert!(!notice.contains(DESCRIPTION), "{notice}");
}

#[test]
fn post_mortem_action_items_come_once_per_step_with_their_hosts() {
    let md = export("markdown", None);
    let items = section(&md, "Action items");
    let rows: Vec<&str> = items
        .lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .collect();
    let gateway: Vec<&&str> = rows
        .iter()
        .filter(|r| r.contains("start gateway"))
        .collect();
    assert_eq!(
        gateway.len(),
        1,
        "one item for the step, not one per host: {items}"
    );
    assert!(
        gateway[0].contains("msg-gw-1, msg-gw-2"),
        "its hosts listed: {items}"
    );
    let mail: Vec<&&str> = rows
        .iter()
        .filter(|r| r.contains("| mail-imap |"))
        .collect();
    assert_eq!(
        mail.len(),
        1,
        "the failed step says it; no second item for the service failing: {items}"
    );
    assert!(mail[0].contains("mount mailstore"), "{items}");
}

#[test]
fn post_mortem_puts_cause_notes_under_root_causes_and_says_what_is_still_down() {
    let md = export("markdown", None);
    let causes = section(&md, "Root causes");
    assert!(
        causes.contains("the UPS batteries in room B2 caught fire"),
        "{causes}"
    );
    assert!(!causes.contains("To be written"), "{causes}");
    let resolution = section(&md, "Resolution");
    let still = resolution
        .lines()
        .find(|l| l.contains("Still down"))
        .unwrap_or_else(|| panic!("{resolution}"));
    assert!(still.contains("mail-imap (failed)"), "{still}");
    assert!(!still.contains("talk"), "{still}");
    let html = export("html", None);
    assert!(
        html.contains("UPS batteries"),
        "html has the same root causes"
    );
    assert!(
        html.contains("mail-imap (failed)"),
        "html says what is still down"
    );
}

#[test]
fn a_runbook_s_cause_is_journaled_and_an_empty_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runbook = |cause: &str| {
        format!(
            "[runbook]\nname = \"x\"\ncause = {cause}\n[hosts.o]\ntransport = \"local\"\n[[service]]\nid = \"s\"\nhosts = [\"o\"]\n[[service.check]]\nname = \"c\"\nfeature = \"Chat\"\nrun = \"true\"\n"
        )
    };
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, runbook("\" \"")).expect("write");
    let out = bringup_cmd().arg("validate").arg(&bad).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains(":3:9: error: cause '' is empty"),
        "{stderr}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(&good, runbook("\"A cut fibre.\"")).expect("write");
    let journal = dir.path().join("j.jsonl");
    bringup_cmd()
        .arg("run")
        .arg(&good)
        .arg("--journal")
        .arg(&journal)
        .assert()
        .success();
    let notice = bringup_cmd()
        .arg("export")
        .arg(&journal)
        .args(["--format", "notice"])
        .assert()
        .success();
    let notice = String::from_utf8_lossy(&notice.get_output().stdout).to_string();
    assert!(
        section(&notice, "Cause").contains("As known so far: A cut fibre."),
        "{notice}"
    );
}
