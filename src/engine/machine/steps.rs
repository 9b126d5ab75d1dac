//! Step execution inside the engine: probes (checks, verification), sequences (restore,
//! inject), attempts and retries; operators' answers are in `answers`. Decides no order
//! between services.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crate::engine::effect::Effect;
use crate::engine::event::{AttemptId, Launch, TimerId, passes};
use crate::engine::machine::batch::HostResult;
use crate::engine::machine::{Ask, Engine, Flight, Job};
use crate::engine::state::{HostStatus, Phase, ServiceState, StepOutcome, StepRef, Waiting};
use crate::runbook::model::{HostId, Service, Step, StepAction};

/// The steps a phase runs: verification re-runs the checks.
pub(super) fn steps_of(service: &Service, phase: Phase) -> &[Step] {
    phase.steps(service)
}

/// What `Input::StepFinished` reported.
pub(super) struct AttemptResult {
    pub outcome: StepOutcome,
    pub exit_code: Option<i32>,
    pub duration: Duration,
    pub error: Option<String>,
    pub output_matched: Option<bool>,
    pub refused: bool,
}

pub(super) fn step_word(phase: Phase) -> &'static str {
    match phase {
        Phase::Check | Phase::Verify => "check",
        Phase::Restore => "restore step",
        Phase::Inject => "inject step",
        Phase::Undo => "undo of",
    }
}

/// Why one attempt did not pass, for the service's reason.
fn failure_reason(step: &Step, phase: Phase, host: &HostId, result: &AttemptResult) -> String {
    let what = crate::engine::attempt_failure(
        step,
        result.outcome,
        result.exit_code,
        result.output_matched,
    )
    .unwrap_or_else(|| "failed".to_string());
    let mut reason = format!(
        "{} '{}' failed on '{host}': {what}",
        step_word(phase),
        step.name
    );
    if let Some(detail) = result.error.as_deref().filter(|e| !e.is_empty()) {
        reason.push_str(": ");
        reason.push_str(detail);
    }
    reason
}

/// Why a check could not run on a host, for an `unreachable` service's reason.
fn unreachable_reason(step: &Step, host: &HostId, result: &AttemptResult) -> String {
    let mut reason = format!("check '{}' could not run on '{host}'", step.name);
    if let Some(detail) = result.error.as_deref().filter(|e| !e.is_empty()) {
        reason.push_str(": ");
        reason.push_str(detail);
    }
    reason
}

/// The first failure, and how many more there were.
pub(super) fn summary(failures: &[String]) -> Option<String> {
    let first = failures.first()?;
    Some(match failures.len() {
        1 => first.clone(),
        n => format!("{first} (and {} more)", n - 1),
    })
}

impl Engine {
    /// Run every check of the service on every host at once (`Check` or `Verify`).
    pub(super) fn start_probe(&mut self, si: usize, phase: Phase, out: &mut Vec<Effect>) {
        let runbook = std::sync::Arc::clone(&self.runbook);
        let service = &runbook.services[si];
        self.drop_job(si);
        self.active = true;
        let to = if phase == Phase::Verify {
            ServiceState::Verifying
        } else {
            ServiceState::Checking
        };
        self.tracks[si].blocker = None;
        self.tracks[si].checks_pass = None;
        self.set_state(si, to, None, out);
        let mut job = self.new_job(phase, 0, false);
        let mut launches = Vec::new();
        for (index, step) in service.checks.iter().enumerate() {
            let step_ref = self.step_ref(si, phase, index);
            self.services[si].steps.insert(
                step_ref.clone(),
                step.hosts
                    .iter()
                    .map(|h| (h.clone(), HostStatus::Pending))
                    .collect(),
            );
            match step.action {
                StepAction::Manual(_) => job.manual_queue.push_back(index),
                StepAction::Run(_) => {
                    for host in &step.hosts {
                        job.pending.insert((index, host.clone()));
                        launches.push((step_ref.clone(), host.clone()));
                    }
                }
            }
        }
        let job_id = job.id;
        self.services[si].current =
            (!service.checks.is_empty()).then(|| self.step_ref(si, phase, 0));
        self.tracks[si].job = Some(job);
        for (step_ref, host) in launches {
            self.launch(si, job_id, step_ref, host, 1, out);
        }
        self.ask_next_manual_check(si, out);
        self.conclude_if_done(si, out);
    }

