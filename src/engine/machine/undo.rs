//! Undo inside the engine (SPEC "Undo and policies"): the `undo` of every restore step that
//! succeeded, newest first, on exactly the hosts where it succeeded; dependents first with
//! `Cascade::Dependents`; after a failed restore with `on_fail = "undo"`. Approvals and
//! confirm timeouts as for restores. Kept apart from `steps` so that the way steps run and
//! the way they are taken back can each be read alone.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::engine::effect::Effect;
use crate::engine::event::Cascade;
use crate::engine::machine::Engine;
use crate::engine::machine::steps::summary;
use crate::engine::state::{HostStatus, Phase, ServiceState};
use crate::runbook::model::{HostId, OnFail, ServiceId};

/// An undo in progress on one service.
#[derive(Debug)]
pub(super) struct UndoRun {
    /// (restore step index, hosts where it succeeded), newest first.
    steps: Vec<(usize, Vec<HostId>)>,
    pos: usize,
    then: Then,
    /// Services to undo after this one (the rest of a cascade), in order.
    next: Vec<usize>,
}

/// Whether an operator undid the service: the plan does not restore it again by itself
/// (an operator's restore, by hand, does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Undone {
    #[default]
    No,
    ByOperator,
}

/// What follows a complete undo.
#[derive(Debug, Clone)]
enum Then {
    /// An operator asked: the service is `undone`, then checked.
    Check,
    /// `on_fail = "undo"`: the service is marked failed, for this reason.
    Fail(Option<String>),
}

impl Engine {
    /// Whether the service was undone by an operator's undo (and not restored by hand since).
    pub fn was_undone(&self, id: &ServiceId) -> bool {
        self.services
            .get_index_of(id)
            .is_some_and(|si| self.tracks[si].undone == Undone::ByOperator)
    }

    /// The `undo` commands an undo of the service would run now, per step (newest first)
    /// and host, as shown (secrets masked); with `Cascade::Dependents`, its dependents'
    /// first. For a front end to show before it asks: nothing runs.
    pub fn undo_preview(
        &self,
        id: &ServiceId,
        cascade: Cascade,
    ) -> Vec<(crate::engine::state::StepRef, HostId, String)> {
        let Some(si) = self.services.get_index_of(id) else {
            return Vec::new();
        };
        let mut order = match cascade {
            Cascade::Alone => Vec::new(),
            Cascade::Dependents => self.dependents_reversed(si),
        };
        order.push(si);
        let mut out = Vec::new();
        for i in order {
            let service = &self.runbook.services[i];
            for (index, hosts) in self.undo_plan(i, |_, _| true) {
                let Some(step) = service.restores.get(index) else {
                    continue;
                };
                if step.policy.undo.is_none() {
                    continue;
                }
                for host in hosts {
                    let shown = self
                        .runbook
                        .expand(Phase::Undo.action(step), &service.id, &host)
                        .shown;
                    out.push((self.step_ref(i, Phase::Undo, index), host, shown));
                }
            }
        }
        out
    }

    /// A restore step succeeded on a host: it becomes the newest thing to undo.
    pub(super) fn record_success(&mut self, si: usize, index: usize, host: &HostId) {
        let succeeded = &mut self.tracks[si].succeeded;
        succeeded.retain(|(i, h)| !(*i == index && h == host));
        succeeded.push((index, host.clone()));
        // An earlier undo there no longer stands: the view shows the step done again.
        let undo_ref = self.step_ref(si, Phase::Undo, index);
        if let Some(hosts) = self.services[si].steps.get_mut(&undo_ref) {
            hosts.shift_remove(host);
        }
    }

    /// An undo succeeded on a host: the restore step is no longer done there (a restore runs
    /// it again, without asking as a repeat).
    pub(super) fn record_undone(&mut self, si: usize, index: usize, host: &HostId) {
        let track = &mut self.tracks[si];
        track.succeeded.retain(|(i, h)| !(*i == index && h == host));
        track.done.remove(&(index, host.clone()));
        track.reapprove.remove(&(index, host.clone()));
    }

    /// What an undo of the service would take back: each restore step that succeeded, by
    /// its latest success, newest first, with the hosts where it did (in the step's order).
    /// `keep` filters (step index, host).
    fn undo_plan(
        &self,
        si: usize,
        keep: impl Fn(usize, &HostId) -> bool,
    ) -> Vec<(usize, Vec<HostId>)> {
        let succeeded = &self.tracks[si].succeeded;
        let mut order: Vec<usize> = Vec::new();
        for (index, host) in succeeded.iter().rev() {
            if keep(*index, host) && !order.contains(index) {
                order.push(*index);
            }
        }
        let service = &self.runbook.services[si];
        order
            .into_iter()
            .filter_map(|index| {
                let step = service.restores.get(index)?;
                let hosts: Vec<HostId> = step
                    .hosts
                    .iter()
                    .filter(|h| keep(index, h) && succeeded.contains(&(index, (*h).clone())))
                    .cloned()
                    .collect();
                (!hosts.is_empty()).then_some((index, hosts))
            })
            .collect()
    }

