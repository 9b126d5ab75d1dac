//! Engine behaviour, input by input, with no IO: states, order, retries, operators.

use std::collections::BTreeSet;
use std::time::Duration;

use super::testkit::*;
use crate::engine::effect::Effect;
use crate::engine::event::{Input, ResumeFacts};
use crate::engine::machine::{Engine, EngineOptions};
use crate::engine::state::{
    Decision, HostStatus, ManualOutcome, Phase, ServiceState, StepOutcome, Waiting,
};
use crate::runbook::model::HostId;

use Phase::{Check, Inject, Restore, Verify};
use ServiceState::{
    Blocked, Checking, Down, Failed, Healthy, Partial, Restored, Restoring, Skipped, Unreachable,
    Verifying,
};

fn check_only(services: Vec<Svc>) -> Engine {
    let options = EngineOptions {
        check_only: true,
        ..EngineOptions::default()
    };
    Engine::new(runbook(services), options)
}

#[test]
fn sweep_checks_every_service_at_once_before_any_restore() {
    let mut e = engine(vec![
        svc("a", 1, &["h1", "h2"]).restore(run("fix")),
        svc("b", 2, &["h3"]).restore(run("fix")),
        svc("c", 3, &["h4"]),
    ]);
    let fx = e.handle(Input::RunPlan);
    let runs = launches(&fx);
    assert_eq!(
        runs.len(),
        4,
        "one check per host of every service: {runs:?}"
    );
    assert!(runs.iter().all(|l| l.step.phase == Check));
    assert_eq!(
        changes(&fx),
        vec![
            ("a".into(), Checking),
            ("b".into(), Checking),
            ("c".into(), Checking)
        ]
    );
    // `a` is down but `c`'s check is still out: no restore may start before the sweep ends.
    let mut fx = Vec::new();
    for l in runs.iter().filter(|l| !is(l, "c", Check)) {
        fx.extend(e.handle(fail(l)));
    }
    assert!(
        launches(&fx).is_empty(),
        "restore started during the sweep: {fx:?}"
    );
    let c = runs.iter().find(|l| is(l, "c", Check)).expect("c checked");
    let fx = e.handle(ok(c));
    assert!(launches(&fx).iter().any(|l| is(l, "a", Restore)));
}

#[test]
fn healthy_service_is_never_restored() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let fx = e.handle(Input::RunPlan);
    let all = drive(&mut e, fx, |_| true);
    assert!(launches(&all).iter().all(|l| l.step.phase == Check));
    assert_eq!(state(&e, "a"), Healthy);
    assert_eq!(finished_count(&all), 1);
    // Even an operator cannot restore it while its checks pass.
    assert!(
        e.handle(Input::Restore {
            service: sid("a"),
            by_hand: true
        })
        .is_empty()
    );
    assert!(e.handle(Input::NextStep(sid("a"))).is_empty());
}

