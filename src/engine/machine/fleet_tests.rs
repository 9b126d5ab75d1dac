//! Fleets in the engine (SPEC "Fleets"): batches in host order, the canary's question, the
//! failure budget and its `not_run` hosts, degraded hosts, `min_healthy`, and a restore of a
//! partial service on its unhealthy hosts alone. No IO.

use super::testkit::*;
use crate::engine::effect::Effect;
use crate::engine::event::Input;
use crate::engine::machine::Engine;
use crate::engine::state::{Decision, HostStatus, Phase, ServiceState, Waiting};
use crate::runbook::fleet::{Fleet, HostCount};
use crate::runbook::model::{HostId, Step};

use Phase::{Check, Restore, Verify};

pub fn fleet(step: Step, batch: Option<HostCount>, canary: Option<usize>, max_fail: usize) -> Step {
    Step {
        fleet: Fleet {
            batch,
            canary,
            max_fail: HostCount::Hosts(max_fail),
        },
        ..step
    }
}

pub fn hosts(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("h{i:02}")).collect()
}

fn refs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

fn names(launches: &[crate::engine::event::Launch]) -> Vec<String> {
    launches.iter().map(|l| l.host.0.clone()).collect()
}

/// An engine whose service `a` (on `n` hosts) was checked down on every host; returns the
/// effects of the check's last result (the restore's first batch, or its question).
fn down(n: usize, restore: Step) -> (Engine, Vec<Effect>) {
    let h = hosts(n);
    let mut e = engine(vec![svc("a", 1, &refs(&h)).restore(restore)]);
    let fx = e.handle(Input::RunPlan);
    let mut last = Vec::new();
    for l in launches(&fx) {
        last = e.handle(fail(&l));
    }
    (e, last)
}

fn not_run(effects: &[Effect]) -> Vec<(Vec<HostId>, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::NotRun { hosts, reason, .. } => Some((hosts.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_batched_step_runs_batch_after_batch_in_host_order() {
    let (mut e, fx) = down(5, fleet(run("fix"), Some(HostCount::Hosts(2)), None, 0));
    let first = launches(&fx);
    assert_eq!(names(&first), ["h01", "h02"]);
    // The next batch waits for the whole batch, not for one host.
    assert!(launches(&e.handle(ok(&first[0]))).is_empty());
    let second = launches(&e.handle(ok(&first[1])));
    assert_eq!(names(&second), ["h03", "h04"]);
    e.handle(ok(&second[1]));
    let third = launches(&e.handle(ok(&second[0])));
    assert_eq!(names(&third), ["h05"]);
    let fx = e.handle(ok(&third[0]));
    assert!(launches(&fx).iter().all(|l| l.step.phase == Verify));
}

#[test]
fn a_percentage_batch_counts_the_step_s_hosts_rounding_up() {
    let (_, fx) = down(15, fleet(run("fix"), Some(HostCount::Percent(10)), None, 0));
    assert_eq!(names(&launches(&fx)), ["h01", "h02"]);
}

#[test]
fn past_the_budget_no_batch_starts_and_the_rest_are_not_run_with_the_reason() {
    let (mut e, fx) = down(6, fleet(run("fix"), Some(HostCount::Hosts(2)), None, 1));
    let first = launches(&fx);
    e.handle(fail(&first[0]));
    let fx = e.handle(fail(&first[1]));
    assert!(launches(&fx).is_empty(), "a batch started: {fx:?}");
    let reason = "failure budget exceeded: 2 of 6 hosts failed (max 1)";
    assert_eq!(
        not_run(&fx),
        vec![(
            ["h03", "h04", "h05", "h06"].map(HostId::new).to_vec(),
            reason.to_string()
        )]
    );
    assert_eq!(state(&e, "a"), ServiceState::Failed);
    assert!(reason_of(&e).contains(reason), "{}", reason_of(&e));
    let view = e.service(&sid("a")).expect("a");
    let statuses = &view.steps[&step_ref("a", Restore, 0)];
    assert_eq!(statuses[&HostId::new("h06")], HostStatus::NotRun);
}

fn reason_of(e: &Engine) -> String {
    reason(e, "a")
}

#[test]
fn failures_within_the_budget_finish_the_step_with_those_hosts_degraded() {
    let (mut e, fx) = down(4, fleet(run("fix"), Some(HostCount::Hosts(2)), None, 1));
    let first = launches(&fx);
    e.handle(ok(&first[0]));
    let second = launches(&e.handle(fail(&first[1])));
    assert_eq!(
        names(&second),
        ["h03", "h04"],
        "one failure is within max_fail 1"
    );
    e.handle(ok(&second[0]));
    let fx = e.handle(ok(&second[1]));
    assert!(not_run(&fx).is_empty());
    let all = drive(&mut e, fx, |_| true);
    assert_eq!(state(&e, "a"), ServiceState::Restored, "{all:?}");
    let view = e.service(&sid("a")).expect("a");
    assert_eq!(view.degraded, vec![HostId::new("h02")]);
    let reason = reason_of(&e);
    assert!(reason.contains("degraded: 1 of 4 hosts (h02)"), "{reason}");
    assert!(
        reason.contains("restore step 'fix' failed on 1 of 4 hosts within max_fail 1"),
        "{reason}"
    );
}

#[test]
fn a_canary_runs_alone_then_asks_before_the_rest() {
    let (mut e, fx) = down(5, fleet(run("fix"), Some(HostCount::Hosts(3)), Some(1), 0));
    let canary = launches(&fx);
    assert_eq!(names(&canary), ["h01"]);
    let fx = e.handle(ok(&canary[0]));
    assert!(launches(&fx).is_empty());
    let asked = fx.iter().find_map(|f| match f {
        Effect::AskApproval {
            commands, reason, ..
        } => Some((commands.len(), reason.clone())),
        _ => None,
    });
    assert_eq!(
        asked,
        Some((
            4,
            Some("canary ok on 1 host; run on the other 4?".to_string())
        ))
    );
    let Some(Waiting::Approval { hosts, .. }) = &e.service(&sid("a")).expect("a").waiting else {
        panic!("no question waiting");
    };
    assert_eq!(hosts.len(), 4);
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Restore, 0),
        decision: Decision::Approved,
    });
    assert_eq!(names(&launches(&fx)), ["h02", "h03", "h04"]);
}

