//! `bringup undo` against real OpenSSH servers on loopback: the declared undo of a restore
//! step runs on exactly the hosts where the step succeeded (a marker file per host), as a
//! continuation of a finished journal that verifies afterwards, and as a request to a run
//! still going, through its socket.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::events::read_journal;
use crate::support::rig::Rig;
use crate::support::run::{stderr, stdout};
use crate::support::wait::wait_for;
use serde_json::Value;

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_default()
}

/// `vip` on h0, h1, h2: its check passes once `vip-up` exists; its restore "move the VIP"
/// succeeds on h0 and h1 and fails on h2, and its undo leaves `undone.HOST` behind.
/// `extra` is appended (more services).
fn rig(extra: &str) -> Rig {
    let rig = Rig::ssh(3);
    let s = rig.state.display();
    let text = rig.head("", "")
        + &format!(
            "[[service]]\nid = \"vip\"\nhosts = [\"h0\", \"h1\", \"h2\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {s}/vip-up\"\n\n\
[[service.restore]]\nname = \"move the VIP\"\n\
run = \"test \\\"{{{{host}}}}\\\" != h2 && touch {s}/moved.{{{{host}}}}\"\n\
undo = \"rm {s}/moved.{{{{host}}}} && touch {s}/undone.{{{{host}}}}\"\n\n{extra}"
        );
    rig.write_runbook(&text);
    rig
}

fn undo_hosts(events: &[Value]) -> Vec<String> {
    let mut hosts: Vec<String> = events
        .iter()
        .filter(|e| field(e, "kind") == "step_started" && field(e, "phase") == "undo")
        .map(|e| field(e, "host").to_string())
        .collect();
    hosts.sort();
    hosts
}

fn undo(rig: &Rig, args: &[&str]) -> std::process::Output {
    let mut cmd = rig.bringup();
    cmd.arg("undo").arg(&rig.journal).args(args);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("bringup undo runs")
}