#[test]
fn tier_two_waits_for_a_slow_tier_one_service() {
    let mut e = engine(vec![
        svc("fast", 1, &["h1"]).restore(run("fix")),
        svc("slow", 1, &["h2"]).restore(run("fix")),
        svc("next", 2, &["h3"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let mut held = Vec::new();
    let mut queue = fx;
    let mut seen = Vec::new();
    while let Some(effect) = queue.pop() {
        if let Effect::Run { launch, .. } = &effect {
            if is(launch, "slow", Restore) {
                held.push(launch.clone());
            } else if launch.step.phase == Check {
                queue.extend(e.handle(fail(launch)));
            } else {
                queue.extend(e.handle(ok(launch)));
            }
        }
        seen.push(effect);
    }
    assert_eq!(state(&e, "fast"), Restored);
    assert_eq!(state(&e, "slow"), Restoring);
    assert_eq!(
        state(&e, "next"),
        Down,
        "tier 2 must wait for tier 1 to settle"
    );
    assert!(!launches(&seen).iter().any(|l| is(l, "next", Restore)));
    let fx = e.handle(ok(&held[0]));
    let verify = launches(&fx);
    assert!(verify.iter().all(|l| is(l, "slow", Verify)));
    let fx = e.handle(ok(&verify[0]));
    assert_eq!(state(&e, "slow"), Restored);
    assert!(launches(&fx).iter().any(|l| is(l, "next", Restore)));
}

#[test]
fn inside_a_tier_a_service_waits_for_its_dependency() {
    let mut e = engine(vec![
        svc("b", 1, &["h2"]).deps(&["a"]).restore(run("fix")),
        svc("a", 1, &["h1"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let mut fx2 = Vec::new();
    for l in launches(&fx) {
        fx2.extend(e.handle(fail(&l)));
    }
    let started = launches(&fx2);
    assert!(started.iter().all(|l| is(l, "a", Restore)), "{started:?}");
    assert_eq!(state(&e, "b"), Down);
    let all = drive(&mut e, fx2, |_| true);
    let order: Vec<_> = changes(&all)
        .into_iter()
        .filter(|(_, s)| *s == Restoring || *s == Restored)
        .collect();
    assert_eq!(
        order,
        vec![
            ("a".into(), Restoring),
            ("a".into(), Restored),
            ("b".into(), Restoring),
            ("b".into(), Restored)
        ]
    );
}

#[test]
fn failed_dependency_blocks_dependents_with_a_reason_naming_it() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("fix")),
        svc("b", 2, &["h2"]).deps(&["a"]).restore(run("fix")),
        svc("c", 2, &["h3"]).deps(&["b"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let all = drive(&mut e, fx, |_| false);
    assert_eq!(state(&e, "a"), Failed);
    assert!(
        reason(&e, "a").contains("restore step 'fix' failed on 'h1'"),
        "{}",
        reason(&e, "a")
    );
    assert_eq!(state(&e, "b"), Blocked);
    assert_eq!(reason(&e, "b"), "dependency 'a' is failed");
    assert_eq!(state(&e, "c"), Blocked);
    assert_eq!(reason(&e, "c"), "dependency 'b' is blocked");
    assert!(
        !launches(&all)
            .iter()
            .any(|l| l.step.service.0 != "a" && l.step.phase == Restore)
    );
    assert_eq!(finished_count(&all), 1);
}

#[test]
fn some_hosts_passing_means_partial() {
    let mut e = engine(vec![svc("a", 1, &["h1", "h2"])]);
    let fx = e.handle(Input::Check(sid("a")));
    let runs = launches(&fx);
    e.handle(ok(&runs[0]));
    let fx = e.handle(fail(&runs[1]));
    assert_eq!(changes(&fx), vec![("a".into(), Partial)]);
    assert!(reason(&e, "a").contains("check 'probe' failed on 'h2': exit 1, expected 0"));
}

#[test]
fn every_check_failing_means_down() {
    let mut e = check_only(vec![
        svc("a", 1, &["h1", "h2"]).checks(vec![run("x"), run("y")]),
    ]);
    let fx = e.handle(Input::RunPlan);
    let all = drive(&mut e, fx, |_| false);
    assert_eq!(state(&e, "a"), Down);
    assert!(
        reason(&e, "a").ends_with("(and 3 more)"),
        "{}",
        reason(&e, "a")
    );
    assert_eq!(finished_count(&all), 1);
}

#[test]
fn a_failed_attempt_retries_after_the_delay_then_succeeds() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix").retries(2))]);
    let fx = e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    let first = launches(&fx)[0].clone();
    assert_eq!((first.step.phase, first.attempt), (Restore, 1));
    let fx = e.handle(fail(&first));
    let [Effect::Sleep { timer, after }] = fx.as_slice() else {
        panic!("expected one Sleep, got {fx:?}");
    };
    assert_eq!(*after, Duration::from_secs(2));
    let view = e.service(&sid("a")).expect("a");
    assert_eq!(
        view.steps[&step_ref("a", Restore, 0)][&HostId::new("h1")],
        HostStatus::RetryWait { next_attempt: 2 }
    );
    let fx = e.handle(Input::Wake(*timer));
    let second = launches(&fx)[0].clone();
    assert_eq!(second.attempt, 2);
    let fx = e.handle(ok(&second));
    assert!(launches(&fx).iter().all(|l| l.step.phase == Verify));
    drive(&mut e, fx, |_| true);
    assert_eq!(state(&e, "a"), Restored);
    assert_eq!(e.service(&sid("a")).map(|v| v.restore_attempts), Some(1));
}

#[test]
fn retries_exhausted_fail_the_service() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix").retries(1))]);
    let fx = e.handle(Input::RunPlan);
    let all = drive(&mut e, fx, |_| false);
    let attempts: Vec<u32> = launches(&all)
        .iter()
        .filter(|l| l.step.phase == Restore)
        .map(|l| l.attempt)
        .collect();
    assert_eq!(attempts, vec![1, 2], "retries = 1 gives two attempts");
    assert_eq!(state(&e, "a"), Failed);
}

#[test]
fn verification_failure_fails_the_service() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let fx = e.handle(Input::RunPlan);
    let all = drive(&mut e, fx, |l| l.step.phase == Restore);
    assert!(changes(&all).contains(&("a".into(), Verifying)));
    assert_eq!(state(&e, "a"), Failed);
    assert!(
        reason(&e, "a").starts_with("verification: check 'probe'"),
        "{}",
        reason(&e, "a")
    );
}

#[test]
fn restore_steps_run_in_order_each_on_all_hosts_first() {
    let mut e = engine(vec![
        svc("a", 1, &["h1", "h2"])
            .restore(run("one"))
            .restore(run("two")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let mut fx2 = Vec::new();
    for l in launches(&fx) {
        fx2.extend(e.handle(fail(&l)));
    }
    let one = launches(&fx2);
    assert_eq!(one.len(), 2);
    assert!(one.iter().all(|l| is(l, "a", Restore) && l.step.index == 0));
    assert!(
        launches(&e.handle(ok(&one[0]))).is_empty(),
        "step two waits for every host"
    );
    let two = launches(&e.handle(ok(&one[1])));
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|l| l.step.index == 1));
}

#[test]
fn confirm_step_runs_only_after_approval_with_secrets_masked() {
    let rb = runbook_with_vars(
        vec![svc("a", 1, &["h1"]).restore(run("fix").command("deploy --token {{tok}}").confirm())],
        &[("tok", "s3cret")],
        &["tok"],
    );
    let mut e = Engine::new(rb, EngineOptions::default());
    let fx = e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    assert!(launches(&fx).is_empty(), "nothing runs before approval");
    let Some(Effect::AskApproval {
        step,
        commands,
        reason,
    }) = fx.iter().find(|e| matches!(e, Effect::AskApproval { .. }))
    else {
        panic!("no AskApproval in {fx:?}");
    };
    assert_eq!(
        reason, &None,
        "a confirm step asks by itself: no extra reason"
    );
    assert_eq!(commands[0].1.shown, "deploy --token ***");
    assert_eq!(
        commands[0].1.text,
        "__bu_tok=s3cret\ndeploy --token \"${__bu_tok}\""
    );
    let view = e.service(&sid("a")).expect("a");
    assert!(
        matches!(&view.waiting, Some(Waiting::Approval { commands, .. }) if commands[0].1 == "deploy --token ***")
    );
    assert_eq!(
        finished_count(&fx),
        0,
        "waiting for an operator is not finished"
    );
    let fx = e.handle(Input::Approval {
        step: step.clone(),
        decision: Decision::Approved,
    });
    assert_eq!(launches(&fx).len(), 1);
    assert!(e.service(&sid("a")).expect("a").waiting.is_none());
    // A second approval for the same step is not waiting any more.
    assert!(
        e.handle(Input::Approval {
            step: step.clone(),
            decision: Decision::Approved
        })
        .is_empty()
    );
}

#[test]
fn declined_confirm_step_fails_the_service() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix").confirm())]);
    let fx = e.handle(Input::RunPlan);
    e.handle(fail(&launches(&fx)[0]));
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Restore, 0),
        decision: Decision::Declined,
    });
    assert_eq!(changes(&fx), vec![("a".into(), Failed)]);
    assert!(reason(&e, "a").contains("declined by operator"));
    assert!(launches(&fx).is_empty());
    assert_eq!(finished_count(&fx), 1);
}

fn manual_service() -> Engine {
    engine(vec![
        svc("a", 1, &["h1"])
            .restore(manual("vip", "Move the VIP to {{host}}"))
            .restore(run("after")),
    ])
}

fn to_manual(e: &mut Engine) -> Vec<Effect> {
    let fx = e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    let Some(Effect::AskManual { instruction, .. }) =
        fx.iter().find(|e| matches!(e, Effect::AskManual { .. }))
    else {
        panic!("no AskManual in {fx:?}");
    };
    assert_eq!(instruction.shown, "Move the VIP to h1");
    assert!(matches!(
        e.service(&sid("a")).and_then(|v| v.waiting.clone()),
        Some(Waiting::Manual { .. })
    ));
    fx
}

#[test]
fn manual_step_done_continues_with_the_next_step() {
    let mut e = manual_service();
    to_manual(&mut e);
    let fx = e.handle(Input::Manual {
        step: step_ref("a", Restore, 0),
        outcome: ManualOutcome::Done,
    });
    let next = launches(&fx);
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].step.phase, next[0].step.index), (Restore, 1));
}

