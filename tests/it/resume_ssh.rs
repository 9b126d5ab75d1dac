//! `--resume` over a real OpenSSH server on loopback: a restore still running on the host
//! since bringup was killed (`kill -9`) is found by its marker and stopped before a second
//! copy starts; a service restored before the crash and broken since is checked again and
//! restored again only after an approval (`--yes`).

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::events::{kind, read_journal};
use crate::support::rig::Rig;
use crate::support::run::stderr;
use crate::support::sshd::current_user;
use serde_json::Value;

/// `web` (tier 0) restores at once; `slow` (tier 1) runs a 4 s restore that logs
/// `r-start PID` / `r-end PID`, and `overlap PID` if an earlier copy is still alive.
fn rig() -> Rig {
    let rig = Rig::ssh(1);
    let s = rig.state.display();
    rig.write_runbook(&format!(
        "[runbook]\nname = \"resume over ssh\"\n\n[defaults]\nuser = \"{user}\"\ntimeout = \"30s\"\n\n{host}\
[[service]]\nid = \"web\"\nname = \"Web\"\ntier = 0\nhosts = [\"h0\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {s}/web.up\"\n\n\
[[service.restore]]\nname = \"start web\"\nrun = \"echo web >> {s}/web.log; touch {s}/web.up\"\n\n\
[[service]]\nid = \"slow\"\nname = \"Slow\"\ntier = 1\nhosts = [\"h0\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {s}/slow.up\"\n\n\
[[service.restore]]\nname = \"start slowly\"\nrun = '''for p in $(cat {s}/pids 2>/dev/null); do kill -0 $p 2>/dev/null && echo overlap $p >> {s}/log; done; echo $$ >> {s}/pids; echo r-start $$ >> {s}/log; sleep 4; echo r-end $$ >> {s}/log; touch {s}/slow.up'''\n\n",
        user = current_user(),
        host = rig.host_toml("h0", rig.sshd().ports[0]),
    ));
    rig
}

fn first_pid(state: &Path) -> Option<i32> {
    fs::read_to_string(state.join("log"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("r-start "))
        .and_then(|p| p.trim().parse().ok())
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_default()
}

/// Kill bringup with SIGKILL once the slow restore runs on the host.
fn crash_mid_restore(rig: &Rig) -> i32 {
    let mut child: Child =
        rig.lab()
            .spawn_journaled(&["--yes"], &rig.journal, &rig.runbook, Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(60);
    while first_pid(&rig.state).is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the slow restore never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL bringup");
    child.wait().expect("reap");
    first_pid(&rig.state).expect("first copy")
}

#[test]
fn over_ssh_a_resume_stops_the_orphan_then_rechecks_and_restores_with_approval() {
    crate::require!(Sshd);
    let rig = rig();
    let first = crash_mid_restore(&rig);
    assert!(alive(first), "the restore outlives bringup on the host");
    let before = read_journal(&rig.journal);
    assert!(
        before
            .iter()
            .any(|e| field(e, "service") == "web" && field(e, "to") == "restored")
    );
    fs::remove_file(rig.state.join("web.up")).expect("break web");

    let out = rig
        .bringup()
        .arg("run")
        .arg("--yes")
        .arg("--resume")
        .arg(&rig.journal)
        .arg(&rig.runbook)
        .output()
        .expect("resume");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("still running"), "{}", stderr(&out));
    assert!(!alive(first), "the orphan was stopped");

    let log = fs::read_to_string(rig.state.join("log")).expect("log");
    assert!(!log.contains("overlap"), "two copies ran at once:\n{log}");
    assert_eq!(log.lines().filter(|l| l.starts_with("r-start")).count(), 2);
    assert!(!log.contains(&format!("r-end {first}")), "{log}");

    let events = read_journal(&rig.journal);
    let after = &events[before.len()..];
    let orphan = after
        .iter()
        .position(|e| kind(e) == "step_finished" && field(e, "step") == "start slowly")
        .expect("orphan journaled");
    assert!(field(&after[orphan], "error").contains("stopped on resume"));
    let first_start = after
        .iter()
        .position(|e| kind(e) == "step_started")
        .expect("something runs");
    assert!(
        orphan < first_start,
        "the orphan is settled before anything runs"
    );
    let approval = after
        .iter()
        .position(|e| kind(e) == "approval" && field(e, "step") == "start web")
        .expect("approval");
    assert_eq!(field(&after[approval], "decision"), "approved");
    assert_eq!(
        fs::read_to_string(rig.state.join("web.log")).expect("web log"),
        "web\nweb\n"
    );
    let end = events.last().expect("end");
    assert_eq!(end["services"]["web"], "restored");
    assert_eq!(end["services"]["slow"], "restored");
}
