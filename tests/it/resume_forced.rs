//! `--resume --force` keeps its promises (SPEC "Edges"): a restore step that ran `ok` under
//! another name is still "recorded ok" (it needs an approval to run again), `resumed` records
//! the new runbook's hash and `forced`, and a service the new runbook dropped stays in
//! `run_finished` as `removed`, its journaled state counted in the outcome. Real binary,
//! local transport, no terminal.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::local::{bringup, folder, output};
use crate::support::run::{read_journal, stderr};

const HEAD: &str = "[runbook]\nname = \"forced\"\n\n[vars]\nstate = \"/nonexistent\"\n\n\
[hosts.op]\ntransport = \"local\"\n\n";

/// `web`: up while `{{state}}/up` exists; its one restore step, named `step`, logs a line and
/// brings it up.
fn web(step: &str) -> String {
    format!(
        "[[service]]\nid = \"web\"\nhosts = [\"op\"]\n\
  [[service.check]]\n  name = \"up\"\n  run = \"test -f {{{{state}}}}/up\"\n\
  [[service.restore]]\n  name = \"{step}\"\n  run = \"echo ran >> {{{{state}}}}/log; touch {{{{state}}}}/up\"\n\n"
    )
}

/// `mail`: always down, and its restore fails.
const MAIL: &str = "[[service]]\nid = \"mail\"\nhosts = [\"op\"]\n\
  [[service.check]]\n  name = \"up\"\n  run = \"false\"\n\
  [[service.restore]]\n  name = \"start\"\n  run = \"false\"\n\n";

/// `bringup run RUNBOOK --var state=… ` with `args` (stdin is not a terminal).
fn run(dir: &Path, runbook: &Path, args: &[&str]) -> Output {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    output(
        bringup(dir)
            .arg("run")
            .arg(runbook)
            .arg("--var")
            .arg(format!("state={}", state.display()))
            .args(args),
    )
}

fn kind(e: &Value) -> &str {
    e["kind"].as_str().unwrap_or_default()
}

fn after_resumed(events: &[Value]) -> &[Value] {
    let at = events
        .iter()
        .position(|e| kind(e) == "resumed")
        .expect("a resumed event");
    &events[at..]
}

#[test]
fn a_renamed_restore_step_that_ran_ok_asks_for_approval_and_without_one_does_not_run() {
    let (dir, runbook, journal) = folder(&format!("{HEAD}{}", web("start web")));
    let j = journal.display().to_string();
    let first = run(dir.path(), &runbook, &["--journal", &j]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let log = dir.path().join("state/log");
    assert_eq!(std::fs::read_to_string(&log).expect("log"), "ran\n");

    // A new outage, and the step renamed in the runbook: same command, same host.
    std::fs::remove_file(dir.path().join("state/up")).expect("take web down");
    let renamed = format!("{HEAD}{}", web("bring web up"));
    std::fs::write(&runbook, &renamed).expect("edit runbook");
    let resumed = run(dir.path(), &runbook, &["--resume", &j, "--force"]);
    assert_ne!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "ran\n",
        "the renamed step ran again without an approval"
    );

    let events = read_journal(&journal);
    let after = after_resumed(&events);
    assert!(
        !after
            .iter()
            .any(|e| kind(e) == "step_started" && e["phase"] == "restore"),
        "{after:?}"
    );
    assert!(
        after.iter().any(|e| kind(e) == "approval"
            && e["step"] == "bring web up"
            && e["decision"] != "approved"),
        "the approval it needs is asked and, with nobody to answer, not given: {after:?}"
    );
    let r = &after[0];
    assert_eq!(r["forced"], true, "{r}");
    assert_eq!(
        r["runbook_sha256"].as_str(),
        Some(hex::encode(Sha256::digest(renamed.as_bytes())).as_str()),
        "resumed records the new runbook's hash: {r}"
    );
}

#[test]
fn a_service_the_new_runbook_dropped_is_listed_removed_and_its_failure_counts() {
    let (dir, runbook, journal) = folder(&format!("{HEAD}{}{MAIL}", web("start web")));
    let j = journal.display().to_string();
    let first = run(dir.path(), &runbook, &["--journal", &j]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));

    std::fs::write(&runbook, format!("{HEAD}{}", web("start web"))).expect("drop mail");
    let resumed = run(dir.path(), &runbook, &["--resume", &j, "--force"]);
    assert_eq!(
        resumed.status.code(),
        Some(1),
        "mail failed and was never restored: {}",
        stderr(&resumed)
    );
    let events = read_journal(&journal);
    let finished = events
        .iter()
        .rev()
        .find(|e| kind(e) == "run_finished")
        .expect("run_finished");
    assert_eq!(finished["services"]["mail"], "removed", "{finished}");
    assert_eq!(finished["services"]["web"], "restored", "{finished}");
    assert_eq!(finished["outcome"], "incomplete", "{finished}");

    // The run now goes on with the runbook its forced resume recorded: no --force again.
    let again = run(dir.path(), &runbook, &["--resume", &j]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    let events = read_journal(&journal);
    let last = events.last().expect("events");
    assert_eq!(last["services"]["mail"], "removed", "{last}");
}
