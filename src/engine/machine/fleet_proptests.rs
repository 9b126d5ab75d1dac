//! Properties of fleets (SPEC "Fleets"): whatever the hosts' outcomes and the order results
//! come back in, no more than `batch` hosts of a step run at once, no batch starts once the
//! budget is exceeded, every host ends with an outcome or `not_run`, a verification failing
//! only where the restore failed within its budget leaves the service up (failing anywhere
//! else, not), `min_healthy` decides up or down, and a restore after a check that fails
//! beyond the service's hosts runs where the service was up without some of them.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::fleet_tests::{fleet, hosts};
use super::testkit::*;
use crate::engine::effect::Effect;
use crate::engine::event::{Input, Launch};
use crate::engine::machine::Engine;
use crate::engine::state::{Decision, HostStatus, Phase, ServiceState};
use crate::runbook::fleet::HostCount;
use crate::runbook::model::HostId;

/// Hosts, batch, canary, budget, per-host restore outcome, approve the canary, result order,
/// per-host verification outcome, and whether verification also fails wherever the restore
/// did.
type Shape = (
    usize,
    usize,
    Option<usize>,
    usize,
    Vec<bool>,
    bool,
    u64,
    Vec<Verdict>,
    bool,
);

/// How a host answers its verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passes,
    Fails,
    Unreachable,
}

fn verdicts() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        8 => Just(Verdict::Passes),
        1 => Just(Verdict::Fails),
        1 => Just(Verdict::Unreachable),
    ]
}

fn shapes() -> impl Strategy<Value = Shape> {
    (1usize..=30).prop_flat_map(|n| {
        (
            Just(n),
            1usize..=n,
            prop::option::weighted(0.4, 1usize..=n),
            0usize..=n,
            prop::collection::vec(prop::bool::weighted(0.8), n),
            any::<bool>(),
            any::<u64>(),
            prop::collection::vec(verdicts(), n),
            prop::bool::weighted(0.7),
        )
    })
}

/// What the hosts answered: where the restore failed, and where verification did not pass
/// (`true`: it could not run).
#[derive(Default)]
struct Answers {
    restore_failed: BTreeSet<HostId>,
    verify_bad: BTreeMap<HostId, bool>,
}

impl Answers {
    /// How `launch` goes: checks fail (every host is down), restores as `pass` says,
    /// verification as `verify` says, and, with `mirror`, fails wherever the restore failed.
    fn answer(
        &mut self,
        launch: &Launch,
        pass: &BTreeMap<HostId, bool>,
        verify: Verdict,
        mirror: bool,
    ) -> Verdict {
        let host = &launch.host;
        let verdict = match launch.step.phase {
            Phase::Restore if pass[host] => Verdict::Passes,
            Phase::Check | Phase::Restore => Verdict::Fails,
            Phase::Verify if verify != Verdict::Passes => verify,
            Phase::Verify if mirror && self.restore_failed.contains(host) => Verdict::Fails,
            _ => Verdict::Passes,
        };
        if verdict != Verdict::Passes {
            match launch.step.phase {
                Phase::Restore => {
                    self.restore_failed.insert(host.clone());
                }
                Phase::Verify => {
                    self.verify_bad
                        .insert(host.clone(), verdict == Verdict::Unreachable);
                }
                _ => {}
            }
        }
        verdict
    }

    /// The state once verification ran on `hosts` hosts: up when it failed only on hosts
    /// whose restore failed within the budget (those excused, degraded) and passed on one
    /// at least; otherwise down, `unreachable` when one of the others could not run.
    fn after_verification(&self, hosts: usize) -> ServiceState {
        let excused = |host: &HostId| self.restore_failed.contains(host);
        if self.verify_bad.keys().all(excused) {
            if self.verify_bad.len() < hosts {
                ServiceState::Restored
            } else {
                ServiceState::Failed
            }
        } else if self
            .verify_bad
            .iter()
            .any(|(host, refused)| *refused && !excused(host))
        {
            ServiceState::Unreachable
        } else {
            ServiceState::Failed
        }
    }
}

