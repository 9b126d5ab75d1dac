//! The driver's side of webhooks: `notify_queued` journaled with the event it tells of, the
//! delivery handed to `crate::notify`'s tasks only after the fsync, their reports journaled
//! as `notify_sent` / `notify_failed`, the notice deadline, and the bounded wait at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Driver, Inbox, Message, Notice};
use crate::journal::{Event, JournalError};
use crate::notify::{self, Delivery, Outbox, Report};
use crate::runbook::model::Runbook;

/// How long the end of a run waits for webhooks that still answer (one that failed its
/// last attempt is not waited for: a dead webhook must not hold the run up).
pub const NOTIFY_GRACE: Duration = Duration::from_secs(3);

/// What the run ending left undelivered is journaled with these words.
pub const RUN_ENDED: &str = "the run ended before it was delivered";

#[derive(Default)]
pub(super) struct State {
    outbox: Option<Outbox>,
    /// Deliveries journaled as queued and not yet sent, by (webhook, event), with the last
    /// attempt made.
    owed: BTreeMap<(usize, u64), u32>,
    /// Handed over at the next fsync.
    ready: Vec<Delivery>,
    /// `notify_queued` / `notify_failed` written inside another call, shown with its notices.
    notices: Vec<Notice>,
    notice_due_armed: bool,
    /// Webhooks whose last attempt failed.
    down: std::collections::BTreeSet<usize>,
}

impl State {
    #[allow(clippy::needless_pass_by_value)]
    pub(super) fn start(runbook: &Runbook, tx: mpsc::Sender<Message>) -> State {
        State {
            outbox: Outbox::start(runbook, &tx, Message::Notify),
            ..State::default()
        }
    }
}

impl Driver {
    /// Deliveries still owed to webhooks.
    pub fn undelivered(&self) -> usize {
        self.outbox.owed.len()
    }

    /// `--resume`: send again what the journal queued and did not send ([`notify::owed`]).
    pub fn redeliver(&mut self, owed: Vec<(usize, u64, serde_json::Value)>) {
        if self.outbox.outbox.is_none() {
            return;
        }
        for (notify, of_seq, payload) in owed {
            if notify >= self.runbook.notify.len() {
                continue;
            }
            self.outbox.owed.insert((notify, of_seq), 0);
            let body = payload.to_string().into_bytes();
            self.hand_over(Delivery {
                notify,
                of_seq,
                body,
            });
        }
    }