    /// Enter `restoring` and run the restore steps (`single`: only the next one).
    pub(super) fn start_restore(&mut self, si: usize, single: bool, out: &mut Vec<Effect>) {
        self.tracks[si].blocker = None;
        self.tracks[si].restore_after_check = None;
        self.services[si].restore_attempts += 1;
        self.fleet_restore_begins(si);
        // What a previous restore left on the view goes, except what will not run again.
        let runbook = std::sync::Arc::clone(&self.runbook);
        for (index, step) in runbook.services[si].restores.iter().enumerate() {
            let step_ref = self.step_ref(si, Phase::Restore, index);
            for host in self.hosts_to_run(si, Phase::Restore, index, step) {
                self.set_host(&step_ref, &host, HostStatus::Pending);
            }
        }
        let reason = self.services[si]
            .by_hand
            .then(|| "started by hand".to_string());
        self.set_state(si, ServiceState::Restoring, reason, out);
        self.start_sequence(si, Phase::Restore, 0, single, out);
    }

    /// Run restore or inject steps in order from `index`.
    pub(super) fn start_sequence(
        &mut self,
        si: usize,
        phase: Phase,
        index: usize,
        single: bool,
        out: &mut Vec<Effect>,
    ) {
        self.drop_job(si);
        self.active = true;
        if phase == Phase::Inject {
            let service = &self.runbook.services[si];
            for (index, step) in service.injects.iter().enumerate() {
                let step_ref = self.step_ref(si, phase, index);
                let hosts = step
                    .hosts
                    .iter()
                    .map(|h| (h.clone(), HostStatus::Pending))
                    .collect();
                self.services[si].steps.insert(step_ref, hosts);
            }
        }
        let mut job = self.new_job(phase, index, single);
        if phase == Phase::Inject {
            job.passed_over = std::mem::take(&mut self.tracks[si].injects_started);
        }
        self.tracks[si].job = Some(job);
        self.begin_step(si, out);
    }

    pub(super) fn new_job(&mut self, phase: Phase, index: usize, single: bool) -> Job {
        Job {
            id: self.fresh_id(),
            phase,
            index,
            single,
            pending: BTreeSet::new(),
            passed: 0,
            failures: Vec::new(),
            unreachable: Vec::new(),
            asking: None,
            manual_queue: VecDeque::new(),
            fleet: super::batch::JobFleet::default(),
            passed_over: BTreeSet::new(),
        }
    }

    pub(super) fn step_ref(&self, si: usize, phase: Phase, index: usize) -> StepRef {
        StepRef {
            service: self.runbook.services[si].id.clone(),
            phase,
            index,
        }
    }

    /// Hosts a sequence step still has to run on (restore steps skip recorded successes).
    fn hosts_to_run(&self, si: usize, phase: Phase, index: usize, step: &Step) -> Vec<HostId> {
        step.hosts
            .iter()
            .filter(|h| {
                phase != Phase::Restore
                    || (!self.tracks[si].done.contains(&(index, (*h).clone()))
                        && self.fleet_targets(si, h))
            })
            .cloned()
            .collect()
    }

