//! Interrupting a drill through the real binary on the local transport (SPEC "Edges":
//! interrupting a drill restores what it broke): SIGINT in the baseline, inject, restore and
//! verify phases stops the running steps, restores every injected service that is not back,
//! and exits 3; a second SIGINT skips the restore and names what is left down; no state
//! recorded at the end predates its service's last inject or restore.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::Duration;

use crate::support::local::{bringup, finish, output};
use crate::support::run::{read_journal, stderr, stdout};
use crate::support::wait::{gate, wait_for};
use serde_json::Value;

/// Three services in three tiers (`dns` ← `db` ← `web`), each up while `<dir>/<id>.up`
/// exists. Every step waits first (or, for an inject, after removing the file) while its
/// gate exists: `check-<id>`, `restore-<id>`, `inject-<id>`. A restore asks first
/// (`confirm`) when `<dir>/confirm-<id>` exists as the runbook is written. One scenario `all`.
fn runbook(dir: &Path) -> PathBuf {
    let d = dir.display();
    let mut text =
        String::from("[runbook]\nname = \"stops\"\n\n[hosts.box]\ntransport = \"local\"\n");
    for (id, tier, deps) in [("dns", 1, ""), ("db", 2, "\"dns\""), ("web", 3, "\"db\"")] {
        let check = gate(dir, &format!("check-{id}"));
        let restore = gate(dir, &format!("restore-{id}"));
        let inject = gate(dir, &format!("inject-{id}"));
        let confirm = dir.join(format!("confirm-{id}")).exists();
        let _ = write!(
            text,
            r#"
[[service]]
id = "{id}"
name = "{id}"
tier = {tier}
hosts = ["box"]
depends_on = [{deps}]
  [[service.check]]
  name = "up"
  run = "{check}; test -f {d}/{id}.up"
  timeout = "40s"
  [[service.restore]]
  name = "start {id}"
  run = "{restore}; touch {d}/{id}.up"
  confirm = {confirm}
  [[service.inject]]
  name = "stop {id}"
  run = "rm -f {d}/{id}.up; {inject}"
"#
        );
    }
    text += "\n[[scenario]]\nid = \"all\"\ninject = [\"@tier:1\", \"@tier:2\", \"@tier:3\"]\n";
    let path = dir.join("rb.toml");
    fs::write(&path, text).expect("write runbook");
    path
}

struct Rig {
    dir: tempfile::TempDir,
    journal: PathBuf,
    child: Child,
}

/// Every service up, `gates` closed, and the drill started.
fn start(gates: &[&str]) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    for id in ["dns", "db", "web"] {
        fs::write(dir.path().join(format!("{id}.up")), "").expect("up");
    }
    for g in gates {
        fs::write(dir.path().join(g), "").expect("gate");
    }
    let runbook = runbook(dir.path());
    let journal = dir.path().join("journal/drill.jsonl");
    let child = bringup(dir.path())
        .args(["run", "--drill", "--scenario", "all", "--journal"])
        .arg(&journal)
        .arg(&runbook)
        .spawn()
        .expect("spawn bringup");
    Rig {
        dir,
        journal,
        child,
    }
}

impl Rig {
    /// Wait until the journal holds an event that `f` accepts.
    fn wait_event(&self, what: &str, f: impl Fn(&Value) -> bool) {
        wait_for(what, Duration::from_secs(30), || {
            lossy(&self.journal).iter().any(&f)
        });
    }

    fn wait_step(&self, service: &str, phase: &str) {
        self.wait_event(&format!("{service}'s {phase} step"), |e| {
            e["kind"] == "step_started" && e["service"] == service && e["phase"] == phase
        });
    }

