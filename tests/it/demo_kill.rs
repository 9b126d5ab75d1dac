//! The demo's simulated services stop with the `bringup demo` process, however it dies:
//! `kill -9` leaves it no chance to tear anything down, yet within 2 s no simulated service
//! of its folder is left running. The demo runs in a private tmux server (it needs a terminal).

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

use crate::support::tmux::Tmux;

/// Each process's arguments, by pid.
fn processes() -> Vec<(i32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, args))
        })
        .collect()
}

/// Simulated services (`__demo-svc serve … --dir DIR`) running out of the demo folder `dir`.
fn services(dir: &Path) -> Vec<i32> {
    let dir = dir.to_string_lossy().into_owned();
    processes()
        .into_iter()
        .filter(|(_, a)| {
            a.windows(2)
                .any(|w| w[0] == "__demo-svc" && w[1] == "serve")
                && a.contains(&dir)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Poll until `done` holds; false after `limit`.
fn within(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn kill_9_of_the_demo_leaves_no_simulated_service_running_within_2_s() {
    crate::require!(Tmux);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("dc");
    let journal = tmp.path().join("kill9.jsonl");
    // A drill brings every simulated service up before the TUI opens.
    let command = format!(
        "'{}' demo --drill --dir '{}' --journal '{}' --operator k9; sleep 60",
        cargo_bin("bringup").display(),
        dir.display(),
        journal.display()
    );
    let _tmux = Tmux::start("kill9", &command);
    assert!(
        within(Duration::from_secs(60), || services(&dir).len() >= 11),
        "the drill's services did not come up: {:?}",
        services(&dir)
    );
    let journal_arg = journal.to_string_lossy().into_owned();
    let demo = processes()
        .into_iter()
        .find(|(_, a)| {
            a.first().is_some_and(|p| p.ends_with("bringup"))
                && a.iter().any(|x| x == "demo")
                && a.contains(&journal_arg)
        })
        .map(|(pid, _)| pid)
        .expect("bringup demo is running");
    let before = services(&dir);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(demo),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    assert!(
        within(Duration::from_secs(2), || services(&dir).is_empty()),
        "still running 2 s after kill -9 of the demo: {:?} (were {before:?})",
        services(&dir)
    );
}