#[test]
fn manual_step_failed_fails_the_service() {
    let mut e = manual_service();
    to_manual(&mut e);
    let fx = e.handle(Input::Manual {
        step: step_ref("a", Restore, 0),
        outcome: ManualOutcome::Failed,
    });
    assert_eq!(changes(&fx), vec![("a".into(), Failed)]);
    assert!(reason(&e, "a").contains("marked failed by operator"));
}

#[test]
fn manual_step_without_an_operator_blocks_the_service() {
    let mut e = manual_service();
    to_manual(&mut e);
    // An answer for another step is ignored.
    assert!(
        e.handle(Input::ManualUnavailable {
            step: step_ref("a", Restore, 1)
        })
        .is_empty()
    );
    let fx = e.handle(Input::ManualUnavailable {
        step: step_ref("a", Restore, 0),
    });
    assert_eq!(changes(&fx), vec![("a".into(), Blocked)]);
    assert_eq!(reason(&e, "a"), "manual step 'vip' needs an operator");
    assert_eq!(finished_count(&fx), 1);
}

#[test]
fn skip_records_the_reason_and_blocks_dependents() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("fix").confirm()),
        svc("b", 2, &["h2"]).deps(&["a"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let all = drive(&mut e, fx, |_| false);
    assert!(all.iter().any(|e| matches!(e, Effect::AskApproval { .. })));
    let fx = e.handle(Input::Skip {
        service: sid("a"),
        reason: "netops owns it".into(),
    });
    assert_eq!(
        changes(&fx),
        vec![("a".into(), Skipped), ("b".into(), Blocked)]
    );
    assert_eq!(reason(&e, "a"), "netops owns it");
    assert_eq!(reason(&e, "b"), "dependency 'a' is skipped");
    assert!(e.service(&sid("a")).expect("a").waiting.is_none());
    assert_eq!(finished_count(&fx), 1);
}

#[test]
fn operator_restores_out_of_order_by_hand() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("fix")),
        svc("b", 2, &["h2"]).restore(run("fix")),
    ]);
    // No plan: the operator restores tier 2 before tier 1 was even checked.
    let fx = e.handle(Input::Restore {
        service: sid("b"),
        by_hand: false,
    });
    assert!(
        launches(&fx).iter().all(|l| is(l, "b", Check)),
        "checks come first"
    );
    let fx = e.handle(fail(&launches(&fx)[0]));
    assert!(changes(&fx).contains(&("b".into(), Restoring)));
    let view = e.service(&sid("b")).expect("b");
    assert!(
        view.by_hand,
        "out of the plan's order is recorded as by hand"
    );
    assert_eq!(view.reason.as_deref(), Some("started by hand"));
    assert_eq!(
        state(&e, "a"),
        ServiceState::Unknown,
        "the rest is untouched"
    );
}

#[test]
fn next_step_runs_one_restore_step_then_pauses() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("one")).restore(run("two")),
    ]);
    let fx = e.handle(Input::Check(sid("a")));
    e.handle(fail(&launches(&fx)[0]));
    let fx = e.handle(Input::NextStep(sid("a")));
    let one = launches(&fx);
    assert_eq!((one.len(), one[0].step.index), (1, 0));
    let fx = e.handle(ok(&one[0]));
    assert!(launches(&fx).is_empty(), "paused after one step");
    let view = e.service(&sid("a")).expect("a");
    assert_eq!(view.state, Restoring);
    assert_eq!(view.current, Some(step_ref("a", Restore, 1)));
    let fx = e.handle(Input::NextStep(sid("a")));
    let two = launches(&fx);
    assert_eq!(two[0].step.index, 1);
    let fx = e.handle(ok(&two[0]));
    assert!(
        launches(&fx).iter().all(|l| l.step.phase == Verify),
        "the last step goes on to verification"
    );
}

#[test]
fn inject_runs_its_steps_then_rechecks() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).inject(run("break"))]);
    let fx = e.handle(Input::Inject(sid("a")));
    let inj = launches(&fx);
    assert!(is(&inj[0], "a", Inject));
    let fx = e.handle(ok(&inj[0]));
    assert_eq!(changes(&fx), vec![("a".into(), Checking)]);
    let fx = e.handle(fail(&launches(&fx)[0]));
    assert_eq!(changes(&fx), vec![("a".into(), Down)]);
}

#[test]
fn a_resumed_inject_runs_only_the_steps_its_journal_never_started() {
    let mut e = engine(vec![
        svc("a", 1, &["h1", "h2"])
            .inject(run("stop"))
            .inject(run("corrupt"))
            .inject(run("unplug")),
    ]);
    e.recall_injects(&[step_ref("a", Inject, 0), step_ref("a", Restore, 1)]);
    let fx = e.handle(Input::Inject(sid("a")));
    let first = launches(&fx);
    assert!(
        first
            .iter()
            .all(|l| is(l, "a", Inject) && l.step.index == 1)
    );
    assert_eq!(first.len(), 2);
    let view = e.service(&sid("a")).expect("a");
    assert_eq!(
        view.steps[&step_ref("a", Inject, 0)][&HostId::new("h1")],
        HostStatus::NotRun
    );
    let mut next = Vec::new();
    for l in &first {
        next = e.handle(ok(l));
    }
    let second = launches(&next);
    assert!(second.iter().all(|l| l.step.index == 2), "{second:?}");
    let all = drive(&mut e, next, |_| true);
    assert!(
        launches(&all)
            .iter()
            .all(|l| l.step.phase != Inject || l.step.index == 2)
    );
    // Passed over once: an inject asked for later runs every step.
    let fx = e.handle(Input::Inject(sid("a")));
    assert!(launches(&fx).iter().all(|l| l.step.index == 0));
}

#[test]
fn resume_skips_recorded_restore_steps_and_rechecks_what_was_in_flight() {
    let mut e = engine(vec![
        svc("a", 1, &["h1", "h2"])
            .restore(run("one"))
            .restore(run("two")),
        svc("b", 1, &["h3"]).restore(run("fix")),
    ]);
    let facts = ResumeFacts {
        states: vec![
            (sid("a"), Restoring, None),
            (sid("b"), Failed, Some("boom".into())),
        ],
        restored_steps: vec![
            (step_ref("a", Restore, 0), HostId::new("h1")),
            (step_ref("a", Restore, 0), HostId::new("h2")),
            (step_ref("a", Restore, 1), HostId::new("h1")),
        ],
        pending: vec![],
    };
    let fx = e.resume(&facts);
    assert_eq!(
        changes(&fx),
        vec![("a".into(), Checking), ("b".into(), Checking)]
    );
    assert!(launches(&fx).iter().all(|l| l.step.phase == Check));
    let mut rest = e.handle(Input::RunPlan);
    assert!(launches(&rest).is_empty(), "checks first");
    for l in launches(&fx) {
        let passed = is(&l, "b", Check);
        rest.extend(e.handle(if passed { ok(&l) } else { fail(&l) }));
    }
    let restore = launches(&rest);
    assert_eq!(restore.len(), 1, "only step two on h2 is left: {restore:?}");
    assert_eq!((restore[0].step.index, restore[0].host.as_str()), (1, "h2"));
    assert!(
        !rest.iter().any(|e| matches!(e, Effect::AskApproval { .. })),
        "a never came up: finishing its restore asks nothing"
    );
    assert_eq!(
        state(&e, "b"),
        Healthy,
        "a failed service is checked again too"
    );
}

