//! The run's picture, folded from its journal one event at a time (SPEC "One picture of the
//! run"): each service's state, its outages (SPEC "Time and outages"), the questions waiting
//! for an operator, auto mode, the operators seen and a drill's phases. Every screen, report
//! and verdict reads these facts from a [`RunFold`], so the same journal gives the same numbers
//! in every process — after a crash, a take-over or a pull, a fold seeded with the journal's
//! records and then fed the new ones equals a fold that saw them all as they came.
//!
//! Pure: no IO, no clock. Times are the journal's; a front end passes its own "now" only to
//! measure what is still open.

use std::collections::BTreeSet;

use chrono::{DateTime, SubsecRound as _, Utc};
use indexmap::IndexMap;

use crate::engine::state::{Decision, Mode, Phase, ServiceState};
use crate::journal::event::{
    DrillOutcome, DrillPhase, Event, Identity, OperatorActionKind, QuestionKind, ServiceInfo,
};
use crate::journal::record::Record;
use crate::runbook::model::{HostId, ServiceId};

mod rollback;
pub use rollback::{AskedBy, CASCADE, Rollback, RollbackEnd, Rollbacks};

/// What began an outage (SPEC "Time and outages").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageCause {
    /// Found down or partial when first checked: it began at the incident's start.
    FoundDown,
    /// A service that was up failed a check.
    Regression,
    /// A drill's inject step started.
    Inject,
}

impl OutageCause {
    pub fn as_str(self) -> &'static str {
        match self {
            OutageCause::FoundDown => "found down",
            OutageCause::Regression => "regression",
            OutageCause::Inject => "drill inject",
        }
    }
}

/// Whether an outage met its recovery time objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rto {
    Met,
    Missed,
    /// Not restored yet and the objective has not run out.
    Pending,
    /// The run ended before the service was restored and before its objective ran out.
    NotRestored,
    /// No objective, or the service was never down.
    NotApplicable,
}

impl Rto {
    pub fn as_str(self) -> &'static str {
        match self {
            Rto::Met => "met",
            Rto::Missed => "missed",
            Rto::Pending => "pending",
            Rto::NotRestored => "not restored",
            Rto::NotApplicable => "n/a",
        }
    }
}

/// One span of a service not being up, measured: from its start to `restored` or `healthy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub cause: OutageCause,
    pub started: DateTime<Utc>,
    /// The first failed check of the outage.
    pub detected: Option<DateTime<Utc>>,
    /// When it was up again; `None` while it is not.
    pub ended: Option<DateTime<Utc>>,
    /// Ended by a restore (`restored`), not by a check finding it healthy again.
    pub restored: bool,
    pub time_to_detect_ms: Option<i64>,
    pub time_to_restore_ms: Option<i64>,
    pub rto: Rto,
}

impl Outage {
    /// Its length: to its end, or to `now` while it lasts.
    pub fn length_ms(&self, now: DateTime<Utc>) -> i64 {
        self.time_to_restore_ms
            .unwrap_or_else(|| ms(self.started, now).max(0))
    }
}

/// An outage as the journal is read: its start, detection and end (with whether a restore
/// ended it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    cause: OutageCause,
    started: DateTime<Utc>,
    detected: Option<DateTime<Utc>>,
    ended: Option<(DateTime<Utc>, bool)>,
}

/// One service as the journal tells it so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFold {
    pub state: ServiceState,
    pub reason: Option<String>,
    /// When it entered `state`.
    pub since: Option<DateTime<Utc>>,
    /// First found `down` or `partial`.
    pub found_down_at: Option<DateTime<Utc>>,
    /// Its first inject step's start, in a drill.
    pub injected_at: Option<DateTime<Utc>>,
    /// Its first move into `restoring` after its inject.
    pub restore_started: Option<DateTime<Utc>>,
    spans: Vec<Span>,
    /// It was healthy or restored at some point: a failed check after that is a regression.
    was_up: bool,
}

impl ServiceFold {
    fn open(&mut self) -> Option<&mut Span> {
        self.spans.last_mut().filter(|o| o.ended.is_none())
    }