fn run_fleet(shape: &Shape) -> Result<(), TestCaseError> {
    let (n, batch, canary, budget, passes, approve, seed, verify, mirror) = shape.clone();
    let h = hosts(n);
    let refs: Vec<&str> = h.iter().map(String::as_str).collect();
    let step = fleet(run("fix"), Some(HostCount::Hosts(batch)), canary, budget);
    let mut e = engine(vec![svc("a", 1, &refs).restore(step)]);
    let pass: BTreeMap<HostId, bool> = h
        .iter()
        .zip(&passes)
        .map(|(name, p)| (HostId::new(name.clone()), *p))
        .collect();
    let mut out: Vec<Launch> = Vec::new();
    let mut pending: Vec<Effect> = e.handle(Input::RunPlan);
    let mut started: BTreeSet<HostId> = BTreeSet::new();
    let mut answers = Answers::default();
    let mut not_run: BTreeSet<HostId> = BTreeSet::new();
    let mut rng = seed | 1;
    for _ in 0..10_000 {
        while !pending.is_empty() {
            let effect = pending.remove(0);
            match effect {
                Effect::Run { launch, .. } => {
                    if launch.step.phase == Phase::Restore {
                        let failed = answers.restore_failed.len();
                        prop_assert!(
                            failed <= budget,
                            "a batch started after {failed} failures with max_fail {budget}"
                        );
                        prop_assert!(started.insert(launch.host.clone()), "a host ran twice");
                    }
                    out.push(launch);
                }
                Effect::NotRun { hosts, .. } => not_run.extend(hosts),
                Effect::AskApproval { step, .. } => {
                    let decision = if approve {
                        Decision::Approved
                    } else {
                        Decision::Declined
                    };
                    let fx = e.handle(Input::Approval { step, decision });
                    pending.extend(fx);
                }
                _ => {}
            }
        }
        let running = out
            .iter()
            .filter(|l| l.step.phase == Phase::Restore)
            .count();
        prop_assert!(
            running <= batch,
            "{running} hosts at once with batch {batch}"
        );
        if out.is_empty() {
            break;
        }
        // Results come back in any order.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let pick = usize::try_from(rng % out.len() as u64).unwrap_or(0);
        let launch = out.swap_remove(pick);
        let at = h
            .iter()
            .position(|x| x == launch.host.as_str())
            .unwrap_or(0);
        pending.extend(
            e.handle(match answers.answer(&launch, &pass, verify[at], mirror) {
                Verdict::Passes => ok(&launch),
                Verdict::Fails => fail(&launch),
                Verdict::Unreachable => refused(&launch),
            }),
        );
    }
    prop_assert!(
        out.is_empty() && pending.is_empty(),
        "the run did not settle"
    );
    let view = e.service(&sid("a")).expect("a");
    ran_or_not_run(view, &h, &started, &not_run)?;
    let failed = answers.restore_failed.len();
    if failed > budget || (!approve && canary.is_some_and(|c| c < n)) {
        prop_assert_eq!(view.state, ServiceState::Failed);
    } else {
        let expected = answers.after_verification(n);
        prop_assert_eq!(view.state, expected, "{:?}", view.reason);
        if expected == ServiceState::Restored {
            prop_assert_eq!(view.degraded.len(), failed);
        }
    }
    Ok(())
}

/// Every host ends with an outcome or `not_run`, never both, never neither.
fn ran_or_not_run(
    view: &crate::engine::state::ServiceView,
    hosts: &[String],
    started: &BTreeSet<HostId>,
    not_run: &BTreeSet<HostId>,
) -> Result<(), TestCaseError> {
    let statuses = &view.steps[&step_ref("a", Phase::Restore, 0)];
    for name in hosts {
        let host = HostId::new(name.clone());
        let ran = started.contains(&host);
        prop_assert!(
            ran != not_run.contains(&host),
            "{host}: ran {ran}, not_run too or neither"
        );
        let status = &statuses[&host];
        if ran {
            prop_assert!(
                matches!(status, HostStatus::Finished { .. }),
                "{host}: {status:?}"
            );
        } else {
            prop_assert_eq!(status, &HostStatus::NotRun);
        }
    }
    Ok(())
}

