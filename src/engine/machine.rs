//! The run engine: a pure state machine over a validated runbook.
//! `handle(Input) -> Vec<Effect>`; no IO, no clock, no async. Ordering lives in `plan`,
//! step execution (attempts, retries) in `steps`, operators' answers in `answers`.

mod answers;
mod batch;
mod plan;
mod policy;
mod steps;
mod undo;

#[cfg(test)]
mod fleet_proptests;
#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod two_person_tests;
#[cfg(test)]
mod undo_tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::engine::effect::Effect;
use crate::engine::event::{AttemptId, Input, ResumeFacts, TimerId};
use crate::engine::state::{HostStatus, Phase, ServiceState, ServiceView, StepOutcome, StepRef};
use crate::runbook::model::{HostId, Runbook, ServiceId, Step};

/// Options fixed for the whole run.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// `--only`: restrict the run to these services (empty: all). Unselected services are
    /// never restored by the plan and are left out of `Effect::Finished`; those a selected
    /// service depends on (directly or not) are still checked in the sweep, because a selected
    /// service restores only once its dependencies are up. One found down blocks its selected
    /// dependents ("… not selected").
    pub only: BTreeSet<ServiceId>,
    /// `--check-only`: the plan checks the selected services and never restores.
    pub check_only: bool,
    /// The run's mode: a step `only` for the other one is skipped.
    pub mode: crate::engine::state::Mode,
}

impl EngineOptions {
    /// Whether `--only` selects this service: the one selection rule, for the engine and for
    /// what runs without one (`run --dry-run`).
    pub fn selects(&self, id: &ServiceId) -> bool {
        self.only.is_empty() || self.only.contains(id)
    }

    /// Per runbook service, in order: whether a run with these options touches it (selected,
    /// or, unless it checks only, a dependency of a selected service).
    pub fn in_plan(&self, runbook: &Runbook) -> Vec<bool> {
        let selected: Vec<bool> = runbook
            .services
            .iter()
            .map(|s| self.selects(&s.id))
            .collect();
        plan::with_dependencies(runbook, &selected, self.check_only)
    }
}

/// The run engine. Build with [`Engine::new`], optionally [`Engine::resume`], then feed
/// every [`Input`] to [`Engine::handle`] and carry out the returned effects in order.
pub struct Engine {
    runbook: Arc<Runbook>,
    options: EngineOptions,
    services: IndexMap<ServiceId, ServiceView>,
    /// Per service (same index as `services`): what the engine tracks but does not show.
    tracks: Vec<Track>,
    /// Per service: in `--only` (or everything when `only` is empty).
    selected: Vec<bool>,
    /// Per service: selected, or a dependency of one (checked so dependents can be judged).
    in_plan: Vec<bool>,
    attempts: BTreeMap<AttemptId, Flight>,
    timers: BTreeMap<TimerId, Flight>,
    /// Questions with a `confirm_timeout`: declined when their timer fires first.
    confirm_timers: BTreeMap<TimerId, policy::Deadline>,
    next_id: u64,
    drive: Drive,
    /// Every service of the plan has been checked once; restores may begin.
    swept: bool,
    /// Something was started since the last `Finished`; cleared when `Finished` is emitted.
    active: bool,
}

/// Who starts work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drive {
    /// Only operator requests (TUI with auto mode off).
    Operator,
    /// The plan starts work by itself (`RunPlan`, TUI `a`).
    Auto,
    /// `Stop`: nothing new starts, ever.
    Stopped,
}

/// One attempt in flight or one retry waiting for its timer.
#[derive(Debug, Clone)]
struct Flight {
    service: usize,
    /// The job that issued it; a result for a job that is gone only updates the view.
    job: u64,
    step: StepRef,
    host: HostId,
    attempt: u32,
}