    /// Start the sequence's current step, passing over steps with nothing left to run.
    fn begin_step(&mut self, si: usize, out: &mut Vec<Effect>) {
        let runbook = std::sync::Arc::clone(&self.runbook);
        let service = &runbook.services[si];
        let Some((phase, mut index, job_id)) = self.tracks[si]
            .job
            .as_ref()
            .map(|j| (j.phase, j.index, j.id))
        else {
            return;
        };
        let steps = steps_of(service, phase);
        loop {
            let Some(step) = steps.get(index) else {
                self.sequence_done(si, phase, out);
                return;
            };
            let step_ref = self.step_ref(si, phase, index);
            let hosts = self.hosts_to_run(si, phase, index, step);
            if let Some(job) = &mut self.tracks[si].job {
                job.index = index;
            }
            self.services[si].current = Some(step_ref.clone());
            if self.skip_for_mode(&step_ref, step, &hosts, out) {
                index += 1;
                continue;
            }
            if self.tracks[si]
                .job
                .as_ref()
                .is_some_and(|j| j.passed_over.contains(&index))
            {
                // Started before the resume: never started again.
                for host in &hosts {
                    self.set_host(&step_ref, host, HostStatus::NotRun);
                }
                index += 1;
                continue;
            }
            match &step.action {
                StepAction::Manual(_) => {
                    if phase == Phase::Restore && !step.hosts.is_empty() && hosts.is_empty() {
                        index += 1;
                        continue;
                    }
                    let instruction = self.expand_for(si, &step.action, step);
                    self.ask(si, Ask::Manual { index });
                    self.services[si].waiting = Some(Waiting::Manual {
                        step: step_ref.clone(),
                        instruction: instruction.shown.clone(),
                    });
                    out.push(Effect::AskManual {
                        step: step_ref,
                        instruction,
                    });
                    return;
                }
                StepAction::Run(_) if hosts.is_empty() => {
                    index += 1;
                }
                StepAction::Run(_)
                    if step.confirm.asks()
                        || hosts
                            .iter()
                            .any(|h| self.tracks[si].reapprove.contains(&(index, h.clone()))) =>
                {
                    let commands: Vec<_> = hosts
                        .iter()
                        .map(|h| (h.clone(), runbook.expand(&step.action, &service.id, h)))
                        .collect();
                    let reason = hosts
                        .iter()
                        .any(|h| self.tracks[si].reapprove.contains(&(index, h.clone())))
                        .then(|| {
                            "it ran ok before the run stopped; the service is down again (a new outage), so running it again needs your approval".to_string()
                        });
                    let asked = Asked {
                        step: step_ref,
                        index,
                        hosts,
                        commands,
                        reason,
                    };
                    self.ask_approval(si, job_id, step, asked, out);
                    return;
                }
                StepAction::Run(_) => {
                    self.run_on(si, job_id, &step_ref, &hosts, out);
                    return;
                }
            }
        }
    }

    /// Expand a manual instruction: with the step's first host, for `{{host}}` and friends.
    pub(super) fn expand_for(
        &self,
        si: usize,
        action: &StepAction,
        step: &Step,
    ) -> crate::runbook::model::Expanded {
        let service = &self.runbook.services[si];
        let host = step
            .hosts
            .first()
            .or_else(|| service.hosts.first())
            .cloned()
            .unwrap_or_else(|| HostId::new(""));
        self.runbook.expand(action, &service.id, &host)
    }

    /// Ask for an approval of `asked.step` before it runs on `asked.hosts` (its commands as
    /// expanded), and arm its `confirm_timeout`.
    pub(super) fn ask_approval(
        &mut self,
        si: usize,
        job_id: u64,
        step: &Step,
        asked: Asked,
        out: &mut Vec<Effect>,
    ) {
        let Asked {
            step: step_ref,
            index,
            hosts,
            commands,
            reason,
        } = asked;
        self.ask(
            si,
            Ask::Approval {
                index,
                hosts: hosts.clone(),
                approved_by: Vec::new(),
            },
        );
        self.services[si].waiting = Some(Waiting::Approval {
            step: step_ref.clone(),
            hosts,
            commands: commands
                .iter()
                .map(|(h, e)| (h.clone(), e.shown.clone()))
                .collect(),
            reason: reason.clone(),
        });
        self.arm_confirm_timeout(job_id, &step_ref, step, out);
        out.push(Effect::AskApproval {
            step: step_ref,
            commands,
            reason,
        });
    }

