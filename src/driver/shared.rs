//! The driver's side of a shared run (SPEC "Shared runs (etcd)"): requests of attached
//! operators carried out as their own, answered once what they recorded is committed; the
//! run's live view published after each call; and, when the lease is lost, every running
//! step stopped at once (commands wait for a committed `step_started`, so none is sent).
//!
//! A call's commit is handed to the run's commit task and the call returns at once: what it
//! may do only once etcd has its events (send commands, answer requests, hand webhook
//! deliveries over, show the events) waits, parked, for `Message::Committed`, which comes
//! through the inbox like any report. So a front end's loop never waits on etcd (a hung
//! member costs it nothing); the end of the run commits in place.

use std::collections::VecDeque;

use super::{Driver, Launch, Message, Notice, OUTPUT_SYNC, Queued, requests::Owed};
use crate::journal::JournalError;
use crate::journal::etcd::StoreError;

/// The calls whose commit is in flight, in the order they were made.
#[derive(Default)]
pub(super) struct Later {
    /// The number of the next commit handed over.
    next: u64,
    parked: VecDeque<Parked>,
    /// Commit in place from now on (the end of the run: nothing reads the inbox after it).
    pub(super) in_place: bool,
}

impl Later {
    /// Whether commands wait to be sent.
    pub(super) fn launches(&self) -> bool {
        self.parked.iter().any(|p| !p.queued.is_empty())
    }
}

/// What calls may do once their commit is in: the notices to show, the commands to send,
/// the requests to answer, the webhook deliveries to hand over.
struct Parked {
    /// The commit it waits for.
    ticket: u64,
    notices: Vec<Notice>,
    queued: Vec<(Launch, Queued)>,
    answers: Vec<Owed>,
    ready: Vec<crate::notify::Delivery>,
    extra: Vec<Notice>,
    /// The head its commit makes durable, for the witnesses.
    head: Option<super::witness::Durable>,
}

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

    /// [`Driver::settle`] for a shared run: hand the call's events to the commit task (when
    /// due) and park what must wait for them; return what may be shown now.
    pub(super) fn settle_later(
        &mut self,
        notices: Result<Vec<Notice>, JournalError>,
    ) -> Result<Vec<Notice>, JournalError> {
        let notices = match notices {
            Ok(n) => n,
            Err(e) => {
                // Nothing this call queued is sent.
                self.queued.clear();
                return self.settle_outbox(Err(e));
            }
        };
        let due = self.must_sync || self.last_sync.elapsed() >= OUTPUT_SYNC;
        let committed = if due {
            match self.journal.sync_later() {
                Ok(c) => c,
                Err(e) => {
                    self.queued.clear();
                    return self.settle_outbox(Err(e));
                }
            }
        } else {
            None
        };
        if due {
            self.must_sync = false;
            self.last_sync = std::time::Instant::now();
        }
        let parked = Parked {
            ticket: 0,
            notices,
            queued: std::mem::take(&mut self.queued),
            answers: std::mem::take(&mut self.answers),
            ready: std::mem::take(&mut self.outbox.ready),
            extra: std::mem::take(&mut self.outbox.notices),
            head: committed.as_ref().map(|_| self.head_now()),
        };
        match committed {
            Some(committed) => {
                let ticket = self.later.next;
                self.later.next += 1;
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = committed.await.unwrap_or_else(|_| {
                        Err(StoreError::Etcd {
                            run: String::new(),
                            source: crate::journal::etcd::EtcdError::Client(
                                "the commit task stopped".into(),
                            ),
                        })
                    });
                    let _ = tx.send(Message::Committed(ticket, result)).await;
                });
                self.later.parked.push_back(Parked { ticket, ..parked });
                Ok(Vec::new())
            }
            // Nothing to commit: after the calls still waiting, or at once.
            None => match self.later.parked.back_mut() {
                Some(last) => {
                    last.notices.extend(parked.notices);
                    last.queued.extend(parked.queued);
                    last.answers.extend(parked.answers);
                    last.ready.extend(parked.ready);
                    last.extra.extend(parked.extra);
                    Ok(Vec::new())
                }
                None => self.release(parked),
            },
        }
    }

    /// Commit `ticket` came to `result`: what waited on it (and on those before) acts now; a
    /// failed commit stops the run like a failed fsync (nothing that waited on it acts).
    pub(super) fn on_committed(
        &mut self,
        ticket: u64,
        result: Result<(), StoreError>,
    ) -> Result<Vec<Notice>, JournalError> {
        if let Err(e) = result {
            if !self.later.parked.iter().any(|p| p.ticket == ticket) {
                // Released already by a commit in place after it: it cannot have failed.
                return Ok(Vec::new());
            }
            self.later.parked.clear();
            self.journal.rewind();
            return Err(JournalError::Shared(e));
        }
        let mut notices = Vec::new();
        while let Some(first) = self.later.parked.front()
            && first.ticket <= ticket
        {
            let Some(parked) = self.later.parked.pop_front() else {
                break;
            };
            notices.extend(self.release(parked)?);
        }
        Ok(notices)
    }

    /// Everything parked, released (its commits are in).
    pub(super) fn release_all(&mut self) -> Result<Vec<Notice>, JournalError> {
        let mut notices = Vec::new();
        while let Some(parked) = self.later.parked.pop_front() {
            notices.extend(self.release(parked)?);
        }
        Ok(notices)
    }

    /// Carry out what a call parked, as [`Driver::settle`] does after its fsync, leaving
    /// what the calls since have queued as it is.
    fn release(&mut self, parked: Parked) -> Result<Vec<Notice>, JournalError> {
        if let Some(head) = parked.head {
            self.witness_durable(head, false);
        }
        let queued = std::mem::replace(&mut self.queued, parked.queued);
        let answers = std::mem::replace(&mut self.answers, parked.answers);
        let ready = std::mem::replace(&mut self.outbox.ready, parked.ready);
        let extra = std::mem::replace(&mut self.outbox.notices, parked.extra);
        let queued_now = std::mem::take(&mut self.queued);
        // Stopped meanwhile (quit, signal): their `step_started` stays without a command,
        // what the Resume rules find as a step in flight.
        if !self.stop.is_cancelled() {
            for (launch, run) in queued_now {
                self.launch(launch, run);
            }
        }
        self.settle_shared();
        // Questions answered elsewhere (or moot) close on every screen, as after an fsync.
        let mut notices = parked.notices;
        let withdrawn = self.withdrawn(&notices);
        notices.extend(withdrawn);
        let released = self.settle_outbox(Ok(notices));
        self.queued = queued;
        self.answers = answers;
        self.outbox.ready.splice(0..0, ready);
        // A delivery given up now wrote `notify_failed`: it shows with the next call.
        self.outbox.notices.splice(0..0, extra);
        released
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
        self.answer_and_publish();
    }
}