    /// A state change: down or partial opens an outage (or detects the open one); healthy
    /// or restored ends it. `origin` is what an outage found in the opening sweep starts at.
    fn state(&mut self, to: ServiceState, at: DateTime<Utc>, origin: DateTime<Utc>) {
        match to {
            ServiceState::Down | ServiceState::Partial => {
                self.found_down_at.get_or_insert(at);
                if self.open().is_none() {
                    let (cause, started) = if self.was_up {
                        (OutageCause::Regression, at)
                    } else {
                        (OutageCause::FoundDown, origin.min(at))
                    };
                    self.spans.push(Span {
                        cause,
                        started,
                        detected: None,
                        ended: None,
                    });
                }
                if let Some(o) = self.open() {
                    o.detected.get_or_insert(at);
                }
            }
            ServiceState::Healthy | ServiceState::Restored => {
                self.was_up = true;
                if let Some(o) = self.open() {
                    o.ended = Some((at, to == ServiceState::Restored));
                }
                // An inject that broke nothing was no outage.
                if self
                    .spans
                    .last()
                    .is_some_and(|o| o.detected.is_none() && o.ended.is_some_and(|(_, r)| !r))
                {
                    self.spans.pop();
                }
            }
            ServiceState::Restoring
                if self.injected_at.is_some() && self.restore_started.is_none() =>
            {
                self.restore_started = Some(at);
            }
            _ => {}
        }
    }

    /// A drill's inject step started: the outage it makes begins now.
    fn inject(&mut self, at: DateTime<Utc>) {
        self.injected_at.get_or_insert(at);
        if self.open().is_none() {
            self.spans.push(Span {
                cause: OutageCause::Inject,
                started: at,
                detected: None,
                ended: None,
            });
        }
    }

    /// Its outages, each measured against `rto_ms` from its own start; `as_of` is what an
    /// open one is measured to, `finished` whether the run ended.
    pub fn outages(
        &self,
        rto_ms: Option<u64>,
        as_of: Option<DateTime<Utc>>,
        finished: bool,
    ) -> Vec<Outage> {
        self.spans
            .iter()
            .map(|o| {
                let ended = o.ended.map(|(at, _)| at);
                Outage {
                    cause: o.cause,
                    started: o.started,
                    detected: o.detected,
                    ended,
                    restored: o.ended.is_some_and(|(_, r)| r),
                    time_to_detect_ms: o.detected.map(|d| ms(o.started, d)),
                    time_to_restore_ms: ended.map(|e| ms(o.started, e)),
                    rto: outage_rto(rto_ms, o.started, ended, as_of, finished),
                }
            })
            .collect()
    }
}

/// Whether the run's plan starts work by itself (`a`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Auto {
    #[default]
    Off,
    On,
}

/// A question an operator has not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub service: ServiceId,
    pub step: String,
    /// The phase of the step asked about; `None` in journals older than `asked.phase`.
    pub phase: Option<Phase>,
    pub kind: QuestionKind,
    /// When it was first asked.
    pub since: DateTime<Utc>,
    /// The seq of the event that first asked it.
    pub seq: u64,
}

impl Question {
    /// Whether it is the question about this step: same service and step name, and the
    /// same phase where both say one (older journals do not).
    fn asks(&self, service: &ServiceId, step: &str, phase: Option<Phase>) -> bool {
        &self.service == service
            && self.step == step
            && (self.phase.is_none() || phase.is_none() || self.phase == phase)
    }
}

/// A manual step asked and never answered whose service was up afterwards (SPEC "A
/// take-over is a hand-over").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unconfirmed {
    pub service: ServiceId,
    pub step: String,
    /// The seq of the event that asked it.
    pub seq: u64,
}

/// A guard that tripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardTrip {
    pub at: DateTime<Utc>,
    pub guard: String,
    pub host: crate::runbook::model::HostId,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// A scenario drill's course: its phases, outcome and tripped guards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrillFold {
    /// `run_started.scenario`, else the scenario its `drill_phase` events name.
    pub scenario: Option<String>,
    /// Each phase's first start, in order.
    pub phases: Vec<(DrillPhase, DateTime<Utc>)>,
    /// The latest phase.
    pub phase: Option<DrillPhase>,
    pub outcome: Option<DrillOutcome>,
    pub reason: Option<String>,
    pub guards: Vec<GuardTrip>,
}

impl DrillFold {
    fn push(&mut self, ts: DateTime<Utc>, event: &Event) {
        match event {
            Event::DrillPhase {
                scenario,
                phase,
                outcome,
                reason,
            } => {
                self.scenario.get_or_insert_with(|| scenario.clone());
                if !self.phases.iter().any(|(p, _)| p == phase) {
                    self.phases.push((*phase, ts));
                }
                self.phase = Some(*phase);
                if outcome.is_some() {
                    self.outcome = *outcome;
                    self.reason.clone_from(reason);
                }
            }
            Event::GuardTripped {
                guard,
                host,
                exit_code,
                error,
            } => self.guards.push(GuardTrip {
                at: ts,
                guard: guard.clone(),
                host: host.clone(),
                exit_code: *exit_code,
                error: error.clone(),
            }),
            _ => {}
        }
    }
}