#[test]
fn resume_checks_restored_and_healthy_services_again_and_a_passing_one_stays_restored() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("fix")),
        svc("b", 1, &["h2"]).restore(run("fix")),
        svc("c", 1, &["h3"]).restore(run("fix")),
    ]);
    let fx = e.resume(&ResumeFacts {
        states: vec![
            (sid("a"), Restored, None),
            (sid("b"), Healthy, None),
            (sid("c"), Skipped, Some("not ours".into())),
        ],
        restored_steps: vec![(step_ref("a", Restore, 0), HostId::new("h1"))],
        pending: vec![],
    });
    let checked: Vec<_> = launches(&fx)
        .iter()
        .map(|l| l.step.service.to_string())
        .collect();
    assert_eq!(checked, vec!["a", "b"], "skipped stays the operator's call");
    let mut all = e.handle(Input::RunPlan);
    all.extend(fx);
    let all = drive(&mut e, all, |_| true);
    assert!(!launches(&all).iter().any(|l| l.step.phase == Restore));
    assert_eq!(state(&e, "a"), Restored);
    assert_eq!(state(&e, "b"), Healthy);
}

#[test]
fn a_service_recorded_restored_found_down_on_resume_reruns_recorded_steps_only_when_approved() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"])
            .restore(run("start"))
            .restore(run("warm")),
    ]);
    let fx = e.resume(&ResumeFacts {
        states: vec![(sid("a"), Restored, None)],
        restored_steps: vec![
            (step_ref("a", Restore, 0), HostId::new("h1")),
            (step_ref("a", Restore, 1), HostId::new("h1")),
        ],
        pending: vec![],
    });
    e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    assert_eq!(changes(&fx)[0], ("a".into(), Down), "a new outage");
    assert!(launches(&fx).is_empty(), "nothing runs before approval");
    let Some(Effect::AskApproval { step, reason, .. }) =
        fx.iter().find(|e| matches!(e, Effect::AskApproval { .. }))
    else {
        panic!("no AskApproval in {fx:?}");
    };
    assert_eq!(step, &step_ref("a", Restore, 0));
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.contains("ran ok before the run stopped")),
        "the operator is told why a step that needs no approval asks: {reason:?}"
    );
    let fx = e.handle(Input::Approval {
        step: step.clone(),
        decision: Decision::Approved,
    });
    let fx = e.handle(ok(&launches(&fx)[0]));
    let Some(Effect::AskApproval { step, .. }) =
        fx.iter().find(|e| matches!(e, Effect::AskApproval { .. }))
    else {
        panic!("the second recorded step asks too: {fx:?}");
    };
    let fx = e.handle(Input::Approval {
        step: step.clone(),
        decision: Decision::Approved,
    });
    let all = drive(&mut e, fx, |_| true);
    assert!(launches(&all).iter().any(|l| is(l, "a", Verify)));
    assert_eq!(state(&e, "a"), Restored);
}

#[test]
fn declining_a_recorded_step_after_a_new_outage_fails_the_service() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("start"))]);
    let fx = e.resume(&ResumeFacts {
        states: vec![(sid("a"), Healthy, None)],
        restored_steps: vec![(step_ref("a", Restore, 0), HostId::new("h1"))],
        pending: vec![],
    });
    e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    assert!(fx.iter().any(|e| matches!(e, Effect::AskApproval { .. })));
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Restore, 0),
        decision: Decision::Declined,
    });
    assert!(launches(&fx).is_empty());
    assert_eq!(state(&e, "a"), Failed);
}

#[test]
fn resumed_in_flight_service_whose_recheck_passes_is_restored() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let fx = e.resume(&ResumeFacts {
        states: vec![(sid("a"), Verifying, None)],
        restored_steps: vec![],
        pending: vec![],
    });
    let fx = e.handle(ok(&launches(&fx)[0]));
    assert_eq!(changes(&fx), vec![("a".into(), Restored)]);
}

#[test]
fn stop_starts_nothing_new_and_finishes_when_attempts_return() {
    let mut e = engine(vec![svc("a", 1, &["h1", "h2"]).restore(run("fix"))]);
    let fx = e.handle(Input::RunPlan);
    let runs = launches(&fx);
    let fx = e.handle(Input::Stop);
    assert!(fx.is_empty(), "two checks are still out");
    assert_eq!(finished_count(&e.handle(fail(&runs[0]))), 0);
    let fx = e.handle(fail(&runs[1]));
    assert!(launches(&fx).is_empty(), "no restore after Stop");
    assert_eq!(finished_count(&fx), 1);
    assert!(e.handle(Input::RunPlan).is_empty());
    assert!(e.handle(Input::Check(sid("a"))).is_empty());
}

#[test]
fn stop_when_idle_finishes_at_once_and_withdraws_questions() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix").confirm())]);
    let fx = e.handle(Input::RunPlan);
    e.handle(fail(&launches(&fx)[0]));
    assert!(e.service(&sid("a")).expect("a").waiting.is_some());
    let fx = e.handle(Input::Stop);
    assert_eq!(finished_count(&fx), 1);
    assert!(e.service(&sid("a")).expect("a").waiting.is_none());
    assert!(
        e.handle(Input::Approval {
            step: step_ref("a", Restore, 0),
            decision: Decision::Approved
        })
        .is_empty()
    );
}

#[test]
fn check_only_sweeps_then_finishes_without_restoring() {
    let mut e = check_only(vec![
        svc("a", 1, &["h1"]).restore(run("fix")),
        svc("b", 2, &["h2"]),
    ]);
    let fx = e.handle(Input::RunPlan);
    let all = drive(&mut e, fx, |l| l.step.service.0 == "b");
    assert!(launches(&all).iter().all(|l| l.step.phase == Check));
    let Some(Effect::Finished { services }) =
        all.iter().find(|e| matches!(e, Effect::Finished { .. }))
    else {
        panic!("no Finished");
    };
    assert_eq!(services, &vec![(sid("a"), Down), (sid("b"), Healthy)]);
    assert!(
        e.handle(Input::Restore {
            service: sid("a"),
            by_hand: true
        })
        .is_empty()
    );
}