/// Per-service bookkeeping behind the view.
#[derive(Debug, Default)]
struct Track {
    job: Option<Job>,
    /// Why the service is blocked, when it is.
    blocker: Option<Blocker>,
    /// Outcome of the latest completed check or verification: `Some(true)` all passed.
    checks_pass: Option<bool>,
    /// Restore steps (index, host) that succeeded and are not run again until the restore
    /// completes its verification (seeded from the journal on resume).
    done: BTreeSet<(usize, HostId)>,
    /// An operator asked to restore before the service was checked: restore (by hand or not)
    /// if the checks fail.
    restore_after_check: Option<bool>,
    /// Stepping (TUI `Enter`): the restore is paused before this restore step.
    paused_at: Option<usize>,
    /// Resumed while restoring or verifying: a passing re-check means restored.
    resumed_in_flight: bool,
    /// Restored and up since: a passing re-check keeps it `restored`, so no view loses the
    /// restore. A failing one (a new outage) clears it.
    restored: bool,
    /// Resumed while recorded up (healthy or restored): a failing re-check is a new outage, so
    /// the restore steps recorded `ok` run again, each only after an operator approves.
    resumed_up: bool,
    /// Restore steps (index, host) that ran `ok` before a new outage found on resume: each
    /// asks for approval before it runs again.
    reapprove: BTreeSet<(usize, HostId)>,
    /// Degraded and unhealthy hosts (SPEC "Fleets").
    fleet: batch::TrackFleet,
    /// Restore steps (index, host) that succeeded and were not undone since, oldest first:
    /// what an undo takes back (seeded from the journal on resume).
    succeeded: Vec<(usize, HostId)>,
    /// An undo in progress: what is left of it.
    undo: Option<undo::UndoRun>,
    /// Undone by an operator: the plan does not restore it again by itself.
    undone: undo::Undone,
    /// Inject steps (indexes) the run being resumed started: the next inject sequence of the
    /// service passes over them (an inject already started is never started again).
    injects_started: BTreeSet<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocker {
    /// A dependency failed, was skipped or is blocked; lifted when none is any more.
    Dependency { from: ServiceState },
    /// A manual step needs an operator, or the journal recorded it blocked; only an operator lifts it.
    Operator,
}

/// Work under way on one service: a probe (every check on every host at once, for `Check`
/// or `Verify`) or a sequence of steps run in order (`Restore`, `Inject`).
#[derive(Debug)]
struct Job {
    id: u64,
    phase: Phase,
    /// Sequences: the step in progress.
    index: usize,
    /// Sequences: pause after this step (TUI `Enter`).
    single: bool,
    /// (step index, host) units not concluded: in flight or waiting to retry.
    pending: BTreeSet<(usize, HostId)>,
    passed: usize,
    failures: Vec<String>,
    /// Probes: checks that could not run at all on a host (why, naming the host).
    unreachable: Vec<String>,
    asking: Option<Ask>,
    /// Probes: manual checks not asked yet (asked one at a time).
    manual_queue: VecDeque<usize>,
    /// Batches, canary and budget of a sequence step; a probe's unhealthy hosts.
    fleet: batch::JobFleet,
    /// Inject sequences: steps started before a resume, passed over.
    passed_over: BTreeSet<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ask {
    Approval {
        index: usize,
        hosts: Vec<HostId>,
        /// Principals who approved so far (a `confirm = 2` step waits for a second one).
        approved_by: Vec<String>,
    },
    Manual {
        index: usize,
    },
}

impl Engine {
    pub fn new(runbook: Arc<Runbook>, options: EngineOptions) -> Self {
        let services: IndexMap<ServiceId, ServiceView> = runbook
            .services
            .iter()
            .map(|s| {
                let mut view = ServiceView::default();
                for phase in [Phase::Check, Phase::Restore] {
                    let steps = steps::steps_of(s, phase);
                    for (index, step) in steps.iter().enumerate() {
                        let hosts = step
                            .hosts
                            .iter()
                            .map(|h| (h.clone(), HostStatus::Pending))
                            .collect();
                        view.steps.insert(
                            StepRef {
                                service: s.id.clone(),
                                phase,
                                index,
                            },
                            hosts,
                        );
                    }
                }
                (s.id.clone(), view)
            })
            .collect();
        let selected: Vec<bool> = runbook
            .services
            .iter()
            .map(|s| options.selects(&s.id))
            .collect();
        let in_plan = plan::with_dependencies(&runbook, &selected, options.check_only);
        let tracks = runbook.services.iter().map(|_| Track::default()).collect();
        Self {
            runbook,
            options,
            services,
            tracks,
            selected,
            in_plan,
            attempts: BTreeMap::new(),
            timers: BTreeMap::new(),
            confirm_timers: BTreeMap::new(),
            next_id: 1,
            drive: Drive::Operator,
            swept: false,
            active: false,
        }
    }

