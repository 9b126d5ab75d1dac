//! Inputs to the engine: what happened outside it (a step ended, an operator decided, a
//! timer fired). The driver journals each one before feeding it in.

use std::time::Duration;

use crate::engine::state::{Decision, ManualOutcome, StepOutcome, StepRef};
use crate::runbook::model::{HostId, ServiceId};

/// A ticket for one attempt of one step on one host, issued by [`crate::engine::Effect::Run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(pub u64);

/// A ticket for a timer, issued by [`crate::engine::Effect::Sleep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Headless run or TUI auto mode: check everything selected (services still `unknown`) at
    /// once, then restore in plan order. Same as `SetAuto(true)`.
    RunPlan,
    /// Auto mode on or off (TUI). Off: nothing new starts unless an operator asks; work already
    /// started (a service's checks, its restore sequence) runs to its end.
    SetAuto(bool),
    /// Run the checks of one service now (any state but busy; a skipped or blocked service is
    /// checked again). Ignored while the service is busy.
    Check(ServiceId),
    /// Restore one service now, to the end. Never on a service whose latest checks passed; a
    /// service never checked is checked first and restored if they fail. A service paused by
    /// `NextStep` continues. Restore steps that succeeded since the last verification (or were
    /// recorded successful in a resumed journal) are not run again on those hosts. The view's
    /// `by_hand` is `by_hand` or'ed with the engine's own judgement that the plan would not
    /// start the service now.
    Restore { service: ServiceId, by_hand: bool },
    /// Run only the next pending restore step of the service, then pause it in `restoring`
    /// (TUI `Enter`); after the last step verification follows. On a service never checked,
    /// runs its checks instead.
    NextStep(ServiceId),
    /// Drill: run the service's inject steps in order (confirm and manual steps ask as usual),
    /// then check the service again. Its state does not change until that check.
    Inject(ServiceId),
    /// The service becomes `skipped` with `reason`; its work is dropped (attempts still running
    /// only update the view), and down dependents become `blocked`.
    Skip { service: ServiceId, reason: String },
    /// One attempt of `Effect::Run` came back.
    ///
    /// The rule for who judges a result: a host passes when `outcome` is `Ok`, `exit_code` is
    /// `Some(expect_exit)` and, when the step has `expect_output`, `output_matched` is
    /// `Some(true)` ([`passes`]). The engine applies this rule itself, so a driver that reports
    /// `Ok` for a wrong exit code cannot make a failing step pass. Drivers should still report
    /// `Failed` for a process that exited with anything but `expect_exit` or whose output did
    /// not match ([`classify_exit`]), so the journal's `outcome` agrees with the engine.
    StepFinished {
        attempt: AttemptId,
        outcome: StepOutcome,
        exit_code: Option<i32>,
        duration: Duration,
        /// The last non-empty output line (for reasons) or the transport's error.
        error: Option<String>,
        /// For checks with `expect_output`: whether the regex matched the output.
        output_matched: Option<bool>,
        /// The host refused before the command ran (connection, authentication, host key):
        /// a check that could not run says nothing about the service, which becomes
        /// `unreachable`, never `down`.
        refused: bool,
    },
    /// The delay of an `Effect::Sleep` has passed.
    Wake(TimerId),
    /// Answer to `Effect::AskApproval`; `Declined` fails the service. Whose it is, nobody
    /// checked: it does not count toward a two-person step (`confirm = 2`).
    Approval { step: StepRef, decision: Decision },
    /// The same answer by a principal the executing process knows (a verified signature, or
    /// its own operator at its terminal): a `confirm = 2` step runs once two different
    /// principals approved it. One decline, by anyone, declines.
    ApprovalBy {
        step: StepRef,
        decision: Decision,
        principal: String,
    },
    /// Answer to `Effect::AskManual`: `Done` goes on, `Failed` fails the service.
    Manual {
        step: StepRef,
        outcome: ManualOutcome,
    },
    /// The driver cannot ask an operator (no terminal): the manual step's service ends blocked.
    ManualUnavailable { step: StepRef },
    /// Stop: start nothing new, ever (running steps are cancelled by the driver). Questions
    /// are withdrawn and retries dropped; results still coming back update the view only.
    /// `Effect::Finished` follows once no attempt is out (at once if none).
    Stop,
    /// After `Stop` (an interrupted drill): every service whose work the stop cut short (a
    /// check, inject, restore or verification left open, a question withdrawn) becomes
    /// `unknown`: nothing has checked it since. Ignored unless stopped.
    Forget,
    /// Run the `undo` of every restore step of the service recorded ok, newest first, on
    /// exactly the hosts where it succeeded (a step without `undo` is skipped, and said so);
    /// then the service is `undone` and checked. With `Cascade::Dependents` its dependents
    /// are undone first, in reverse plan order. Ignored while one of them restores, injects
    /// or undoes; a check in progress is dropped. Nothing to undo: no effects.
    Undo {
        service: ServiceId,
        cascade: Cascade,
    },
    /// After `Stop`: `Forget`, then take requests again (operator drive), so that what an
    /// interrupted drill broke can be restored. Attempts still out are forgotten: their
    /// results update the view only. Ignored unless stopped.
    Reopen,
}