#[test]
fn finished_is_emitted_exactly_once_and_late_inputs_are_ignored() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("fix")),
        svc("b", 2, &["h2"]),
    ]);
    let fx = e.handle(Input::RunPlan);
    let first = launches(&fx);
    let all = drive(&mut e, fx, |l| l.step.phase != Check);
    assert_eq!(finished_count(&all), 1);
    // Duplicates and strays after the end change nothing.
    assert!(e.handle(ok(&first[0])).is_empty());
    assert!(
        e.handle(Input::Wake(crate::engine::event::TimerId(999)))
            .is_empty()
    );
    assert!(e.handle(Input::RunPlan).is_empty());
    assert!(e.handle(Input::Check(sid("nope"))).is_empty());
    assert!(
        e.handle(Input::Manual {
            step: step_ref("a", Restore, 0),
            outcome: ManualOutcome::Done
        })
        .is_empty()
    );
}

#[test]
fn the_engine_judges_exit_codes_and_output_itself() {
    let mut expect_three = run("probe");
    expect_three.expect_exit = 3;
    let mut with_regex = run("body");
    with_regex.expect_output = Some(regex::Regex::new("ok").expect("regex"));
    let mut e = check_only(vec![
        svc("lies", 1, &["h1"]),
        svc("three", 1, &["h2"]).checks(vec![expect_three]),
        svc("regex", 1, &["h3"]).checks(vec![with_regex]),
    ]);
    let fx = e.handle(Input::RunPlan);
    for l in launches(&fx) {
        let input = match l.step.service.as_str() {
            // A driver that says Ok for exit 3 when 0 is expected does not make it pass.
            // "three" expects exit 3 and gets it.
            "lies" | "three" => exited(&l, StepOutcome::Ok, 3),
            // Ok and exit 0, but the output was never matched.
            _ => exited(&l, StepOutcome::Ok, 0),
        };
        e.handle(input);
    }
    assert_eq!(state(&e, "lies"), Down);
    assert!(reason(&e, "lies").contains("exit 3, expected 0"));
    assert_eq!(state(&e, "three"), Healthy);
    assert_eq!(state(&e, "regex"), Down);
    assert!(reason(&e, "regex").contains("output did not match 'ok'"));
    let status = &e.service(&sid("lies")).expect("lies").steps[&step_ref("lies", Check, 0)]
        [&HostId::new("h1")];
    assert!(matches!(
        status,
        HostStatus::Finished {
            outcome: StepOutcome::Failed,
            exit_code: Some(3),
            ..
        }
    ));
}

#[test]
fn only_checks_unselected_dependencies_and_leaves_them_out_of_finished() {
    let options = EngineOptions {
        only: BTreeSet::from([sid("mail")]),
        ..EngineOptions::default()
    };
    let mut e = Engine::new(
        runbook(vec![
            svc("auth", 1, &["h1"]).restore(run("fix")),
            svc("other", 1, &["h2"]),
            svc("mail", 2, &["h3"]).deps(&["auth"]).restore(run("fix")),
        ]),
        options,
    );
    let fx = e.handle(Input::RunPlan);
    let checked: BTreeSet<String> = launches(&fx)
        .iter()
        .map(|l| l.step.service.0.clone())
        .collect();
    assert_eq!(
        checked,
        BTreeSet::from(["auth".to_string(), "mail".to_string()])
    );
    let all = drive(&mut e, fx, |_| false);
    assert_eq!(state(&e, "auth"), Down, "not selected: never restored");
    assert_eq!(state(&e, "mail"), Blocked);
    assert_eq!(
        reason(&e, "mail"),
        "dependency 'auth' is down and not selected"
    );
    let Some(Effect::Finished { services }) =
        all.iter().find(|e| matches!(e, Effect::Finished { .. }))
    else {
        panic!("no Finished");
    };
    assert_eq!(services, &vec![(sid("mail"), Blocked)]);
}

#[test]
fn a_blocked_service_returns_when_its_dependency_is_restored_by_hand() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("fix")),
        svc("b", 2, &["h2"]).deps(&["a"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    drive(&mut e, fx, |l| {
        l.step.service.0 == "b" && l.step.phase != Check
    });
    assert_eq!((state(&e, "a"), state(&e, "b")), (Failed, Blocked));
    let fx = e.handle(Input::Restore {
        service: sid("a"),
        by_hand: true,
    });
    assert!(changes(&fx).contains(&("b".into(), Down)), "{fx:?}");
    let all = drive(&mut e, fx, |l| l.step.phase != Check);
    assert_eq!((state(&e, "a"), state(&e, "b")), (Restored, Restored));
    assert_eq!(e.service(&sid("a")).map(|v| v.restore_attempts), Some(2));
    assert_eq!(finished_count(&all), 1);
}

#[test]
fn a_service_without_restore_steps_goes_straight_to_verification() {
    // Often it only waited for a dependency: the re-check decides.
    let mut e = engine(vec![svc("a", 1, &["h1"])]);
    let fx = e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    assert_eq!(
        changes(&fx),
        vec![
            ("a".into(), Down),
            ("a".into(), Restoring),
            ("a".into(), Verifying)
        ]
    );
    e.handle(ok(&launches(&fx)[0]));
    assert_eq!(state(&e, "a"), Restored);
}

#[test]
fn restore_runs_down_services_of_the_first_tier_in_parallel() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("fix")),
        svc("b", 1, &["h2"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let mut fx2 = Vec::new();
    for l in launches(&fx) {
        fx2.extend(e.handle(fail(&l)));
    }
    let restoring: BTreeSet<String> = launches(&fx2)
        .iter()
        .filter(|l| l.step.phase == Restore)
        .map(|l| l.step.service.0.clone())
        .collect();
    assert_eq!(restoring.len(), 2);
    assert_eq!(state(&e, "a"), Restoring);
    assert_eq!(state(&e, "b"), Restoring);
}

#[test]
fn auto_off_starts_nothing_by_itself() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let fx = e.handle(Input::SetAuto(true));
    e.handle(Input::SetAuto(false));
    let fx = e.handle(fail(&launches(&fx)[0]));
    assert!(launches(&fx).is_empty(), "auto off: no restore");
    assert_eq!(state(&e, "a"), Down);
    let fx = e.handle(Input::SetAuto(true));
    assert!(launches(&fx).iter().any(|l| is(l, "a", Restore)));
}

#[test]
fn a_late_result_of_skipped_work_does_not_touch_newer_work() {
    let mut e = engine(vec![svc("a", 1, &["h1"])]);
    let old = launches(&e.handle(Input::Check(sid("a"))));
    e.handle(Input::Skip {
        service: sid("a"),
        reason: "later".into(),
    });
    let new = launches(&e.handle(Input::Check(sid("a"))));
    assert!(
        e.handle(fail(&old[0])).is_empty(),
        "the old attempt's result changes nothing"
    );
    let status =
        &e.service(&sid("a")).expect("a").steps[&step_ref("a", Check, 0)][&HostId::new("h1")];
    assert_eq!(status, &HostStatus::Running { attempt: 1 });
    let fx = e.handle(ok(&new[0]));
    assert_eq!(changes(&fx), vec![("a".into(), Healthy)]);
}