    /// Continue from a journal. Every service of the plan is checked again now (checks are
    /// read-only), whatever its recorded state, except those an operator skipped. A passing
    /// re-check of one that was restoring or verifying ends `restored`, of one recorded
    /// restored stays `restored`, of any other `healthy`. Restore steps recorded successful on
    /// a host are not run there again while the service stays up; a service recorded up whose
    /// re-check fails is a new outage, and each of those steps then asks for approval first.
    /// Call before any `handle`; a headless run then sends `RunPlan` as usual.
    pub fn resume(&mut self, facts: &ResumeFacts) -> Vec<Effect> {
        let mut out = Vec::new();
        for (step, host) in &facts.restored_steps {
            let Some(si) = self.services.get_index_of(&step.service) else {
                continue;
            };
            if step.phase != Phase::Restore {
                continue;
            }
            self.tracks[si].done.insert((step.index, host.clone()));
            self.record_success(si, step.index, host);
            if let Some(status) = self.services[si]
                .steps
                .get_mut(step)
                .and_then(|hosts| hosts.get_mut(host))
            {
                // Attempt 0: recorded by the run being resumed.
                *status = HostStatus::Finished {
                    outcome: StepOutcome::Ok,
                    exit_code: None,
                    attempt: 0,
                    duration: std::time::Duration::ZERO,
                };
            }
        }
        for (id, state, reason) in &facts.states {
            let Some(si) = self.services.get_index_of(id) else {
                continue;
            };
            let view = &mut self.services[si];
            view.state = *state;
            view.reason.clone_from(reason);
            let track = &mut self.tracks[si];
            track.checks_pass = match state {
                ServiceState::Healthy | ServiceState::Restored => Some(true),
                ServiceState::Down | ServiceState::Partial | ServiceState::Failed => Some(false),
                _ => None,
            };
            track.blocker = (*state == ServiceState::Blocked).then_some(Blocker::Operator);
            track.resumed_in_flight =
                matches!(state, ServiceState::Restoring | ServiceState::Verifying);
            track.restored = *state == ServiceState::Restored;
            track.resumed_up = matches!(state, ServiceState::Healthy | ServiceState::Restored);
        }
        // A question the run was waiting on when it stopped is asked again (SPEC "A take-over
        // is a hand-over"): a check passing meanwhile confirms no manual step.
        let mut asked_again = Vec::new();
        for step in &facts.pending {
            let Some(si) = self.services.get_index_of(&step.service) else {
                continue;
            };
            let state = self.services[si].state;
            if step.phase != Phase::Restore
                || !self.in_plan[si]
                || !matches!(state, ServiceState::Restoring | ServiceState::Blocked)
                || asked_again.contains(&si)
            {
                continue;
            }
            asked_again.push(si);
            if state == ServiceState::Blocked {
                // Blocked for want of an answer (no terminal to ask on): asked again now.
                self.tracks[si].blocker = None;
                self.set_state(si, ServiceState::Restoring, None, &mut out);
            }
            self.start_sequence(si, Phase::Restore, step.index, false, &mut out);
        }
        // What the journal says was true when it was written, maybe long ago: a restored
        // service's processes may have died with the crash. Check before anything restores.
        let recheck: Vec<usize> = (0..self.services.len())
            .filter(|&si| {
                self.in_plan[si]
                    && !asked_again.contains(&si)
                    && !matches!(
                        self.services[si].state,
                        ServiceState::Unknown | ServiceState::Skipped
                    )
            })
            .collect();
        for si in recheck {
            self.start_probe(si, Phase::Check, &mut out);
        }
        // The run is not under way until `RunPlan` (or an operator) says so: the re-checks
        // ending alone do not make a `Finished`.
        self.active = false;
        out
    }

    /// A resumed drill: the inject steps its journal records started (`step_started`), on
    /// any host. The next inject of their service runs the others alone, in order; an
    /// inject asked for after that runs every step again. References of other phases, or
    /// to services the runbook does not have, are ignored. Call before any `handle`.
    pub fn recall_injects(&mut self, started: &[StepRef]) {
        for step in started {
            if step.phase != Phase::Inject {
                continue;
            }
            if let Some(si) = self.services.get_index_of(&step.service) {
                self.tracks[si].injects_started.insert(step.index);
            }
        }
    }

