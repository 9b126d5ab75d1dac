//! The driver's side of a shared run (SPEC "Shared runs (etcd)"): requests of attached
//! operators carried out as their own, answered once what they recorded is committed; the
//! run's live view published after each call; and, when the lease is lost, every running
//! step stopped at once (commands wait for a committed `step_started`, so none is sent).

use super::{Driver, Message, Notice, live::LiveView, remote::Ask};
use crate::journal::JournalError;
use crate::journal::etcd::StoreError;
use crate::journal::etcd::shared::{Answer, Incoming};

impl Driver {
    /// Wire a shared run's requests and lease to this driver (nothing for a file journal).
    pub(super) fn watch_shared(&mut self) {
        let Some(run) = self.journal.shared_run() else {
            return;
        };
        let stop = self.stop.clone();
        let tx = self.tx.clone();
        run.on_lost(move |why| {
            // At once, from the watchdog's task: the driver may be waiting on etcd.
            stop.cancel();
            let _ = tx.try_send(Message::LeaseLost(why.to_string()));
        });
        run.serve_requests(self.tx.clone(), Message::Remote);
    }

    /// An attached operator's request: checked against the runbook, then carried out and
    /// journaled under their name. Its answer goes out after the commit.
    pub(super) fn on_remote(&mut self, incoming: Incoming) -> Result<Vec<Notice>, JournalError> {
        let Incoming { id, posted } = incoming;
        let request = serde_json::from_value::<Ask>(posted.ask)
            .map_err(|e| format!("the request is not one bringup knows ({e})"))
            .and_then(|ask| ask.into_request(&self.runbook));
        let request = match request {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(operator = %posted.operator, "request {id} refused: {why}");
                self.answers.push((
                    id,
                    Answer {
                        seq: None,
                        refused: Some(why),
                    },
                ));
                return Ok(Vec::new());
            }
        };
        tracing::info!(operator = %posted.operator, ?request, "request {id} from an attached operator");
        let notices = self.request_unsynced(&posted.operator, request)?;
        let seq = notices.iter().find_map(|n| match n {
            Notice::Journaled(e) => Some(e.seq),
            _ => None,
        });
        let refused = notices.iter().find_map(|n| match n {
            Notice::Refused(why) => Some(why.clone()),
            _ => None,
        });
        self.answers.push((id, Answer { seq, refused }));
        Ok(notices)
    }

    /// The lease is gone: stop acting (running steps were already told to stop).
    pub(super) fn on_lease_lost(&mut self, why: &str) -> JournalError {
        let run = self.journal.path().display().to_string();
        tracing::error!("shared run {run}: {why}; stopping");
        self.broken = true;
        self.stop.cancel();
        JournalError::Shared(StoreError::NotHeld { run })
    }

    /// After a call's commit: answer the requests it carried out, and publish the view.
    pub(super) fn settle_shared(&mut self) {
        let Some(run) = self.journal.shared_run() else {
            return;
        };
        for (id, answer) in std::mem::take(&mut self.answers) {
            if let Err(e) = run.answer(&id, &answer) {
                tracing::warn!("answering request {id}: {e}");
            }
        }
        let view = LiveView::of(
            &self.operator,
            self.journal.seq(),
            self.finished.is_some(),
            self.engine.services(),
        );
        if let Ok(bytes) = serde_json::to_vec(&view) {
            run.publish(self.journal.mask(&bytes));
        }
    }
}