#[test]
fn over_ssh_undo_of_a_finished_journal_runs_on_the_hosts_that_ran_and_the_journal_verifies() {
    crate::require!(Sshd);
    let rig = rig("");
    let out = rig
        .run(crate::support::rig::Resume::No)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "h2 failed: {}", stderr(&out));
    for h in ["h0", "h1"] {
        assert!(
            rig.state.join(format!("moved.{h}")).exists(),
            "moved on {h}"
        );
    }
    assert!(!rig.state.join("moved.h2").exists());

    let out = undo(&rig, &["--service", "vip", "--operator", "kim"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    for h in ["h0", "h1"] {
        assert!(
            rig.state.join(format!("undone.{h}")).exists(),
            "undone on {h}"
        );
        assert!(!rig.state.join(format!("moved.{h}")).exists());
    }
    assert!(
        !rig.state.join("undone.h2").exists(),
        "the undo ran where the step never succeeded"
    );

    let events = read_journal(&rig.journal);
    assert_eq!(undo_hosts(&events), vec!["h0", "h1"]);
    let resumed = events
        .iter()
        .find(|e| field(e, "kind") == "resumed")
        .expect("continued with a resumed record");
    assert_eq!(field(resumed, "operator"), "kim");
    assert_eq!(field(resumed, "reason"), "undo");
    assert!(events.iter().any(|e| field(e, "kind") == "operator_action"
        && field(e, "action") == "undo"
        && field(e, "operator") == "kim"));
    let states: Vec<&str> = events
        .iter()
        .filter(|e| field(e, "kind") == "service_state" && field(e, "service") == "vip")
        .map(|e| field(e, "to"))
        .collect();
    let at = states.iter().position(|s| *s == "undone").expect("undone");
    assert_eq!(states.get(at + 1), Some(&"checking"), "{states:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| field(e, "kind") == "run_finished")
            .count(),
        2,
        "the continuation ends as a run does"
    );

    let verified = rig.verify();
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    let report = rig.export("markdown").output().expect("export");
    let report = stdout(&report);
    assert!(
        report.contains("Rolled back: vip: 'move the VIP' on h0, h1 (asked by kim)"),
        "{report}"
    );
    assert!(
        report.contains("undo 'move the VIP'"),
        "the timeline shows the undo:\n{report}"
    );

    // Taken back already: a second undo has nothing to do, and says so.
    let again = undo(&rig, &["--service", "vip"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("nothing was undone"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn undo_refuses_a_changed_runbook_unless_forced() {
    crate::require!(Sshd);
    let rig = rig("");
    let out = rig
        .run(crate::support::rig::Resume::No)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = std::fs::read_to_string(&rig.runbook).expect("runbook");
    std::fs::write(&rig.runbook, format!("{text}\n# edited\n")).expect("edit");
    let out = undo(&rig, &["--service", "vip"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert!(!rig.state.join("undone.h0").exists());
    let out = undo(&rig, &["--service", "vip", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(rig.state.join("undone.h0").exists());
}

#[test]
fn over_ssh_undo_of_a_running_run_is_a_request_its_process_carries_out() {
    crate::require!(Sshd);
    // A second service waits for an approval, so the run stays up.
    let waiting = "[[service]]\nid = \"gate\"\nhosts = [\"h0\"]\n\n[[service.check]]\nname = \"up\"\nrun = \"false\"\n\n\
[[service.restore]]\nname = \"open the gate\"\nrun = \"true\"\nconfirm = true\n\n";
    let rig = rig(waiting);
    let mut child = rig
        .lab()
        .run_command(&["--wait-for-operators"], &rig.journal, &rig.runbook)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    // The gate waits, and the VIP's restore has ended (failed on h2).
    let asked = |j: &Path| {
        let events = if j.exists() {
            read_journal(j)
        } else {
            Vec::new()
        };
        events
            .iter()
            .any(|e| field(e, "kind") == "asked" && field(e, "service") == "gate")
            && events.iter().any(|e| {
                field(e, "kind") == "service_state"
                    && field(e, "service") == "vip"
                    && field(e, "to") == "failed"
            })
    };
    wait_for("the gate to be asked", Duration::from_secs(60), || {
        asked(&rig.journal)
    });
    let out = undo(&rig, &["--service", "vip", "--operator", "lee"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for("the undo on h0 and h1", Duration::from_secs(30), || {
        rig.state.join("undone.h0").exists() && rig.state.join("undone.h1").exists()
    });
    wait_for("vip undone", Duration::from_secs(30), || {
        read_journal(&rig.journal).iter().any(|e| {
            field(e, "kind") == "service_state"
                && field(e, "service") == "vip"
                && field(e, "to") == "undone"
        })
    });
    let events = read_journal(&rig.journal);
    assert_eq!(undo_hosts(&events), vec!["h0", "h1"]);
    assert!(events.iter().any(|e| field(e, "kind") == "operator_action"
        && field(e, "action") == "undo"
        && field(e, "operator") == "lee"));
    assert!(
        !events.iter().any(|e| field(e, "kind") == "resumed"),
        "a running run is not continued, it is asked"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn over_ssh_a_cascade_undo_is_told_as_the_operators_for_the_dependents_it_took_back_first() {
    crate::require!(Sshd);
    let rig = Rig::ssh(1);
    let s = rig.state.display();
    let service = |id: &str, tier: u32, deps: &str| {
        format!(
            "[[service]]\nid = \"{id}\"\ntier = {tier}\nhosts = [\"h0\"]\n{deps}\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {s}/{id}.up\"\n\n\
[[service.restore]]\nname = \"start {id}\"\nrun = \"touch {s}/{id}.up\"\n\
undo = \"rm {s}/{id}.up\"\n\n"
        )
    };
    let text =
        rig.head("", "") + &service("db", 1, "") + &service("web", 2, "depends_on = [\"db\"]\n");
    rig.write_runbook(&text);
    let out = rig
        .run(crate::support::rig::Resume::No)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = undo(&rig, &["--service", "db", "--cascade", "--operator", "kim"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!rig.state.join("web.up").exists() && !rig.state.join("db.up").exists());

    let report = rig.export("markdown").output().expect("export");
    let report = stdout(&report);
    // web went first, asked by kim's undo of db: not its own on_fail.
    let web = report
        .find("Rolled back: web: 'start web' on h0 (asked by kim).")
        .unwrap_or_else(|| panic!("web told as kim's:\n{report}"));
    let db = report
        .find("Rolled back: db: 'start db' on h0 (asked by kim).")
        .unwrap_or_else(|| panic!("db told as kim's:\n{report}"));
    assert!(web < db, "in the order they began:\n{report}");
    assert!(!report.contains("on_fail"), "{report}");
}
