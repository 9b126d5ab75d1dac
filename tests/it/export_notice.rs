//! Customer-facing exports of a real `bringup run` journal: `status-json` in Statuspage's
//! component vocabulary, and the user notice with its required parts.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn bringup() -> Command {
    Command::cargo_bin("bringup").expect("the bringup binary is built")
}

/// Messaging is down and comes back; mail is down and stays down; an internal service with no
/// `feature` is healthy. Returns the journal of a real headless run.
fn run_journal(dir: &Path, extra_meta: &str) -> PathBuf {
    let runbook = dir.join("outage.toml");
    let state = dir.join("state");
    std::fs::create_dir(&state).expect("mkdir");
    std::fs::write(
        &runbook,
        format!(
            r#"[runbook]
name = "Storage failure"
description = "A storage array failure took messaging and mail down."
{extra_meta}

[vars]
state = "{state}"

[hosts.operator]
transport = "local"

[[service]]
id = "msg"
name = "Messaging"
hosts = ["operator"]

  [[service.check]]
  name = "send"
  feature = "Send and receive messages"
  run = "test -f {{{{state}}}}/msg-up"

  [[service.restore]]
  name = "start gateway"
  run = "touch {{{{state}}}}/msg-up"

[[service]]
id = "mail"
name = "Mail"
hosts = ["operator"]

  [[service.check]]
  name = "deliver"
  feature = "Receive mail"
  run = "false"

  [[service.restore]]
  name = "start mta"
  run = "false"

[[service]]
id = "metrics"
hosts = ["operator"]

  [[service.check]]
  name = "scrape"
  run = "true"
"#,
            state = state.display()
        ),
    )
    .expect("write runbook");
    let journal = dir.join("run.jsonl");
    bringup()
        .arg("run")
        .arg(&runbook)
        .arg("--yes")
        .arg("--journal")
        .arg(&journal)
        .arg("--operator")
        .arg("ana")
        .assert()
        .code(1);
    journal
}

fn export(journal: &Path, format: &str) -> String {
    let out = bringup()
        .arg("export")
        .arg(journal)
        .args(["--format", format])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).expect("utf-8")
}

/// Statuspage's documented component statuses.
const STATUSPAGE: [&str; 4] = [
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
];

#[test]
fn status_json_names_each_feature_once_with_a_statuspage_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = run_journal(dir.path(), "");
    let doc: Value = serde_json::from_str(&export(&journal, "status-json")).expect("JSON");
    let components = doc["components"].as_array().expect("components");
    let names: Vec<&str> = components
        .iter()
        .map(|c| c["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["Send and receive messages", "Receive mail"]);
    for c in components {
        let status = c["status"].as_str().expect("a status");
        assert!(
            STATUSPAGE.contains(&status),
            "'{status}' is no Statuspage status"
        );
    }
    assert_eq!(components[0]["status"], "operational", "restored");
    assert_eq!(components[1]["status"], "major_outage", "failed");
    assert_eq!(components[1]["services"], serde_json::json!(["mail"]));
    // One of two functions down is not the whole system down (Statuspage's top-level rule).
    assert_eq!(doc["status"]["indicator"], "major");
    assert_eq!(doc["status"]["description"], "Partial System Outage");
    assert_eq!(doc["page"]["name"], "Storage failure");
    assert!(
        !doc.to_string().contains("metrics"),
        "a service without a feature is not customer-facing"
    );
}

#[test]
fn the_notice_from_a_real_run_has_the_fact_the_cause_the_actions_and_the_contact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = run_journal(
        dir.path(),
        "contact = \"help@example.com, +82 2 1234 5678\"\nnotice_after = \"2h\"",
    );
    let first = std::fs::read_to_string(&journal).expect("journal");
    let first = first.lines().next().expect("run_started");
    assert!(
        first.contains(r#""contact":"help@example.com, +82 2 1234 5678""#),
        "{first}"
    );
    assert!(first.contains(r#""notice_after_ms":7200000"#), "{first}");
    // Exported from the journal alone: the runbook is gone.
    std::fs::remove_file(dir.path().join("outage.toml")).expect("rm");
    let notice = export(&journal, "notice");
    let part = |heading: &str| -> String {
        let at = notice
            .find(heading)
            .unwrap_or_else(|| panic!("no '{heading}' in\n{notice}"));
        let rest = &notice[at + heading.len()..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
    };
    let fact = part("## What happened");
    assert!(fact.contains("Send and receive messages"), "{fact}");
    assert!(fact.contains("Receive mail"), "{fact}");
    assert!(fact.contains(" UTC"), "from when: {fact}");
    assert!(fact.contains("min"), "for how long: {fact}");
    assert!(
        fact.contains("Outages of 2 h or more must be notified"),
        "{fact}"
    );
    let cause = part("## Cause");
    assert!(
        !cause.contains("A storage array failure took messaging and mail down."),
        "the description is a restore plan, not the cause: {cause}"
    );
    assert!(cause.contains("set `cause` under [runbook]"), "{cause}");
    let actions = part("## What we have done");
    assert!(
        actions.contains("restored Send and receive messages"),
        "{actions}"
    );
    assert!(
        !actions.contains("Receive mail"),
        "mail was not restored: {actions}"
    );
    let still = part("## Still affected");
    assert!(still.contains("Receive mail (major outage)"), "{still}");
    assert!(!still.contains("Send and receive"), "{still}");
    let contact = part("## Contact");
    assert!(
        contact.contains("help@example.com, +82 2 1234 5678"),
        "{contact}"
    );
    assert!(!notice.contains("metrics"), "no function without a feature");
}

#[test]
fn a_notice_without_a_contact_says_where_to_set_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = run_journal(dir.path(), "");
    let notice = export(&journal, "notice");
    assert!(notice.contains("set `contact` under [runbook]"), "{notice}");
    assert!(
        !notice.contains("must be notified"),
        "notice_after is off by default"
    );
}

#[test]
fn a_bad_notice_after_or_an_empty_contact_is_a_validation_error_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (meta, want) in [
        (
            "notice_after = \"2 hours\"",
            ":3:16: error: bad duration '2 hours'",
        ),
        (
            "notice_after = \"30s\"",
            ":3:16: error: notice_after '30s' is too short",
        ),
        ("contact = \" \"", ":3:11: error: contact '' is empty"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            format!("[runbook]\nname = \"x\"\n{meta}\n[hosts.o]\ntransport = \"local\"\n[[service]]\nid = \"s\"\nhosts = [\"o\"]\n[[service.check]]\nname = \"c\"\nrun = \"true\"\n"),
        )
        .expect("write");
        let out = bringup().arg("validate").arg(&path).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains(want), "{meta}: {stderr}");
    }
}