#[test]
fn declining_after_the_canary_fails_the_service_and_the_rest_are_not_run() {
    let (mut e, fx) = down(3, fleet(run("fix"), None, Some(1), 0));
    e.handle(ok(&launches(&fx)[0]));
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Restore, 0),
        decision: Decision::Declined,
    });
    let nr = not_run(&fx);
    assert_eq!(nr.len(), 1);
    assert_eq!(nr[0].0, ["h02", "h03"].map(HostId::new).to_vec());
    assert_eq!(nr[0].1, "not approved after the canary on 1 host");
    assert_eq!(state(&e, "a"), ServiceState::Failed);
}

#[test]
fn a_canary_failing_past_the_budget_asks_nothing() {
    let (mut e, fx) = down(4, fleet(run("fix"), None, Some(2), 0));
    let canary = launches(&fx);
    e.handle(ok(&canary[0]));
    let fx = e.handle(fail(&canary[1]));
    assert!(!fx.iter().any(|f| matches!(f, Effect::AskApproval { .. })));
    assert_eq!(not_run(&fx)[0].0.len(), 2);
    assert_eq!(state(&e, "a"), ServiceState::Failed);
}

#[test]
fn min_healthy_makes_a_service_up_without_some_hosts_and_names_them_degraded() {
    let h = hosts(10);
    let mut a = svc("a", 1, &refs(&h)).restore(run("fix"));
    a.0.min_healthy = Some(HostCount::Hosts(9));
    let b = svc("b", 1, &["b1"]).deps(&["a"]).restore(run("fix"));
    let mut e = engine(vec![a, b]);
    let fx = e.handle(Input::RunPlan);
    let all = drive(&mut e, fx, |l| {
        !(l.host.as_str() == "h07" || (l.step.service.as_str() == "b" && l.step.phase == Check))
    });
    assert_eq!(state(&e, "a"), ServiceState::Healthy);
    assert_eq!(
        e.service(&sid("a")).expect("a").degraded,
        vec![HostId::new("h07")]
    );
    assert!(reason(&e, "a").contains("degraded: 1 of 10 hosts (h07); min_healthy 9"));
    // Its dependent restores: `a` is up.
    assert!(launches(&all).iter().any(|l| is(l, "b", Restore)));
    assert!(!launches(&all).iter().any(|l| is(l, "a", Restore)));
}