    /// Journal `notice_due` once `after` has passed since `start` (at once when it already
    /// has); `already` when the journal holds one (a resumed run).
    pub fn arm_notice(
        &mut self,
        start: chrono::DateTime<chrono::Utc>,
        after: Duration,
        already: bool,
    ) {
        if already || self.outbox.notice_due_armed {
            return;
        }
        self.outbox.notice_due_armed = true;
        let due = start + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
        let wait = (due - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let tx = self.tx.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(wait) => { let _ = tx.send(Message::NoticeDue).await; }
                () = stop.cancelled() => {}
            }
        });
    }

    /// After [`Driver::end`]: wait at most `grace` for what webhooks are still owed, then
    /// journal each delivery left as failed for good and stop the delivery tasks.
    pub async fn deliver_owed(
        &mut self,
        inbox: &mut Inbox,
        grace: Duration,
        mut show: impl FnMut(Vec<Notice>),
    ) -> Result<usize, JournalError> {
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        while !self.broken
            && self
                .outbox
                .owed
                .keys()
                .any(|(n, _)| !self.outbox.down.contains(n))
        {
            tokio::select! {
                batch = inbox.next() => match batch {
                    // Only webhook reports matter now; steps have ended.
                    Some(batch) => show(self.on_messages(batch.into_iter().filter(|m| matches!(m, Message::Notify(_))))?),
                    None => break,
                },
                () = &mut deadline => break,
            }
        }
        if let Some(outbox) = &self.outbox.outbox {
            outbox.stop();
        }
        let left: Vec<_> = std::mem::take(&mut self.outbox.owed).into_iter().collect();
        let count = left.len();
        if !self.broken && count > 0 {
            let mut notices = Vec::new();
            for ((notify, of_seq), attempt) in left {
                notices.push(self.write(Event::NotifyFailed {
                    notify,
                    of_seq,
                    attempt,
                    status: None,
                    error: Some(RUN_ENDED.to_string()),
                    next_retry_ms: None,
                })?);
            }
            show(self.settle(Ok(notices))?);
        }
        Ok(count)
    }

    /// Inside [`Driver::write`]: an event a webhook is told of gets its `notify_queued`
    /// right behind it; the delivery waits for the fsync.
    pub(super) fn queue_notifications(
        &mut self,
        seq: u64,
        event: &Event,
        line: &str,
    ) -> Result<(), JournalError> {
        let Some(topic) = notify::topic(event) else {
            return Ok(());
        };
        if self.outbox.outbox.is_none() {
            return Ok(());
        }
        let runbook = self.runbook.clone();
        for (index, webhook) in runbook.notify.iter().enumerate() {
            if !webhook.on.contains(&topic) {
                continue;
            }
            let payload = notify::payload(webhook.format, &runbook.name, seq, event, line);
            let body = payload.to_string().into_bytes();
            let queued = Event::NotifyQueued {
                notify: index,
                of_seq: seq,
                what: event.kind().to_string(),
                digest: notify::digest(&body),
                payload,
            };
            let appended = self
                .journal
                .append_with(&queued, crate::journal::Durability::Buffered)?;
            self.outbox.notices.push(Notice::Journaled(super::Entry {
                seq: appended.seq,
                ts: appended.ts,
                event: queued,
                line: appended.line,
            }));
            self.outbox.owed.insert((index, seq), 0);
            self.outbox.ready.push(Delivery {
                notify: index,
                of_seq: seq,
                body,
            });
        }
        Ok(())
    }

    /// End of [`Driver::settle`]: hand over the deliveries now on disk, and show the
    /// outbox's own events with the call's notices.
    pub(super) fn settle_outbox(
        &mut self,
        synced: Result<Vec<Notice>, JournalError>,
    ) -> Result<Vec<Notice>, JournalError> {
        let ready = std::mem::take(&mut self.outbox.ready);
        let extra = std::mem::take(&mut self.outbox.notices);
        let mut notices = synced?;
        for delivery in ready {
            self.hand_over(delivery);
        }
        notices.extend(extra);
        Ok(notices)
    }

    fn hand_over(&mut self, delivery: Delivery) {
        let Some(outbox) = &self.outbox.outbox else {
            return;
        };
        let key = (delivery.notify, delivery.of_seq);
        if !outbox.send(delivery) {
            // A full queue is a webhook far behind: this one is given up and says so.
            self.outbox.owed.remove(&key);
            let failed = Event::NotifyFailed {
                notify: key.0,
                of_seq: key.1,
                attempt: 0,
                status: None,
                error: Some(format!(
                    "{} deliveries already wait for this webhook",
                    notify::QUEUE
                )),
                next_retry_ms: None,
            };
            match self.write(failed) {
                Ok(n) => self.outbox.notices.push(n),
                Err(e) => tracing::error!("journal: {e}"),
            }
        }
    }

    pub(super) fn on_notify(&mut self, report: Report) -> Result<Vec<Notice>, JournalError> {
        let event = match report {
            Report::Sent {
                notify,
                of_seq,
                attempt,
                status,
            } => {
                self.outbox.down.remove(&notify);
                if self.outbox.owed.remove(&(notify, of_seq)).is_none() {
                    return Ok(Vec::new());
                }
                Event::NotifySent {
                    notify,
                    of_seq,
                    attempt,
                    status,
                }
            }
            Report::Failed {
                notify,
                of_seq,
                attempt,
                status,
                error,
                next_retry,
            } => {
                self.outbox.down.insert(notify);
                let Some(last) = self.outbox.owed.get_mut(&(notify, of_seq)) else {
                    return Ok(Vec::new());
                };
                *last = attempt;
                Event::NotifyFailed {
                    notify,
                    of_seq,
                    attempt,
                    status,
                    error: error.map(|e| self.runbook.redact(&e)),
                    next_retry_ms: Some(u64::try_from(next_retry.as_millis()).unwrap_or(u64::MAX)),
                }
            }
        };
        Ok(vec![self.write(event)?])
    }

    pub(super) fn on_notice_due(&mut self) -> Result<Vec<Notice>, JournalError> {
        let Some(after) = self.runbook.notice.after else {
            return Ok(Vec::new());
        };
        let after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        Ok(vec![self.write(Event::NoticeDue { after_ms })?])
    }
}
