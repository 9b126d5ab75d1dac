//! `--only` names services, and a run also checks (and may restore) what they depend on: the
//! dry run and preflight show every service and host the run would touch, dependencies
//! included, and nothing else. Real binary, local transport.

use serde_json::Value;

use crate::support::local::{bringup, folder, output};
use crate::support::run::{stderr, stdout};

/// `web` (on `webhost`) depends on `db` (on `dbhost`); `other` (on `lonely`) on nothing.
const RUNBOOK: &str = r#"
[runbook]
name = "selection"

[hosts.dbhost]
transport = "local"
[hosts.webhost]
transport = "local"
[hosts.lonely]
transport = "local"

[[service]]
id = "db"
hosts = ["dbhost"]
  [[service.check]]
  name = "db answers"
  run = "true"
  [[service.restore]]
  name = "start db"
  run = "echo start-the-db"

[[service]]
id = "web"
hosts = ["webhost"]
depends_on = ["db"]
  [[service.check]]
  name = "web answers"
  run = "true"

[[service]]
id = "other"
hosts = ["lonely"]
  [[service.check]]
  name = "other answers"
  run = "echo other-check"
"#;

#[test]
fn dry_run_only_shows_the_selected_service_and_what_it_depends_on() {
    let (dir, runbook, _) = folder(RUNBOOK);
    let out = output(
        bringup(dir.path())
            .args(["run", "--dry-run", "--only", "web"])
            .arg(&runbook),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("] web"), "{text}");
    assert!(
        text.contains("] db") && text.contains("start-the-db"),
        "the dependency the run would check and restore is shown: {text}"
    );
    assert!(
        text.contains("✓ dbhost"),
        "the dependency's host is probed: {text}"
    );
    assert!(
        !text.contains("other") && !text.contains("lonely"),
        "{text}"
    );
    assert!(
        !dir.path().join("journal").exists(),
        "a dry run journals nothing"
    );
}

#[test]
fn preflight_only_probes_the_hosts_of_the_selected_service_and_its_dependencies() {
    let (dir, runbook, _) = folder(RUNBOOK);
    let out = output(
        bringup(dir.path())
            .args(["preflight", "--checks", "--format", "json", "--only", "web"])
            .arg(&runbook),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("json: {e}\n{}", stdout(&out)));
    let hosts: Vec<&str> = doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert!(hosts.contains(&"webhost"), "{doc}");
    assert!(
        hosts.contains(&"dbhost"),
        "the host of the dependency the run contacts is probed: {doc}"
    );
    assert!(!hosts.contains(&"lonely"), "{doc}");
    let services = doc.to_string();
    assert!(services.contains("\"db\""), "db's checks run too: {doc}");
    assert!(!services.contains("\"other\""), "{doc}");
}