#[test]
fn below_min_healthy_a_service_is_partial_and_its_restore_runs_on_its_unhealthy_hosts_alone() {
    let h = hosts(10);
    let mut a = svc("a", 1, &refs(&h)).restore(run("fix"));
    a.0.min_healthy = Some(HostCount::Percent(90));
    let mut e = engine(vec![a]);
    let fx = e.handle(Input::RunPlan);
    let mut restores = Vec::new();
    for l in launches(&fx) {
        let bad = matches!(l.host.as_str(), "h03" | "h08");
        restores.extend(launches(&e.handle(if bad { fail(&l) } else { ok(&l) })));
    }
    assert_eq!(state(&e, "a"), ServiceState::Restoring);
    assert_eq!(names(&restores), ["h03", "h08"]);
}

#[test]
fn a_partial_service_without_min_healthy_restores_only_its_unhealthy_host() {
    let h = hosts(10);
    let mut e = engine(vec![svc("a", 1, &refs(&h)).restore(run("fix"))]);
    let fx = e.handle(Input::RunPlan);
    let mut restores = Vec::new();
    for l in launches(&fx) {
        let bad = l.host.as_str() == "h10";
        restores.extend(launches(&e.handle(if bad { fail(&l) } else { ok(&l) })));
    }
    assert_eq!(names(&restores), ["h10"]);
    // Verification checks every host again.
    let fx = e.handle(ok(&restores[0]));
    assert_eq!(launches(&fx).len(), 10);
}

#[test]
fn a_check_failing_on_a_host_outside_the_service_restores_every_host() {
    let mut probe = run("probe");
    probe.hosts = vec![HostId::new("operator")];
    let mut e = engine(vec![
        svc("a", 1, &["h1", "h2"])
            .checks(vec![run("local"), probe])
            .restore(run("fix")),
    ]);
    // `operator` is not among the hosts the testkit fills in; it is only this step's.
    let fx = e.handle(Input::RunPlan);
    let mut restores = Vec::new();
    for l in launches(&fx) {
        let bad = l.host.as_str() == "operator";
        restores.extend(launches(&e.handle(if bad { fail(&l) } else { ok(&l) })));
    }
    assert_eq!(names(&restores), ["h1", "h2"]);
}

#[test]
fn resume_after_a_budget_stop_runs_only_the_hosts_that_did_not_succeed_batch_by_batch() {
    let h = hosts(6);
    let step = fleet(run("fix"), Some(HostCount::Hosts(2)), None, 0);
    let mut e = engine(vec![svc("a", 1, &refs(&h)).restore(step)]);
    let facts = crate::engine::event::ResumeFacts {
        states: vec![(
            sid("a"),
            ServiceState::Failed,
            Some("failure budget exceeded".into()),
        )],
        restored_steps: ["h01", "h02", "h04"]
            .map(|x| (step_ref("a", Restore, 0), HostId::new(x)))
            .to_vec(),
        pending: Vec::new(),
    };
    let fx = e.resume(&facts);
    // The re-check finds every host down (say the service needs all of them).
    let mut fx: Vec<Effect> = launches(&fx)
        .iter()
        .flat_map(|l| e.handle(fail(l)))
        .collect();
    fx.extend(e.handle(Input::RunPlan));
    let first = launches(&fx);
    assert_eq!(names(&first), ["h03", "h05"]);
    e.handle(ok(&first[0]));
    let second = launches(&e.handle(ok(&first[1])));
    assert_eq!(names(&second), ["h06"]);
}

#[test]
fn a_canary_recorded_ok_before_a_stop_is_not_run_again_and_the_question_comes_at_once() {
    let h = hosts(6);
    let step = fleet(run("fix"), Some(HostCount::Hosts(2)), Some(2), 0);
    let mut e = engine(vec![svc("a", 1, &refs(&h)).restore(step)]);
    let facts = crate::engine::event::ResumeFacts {
        states: vec![(sid("a"), ServiceState::Restoring, None)],
        restored_steps: ["h01", "h02"]
            .map(|x| (step_ref("a", Restore, 0), HostId::new(x)))
            .to_vec(),
        pending: vec![step_ref("a", Restore, 0)],
    };
    let fx = e.resume(&facts);
    assert!(launches(&fx).is_empty(), "{fx:?}");
    let reason = fx.iter().find_map(|f| match f {
        Effect::AskApproval { reason, .. } => reason.clone(),
        _ => None,
    });
    assert_eq!(
        reason.as_deref(),
        Some("canary ok on 2 hosts (recorded before); run on the other 4?")
    );
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Restore, 0),
        decision: Decision::Approved,
    });
    assert_eq!(names(&launches(&fx)), ["h03", "h04"]);
}