    /// Whether a plan undoes anything (steps without `undo` are only skipped).
    fn undoes_something(&self, si: usize, plan: &[(usize, Vec<HostId>)]) -> bool {
        let service = &self.runbook.services[si];
        plan.iter().any(|(index, _)| {
            service
                .restores
                .get(*index)
                .is_some_and(|s| s.policy.undo.is_some())
        })
    }

    /// The services that depend on `si`, directly or not, in reverse plan order (higher
    /// tiers first, later in the runbook first within a tier).
    fn dependents_reversed(&self, si: usize) -> Vec<usize> {
        let services = &self.runbook.services;
        let mut found: Vec<usize> = Vec::new();
        let mut stack: Vec<&ServiceId> = vec![&services[si].id];
        while let Some(id) = stack.pop() {
            for (di, s) in services.iter().enumerate() {
                if di != si && !found.contains(&di) && s.depends_on.contains(id) {
                    found.push(di);
                    stack.push(&s.id);
                }
            }
        }
        found.sort_by_key(|&di| std::cmp::Reverse((services[di].tier, di)));
        found
    }

    /// `Input::Undo`.
    pub(super) fn operator_undo(
        &mut self,
        id: &ServiceId,
        cascade: Cascade,
        out: &mut Vec<Effect>,
    ) {
        let Some(si) = self.services.get_index_of(id) else {
            return;
        };
        if self.is_stopped() || self.options.check_only {
            return;
        }
        let mut order = match cascade {
            Cascade::Alone => Vec::new(),
            Cascade::Dependents => self.dependents_reversed(si),
        };
        order.push(si);
        // Something is changing one of them: an undo now would race it.
        let busy = order.iter().any(|&i| {
            self.tracks[i]
                .job
                .as_ref()
                .is_some_and(|j| !matches!(j.phase, Phase::Check | Phase::Verify))
        });
        if busy {
            return;
        }
        let order: Vec<usize> = order
            .into_iter()
            .filter(|&i| {
                let plan = self.undo_plan(i, |_, _| true);
                self.undoes_something(i, &plan)
            })
            .collect();
        let Some((&first, rest)) = order.split_first() else {
            return;
        };
        let plan = self.undo_plan(first, |_, _| true);
        self.start_undo(first, plan, Then::Check, rest.to_vec(), out);
    }

    /// `on_fail = "undo"`: the restore of `si` failed for `reason`; undo its steps done
    /// since its last verification, then mark it failed. `false` when there is nothing to
    /// undo (or the policy is `stop`): the caller marks it failed at once.
    pub(super) fn undo_after_failure(
        &mut self,
        si: usize,
        reason: Option<String>,
        out: &mut Vec<Effect>,
    ) -> bool {
        if self.runbook.services[si].on_fail != OnFail::Undo || self.is_stopped() {
            return false;
        }
        let done = self.tracks[si].done.clone();
        let plan = self.undo_plan(si, |index, host| done.contains(&(index, host.clone())));
        if !self.undoes_something(si, &plan) {
            return false;
        }
        self.start_undo(si, plan, Then::Fail(reason), Vec::new(), out);
        true
    }

    fn start_undo(
        &mut self,
        si: usize,
        steps: Vec<(usize, Vec<HostId>)>,
        then: Then,
        next: Vec<usize>,
        out: &mut Vec<Effect>,
    ) {
        self.drop_job(si);
        self.active = true;
        let track = &mut self.tracks[si];
        track.paused_at = None;
        track.restore_after_check = None;
        for (index, hosts) in &steps {
            let step_ref = self.step_ref(si, Phase::Undo, *index);
            let pending = hosts
                .iter()
                .map(|h| (h.clone(), HostStatus::Pending))
                .collect();
            self.services[si].steps.insert(step_ref, pending);
        }
        self.tracks[si].undo = Some(UndoRun {
            steps,
            pos: 0,
            then,
            next,
        });
        let job = self.new_job(Phase::Undo, 0, false);
        self.tracks[si].job = Some(job);
        self.begin_undo_step(si, out);
    }

