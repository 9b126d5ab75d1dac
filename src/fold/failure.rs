//! Which failure each service (and the run) stopped on, and why (SPEC "One picture of the
//! run"): a step that failed on a host with its exit code, timed out or could not reach it; an
//! approval declined by someone; a manual step marked failed by someone; a fleet step's failure
//! budget exceeded. Folded from the journal like the rest of [`RunFold`], so the executor's
//! screen, an attached one, a take-over and the reports name the same cause.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::engine::state::{Decision, ManualOutcome, Phase, ServiceState, StepOutcome};
use crate::journal::event::Event;
use crate::runbook::model::{HostId, ServiceId};

use super::RunFold;

/// Why a step ended a service's restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    /// The step failed on `Failure::host`, with its exit code when it had one.
    Failed { exit_code: Option<i32> },
    /// The step ran out of time on `Failure::host`.
    TimedOut,
    /// The step could not run on `Failure::host` (connection, authentication, host key).
    Unreachable { error: Option<String> },
    /// In flight when bringup stopped; how it ended on `Failure::host` was never seen.
    Unseen,
    /// Its approval was declined, by an operator (or by bringup itself when nobody answered in
    /// the step's `confirm_timeout`: `bringup (no answer in 10m)`).
    Declined { by: String },
    /// A manual step an operator marked failed.
    ManualFailed { by: String },
    /// More hosts failed than the step's `max_fail` allows (SPEC "Fleets"): `not_run` hosts
    /// were never started. `Failure::host` is the last host that failed, when one did.
    BudgetExceeded { reason: String, not_run: u32 },
    /// The service failed without a step result, an answer or a budget saying why: its
    /// state change's reason.
    Other { reason: Option<String> },
}

/// One service's failure: the step it stopped at and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub service: ServiceId,
    pub phase: Phase,
    /// The step's name; empty for [`FailureCause::Other`].
    pub step: String,
    /// The host whose output tells what went wrong, for causes that ran on a host.
    pub host: Option<HostId>,
    pub cause: FailureCause,
    /// The seq and time of the event that recorded the cause.
    pub seq: u64,
    pub at: DateTime<Utc>,
}

/// A service's failure as of its move into `failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub failure: Failure,
    /// The seq of the `service_state` event that made the service `failed`.
    pub failed_seq: u64,
}

/// Each service's latest failure, folded from step results, answers and state changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failures {
    /// Per service, the latest bad result since it was last up (not yet a failed state).
    pending: IndexMap<ServiceId, Failure>,
    /// Per service, the failure it stopped on the last time it became `failed`.
    stopped: IndexMap<ServiceId, Stopped>,
    /// The service that became `failed` last.
    latest: Option<ServiceId>,
}

impl Failures {
    /// One event, in journal order (`at` already cut to the journal's milliseconds).
    pub(super) fn push(&mut self, seq: u64, at: DateTime<Utc>, event: &Event) {
        let failure = |service: &ServiceId, phase: Phase, step: &str, host, cause| Failure {
            service: service.clone(),
            phase,
            step: step.to_string(),
            host,
            cause,
            seq,
            at,
        };
        match event {
            Event::StepFinished { phase, .. } if *phase != Phase::Check => {
                self.step_result(seq, at, event);
            }
            Event::Approval {
                service,
                step,
                phase,
                decision: Decision::Declined,
                operator,
                ..
            } => {
                let by = operator.clone();
                let phase = phase.unwrap_or_else(|| self.phase_of(service, step));
                let f = failure(service, phase, step, None, FailureCause::Declined { by });
                self.pending.insert(service.clone(), f);
            }
            Event::Manual {
                service,
                step,
                outcome: ManualOutcome::Failed,
                operator,
                ..
            } => {
                let by = operator.clone();
                let phase = self.phase_of(service, step);
                let f = failure(
                    service,
                    phase,
                    step,
                    None,
                    FailureCause::ManualFailed { by },
                );
                self.pending.insert(service.clone(), f);
            }
            Event::ServiceState {
                service,
                to: ServiceState::Failed,
                reason,
                ..
            } => {
                let failure = self.pending.get(service).cloned().unwrap_or_else(|| {
                    let reason = reason.clone();
                    failure(
                        service,
                        Phase::Restore,
                        "",
                        None,
                        FailureCause::Other { reason },
                    )
                });
                self.stopped.insert(
                    service.clone(),
                    Stopped {
                        failure,
                        failed_seq: seq,
                    },
                );
                self.latest = Some(service.clone());
            }
            Event::ServiceState { service, to, .. } if to.is_up() => {
                self.pending.shift_remove(service);
            }
            _ => {}
        }
    }

