//! The engine's vocabulary (service states, phases, outcomes) and the read-only views that
//! front ends draw from. No IO here.

use std::fmt;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::runbook::model::{HostId, Runbook, Service, ServiceId, Step};

/// SPEC's service states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    #[default]
    Unknown,
    Checking,
    Healthy,
    Down,
    Partial,
    Restoring,
    Verifying,
    Restored,
    Failed,
    Blocked,
    Skipped,
    /// A check could not run at all on some host (connection, authentication, host key):
    /// nothing is known, so it is never restored automatically.
    Unreachable,
    /// Only in `run_finished` of a run resumed with `--force`: the runbook it went on with no
    /// longer has the service (its journaled states still count towards the outcome).
    Removed,
    /// Its restore steps were taken back (`undo`); checked next, so it does not stay here.
    Undone,
}

impl ServiceState {
    pub const ALL: [ServiceState; 14] = [
        Self::Unknown,
        Self::Checking,
        Self::Healthy,
        Self::Down,
        Self::Partial,
        Self::Restoring,
        Self::Verifying,
        Self::Restored,
        Self::Failed,
        Self::Blocked,
        Self::Skipped,
        Self::Unreachable,
        Self::Removed,
        Self::Undone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Checking => "checking",
            Self::Healthy => "healthy",
            Self::Down => "down",
            Self::Partial => "partial",
            Self::Restoring => "restoring",
            Self::Verifying => "verifying",
            Self::Restored => "restored",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Skipped => "skipped",
            Self::Unreachable => "unreachable",
            Self::Removed => "removed",
            Self::Undone => "undone",
        }
    }

    /// Healthy or restored: dependents may start.
    pub fn is_up(self) -> bool {
        matches!(self, Self::Healthy | Self::Restored)
    }

    /// Settled in SPEC's sense: the next tier may start once every lower-tier service is here.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Self::Healthy
                | Self::Restored
                | Self::Failed
                | Self::Blocked
                | Self::Skipped
                | Self::Unreachable
                | Self::Removed
        )
    }

    /// Work is under way on the service.
    pub fn is_busy(self) -> bool {
        matches!(self, Self::Checking | Self::Restoring | Self::Verifying)
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which list of a service's steps a step belongs to (verification re-runs the checks).
/// Ordered, so it serves in keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Check,
    Restore,
    Verify,
    Inject,
    /// A restore step's `undo` command (it indexes `restores`).
    Undo,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::Restore => "restore",
            Self::Verify => "verify",
            Self::Inject => "inject",
            Self::Undo => "undo",
        }
    }

    /// What `step` runs in this phase: its `undo` command when undoing, else its action.
    pub fn action(self, step: &Step) -> &crate::runbook::model::StepAction {
        match (self, &step.policy.undo) {
            (Self::Undo, Some(undo)) => undo,
            _ => &step.action,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one attempt of one step on one host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    Ok,
    Failed,
    Timeout,
    /// Could not run at all: connection, authentication, host key.
    Error,
    /// In flight when bringup stopped and gone when a resumed run looked for it: how it
    /// ended was never seen.
    Unknown,
    /// Never started on this host: the step's failure budget was exceeded, or the rest
    /// after its canary was not approved (SPEC "Fleets"). Journaled with the reason.
    #[serde(rename = "not_run")]
    NotRun,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Error => "error",
            Self::Unknown => "unknown",
            Self::NotRun => "not_run",
        }
    }
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approved,
    Declined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManualOutcome {
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Incident,
    Drill,
}

/// Which step of which service: `index` into the service's checks, restores or injects
/// (`Verify` re-runs the checks, so it indexes `checks`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepRef {
    pub service: ServiceId,
    pub phase: Phase,
    pub index: usize,
}

impl Phase {
    /// The list of a service's steps this phase runs: verification re-runs the checks.
    pub fn steps(self, service: &Service) -> &[Step] {
        match self {
            Phase::Check | Phase::Verify => &service.checks,
            Phase::Restore | Phase::Undo => &service.restores,
            Phase::Inject => &service.injects,
        }
    }
}

impl StepRef {
    /// The step this points at: the one home of that lookup for the engine, the driver and
    /// every front end.
    pub fn step<'a>(&self, runbook: &'a Runbook) -> Option<&'a Step> {
        runbook
            .services
            .iter()
            .find(|s| s.id == self.service)
            .and_then(|s| self.phase.steps(s).get(self.index))
    }

    /// The step of `service` in `phase` named `name`, if the runbook has it: the one lookup
    /// from a journaled name back to a reference (`Verify` finds a check).
    pub fn named(
        runbook: &Runbook,
        service: &ServiceId,
        phase: Phase,
        name: &str,
    ) -> Option<StepRef> {
        let s = runbook.services.iter().find(|s| &s.id == service)?;
        let index = phase.steps(s).iter().position(|st| st.name == name)?;
        Some(StepRef {
            service: service.clone(),
            phase,
            index,
        })
    }

    /// The step's name, or `""` for a reference that points nowhere.
    pub fn name<'a>(&self, runbook: &'a Runbook) -> &'a str {
        self.step(runbook).map_or("", |s| s.name.as_str())
    }
}

/// Where one step stands on one host.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HostStatus {
    #[default]
    Pending,
    Running {
        attempt: u32,
    },
    /// Waiting for the retry delay before `next_attempt`.
    RetryWait {
        next_attempt: u32,
    },
    /// The engine's verdict (`Failed` when the exit code or output did not match, whatever
    /// the driver said). Manual steps: `Ok`/`Failed` with attempt 1 and no exit code. Attempt 0:
    /// recorded successful by the journal a run resumed from.
    Finished {
        outcome: StepOutcome,
        exit_code: Option<i32>,
        attempt: u32,
        duration: Duration,
    },
    /// Not run: declined, or its retry was dropped by `Stop` or a skip.
    NotRun,
}

/// What an operator is being asked for, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Waiting {
    Approval {
        step: StepRef,
        hosts: Vec<HostId>,
        /// Commands as shown (secrets masked), one per host.
        commands: Vec<(HostId, String)>,
        /// Why an approval is asked of a step that needs none by itself (a restore step that
        /// ran `ok` before the run stopped, run again for a new outage).
        reason: Option<String>,
    },
    Manual {
        step: StepRef,
        instruction: String,
    },
}

/// Everything a front end needs to draw one service; kept current by the engine.
#[derive(Debug, Clone, Default)]
pub struct ServiceView {
    pub state: ServiceState,
    /// Why it is in that state (failed step, blocking dependency, skip reason).
    pub reason: Option<String>,
    /// Per step of the service, per host, the latest status, keyed by step. Checks and restore
    /// steps are present from the start; verification and inject steps once they first run.
    pub steps: IndexMap<StepRef, IndexMap<HostId, HostStatus>>,
    /// The step running now or next, if any.
    pub current: Option<StepRef>,
    pub waiting: Option<Waiting>,
    /// Started by an operator out of the plan's order.
    pub by_hand: bool,
    /// Times the service entered `restoring` (for reports).
    pub restore_attempts: u32,
    /// Hosts named degraded (SPEC "Fleets"): up without them (`min_healthy`), or a restore
    /// step failed on them within its `max_fail` (its verification then fails nothing there
    /// unless `min_healthy` is set). In the service's host order.
    pub degraded: Vec<HostId>,
}
