//! The log is terminal-safe (SPEC "Edges"), with real processes on a real etcd on loopback:
//! a request written into etcd by an operator named with an OSC 52 (set the clipboard) sequence
//! and a C1 control (the CLI refuses to sign such a name) notes a shared run; the executing process's `--log-file` then holds their
//! visible form and no ESC, BEL or C1 byte.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::etcd::{Cluster, Options};
use crate::support::run::{bringup_cmd, stderr};
use crate::support::wait::{wait_exit, wait_for};

const HOSTILE_OPERATOR: &str = "\u{1b}]52;c;cHduZWQ=\u{7}\u{9b}2Jmallory";
const HOSTILE_NOTE: &str = "paged DBA\u{1b}]0;owned\u{7}\u{85}";

/// Whether `bytes` hold a raw ESC, BEL or C1 control (U+0080–U+009F as UTF-8).
fn raw_controls(bytes: &[u8]) -> Vec<usize> {
    let mut at = Vec::new();
    for (i, pair) in bytes.windows(2).enumerate() {
        if pair[0] == 0xc2 && (0x80..=0x9f).contains(&pair[1]) {
            at.push(i);
        }
    }
    at.extend(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b, 0x1b | 0x07))
            .map(|(i, _)| i),
    );
    at
}

fn runbook(dir: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"
[runbook]
name = "log safety"

[defaults]
timeout = "90s"

[hosts.box]
transport = "local"

[[service]]
id = "msg"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "until [ -e '{}/go' ]; do sleep 0.05; done"
"#,
        dir.display()
    );
    let path = dir.join("rb.toml");
    std::fs::write(&path, text).expect("write runbook");
    path
}

#[test]
fn a_hostile_operator_name_and_note_reach_the_log_file_as_visible_text() {
    crate::require!(Etcd);
    let cluster = Cluster::start_with(&Options {
        members: 1,
        ..Options::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = runbook(dir.path());
    let url = cluster.url("logsafe");
    let log = dir.path().join("run.log");
    let mut run = Command::new(assert_cmd::cargo::cargo_bin!("bringup"))
        .args(["run", "--yes", "--journal", &url, "--log-file"])
        .arg(&log)
        .arg(&rb)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("run.err")).expect("stderr file"))
        .spawn()
        .expect("start bringup");
    let run_err = || std::fs::read_to_string(dir.path().join("run.err")).unwrap_or_default();
    let limit = Duration::from_secs(60);
    // The run is in etcd (its step waits for `go`); a request posted before it serves them
    // waits for it.
    // Its `run_started` is committed: the run is held and can be signed for.
    let run_url = bringup::journal::etcd::RunUrl::parse(&url).expect("url");
    wait_for("the run to start", limit, || {
        use crate::support::etcd::Wait as _;
        bringup::journal::etcd::EtcdStore::open(&run_url)
            .wait()
            .ok()
            .and_then(|mut store| store.first_line().wait().ok().flatten())
            .is_some()
    });
    // `bringup note` will not sign for a name holding control characters...
    let note = bringup_cmd()
        .args(["note", &url, HOSTILE_NOTE, "--operator", HOSTILE_OPERATOR])
        .output()
        .expect("note");
    assert_eq!(note.status.code(), Some(2), "{}", stderr(&note));
    assert!(
        stderr(&note).contains("cannot be signed"),
        "{}",
        stderr(&note)
    );
    // ...so the request is written straight into etcd, as `etcdctl put` would; the run (with
    // no allowed signers) takes it as unverified, and its name reaches the log.
    {
        use crate::support::etcd::Wait as _;
        use bringup::journal::etcd::Etcd;
        use bringup::journal::etcd::shared::{Posted, await_answer, post_request};
        let mut etcd = Etcd::connect(&run_url.endpoints).wait().expect("etcd");
        let posted = Posted {
            operator: HOSTILE_OPERATOR.to_string(),
            ask: serde_json::json!({"kind": "note", "text": HOSTILE_NOTE}),
            signed: None,
        };
        let id = post_request(&mut etcd, &run_url, &posted)
            .wait()
            .expect("request posted");
        let answer = await_answer(&mut etcd, &run_url, &id, limit)
            .wait()
            .expect("answered");
        assert!(
            answer.is_some_and(|a| a.refused.is_none()),
            "the note was carried out; the run said: {}",
            run_err()
        );
    }
    std::fs::write(dir.path().join("go"), "").expect("go");
    let status = wait_exit(&mut run, Duration::from_secs(90)).unwrap_or_else(|| {
        let _ = run.kill();
        panic!("the run did not end");
    });
    assert_eq!(status.code(), Some(0));

    let bytes = std::fs::read(&log).expect("log file");
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        raw_controls(&bytes).is_empty(),
        "raw control bytes at {:?} in the log:\n{text:?}",
        raw_controls(&bytes)
    );
    assert!(
        text.contains(r"\x1b]52;c;cHduZWQ=\x07\u{9b}2Jmallory"),
        "the operator's name, as text: {text}"
    );
}
