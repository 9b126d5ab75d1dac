//! Requests of operators in other processes, whatever carried them (a shared run's etcd
//! keys, a file-journal run's socket: `crate::reach`): each admitted (the one place where a
//! request becomes a driver [`Request`]), carried out under the asking operator's name as
//! this process's own operator's requests are, and answered once what it recorded is
//! durable. The run's live view goes to the same places after each call.

use super::{Driver, Notice, Request, live::LiveView, remote::Ask};
use crate::journal::JournalError;
use crate::reach::{Answer, Incoming, Posted, ReplyTo};

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
    /// who asks (`posted.operator`, as given) is checked here before anything is carried out,
    /// then what is asked against the runbook.
    fn admit(&self, posted: &Posted) -> Result<Request, String> {
        serde_json::from_value::<Ask>(posted.ask.clone())
            .map_err(|e| format!("the request is not one bringup knows ({e})"))
            .and_then(|ask| ask.into_request(&self.runbook))
    }

    /// An operator elsewhere asks: admitted, then carried out and journaled under their
    /// name. Its answer goes out after the commit.
    pub(super) fn on_remote(&mut self, incoming: Incoming) -> Result<Vec<Notice>, JournalError> {
        let Incoming { id, posted, reply } = incoming;
        let request = match self.admit(&posted) {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(operator = %posted.operator, "request {id} refused: {why}");
                self.answers.push(Owed {
                    id,
                    reply,
                    answer: Answer {
                        seq: None,
                        refused: Some(why),
                    },
                });
                return Ok(Vec::new());
            }
        };
        tracing::info!(operator = %posted.operator, ?request, "request {id} from another process");
        let notices = self.request_unsynced(&posted.operator, request)?;
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