/// The run's picture: fed records in journal order with [`RunFold::push`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFold {
    /// The seq of the last event folded.
    pub last_seq: u64,
    pub events: usize,
    pub mode: Mode,
    /// The first `run_started`'s time.
    pub started: Option<DateTime<Utc>>,
    /// `--incident-start`, when it was given.
    pub incident_start: Option<DateTime<Utc>>,
    /// `run_finished`'s time, until a `resumed` reopens the run.
    pub finished: Option<DateTime<Utc>>,
    /// `run_finished.left_down`: services a drill injected and did not see healthy again.
    pub left_down: Vec<ServiceId>,
    /// The last event's time.
    pub as_of: Option<DateTime<Utc>>,
    /// How many times the run was resumed or taken over.
    pub resumed: u32,
    pub auto: Auto,
    /// Every operator who acted, in order of name.
    pub operators: BTreeSet<String>,
    /// What `run_started` recorded of each service.
    pub infos: IndexMap<ServiceId, ServiceInfo>,
    pub services: IndexMap<ServiceId, ServiceFold>,
    /// Questions waiting for an operator, in the order asked.
    pub questions: Vec<Question>,
    /// Approvals given to a restore step that has not started since, by principals the
    /// executing process knew (its own terminal, or a verified signature), in order: the
    /// first of a two-person step's approvals outlives a take-over.
    pub approvals: IndexMap<(ServiceId, String), Vec<String>>,
    /// How many times each step started on each host (service, phase, step, host): a step
    /// run again by hand is its second attempt, though its engine counts from 1 again.
    pub starts: IndexMap<(ServiceId, Phase, String, HostId), u32>,
    /// Per service, the time its approval questions waited for an answer (asked to
    /// answered), in milliseconds.
    pub approval_waits: IndexMap<ServiceId, i64>,
    /// Manual steps left unanswered whose service was found up afterwards.
    pub unconfirmed: Vec<Unconfirmed>,
    pub drill: DrillFold,
    /// What undo took back, per service, in the order each rollback began.
    pub rollbacks: Rollbacks,
    /// Which failure each service stopped on, and why (`fold/failure.rs`).
    pub failures: Failures,
}

impl RunFold {
    /// A fold of `records`, in order: what a take-over or a reader starts from.
    pub fn of(records: &[Record]) -> RunFold {
        let mut fold = RunFold::default();
        for r in records {
            fold.push(r);
        }
        fold
    }

