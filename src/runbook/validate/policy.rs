//! The keys of SPEC "Undo and policies": `undo` (a restore step's reverse command, under the
//! same template and quoting rules as `run`), `on_fail`, `only` and `confirm_timeout`.

use std::time::Duration;

use super::{HelpIfNone, StepCx, Validator};
use crate::runbook::diag::{Diag, closest};
use crate::runbook::model::{Confirm, OnFail, Only, StepAction, StepPolicy};
use crate::runbook::raw::{RawStep, S};

/// The shortest `confirm_timeout`: an operator needs time to read the command.
pub const MIN_CONFIRM_TIMEOUT: Duration = Duration::from_secs(1);

impl Validator<'_> {
    /// `on_fail = "stop" | "undo"`.
    pub(super) fn on_fail(&mut self, value: Option<&S<String>>, default: OnFail) -> OnFail {
        let Some(value) = value else { return default };
        match value.get_ref().as_str() {
            "stop" => OnFail::Stop,
            "undo" => OnFail::Undo,
            other => {
                self.error(
                    Diag::new(value.span(), format!("on_fail '{other}' is not a policy"))
                        .suggest(closest(other, ["stop", "undo"]))
                        .help_if_none("on_fail is \"stop\" (mark the service failed) or \"undo\" (run the undo of its steps already done first)"),
                );
                default
            }
        }
    }

    /// `confirm_timeout`, at least [`MIN_CONFIRM_TIMEOUT`].
    pub(super) fn confirm_timeout(
        &mut self,
        value: Option<&S<String>>,
        default: Option<Duration>,
    ) -> Option<Duration> {
        let Some(value) = value else { return default };
        let d = self.duration_at_least(
            Some(value),
            MIN_CONFIRM_TIMEOUT,
            MIN_CONFIRM_TIMEOUT,
            "confirm_timeout",
        );
        Some(d)
    }

    /// A step's `undo`, `only` and `confirm_timeout`, checked against its phase and action.
    pub(super) fn step_policy(
        &mut self,
        step: &RawStep,
        phase: &str,
        confirm: Confirm,
        cx: &StepCx<'_>,
    ) -> StepPolicy {
        let name = step.name.get_ref();
        let undo = step.undo.as_ref().and_then(|undo| {
            if phase != "restore" {
                self.error(
                    Diag::new(undo.span(), format!("{phase} step '{name}' of '{}' has 'undo'", cx.service))
                        .help("only restore steps are undone; move the command to a [[service.restore]] step"),
                );
                return None;
            }
            if step.manual.is_some() {
                self.error(
                    Diag::new(undo.span(), format!("manual step '{name}' of '{}' has 'undo'", cx.service))
                        .help("a manual step runs on no host, so there is nothing to undo where it ran; make it a run step, or add a manual step that reverses it"),
                );
                return None;
            }
            if undo.get_ref().trim().is_empty() {
                self.error(
                    Diag::new(undo.span(), format!("restore step '{name}' of '{}' has an empty 'undo'", cx.service))
                        .help("give the command that takes the step back, or remove 'undo'"),
                );
                return None;
            }
            let template = self.template(undo, cx.scope);
            self.quoting(undo, &template);
            Some(StepAction::Run(template))
        });
        let only = step.only.as_ref().and_then(|only| {
            let mode = match only.get_ref().as_str() {
                "incident" => Only::Incident,
                "drill" => Only::Drill,
                other => {
                    self.error(
                        Diag::new(only.span(), format!("only '{other}' is not a mode"))
                            .suggest(closest(other, ["incident", "drill"]))
                            .help_if_none("only is \"incident\" or \"drill\""),
                    );
                    return None;
                }
            };
            if phase != "restore" {
                self.error(
                    Diag::new(only.span(), format!("{phase} step '{name}' of '{}' has 'only'", cx.service))
                        .help("only restore steps run in one mode alone: a check must mean the same in a drill and an incident, and inject steps run in drills only anyway"),
                );
                return None;
            }
            Some(mode)
        });
        let confirm_timeout = match &step.confirm_timeout {
            Some(t) if !confirm.asks() => {
                self.error(
                    Diag::new(
                        t.span(),
                        format!(
                            "step '{name}' of '{}' has 'confirm_timeout' but does not ask",
                            cx.service
                        ),
                    )
                    .help("add confirm = true, or remove confirm_timeout"),
                );
                None
            }
            given => self.confirm_timeout(given.as_ref(), cx.scope.defaults.confirm_timeout),
        };
        StepPolicy {
            undo,
            only,
            confirm_timeout: confirm_timeout.filter(|_| confirm.asks()),
        }
    }
}