    /// Feed one input; returns what the driver must do, in order. Inputs that do not apply
    /// (unknown ids, duplicates, answers to questions not asked) return no effects.
    pub fn handle(&mut self, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::RunPlan | Input::SetAuto(true) => {
                if self.drive == Drive::Operator {
                    self.drive = Drive::Auto;
                    self.active = true;
                }
            }
            Input::SetAuto(false) => {
                if self.drive == Drive::Auto {
                    self.drive = Drive::Operator;
                }
            }
            Input::Check(id) => self.operator_check(&id, &mut out),
            Input::Restore { service, by_hand } => {
                self.operator_restore(&service, by_hand, false, &mut out);
            }
            Input::NextStep(id) => self.operator_restore(&id, true, true, &mut out),
            Input::Inject(id) => self.operator_inject(&id, &mut out),
            Input::Skip { service, reason } => self.operator_skip(&service, reason, &mut out),
            Input::StepFinished {
                attempt,
                outcome,
                exit_code,
                duration,
                error,
                output_matched,
                refused,
            } => {
                let result = steps::AttemptResult {
                    outcome,
                    exit_code,
                    duration,
                    error,
                    output_matched,
                    refused,
                };
                self.on_step_finished(attempt, &result, &mut out);
            }
            Input::Wake(timer) => {
                if !self.on_confirm_timeout(timer, &mut out) {
                    self.on_wake(timer, &mut out);
                }
            }
            Input::Undo { service, cascade } => self.operator_undo(&service, cascade, &mut out),
            Input::Approval { step, decision } => {
                self.on_approval(&step, decision, None, &mut out);
            }
            Input::ApprovalBy {
                step,
                decision,
                principal,
            } => self.on_approval(&step, decision, Some(principal), &mut out),
            Input::Manual { step, outcome } => self.on_manual(&step, outcome, &mut out),
            Input::ManualUnavailable { step } => self.on_manual_unavailable(&step, &mut out),
            Input::Stop => self.stop(),
            Input::Forget => self.forget_stopped(&mut out),
            Input::Reopen => self.reopen(&mut out),
        }
        self.schedule(&mut out);
        out
    }

    pub fn runbook(&self) -> &Runbook {
        &self.runbook
    }

    /// Every service, in runbook order, with what a front end needs to draw it.
    /// The services `--only` selected, with their states now: what a run's outcome and exit
    /// code are made of, for every front end.
    pub fn selected_states(&self) -> Vec<(ServiceId, ServiceState)> {
        self.services
            .iter()
            .zip(&self.selected)
            .filter(|(_, selected)| **selected)
            .map(|((id, view), _)| (id.clone(), view.state))
            .collect()
    }

    pub fn services(&self) -> &IndexMap<ServiceId, ServiceView> {
        &self.services
    }

    pub fn service(&self, id: &ServiceId) -> Option<&ServiceView> {
        self.services.get(id)
    }

    /// The runbook step a `StepRef` names (`Verify` names a check), e.g. for its name.
    pub fn step(&self, step: &StepRef) -> Option<&Step> {
        let si = self.services.get_index_of(&step.service)?;
        steps::steps_of(&self.runbook.services[si], step.phase).get(step.index)
    }

    /// Whether the plan starts work by itself (after `RunPlan` or `SetAuto(true)`).
    pub fn is_auto(&self) -> bool {
        self.drive == Drive::Auto
    }

    /// After `Input::Stop`: nothing new starts.
    pub fn is_stopped(&self) -> bool {
        self.drive == Drive::Stopped
    }

    /// An attempt is out or a retry waits for its timer (questions aside).
    pub fn in_flight(&self) -> bool {
        !self.attempts.is_empty() || !self.timers.is_empty()
    }

    /// Nothing is running, waiting for a timer or waiting for an operator.
    pub fn is_idle(&self) -> bool {
        self.attempts.is_empty()
            && self.timers.is_empty()
            && self.services.values().all(|v| v.waiting.is_none())
    }

    fn operator_check(&mut self, id: &ServiceId, out: &mut Vec<Effect>) {
        let Some(si) = self.services.get_index_of(id) else {
            return;
        };
        if self.is_stopped() || self.tracks[si].job.is_some() {
            return;
        }
        self.tracks[si].paused_at = None;
        self.start_probe(si, Phase::Check, out);
    }

    /// `Restore` (whole sequence) or `NextStep` (`single`: one step, then pause).
    fn operator_restore(
        &mut self,
        id: &ServiceId,
        by_hand: bool,
        single: bool,
        out: &mut Vec<Effect>,
    ) {
        let Some(si) = self.services.get_index_of(id) else {
            return;
        };
        if self.is_stopped() || self.options.check_only || self.tracks[si].job.is_some() {
            return;
        }
        if let Some(index) = self.tracks[si].paused_at.take() {
            self.start_sequence(si, Phase::Restore, index, single, out);
            return;
        }
        let by_hand = by_hand || !self.plan_ready(si);
        // An operator asks for it again: what was undone may be restored.
        self.tracks[si].undone = undo::Undone::No;
        match self.tracks[si].checks_pass {
            // Restore never runs on a service whose checks pass.
            Some(true) => {}
            Some(false) => {
                self.services[si].by_hand = by_hand;
                self.start_restore(si, single, out);
            }
            None => {
                if !single {
                    self.tracks[si].restore_after_check = Some(by_hand);
                }
                self.start_probe(si, Phase::Check, out);
            }
        }
    }