    /// How many times `step` (by its name) started on `host` so far.
    pub fn starts_of(&self, service: &ServiceId, phase: Phase, step: &str, host: &HostId) -> u32 {
        self.starts
            .get(&(service.clone(), phase, step.to_string(), host.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// One record, in journal order.
    pub fn push(&mut self, r: &Record) {
        self.push_event(r.seq, r.ts, &r.event);
    }

    /// One event as the driver journaled it (its seq and time).
    pub fn push_event(&mut self, seq: u64, ts: DateTime<Utc>, event: &Event) {
        // The journal keeps milliseconds: a time from memory counts as the line says it, so a
        // fold fed as events are written equals one read back from the file.
        let ts = ts.trunc_subsecs(3);
        self.last_seq = seq;
        self.events += 1;
        self.as_of = Some(ts);
        if let Some(op) = event.operator() {
            self.operators.insert(op.to_string());
        }
        if let Some(s) = event.service() {
            self.services.entry(s.clone()).or_default();
        }
        if let Event::StepStarted {
            service,
            phase,
            step,
            host,
            ..
        } = event
        {
            *self
                .starts
                .entry((service.clone(), *phase, step.clone(), host.clone()))
                .or_insert(0) += 1;
        }
        match event {
            Event::RunStarted {
                mode,
                services,
                incident_start,
                scenario,
                ..
            } => {
                if self.started.is_none() {
                    self.started = Some(ts);
                    self.mode = *mode;
                    self.incident_start = *incident_start;
                    if let Some(s) = scenario {
                        self.drill.scenario = Some(s.clone());
                    }
                }
                for s in services {
                    self.infos.entry(s.id.clone()).or_insert_with(|| s.clone());
                    self.services.entry(s.id.clone()).or_default();
                }
            }
            Event::ServiceState {
                service,
                to,
                reason,
                ..
            } => self.state(ts, service, *to, reason.as_ref()),
            Event::StepStarted {
                service,
                phase: Phase::Inject,
                ..
            } => self.services.entry(service.clone()).or_default().inject(ts),
            Event::StepStarted {
                service,
                phase: Phase::Restore,
                step,
                ..
            } => {
                self.approvals
                    .shift_remove(&(service.clone(), step.clone()));
            }
            Event::Asked { .. } => self.ask(seq, ts, event),
            Event::Approval { .. } => self.approval(ts, event),
            Event::Manual { service, step, .. } => {
                self.questions
                    .retain(|q| !(&q.service == service && &q.step == step));
            }
            Event::OperatorAction { action, .. } => match action {
                OperatorActionKind::AutoOn => self.auto = Auto::On,
                OperatorActionKind::AutoOff => self.auto = Auto::Off,
                _ => {}
            },
            Event::Resumed { .. } => {
                self.resumed += 1;
                self.finished = None;
                // The new executor decides its own mode and asks again what is pending.
                self.auto = Auto::Off;
            }
            Event::RunFinished { left_down, .. } => {
                self.finished = Some(ts);
                self.left_down = left_down.clone().unwrap_or_default();
                self.auto = Auto::Off;
            }
            Event::DrillPhase { .. } | Event::GuardTripped { .. } => self.drill.push(ts, event),
            _ => {}
        }
        self.rollbacks.push(ts, event, &self.infos);
        self.failures.push(seq, ts, event);
    }

    /// An answer to an approval: the question goes; an approval by a principal this run
    /// knows is kept until the step starts (a declined step forgets its approvals).
    fn approval(&mut self, ts: DateTime<Utc>, event: &Event) {
        let Event::Approval {
            service,
            step,
            phase,
            decision,
            operator,
            provenance,
        } = event
        else {
            return;
        };
        let (phase, decision) = (*phase, *decision);
        let answered = |q: &Question| q.asks(service, step, phase);
        if let Some(q) = self.questions.iter().find(|q| answered(q)) {
            let waited = (ts - q.since).num_milliseconds().max(0);
            *self.approval_waits.entry(service.clone()).or_default() += waited;
        }
        self.questions.retain(|q| !answered(q));
        let key = (service.clone(), step.clone());
        let known = matches!(
            provenance.identity,
            Some(Identity::Local | Identity::Verified)
        );
        // Only a restore step's approvals are kept (older journals do not say: a restore).
        let restore = phase.is_none_or(|p| p == Phase::Restore);
        match decision {
            Decision::Approved if known && restore => {
                let by = self.approvals.entry(key).or_default();
                if !by.iter().any(|b| b == operator) {
                    by.push(operator.clone());
                }
            }
            Decision::Declined if restore => {
                self.approvals.shift_remove(&key);
            }
            Decision::Approved | Decision::Declined => {}
        }
    }

    fn ask(&mut self, seq: u64, ts: DateTime<Utc>, event: &Event) {
        let Event::Asked {
            service,
            step,
            phase,
            question: kind,
        } = event
        else {
            return;
        };
        let phase = *phase;
        // Asked again (after a take-over): the same question, waiting since it was first put.
        if !self.questions.iter().any(|q| q.asks(service, step, phase)) {
            self.questions.push(Question {
                service: service.clone(),
                step: step.clone(),
                phase,
                kind: *kind,
                since: ts,
                seq,
            });
        }
    }

    fn state(
        &mut self,
        ts: DateTime<Utc>,
        service: &ServiceId,
        to: ServiceState,
        reason: Option<&String>,
    ) {
        let origin = self.outage_origin().unwrap_or(ts);
        let s = self.services.entry(service.clone()).or_default();
        s.state = to;
        s.reason = reason.cloned();
        s.since = Some(ts);
        s.state(to, ts, origin);
        if to.is_up() {
            // A manual step still waiting when its service is up was never confirmed.
            let (left, kept): (Vec<Question>, Vec<Question>) = std::mem::take(&mut self.questions)
                .into_iter()
                .partition(|q| &q.service == service && q.kind == QuestionKind::Manual);
            self.questions = kept;
            self.unconfirmed
                .extend(left.into_iter().map(|q| Unconfirmed {
                    service: q.service,
                    step: q.step,
                    seq: q.seq,
                }));
        }
        // Up, failed, skipped or blocked: nothing of it waits for an operator any more.
        if to.is_up()
            || matches!(
                to,
                ServiceState::Failed | ServiceState::Skipped | ServiceState::Blocked
            )
        {
            self.questions.retain(|q| &q.service != service);
        }
    }

    /// What outages found in the opening sweep start at: the incident's start when it was
    /// given, else the run's.
    pub fn outage_origin(&self) -> Option<DateTime<Utc>> {
        origin(self.incident_start, self.started)
    }

    /// A service's outages so far, measured to the journal's last event.
    pub fn outages(&self, service: &ServiceId) -> Vec<Outage> {
        self.outages_at(service, self.as_of)
    }

    /// A service's outages, an open one measured to `now` (a screen's clock).
    pub fn outages_at(&self, service: &ServiceId, now: Option<DateTime<Utc>>) -> Vec<Outage> {
        let rto = self.infos.get(service).and_then(|i| i.rto_ms);
        self.services
            .get(service)
            .map(|s| s.outages(rto, now, self.finished.is_some()))
            .unwrap_or_default()
    }

    /// The time a screen shows against a service's RTO at `now`: its latest outage's length
    /// (to now while it lasts); for a service not found up or down yet, the time since the
    /// incident's start (an outage found in the sweep starts there); else zero.
    pub fn time_against_rto_ms(&self, service: &ServiceId, now: DateTime<Utc>) -> i64 {
        if let Some(last) = self.outages_at(service, Some(now)).last() {
            return last.length_ms(now);
        }
        let s = self.services.get(service);
        let unknown = s.is_none_or(|s| !s.was_up && s.found_down_at.is_none());
        match self.outage_origin() {
            Some(origin) if unknown => ms(origin, self.finished.unwrap_or(now)).max(0),
            _ => 0,
        }
    }

    /// Whether any service had an outage.
    pub fn any_outage(&self) -> bool {
        self.services.values().any(|s| !s.spans.is_empty())
    }

    /// The outage a drill's inject made: the first inject outage at or after its inject, or
    /// the one it was in when injected. `None` when not injected or the inject broke nothing.
    pub fn inject_outage(&self, service: &ServiceId) -> Option<Outage> {
        let at = self.services.get(service)?.injected_at?;
        inject_outage(&self.outages(service), at).cloned()
    }

    /// The question waiting on a service, if any.
    pub fn question(&self, service: &ServiceId) -> Option<&Question> {
        self.questions.iter().find(|q| &q.service == service)
    }
}

/// What outages found in the opening sweep start at: the incident's start when it was given,
/// else the run's.
pub fn origin(
    incident_start: Option<DateTime<Utc>>,
    started: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    incident_start.or(started)
}

/// Of a service's `outages`, the one its inject at `at` made (or the one it was in then).
pub fn inject_outage(outages: &[Outage], at: DateTime<Utc>) -> Option<&Outage> {
    outages
        .iter()
        .find(|o| o.cause == OutageCause::Inject && o.started >= at)
        .or_else(|| {
            outages
                .iter()
                .find(|o| o.started <= at && o.ended.is_none_or(|e| e >= at))
        })
}

pub(crate) fn ms(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_milliseconds()
}

/// Whether one outage met its objective: measured from the outage's own start.
fn outage_rto(
    rto_ms: Option<u64>,
    started: DateTime<Utc>,
    ended: Option<DateTime<Utc>>,
    as_of: Option<DateTime<Utc>>,
    finished: bool,
) -> Rto {
    let Some(rto) = rto_ms else {
        return Rto::NotApplicable;
    };
    let rto = i64::try_from(rto).unwrap_or(i64::MAX);
    match ended {
        Some(end) if ms(started, end) <= rto => Rto::Met,
        Some(_) => Rto::Missed,
        None => {
            let elapsed = as_of.map_or(0, |a| ms(started, a));
            if elapsed > rto {
                Rto::Missed
            } else if finished {
                Rto::NotRestored
            } else {
                Rto::Pending
            }
        }
    }
}

/// The service's RTO over all its outages: any missed is missed; else any still open
/// decides; met when every one was.
pub fn overall_rto(outages: &[Outage]) -> Rto {
    let any = |r: Rto| outages.iter().any(|o| o.rto == r);
    if outages.is_empty() || outages.iter().all(|o| o.rto == Rto::NotApplicable) {
        Rto::NotApplicable
    } else if any(Rto::Missed) {
        Rto::Missed
    } else if any(Rto::Pending) {
        Rto::Pending
    } else if any(Rto::NotRestored) {
        Rto::NotRestored
    } else {
        Rto::Met
    }
}

mod failure;
pub use failure::{Failure, FailureCause, Failures, Stopped};

#[cfg(test)]
mod tests;
