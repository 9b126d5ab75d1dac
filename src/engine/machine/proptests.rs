//! Property: over random dependency graphs, tiers and outcomes, a driver that answers every
//! effect in random order sees the plan's order kept, one `Finished`, and every service settled.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;

use super::testkit::{StepExt, Svc, manual, run, runbook, sid, svc};
use crate::engine::effect::Effect;
use crate::engine::event::Input;
use crate::engine::machine::{Engine, EngineOptions};
use crate::engine::state::{Decision, ManualOutcome, ServiceState, StepOutcome};
use crate::runbook::model::ServiceId;

/// One generated service: tier, host count, restore steps (retries, confirm, manual), and a
/// mask over earlier services for its dependencies.
type Shape = (u32, usize, Vec<(u32, bool, bool)>, Vec<bool>, bool);

fn shapes() -> impl Strategy<Value = Vec<Shape>> {
    prop::collection::vec(
        (
            1u32..=3,
            1usize..=2,
            prop::collection::vec((0u32..=2, any::<bool>(), prop::bool::weighted(0.15)), 0..=3),
            prop::collection::vec(prop::bool::weighted(0.35), 8),
            prop::bool::weighted(0.7),
        ),
        1..=7,
    )
}

/// A tiny deterministic generator for the driver's answers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap_or(0)
    }
}

struct Case {
    engine: Engine,
    tiers: Vec<u32>,
    deps: Vec<Vec<usize>>,
    selected: Vec<bool>,
    ids: Vec<ServiceId>,
}

fn build(mut shapes: Vec<Shape>, use_only: bool) -> Case {
    // Sorting by tier makes "depends only on earlier services" respect SPEC's tier rule.
    shapes.sort_by_key(|s| s.0);
    let mut services = Vec::new();
    let mut deps = Vec::new();
    for (i, (tier, hosts, restores, mask, _)) in shapes.iter().enumerate() {
        let host_names: Vec<String> = (0..*hosts).map(|h| format!("s{i}h{h}")).collect();
        let host_refs: Vec<&str> = host_names.iter().map(String::as_str).collect();
        let dep_idx: Vec<usize> = (0..i).filter(|&j| mask[j % mask.len()]).collect();
        let dep_names: Vec<String> = dep_idx.iter().map(|j| format!("s{j}")).collect();
        let dep_refs: Vec<&str> = dep_names.iter().map(String::as_str).collect();
        let mut s: Svc = svc(&format!("s{i}"), *tier, &host_refs).deps(&dep_refs);
        for (k, (retries, confirm, is_manual)) in restores.iter().enumerate() {
            let step = if *is_manual {
                manual(&format!("m{k}"), "do it by hand on {{host}}")
            } else if *confirm {
                run(&format!("r{k}")).retries(*retries).confirm()
            } else {
                run(&format!("r{k}")).retries(*retries)
            };
            s = s.restore(step);
        }
        services.push(s);
        deps.push(dep_idx);
    }
    let tiers = shapes.iter().map(|s| s.0).collect();
    let ids: Vec<ServiceId> = (0..shapes.len()).map(|i| sid(&format!("s{i}"))).collect();
    let selected: Vec<bool> = shapes.iter().map(|s| !use_only || s.4).collect();
    let only: BTreeSet<ServiceId> = if use_only {
        ids.iter()
            .zip(&selected)
            .filter(|(_, sel)| **sel)
            .map(|(id, _)| id.clone())
            .collect()
    } else {
        BTreeSet::new()
    };
    // An `only` that selects nothing means everything; mirror that.
    let selected = if only.is_empty() {
        vec![true; shapes.len()]
    } else {
        selected
    };
    let options = EngineOptions {
        only,
        ..EngineOptions::default()
    };
    Case {
        engine: Engine::new(runbook(services), options),
        tiers,
        deps,
        selected,
        ids,
    }
}

