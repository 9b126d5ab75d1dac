//! `confirm = 2`: a step runs only after two different known principals approved it; one
//! decline declines. No IO.

use super::testkit::*;
use crate::engine::effect::Effect;
use crate::engine::event::Input;
use crate::engine::machine::Engine;
use crate::engine::state::{Decision, Phase, ServiceState, Waiting};
use crate::runbook::model::{Confirm, Step};

fn two_person(step: Step) -> Step {
    Step {
        confirm: Confirm::Two,
        ..step
    }
}

/// An engine whose service `a` is down and asks to approve its two-person step.
fn asking() -> Engine {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(two_person(run("fix")))]);
    let fx = e.handle(Input::RunPlan);
    let fx = e.handle(fail(&launches(&fx)[0]));
    assert!(
        fx.iter().any(|f| matches!(f, Effect::AskApproval { .. })),
        "{fx:?}"
    );
    e
}

fn by(principal: &str, decision: Decision) -> Input {
    Input::ApprovalBy {
        step: step_ref("a", Phase::Restore, 0),
        decision,
        principal: principal.into(),
    }
}

fn asked_again_reason(fx: &[Effect]) -> String {
    fx.iter()
        .find_map(|f| match f {
            Effect::AskApproval { reason, .. } => reason.clone(),
            _ => None,
        })
        .expect("asked again, with a reason")
}

#[test]
fn two_different_principals_run_it_and_one_alone_does_not() {
    let mut e = asking();
    let fx = e.handle(by("alice", Decision::Approved));
    assert!(launches(&fx).is_empty(), "one approval is not two: {fx:?}");
    assert!(asked_again_reason(&fx).contains("approved by 'alice'"));
    assert!(matches!(
        &e.service(&sid("a")).expect("a").waiting,
        Some(Waiting::Approval { reason: Some(r), .. }) if r.contains("second")
    ));
    let fx = e.handle(by("bob", Decision::Approved));
    assert_eq!(launches(&fx).len(), 1, "alice and bob approved: it runs");
    assert!(e.service(&sid("a")).expect("a").waiting.is_none());
}

#[test]
fn the_same_principal_twice_is_not_two() {
    let mut e = asking();
    e.handle(by("alice", Decision::Approved));
    let fx = e.handle(by("alice", Decision::Approved));
    assert!(
        launches(&fx).is_empty(),
        "alice twice is one person: {fx:?}"
    );
    assert!(asked_again_reason(&fx).contains("approved by 'alice';"));
    // An approval nobody verified does not count either.
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Phase::Restore, 0),
        decision: Decision::Approved,
    });
    assert!(launches(&fx).is_empty(), "{fx:?}");
    assert_eq!(state(&e, "a"), ServiceState::Restoring);
    let fx = e.handle(by("carol", Decision::Approved));
    assert_eq!(launches(&fx).len(), 1);
}

#[test]
fn one_decline_by_one_person_declines() {
    let mut e = asking();
    e.handle(by("alice", Decision::Approved));
    let fx = e.handle(by("bob", Decision::Declined));
    assert!(launches(&fx).is_empty());
    assert_eq!(changes(&fx), vec![("a".into(), ServiceState::Failed)]);
    assert!(reason(&e, "a").contains("declined"));
    // An unverified decline declines too: refusing to act is always allowed.
    let mut e = asking();
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Phase::Restore, 0),
        decision: Decision::Declined,
    });
    assert_eq!(changes(&fx), vec![("a".into(), ServiceState::Failed)]);
}

#[test]
fn a_one_person_step_runs_on_any_single_approval() {
    let mut e = engine(vec![svc("a", 1, &["h1"]).restore(run("fix").confirm())]);
    let fx = e.handle(Input::RunPlan);
    e.handle(fail(&launches(&fx)[0]));
    let fx = e.handle(by("alice", Decision::Approved));
    assert_eq!(launches(&fx).len(), 1);
}
