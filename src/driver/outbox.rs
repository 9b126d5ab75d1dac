//! The driver's side of webhooks: `notify_queued` journaled with the event it tells of, the
//! delivery handed to `crate::notify`'s tasks only after the fsync, their reports journaled
//! as `notify_sent` / `notify_failed`, the notice deadline, and the bounded wait at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Driver, Inbox, Message, Notice};
use crate::journal::{Event, JournalError};
use crate::notify::{self, Delivery, Outbox, Report};
use crate::runbook::model::Runbook;

/// How long the end of a run waits for webhooks that still answer (one that failed its
/// last attempt is not waited for: a dead webhook must not hold the run up).
pub const NOTIFY_GRACE: Duration = Duration::from_secs(3);

/// At the end, a webhook that has owed a delivery this long without answering anything is
/// not waited for either: it accepted the connection and stays silent (its request would
/// only time out after `notify::REQUEST_TIMEOUT`), or it is too slow to catch up anyway.
pub const NOTIFY_SILENT: Duration = Duration::from_secs(1);

/// What the run ending left undelivered is journaled with these words.
pub const RUN_ENDED: &str = "the run ended before it was delivered";

#[derive(Default)]
pub(super) struct State {
    outbox: Option<Outbox>,
    /// Deliveries journaled as queued and not yet sent, by (webhook, event), with the last
    /// attempt made.
    owed: BTreeMap<(usize, u64), u32>,
    /// Handed over at the next fsync.
    pub(super) ready: Vec<Delivery>,
    /// `notify_queued` / `notify_failed` written inside another call, shown with its notices.
    pub(super) notices: Vec<Notice>,
    notice_due_armed: bool,
    /// Webhooks whose last attempt failed.
    down: std::collections::BTreeSet<usize>,
    /// Per webhook, since when it has been silent while owing something: its last answer, or
    /// the moment it began to owe (when it owed nothing before).
    heard: BTreeMap<usize, Instant>,
}

impl State {
    /// Record `key` as owed (attempt 0 so far).
    fn owe(&mut self, key: (usize, u64)) {
        if !self.owed.keys().any(|(n, _)| *n == key.0) {
            self.heard.insert(key.0, Instant::now());
        }
        self.owed.insert(key, 0);
    }

    /// When the end stops waiting for the webhooks still owed something: `None` when it need
    /// not wait at all (each is down or has been silent for [`NOTIFY_SILENT`]), else the
    /// moment the first of those still answering would fall silent.
    fn wait_until(&self, now: Instant) -> Option<Instant> {
        self.owed
            .keys()
            .map(|(n, _)| *n)
            .filter(|n| !self.down.contains(n))
            .map(|n| self.heard.get(&n).map_or(now, |t| *t + NOTIFY_SILENT))
            .filter(|t| *t > now)
            .min()
    }
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
            self.outbox.owe((notify, of_seq));
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

    /// After [`Driver::end`]: wait at most `grace` for what webhooks that still answer are
    /// owed (not for one that is down or silent: [`NOTIFY_SILENT`]), then journal each
    /// delivery left as failed for good and stop the delivery tasks. Then the witnesses get
    /// the final head ([`Driver::close_witnesses`]).
    pub async fn deliver_owed(
        &mut self,
        inbox: &mut Inbox,
        grace: Duration,
        mut show: impl FnMut(Vec<Notice>),
    ) -> Result<usize, JournalError> {
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        while !self.broken {
            let Some(silent) = self.outbox.wait_until(Instant::now()) else {
                break;
            };
            tokio::select! {
                batch = inbox.next() => match batch {
                    // Only webhook reports matter now; steps have ended.
                    Some(batch) => show(self.on_messages(batch.into_iter().filter(|m| matches!(m, Message::Notify(_))))?),
                    None => break,
                },
                // Look again: that webhook may have fallen silent.
                () = tokio::time::sleep_until(silent) => {}
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
        // Last: the witnesses take the head that ends the journal.
        self.close_witnesses(inbox, super::WITNESS_GRACE, show)
            .await?;
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
            self.outbox.owe((index, seq));
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
                self.outbox.heard.insert(notify, Instant::now());
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
                self.outbox.heard.insert(notify, Instant::now());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_waits_only_for_webhooks_that_answer_until_they_fall_silent() {
        let mut state = State::default();
        let now = Instant::now();
        assert_eq!(state.wait_until(now), None, "nothing owed");
        state.owe((0, 5));
        let began = state.heard[&0];
        assert_eq!(state.wait_until(now), Some(began + NOTIFY_SILENT));
        state.owe((0, 6));
        assert_eq!(
            state.heard[&0], began,
            "still owing: silent since the first"
        );
        assert_eq!(
            state.wait_until(began + NOTIFY_SILENT),
            None,
            "silent by now"
        );
        state.down.insert(0);
        assert_eq!(state.wait_until(now), None, "down: not waited for");
    }
}