/// The answer a driver gives to one effect, chosen at random.
fn answer(effect: &Effect, rng: &mut Rng) -> Option<Input> {
    Some(match effect {
        Effect::Run { launch, .. } => {
            let (outcome, exit_code) = match rng.below(4) {
                0 => (StepOutcome::Failed, Some(1)),
                1 => (StepOutcome::Timeout, None),
                _ => (StepOutcome::Ok, Some(0)),
            };
            Input::StepFinished {
                attempt: launch.attempt_id,
                outcome,
                exit_code,
                duration: Duration::from_millis(5),
                error: None,
                output_matched: None,
                refused: false,
            }
        }
        Effect::Sleep { timer, .. } => Input::Wake(*timer),
        Effect::AskApproval { step, .. } => Input::Approval {
            step: step.clone(),
            decision: if rng.below(5) == 0 {
                Decision::Declined
            } else {
                Decision::Approved
            },
        },
        Effect::AskManual { step, .. } => match rng.below(4) {
            0 => Input::ManualUnavailable { step: step.clone() },
            1 => Input::Manual {
                step: step.clone(),
                outcome: ManualOutcome::Failed,
            },
            _ => Input::Manual {
                step: step.clone(),
                outcome: ManualOutcome::Done,
            },
        },
        Effect::State { .. }
        | Effect::Finished { .. }
        | Effect::NotRun { .. }
        | Effect::Skipped { .. }
        | Effect::Declined { .. } => return None,
    })
}

