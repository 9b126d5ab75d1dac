//! Outputs of the engine: what the driver must do. The engine never does IO itself.

use std::time::Duration;

use crate::engine::event::{Launch, TimerId};
use crate::engine::state::{ServiceState, StepRef};
use crate::runbook::model::{Expanded, HostId, ServiceId};

#[derive(Debug, Clone)]
pub enum Effect {
    /// A service changed state: journal `service_state`.
    State {
        service: ServiceId,
        from: ServiceState,
        to: ServiceState,
        reason: Option<String>,
    },
    /// Run a command on a host: journal `step_started`, then send it. Answer with
    /// `Input::StepFinished` carrying the same attempt id.
    Run {
        launch: Launch,
        command: Expanded,
        timeout: Duration,
        /// For checks: the regex the output must match (the driver reports `output_matched`).
        expect_output: Option<regex::Regex>,
        expect_exit: i32,
    },
    /// Ask an operator to approve a `confirm` restore or inject step on these hosts (answer
    /// `Input::Approval`). Show only `Expanded::shown`. Checks never ask: they are read-only.
    AskApproval {
        step: StepRef,
        commands: Vec<(HostId, Expanded)>,
        /// Why, when the step is not a `confirm` step (see `Waiting::Approval::reason`).
        reason: Option<String>,
    },
    /// Ask an operator to carry out a manual step (answer `Input::Manual` or `ManualUnavailable`).
    /// The instruction is expanded for the step's first host.
    AskManual {
        step: StepRef,
        instruction: Expanded,
    },
    /// These hosts of a restore or inject step will not run it (SPEC "Fleets": the failure
    /// budget was exceeded, or the rest after a canary was not approved): journal
    /// `step_finished` with `outcome: "not_run"` and `reason` as its error, one per host.
    NotRun {
        step: StepRef,
        hosts: Vec<HostId>,
        reason: String,
    },
    /// A step did not run and will not: journal `step_skipped` with the reason (a step `only`
    /// for the other mode; a restore step with no `undo` when undoing).
    Skipped { step: StepRef, reason: String },
    /// A question nobody answered in its `confirm_timeout` was declined by the run itself:
    /// journal `approval` declined, with the reason.
    Declined { step: StepRef, reason: String },
    /// Feed `Input::Wake(timer)` back after this long (retry delay, confirm timeout).
    Sleep { timer: TimerId, after: Duration },
    /// Nothing is running, waiting for a timer or waiting for an operator, and nothing can
    /// start: the run is over (headless) or idle (TUI). Emitted once each time the engine falls
    /// idle after work was started (in a headless run: exactly once). Lists the selected
    /// services (`--only`), in runbook order.
    Finished {
        services: Vec<(ServiceId, ServiceState)>,
    },
}
