//! A take-over is a hand-over (SPEC "One picture of the run"): `bringup run` waiting on a
//! manual step is killed with SIGKILL; `--resume` by another operator journals who took over
//! from whom and why, and asks the manual step again, though the service's check now passes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::local;
use crate::support::run::{read_journal, stderr, stdout};

const RUNBOOK: &str = r#"[runbook]
name = "vip"

[hosts.box]
transport = "local"

[[service]]
id = "vip"
name = "VIP"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f vip.up"
  [[service.restore]]
  name = "move the VIP"
  manual = "Move the VIP to the standby load balancer"
  [[service.restore]]
  name = "mark"
  run = "touch vip.up"
"#;

#[test]
fn a_killed_run_resumed_by_another_operator_records_the_hand_over_and_asks_the_manual_step_again() {
    let (dir, runbook, journal) = local::folder(RUNBOOK);
    // On a terminal (through `script`), so that the manual step is asked and waits.
    let command = format!(
        "{} run --journal {} {}",
        assert_cmd::cargo::cargo_bin("bringup").display(),
        journal.display(),
        runbook.display()
    );
    let mut script = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env("USER", "lee")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("script starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains(r#""kind":"asked""#)) {
        assert!(Instant::now() < deadline, "the manual step was never asked");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lock = journal.with_file_name("run.jsonl.lock");
    let pid: i32 = std::fs::read_to_string(&lock)
        .expect("the run's lock names its pid")
        .trim()
        .parse()
        .expect("a pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the executor");
    let _ = script.kill();
    let _ = script.wait();
    // Someone moved the VIP, or it came back alone: the check passes now. Nobody confirmed
    // the manual step, so it must not pass for done.
    std::fs::write(dir.path().join("vip.up"), "").expect("vip up");

    let out = local::output(
        local::bringup(dir.path())
            .args(["run", "--yes", "--operator", "kim", "--resume"])
            .arg(&journal)
            .arg(&runbook),
    );
    let events = read_journal(&journal);
    let at = events
        .iter()
        .position(|e| e["kind"] == "resumed")
        .expect("resumed journaled");
    let resumed = &events[at];
    assert_eq!(resumed["operator"], "kim", "{resumed}");
    assert_eq!(resumed["identity"], "local", "{resumed}");
    assert_eq!(resumed["reason"], "crashed", "{resumed}");
    assert_eq!(resumed["previous"]["operator"], "lee", "{resumed}");
    assert_eq!(
        resumed["previous"]["pid"],
        Value::from(pid),
        "the killed executor's pid: {resumed}"
    );
    let after = &events[at..];
    assert!(
        after
            .iter()
            .any(|e| e["kind"] == "asked" && e["step"] == "move the VIP"),
        "the manual step is asked again after the take-over:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        !after
            .iter()
            .any(|e| e["kind"] == "service_state" && e["to"] == "restored"),
        "a passing check does not confirm the manual step: {after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|e| e["kind"] == "step_started" && e["step"] == "mark"),
        "nothing after the manual step ran: {after:?}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "with no terminal the service stays blocked:\n{}",
        stderr(&out)
    );

    let md = local::output(
        local::bringup(dir.path())
            .args(["export", "--format", "markdown"])
            .arg(&journal),
    );
    let md = stdout(&md);
    assert!(
        md.contains(&format!(
            "kim took over from lee (pid {pid}): its process died"
        )),
        "the post-mortem says who took over from whom and why:\n{md}"
    );
}