fn run_case(case: &mut Case, seed: u64) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let index: BTreeMap<ServiceId, usize> = case
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i))
        .collect();
    let mut mirror = vec![ServiceState::Unknown; case.ids.len()];
    let mut pool: Vec<Effect> = Vec::new();
    let mut finished = 0;
    let mut incoming = case.engine.handle(Input::RunPlan);
    for _ in 0..50_000 {
        for effect in incoming.drain(..) {
            match &effect {
                Effect::State {
                    service, from, to, ..
                } => {
                    let si = index[service];
                    prop_assert_eq!(mirror[si], *from, "state change from a state it was not in");
                    if *to == ServiceState::Restoring {
                        prop_assert!(
                            matches!(from, ServiceState::Down | ServiceState::Partial),
                            "restore of {} from {}",
                            service,
                            from
                        );
                        prop_assert!(case.selected[si], "unselected {} restored", service);
                        for &d in &case.deps[si] {
                            prop_assert!(
                                mirror[d].is_up(),
                                "{} restores while dependency s{} is {}",
                                service,
                                d,
                                mirror[d]
                            );
                        }
                        for (oi, &tier) in case.tiers.iter().enumerate() {
                            if case.selected[oi] && tier < case.tiers[si] {
                                prop_assert!(
                                    mirror[oi].is_settled(),
                                    "{} restores while lower-tier s{} is {}",
                                    service,
                                    oi,
                                    mirror[oi]
                                );
                            }
                        }
                    }
                    mirror[si] = *to;
                }
                Effect::Finished { services } => {
                    finished += 1;
                    prop_assert!(
                        pool.is_empty(),
                        "Finished with work outstanding: {:?}",
                        pool
                    );
                    let listed: Vec<usize> = services.iter().map(|(id, _)| index[id]).collect();
                    let expected: Vec<usize> =
                        (0..case.ids.len()).filter(|&i| case.selected[i]).collect();
                    prop_assert_eq!(listed, expected);
                }
                _ => pool.push(effect),
            }
        }
        if pool.is_empty() {
            break;
        }
        let effect = pool.swap_remove(rng.below(pool.len()));
        if let Some(input) = answer(&effect, &mut rng) {
            incoming = case.engine.handle(input);
        }
    }
    prop_assert!(pool.is_empty(), "the driver loop did not end");
    prop_assert_eq!(finished, 1, "Finished must come exactly once");
    prop_assert!(case.engine.is_idle());
    for (si, id) in case.ids.iter().enumerate() {
        let view = case.engine.service(id).map(|v| v.state);
        prop_assert_eq!(
            view,
            Some(mirror[si]),
            "view and effects disagree on {}",
            id
        );
        if case.selected[si] {
            prop_assert!(mirror[si].is_settled(), "{} ended {}", id, mirror[si]);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_plans_keep_order_finish_once_and_settle(
        shapes in shapes(),
        use_only in prop::bool::weighted(0.25),
        seed in any::<u64>(),
    ) {
        let mut case = build(shapes, use_only);
        run_case(&mut case, seed)?;
    }
}

/// A random operator action, or a stray input no one asked for.
fn operator_input(case: &Case, rng: &mut Rng, answered: &[Input]) -> Input {
    let id = case.ids[rng.below(case.ids.len())].clone();
    match rng.below(10) {
        0 => Input::Check(id),
        1 => Input::Restore {
            service: id,
            by_hand: true,
        },
        2 => Input::NextStep(id),
        3 => Input::Inject(id),
        4 => Input::Skip {
            service: id,
            reason: "operator".into(),
        },
        5 => Input::SetAuto(rng.below(2) == 0),
        6 => Input::Check(sid("no-such-service")),
        // Replay an answer already given: a duplicate finish, approval or wake.
        _ => answered
            .get(rng.below(answered.len().max(1)))
            .cloned()
            .unwrap_or(Input::RunPlan),
    }
}

fn run_with_operator(case: &mut Case, seed: u64) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let index: BTreeMap<ServiceId, usize> = case
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i))
        .collect();
    let mut mirror = vec![ServiceState::Unknown; case.ids.len()];
    let mut pool: Vec<Effect> = Vec::new();
    let mut answered: Vec<Input> = Vec::new();
    let mut incoming = case.engine.handle(Input::RunPlan);
    let mut stopped_at = None;
    let mut finished_after_stop = 0;
    for step in 0..20_000 {
        for effect in incoming.drain(..) {
            match &effect {
                Effect::State {
                    service, from, to, ..
                } => {
                    let si = index[service];
                    prop_assert_eq!(mirror[si], *from);
                    if *to == ServiceState::Restoring {
                        prop_assert!(
                            !matches!(
                                from,
                                ServiceState::Healthy
                                    | ServiceState::Restored
                                    | ServiceState::Unknown
                            ),
                            "restore of {} from {}",
                            service,
                            from
                        );
                    }
                    prop_assert!(stopped_at.is_none() || *to != ServiceState::Restoring);
                    mirror[si] = *to;
                }
                Effect::Finished { .. } => {
                    if stopped_at.is_some() {
                        finished_after_stop += 1;
                    }
                }
                _ => pool.push(effect),
            }
        }
        if pool.is_empty() && stopped_at.is_some() {
            break;
        }
        if stopped_at.is_none() && (step > 300 || rng.below(8) == 0) {
            // Past a budget, stop; answers keep coming back after Stop.
            let input = if step > 300 {
                Input::Stop
            } else {
                operator_input(case, &mut rng, &answered)
            };
            if input == Input::Stop {
                stopped_at = Some(step);
            }
            incoming = case.engine.handle(input);
            continue;
        }
        if pool.is_empty() {
            incoming = case.engine.handle(Input::Stop);
            stopped_at = Some(step);
            continue;
        }
        let effect = pool.swap_remove(rng.below(pool.len()));
        if let Some(input) = answer(&effect, &mut rng) {
            answered.push(input.clone());
            incoming = case.engine.handle(input);
        }
    }
    prop_assert!(stopped_at.is_some() && pool.is_empty(), "did not wind down");
    prop_assert_eq!(finished_after_stop, 1, "one Finished after Stop");
    prop_assert!(case.engine.is_idle());
    for (si, id) in case.ids.iter().enumerate() {
        prop_assert_eq!(case.engine.service(id).map(|v| v.state), Some(mirror[si]));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_operator_inputs_never_break_the_engine(
        shapes in shapes(),
        seed in any::<u64>(),
    ) {
        let mut case = build(shapes, false);
        run_with_operator(&mut case, seed)?;
    }
}