    fn operator_inject(&mut self, id: &ServiceId, out: &mut Vec<Effect>) {
        let Some(si) = self.services.get_index_of(id) else {
            return;
        };
        if self.is_stopped()
            || self.options.check_only
            || self.tracks[si].job.is_some()
            || self.runbook.services[si].injects.is_empty()
        {
            return;
        }
        self.tracks[si].paused_at = None;
        self.start_sequence(si, Phase::Inject, 0, false, out);
    }

    fn operator_skip(&mut self, id: &ServiceId, reason: String, out: &mut Vec<Effect>) {
        let Some(si) = self.services.get_index_of(id) else {
            return;
        };
        if self.is_stopped() || self.services[si].state == ServiceState::Skipped {
            return;
        }
        self.drop_job(si);
        let track = &mut self.tracks[si];
        track.paused_at = None;
        track.restore_after_check = None;
        track.blocker = None;
        track.restored = false;
        self.services[si].current = None;
        self.set_state(si, ServiceState::Skipped, Some(reason), out);
    }

    /// Start nothing new; results of attempts still running update the view only.
    fn stop(&mut self) {
        if self.is_stopped() {
            return;
        }
        self.drive = Drive::Stopped;
        self.active = true;
        self.confirm_timers.clear();
        for track in &mut self.tracks {
            track.undo = None;
        }
        for flight in std::mem::take(&mut self.timers).into_values() {
            self.set_host(&flight.step, &flight.host, HostStatus::NotRun);
        }
        for view in self.services.values_mut() {
            view.waiting = None;
        }
        for track in &mut self.tracks {
            if let Some(job) = &mut track.job {
                job.asking = None;
            }
        }
    }

    /// `Forget`: what the stop cut short is no longer known.
    fn forget_stopped(&mut self, out: &mut Vec<Effect>) {
        if !self.is_stopped() {
            return;
        }
        for si in 0..self.services.len() {
            let track = &self.tracks[si];
            let phase = match (&track.job, track.paused_at) {
                (Some(job), _) => job.phase,
                (None, Some(_)) => Phase::Restore,
                (None, None) => continue,
            };
            self.drop_job(si);
            let track = &mut self.tracks[si];
            track.paused_at = None;
            track.restore_after_check = None;
            track.checks_pass = None;
            if phase == Phase::Inject {
                track.restored = false;
            }
            self.services[si].current = None;
            let what = match phase {
                Phase::Check => "check",
                Phase::Verify => "verification",
                Phase::Restore => "restore",
                Phase::Inject => "inject",
                Phase::Undo => "undo",
            };
            let reason = format!("its {what} was stopped; nothing has checked it since");
            self.set_state(si, ServiceState::Unknown, Some(reason), out);
        }
    }

    /// `Reopen`: forget what the stop cut short, then take requests again.
    fn reopen(&mut self, out: &mut Vec<Effect>) {
        if !self.is_stopped() {
            return;
        }
        self.forget_stopped(out);
        for flight in std::mem::take(&mut self.attempts).into_values() {
            self.set_host(&flight.step, &flight.host, HostStatus::NotRun);
        }
        self.drive = Drive::Operator;
        self.active = false;
    }

    /// Change a service's state, emitting `Effect::State` when it differs.
    fn set_state(
        &mut self,
        si: usize,
        to: ServiceState,
        reason: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let Some((id, view)) = self.services.get_index_mut(si) else {
            return;
        };
        let from = view.state;
        view.reason.clone_from(&reason);
        if from == to {
            return;
        }
        view.state = to;
        out.push(Effect::State {
            service: id.clone(),
            from,
            to,
            reason,
        });
    }

    fn set_host(&mut self, step: &StepRef, host: &HostId, status: HostStatus) {
        if let Some(view) = self.services.get_mut(&step.service) {
            view.steps
                .entry(step.clone())
                .or_default()
                .insert(host.clone(), status);
        }
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}
