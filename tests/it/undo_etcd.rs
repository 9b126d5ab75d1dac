//! `bringup undo` on a shared run in a real etcd cluster on loopback: a finished run is taken
//! over with the runbook it keeps (no runbook argument), undone, and verifies afterwards.

use std::process::Command;

use crate::support::etcd::{Cluster, events};
use crate::support::run::{stderr, stdout};

fn bringup(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("bringup"));
    cmd.current_dir(dir)
        .env("XDG_STATE_HOME", dir)
        .env_remove("SSH_AUTH_SOCK");
    cmd
}

#[test]
fn undo_of_a_finished_shared_run_takes_it_over_with_the_runbook_it_keeps() {
    crate::require!(Etcd);
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let runbook = dir.path().join("rb.toml");
    std::fs::write(
        &runbook,
        format!(
            "[runbook]\nname = \"shared undo\"\n\n[hosts.h1]\ntransport = \"local\"\n\n\
[[service]]\nid = \"vip\"\nhosts = [\"h1\"]\n\n[[service.check]]\nname = \"up\"\nrun = \"test -f {d}/up\"\n\n\
[[service.restore]]\nname = \"move the VIP\"\nrun = \"touch {d}/up\"\nundo = \"rm {d}/up && touch {d}/undone\"\n"
        ),
    )
    .expect("runbook");
    let url = cluster.url("undo-shared");
    let out = bringup(dir.path())
        .args(["run", "--yes", "--journal", &url])
        .arg(&runbook)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The runbook file goes: the run keeps its own.
    std::fs::remove_file(&runbook).expect("rm runbook");

    let out = bringup(dir.path())
        .args(["undo", &url, "--service", "vip", "--operator", "kim"])
        .output()
        .expect("undo");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(dir.path().join("undone").exists(), "the undo ran");
    let events = events(&url);
    let resumed = events
        .iter()
        .find(|e| e["kind"] == "resumed")
        .expect("taken over");
    assert_eq!(resumed["reason"], "undo");
    assert_eq!(resumed["operator"], "kim");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "step_finished" && e["phase"] == "undo" && e["outcome"] == "ok")
    );
    let verified = bringup(dir.path())
        .args(["verify", &url])
        .output()
        .expect("verify");
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
}
