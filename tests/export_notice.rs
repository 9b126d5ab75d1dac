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
    assert_eq!(doc["status"]["indicator"], "critical");
    assert_eq!(doc["page"]["name"], "Storage failure");
    assert!(
        !doc.to_string().contains("metrics"),
        "a service without a feature is not customer-facing"
    );
}
