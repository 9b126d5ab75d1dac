//! Undo and policies, input by input, with no IO: undo order and hosts, `--cascade`,
//! `on_fail = "undo"`, `only`, `confirm_timeout` on the engine's own timers.

use std::time::Duration;

use super::testkit::*;
use crate::engine::effect::Effect;
use crate::engine::event::{Cascade, Input, Launch, ResumeFacts};
use crate::engine::machine::{Engine, EngineOptions};
use crate::engine::state::{Decision, Mode, Phase, ServiceState};
use crate::runbook::model::{HostId, OnFail, Only, Step, StepAction, Template};

fn with_undo(step: Step, command: &str) -> Step {
    let mut step = step;
    step.policy.undo = Some(StepAction::Run(Template::parse(command)));
    step
}

fn on_fail_undo(svc: Svc) -> Svc {
    let mut svc = svc;
    svc.0.on_fail = OnFail::Undo;
    svc
}

/// Every `Run` effect answered by `pass`, every `Sleep` woken, until nothing is left; the
/// launches in the order they were issued.
fn run_all(e: &mut Engine, first: Vec<Effect>, pass: impl Fn(&Launch) -> bool) -> Vec<Effect> {
    drive(e, first, pass)
}

fn undo_launches(fx: &[Effect]) -> Vec<(String, usize, String)> {
    launches(fx)
        .into_iter()
        .filter(|l| l.step.phase == Phase::Undo)
        .map(|l| (l.step.service.0.clone(), l.step.index, l.host.0.clone()))
        .collect()
}