    fn interrupt(&self) {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    fn open(&self, gate: &str) {
        fs::remove_file(self.dir.path().join(gate)).expect("open the gate");
    }

    fn up(&self, id: &str) -> bool {
        self.dir.path().join(format!("{id}.up")).exists()
    }

    fn finish(self) -> (Output, Vec<Value>, tempfile::TempDir) {
        let out = finish(self.child);
        assert_eq!(
            out.status.code(),
            Some(3),
            "stdout:\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        );
        let journal = read_journal(&self.journal);
        (out, journal, self.dir)
    }
}

/// The journal as far as it is written (a torn last line is left out).
fn lossy(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn run_finished(journal: &[Value]) -> &Value {
    let last = journal.last().expect("events");
    assert_eq!(last["kind"], "run_finished");
    assert_eq!(last["outcome"], "interrupted");
    last
}

fn left_down(journal: &[Value]) -> Vec<String> {
    run_finished(journal)["left_down"]
        .as_array()
        .expect("left_down listed")
        .iter()
        .map(|s| s.as_str().expect("an id").to_string())
        .collect()
}

fn final_state<'a>(journal: &'a [Value], service: &str) -> &'a str {
    run_finished(journal)["services"][service]
        .as_str()
        .expect("a state")
}

fn drill_finished(journal: &[Value]) -> &Value {
    journal
        .iter()
        .find(|e| e["kind"] == "drill_phase" && e["phase"] == "finished")
        .expect("drill_phase finished")
}

/// Every service's recorded state at the end comes from a check that started after its
/// last inject or restore step, or is `unknown`.
#[track_caller]
fn assert_states_checked_after_last_act(journal: &[Value]) {
    let end = run_finished(journal);
    for (service, state) in end["services"].as_object().expect("services") {
        if state == "unknown" {
            continue;
        }
        let last_act = journal.iter().rposition(|e| {
            e["kind"] == "step_started"
                && e["service"] == service.as_str()
                && (e["phase"] == "inject" || e["phase"] == "restore")
        });
        let Some(last_act) = last_act else {
            continue;
        };
        let checked_after = journal[last_act..].iter().any(|e| {
            e["kind"] == "step_finished"
                && e["service"] == service.as_str()
                && (e["phase"] == "check" || e["phase"] == "verify")
        });
        assert!(
            checked_after,
            "{service} ends {state} with no check after its last inject or restore"
        );
    }
}

#[test]
fn sigint_in_the_baseline_injects_nothing_and_leaves_a_cut_check_unknown() {
    let rig = start(&["check-dns"]);
    rig.wait_step("dns", "check");
    rig.wait_event("db's baseline check to end", |e| {
        e["kind"] == "service_state" && e["service"] == "db" && e["to"] == "healthy"
    });
    rig.interrupt();
    let (out, journal, _dir) = rig.finish();
    assert!(
        journal
            .iter()
            .all(|e| !(e["kind"] == "step_started" && e["phase"] == "inject")),
        "nothing injected"
    );
    assert!(left_down(&journal).is_empty());
    assert_eq!(final_state(&journal, "dns"), "unknown", "its check was cut");
    assert_eq!(final_state(&journal, "db"), "healthy");
    assert_eq!(
        drill_finished(&journal)["reason"],
        "interrupted in the baseline phase, before the drill ended"
    );
    assert!(!stderr(&out).contains("left down"), "{}", stderr(&out));
}

#[test]
fn sigint_mid_inject_restores_the_service_injected_and_the_one_whose_inject_was_cut() {
    let rig = start(&["inject-db"]);
    rig.wait_step("db", "inject");
    wait_for(
        "db's inject to remove its file",
        Duration::from_secs(10),
        || !rig.up("db"),
    );
    assert!(!rig.up("dns"), "dns broken too");
    rig.interrupt();
    let (out, journal, dir) = rig.finish();
    for id in ["dns", "db", "web"] {
        assert!(dir.path().join(format!("{id}.up")).exists(), "{id} is up");
    }
    assert!(left_down(&journal).is_empty(), "{:?}", left_down(&journal));
    assert_eq!(final_state(&journal, "dns"), "restored");
    assert_eq!(final_state(&journal, "db"), "restored");
    assert_eq!(final_state(&journal, "web"), "healthy", "never injected");
    // db's inject was cut: not `healthy` from its baseline check, but unknown until checked.
    let inject = journal
        .iter()
        .position(|e| e["kind"] == "step_started" && e["service"] == "db" && e["phase"] == "inject")
        .expect("db's inject");
    let next_state = journal[inject..]
        .iter()
        .find(|e| e["kind"] == "service_state" && e["service"] == "db")
        .expect("a state after the inject");
    assert_eq!(next_state["from"], "healthy");
    assert_eq!(next_state["to"], "unknown");
    assert_eq!(
        next_state["reason"],
        "its inject was stopped; nothing has checked it since"
    );
    assert_states_checked_after_last_act(&journal);
    let restore = journal
        .iter()
        .find(|e| e["kind"] == "drill_phase" && e["phase"] == "restore")
        .expect("the restore after the interrupt");
    assert_eq!(
        restore["reason"],
        "interrupted in the inject phase: restoring what was injected (dns, db)"
    );
    let reason = drill_finished(&journal)["reason"].as_str().expect("reason");
    assert_eq!(
        reason,
        "interrupted in the inject phase, before the drill ended; every injected service is back"
    );
    assert!(stderr(&out).contains("restoring what the drill injected"));
    assert!(!stderr(&out).contains("left down"), "{}", stderr(&out));
}

#[test]
fn sigint_mid_restore_restores_again_what_the_cut_restore_left() {
    let rig = start(&["restore-db"]);
    rig.wait_step("db", "restore");
    rig.interrupt();
    rig.wait_event("the interrupted drill's restore", |e| {
        e["kind"] == "drill_phase"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("interrupted in the restore phase: restoring"))
    });
    rig.open("restore-db");
    let (_out, journal, dir) = rig.finish();
    for id in ["dns", "db", "web"] {
        assert!(dir.path().join(format!("{id}.up")).exists(), "{id} is up");
    }
    assert!(left_down(&journal).is_empty());
    for id in ["dns", "db", "web"] {
        assert_eq!(final_state(&journal, id), "restored", "{id}");
    }
    let db_restores = journal
        .iter()
        .filter(|e| e["kind"] == "step_started" && e["service"] == "db" && e["phase"] == "restore")
        .count();
    assert_eq!(
        db_restores, 2,
        "the cut restore, then the one after the interrupt"
    );
    assert_states_checked_after_last_act(&journal);
}

