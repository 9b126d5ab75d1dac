//! The plan's order: the sweep of checks, tiers as barriers, dependencies inside a tier,
//! blocking, and when the run is finished. Decides what starts; never executes a step.

use crate::engine::effect::Effect;
use crate::engine::machine::{Blocker, Engine};
use crate::engine::state::{Phase, ServiceState};
use crate::runbook::model::Runbook;

/// Selected services plus every service they depend on, directly or not (unless `check_only`,
/// which never restores and so never needs to judge dependencies).
pub(super) fn with_dependencies(
    runbook: &Runbook,
    selected: &[bool],
    check_only: bool,
) -> Vec<bool> {
    let mut in_plan = selected.to_vec();
    if check_only {
        return in_plan;
    }
    let mut stack: Vec<usize> = (0..selected.len()).filter(|&i| selected[i]).collect();
    while let Some(si) = stack.pop() {
        for dep in &runbook.services[si].depends_on {
            if let Some(di) = runbook.services.iter().position(|s| &s.id == dep)
                && !in_plan[di]
            {
                in_plan[di] = true;
                stack.push(di);
            }
        }
    }
    in_plan
}

impl Engine {
    /// After every input: block and unblock, start what the plan allows, report `Finished`.
    pub(super) fn schedule(&mut self, out: &mut Vec<Effect>) {
        if !self.is_stopped() {
            // Each pass starts or changes at least one service; the bound only guards
            // against a runbook that slipped past validation with a cycle.
            for _ in 0..=4 * self.services.len() + 4 {
                let mut changed = false;
                if !self.options.check_only {
                    changed |= self.propagate_blocks(out);
                }
                if self.is_auto() {
                    changed |= self.sweep(out);
                    if !self.options.check_only && self.swept {
                        changed |= self.start_ready(out);
                    }
                }
                if !changed {
                    break;
                }
            }
        }
        self.maybe_finish(out);
    }

    /// Check every service of the plan not checked yet, all at once.
    fn sweep(&mut self, out: &mut Vec<Effect>) -> bool {
        let mut changed = false;
        for si in 0..self.services.len() {
            if self.in_plan[si]
                && self.services[si].state == ServiceState::Unknown
                && self.tracks[si].job.is_none()
            {
                self.start_probe(si, Phase::Check, out);
                changed = true;
            }
        }
        if !self.swept {
            self.swept = (0..self.services.len()).all(|si| {
                !self.in_plan[si]
                    || !matches!(
                        self.services[si].state,
                        ServiceState::Unknown | ServiceState::Checking
                    )
            });
            changed |= self.swept;
        }
        changed
    }

    /// Start the restore of every selected, down or partial service whose lower tiers have
    /// settled and whose dependencies are up.
    fn start_ready(&mut self, out: &mut Vec<Effect>) -> bool {
        let mut changed = false;
        for si in 0..self.services.len() {
            let view = &self.services[si];
            let track = &self.tracks[si];
            if self.selected[si]
                && matches!(view.state, ServiceState::Down | ServiceState::Partial)
                && track.job.is_none()
                && track.paused_at.is_none()
                && track.undone == super::undo::Undone::No
                && self.plan_ready(si)
            {
                self.services[si].by_hand = false;
                self.start_restore(si, false, out);
                changed = true;
            }
        }
        changed
    }

    /// In the plan's order `si` may restore now: every selected service of a lower tier has
    /// settled and every dependency is healthy or restored.
    pub(super) fn plan_ready(&self, si: usize) -> bool {
        let service = &self.runbook.services[si];
        let lower_settled = self
            .runbook
            .services
            .iter()
            .enumerate()
            .filter(|(oi, other)| self.selected[*oi] && other.tier < service.tier)
            .all(|(oi, _)| self.services[oi].state.is_settled());
        lower_settled
            && service.depends_on.iter().all(|dep| {
                self.services
                    .get(dep)
                    .is_some_and(|view| view.state.is_up())
            })
    }

    /// Why a dependency keeps its dependents from ever restoring in this run, if it does.
    fn blocking_reason(&self, si: usize) -> Option<String> {
        self.runbook.services[si].depends_on.iter().find_map(|dep| {
            let di = self.services.get_index_of(dep)?;
            let state = self.services[di].state;
            match state {
                ServiceState::Failed
                | ServiceState::Skipped
                | ServiceState::Blocked
                | ServiceState::Unreachable => Some(format!("dependency '{dep}' is {state}")),
                ServiceState::Down | ServiceState::Partial
                    if !self.selected[di] && self.tracks[di].job.is_none() =>
                {
                    Some(format!("dependency '{dep}' is {state} and not selected"))
                }
                _ => None,
            }
        })
    }

    /// Block down or partial services whose dependency failed, was skipped or is blocked;
    /// return blocked services to their state once no dependency blocks them.
    fn propagate_blocks(&mut self, out: &mut Vec<Effect>) -> bool {
        let mut changed = false;
        for si in 0..self.services.len() {
            let state = self.services[si].state;
            let track = &self.tracks[si];
            if track.job.is_some() || track.paused_at.is_some() {
                continue;
            }
            let blocker = track.blocker;
            match (state, blocker) {
                (ServiceState::Down | ServiceState::Partial, _) => {
                    if let Some(reason) = self.blocking_reason(si) {
                        self.tracks[si].blocker = Some(Blocker::Dependency { from: state });
                        self.set_state(si, ServiceState::Blocked, Some(reason), out);
                        changed = true;
                    }
                }
                (ServiceState::Blocked, Some(Blocker::Dependency { from }))
                    if self.blocking_reason(si).is_none() =>
                {
                    self.tracks[si].blocker = None;
                    let reason = Some("no dependency blocks it any more".to_string());
                    self.set_state(si, from, reason, out);
                    changed = true;
                }
                _ => {}
            }
        }
        changed
    }

    /// Emit `Finished` once each time the engine falls idle after work (in a headless run,
    /// exactly once). Waiting for an operator is not idle.
    fn maybe_finish(&mut self, out: &mut Vec<Effect>) {
        if !self.active || !self.is_idle() {
            return;
        }
        self.active = false;
        let services = self
            .services
            .iter()
            .enumerate()
            .filter(|(si, _)| self.selected[*si])
            .map(|(_, (id, view))| (id.clone(), view.state))
            .collect();
        out.push(Effect::Finished { services });
    }
}