    /// Start the undo's current step: skip one with no `undo` (said so), ask one whose
    /// restore step asks, or run it on the hosts where the restore step succeeded.
    fn begin_undo_step(&mut self, si: usize, out: &mut Vec<Effect>) {
        let runbook = Arc::clone(&self.runbook);
        let service = &runbook.services[si];
        loop {
            let Some(run) = &mut self.tracks[si].undo else {
                return;
            };
            let Some((index, hosts)) = run.steps.get(run.pos).cloned() else {
                self.undo_finished(si, out);
                return;
            };
            let Some(step) = service.restores.get(index) else {
                run.pos += 1;
                continue;
            };
            let step_ref = self.step_ref(si, Phase::Undo, index);
            self.services[si].current = Some(step_ref.clone());
            let Some(job) = &mut self.tracks[si].job else {
                return;
            };
            job.index = index;
            job.passed = 0;
            let job_id = job.id;
            if step.policy.undo.is_none() {
                for host in &hosts {
                    self.set_host(&step_ref, host, HostStatus::NotRun);
                }
                out.push(Effect::Skipped {
                    step: step_ref,
                    reason: "no undo declared: what it did is left as it is".to_string(),
                });
                if let Some(run) = &mut self.tracks[si].undo {
                    run.pos += 1;
                }
                continue;
            }
            if step.confirm.asks() {
                let commands: Vec<_> = hosts
                    .iter()
                    .map(|h| {
                        (
                            h.clone(),
                            runbook.expand(Phase::Undo.action(step), &service.id, h),
                        )
                    })
                    .collect();
                let reason = Some(format!(
                    "undo of '{}': takes back what the restore step did on these hosts",
                    step.name
                ));
                let asked = super::steps::Asked {
                    step: step_ref,
                    index,
                    hosts,
                    commands,
                    reason,
                };
                self.ask_approval(si, job_id, step, asked, out);
                return;
            }
            self.run_on(si, job_id, &step_ref, &hosts, out);
            return;
        }
    }

    /// An undo step concluded on every host: stop the undo at a failure, else go on.
    pub(super) fn undo_step_done(&mut self, si: usize, out: &mut Vec<Effect>) {
        let Some(job) = &mut self.tracks[si].job else {
            return;
        };
        if job.failures.is_empty() {
            if let Some(run) = &mut self.tracks[si].undo {
                run.pos += 1;
            }
            self.begin_undo_step(si, out);
            return;
        }
        // A failed undo stops there: taking back older steps over a newer one still in place
        // could make things worse. What is left stays done, and the operator decides.
        let failed = summary(&job.failures).unwrap_or_default();
        self.tracks[si].job = None;
        self.services[si].current = None;
        let run = self.tracks[si].undo.take();
        let mut reason = format!("undo stopped: {failed}");
        if let Some(UndoRun {
            then: Then::Fail(Some(first)),
            ..
        }) = &run
        {
            reason = format!("{first}; {reason}");
        }
        let left: Vec<String> = run
            .map(|r| r.next)
            .unwrap_or_default()
            .iter()
            .map(|&i| format!("'{}'", self.runbook.services[i].id))
            .collect();
        if !left.is_empty() {
            let _ = write!(reason, "; not undone: {}", left.join(", "));
        }
        self.set_state(si, ServiceState::Failed, Some(reason), out);
    }

    /// Every step of the undo is done: `undone` and checked, or failed (`on_fail`); then the
    /// next service of a cascade.
    fn undo_finished(&mut self, si: usize, out: &mut Vec<Effect>) {
        self.tracks[si].job = None;
        self.services[si].current = None;
        let Some(run) = self.tracks[si].undo.take() else {
            return;
        };
        let service = &self.runbook.services[si];
        let names: Vec<String> = run
            .steps
            .iter()
            .filter_map(|(i, _)| service.restores.get(*i))
            .filter(|s| s.policy.undo.is_some())
            .map(|s| format!("'{}'", s.name))
            .collect();
        let rolled_back = format!("rolled back: {}", names.join(", "));
        match run.then {
            Then::Check => {
                let track = &mut self.tracks[si];
                track.undone = Undone::ByOperator;
                track.restored = false;
                track.resumed_up = false;
                track.resumed_in_flight = false;
                self.set_state(si, ServiceState::Undone, Some(rolled_back), out);
                if !self.is_stopped() {
                    self.start_probe(si, Phase::Check, out);
                }
            }
            Then::Fail(reason) => {
                let reason = match reason {
                    Some(r) => format!("{r}; {rolled_back}"),
                    None => rolled_back,
                };
                self.set_state(si, ServiceState::Failed, Some(reason), out);
            }
        }
        if let Some((&first, rest)) = run.next.split_first()
            && !self.is_stopped()
        {
            let plan = self.undo_plan(first, |_, _| true);
            self.start_undo(first, plan, Then::Check, rest.to_vec(), out);
        }
    }
}
