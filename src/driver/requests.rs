//! Requests of operators in other processes, whatever carried them (a shared run's etcd
//! keys, a file-journal run's socket: `crate::reach`): each admitted (the one place where a
//! request becomes a driver [`Request`]), carried out under the asking operator's name as
//! this process's own operator's requests are, and answered once what it recorded is
//! durable. The run's live view goes to the same places after each call.

use super::checks::Checked;
use super::{Driver, Notice, Request, live::LiveView, remote::Ask};
use crate::identity::Refused;
use crate::journal::JournalError;
use crate::journal::event::Provenance;
use crate::reach::{Answer, Incoming, Posted, ReplyTo};

/// A request let in: who asked, how that was shown, and what to carry out.
struct Admitted {
    operator: String,
    provenance: Provenance,
    request: Request,
}

/// Why a request is not carried out.
enum Refusal {
    /// Who asks could not be shown (unsigned, a key not listed, a replay, an observer...).
    Identity(Box<Refused>),
    /// What it asks is not in the runbook.
    Runbook(String),
}

/// A request carried out (or refused), waiting for the commit of what it recorded.
#[derive(Debug)]
pub(super) struct Owed {
    id: String,
    reply: ReplyTo,
    answer: Answer,
}

impl Driver {
    /// Listen on `<journal>.sock` for a file-journal run (a shared run is reached through
    /// etcd). Without it the run goes on, unreachable from elsewhere; the log says why.
    pub(super) fn listen(&mut self) {
        if self.journal.shared_run().is_some() {
            return;
        }
        let runbook = std::fs::read_to_string(&self.runbook.path).ok();
        match crate::reach::socket::Listener::start(
            self.journal.path(),
            runbook,
            self.tx.clone(),
            super::Message::Remote,
        ) {
            Ok(listener) => self.socket = Some(listener),
            Err(e) => tracing::warn!("the run cannot be reached from other processes: {e}"),
        }
    }

    /// The socket operators reach this file-journal run through, if it listens.
    pub fn socket(&self) -> Option<&std::path::Path> {
        self.socket
            .as_ref()
            .map(crate::reach::socket::Listener::path)
    }

    /// The one point where a request from another process becomes a driver [`Request`]:
    /// who asks is checked first (signed for this run by a key the allowed signers list for
    /// the operator it names: `driver/checks.rs`), then what is asked against the runbook.
    fn admit(&mut self, posted: &Posted) -> Result<Admitted, Refusal> {
        let claimed = serde_json::from_value::<Ask>(posted.ask.clone()).ok();
        match self.check_request(&posted.operator, claimed, posted.signed.as_ref()) {
            Checked::Accepted {
                operator,
                provenance,
                ask,
            } => ask
                .into_request(&self.runbook)
                .map(|request| Admitted {
                    operator,
                    provenance,
                    request,
                })
                .map_err(Refusal::Runbook),
            Checked::Refused(refused) => Err(Refusal::Identity(Box::new(refused))),
        }
    }

    /// An operator elsewhere asks: admitted, then carried out and journaled under their
    /// name. Its answer goes out after the commit.
    pub(super) fn on_remote(&mut self, incoming: Incoming) -> Result<Vec<Notice>, JournalError> {
        let Incoming { id, posted, reply } = incoming;
        let admitted = match self.admit(&posted) {
            Ok(a) => a,
            Err(refusal) => {
                let (notices, why) = match refusal {
                    // Who asks could not be shown: journaled as `request_refused`.
                    Refusal::Identity(refused) => {
                        let (notice, why) = self.refuse_request(&refused)?;
                        (vec![notice], why)
                    }
                    Refusal::Runbook(why) => {
                        tracing::warn!(operator = %posted.operator, "request {id} refused: {why}");
                        (Vec::new(), why)
                    }
                };
                self.answers.push(Owed {
                    id,
                    reply,
                    answer: Answer {
                        seq: None,
                        refused: Some(why),
                    },
                });
                return Ok(notices);
            }
        };
        let Admitted {
            operator,
            provenance,
            request,
        } = admitted;
        tracing::info!(operator = %operator, ?request, "request {id} from another process");
        let notices = self.request_as(&operator, &provenance, request)?;
        let seq = notices.iter().find_map(|n| match n {
            Notice::Journaled(e) => Some(e.seq),
            _ => None,
        });
        let refused = notices.iter().find_map(|n| match n {
            Notice::Refused(why) => Some(why.clone()),
            _ => None,
        });
        self.answers.push(Owed {
            id,
            reply,
            answer: Answer { seq, refused },
        });
        Ok(notices)
    }

    /// After a call's commit: answer the requests it carried out, and publish the view.
    pub(super) fn answer_and_publish(&mut self) {
        for owed in std::mem::take(&mut self.answers) {
            match owed.reply {
                ReplyTo::Socket(tx) => {
                    let _ = tx.send(owed.answer);
                }
                ReplyTo::Etcd => {
                    if let Some(run) = self.journal.shared_run()
                        && let Err(e) = run.answer(&owed.id, &owed.answer)
                    {
                        tracing::warn!("answering request {}: {e}", owed.id);
                    }
                }
            }
        }
        if self.journal.shared_run().is_none() && self.socket.is_none() {
            return;
        }
        let view = LiveView::of(
            &self.operator,
            self.journal.seq(),
            self.finished.is_some(),
            self.engine.services(),
        );
        let Ok(bytes) = serde_json::to_vec(&view) else {
            return;
        };
        let bytes = self.journal.mask(&bytes);
        if let Some(socket) = &self.socket {
            socket.publish(bytes.clone());
        }
        if let Some(run) = self.journal.shared_run() {
            run.publish(bytes);
        }
    }
}
