//! Fleets against real OpenSSH servers on loopback (SPEC "Fleets"): a restore step with
//! `batch` on 40 endpoints (3 sshd, one port per host) never has more than `batch` hosts
//! running at once, measured from the times the command itself writes on each host; a failure
//! budget stops new batches, the hosts never run are journaled `not_run` with the reason, and
//! `--resume` then runs only the hosts that did not succeed, batch by batch; within the
//! budget, a verification failing on the hosts the restore failed on leaves the service up
//! with them degraded.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::rig::{Resume, Rig};
use crate::support::sshd::{Sshd, append};

const HOSTS: usize = 40;

/// 40 hosts `h01`…`h40`, each on its own sshd port (16 on the rig's sshd, 12 on each of two
/// more), every key trusted; one service `fleet` on all of them whose check passes once the
/// restore left `done-HOST`, and whose restore `step_keys` writes `HOST.log` (a start and an
/// end time in nanoseconds), fails on hosts listed in `fail-list`, and leaves `done-HOST`.
struct Fleet {
    rig: Rig,
    _more: Vec<Sshd>,
}

impl Fleet {
    fn new(step_keys: &str) -> Fleet {
        let rig = Rig::ssh(16);
        let more = vec![rig.lab().sshd(12), rig.lab().sshd(12)];
        let known = rig.lab().path(".ssh/known_hosts");
        for sshd in &more {
            append(&known, &sshd.known_hosts_lines());
        }
        let ports: Vec<u16> = std::iter::once(rig.sshd())
            .chain(&more)
            .flat_map(|s| s.ports.clone())
            .collect();
        assert_eq!(ports.len(), HOSTS);
        let mut text = format!(
            "[runbook]\nname = \"fleet\"\n\n[defaults]\nuser = \"{}\"\ntimeout = \"30s\"\nconcurrency = 64\n\n",
            crate::support::sshd::current_user()
        );
        for (i, port) in ports.iter().enumerate() {
            text.push_str(&rig.host_toml(&format!("h{:02}", i + 1), *port));
        }
        let state = rig.state.display().to_string();
        let list: Vec<String> = (1..=HOSTS).map(|i| format!("\"h{i:02}\"")).collect();
        let _ = write!(
            text,
            "[[service]]\nid = \"fleet\"\nhosts = [{}]\n\
             [[service.check]]\nname = \"up\"\nrun = \"test -e {state}/done-{{{{host}}}}\"\n\
             [[service.restore]]\nname = \"start\"\n{step_keys}\n\
             run = \"echo start $(date +%s%N) >> {state}/{{{{host}}}}.log; sleep 0.3; \
             if grep -qx {{{{host}}}} {state}/fail-list 2>/dev/null; then echo end $(date +%s%N) >> {state}/{{{{host}}}}.log; exit 1; fi; \
             echo end $(date +%s%N) >> {state}/{{{{host}}}}.log; touch {state}/done-{{{{host}}}}\"\n",
            list.join(", ")
        );
        rig.write_runbook(&text);
        Fleet { rig, _more: more }
    }

    fn fail_on(&self, hosts: &[&str]) {
        fs::write(
            self.rig.state_file("fail-list"),
            format!("{}\n", hosts.join("\n")),
        )
        .expect("write fail-list");
    }

    /// Per host, the (start, end) times of each run of the command there.
    fn runs(&self) -> Vec<(String, Vec<(u128, u128)>)> {
        (1..=HOSTS)
            .map(|i| {
                let host = format!("h{i:02}");
                (
                    host.clone(),
                    runs_in(&self.rig.state_file(&format!("{host}.log"))),
                )
            })
            .collect()
    }
}

fn runs_in(log: &Path) -> Vec<(u128, u128)> {
    let text = fs::read_to_string(log).unwrap_or_default();
    let mut runs = Vec::new();
    let mut start = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(what), Some(t)) = (words.next(), words.next()) else {
            continue;
        };
        let t: u128 = t.parse().expect("a time in ns");
        match what {
            "start" => start = Some(t),
            _ => runs.push((start.take().expect("an end after a start"), t)),
        }
    }
    runs
}

/// The most runs that overlapped in time.
fn max_overlap(runs: &[(u128, u128)]) -> usize {
    let mut edges: Vec<(u128, i32)> = runs.iter().flat_map(|(s, e)| [(*s, 1), (*e, -1)]).collect();
    // An end before a start at the same instant: touching is not overlapping.
    edges.sort_by_key(|(t, d)| (*t, *d));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

fn restore_finishes(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "step_finished" && e["phase"] == "restore")
        .collect()
}