    pub(super) fn ask(&mut self, si: usize, ask: Ask) {
        if let Some(job) = &mut self.tracks[si].job {
            job.asking = Some(ask);
        }
    }

    pub(super) fn run_on(
        &mut self,
        si: usize,
        job_id: u64,
        step_ref: &StepRef,
        hosts: &[HostId],
        out: &mut Vec<Effect>,
    ) {
        self.run_fleet(si, job_id, step_ref, hosts, out);
    }

    /// Issue one attempt of one step on one host.
    pub(super) fn launch(
        &mut self,
        si: usize,
        job: u64,
        step: StepRef,
        host: HostId,
        attempt: u32,
        out: &mut Vec<Effect>,
    ) {
        let runbook = std::sync::Arc::clone(&self.runbook);
        let service = &runbook.services[si];
        let Some(def) = steps_of(service, step.phase).get(step.index) else {
            return;
        };
        let attempt_id = AttemptId(self.fresh_id());
        self.attempts.insert(
            attempt_id,
            Flight {
                service: si,
                job,
                step: step.clone(),
                host: host.clone(),
                attempt,
            },
        );
        self.set_host(&step, &host, HostStatus::Running { attempt });
        out.push(Effect::Run {
            command: runbook.expand(step.phase.action(def), &service.id, &host),
            timeout: def.timeout,
            expect_output: def.expect_output.clone(),
            expect_exit: def.expect_exit,
            launch: Launch {
                attempt_id,
                step,
                host,
                attempt,
            },
        });
    }

    pub(super) fn on_step_finished(
        &mut self,
        id: AttemptId,
        result: &AttemptResult,
        out: &mut Vec<Effect>,
    ) {
        let Some(flight) = self.attempts.remove(&id) else {
            return;
        };
        let runbook = std::sync::Arc::clone(&self.runbook);
        let Some(step) =
            steps_of(&runbook.services[flight.service], flight.step.phase).get(flight.step.index)
        else {
            return;
        };
        let ok = passes(
            result.outcome,
            result.exit_code,
            result.output_matched,
            step.expect_exit,
            step.expect_output.is_some(),
        );
        // The view records the engine's verdict, so a front end never shows `ok` for a failure.
        let outcome = if ok {
            StepOutcome::Ok
        } else if result.outcome == StepOutcome::Ok {
            StepOutcome::Failed
        } else {
            result.outcome
        };
        let si = flight.service;
        let current = self.tracks[si].job.as_ref().map(|j| j.id);
        // A result of dropped work shows only while no newer work on the service shows.
        if current.is_none_or(|id| id == flight.job) {
            self.set_host(
                &flight.step,
                &flight.host,
                HostStatus::Finished {
                    outcome,
                    exit_code: result.exit_code,
                    attempt: flight.attempt,
                    duration: result.duration,
                },
            );
        }
        if self.is_stopped() || current != Some(flight.job) {
            return;
        }
        // A check reports what it finds at once, so the sweep shows the whole picture within
        // seconds; verification uses the step's retries, giving a restored service time to
        // come up.
        let may_retry = flight.step.phase != Phase::Check;
        if !ok && may_retry && flight.attempt <= step.retries {
            let timer = TimerId(self.fresh_id());
            self.set_host(
                &flight.step,
                &flight.host,
                HostStatus::RetryWait {
                    next_attempt: flight.attempt.saturating_add(1),
                },
            );
            out.push(Effect::Sleep {
                timer,
                after: step.retry_delay,
            });
            self.timers.insert(
                timer,
                Flight {
                    attempt: flight.attempt.saturating_add(1),
                    ..flight
                },
            );
            return;
        }
        let phase = flight.step.phase;
        let host_result = if ok {
            HostResult::Passed
        } else if self.fleet_excuses(si, phase, &flight.host) {
            HostResult::Excused
        } else {
            HostResult::Failed
        };
        if let Some(job) = &mut self.tracks[si].job {
            job.pending
                .remove(&(flight.step.index, flight.host.clone()));
            match host_result {
                HostResult::Passed => job.passed += 1,
                // Judged with the service's degraded hosts (`judge_probe`), not a failure.
                HostResult::Excused => {}
                HostResult::Failed
                    if result.refused && matches!(phase, Phase::Check | Phase::Verify) =>
                {
                    job.unreachable
                        .push(unreachable_reason(step, &flight.host, result));
                }
                HostResult::Failed => {
                    job.failures
                        .push(failure_reason(step, phase, &flight.host, result));
                }
            }
            job.fleet.note(phase, &flight.host, host_result);
        }
        if ok && phase == Phase::Restore {
            self.record_success(si, flight.step.index, &flight.host);
            self.tracks[si]
                .done
                .insert((flight.step.index, flight.host));
        } else if ok && phase == Phase::Undo {
            self.record_undone(si, flight.step.index, &flight.host);
        }
        self.conclude_if_done(si, out);
    }

