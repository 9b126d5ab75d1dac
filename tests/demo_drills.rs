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
