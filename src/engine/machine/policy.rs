//! Step policies inside the engine (SPEC "Undo and policies"): a step `only` for the other
//! mode is skipped and said so; a question with a `confirm_timeout` is declined when nobody
//! answers in time, timed by the engine's own timers (`Effect::Sleep`, answered by `Wake`).

use std::time::Duration;

use crate::engine::effect::Effect;
use crate::engine::event::TimerId;
use crate::engine::machine::steps::step_word;
use crate::engine::machine::{Ask, Engine};
use crate::engine::state::{HostStatus, Mode, Phase, StepRef};
use crate::runbook::model::{HostId, Only, Step};

/// A question that is declined when its timer fires first.
#[derive(Debug, Clone)]
pub(super) struct Deadline {
    job: u64,
    step: StepRef,
    after: Duration,
}

/// A duration as a runbook writes it ("10m", "90s", "2h").
pub fn duration_words(d: Duration) -> String {
    let ms = d.as_millis();
    let secs = d.as_secs();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if secs != 0 && secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs != 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs != 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

impl Engine {
    /// A restore step `only` for the other mode: skipped on every host, `Effect::Skipped`
    /// says why. `true` when it was skipped.
    pub(super) fn skip_for_mode(
        &mut self,
        step_ref: &StepRef,
        step: &Step,
        hosts: &[HostId],
        out: &mut Vec<Effect>,
    ) -> bool {
        let Some(only) = step.policy.only else {
            return false;
        };
        let mode = match self.options.mode {
            Mode::Incident => Only::Incident,
            Mode::Drill => Only::Drill,
        };
        if step_ref.phase != Phase::Restore || only == mode {
            return false;
        }
        for host in hosts {
            self.set_host(step_ref, host, HostStatus::NotRun);
        }
        out.push(Effect::Skipped {
            step: step_ref.clone(),
            reason: format!(
                "only = \"{}\": not run in {} mode",
                only.as_str(),
                match mode {
                    Only::Incident => "incident",
                    Only::Drill => "drill",
                }
            ),
        });
        true
    }

    /// The question about `step` just asked by job `job`: with a `confirm_timeout`, a timer.
    pub(super) fn arm_confirm_timeout(
        &mut self,
        job: u64,
        step_ref: &StepRef,
        step: &Step,
        out: &mut Vec<Effect>,
    ) {
        let Some(after) = step.policy.confirm_timeout else {
            return;
        };
        let timer = TimerId(self.fresh_id());
        self.confirm_timers.insert(
            timer,
            Deadline {
                job,
                step: step_ref.clone(),
                after,
            },
        );
        out.push(Effect::Sleep { timer, after });
    }

    /// `Wake` for a confirm timeout: when its question is still asked, decline it. `false`
    /// when the timer is not one of these (a retry's).
    pub(super) fn on_confirm_timeout(&mut self, timer: TimerId, out: &mut Vec<Effect>) -> bool {
        let Some(deadline) = self.confirm_timers.remove(&timer) else {
            return false;
        };
        let Some(si) = self.services.get_index_of(&deadline.step.service) else {
            return true;
        };
        let still_asked = self.tracks[si].job.as_ref().is_some_and(|job| {
            job.id == deadline.job
                && job.phase == deadline.step.phase
                && matches!(&job.asking, Some(Ask::Approval { index, .. }) if *index == deadline.step.index)
        });
        if !still_asked || self.is_stopped() {
            return true;
        }
        let why = format!("no answer in {}", duration_words(deadline.after));
        let name = deadline.step.name(&self.runbook).to_string();
        self.services[si].waiting = None;
        let Some(job) = &mut self.tracks[si].job else {
            return true;
        };
        let Some(Ask::Approval { hosts, .. }) = job.asking.take() else {
            return true;
        };
        job.failures.push(format!(
            "{} '{name}' declined: {why}",
            step_word(deadline.step.phase)
        ));
        for host in &hosts {
            self.set_host(&deadline.step, host, HostStatus::NotRun);
        }
        out.push(Effect::Declined {
            step: deadline.step,
            reason: why,
        });
        self.conclude_if_done(si, out);
        true
    }
}
