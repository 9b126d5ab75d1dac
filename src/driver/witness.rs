//! The driver's side of witnesses (SPEC "Sites and witnesses"): the journal's head handed to
//! `crate::witness`'s tasks once it is durable (fsynced, or committed for a shared run) and
//! at least [`EVERY`](crate::witness::EVERY) events past the last one handed over; their
//! failures journaled as `witness_failed`; and at the end the final head, waited for a
//! bounded while by witnesses that answer (never by one that is down or silent).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{Driver, Inbox, Message, Notice};
use crate::journal::etcd::Access;
use crate::journal::seal::SigningKey;
use crate::journal::{Event, JournalError};
use crate::witness::{EVERY, Report, WitnessedHead, Witnesses};

/// How long the end of a run waits for witnesses to take the final head.
pub const WITNESS_GRACE: Duration = Duration::from_secs(3);
/// At the end, a witness that has not answered anything for this long while it owed a head
/// is not waited for (it is frozen, or too slow to matter).
pub const WITNESS_SILENT: Duration = Duration::from_secs(1);
/// What the run ending left unwritten is journaled with these words.
pub const RUN_ENDED: &str = "the run ended before the head was written";

/// A head on disk (or committed), as the writer last wrote it.
#[derive(Debug, Clone)]
pub(super) struct Durable {
    seq: u64,
    hash: String,
    ts: DateTime<Utc>,
}

#[derive(Default)]
pub(super) struct State {
    set: Option<Witnesses>,
    access: Access,
    key: Option<SigningKey>,
    /// The seq of the last head handed over (0: none yet).
    handed: u64,
    /// Per witness, the last seq it took.
    written: BTreeMap<usize, u64>,
    /// Witnesses whose last attempt failed, with that attempt's number and error.
    down: BTreeMap<usize, (u32, String)>,
    /// Per witness, its last answer (or when it was first given a head).
    heard: BTreeMap<usize, Instant>,
}

impl Driver {
    /// How witnesses are reached (an etcd witness through `--etcd-*`'s TLS and user) and
    /// which key signs their heads (`--seal`'s, if any).
    pub fn witness_with(&mut self, access: Access, key: Option<SigningKey>) {
        self.witness.access = access;
        self.witness.key = key;
    }

    /// The writer's head now.
    pub(super) fn head_now(&self) -> Durable {
        Durable {
            seq: self.journal.seq(),
            hash: self.journal.last_hash().to_string(),
            ts: self.journal.last_ts().unwrap_or_else(Utc::now),
        }
    }

    /// `head` is durable: hand it to the witnesses when it is [`EVERY`] events past the last
    /// one (or `last`: the end of the run).
    pub(super) fn witness_durable(&mut self, head: Durable, last: bool) {
        if self.runbook.witnesses.is_empty() || head.seq == 0 {
            return;
        }
        if head.seq <= self.witness.handed || (!last && head.seq < self.witness.handed + EVERY) {
            return;
        }
        let Some(run) = self.identity.run_hash().map(str::to_string) else {
            return;
        };
        if self.witness.set.is_none() {
            self.witness.set = Some(Witnesses::start(
                &self.runbook.witnesses,
                &self.witness.access,
                self.witness.key.clone(),
                &self.tx,
                Message::Witness,
            ));
        }
        // A witness that had taken every head so far owes one from now: the end measures
        // its silence from here, not from its last answer long ago.
        let now = Instant::now();
        for index in 0..self.runbook.witnesses.len() {
            if self.witness.written.get(&index).copied().unwrap_or(0) >= self.witness.handed {
                self.witness.heard.insert(index, now);
            }
        }
        self.witness.handed = head.seq;
        if let Some(set) = &self.witness.set {
            set.send(WitnessedHead {
                run,
                seq: head.seq,
                hash: head.hash,
                // As the journal writes it: to the millisecond.
                ts: chrono::SubsecRound::trunc_subsecs(head.ts, 3),
                runbook: Some(self.runbook.name.clone()),
                key: None,
                sig: None,
            });
        }
    }

