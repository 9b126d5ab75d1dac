//! What an operator attached to a shared run may ask of its executing process, as it
//! travels through etcd: the driver's [`Request`]s that an operator gives, and nothing a
//! transport reports (no step results, no timers). The executing process checks each
//! against its runbook and journals it under the asking operator's name, as its own
//! operator's requests are.

use serde::{Deserialize, Serialize};

use super::Request;
use crate::engine::{Cascade, Decision, Input, ManualOutcome, StepRef};
use crate::runbook::model::{HostId, Runbook, ServiceId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ask {
    Approval {
        step: StepRef,
        decision: Decision,
    },
    Manual {
        step: StepRef,
        outcome: ManualOutcome,
    },
    Note {
        text: String,
    },
    Skip {
        service: ServiceId,
        reason: String,
    },
    Check {
        service: ServiceId,
    },
    Restore {
        service: ServiceId,
        by_hand: bool,
    },
    NextStep {
        service: ServiceId,
    },
    Inject {
        service: ServiceId,
    },
    /// Run the declared undo of the service's restore steps (`bringup undo`, `u`).
    Undo {
        service: ServiceId,
        #[serde(default)]
        cascade: Cascade,
    },
    RunPlan,
    SetAuto {
        on: bool,
    },
    AcceptHostKey {
        host: HostId,
        fingerprint: String,
    },
    RefuseHostKey {
        host: HostId,
    },
}

impl Ask {
    /// The request as an attached operator sends it; `Err` says why it cannot travel.
    pub fn from_request(request: &Request) -> Result<Ask, String> {
        Ok(match request {
            Request::Input(input) => match input {
                Input::Approval { step, decision } => Ask::Approval {
                    step: step.clone(),
                    decision: *decision,
                },
                Input::Manual { step, outcome } => Ask::Manual {
                    step: step.clone(),
                    outcome: *outcome,
                },
                Input::Skip { service, reason } => Ask::Skip {
                    service: service.clone(),
                    reason: reason.clone(),
                },
                Input::Check(service) => Ask::Check {
                    service: service.clone(),
                },
                Input::Restore { service, by_hand } => Ask::Restore {
                    service: service.clone(),
                    by_hand: *by_hand,
                },
                Input::NextStep(service) => Ask::NextStep {
                    service: service.clone(),
                },
                Input::Inject(service) => Ask::Inject {
                    service: service.clone(),
                },
                Input::Undo { service, cascade } => Ask::Undo {
                    service: service.clone(),
                    cascade: *cascade,
                },
                Input::RunPlan => Ask::RunPlan,
                Input::SetAuto(on) => Ask::SetAuto { on: *on },
                Input::Stop => {
                    return Err(
                        "only the executing process stops a shared run: ask its operator, or take over once it has ended"
                            .to_string(),
                    );
                }
                _ => return Err("this is not something an operator asks".to_string()),
            },
            Request::Note(text) => Ask::Note { text: text.clone() },
            Request::AcceptHostKey { host, fingerprint } => Ask::AcceptHostKey {
                host: host.clone(),
                fingerprint: fingerprint.clone(),
            },
            Request::RefuseHostKey { host } => Ask::RefuseHostKey { host: host.clone() },
            Request::StartDrill(_) => {
                return Err("a drill is started by the process that executes it".to_string());
            }
        })
    }

    /// The request to carry out, once its services and steps are found in `runbook`.
    pub fn into_request(self, runbook: &Runbook) -> Result<Request, String> {
        let service = |id: &ServiceId| {
            if runbook.services.iter().any(|s| &s.id == id) {
                Ok(())
            } else {
                Err(format!("the runbook has no service '{id}'"))
            }
        };
        let step = |s: &StepRef| {
            s.step(runbook)
                .map(|_| ())
                .ok_or_else(|| format!("service '{}' has no such step", s.service))
        };
        let host = |h: &HostId| {
            if runbook.hosts.contains_key(h) {
                Ok(())
            } else {
                Err(format!("the runbook has no host '{h}'"))
            }
        };
        Ok(match self {
            Ask::Approval { step: s, decision } => {
                step(&s)?;
                Input::Approval { step: s, decision }.into()
            }
            Ask::Manual { step: s, outcome } => {
                step(&s)?;
                Input::Manual { step: s, outcome }.into()
            }
            Ask::Note { text } => Request::Note(text),
            Ask::Skip {
                service: id,
                reason,
            } => {
                service(&id)?;
                Input::Skip {
                    service: id,
                    reason,
                }
                .into()
            }
            Ask::Check { service: id } => {
                service(&id)?;
                Input::Check(id).into()
            }
            Ask::Restore {
                service: id,
                by_hand,
            } => {
                service(&id)?;
                Input::Restore {
                    service: id,
                    by_hand,
                }
                .into()
            }
            Ask::NextStep { service: id } => {
                service(&id)?;
                Input::NextStep(id).into()
            }
            Ask::Inject { service: id } => {
                service(&id)?;
                Input::Inject(id).into()
            }
            Ask::Undo {
                service: id,
                cascade,
            } => {
                service(&id)?;
                Input::Undo {
                    service: id,
                    cascade,
                }
                .into()
            }
            Ask::RunPlan => Input::RunPlan.into(),
            Ask::SetAuto { on } => Input::SetAuto(on).into(),
            Ask::AcceptHostKey {
                host: h,
                fingerprint,
            } => {
                host(&h)?;
                Request::AcceptHostKey {
                    host: h,
                    fingerprint,
                }
            }
            Ask::RefuseHostKey { host: h } => {
                host(&h)?;
                Request::RefuseHostKey { host: h }
            }
        })
    }
}
