//! Operators' answers inside the engine: approvals of `confirm` steps and manual steps
//! (done, failed, no operator), and asking manual checks one at a time. Starts no service.

use std::time::Duration;

use crate::engine::effect::Effect;
use crate::engine::machine::steps::{step_word, steps_of};
use crate::engine::machine::{Ask, Blocker, Engine};
use crate::engine::state::{
    Decision, HostStatus, ManualOutcome, Phase, ServiceState, StepOutcome, StepRef, Waiting,
};
use crate::runbook::model::HostId;

impl Engine {
    /// The job of the service `step` names, when it is asking exactly this question.
    fn asked(&self, step: &StepRef, approval: bool) -> Option<usize> {
        let si = self.services.get_index_of(&step.service)?;
        let job = self.tracks[si].job.as_ref()?;
        let index = match (&job.asking, approval) {
            (Some(Ask::Approval { index, .. }), true) | (Some(Ask::Manual { index }), false) => {
                *index
            }
            _ => return None,
        };
        (job.phase == step.phase && index == step.index).then_some(si)
    }

    pub(super) fn on_approval(
        &mut self,
        step: &StepRef,
        decision: Decision,
        out: &mut Vec<Effect>,
    ) {
        let Some(si) = self.asked(step, true) else {
            return;
        };
        self.services[si].waiting = None;
        let name = self.step_name(step);
        let Some(job) = &mut self.tracks[si].job else {
            return;
        };
        let Some(Ask::Approval { hosts, .. }) = job.asking.take() else {
            return;
        };
        let job_id = job.id;
        match decision {
            Decision::Approved => {
                for host in &hosts {
                    self.tracks[si]
                        .reapprove
                        .remove(&(step.index, host.clone()));
                }
                self.run_on(si, job_id, step, &hosts, out);
            }
            Decision::Declined => {
                let word = step_word(step.phase);
                job.failures
                    .push(format!("{word} '{name}' declined by operator"));
                for host in &hosts {
                    self.set_host(step, host, HostStatus::NotRun);
                }
                self.conclude_if_done(si, out);
            }
        }
    }

    pub(super) fn on_manual(
        &mut self,
        step: &StepRef,
        outcome: ManualOutcome,
        out: &mut Vec<Effect>,
    ) {
        let Some(si) = self.asked(step, false) else {
            return;
        };
        self.services[si].waiting = None;
        let name = self.step_name(step);
        let hosts = self.step_hosts(step);
        if let Some(job) = &mut self.tracks[si].job {
            job.asking = None;
            match outcome {
                ManualOutcome::Done => job.passed += 1,
                ManualOutcome::Failed => job.failures.push(format!(
                    "manual {} '{name}' marked failed by operator",
                    step_word(step.phase)
                )),
            }
        }
        let status = HostStatus::Finished {
            outcome: match outcome {
                ManualOutcome::Done => StepOutcome::Ok,
                ManualOutcome::Failed => StepOutcome::Failed,
            },
            exit_code: None,
            attempt: 1,
            duration: Duration::ZERO,
        };
        for host in &hosts {
            self.set_host(step, host, status.clone());
        }
        if outcome == ManualOutcome::Done && step.phase == Phase::Restore {
            for host in hosts {
                self.tracks[si].done.insert((step.index, host));
            }
        }
        self.ask_next_manual_check(si, out);
        self.conclude_if_done(si, out);
    }

    pub(super) fn on_manual_unavailable(&mut self, step: &StepRef, out: &mut Vec<Effect>) {
        let Some(si) = self.asked(step, false) else {
            return;
        };
        let name = self.step_name(step);
        self.drop_job(si);
        self.services[si].current = None;
        self.tracks[si].blocker = Some(Blocker::Operator);
        let reason = format!("manual step '{name}' needs an operator");
        self.set_state(si, ServiceState::Blocked, Some(reason), out);
    }

    fn step_name(&self, step: &StepRef) -> String {
        self.services
            .get_index_of(&step.service)
            .and_then(|si| steps_of(&self.runbook.services[si], step.phase).get(step.index))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn step_hosts(&self, step: &StepRef) -> Vec<HostId> {
        self.services
            .get_index_of(&step.service)
            .and_then(|si| steps_of(&self.runbook.services[si], step.phase).get(step.index))
            .map(|s| s.hosts.clone())
            .unwrap_or_default()
    }

    /// Probes ask their manual checks one at a time.
    pub(super) fn ask_next_manual_check(&mut self, si: usize, out: &mut Vec<Effect>) {
        let runbook = std::sync::Arc::clone(&self.runbook);
        let stopped = self.is_stopped();
        let Some(job) = &mut self.tracks[si].job else {
            return;
        };
        if job.asking.is_some() || !matches!(job.phase, Phase::Check | Phase::Verify) || stopped {
            return;
        }
        let Some(index) = job.manual_queue.pop_front() else {
            return;
        };
        job.asking = Some(Ask::Manual { index });
        let phase = job.phase;
        let Some(step) = runbook.services[si].checks.get(index) else {
            return;
        };
        let step_ref = self.step_ref(si, phase, index);
        let instruction = self.expand_for(si, &step.action, step);
        self.services[si].waiting = Some(Waiting::Manual {
            step: step_ref.clone(),
            instruction: instruction.shown.clone(),
        });
        out.push(Effect::AskManual {
            step: step_ref,
            instruction,
        });
    }
}