    pub(super) fn on_wake(&mut self, timer: TimerId, out: &mut Vec<Effect>) {
        let Some(flight) = self.timers.remove(&timer) else {
            return;
        };
        if self.is_stopped()
            || self.tracks[flight.service]
                .job
                .as_ref()
                .is_none_or(|j| j.id != flight.job)
        {
            return;
        }
        self.launch(
            flight.service,
            flight.job,
            flight.step,
            flight.host,
            flight.attempt,
            out,
        );
    }

    /// Called whenever a unit of the job concludes: finish the probe or the step when nothing
    /// of it is left.
    pub(super) fn conclude_if_done(&mut self, si: usize, out: &mut Vec<Effect>) {
        let Some(job) = &self.tracks[si].job else {
            return;
        };
        if !job.pending.is_empty() || job.asking.is_some() || !job.manual_queue.is_empty() {
            return;
        }
        match job.phase {
            Phase::Check | Phase::Verify => self.probe_done(si, out),
            Phase::Restore | Phase::Inject => {
                if !self.fleet_continue(si, out) {
                    self.step_done(si, out);
                }
            }
            Phase::Undo => self.undo_step_done(si, out),
        }
    }

    fn probe_done(&mut self, si: usize, out: &mut Vec<Effect>) {
        let Some(mut job) = self.tracks[si].job.take() else {
            return;
        };
        self.judge_probe(si, &mut job);
        let degraded = self.degraded_reason(si);
        self.services[si].current = None;
        if !job.unreachable.is_empty() {
            // Nothing is known about the service: never down, never restored on its own.
            // Restore steps that succeeded stay done; a later check that runs moves it on.
            let track = &mut self.tracks[si];
            track.checks_pass = None;
            track.restore_after_check = None;
            self.set_state(
                si,
                ServiceState::Unreachable,
                summary(&job.unreachable),
                out,
            );
            return;
        }
        let pass = job.failures.is_empty();
        let reason = summary(&job.failures);
        self.tracks[si].checks_pass = Some(pass);
        let track = &mut self.tracks[si];
        let resumed = std::mem::take(&mut track.resumed_in_flight);
        let restore_after = track.restore_after_check.take();
        if job.phase == Phase::Verify {
            track.done.clear();
            track.restored = pass;
            if pass {
                self.set_state(si, ServiceState::Restored, degraded, out);
            } else {
                let reason = reason.map(|r| format!("verification: {r}"));
                self.set_state(si, ServiceState::Failed, reason, out);
            }
            return;
        }
        if pass {
            track.resumed_up = false;
            let (to, reason) = if resumed {
                (
                    ServiceState::Restored,
                    Some("verified after resume".to_string()),
                )
            } else if track.restored {
                // Checked again after its restore: still the restore that brought it back.
                (ServiceState::Restored, None)
            } else {
                (ServiceState::Healthy, None)
            };
            let reason = match (reason, degraded) {
                (Some(r), Some(d)) => Some(format!("{r}; {d}")),
                (r, d) => r.or(d),
            };
            track.restored = to == ServiceState::Restored;
            self.set_state(si, to, reason, out);
            return;
        }
        track.restored = false;
        if std::mem::take(&mut track.resumed_up) {
            // Up when the run stopped, down now: a new outage. What ran `ok` before may run
            // again, but not without an operator's approval.
            let done = std::mem::take(&mut track.done);
            track.reapprove.extend(done);
        }
        let to = if job.passed == 0 {
            ServiceState::Down
        } else {
            ServiceState::Partial
        };
        self.set_state(si, to, reason, out);
        if let Some(by_hand) = restore_after
            && !self.is_stopped()
            && !self.options.check_only
        {
            self.services[si].by_hand = by_hand;
            self.start_restore(si, false, out);
        }
    }