#[test]
fn sigint_mid_verification_checks_again_and_restores_the_rest() {
    let rig = start(&["restore-db"]);
    rig.wait_step("db", "restore");
    fs::write(rig.dir.path().join("check-db"), "").expect("hold db's checks");
    rig.open("restore-db");
    rig.wait_step("db", "verify");
    rig.interrupt();
    rig.wait_event("the interrupted drill's restore", |e| {
        e["kind"] == "drill_phase"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("interrupted in the restore phase: restoring"))
    });
    rig.open("check-db");
    let (_out, journal, dir) = rig.finish();
    assert!(left_down(&journal).is_empty());
    assert_eq!(
        final_state(&journal, "db"),
        "healthy",
        "checked again after its cut verification"
    );
    assert_eq!(final_state(&journal, "web"), "restored");
    assert!(dir.path().join("web.up").exists());
    let db_restores = journal
        .iter()
        .filter(|e| e["kind"] == "step_started" && e["service"] == "db" && e["phase"] == "restore")
        .count();
    assert_eq!(db_restores, 1, "its checks pass: not restored again");
    assert_states_checked_after_last_act(&journal);
}

#[test]
fn a_second_sigint_skips_the_restore_and_names_everything_left_down() {
    let rig = start(&["inject-db", "restore-dns"]);
    rig.wait_step("db", "inject");
    wait_for(
        "db's inject to remove its file",
        Duration::from_secs(10),
        || !rig.up("db"),
    );
    rig.interrupt();
    rig.wait_event("dns's restore after the interrupt", |e| {
        e["kind"] == "step_started" && e["service"] == "dns" && e["phase"] == "restore"
    });
    rig.interrupt();
    let path = rig.journal.clone();
    let (out, journal, dir) = rig.finish();
    assert_eq!(left_down(&journal), ["dns", "db"]);
    let scorecard = output(
        bringup(dir.path())
            .arg("export")
            .arg(&path)
            .args(["--format", "scorecard"]),
    );
    assert!(
        stdout(&scorecard)
            .contains("- **Left down:** dns, db (injected and not seen healthy again)"),
        "{}",
        stdout(&scorecard)
    );
    assert!(!dir.path().join("dns.up").exists() && !dir.path().join("db.up").exists());
    assert!(
        stdout(&out).contains("Run finished: interrupted; left down by the drill: dns, db"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("left down by the drill: dns, db"),
        "stderr names them:\n{err}"
    );
    assert_eq!(
        final_state(&journal, "dns"),
        "unknown",
        "its restore was cut"
    );
    let shown = stdout(&out);
    let row = shown
        .lines()
        .find(|l| l.starts_with("dns "))
        .expect("dns in the table");
    assert!(
        row.contains(" unknown ") && row.contains("its restore was stopped"),
        "{row}"
    );
    let db = final_state(&journal, "db");
    assert!(
        db == "unknown" || db == "down",
        "db ends {db}, never healthy from before its inject"
    );
    assert_states_checked_after_last_act(&journal);
    let reason = drill_finished(&journal)["reason"].as_str().expect("reason");
    assert!(
        reason.ends_with("; left down: dns, db (injected and not seen healthy again)"),
        "{reason}"
    );
}

#[test]
fn a_restore_that_asks_is_not_run_after_the_interrupt_and_its_service_is_named_left_down() {
    let rig = start(&["inject-db", "confirm-dns"]);
    rig.wait_step("db", "inject");
    wait_for(
        "db's inject to remove its file",
        Duration::from_secs(10),
        || !rig.up("db"),
    );
    rig.interrupt();
    let (out, journal, _dir) = rig.finish();
    assert!(
        journal.iter().all(|e| e["kind"] != "approval"),
        "nobody was asked"
    );
    assert!(
        journal
            .iter()
            .all(|e| !(e["kind"] == "step_started" && e["phase"] == "restore")),
        "no restore ran"
    );
    assert_eq!(left_down(&journal), ["dns", "db"]);
    assert_ne!(final_state(&journal, "db"), "healthy");
    assert_states_checked_after_last_act(&journal);
    assert!(
        stderr(&out).contains("left down by the drill: dns, db"),
        "{}",
        stderr(&out)
    );
}