#[test]
fn manual_checks_are_asked_one_at_a_time_alongside_run_checks() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).checks(vec![
        run("probe"),
        manual("look", "Is the dashboard green?"),
        manual("call", "Call the vendor"),
    ])]);
    let fx = e.handle(Input::Check(sid("a")));
    let asks: Vec<_> = fx
        .iter()
        .filter(|e| matches!(e, Effect::AskManual { .. }))
        .collect();
    assert_eq!((launches(&fx).len(), asks.len()), (1, 1));
    e.handle(ok(&launches(&fx)[0]));
    assert_eq!(state(&e, "a"), Checking, "a manual check is still open");
    let fx = e.handle(Input::Manual {
        step: step_ref("a", Check, 1),
        outcome: ManualOutcome::Done,
    });
    assert!(matches!(fx.as_slice(), [Effect::AskManual { step, .. }] if step.index == 2));
    let fx = e.handle(Input::Manual {
        step: step_ref("a", Check, 2),
        outcome: ManualOutcome::Failed,
    });
    assert_eq!(changes(&fx), vec![("a".into(), Partial)]);
}

#[test]
fn operator_requests_for_a_busy_service_are_ignored() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"])
            .restore(run("fix"))
            .inject(run("break")),
    ]);
    let fx = e.handle(Input::Check(sid("a")));
    assert!(e.handle(Input::Check(sid("a"))).is_empty());
    assert!(e.handle(Input::Inject(sid("a"))).is_empty());
    assert!(
        e.handle(Input::Restore {
            service: sid("a"),
            by_hand: true
        })
        .is_empty()
    );
    assert!(e.handle(Input::NextStep(sid("a"))).is_empty());
    assert_eq!(launches(&fx).len(), 1);
}

#[test]
fn a_restore_failed_at_a_step_continues_from_that_step_when_retried() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(run("one")).restore(run("two")),
    ]);
    let fx = e.handle(Input::RunPlan);
    drive(&mut e, fx, |l| l.step.phase == Restore && l.step.index == 0);
    assert_eq!(state(&e, "a"), Failed);
    let failed_two = &e.service(&sid("a")).expect("a").steps[&step_ref("a", Restore, 1)];
    assert!(matches!(
        failed_two[0],
        HostStatus::Finished {
            outcome: StepOutcome::Failed,
            ..
        }
    ));
    let fx = e.handle(Input::Restore {
        service: sid("a"),
        by_hand: true,
    });
    let runs = launches(&fx);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].step.index, 1, "step one succeeded already");
    let view = e.service(&sid("a")).expect("a");
    let one = &view.steps[&step_ref("a", Restore, 0)][0];
    assert!(
        matches!(
            one,
            HostStatus::Finished {
                outcome: StepOutcome::Ok,
                ..
            }
        ),
        "{one:?}"
    );
}

#[test]
fn resumed_checking_service_is_checked_again_and_can_be_healthy() {
    let mut e = engine(vec![svc("a", 1, &["h1"]), svc("b", 1, &["h2"])]);
    let fx = e.resume(&ResumeFacts {
        states: vec![(sid("a"), Checking, None), (sid("b"), Healthy, None)],
        restored_steps: vec![],
        pending: vec![],
    });
    assert_eq!(launches(&fx).len(), 2, "both are checked again");
    let mut changed = Vec::new();
    for l in launches(&fx) {
        let fx = e.handle(ok(&l));
        assert_eq!(finished_count(&fx), 0, "the run itself has not started");
        changed.extend(changes(&fx));
    }
    assert_eq!(changed, vec![("a".into(), Healthy), ("b".into(), Healthy)]);
    let fx = e.handle(Input::RunPlan);
    assert!(launches(&fx).is_empty(), "settled services stay settled");
    assert_eq!(finished_count(&fx), 1);
}

#[test]
fn step_refs_name_runbook_steps_and_verify_names_a_check() {
    let e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    assert_eq!(
        e.step(&step_ref("a", Verify, 0)).map(|s| s.name.as_str()),
        Some("probe")
    );
    assert_eq!(
        e.step(&step_ref("a", Restore, 0)).map(|s| s.name.as_str()),
        Some("fix")
    );
    assert!(e.step(&step_ref("a", Restore, 1)).is_none());
    assert!(e.step(&step_ref("zz", Check, 0)).is_none());
}