/// Service `a` on `h01`…`h10`, down on every host, whose restore step (`max_fail = 2`) fails
/// on `h03` and `h07`; its verification answers `verify` per host. `b` (one host, down)
/// depends on it. Returns the engine once nothing is left to run.
fn budget_case(
    min_healthy: Option<HostCount>,
    verify: impl Fn(&str) -> Verdict,
) -> (Engine, Vec<Effect>) {
    let h = hosts(10);
    let mut a = svc("a", 1, &refs(&h)).restore(fleet(run("fix"), None, None, 2));
    a.0.min_healthy = min_healthy;
    let b = svc("b", 1, &["b1"]).deps(&["a"]).restore(run("fix"));
    settle(engine(vec![a, b]), |launch| {
        let host = launch.host.as_str();
        match (launch.step.service.as_str(), launch.step.phase) {
            (_, Check) => Verdict::Fails,
            ("a", Restore) if matches!(host, "h03" | "h07") => Verdict::Fails,
            ("a", Verify) => verify(host),
            _ => Verdict::Passes,
        }
    })
}

/// Run the plan, each step on each host answering `verdict`, until nothing is left to run.
fn settle(
    mut e: Engine,
    verdict: impl Fn(&crate::engine::event::Launch) -> Verdict,
) -> (Engine, Vec<Effect>) {
    let mut queue: std::collections::VecDeque<Effect> = e.handle(Input::RunPlan).into();
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let Some(effect) = queue.pop_front() else {
            return (e, seen);
        };
        if let Effect::Run { launch, .. } = &effect {
            queue.extend(e.handle(match verdict(launch) {
                Verdict::Passes => ok(launch),
                Verdict::Fails => fail(launch),
                Verdict::Unreachable => refused(launch),
            }));
        }
        seen.push(effect);
    }
    panic!("the run did not settle");
}

#[derive(Clone, Copy)]
enum Verdict {
    Passes,
    Fails,
    Unreachable,
}

/// `Fails` on the hosts named, `Passes` elsewhere.
fn failing_on(names: &'static [&'static str]) -> impl Fn(&str) -> Verdict {
    move |host| {
        if names.contains(&host) {
            Verdict::Fails
        } else {
            Verdict::Passes
        }
    }
}

#[test]
fn a_verification_failing_only_where_the_restore_failed_within_its_budget_leaves_the_service_up_degraded()
 {
    let (e, all) = budget_case(None, failing_on(&["h03", "h07"]));
    assert_eq!(state(&e, "a"), ServiceState::Restored, "{}", reason_of(&e));
    assert_eq!(
        e.service(&sid("a")).expect("a").degraded,
        ["h03", "h07"].map(HostId::new).to_vec()
    );
    // Each host named once, and why the verification did not fail the service.
    assert_eq!(
        reason_of(&e),
        "degraded: 2 of 10 hosts (h03, h07); restore step 'fix' failed on 2 of 10 hosts \
         within max_fail 2; verification failed there too, excused by max_fail"
    );
    // Its dependent starts.
    assert!(launches(&all).iter().any(|l| is(l, "b", Restore)));
    assert_eq!(state(&e, "b"), ServiceState::Restored);
}

