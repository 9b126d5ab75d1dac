//! Fleets on the real binary's TUI in a private tmux server at 120×40 (SPEC "Fleets"): after
//! a canary the question is a dialog that shows the canary hosts' results (a failure within
//! `max_fail` among them); approved, the rest runs, and the service's row and steps pane name
//! the degraded host.

use std::fmt::Write as _;
use std::path::Path;

use assert_cmd::cargo::cargo_bin;

use crate::support::tmux::Tmux;

/// Six local hosts; `web`'s restore runs a canary of 2 in batches of 2 and tolerates one
/// failed host (h2 fails); `min_healthy = 5`, so web is up without h2.
fn runbook(dir: &Path) -> String {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let s = state.display();
    let mut text = String::from("[runbook]\nname = \"fleet canary\"\n\n");
    for i in 1..=6 {
        let _ = write!(text, "[hosts.h{i}]\ntransport = \"local\"\n");
    }
    let _ = write!(
        text,
        "\n[[service]]\nid = \"web\"\nhosts = [\"h1\", \"h2\", \"h3\", \"h4\", \"h5\", \"h6\"]\nmin_healthy = 5\n\
         [[service.check]]\nname = \"up\"\nrun = \"test -e {s}/done-{{{{host}}}}\"\n\
         [[service.restore]]\nname = \"start web\"\ncanary = 2\nbatch = 2\nmax_fail = 1\n\
         run = \"if [ {{{{host}}}} = h2 ]; then exit 3; fi; touch {s}/done-{{{{host}}}}\"\n"
    );
    text
}

#[test]
fn the_canary_question_is_a_dialog_with_the_canary_hosts_results_and_degraded_hosts_show() {
    crate::require!(Tmux);
    let dir = tempfile::tempdir().expect("temp dir");
    let rb = dir.path().join("fleet.toml");
    std::fs::write(&rb, runbook(dir.path())).expect("write runbook");
    let journal = dir.path().join("journal/run.jsonl");
    let command = format!(
        "'{}' open '{}' --journal '{}' --operator e2e; sleep 60",
        cargo_bin("bringup").display(),
        rb.display(),
        journal.display()
    );
    let tmux = Tmux::start("fleet", &command);
    tmux.wait_for("press a to restore in plan order", 30);
    tmux.keys("a");
    let screen = tmux.wait_for("Canary done: run on the rest?", 30);
    assert!(screen.contains("Canary: 2 hosts ran it"), "{screen}");
    assert!(
        screen.contains(
            "canary done on 2 hosts, 1 failed (h2) within max_fail 1; run on the other 4?"
        ),
        "{screen}"
    );
    let dialog_line = |host: &str, result: &str| {
        screen
            .lines()
            .any(|l| l.contains(&format!("  {host}  ")) && l.contains(result))
    };
    assert!(
        dialog_line("h2", "✗ failed  exit 3 ·"),
        "the failed canary host with its exit code:\n{screen}"
    );
    assert!(
        dialog_line("h1", "✓ ok  exit 0 ·"),
        "the canary host that passed:\n{screen}"
    );
    assert!(screen.contains("Runs on 4 hosts: h[3-6]"), "{screen}");
    tmux.keys("y");
    let screen = tmux.wait_for("◐ 1 degraded: h2", 30);
    assert!(screen.contains("restored"), "{screen}");
    assert!(
        screen.contains("◐1"),
        "the service's row counts its degraded host:\n{screen}"
    );
}
