//! Scenario drills through the real binary on the local transport (every step a real `sh`):
//! `run --drill --scenario` runs baseline, inject, detect, restore and cleanup; a guard that
//! fails mid-drill trips it; a baseline that finds a service down refuses it; bad scenario ids
//! are bad input.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::support::local::{bringup, finish, output};
use crate::support::run::{read_journal, stderr, stdout};
use crate::support::wait::wait_for;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Three services in three tiers (`dns` ← `db` ← `web`), each up while `<dir>/<id>.up`
/// exists; restores touch it (`db`'s fails while `<dir>/db.broken` exists), injects remove
/// it (`dns`'s then sleeps `dns_inject_sleep`). One scenario `all`, one guard `prod ok`
/// failing while `<dir>/trip` exists, checked every second.
fn runbook(dir: &Path, dns_inject_sleep: &str) -> PathBuf {
    let d = dir.display();
    let service = |id: &str, tier: u32, deps: &str, restore: &str, inject: &str| {
        format!(
            r#"
[[service]]
id = "{id}"
name = "{id}"
tier = {tier}
rto = "30m"
hosts = ["box"]
depends_on = [{deps}]
  [[service.check]]
  name = "up"
  run = "test -f {d}/{id}.up"
  timeout = "1s"
  [[service.restore]]
  name = "start {id}"
  run = "{restore}"
  [[service.inject]]
  name = "stop {id}"
  run = "{inject}"
"#
        )
    };
    let mut text =
        String::from("[runbook]\nname = \"drills\"\n\n[hosts.box]\ntransport = \"local\"\n");
    text += &service(
        "dns",
        1,
        "",
        &format!("sleep 0.2; touch {d}/dns.up"),
        &format!("rm -f {d}/dns.up; sleep {dns_inject_sleep}"),
    );
    text += &service(
        "db",
        2,
        "\"dns\"",
        &format!("test ! -f {d}/db.broken && sleep 0.2 && touch {d}/db.up"),
        &format!("rm -f {d}/db.up"),
    );
    text += &service(
        "web",
        3,
        "\"db\"",
        &format!("sleep 0.2; touch {d}/web.up"),
        &format!("rm -f {d}/web.up"),
    );
    let _ = write!(
        text,
        r#"
[[scenario]]
id = "all"
name = "Everything"
inject = ["@tier:1", "@tier:2", "@tier:3"]

[[scenario]]
id = "web-only"
inject = ["web"]

[[guard]]
name = "prod ok"
run = "test ! -f {d}/trip"
hosts = ["box"]
every = "1s"
"#
    );
    let path = dir.join("rb.toml");
    fs::write(&path, text).expect("write runbook");
    path
}

struct Rig {
    dir: tempfile::TempDir,
    runbook: PathBuf,
    journal: PathBuf,
}

/// Every service up, as a drill's baseline needs it.
fn rig(dns_inject_sleep: &str) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    for id in ["dns", "db", "web"] {
        fs::write(dir.path().join(format!("{id}.up")), "").expect("up");
    }
    let runbook = runbook(dir.path(), dns_inject_sleep);
    let journal = dir.path().join("journal/drill.jsonl");
    Rig {
        dir,
        runbook,
        journal,
    }
}

impl Rig {
    fn drill(&self, scenario: &str) -> std::process::Command {
        let mut cmd = bringup(self.dir.path());
        cmd.args(["run", "--drill", "--scenario", scenario, "--journal"])
            .arg(&self.journal)
            .arg(&self.runbook);
        cmd
    }
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn ts(event: &Value) -> DateTime<Utc> {
    event["ts"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .expect("ts")
        .with_timezone(&Utc)
}

fn of_kind<'a>(journal: &'a [Value], kind: &str) -> Vec<&'a Value> {
    journal.iter().filter(|e| e["kind"] == kind).collect()
}