#[test]
fn a_budget_as_large_as_the_service_never_leaves_it_up_with_no_host_passing() {
    // Both hosts may fail the restore (max_fail 2 of 2); both then fail the verification:
    // excused, the service would be up on no host at all.
    let a = svc("a", 1, &["h1", "h2"]).restore(fleet(run("fix"), None, None, 2));
    let b = svc("b", 1, &["b1"]).deps(&["a"]).restore(run("fix"));
    let (e, all) = settle(engine(vec![a, b]), |launch| {
        match (launch.step.service.as_str(), launch.step.phase) {
            ("a", Check | Restore | Verify) | ("b", Check) => Verdict::Fails,
            _ => Verdict::Passes,
        }
    });
    assert_eq!(state(&e, "a"), ServiceState::Failed, "{}", reason_of(&e));
    assert!(
        reason_of(&e).contains("no host of 'a' passed its verification"),
        "{}",
        reason_of(&e)
    );
    assert_eq!(state(&e, "b"), ServiceState::Blocked);
    assert!(!launches(&all).iter().any(|l| is(l, "b", Restore)));
    // One host passing is enough: the other stays excused, the service up without it.
    let a = svc("a", 1, &["h1", "h2"]).restore(fleet(run("fix"), None, None, 2));
    let (e, _) = settle(engine(vec![a]), |launch| {
        match (launch.step.phase, launch.host.as_str()) {
            (Check, _) | (Restore | Verify, "h2") => Verdict::Fails,
            _ => Verdict::Passes,
        }
    });
    assert_eq!(state(&e, "a"), ServiceState::Restored, "{}", reason_of(&e));
}

#[test]
fn a_verification_failing_on_one_of_the_excused_hosts_names_it() {
    let (e, _) = budget_case(None, failing_on(&["h07"]));
    assert_eq!(state(&e, "a"), ServiceState::Restored);
    assert_eq!(
        e.service(&sid("a")).expect("a").degraded,
        ["h03", "h07"].map(HostId::new).to_vec()
    );
    assert!(
        reason_of(&e).ends_with("; verification failed on h07 too, excused by max_fail"),
        "{}",
        reason_of(&e)
    );
}

#[test]
fn a_verification_failing_on_a_host_the_budget_did_not_excuse_fails_the_service() {
    let (e, all) = budget_case(None, failing_on(&["h03", "h05", "h07"]));
    assert_eq!(state(&e, "a"), ServiceState::Failed);
    // The reason names the host that failed it, not the excused ones.
    let reason = reason_of(&e);
    assert!(
        reason.starts_with("verification: check 'probe' failed on 'h05'"),
        "{reason}"
    );
    assert!(!reason.contains("(and"), "{reason}");
    assert_eq!(state(&e, "b"), ServiceState::Blocked);
    assert!(!launches(&all).iter().any(|l| is(l, "b", Restore)));
}

#[test]
fn with_min_healthy_set_the_count_decides_the_verification_even_on_excused_hosts() {
    // 8 hosts pass: below min_healthy 9, the budget does not hold the service up.
    let (e, _) = budget_case(Some(HostCount::Hosts(9)), failing_on(&["h03", "h07"]));
    assert_eq!(state(&e, "a"), ServiceState::Failed, "{}", reason_of(&e));
    assert_eq!(state(&e, "b"), ServiceState::Blocked);
    // At min_healthy 8 the same hosts leave it up, by the count.
    let (e, _) = budget_case(Some(HostCount::Hosts(8)), failing_on(&["h03", "h07"]));
    assert_eq!(state(&e, "a"), ServiceState::Restored);
    assert!(
        reason_of(&e).starts_with("degraded: 2 of 10 hosts (h03, h07); min_healthy 8"),
        "{}",
        reason_of(&e)
    );
}

#[test]
fn an_excused_host_unreachable_in_verification_is_degraded_any_other_leaves_the_service_unreachable()
 {
    let (e, _) = budget_case(None, |host| match host {
        "h03" => Verdict::Unreachable,
        "h07" => Verdict::Fails,
        _ => Verdict::Passes,
    });
    assert_eq!(state(&e, "a"), ServiceState::Restored, "{}", reason_of(&e));
    assert_eq!(
        e.service(&sid("a")).expect("a").degraded,
        ["h03", "h07"].map(HostId::new).to_vec()
    );
    let (e, _) = budget_case(None, |host| match host {
        "h03" => Verdict::Fails,
        "h04" => Verdict::Unreachable,
        _ => Verdict::Passes,
    });
    assert_eq!(state(&e, "a"), ServiceState::Unreachable);
    assert!(reason_of(&e).contains("'h04'"), "{}", reason_of(&e));
}

