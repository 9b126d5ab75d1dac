//! The demo's drills on the simulated datacenter: its scenarios and guard validate, expand
//! and run on local hosts, and `bringup preflight` finds the staged datacenter ready.

use std::process::{Command, Stdio};

use assert_cmd::cargo::cargo_bin;
use bringup::demo::stage_with;
use bringup::runbook::{self, ServiceId};

fn ids(list: &[&str]) -> Vec<ServiceId> {
    list.iter().map(|s| ServiceId::new(*s)).collect()
}

#[test]
fn the_demo_has_a_messaging_outage_and_a_whole_datacenter_loss_in_plan_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let staged = stage_with(Some(&tmp.path().join("demo")), cargo_bin!("bringup")).expect("stage");
    let rb = runbook::load(&staged.runbook, &[]).expect("the staged demo validates");
    let outage = rb
        .drills
        .scenario("messaging-outage")
        .expect("messaging outage");
    assert_eq!(outage.name, "Messaging outage");
    assert_eq!(
        outage.services,
        ids(&["talk-messaging", "talk-channel", "push-notifications"])
    );
    let dc = rb
        .drills
        .scenario("dc-loss")
        .expect("whole datacenter lost");
    assert_eq!(dc.name, "Whole datacenter lost");
    let order: Vec<ServiceId> = runbook::Plan::build(&rb).order().cloned().collect();
    assert_eq!(dc.services, order, "every service, in plan order");
}

#[test]
fn the_demo_guard_passes_on_the_staged_datacenter_and_fails_once_it_is_gone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let staged = stage_with(Some(&tmp.path().join("demo")), cargo_bin!("bringup")).expect("stage");
    let rb = runbook::load(&staged.runbook, &[]).expect("the staged demo validates");
    let guard = rb.drills.guards.first().expect("a guard");
    let run = || {
        guard
            .step
            .hosts
            .iter()
            .map(|h| {
                assert_eq!(
                    rb.hosts[h].transport,
                    bringup::runbook::model::Transport::Local
                );
                Command::new("sh")
                    .args(["-c", &rb.expand_guard(guard, h).text])
                    .stdin(Stdio::null())
                    .status()
                    .expect("sh runs")
                    .success()
            })
            .collect::<Vec<bool>>()
    };
    assert!(
        run().iter().all(|ok| *ok),
        "the guard fails on a fresh demo"
    );
    std::fs::remove_dir_all(staged.dir.join("site")).expect("remove the site");
    assert!(run().iter().all(|ok| !*ok), "the guard still passes");
}

#[test]
fn preflight_finds_the_staged_demo_ready_without_changing_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let staged = stage_with(Some(&tmp.path().join("demo")), cargo_bin!("bringup")).expect("stage");
    let before = listing(&staged.dir);
    let out = Command::new(cargo_bin!("bringup"))
        .arg("preflight")
        .arg(&staged.runbook)
        .stdin(Stdio::null())
        .output()
        .expect("bringup runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("\nREADY: 11 hosts ready"), "{text}");
    assert_eq!(
        listing(&staged.dir),
        before,
        "preflight changed the datacenter"
    );
}

/// Every path under `dir` with its size, sorted.
fn listing(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let e = e.expect("entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path().display().to_string(), meta.len()));
        }
    }
    out.sort();
    out
}

/// The whole datacenter lost, headless, on the demo brought up for a drill: the baseline finds
/// every service healthy, all of them are injected in plan order and restored; with no
/// terminal to mark the VIP move done, messaging stays blocked and the drill says so.
#[test]
fn the_whole_datacenter_lost_drill_runs_on_the_demo_brought_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let staged = stage_with(Some(&tmp.path().join("demo")), cargo_bin!("bringup")).expect("stage");
    bringup::demo::bring_up(&staged, cargo_bin!("bringup")).expect("bring the datacenter up");
    let journal = tmp.path().join("drill.jsonl");
    let out = Command::new(cargo_bin!("bringup"))
        .args([
            "run",
            "--drill",
            "--scenario",
            "dc-loss",
            "--yes",
            "--journal",
        ])
        .arg(&journal)
        .arg(&staged.runbook)
        .stdin(Stdio::null())
        .output()
        .expect("bringup runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let events = crate::support::events::read_journal(&journal);
    let phases: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "drill_phase")
        .filter_map(|e| e["phase"].as_str())
        .collect();
    assert_eq!(
        phases,
        [
            "baseline", "inject", "detect", "restore", "cleanup", "finished"
        ],
        "{text}"
    );
    let rb = runbook::load(&staged.runbook, &[]).expect("valid");
    let order: Vec<String> = runbook::Plan::build(&rb)
        .order()
        .map(|s| s.as_str().to_string())
        .collect();
    let mut injected: Vec<String> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e["kind"] == "step_started" && e["phase"] == "inject")
    {
        let s = e["service"].as_str().expect("service").to_string();
        if !injected.contains(&s) {
            injected.push(s);
        }
    }
    assert_eq!(injected, order, "every service injected, in plan order");
    let reason = events
        .iter()
        .find(|e| e["kind"] == "drill_phase" && e["phase"] == "finished")
        .and_then(|e| e["reason"].as_str())
        .expect("reason");
    assert!(
        reason.contains("talk-messaging: not restored (it is blocked)"),
        "{reason}"
    );
    for up in [
        "dns",
        "database",
        "auth",
        "pc-login",
        "mail-smtp",
        "mail-imap",
    ] {
        assert!(
            reason.contains(&format!("{up} ")) && !reason.contains(&format!("{up}: ")),
            "{up} should be back: {reason}"
        );
    }
}