#[test]
fn a_tier_starts_once_the_lower_tier_settled_failed_blocked_or_skipped() {
    let mut e = engine(vec![
        svc("broken", 1, &["h1"]).restore(run("fix")),
        svc("dependent", 1, &["h2"])
            .deps(&["broken"])
            .restore(run("fix")),
        svc("asking", 1, &["h3"]).restore(run("fix").confirm()),
        svc("next", 2, &["h4"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    // Every check fails; the restore of `broken` fails too, so verification never passes.
    let all = drive(&mut e, fx, |l| {
        is(l, "next", Restore) || is(l, "next", Verify)
    });
    assert_eq!(state(&e, "broken"), Failed);
    assert_eq!(state(&e, "dependent"), Blocked);
    assert_eq!(state(&e, "asking"), Restoring, "waits for its approval");
    assert_eq!(
        state(&e, "next"),
        Down,
        "tier 2 waits while 'asking' has not settled"
    );
    assert!(!launches(&all).iter().any(|l| is(l, "next", Restore)));
    let fx = e.handle(Input::Skip {
        service: sid("asking"),
        reason: "done by hand".into(),
    });
    assert!(
        launches(&fx).iter().any(|l| is(l, "next", Restore)),
        "failed, blocked and skipped all count as settled"
    );
    drive(&mut e, fx, |_| true);
    assert_eq!(state(&e, "next"), Restored);
}

#[test]
fn a_restore_asked_before_any_check_checks_first_and_never_restores_a_passing_service() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let fx = e.handle(Input::Restore {
        service: sid("a"),
        by_hand: true,
    });
    let all = drive(&mut e, fx, |_| true);
    assert!(!launches(&all).is_empty());
    assert!(launches(&all).iter().all(|l| l.step.phase == Check));
    assert_eq!(state(&e, "a"), Healthy);
}

#[test]
fn resumed_down_service_is_checked_again_before_the_plan_restores_it() {
    let mut e = engine(vec![
        svc("came-back", 1, &["h1"]).restore(run("fix")),
        svc("still-down", 1, &["h2"]).restore(run("fix")),
    ]);
    let fx = e.resume(&ResumeFacts {
        states: vec![
            (sid("came-back"), Down, Some("was down".into())),
            (sid("still-down"), Partial, None),
        ],
        restored_steps: vec![],
        pending: vec![],
    });
    assert!(!launches(&fx).is_empty());
    assert!(launches(&fx).iter().all(|l| l.step.phase == Check));
    let mut all = e.handle(Input::RunPlan);
    for l in launches(&fx) {
        let passed = is(&l, "came-back", Check);
        all.extend(e.handle(if passed { ok(&l) } else { fail(&l) }));
    }
    let all = drive(&mut e, all, |_| true);
    assert_eq!(state(&e, "came-back"), Healthy);
    assert!(
        !launches(&all).iter().any(|l| is(l, "came-back", Restore)),
        "restore never runs on a service whose checks pass"
    );
    assert!(launches(&all).iter().any(|l| is(l, "still-down", Restore)));
    assert_eq!(state(&e, "still-down"), Restored);
}

#[test]
fn a_failed_check_is_reported_at_once_but_verification_retries() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"])
            .checks(vec![run("health").retries(2)])
            .restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let check = launches(&fx)[0].clone();
    assert_eq!(check.step.phase, Check);
    // The sweep's check fails once: no retry, the service is down and its restore starts.
    let fx = e.handle(fail(&check));
    assert!(
        !fx.iter().any(|f| matches!(f, Effect::Sleep { .. })),
        "a check in the sweep is not retried: {fx:?}"
    );
    assert_ne!(state(&e, "a"), Checking);
    let restore = launches(&fx)[0].clone();
    assert_eq!(restore.step.phase, Restore);
    let fx = e.handle(ok(&restore));
    let verify = launches(&fx)[0].clone();
    assert_eq!(verify.step.phase, Verify);
    // Verification fails once and is tried again after the delay.
    let fx = e.handle(fail(&verify));
    let [Effect::Sleep { timer, .. }] = fx.as_slice() else {
        panic!("expected the verification to wait and retry, got {fx:?}");
    };
    let fx = e.handle(Input::Wake(*timer));
    let again = launches(&fx)[0].clone();
    assert_eq!((again.step.phase, again.attempt), (Verify, 2));
    e.handle(ok(&again));
    assert_eq!(state(&e, "a"), Restored);
}

#[test]
fn a_check_that_could_not_run_makes_the_service_unreachable_and_it_is_never_restored() {
    let mut e = engine(vec![
        svc("db", 1, &["h1", "h2"]).restore(run("fix")),
        svc("web", 2, &["h3"]).deps(&["db"]).restore(run("fix")),
        svc("mail", 2, &["h4"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    // db: one host refuses, the other's check fails; web and mail are down.
    let all = answer_all(&mut e, fx, |l| {
        if is(l, "db", Check) && l.host == HostId::new("h1") {
            refused(l)
        } else if l.step.phase == Check {
            fail(l)
        } else {
            ok(l)
        }
    });
    assert_eq!(state(&e, "db"), Unreachable, "{}", reason(&e, "db"));
    let why = reason(&e, "db");
    assert!(
        why.contains("'h1'") && why.contains("could not run") && why.contains("cannot connect"),
        "the reason names the host and why: {why}"
    );
    assert!(
        !launches(&all).iter().any(|l| is(l, "db", Restore)),
        "an unreachable service was restored: {all:?}"
    );
    assert_eq!(state(&e, "web"), Blocked);
    assert!(reason(&e, "web").contains("'db' is unreachable"));
    // For the tier barrier it counts as settled: tier 2's mail restores.
    assert_eq!(state(&e, "mail"), Restored);
    assert_eq!(finished_count(&all), 1);
    let db = e
        .selected_states()
        .into_iter()
        .find(|(id, _)| id.as_str() == "db");
    assert_eq!(db.map(|(_, s)| s), Some(Unreachable));
    assert_eq!(
        crate::outcome::RunOutcome::of(&e.selected_states())
            .exit()
            .code(),
        1
    );
}

#[test]
fn a_refused_check_is_not_down_even_when_every_host_refuses() {
    // Stands in for the drive helper's answers: every host refuses.
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let fx = e.handle(Input::RunPlan);
    let runs = launches(&fx);
    let fx = e.handle(refused(&runs[0]));
    assert_eq!(state(&e, "a"), Unreachable);
    assert!(!changes(&fx).iter().any(|(_, s)| *s == Down));
    assert!(launches(&fx).is_empty(), "nothing runs after: {fx:?}");
    // An operator's restore on an unreachable service checks first, and restores only if the
    // checks run and fail.
    let fx = e.handle(Input::Restore {
        service: sid("a"),
        by_hand: true,
    });
    let runs = launches(&fx);
    assert!(runs.iter().all(|l| l.step.phase == Check), "{runs:?}");
    let fx = e.handle(refused(&runs[0]));
    assert_eq!(state(&e, "a"), Unreachable);
    assert!(launches(&fx).is_empty(), "restored after a refusal: {fx:?}");
}

#[test]
fn a_later_check_that_runs_moves_an_unreachable_service_on() {
    let mut e = engine(vec![
        svc("db", 1, &["h1"]).restore(run("fix")),
        svc("web", 2, &["h2"]).deps(&["db"]).restore(run("fix")),
    ]);
    let fx = e.handle(Input::RunPlan);
    drive_refusing(&mut e, fx, "db");
    assert_eq!(state(&e, "db"), Unreachable);
    assert_eq!(state(&e, "web"), Blocked);
    // The operator fixed the key and presses `c`: the check runs and fails, so auto mode
    // restores db, then web, which nothing blocks any more.
    let fx = e.handle(Input::Check(sid("db")));
    let all = drive(&mut e, fx, |l| l.step.phase != Check);
    assert!(launches(&all).iter().any(|l| is(l, "db", Restore)));
    assert_eq!(state(&e, "db"), Restored);
    assert_eq!(state(&e, "web"), Restored);
}

#[test]
fn a_verification_that_could_not_run_leaves_the_service_unreachable_not_failed() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let fx = e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    let fix = launches(&fx);
    assert!(is(&fix[0], "a", Restore));
    let fx = e.handle(ok(&fix[0]));
    let verify = launches(&fx);
    assert!(is(&verify[0], "a", Verify));
    e.handle(refused(&verify[0]));
    assert_eq!(state(&e, "a"), Unreachable);
}

#[test]
fn a_resumed_unreachable_service_is_checked_again() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let facts = ResumeFacts {
        states: vec![(sid("a"), Unreachable, Some("could not run".into()))],
        restored_steps: Vec::new(),
        pending: Vec::new(),
    };
    let fx = e.resume(&facts);
    assert!(launches(&fx).iter().all(|l| is(l, "a", Check)));
    assert_eq!(launches(&fx).len(), 1);
}

/// Answer every launch: checks of `refusing` are refused, other checks fail, the rest pass.
fn drive_refusing(e: &mut Engine, first: Vec<Effect>, refusing: &str) {
    answer_all(e, first, |l| {
        if is(l, refusing, Check) {
            refused(l)
        } else if l.step.phase == Check {
            fail(l)
        } else {
            ok(l)
        }
    });
}

/// Answer every launch with `answer` until none is left; returns every effect seen.
fn answer_all(
    e: &mut Engine,
    first: Vec<Effect>,
    answer: impl Fn(&crate::engine::event::Launch) -> Input,
) -> Vec<Effect> {
    let mut seen = Vec::new();
    let mut queue: std::collections::VecDeque<Effect> = first.into();
    for _ in 0..1000 {
        let Some(effect) = queue.pop_front() else {
            break;
        };
        if let Effect::Run { launch, .. } = &effect {
            queue.extend(e.handle(answer(launch)));
        }
        seen.push(effect);
    }
    seen
}

#[test]
fn checking_a_restored_service_again_keeps_it_restored_until_a_check_fails() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix"))]);
    let fx = e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    let fx = e.handle(ok(&launches(&fx)[0]));
    e.handle(ok(&launches(&fx)[0]));
    assert_eq!(state(&e, "a"), Restored);
    // `c` on the restored service: the check passes, the restore stays.
    let fx = e.handle(Input::Check(sid("a")));
    let fx = e.handle(ok(&launches(&fx)[0]));
    assert_eq!(state(&e, "a"), Restored, "{fx:?}");
    // A later failing check is a new outage; passing after that is healthy again, not restored.
    e.handle(Input::SetAuto(false));
    let fx = e.handle(Input::Check(sid("a")));
    e.handle(fail(&launches(&fx)[0]));
    assert_eq!(state(&e, "a"), Down);
    let fx = e.handle(Input::Check(sid("a")));
    e.handle(ok(&launches(&fx)[0]));
    assert_eq!(state(&e, "a"), Healthy);
}

#[test]
fn forget_after_a_stop_makes_a_service_whose_inject_was_cut_unknown_not_healthy() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"])
            .restore(run("fix"))
            .inject(run("break")),
        svc("b", 1, &["h2"])
            .restore(run("fix"))
            .inject(run("break")),
    ]);
    for id in ["a", "b"] {
        let fx = e.handle(Input::Check(sid(id)));
        e.handle(ok(&launches(&fx)[0]));
        assert_eq!(state(&e, id), Healthy);
    }
    let inject = launches(&e.handle(Input::Inject(sid("a"))))[0].clone();
    assert!(e.handle(Input::Forget).is_empty(), "ignored unless stopped");
    e.handle(Input::Stop);
    // The cut inject reports after the stop: the view only.
    e.handle(fail(&inject));
    assert_eq!(state(&e, "a"), Healthy, "from before the inject");
    let fx = e.handle(Input::Forget);
    assert_eq!(changes(&fx), vec![("a".into(), ServiceState::Unknown)]);
    assert_eq!(
        reason(&e, "a"),
        "its inject was stopped; nothing has checked it since"
    );
    assert_eq!(state(&e, "b"), Healthy, "nothing of b was cut");
    assert!(e.is_stopped());
}