fn phases(journal: &[Value]) -> Vec<String> {
    of_kind(journal, "drill_phase")
        .iter()
        .map(|e| e["phase"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Services whose inject started, in journal order.
fn injected(journal: &[Value]) -> Vec<String> {
    of_kind(journal, "step_started")
        .iter()
        .filter(|e| e["phase"] == "inject")
        .map(|e| e["service"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn finished(journal: &[Value]) -> &Value {
    of_kind(journal, "drill_phase")
        .into_iter()
        .find(|e| e["phase"] == "finished")
        .expect("drill_phase finished")
}

/// Milliseconds from `service`'s inject `step_started` to its first `service_state` to
/// restored or healthy after that, as the journal's timestamps say.
fn time_to_restore_ms(journal: &[Value], service: &str) -> i64 {
    let inject = journal
        .iter()
        .position(|e| {
            e["kind"] == "step_started" && e["phase"] == "inject" && e["service"] == service
        })
        .expect("inject started");
    let up = journal[inject..]
        .iter()
        .find(|e| {
            e["kind"] == "service_state"
                && e["service"] == service
                && (e["to"] == "restored" || e["to"] == "healthy")
        })
        .expect("up again");
    (ts(up) - ts(&journal[inject])).num_milliseconds()
}

#[test]
fn a_three_tier_drill_passes_and_times_each_restore_from_its_own_inject() {
    let rig = rig("0");
    let out = output(&mut rig.drill("all"));
    assert_exit(&out, 0);
    let journal = read_journal(&rig.journal);
    let started = &journal[0];
    assert_eq!(started["mode"], "drill");
    assert_eq!(started["scenario"], "all");
    assert_eq!(
        phases(&journal),
        [
            "baseline", "inject", "detect", "restore", "cleanup", "finished"
        ]
    );
    assert_eq!(injected(&journal), ["dns", "db", "web"], "plan order");
    let done = finished(&journal);
    assert_eq!(done["outcome"], "passed");
    let reason = done["reason"].as_str().expect("reason");
    let printed = stdout(&out);
    assert!(
        printed.contains("OUTAGES (a drill's outages, each timed from its inject)"),
        "{printed}"
    );
    for service in ["dns", "db", "web"] {
        let ms = time_to_restore_ms(&journal, service);
        assert!(ms > 0, "{service} took {ms} ms");
        let said = format!("{service} {}.{:03} s (RTO 30m 00s)", ms / 1000, ms % 1000);
        assert!(reason.contains(&said), "{said:?} not in {reason:?}");
        assert!(printed.contains(&said), "{said:?} not printed:\n{printed}");
    }
    for service in ["dns", "db", "web"] {
        assert!(rig.dir.path().join(format!("{service}.up")).exists());
    }
    assert_eq!(
        journal.last().expect("events")["kind"],
        "run_finished",
        "the run ends after the drill"
    );
}

#[test]
fn a_drill_whose_restore_fails_ends_failed_naming_that_service() {
    let rig = rig("0");
    fs::write(rig.dir.path().join("db.broken"), "").expect("break db's restore");
    let out = output(&mut rig.drill("all"));
    assert_exit(&out, 1);
    let journal = read_journal(&rig.journal);
    let done = finished(&journal);
    assert_eq!(done["outcome"], "failed");
    let reason = done["reason"].as_str().expect("reason");
    assert!(reason.contains("db: restore failed"), "{reason}");
    assert!(
        reason.contains("web: not restored (it is blocked)"),
        "{reason}"
    );
    assert!(!reason.contains("dns:"), "dns came back: {reason}");
    assert!(stdout(&out).contains("db: restore failed"));
}

#[test]
fn a_guard_that_starts_failing_mid_drill_trips_it_and_only_what_was_injected_is_restored() {
    // dns's inject keeps running for 3 s: the guard (every 1 s) is checked during it.
    let rig = rig("3");
    let child = rig.drill("all").spawn().expect("spawn bringup");
    wait_for("dns's inject to start", Duration::from_secs(20), || {
        rig.journal.exists()
            && injected(&read_journal_lossy(&rig.journal)).contains(&"dns".to_string())
    });
    fs::write(rig.dir.path().join("trip"), "").expect("trip the guard");
    let out = finish(child);
    assert_exit(&out, 1);
    let journal = read_journal(&rig.journal);
    let tripped = of_kind(&journal, "guard_tripped");
    assert_eq!(tripped.len(), 1, "{tripped:?}");
    assert_eq!(tripped[0]["guard"], "prod ok");
    assert_eq!(tripped[0]["host"], "box");
    assert_eq!(tripped[0]["exit_code"], 1);
    assert_eq!(
        injected(&journal),
        ["dns"],
        "nothing injected after the trip"
    );
    assert_eq!(
        phases(&journal),
        ["baseline", "inject", "restore", "cleanup", "finished"],
        "straight to restoring"
    );
    let restored: Vec<&str> = of_kind(&journal, "service_state")
        .iter()
        .filter(|e| e["to"] == "restoring")
        .filter_map(|e| e["service"].as_str())
        .collect();
    assert_eq!(restored, ["dns"]);
    assert!(rig.dir.path().join("dns.up").exists(), "dns restored");
    let done = finished(&journal);
    assert_eq!(done["outcome"], "failed");
    assert!(
        done["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("guard 'prod ok' tripped")),
        "{done}"
    );
}

/// The journal as far as it is written (a torn last line is left out).
fn read_journal_lossy(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn baseline_refuses_a_drill_when_a_scenario_service_is_already_down() {
    let rig = rig("0");
    fs::remove_file(rig.dir.path().join("db.up")).expect("db down");
    let out = output(&mut rig.drill("all"));
    assert_exit(&out, 1);
    let journal = read_journal(&rig.journal);
    assert_eq!(
        phases(&journal),
        ["baseline", "baseline"],
        "entered, refused"
    );
    let baseline = of_kind(&journal, "drill_phase")[1];
    assert_eq!(baseline["outcome"], "failed");
    let reason = baseline["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("db is down before the drill: "),
        "{reason}"
    );
    assert!(reason.ends_with("nothing was injected"), "{reason}");
    assert!(injected(&journal).is_empty());
    assert!(
        of_kind(&journal, "step_started")
            .iter()
            .all(|e| e["phase"] == "check"),
        "only checks ran"
    );
    assert!(rig.dir.path().join("dns.up").exists() && rig.dir.path().join("web.up").exists());
}

#[test]
fn a_guard_failing_before_the_drill_refuses_it() {
    let rig = rig("0");
    fs::write(rig.dir.path().join("trip"), "").expect("trip the guard");
    let out = output(&mut rig.drill("web-only"));
    assert_exit(&out, 1);
    let journal = read_journal(&rig.journal);
    assert_eq!(of_kind(&journal, "guard_tripped").len(), 1);
    assert_eq!(
        phases(&journal),
        ["baseline", "baseline"],
        "entered, refused"
    );
    let reason = of_kind(&journal, "drill_phase")[1]["reason"]
        .as_str()
        .expect("reason")
        .to_string();
    assert!(reason.starts_with("guard 'prod ok' tripped"), "{reason}");
    assert!(injected(&journal).is_empty());
    assert!(rig.dir.path().join("web.up").exists());
}

#[test]
fn an_inject_that_breaks_nothing_fails_the_drill_at_detect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = r#"
[runbook]
name = "harmless inject"
[hosts.box]
transport = "local"
[[service]]
id = "api"
name = "API"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "true"
  timeout = "1s"
  [[service.restore]]
  name = "start"
  run = "true"
  [[service.inject]]
  name = "pretend"
  run = "echo nothing broken"
[[scenario]]
id = "noop"
inject = ["api"]
"#;
    let runbook = dir.path().join("rb.toml");
    fs::write(&runbook, text).expect("write runbook");
    let journal = dir.path().join("j.jsonl");
    let out = output(
        bringup(dir.path())
            .args(["run", "--drill", "--scenario", "noop", "--journal"])
            .arg(&journal)
            .arg(&runbook),
    );
    assert_exit(&out, 1);
    let events = read_journal(&journal);
    assert!(phases(&events).contains(&"detect".to_string()));
    let checks = of_kind(&events, "step_started")
        .iter()
        .filter(|e| e["phase"] == "check")
        .count();
    assert!(checks > 2, "checked again while waiting: {checks}");
    let reason = finished(&events)["reason"]
        .as_str()
        .expect("reason")
        .to_string();
    assert!(
        reason.contains("api was not seen down within 5.0 s of its inject (it is healthy)"),
        "{reason}"
    );
}

#[test]
fn an_unknown_scenario_is_bad_input_naming_it_and_the_valid_ones() {
    let rig = rig("0");
    let out = output(&mut rig.drill("al"));
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("--scenario 'al' is not a scenario of"),
        "{err}"
    );
    assert!(err.contains("did you mean 'all'?"), "{err}");
    assert!(err.contains("its scenarios: 'all', 'web-only'"), "{err}");
    assert!(!rig.journal.exists(), "nothing journaled");

    let out = output(
        bringup(rig.dir.path())
            .args(["run", "--scenario", "all"])
            .arg(&rig.runbook),
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--drill"), "{}", stderr(&out));

    let out = output(bringup(rig.dir.path()).arg("drill").arg(&rig.runbook));
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("pass --scenario ID"), "{err}");
    assert!(err.contains("all       Everything (3 services)"), "{err}");
    assert!(err.contains("web-only"), "{err}");
}

#[test]
fn a_service_back_after_its_rto_fails_the_drill_saying_by_how_much() {
    let dir = tempfile::tempdir().expect("temp dir");
    let up = dir.path().join("api.up");
    fs::write(&up, "").expect("up");
    let text = format!(
        r#"
[runbook]
name = "slow restore"
[hosts.box]
transport = "local"
[[service]]
id = "api"
name = "API"
tier = 1
rto = "200ms"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f {up}"
  [[service.restore]]
  name = "start slowly"
  run = "sleep 0.6; touch {up}"
  [[service.inject]]
  name = "stop"
  run = "rm -f {up}"
[[scenario]]
id = "slow"
inject = ["api"]
"#,
        up = up.display()
    );
    let runbook = dir.path().join("rb.toml");
    fs::write(&runbook, text).expect("write runbook");
    let journal = dir.path().join("j.jsonl");
    let out = output(
        bringup(dir.path())
            .args(["run", "--drill", "--scenario", "slow", "--journal"])
            .arg(&journal)
            .arg(&runbook),
    );
    assert_exit(&out, 1);
    let events = read_journal(&journal);
    let ms = time_to_restore_ms(&events, "api");
    let over = ms - 200;
    let said = format!(
        "api: back in {}.{:03} s after its inject, RTO 200 ms missed by {}.{:03} s",
        ms / 1000,
        ms % 1000,
        over / 1000,
        over % 1000
    );
    let reason = finished(&events)["reason"]
        .as_str()
        .expect("reason")
        .to_string();
    assert_eq!(reason, said);
}

#[test]
fn ctrl_c_mid_drill_exits_3_and_records_the_drill_as_failed() {
    let rig = rig("30");
    let child = rig.drill("all").spawn().expect("spawn bringup");
    wait_for("dns's inject to start", Duration::from_secs(20), || {
        injected(&read_journal_lossy(&rig.journal)).contains(&"dns".to_string())
            && !rig.dir.path().join("dns.up").exists()
    });
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = finish(child);
    assert_exit(&out, 3);
    let journal = read_journal(&rig.journal);
    let done = finished(&journal);
    assert_eq!(done["outcome"], "failed");
    assert_eq!(
        done["reason"],
        "interrupted in the inject phase, before the drill ended; every injected service is back"
    );
    let last = journal.last().expect("events");
    assert_eq!(last["kind"], "run_finished");
    assert_eq!(last["outcome"], "interrupted");
    assert_eq!(last["left_down"], serde_json::json!([]));
    assert_eq!(
        last["services"]["dns"], "restored",
        "restored after the interrupt"
    );
    assert_eq!(injected(&journal), ["dns"]);
    assert!(rig.dir.path().join("dns.up").exists());
}