    /// A sequence step concluded on every host: fail, pause, or go on.
    fn step_done(&mut self, si: usize, out: &mut Vec<Effect>) {
        let Some(job) = &mut self.tracks[si].job else {
            return;
        };
        if !job.failures.is_empty() {
            let reason = summary(&job.failures);
            let phase = job.phase;
            self.tracks[si].job = None;
            self.services[si].current = None;
            if phase == Phase::Restore {
                if !self.undo_after_failure(si, reason.clone(), out) {
                    self.set_state(si, ServiceState::Failed, reason, out);
                }
            } else {
                // A drill's inject went wrong: what the service is now is for the checks to say.
                self.start_probe(si, Phase::Check, out);
                if let Some(r) = reason {
                    self.services[si].reason.get_or_insert(r);
                }
            }
            return;
        }
        job.index += 1;
        job.passed = 0;
        if job.single {
            let next = self.next_restore_step(si);
            if let Some(next) = next {
                self.tracks[si].job = None;
                self.tracks[si].paused_at = Some(next);
                self.services[si].current = Some(self.step_ref(si, Phase::Restore, next));
                return;
            }
        }
        self.begin_step(si, out);
    }

    /// The next restore step of a paused (stepping) sequence with something left to do.
    fn next_restore_step(&self, si: usize) -> Option<usize> {
        let job = self.tracks[si].job.as_ref()?;
        if job.phase != Phase::Restore {
            return None;
        }
        let service = &self.runbook.services[si];
        (job.index..service.restores.len()).find(|&i| {
            let step = &service.restores[i];
            !self.hosts_to_run(si, Phase::Restore, i, step).is_empty()
                || (step.hosts.is_empty() && matches!(step.action, StepAction::Manual(_)))
        })
    }

    fn sequence_done(&mut self, si: usize, phase: Phase, out: &mut Vec<Effect>) {
        self.tracks[si].job = None;
        self.services[si].current = None;
        let next = if phase == Phase::Restore {
            Phase::Verify
        } else {
            Phase::Check
        };
        if self.is_stopped() {
            return;
        }
        self.start_probe(si, next, out);
    }

    /// Forget the service's job: its retry timers go, its questions are withdrawn; attempts
    /// still running only update the view when they come back.
    pub(super) fn drop_job(&mut self, si: usize) {
        let Some(job) = self.tracks[si].job.take() else {
            return;
        };
        let timers: Vec<TimerId> = self
            .timers
            .iter()
            .filter(|(_, f)| f.job == job.id)
            .map(|(t, _)| *t)
            .collect();
        for timer in timers {
            if let Some(flight) = self.timers.remove(&timer) {
                self.set_host(&flight.step, &flight.host, HostStatus::NotRun);
            }
        }
        self.services[si].waiting = None;
    }
}

/// An approval question about to be asked: the step, its index, where it runs and why.
pub(super) struct Asked {
    pub step: StepRef,
    pub index: usize,
    pub hosts: Vec<HostId>,
    pub commands: Vec<(HostId, crate::runbook::model::Expanded)>,
    pub reason: Option<String>,
}
