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
        principal: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let Some(si) = self.asked(step, true) else {
            return;
        };
        if decision == Decision::Approved && !self.enough_approvals(si, step, principal, out) {
            return;
        }
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
                self.fleet_declined(si, step, out);
                self.conclude_if_done(si, out);
            }
        }
    }

    /// A two-person step (`confirm = 2`) counts its approvals by principal: one not known
    /// (`principal` `None`) or given twice does not count. Until two did, the question is asked
    /// again, saying who approved; `true` once the step may run.
    fn enough_approvals(
        &mut self,
        si: usize,
        step: &StepRef,
        principal: Option<String>,
        out: &mut Vec<Effect>,
    ) -> bool {
        let Some(confirm) = step.step(&self.runbook).map(|s| s.confirm) else {
            return true;
        };
        let needed = confirm.approvals();
        if needed < 2 {
            return true;
        }
        let Some(Some(Ask::Approval { approved_by, .. })) =
            self.tracks[si].job.as_mut().map(|j| j.asking.as_mut())
        else {
            return true;
        };
        if let Some(who) = principal
            && !approved_by.contains(&who)
        {
            approved_by.push(who);
        }
        if approved_by.len() >= needed {
            return true;
        }
        let reason = if approved_by.is_empty() {
            "this step needs two verified people to approve it (confirm = 2); an approval whose identity was not verified does not count".to_string()
        } else {
            format!(
                "approved by '{}'; this step needs a second, different verified person to approve it (confirm = 2)",
                approved_by.join("', '")
            )
        };
        if let Some(Waiting::Approval {
            commands,
            reason: why,
            step: asked,
            ..
        }) = &mut self.services[si].waiting
        {
            *why = Some(reason.clone());
            let runbook = std::sync::Arc::clone(&self.runbook);
            let service = &runbook.services[si];
            if let Some(s) = asked.step(&runbook) {
                let expanded: Vec<_> = commands
                    .iter()
                    .map(|(h, _)| {
                        (
                            h.clone(),
                            runbook.expand(asked.phase.action(s), &service.id, h),
                        )
                    })
                    .collect();
                out.push(Effect::AskApproval {
                    step: asked.clone(),
                    commands: expanded,
                    reason: Some(reason),
                });
            }
        }
        false
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