    pub(super) fn on_witness(&mut self, report: Report) -> Result<Vec<Notice>, JournalError> {
        match report {
            Report::Written { witness, seq } => {
                self.witness.heard.insert(witness, Instant::now());
                self.witness.down.remove(&witness);
                self.witness.written.insert(witness, seq);
                Ok(Vec::new())
            }
            Report::Failed {
                witness,
                seq,
                attempt,
                error,
                next_retry,
            } => {
                self.witness.heard.insert(witness, Instant::now());
                self.witness.down.insert(witness, (attempt, error.clone()));
                let target = self
                    .runbook
                    .witnesses
                    .get(witness)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                Ok(vec![self.write(Event::WitnessFailed {
                    witness,
                    target,
                    of_seq: seq,
                    attempt,
                    error,
                    next_retry_ms: Some(u64::try_from(next_retry.as_millis()).unwrap_or(u64::MAX)),
                })?])
            }
        }
    }

    /// The end of the run, after everything else is journaled: hand the final head to every
    /// witness and wait at most `grace` for those that answer (not for one that is down or
    /// silent for [`WITNESS_SILENT`]); journal each witness left without it, then stop the
    /// tasks. Returns how many witnesses did not take it.
    pub async fn close_witnesses(
        &mut self,
        inbox: &mut Inbox,
        grace: Duration,
        mut show: impl FnMut(Vec<Notice>),
    ) -> Result<usize, JournalError> {
        if self.runbook.witnesses.is_empty() || self.broken {
            return Ok(0);
        }
        // Durable first (a shared run's end commits in place).
        self.later.in_place = true;
        self.must_sync = true;
        show(self.settle(Ok(Vec::new()))?);
        let head = self.head_now();
        let last = head.seq;
        self.witness_durable(head, true);
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        loop {
            let now = Instant::now();
            let waiting: Vec<Instant> = (0..self.runbook.witnesses.len())
                .filter(|w| self.witness.written.get(w).copied().unwrap_or(0) < last)
                .filter(|w| !self.witness.down.contains_key(w))
                .map(|w| {
                    self.witness
                        .heard
                        .get(&w)
                        .map_or(now, |t| *t + WITNESS_SILENT)
                })
                .filter(|t| *t > now)
                .collect();
            let Some(silent) = waiting.into_iter().min() else {
                break;
            };
            tokio::select! {
                batch = inbox.next() => match batch {
                    // Only the witnesses' reports matter now; its failures are not journaled
                    // one by one after the final head (the summary below says it).
                    Some(batch) => {
                        for m in batch {
                            if let Message::Witness(report) = m {
                                self.on_witness_quietly(&report);
                            }
                        }
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(silent) => {}
                () = &mut deadline => break,
            }
        }
        if let Some(set) = &self.witness.set {
            set.stop();
        }
        let mut notices = Vec::new();
        let mut missing = 0;
        for (index, target) in self.runbook.witnesses.clone().iter().enumerate() {
            if self.witness.written.get(&index).copied().unwrap_or(0) >= last {
                continue;
            }
            missing += 1;
            // What the last attempt met (a full disk, a dead member), since it was not
            // journaled on its own at the end.
            let (attempt, error) = match self.witness.down.get(&index) {
                Some((attempt, error)) => {
                    (*attempt, format!("{RUN_ENDED}; the last attempt: {error}"))
                }
                None => (0, RUN_ENDED.to_string()),
            };
            notices.push(self.write(Event::WitnessFailed {
                witness: index,
                target: target.to_string(),
                of_seq: last,
                attempt,
                error,
                next_retry_ms: None,
            })?);
        }
        if !notices.is_empty() {
            show(self.settle(Ok(notices))?);
        }
        Ok(missing)
    }

    /// A witness's report at the very end: remembered, not journaled.
    fn on_witness_quietly(&mut self, report: &Report) {
        match report {
            Report::Written { witness, seq } => {
                self.witness.heard.insert(*witness, Instant::now());
                self.witness.down.remove(witness);
                self.witness.written.insert(*witness, *seq);
            }
            Report::Failed {
                witness,
                attempt,
                error,
                ..
            } => {
                self.witness.heard.insert(*witness, Instant::now());
                self.witness
                    .down
                    .insert(*witness, (*attempt, error.clone()));
            }
        }
    }
}