/// Hosts, `min_healthy`, and which hosts fail their check.
fn min_healthy_case(n: usize, min: usize, fails: &[bool]) -> Result<(), TestCaseError> {
    let h = hosts(n);
    let refs: Vec<&str> = h.iter().map(String::as_str).collect();
    let mut a = svc("a", 1, &refs);
    a.0.min_healthy = Some(HostCount::Hosts(min));
    let mut e: Engine = check_only_engine(vec![a]);
    let fx = e.handle(Input::RunPlan);
    drive(&mut e, fx, |l| {
        !fails[h.iter().position(|x| x == l.host.as_str()).unwrap_or(0)]
    });
    let healthy = fails.iter().filter(|f| !**f).count();
    let view = e.service(&sid("a")).expect("a");
    if healthy >= min {
        prop_assert_eq!(view.state, ServiceState::Healthy);
        prop_assert_eq!(view.degraded.len(), n - healthy);
    } else if healthy == 0 {
        prop_assert_eq!(view.state, ServiceState::Down);
    } else {
        prop_assert_eq!(view.state, ServiceState::Partial);
    }
    Ok(())
}

/// Hosts, `min_healthy`, where the first check fails, where a later one fails (the
/// balancer's check on `operator`, outside the service's hosts, failing too): the later
/// restore runs on the hosts the service was up without and those failing now when it was
/// up without some, else on every host.
fn kept_case(n: usize, min: usize, first: &[bool], later: &[bool]) -> Result<(), TestCaseError> {
    let h = hosts(n);
    let refs: Vec<&str> = h.iter().map(String::as_str).collect();
    let mut lb = run("lb");
    lb.hosts = vec![HostId::new("operator")];
    let mut a = svc("a", 1, &refs)
        .checks(vec![run("probe"), lb])
        .restore(run("fix"));
    a.0.min_healthy = Some(HostCount::Hosts(min));
    let mut e = engine(vec![a]);
    let at = |l: &Launch| h.iter().position(|x| x == l.host.as_str());
    let fx = e.handle(Input::RunPlan);
    drive(&mut e, fx, |l| {
        l.step.phase != Phase::Check || at(l).is_none_or(|i| !first[i])
    });
    let view = e.service(&sid("a")).expect("a");
    prop_assert!(view.state.is_up(), "{:?}: {:?}", view.state, view.reason);
    let degraded: BTreeSet<HostId> = view.degraded.iter().cloned().collect();
    let fx = e.handle(Input::Check(sid("a")));
    let all = drive(&mut e, fx, |l| {
        l.step.phase != Phase::Check || at(l).is_some_and(|i| !later[i])
    });
    let restored: BTreeSet<HostId> = launches(&all)
        .into_iter()
        .filter(|l| l.step.phase == Phase::Restore)
        .map(|l| l.host)
        .collect();
    let failing: BTreeSet<HostId> = h
        .iter()
        .zip(later)
        .filter(|(_, f)| **f)
        .map(|(x, _)| HostId::new(x.clone()))
        .collect();
    let expected: BTreeSet<HostId> = if degraded.is_empty() || failing.is_empty() {
        h.iter().map(|x| HostId::new(x.clone())).collect()
    } else {
        degraded.union(&failing).cloned().collect()
    };
    prop_assert_eq!(restored, expected);
    Ok(())
}

fn check_only_engine(services: Vec<Svc>) -> Engine {
    Engine::new(
        runbook(services),
        crate::engine::machine::EngineOptions {
            check_only: true,
            ..Default::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batches_budget_and_not_run_hold_whatever_the_outcomes(shape in shapes()) {
        run_fleet(&shape)?;
    }

    #[test]
    fn min_healthy_decides_up_or_down(
        (n, min, fails) in (1usize..=20).prop_flat_map(|n| (
            Just(n),
            1usize..=n,
            prop::collection::vec(prop::bool::weighted(0.3), n),
        ))
    ) {
        min_healthy_case(n, min, &fails)?;
    }

    #[test]
    fn a_restore_after_a_check_failing_beyond_the_hosts_runs_where_the_service_was_degraded(
        (n, min, first, later) in (1usize..=20).prop_flat_map(|n| (
            Just(n),
            1usize..=n,
            prop::collection::vec(prop::bool::weighted(0.2), n),
            prop::collection::vec(prop::bool::weighted(0.2), n),
        ))
    ) {
        kept_case(n, min, &first, &later)?;
    }
}
