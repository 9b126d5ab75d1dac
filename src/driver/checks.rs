//! Who asks (SPEC "Who did it"): the executing process checks each request of another
//! process with [`crate::identity::Verifier`] before it becomes a [`Request`]: signed for
//! this run, by a key its allowed signers list for the operator it names, not an observer,
//! not seen before. A refused request is journaled as `request_refused` and answered; an
//! accepted one is journaled with its identity, key and nonce, so a resumed run refuses it
//! again.

use std::path::PathBuf;

use chrono::Utc;

use super::{Driver, Notice};
use crate::driver::remote::Ask;
use crate::identity::{Refusal, Refused, SignedRequest, Signers, Verdict, Verifier};
use crate::journal::event::Provenance;
use crate::journal::{Event, JournalError, Record};

/// What the driver keeps to check requests: the run's `run_started` hash and the nonces
/// already carried out (until the first request makes the verifier), and the verifier.
#[derive(Debug, Default)]
pub(super) struct Checks {
    run_hash: Option<String>,
    nonces: Vec<String>,
    /// `--operators`: instead of the runbook's `[runbook] operators`.
    signers: Option<PathBuf>,
    verifier: Option<Verifier>,
}

impl Checks {
    /// The `run_started` just written (a new run): its hash names the run in signatures.
    /// The run's `run_started` hash, once known.
    pub(super) fn run_hash(&self) -> Option<&str> {
        self.run_hash.as_deref()
    }

    pub(super) fn started(&mut self, hash: &str) {
        if self.run_hash.is_none() {
            self.run_hash = Some(hash.to_string());
        }
    }
}

/// A request from another process, as the executing process takes it.
pub(super) enum Checked {
    Accepted {
        operator: String,
        provenance: Provenance,
        ask: Ask,
    },
    Refused(Refused),
}

impl Driver {
    /// `--operators FILE`: check requests against it rather than `[runbook] operators`.
    pub fn set_operators(&mut self, signers: Option<PathBuf>) {
        if signers.is_some() {
            self.identity.signers = signers;
            self.identity.verifier = None;
        }
    }

    /// A resumed or taken-over run: the run's hash and the nonces of the requests it already
    /// carried out, from its journal.
    pub fn recall_requests(&mut self, history: &[Record]) {
        for r in history {
            if matches!(r.event, Event::RunStarted { .. }) {
                self.identity.started(&r.hash);
            }
            if let Some(nonce) = r.event.provenance().and_then(|p| p.nonce.as_ref()) {
                self.identity.nonces.push(nonce.clone());
                if let Some(v) = &mut self.identity.verifier {
                    v.remember(nonce);
                }
            }
        }
    }

    /// The verifier for this run, made at the first request.
    fn verifier(&mut self) -> Result<&mut Verifier, String> {
        if self.identity.verifier.is_none() {
            // A file-journal run is named by its file name, as `approve JOURNAL` signs it.
            let run = self.journal.shared_run().map_or_else(
                || {
                    self.journal
                        .path()
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                },
                |s| s.url().name.clone(),
            );
            let hash = self
                .identity
                .run_hash
                .clone()
                .ok_or("the run's run_started is not known to this process")?;
            let path = self
                .identity
                .signers
                .clone()
                .or_else(|| self.runbook.operators.signers.clone());
            let signers = match path {
                Some(p) => Some(Signers::load(&p).map_err(|e| e.to_string())?),
                None => None,
            };
            let mut verifier = Verifier::new(
                &run,
                &hash,
                signers,
                self.runbook.operators.observers.clone(),
            );
            for n in &self.identity.nonces {
                verifier.remember(n);
            }
            self.identity.verifier = Some(verifier);
        }
        self.identity
            .verifier
            .as_mut()
            .ok_or_else(|| "no verifier".to_string())
    }