#[test]
fn a_batched_restore_on_40_hosts_never_runs_more_than_the_batch_at_once() {
    crate::require!(Sshd);
    let fleet = Fleet::new("batch = \"20%\"");
    let out = fleet.rig.run(Resume::No).output().expect("bringup runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = fleet.runs();
    assert!(
        runs.iter().all(|(_, r)| r.len() == 1),
        "once on every host: {runs:?}"
    );
    let all: Vec<(u128, u128)> = runs.iter().flat_map(|(_, r)| r.clone()).collect();
    let most = max_overlap(&all);
    assert!(most <= 8, "{most} hosts ran at once with batch = 20% of 40");
    assert!(
        most >= 2,
        "the batch ran its hosts together ({most} at most)"
    );
    // Batches in the order of the service's hosts: h09's run starts after h08's ended.
    let at = |h: usize| runs[h - 1].1[0];
    assert!(at(9).0 >= at(8).1 && at(17).0 >= at(16).1, "{runs:?}");
}

#[test]
fn past_the_failure_budget_no_batch_starts_and_resume_runs_only_the_hosts_that_did_not_succeed() {
    crate::require!(Sshd);
    let fleet = Fleet::new("batch = 5\nmax_fail = 2");
    fleet.fail_on(&["h03", "h07", "h12"]);
    let out = fleet.rig.run(Resume::No).output().expect("bringup runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ran: Vec<String> = fleet
        .runs()
        .into_iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(h, _)| h)
        .collect();
    let first_three: Vec<String> = (1..=15).map(|i| format!("h{i:02}")).collect();
    assert_eq!(
        ran, first_three,
        "the third failure (in the third batch) stops the step"
    );
    let events = fleet.rig.events();
    let finished = restore_finishes(&events);
    let not_run: Vec<&&Value> = finished
        .iter()
        .filter(|e| e["outcome"] == "not_run")
        .collect();
    assert_eq!(not_run.len(), 25, "every host never run is journaled");
    assert!(
        not_run
            .iter()
            .all(|e| e["error"] == "failure budget exceeded: 3 of 40 hosts failed (max 2)")
    );
    assert_eq!(not_run[0]["host"], "h16");
    let last_state = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "service_state")
        .expect("a state");
    assert_eq!(last_state["to"], "failed");
    // The post-mortem: one action item for the hosts never run; "What failed" lists failures.
    let md = fleet.rig.export("markdown").output().expect("export runs");
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains("Restore step 'start' of 'fleet' was not run on 25 hosts (h16, h17, h18, h19, h20, h21, h22, h23, h24, h25, …): failure budget exceeded: 3 of 40 hosts failed (max 2); run it there with --resume"),
        "{md}"
    );
    assert!(!md.contains("on h16: not_run"), "{md}");

    // The hosts are fixed; a resumed run finishes the step where it did not succeed.
    fleet.fail_on(&[]);
    let out = fleet
        .rig
        .run(Resume::Yes)
        .output()
        .expect("bringup resumes");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = fleet.runs();
    for (host, r) in &runs {
        let expected = if ["h03", "h07", "h12"].contains(&host.as_str()) {
            2
        } else {
            1
        };
        assert_eq!(r.len(), expected, "{host} ran {} times", r.len());
    }
    // The first run ran h01..h15 once each; everything after the last of those ended is
    // the resumed run.
    let first_run_ended = runs[..15]
        .iter()
        .filter_map(|(_, r)| r.first().map(|(_, end)| *end))
        .max()
        .expect("the first run's hosts");
    let resumed: Vec<(u128, u128)> = runs
        .iter()
        .flat_map(|(_, r)| r.iter().copied())
        .filter(|(start, _)| *start > first_run_ended)
        .collect();
    assert_eq!(resumed.len(), 28, "the 3 failed and the 25 never run");
    assert!(
        max_overlap(&resumed) <= 5,
        "the resumed run keeps the batch"
    );
}

#[test]
fn within_the_failure_budget_a_verification_failing_on_the_same_hosts_leaves_the_service_up_degraded()
 {
    crate::require!(Sshd);
    // No min_healthy: the budget alone decides.
    let fleet = Fleet::new("batch = 10\nmax_fail = 2");
    fleet.fail_on(&["h05", "h31"]);
    let out = fleet.rig.run(Resume::No).output().expect("bringup runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = fleet.rig.events();
    // The verification did run and fail there (no `done-HOST` on those two).
    // In any order: the hosts' checks end as they end.
    let mut failed_verify: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "step_finished" && e["phase"] == "verify")
        .filter(|e| e["outcome"] != "ok")
        .filter_map(|e| e["host"].as_str())
        .collect();
    failed_verify.sort_unstable();
    assert_eq!(failed_verify, ["h05", "h31"], "{events:?}");
    let last_state = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "service_state")
        .expect("a state");
    assert_eq!(last_state["to"], "restored", "{last_state}");
    assert_eq!(
        last_state["reason"],
        "degraded: 2 of 40 hosts (h05, h31); restore step 'start' failed on 2 of 40 hosts \
         within max_fail 2; verification failed there too, excused by max_fail"
    );
    let md = fleet.rig.export("markdown").output().expect("export runs");
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains("Up with degraded: 2 of 40 hosts (h05, h31)"),
        "{md}"
    );
}