#[test]
fn a_later_check_excuses_nothing_and_restores_the_degraded_hosts_again() {
    let (mut e, _) = budget_case(None, failing_on(&["h03", "h07"]));
    assert_eq!(state(&e, "a"), ServiceState::Restored);
    let fx = e.handle(Input::Check(sid("a")));
    let mut after = Vec::new();
    for l in launches(&fx) {
        let bad = matches!(l.host.as_str(), "h03" | "h07");
        after.extend(e.handle(if bad { fail(&l) } else { ok(&l) }));
    }
    // Judged afresh: partial, not up, and restored again on those hosts alone.
    assert_eq!(
        changes(&after)[0],
        ("a".to_string(), ServiceState::Partial),
        "{after:?}"
    );
    assert_eq!(names(&launches(&after)), ["h03", "h07"]);
    assert!(launches(&after).iter().all(|l| is(l, "a", Restore)));
}

/// Service `a` on `h01`…`h10` (with `min_healthy`, if given), checked by `probe` on its
/// hosts and by `lb` on `operator`, a host outside its list; restored by `restore`.
fn behind_a_balancer(min_healthy: Option<HostCount>, restore: Step) -> Engine {
    let h = hosts(10);
    let mut lb = run("lb");
    lb.hosts = vec![HostId::new("operator")];
    let mut a = svc("a", 1, &refs(&h))
        .checks(vec![run("probe"), lb])
        .restore(restore);
    a.0.min_healthy = min_healthy;
    engine(vec![a])
}

/// The hosts `a`'s restore ran on, in the order launched.
fn restored_on(effects: &[Effect]) -> Vec<String> {
    names(
        &launches(effects)
            .into_iter()
            .filter(|l| is(l, "a", Restore))
            .collect::<Vec<_>>(),
    )
}

/// Checks fail on `bad`; restores and verification pass.
fn checks_fail_on(bad: &'static [&'static str]) -> impl Fn(&crate::engine::event::Launch) -> bool {
    move |l| l.step.phase != Check || !bad.contains(&l.host.as_str())
}

#[test]
fn a_service_up_without_a_host_restores_only_it_when_a_check_beyond_its_hosts_fails_later() {
    let mut e = behind_a_balancer(Some(HostCount::Hosts(9)), run("fix"));
    let fx = e.handle(Input::RunPlan);
    drive(&mut e, fx, checks_fail_on(&["h07"]));
    assert_eq!(state(&e, "a"), ServiceState::Healthy);
    assert_eq!(
        e.service(&sid("a")).expect("a").degraded,
        [HostId::new("h07")]
    );
    // Later the balancer's check fails too: no host of the service is to blame alone, yet
    // the one it was up without is the one restored, not the nine it was up with.
    let fx = e.handle(Input::Check(sid("a")));
    let all = drive(&mut e, fx, checks_fail_on(&["h07", "operator"]));
    assert_eq!(restored_on(&all), ["h07"]);
    assert_eq!(state(&e, "a"), ServiceState::Restored, "{}", reason_of(&e));
    // Verified on every host: nothing is kept, so the next such failure restores them all.
    assert!(e.service(&sid("a")).expect("a").degraded.is_empty());
    let fx = e.handle(Input::Check(sid("a")));
    let all = drive(&mut e, fx, checks_fail_on(&["h02", "operator"]));
    assert_eq!(restored_on(&all), hosts(10));
}

#[test]
fn hosts_a_restore_left_degraded_within_max_fail_are_its_only_targets_when_restored_later() {
    let mut e = behind_a_balancer(None, fleet(run("fix"), None, None, 2));
    let fx = e.handle(Input::RunPlan);
    let degraded = ["h03", "h07"];
    let all = drive(&mut e, fx, |l| match l.step.phase {
        Check => false,
        _ => !degraded.contains(&l.host.as_str()),
    });
    // Down everywhere, the balancer too: the first restore runs on every host.
    assert_eq!(restored_on(&all), hosts(10));
    assert_eq!(state(&e, "a"), ServiceState::Restored, "{}", reason_of(&e));
    assert_eq!(
        e.service(&sid("a")).expect("a").degraded,
        degraded.map(HostId::new).to_vec()
    );
    // Asked again after a check failing on them and on the balancer: those two alone, the
    // eight where the restore succeeded are not run again.
    let fx = e.handle(Input::Check(sid("a")));
    let all = drive(&mut e, fx, checks_fail_on(&["h03", "h07", "operator"]));
    assert_eq!(restored_on(&all), ["h03", "h07"]);
}