    /// Judge one request: signed (`signed`), or only `operator` and `ask` as older clients
    /// send them.
    pub(super) fn check_request(
        &mut self,
        operator: &str,
        ask: Option<Ask>,
        signed: Option<&SignedRequest>,
    ) -> Checked {
        let verifier = match self.verifier() {
            Ok(v) => v,
            // Fail closed: a run that cannot check requests takes none from elsewhere.
            Err(why) => {
                return Checked::Refused(Refused {
                    operator: operator.to_string(),
                    key: None,
                    reason: Refusal::CannotCheck(why),
                    ask,
                });
            }
        };
        let verdict = match signed {
            Some(s) => verifier.check(s, Utc::now()),
            None if verifier.verifies() => Verdict::Refused(Refused {
                operator: operator.to_string(),
                key: None,
                reason: Refusal::Unsigned,
                ask: ask.clone(),
            }),
            None if verifier.is_observer(operator) => Verdict::Refused(Refused {
                operator: operator.to_string(),
                key: None,
                reason: Refusal::Observer,
                ask: ask.clone(),
            }),
            None => {
                return match ask {
                    Some(ask) => Checked::Accepted {
                        operator: operator.to_string(),
                        provenance: Provenance::unverified(),
                        ask,
                    },
                    None => Checked::Refused(Refused {
                        operator: operator.to_string(),
                        key: None,
                        reason: Refusal::Unreadable("the request is not one bringup knows".into()),
                        ask: None,
                    }),
                };
            }
        };
        match verdict {
            Verdict::Accepted(a) => Checked::Accepted {
                operator: a.operator,
                provenance: a.provenance,
                ask: a.ask,
            },
            Verdict::Refused(r) => Checked::Refused(r),
        }
    }

    /// Journal a refused request (`request_refused`); its reason, for the requester.
    pub(super) fn refuse_request(
        &mut self,
        refused: &Refused,
    ) -> Result<(Notice, String), JournalError> {
        tracing::warn!(operator = %refused.operator, key = ?refused.key, "request refused: {}", refused.reason);
        let notice = self.write(Event::RequestRefused {
            operator: refused.operator.clone(),
            key: refused.key.clone(),
            reason: refused.reason.to_string(),
            code: Some(refused.reason.code().to_string()),
            asked: refused.ask.as_ref().map(|a| ask_words(a, &self.runbook)),
        })?;
        Ok((notice, refused.reason.to_string()))
    }
}

/// What a request asked, in a few words, for `request_refused`.
pub fn ask_words(ask: &Ask, runbook: &crate::runbook::Runbook) -> String {
    let name = |step: &crate::engine::StepRef| {
        step.step(runbook).map_or_else(
            || format!("{} step {}", step.phase, step.index + 1),
            |s| format!("'{}'", s.name),
        )
    };
    match ask {
        Ask::Approval { step, decision } => format!(
            "{} {} of '{}'",
            match decision {
                crate::engine::Decision::Approved => "approve",
                crate::engine::Decision::Declined => "decline",
            },
            name(step),
            step.service
        ),
        Ask::Manual { step, outcome } => format!(
            "mark {} of '{}' {}",
            name(step),
            step.service,
            match outcome {
                crate::engine::ManualOutcome::Done => "done",
                crate::engine::ManualOutcome::Failed => "failed",
            }
        ),
        Ask::Note { .. } => "a note".to_string(),
        Ask::Skip { service, .. } => format!("skip '{service}'"),
        Ask::Check { service } => format!("check '{service}'"),
        Ask::Restore { service, .. } => format!("restore '{service}'"),
        Ask::NextStep { service } => format!("the next step of '{service}'"),
        Ask::Inject { service } => format!("inject '{service}'"),
        Ask::Undo { service, .. } => format!("undo '{service}'"),
        Ask::RunPlan => "run the plan".to_string(),
        Ask::SetAuto { on } => format!("auto mode {}", if *on { "on" } else { "off" }),
        Ask::AcceptHostKey { host, .. } => format!("accept the host key of '{host}'"),
        Ask::RefuseHostKey { host } => format!("refuse the host key of '{host}'"),
    }
}