/// Whether an undo takes the service's dependents back too (`--cascade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Cascade {
    /// The service alone.
    #[default]
    Alone,
    /// Its dependents first (those that depend on it, directly or not), in reverse plan order.
    Dependents,
}

/// The engine's verdict on one attempt (see `Input::StepFinished`).
pub fn passes(
    outcome: StepOutcome,
    exit_code: Option<i32>,
    output_matched: Option<bool>,
    expect_exit: i32,
    expects_output: bool,
) -> bool {
    outcome == StepOutcome::Ok
        && exit_code == Some(expect_exit)
        && (!expects_output || output_matched == Some(true))
}

/// Why one attempt of `step` did not pass, in a few words ("exit 3, expected 0"), or `None`
/// when it passed: the rule of [`passes`], worded for reasons and reports.
pub fn attempt_failure(
    step: &crate::runbook::model::Step,
    outcome: StepOutcome,
    exit_code: Option<i32>,
    output_matched: Option<bool>,
) -> Option<String> {
    if passes(
        outcome,
        exit_code,
        output_matched,
        step.expect_exit,
        step.expect_output.is_some(),
    ) {
        return None;
    }
    Some(match (outcome, exit_code) {
        (StepOutcome::Timeout, _) => "timed out".to_string(),
        (StepOutcome::Error, _) => "could not run".to_string(),
        (StepOutcome::Unknown, _) => "outcome unknown".to_string(),
        (StepOutcome::NotRun, _) => "not run".to_string(),
        (_, Some(code)) if code != step.expect_exit => {
            format!("exit {code}, expected {}", step.expect_exit)
        }
        (_, None) => "no exit code".to_string(),
        _ if step.expect_output.is_some() && output_matched != Some(true) => {
            let re = step.expect_output.as_ref().map_or("", regex::Regex::as_str);
            format!("output did not match '{re}'")
        }
        _ => "failed".to_string(),
    })
}

/// The outcome a driver reports for a process that ran and exited with `exit_code`:
/// `Ok` when it matches `expect_exit` and the output matched (if a regex was given), else `Failed`.
pub fn classify_exit(
    exit_code: i32,
    expect_exit: i32,
    output_matched: Option<bool>,
) -> StepOutcome {
    if exit_code == expect_exit && output_matched != Some(false) {
        StepOutcome::Ok
    } else {
        StepOutcome::Failed
    }
}

/// A step attempt on one host that the engine asked for (kept for matching results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub attempt_id: AttemptId,
    pub step: StepRef,
    pub host: HostId,
    pub attempt: u32,
}

/// Facts replayed from a journal so a resumed run continues where it stopped.
#[derive(Debug, Clone, Default)]
pub struct ResumeFacts {
    /// Last recorded state of each service.
    pub states: Vec<(
        ServiceId,
        crate::engine::state::ServiceState,
        Option<String>,
    )>,
    /// Restore steps recorded as successful on a host: never run again (only `Restore`
    /// step refs count; others are ignored).
    pub restored_steps: Vec<(StepRef, HostId)>,
    /// Restore steps whose question (approval or manual step) was asked and never answered:
    /// asked again, before anything else is done for their service.
    pub pending: Vec<StepRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_classifies_a_wrong_exit_code_or_unmatched_output_as_failed() {
        assert_eq!(classify_exit(0, 0, None), StepOutcome::Ok);
        assert_eq!(classify_exit(0, 0, Some(true)), StepOutcome::Ok);
        assert_eq!(classify_exit(1, 0, None), StepOutcome::Failed);
        assert_eq!(classify_exit(3, 3, None), StepOutcome::Ok);
        assert_eq!(classify_exit(0, 0, Some(false)), StepOutcome::Failed);
    }

    #[test]
    fn a_pass_needs_ok_the_expected_exit_and_a_match_when_one_is_expected() {
        assert!(passes(StepOutcome::Ok, Some(0), None, 0, false));
        assert!(!passes(StepOutcome::Ok, Some(1), None, 0, false));
        assert!(!passes(StepOutcome::Ok, None, None, 0, false));
        assert!(!passes(StepOutcome::Timeout, Some(0), None, 0, false));
        assert!(!passes(StepOutcome::Ok, Some(0), None, 0, true));
        assert!(passes(StepOutcome::Ok, Some(0), Some(true), 0, true));
    }
}