fn commands(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|f| match f {
            Effect::Run {
                launch, command, ..
            } if launch.step.phase == Phase::Undo => Some(command.shown.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn undo_runs_newest_first_on_exactly_the_hosts_where_each_step_succeeded() {
    let mut e = engine(vec![
        svc("a", 1, &["h1", "h2"])
            .restore(with_undo(run("first"), "undo-first {{host}}"))
            .restore(with_undo(run("second"), "undo-second {{host}}")),
    ]);
    let fx = e.handle(Input::RunPlan);
    // Checks fail; `second` fails on h2, so the restore fails there.
    run_all(&mut e, fx, |l| match l.step.phase {
        Phase::Check => false,
        Phase::Restore => !(l.step.index == 1 && l.host.0 == "h2"),
        _ => true,
    });
    assert_eq!(state(&e, "a"), ServiceState::Failed);

    let fx = e.handle(Input::Undo {
        service: sid("a"),
        cascade: Cascade::Alone,
    });
    let all = run_all(&mut e, fx, |l| l.step.phase != Phase::Check);
    assert_eq!(
        undo_launches(&all),
        vec![
            ("a".into(), 1, "h1".into()),
            ("a".into(), 0, "h1".into()),
            ("a".into(), 0, "h2".into()),
        ],
        "newest step first, only where it succeeded"
    );
    assert_eq!(
        commands(&all),
        vec!["undo-second h1", "undo-first h1", "undo-first h2"],
        "the step's undo command runs, not its run command"
    );
    let states = changes(&all);
    let undone = states
        .iter()
        .position(|(s, to)| s == "a" && *to == ServiceState::Undone)
        .expect("undone");
    assert_eq!(
        states.get(undone + 1),
        Some(&("a".to_string(), ServiceState::Checking)),
        "checked right after: {states:?}"
    );
    assert_eq!(
        state(&e, "a"),
        ServiceState::Down,
        "the check after the undo"
    );
    // Taken back: a second undo has nothing left to do.
    assert!(
        e.handle(Input::Undo {
            service: sid("a"),
            cascade: Cascade::Alone
        })
        .is_empty()
    );
}

#[test]
fn cascade_undoes_dependents_first_in_reverse_plan_order_and_the_plan_does_not_redo_them() {
    let mut e = engine(vec![
        svc("db", 1, &["h1"]).restore(with_undo(run("fix"), "undo db")),
        svc("api", 2, &["h2"])
            .deps(&["db"])
            .restore(with_undo(run("fix"), "undo api")),
        svc("web", 3, &["h3"])
            .deps(&["api"])
            .restore(with_undo(run("fix"), "undo web")),
        svc("cache", 2, &["h4"])
            .deps(&["db"])
            .restore(with_undo(run("fix"), "undo cache")),
        svc("other", 1, &["h5"]).restore(with_undo(run("fix"), "undo other")),
    ]);
    let fx = e.handle(Input::RunPlan);
    // Down at first, then up after their restores.
    let restored = std::cell::Cell::new(false);
    run_all(&mut e, fx, |l| {
        if l.step.phase == Phase::Check {
            restored.get()
        } else {
            restored.set(true);
            true
        }
    });
    for id in ["db", "api", "web", "cache", "other"] {
        assert_eq!(state(&e, id), ServiceState::Restored, "{id}");
    }
    let fx = e.handle(Input::Undo {
        service: sid("db"),
        cascade: Cascade::Dependents,
    });
    // After the undo the checks find them down.
    let all = run_all(&mut e, fx, |l| l.step.phase != Phase::Check);
    let order: Vec<String> = undo_launches(&all).into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(order, vec!["web", "cache", "api", "db"]);
    assert!(
        launches(&all)
            .iter()
            .all(|l| l.step.phase != Phase::Restore),
        "auto mode restored what an operator undid: {all:?}"
    );
    assert_eq!(state(&e, "db"), ServiceState::Down);
    assert_eq!(
        state(&e, "other"),
        ServiceState::Restored,
        "not a dependent"
    );
}

#[test]
fn undo_without_cascade_leaves_dependents_alone() {
    let mut e = engine(vec![
        svc("db", 1, &["h1"]).restore(with_undo(run("fix"), "undo db")),
        svc("api", 2, &["h2"])
            .deps(&["db"])
            .restore(with_undo(run("fix"), "undo api")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let restored = std::cell::Cell::new(false);
    run_all(&mut e, fx, |l| {
        if l.step.phase == Phase::Check {
            restored.get()
        } else {
            restored.set(true);
            true
        }
    });
    let fx = e.handle(Input::Undo {
        service: sid("db"),
        cascade: Cascade::Alone,
    });
    let all = run_all(&mut e, fx, |_| true);
    let order: Vec<String> = undo_launches(&all).into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(order, vec!["db"]);
}

#[test]
fn a_step_without_undo_is_skipped_with_a_reason_and_the_rest_is_undone() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"])
            .restore(with_undo(run("first"), "undo-first"))
            .restore(run("no-way-back")),
    ]);
    let fx = e.handle(Input::RunPlan);
    run_all(&mut e, fx, |l| l.step.phase != Phase::Check);
    let fx = e.handle(Input::Undo {
        service: sid("a"),
        cascade: Cascade::Alone,
    });
    let all = run_all(&mut e, fx, |_| true);
    let skipped: Vec<_> = all
        .iter()
        .filter_map(|f| match f {
            Effect::Skipped { step, reason } => Some((step.index, step.phase, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1, "{all:?}");
    assert_eq!((skipped[0].0, skipped[0].1), (1, Phase::Undo));
    assert!(skipped[0].2.contains("no undo"), "{}", skipped[0].2);
    assert_eq!(undo_launches(&all), vec![("a".into(), 0, "h1".into())]);
}

#[test]
fn a_failed_undo_stops_before_older_steps_and_fails_the_service() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"])
            .restore(with_undo(run("first"), "undo-first"))
            .restore(with_undo(run("second"), "undo-second")),
    ]);
    let fx = e.handle(Input::RunPlan);
    run_all(&mut e, fx, |l| l.step.phase != Phase::Check);
    let fx = e.handle(Input::Undo {
        service: sid("a"),
        cascade: Cascade::Alone,
    });
    let all = run_all(&mut e, fx, |l| l.step.phase != Phase::Undo);
    assert_eq!(undo_launches(&all), vec![("a".into(), 1, "h1".into())]);
    assert_eq!(state(&e, "a"), ServiceState::Failed);
    assert!(
        reason(&e, "a").contains("undo stopped"),
        "{}",
        reason(&e, "a")
    );
}

#[test]
fn on_fail_undo_takes_back_the_steps_done_newest_first_then_fails() {
    let mut e = engine(vec![on_fail_undo(
        svc("a", 1, &["h1"])
            .restore(with_undo(run("first"), "undo-first"))
            .restore(with_undo(run("second"), "undo-second"))
            .restore(with_undo(run("third"), "undo-third")),
    )]);
    let fx = e.handle(Input::RunPlan);
    let all = run_all(&mut e, fx, |l| match l.step.phase {
        Phase::Check => false,
        Phase::Restore => l.step.index != 2,
        _ => true,
    });
    assert_eq!(
        undo_launches(&all),
        vec![("a".into(), 1, "h1".into()), ("a".into(), 0, "h1".into())],
        "the failed step did not succeed anywhere, so it is not undone"
    );
    let states = changes(&all);
    assert!(!states.iter().any(|(_, to)| *to == ServiceState::Undone));
    assert_eq!(state(&e, "a"), ServiceState::Failed);
    let why = reason(&e, "a");
    assert!(why.contains("third"), "{why}");
    assert!(why.contains("rolled back: 'second', 'first'"), "{why}");
}

#[test]
fn on_fail_stop_leaves_what_was_done() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"])
            .restore(with_undo(run("first"), "undo-first"))
            .restore(run("second")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let all = run_all(&mut e, fx, |l| match l.step.phase {
        Phase::Check => false,
        Phase::Restore => l.step.index == 0,
        _ => true,
    });
    assert!(undo_launches(&all).is_empty());
    assert_eq!(state(&e, "a"), ServiceState::Failed);
}

fn only_runbook() -> Vec<Svc> {
    let mut snapshot = run("snapshot staging");
    snapshot.policy.only = Some(Only::Drill);
    vec![svc("a", 1, &["h1"]).restore(snapshot).restore(run("fix"))]
}

#[test]
fn only_drill_steps_are_skipped_with_the_reason_in_an_incident() {
    let mut e = engine(only_runbook());
    let fx = e.handle(Input::RunPlan);
    let all = run_all(&mut e, fx, |l| l.step.phase != Phase::Check);
    let restores: Vec<usize> = launches(&all)
        .iter()
        .filter(|l| l.step.phase == Phase::Restore)
        .map(|l| l.step.index)
        .collect();
    assert_eq!(restores, vec![1]);
    let skipped: Vec<_> = all
        .iter()
        .filter_map(|f| match f {
            Effect::Skipped { step, reason } => Some((step.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, step_ref("a", Phase::Restore, 0));
    assert!(skipped[0].1.contains("drill"), "{}", skipped[0].1);
    assert_eq!(state(&e, "a"), ServiceState::Restored);
}

#[test]
fn only_drill_steps_run_in_a_drill() {
    let options = EngineOptions {
        mode: Mode::Drill,
        ..EngineOptions::default()
    };
    let mut e = Engine::new(runbook(only_runbook()), options);
    let fx = e.handle(Input::RunPlan);
    let all = run_all(&mut e, fx, |l| l.step.phase != Phase::Check);
    let restores: Vec<usize> = launches(&all)
        .iter()
        .filter(|l| l.step.phase == Phase::Restore)
        .map(|l| l.step.index)
        .collect();
    assert_eq!(restores, vec![0, 1]);
    assert!(!all.iter().any(|f| matches!(f, Effect::Skipped { .. })));
}

fn timed_confirm() -> Engine {
    let mut step = run("move vip").confirm();
    step.policy.confirm_timeout = Some(Duration::from_secs(600));
    engine(vec![svc("a", 1, &["h1"]).restore(step)])
}

/// Run the plan until the approval is asked (no timer woken); the confirm timer it set.
fn until_asked(e: &mut Engine) -> crate::engine::event::TimerId {
    let fx = e.handle(Input::RunPlan);
    let mut asked = Vec::new();
    for l in &launches(&fx) {
        asked.extend(e.handle(fail(l)));
    }
    assert!(
        asked
            .iter()
            .any(|f| matches!(f, Effect::AskApproval { .. })),
        "{asked:?}"
    );
    asked
        .iter()
        .find_map(|f| match f {
            Effect::Sleep { timer, after } if *after == Duration::from_secs(600) => Some(*timer),
            _ => None,
        })
        .expect("a timer for the question")
}

#[test]
fn confirm_timeout_declines_an_unanswered_question_with_the_reason() {
    let mut e = timed_confirm();
    let timer = until_asked(&mut e);
    let fx = e.handle(Input::Wake(timer));
    let declined: Vec<_> = fx
        .iter()
        .filter_map(|f| match f {
            Effect::Declined { step, reason } => Some((step.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        declined,
        vec![(
            step_ref("a", Phase::Restore, 0),
            "no answer in 10m".to_string()
        )]
    );
    assert!(launches(&fx).is_empty(), "a declined step never runs");
    assert_eq!(state(&e, "a"), ServiceState::Failed);
    assert!(
        reason(&e, "a").contains("no answer in 10m"),
        "{}",
        reason(&e, "a")
    );
    assert!(e.service(&sid("a")).is_some_and(|v| v.waiting.is_none()));
}

#[test]
fn an_answer_in_time_disarms_the_confirm_timeout() {
    let mut e = timed_confirm();
    let timer = until_asked(&mut e);
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Phase::Restore, 0),
        decision: Decision::Approved,
    });
    assert_eq!(launches(&fx).len(), 1);
    let fx = e.handle(Input::Wake(timer));
    assert!(
        !fx.iter().any(|f| matches!(f, Effect::Declined { .. })),
        "{fx:?}"
    );
}

#[test]
fn an_undo_of_a_confirm_step_asks_first_and_runs_only_when_approved() {
    let mut e = engine(vec![
        svc("a", 1, &["h1"]).restore(with_undo(run("move vip").confirm(), "move back")),
    ]);
    let fx = e.handle(Input::RunPlan);
    let fx = drive(&mut e, fx, |l| l.step.phase != Phase::Check);
    assert!(fx.iter().any(|f| matches!(f, Effect::AskApproval { .. })));
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Phase::Restore, 0),
        decision: Decision::Approved,
    });
    drive(&mut e, fx, |_| true);
    let fx = e.handle(Input::Undo {
        service: sid("a"),
        cascade: Cascade::Alone,
    });
    assert!(launches(&fx).is_empty(), "ran before it was approved");
    let asked = fx
        .iter()
        .find_map(|f| match f {
            Effect::AskApproval { step, commands, .. } => Some((step.clone(), commands.clone())),
            _ => None,
        })
        .expect("asked");
    assert_eq!(asked.0, step_ref("a", Phase::Undo, 0));
    assert_eq!(asked.1[0].1.shown, "move back");
    let fx = e.handle(Input::Approval {
        step: step_ref("a", Phase::Undo, 0),
        decision: Decision::Approved,
    });
    assert_eq!(undo_launches(&fx), vec![("a".into(), 0, "h1".into())]);
}

#[test]
fn a_resumed_run_undoes_what_its_journal_recorded_ok() {
    let mut e = engine(vec![
        svc("a", 1, &["h1", "h2"])
            .restore(with_undo(run("first"), "undo-first"))
            .restore(with_undo(run("second"), "undo-second")),
    ]);
    let facts = ResumeFacts {
        states: vec![(sid("a"), ServiceState::Restored, None)],
        restored_steps: vec![
            (step_ref("a", Phase::Restore, 0), HostId::new("h1")),
            (step_ref("a", Phase::Restore, 0), HostId::new("h2")),
            (step_ref("a", Phase::Restore, 1), HostId::new("h2")),
        ],
        pending: Vec::new(),
    };
    let fx = e.resume(&facts);
    // The re-check is under way; an undo asked now drops it and goes first.
    assert!(launches(&fx).iter().all(|l| l.step.phase == Phase::Check));
    let fx = e.handle(Input::Undo {
        service: sid("a"),
        cascade: Cascade::Alone,
    });
    let all = run_all(&mut e, fx, |l| l.step.phase != Phase::Check);
    assert_eq!(
        undo_launches(&all),
        vec![
            ("a".into(), 1, "h2".into()),
            ("a".into(), 0, "h1".into()),
            ("a".into(), 0, "h2".into())
        ]
    );
    assert_eq!(state(&e, "a"), ServiceState::Down);
}