    /// A step's result on a host: a bad one is what the service would fail for; an `ok` where
    /// it failed before takes that back; `not_run` hosts are a budget's (or a declined
    /// canary's) doing.
    fn step_result(&mut self, seq: u64, at: DateTime<Utc>, event: &Event) {
        let Event::StepFinished {
            service,
            phase,
            step,
            host,
            outcome,
            exit_code,
            error,
            ..
        } = event
        else {
            return;
        };
        let cause = match outcome {
            StepOutcome::Ok => {
                // The step that failed here passed since: it no longer explains anything.
                let same = |f: &Failure| {
                    f.phase == *phase && f.step == *step && f.host.as_ref() == Some(host)
                };
                if self.pending.get(service).is_some_and(same) {
                    self.pending.shift_remove(service);
                }
                return;
            }
            StepOutcome::NotRun => {
                self.not_run(service, *phase, step, error.as_deref(), seq, at);
                return;
            }
            StepOutcome::Failed => FailureCause::Failed {
                exit_code: *exit_code,
            },
            StepOutcome::Timeout => FailureCause::TimedOut,
            StepOutcome::Error => FailureCause::Unreachable {
                error: error.clone(),
            },
            StepOutcome::Unknown => FailureCause::Unseen,
        };
        let failure = Failure {
            service: service.clone(),
            phase: *phase,
            step: step.clone(),
            host: Some(host.clone()),
            cause,
            seq,
            at,
        };
        self.pending.insert(service.clone(), failure);
    }

    /// A host the step never started on. Beside a declined approval (the rest after a
    /// canary) the decline stays the cause; otherwise the step's failure budget ran out, and
    /// the host that failed last stays the one whose output tells why.
    fn not_run(
        &mut self,
        service: &ServiceId,
        phase: Phase,
        step: &str,
        reason: Option<&str>,
        seq: u64,
        at: DateTime<Utc>,
    ) {
        let same_step = |f: &Failure| f.phase == phase && f.step == step;
        let last = self.pending.get_mut(service).filter(|f| same_step(f));
        if let Some(f) = last {
            match &mut f.cause {
                FailureCause::Declined { .. } => return,
                FailureCause::BudgetExceeded { not_run, .. } => {
                    *not_run += 1;
                    return;
                }
                _ => {}
            }
        }
        let host = self
            .pending
            .get(service)
            .filter(|f| same_step(f))
            .and_then(|f| f.host.clone());
        let cause = FailureCause::BudgetExceeded {
            reason: reason.unwrap_or("failure budget exceeded").to_string(),
            not_run: 1,
        };
        self.pending.insert(
            service.clone(),
            Failure {
                service: service.clone(),
                phase,
                step: step.to_string(),
                host,
                cause,
                seq,
                at,
            },
        );
    }

    /// The phase an answered step belongs to when its answer does not say (manual steps, and
    /// approvals in older journals): that of the service's last bad result for a step of
    /// that name, else a restore (where confirm and manual steps mostly are).
    fn phase_of(&self, service: &ServiceId, step: &str) -> Phase {
        self.pending
            .get(service)
            .filter(|f| f.step == step)
            .map_or(Phase::Restore, |f| f.phase)
    }

    /// The failure `service` stopped on the last time it became `failed`, whatever it is now.
    pub fn last(&self, service: &ServiceId) -> Option<&Stopped> {
        self.stopped.get(service)
    }

    /// The service that became `failed` last, and the seq of that change.
    pub fn latest(&self) -> Option<&Stopped> {
        self.stopped.get(self.latest.as_ref()?)
    }
}

impl RunFold {
    /// The failure `service` stopped on, while it is `failed`.
    pub fn failure(&self, service: &ServiceId) -> Option<&Failure> {
        let failed = self
            .services
            .get(service)
            .is_some_and(|s| s.state == ServiceState::Failed);
        failed
            .then(|| self.failures.last(service))
            .flatten()
            .map(|s| &s.failure)
    }

    /// The failure the run stopped on: the latest one whose service is still `failed`, else
    /// the first still-failed service's (in the order the run lists them), with the seq of
    /// its move into `failed`.
    pub fn stopped_on(&self) -> Option<&Stopped> {
        let still = |s: &&Stopped| self.failure(&s.failure.service).is_some();
        self.failures.latest().filter(still).or_else(|| {
            self.services
                .keys()
                .filter_map(|id| self.failures.last(id))
                .find(still)
        })
    }
}
