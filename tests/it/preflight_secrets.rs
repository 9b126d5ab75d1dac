//! `bringup preflight` without the runbook's secrets: it runs (no exit 2), probes the steps
//! that use a secret as far as it can without it (their first command is still looked for)
//! and says which they are; `--checks` does not run a check that needs one. `validate`
//! suggests `--var-env` for a secret with no value. Real binary, a local host.

use std::path::{Path, PathBuf};

use crate::support::run::{bringup_cmd, stdout};
use serde_json::Value;

/// Service `api` checks with the secret `token`, service `web` without; `api`'s restore runs
/// `restore_cmd` with the secret.
fn runbook(dir: &Path, restore_cmd: &str) -> PathBuf {
    let path = dir.join("secrets.toml");
    std::fs::write(
        &path,
        format!(
            r#"[runbook]
name = "Secrets"
secret_vars = ["token"]

[hosts.op]
transport = "local"

[[service]]
id = "api"
hosts = ["op"]

  [[service.check]]
  name = "token accepted"
  feature = "API"
  run = "test -n {{{{token}}}}"

  [[service.restore]]
  name = "rotate"
  run = "{restore_cmd} {{{{token}}}}"

[[service]]
id = "web"
hosts = ["op"]

  [[service.check]]
  name = "up"
  feature = "Web"
  run = "true"
"#
        ),
    )
    .expect("write runbook");
    path
}

#[test]
fn preflight_runs_without_the_secret_and_names_the_steps_that_use_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = runbook(dir.path(), "printf %s");
    let out = bringup_cmd()
        .arg("preflight")
        .arg(&path)
        .output()
        .expect("runs");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Without the secret 'token'"), "{text}");
    assert!(text.contains("check 'token accepted' of 'api'"), "{text}");
    assert!(text.contains("restore 'rotate' of 'api'"), "{text}");
    assert!(
        !text.contains("'up' of 'web'"),
        "web uses no secret: {text}"
    );

    let json = bringup_cmd()
        .arg("preflight")
        .arg(&path)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(doc["ready"], true, "{doc}");
    assert_eq!(doc["without_secrets"][0]["secret"], "token", "{doc}");
    assert_eq!(
        doc["without_secrets"][0]["steps"],
        serde_json::json!([
            "check 'token accepted' of 'api'",
            "restore 'rotate' of 'api'"
        ])
    );
}

#[test]
fn a_step_that_uses_a_secret_is_still_probed_for_its_first_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = runbook(dir.path(), "no-such-tool-bringup-test");
    let out = bringup_cmd()
        .arg("preflight")
        .arg(&path)
        .output()
        .expect("runs");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("command 'no-such-tool-bringup-test' not found"),
        "{text}"
    );
}

#[test]
fn preflight_checks_leave_a_check_that_needs_the_secret_not_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = runbook(dir.path(), "printf %s");
    let out = bringup_cmd()
        .arg("preflight")
        .arg(&path)
        .args(["--checks", "--format", "json"])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let state = |id: &str| {
        doc["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["service"] == id)
            .map(|s| (s["state"].clone(), s["reason"].clone()))
            .expect("service reported")
    };
    let (api, why) = state("api");
    assert_eq!(api, "not checked", "{doc}");
    assert!(
        why.as_str().is_some_and(|w| w.contains("--var-env token=")),
        "{why}"
    );
    assert_eq!(state("web").0, "healthy");
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert!(
        doc["summary"]
            .as_str()
            .is_some_and(|s| s.contains("1 not checked")),
        "{doc}"
    );
}

#[test]
fn validate_suggests_var_env_for_a_secret_with_no_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = runbook(dir.path(), "printf %s");
    let out = bringup_cmd()
        .arg("validate")
        .arg(&path)
        .output()
        .expect("runs");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("--var-env token=TOKEN"), "{text}");
    assert!(!text.contains("--var token="), "{text}");
}