#[test]
fn reopen_after_a_stop_takes_requests_again_and_the_plan_restores_what_is_down() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"])
            .restore(run("fix"))
            .inject(run("break")),
    ]);
    let fx = e.handle(Input::Check(sid("a")));
    e.handle(ok(&launches(&fx)[0]));
    let inject = launches(&e.handle(Input::Inject(sid("a"))))[0].clone();
    e.handle(Input::Stop);
    assert!(e.handle(Input::Check(sid("a"))).is_empty(), "stopped");
    let fx = e.handle(Input::Reopen);
    assert_eq!(changes(&fx), vec![("a".into(), ServiceState::Unknown)]);
    assert!(!e.is_stopped());
    assert!(e.is_idle(), "the cut attempt is forgotten");
    // Its result, late, changes nothing.
    assert!(changes(&e.handle(fail(&inject))).is_empty());
    let fx = e.handle(Input::RunPlan);
    let check = launches(&fx);
    assert!(is(&check[0], "a", Check), "unknown: checked again");
    let fx = e.handle(fail(&check[0]));
    let restore = launches(&fx);
    assert!(is(&restore[0], "a", Restore), "down: restored");
    let fx = e.handle(ok(&restore[0]));
    let verify = launches(&fx);
    e.handle(ok(&verify[0]));
    assert_eq!(state(&e, "a"), Restored);
}

#[test]
fn a_manual_step_pending_at_take_over_is_asked_again_and_not_passed_by_a_check() {
    let mut e = manual_service();
    let fx = e.resume(&ResumeFacts {
        states: vec![(sid("a"), Restoring, None)],
        restored_steps: vec![],
        pending: vec![step_ref("a", Restore, 0)],
    });
    assert!(
        launches(&fx).is_empty(),
        "no check may pass over the question: {fx:?}"
    );
    assert!(
        fx.iter().any(
            |e| matches!(e, Effect::AskManual { step, .. } if *step == step_ref("a", Restore, 0))
        ),
        "asked again: {fx:?}"
    );
    assert_eq!(state(&e, "a"), Restoring);
    let fx = e.handle(Input::Manual {
        step: step_ref("a", Restore, 0),
        outcome: ManualOutcome::Done,
    });
    assert!(
        launches(&fx).iter().any(|l| is(l, "a", Restore)),
        "the restore goes on after the answer: {fx:?}"
    );
}

#[test]
fn an_approval_pending_at_take_over_is_asked_again() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix").confirm())]);
    let fx = e.resume(&ResumeFacts {
        states: vec![(sid("a"), Restoring, None)],
        restored_steps: vec![],
        pending: vec![step_ref("a", Restore, 0)],
    });
    assert!(launches(&fx).is_empty(), "{fx:?}");
    assert!(
        fx.iter().any(|e| matches!(e, Effect::AskApproval { .. })),
        "asked again: {fx:?}"
    );
}

#[test]
fn a_manual_step_left_blocked_for_want_of_a_terminal_is_asked_again_on_resume() {
    let mut e = manual_service();
    let fx = e.resume(&ResumeFacts {
        states: vec![(sid("a"), Blocked, Some("no terminal".into()))],
        restored_steps: vec![],
        pending: vec![step_ref("a", Restore, 0)],
    });
    assert!(launches(&fx).is_empty(), "{fx:?}");
    assert!(
        fx.iter().any(|e| matches!(e, Effect::AskManual { .. })),
        "asked again: {fx:?}"
    );
    assert_eq!(state(&e, "a"), Restoring);
}
