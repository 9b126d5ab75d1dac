//! What the reports say, computed from a journal's records alone: run facts, each service's
//! state intervals and restore metrics, feature availability, the human timeline and the
//! action items. Pure: no IO, no formatting beyond plain text.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::engine::state::{Decision, ManualOutcome, Mode, Phase, ServiceState, StepOutcome};
use crate::export::describe::{describe, outcome_detail};
use crate::export::failures::{self, StepFailure};
use crate::journal::event::{Event, RunbookAbout, ServiceInfo};
use crate::journal::record::Record;
use crate::journal::verify::Journal;
use crate::runbook::model::{HostId, ServiceId};

/// Facts about the run as a whole.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub runbook: String,
    pub runbook_sha256: String,
    pub operator: String,
    pub version: String,
    pub mode: Mode,
    pub vars: IndexMap<String, String>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// `run_finished.outcome`; `None` while the run is in progress (or crashed).
    pub outcome: Option<String>,
    pub resumed: u32,
    /// `--incident-start`, when it was given.
    pub incident_start: Option<DateTime<Utc>>,
    /// What user notices need of the runbook.
    pub about: RunbookAbout,
    /// The operators' notes, in order.
    pub notes: Vec<String>,
}

impl RunInfo {
    /// What outages found in the opening sweep start at: the incident's start when it was
    /// given, else the run's.
    pub fn outage_origin(&self) -> Option<DateTime<Utc>> {
        self.incident_start.or(self.started)
    }
}

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

/// One span of a service not being up: from its start to `restored` or `healthy` again.
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

/// A span of time a service spent in one state; `to` is `None` for the state it is in now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub state: ServiceState,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

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

/// A customer-facing function and whether its latest checks pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    pub service: ServiceId,
    pub name: String,
    pub available: bool,
    pub checked_at: Option<DateTime<Utc>>,
    /// Named by a check's `feature`; otherwise the service stands for itself (its internal
    /// name), which customer-facing notices leave out.
    pub customer_facing: bool,
}

#[derive(Debug, Clone)]
pub struct ServiceReport {
    pub info: ServiceInfo,
    pub state: ServiceState,
    pub reason: Option<String>,
    pub intervals: Vec<Interval>,
    /// Every outage of the service in this run, in order.
    pub outages: Vec<Outage>,
    /// First time it was found `down` or `partial`.
    pub found_down_at: Option<DateTime<Utc>>,
    /// When its latest restored outage ended (a later passing check never moves it).
    pub restored_at: Option<DateTime<Utc>>,
    /// Of that outage: from its start to restored.
    pub time_to_restore_ms: Option<i64>,
    /// From the incident's start (or the run's, when not given) to `restored_at`.
    pub restored_after_ms: Option<i64>,
    /// Over every outage: missed if any was, met if all were.
    pub rto: Rto,
    /// Times restoration began (transitions into `restoring`).
    pub restore_attempts: u32,
    /// Restore step attempts on hosts (retries included).
    pub restore_step_attempts: u32,
    pub by_hand: bool,
    pub features: Vec<Feature>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunMetrics {
    pub duration_ms: Option<i64>,
    pub services_down: usize,
    pub services_restored: usize,
    pub time_to_first_restored_ms: Option<i64>,
    /// Set once every service found down is restored.
    pub time_to_all_restored_ms: Option<i64>,
}

/// One line of the human timeline: time · who · what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub who: String,
    pub what: String,
}

/// What an action item comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    ServiceFailed,
    ServiceSkipped,
    ServiceBlocked,
    ServiceUnreachable,
    Declined,
    ManualFailed,
    StepFailed,
    StepRetried,
}

/// A follow-up prefilled from what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionItem {
    pub service: Option<ServiceId>,
    pub cause: Cause,
    pub what: String,
    /// The seq of the event it comes from.
    pub seq: u64,
}

/// Everything the reports draw from.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// How many events were read.
    pub events: usize,
    /// The scorecard, when the journal is a scenario drill; else why there is none.
    pub scorecard:
        Result<crate::export::scorecard::Scorecard, crate::export::scorecard::NoScorecard>,
    /// The time of the first event.
    pub first_ts: Option<DateTime<Utc>>,
    pub run: RunInfo,
    pub services: Vec<ServiceReport>,
    pub metrics: RunMetrics,
    pub operators: Vec<String>,
    /// How the operators' acts are known (verified, unverified, local) and requests refused.
    pub identities: crate::export::identities::Identities,
    pub timeline: Vec<Entry>,
    pub actions: Vec<ActionItem>,
    /// Restore, verify and inject steps that ended badly and never succeeded afterwards,
    /// with the end of their output: why things failed.
    pub failures: Vec<StepFailure>,
    /// The time of the last event: reports speak "as of" it.
    pub as_of: Option<DateTime<Utc>>,
    pub final_hash: Option<String>,
    pub intact: bool,
}

impl Analysis {
    pub fn features(&self) -> impl Iterator<Item = &Feature> {
        self.services.iter().flat_map(|s| s.features.iter())
    }
}

type StepKey = (ServiceId, String, HostId);

/// An outage as the journal is read: its start, detection and end.
#[derive(Debug, Clone)]
struct OpenOutage {
    cause: OutageCause,
    started: DateTime<Utc>,
    detected: Option<DateTime<Utc>>,
    ended: Option<(DateTime<Utc>, bool)>,
}

/// One service's outages, folded from its state changes and inject starts: the one rule of
/// SPEC "Time and outages" that every report (post-mortem, scorecard, history) measures by.
#[derive(Debug, Clone, Default)]
pub struct OutageFold {
    outages: Vec<OpenOutage>,
    /// It was healthy or restored at some point: a failed check after that is a regression.
    was_up: bool,
}

impl OutageFold {
    fn open_outage(&mut self) -> Option<&mut OpenOutage> {
        self.outages.last_mut().filter(|o| o.ended.is_none())
    }

    /// A state change: down or partial opens an outage (or detects the open one); healthy or
    /// restored ends it. `origin` is what an outage found in the opening sweep starts at.
    pub fn state(&mut self, to: ServiceState, at: DateTime<Utc>, origin: DateTime<Utc>) {
        match to {
            ServiceState::Down | ServiceState::Partial => {
                if self.open_outage().is_none() {
                    let (cause, started) = if self.was_up {
                        (OutageCause::Regression, at)
                    } else {
                        (OutageCause::FoundDown, origin.min(at))
                    };
                    self.outages.push(OpenOutage {
                        cause,
                        started,
                        detected: None,
                        ended: None,
                    });
                }
                if let Some(o) = self.open_outage() {
                    o.detected.get_or_insert(at);
                }
            }
            ServiceState::Healthy | ServiceState::Restored => {
                self.was_up = true;
                if let Some(o) = self.open_outage() {
                    o.ended = Some((at, to == ServiceState::Restored));
                }
                // An inject that broke nothing was no outage.
                if self
                    .outages
                    .last()
                    .is_some_and(|o| o.detected.is_none() && o.ended.is_some_and(|(_, r)| !r))
                {
                    self.outages.pop();
                }
            }
            _ => {}
        }
    }

    /// A drill's inject step started: the outage it makes begins now.
    pub fn inject(&mut self, at: DateTime<Utc>) {
        if self.open_outage().is_none() {
            self.outages.push(OpenOutage {
                cause: OutageCause::Inject,
                started: at,
                detected: None,
                ended: None,
            });
        }
    }

    /// The outages so far, each measured against `rto_ms` from its own start; `as_of` is the
    /// journal's last event, `finished` whether the run ended.
    pub fn outages(
        &self,
        rto_ms: Option<u64>,
        as_of: Option<DateTime<Utc>>,
        finished: bool,
    ) -> Vec<Outage> {
        self.outages
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

#[derive(Default)]
struct Tracker {
    state: ServiceState,
    reason: Option<String>,
    intervals: Vec<Interval>,
    found_down_at: Option<DateTime<Utc>>,
    outages: OutageFold,
    restore_attempts: u32,
    restore_step_attempts: u32,
    by_hand: bool,
}

/// Builds an [`Analysis`] from a journal's records, fed one by one in order (so a journal
/// is analysed while it is read, in memory that does not grow with its output).
#[derive(Default)]
pub struct Analyser {
    run: RunInfo,
    infos: IndexMap<ServiceId, ServiceInfo>,
    trackers: IndexMap<ServiceId, Tracker>,
    operators: BTreeSet<String>,
    identities: crate::export::identities::Identities,
    /// Latest check/verify outcome per step and host, with its time.
    checks: HashMap<StepKey, (bool, DateTime<Utc>)>,
    /// Latest restore/verify step result per step and host, with the attempts it took.
    /// Keyed with the phase too: a restore and an inject (or a check) may share a name.
    last_finish: LastFinish,
    timeline: Vec<Entry>,
    actions: Vec<ActionItem>,
    tails: failures::Tracker,
    events: usize,
    first_ts: Option<DateTime<Utc>>,
    last_ts: Option<DateTime<Utc>>,
    /// A scenario drill's scorecard, folded in the same pass.
    drill: crate::export::scorecard::Fold,
}

/// Analyse a journal read back with [`crate::journal::read_journal`].
pub fn analyse(journal: &Journal) -> Analysis {
    let mut analyser = Analyser::default();
    for r in &journal.records {
        analyser.push(r);
    }
    analyser.finish(journal.report.last_hash.clone(), journal.report.is_intact())
}

impl Analyser {
    /// One record, in journal order.
    // One flat arm per event kind: splitting it would only scatter the kinds.
    #[allow(clippy::too_many_lines)]
    pub fn push(&mut self, r: &Record) {
        self.events += 1;
        self.drill.push(r);
        self.first_ts.get_or_insert(r.ts);
        self.last_ts = Some(r.ts);
        self.tails.record(r);
        if let Some(op) = r.event.operator() {
            self.operators.insert(op.to_string());
        }
        self.identities.push(&r.event);
        if let Some(s) = r.event.service() {
            self.trackers.entry(s.clone()).or_default();
        }
        match &r.event {
            Event::RunStarted {
                runbook,
                runbook_sha256,
                operator,
                vars,
                version,
                mode,
                services,
                incident_start,
                about,
                ..
            } => {
                if self.run.started.is_none() {
                    self.run = RunInfo {
                        incident_start: *incident_start,
                        about: about.as_ref().clone(),
                        runbook: runbook.clone(),
                        runbook_sha256: runbook_sha256.clone(),
                        operator: operator.clone(),
                        version: version.clone(),
                        mode: *mode,
                        vars: vars.clone(),
                        started: Some(r.ts),
                        ..RunInfo::default()
                    };
                }
                for s in services {
                    self.infos.entry(s.id.clone()).or_insert_with(|| s.clone());
                    self.trackers.entry(s.id.clone()).or_default();
                }
            }
            Event::ServiceState {
                service,
                to,
                reason,
                ..
            } => {
                let t = self.trackers.entry(service.clone()).or_default();
                if let Some(last) = t.intervals.last_mut() {
                    last.to = Some(r.ts);
                }
                t.intervals.push(Interval {
                    state: *to,
                    from: r.ts,
                    to: None,
                });
                t.state = *to;
                t.reason.clone_from(reason);
                t.outages
                    .state(*to, r.ts, self.run.outage_origin().unwrap_or(r.ts));
                match to {
                    ServiceState::Down | ServiceState::Partial => {
                        t.found_down_at.get_or_insert(r.ts);
                    }
                    ServiceState::Restoring => t.restore_attempts += 1,
                    ServiceState::Skipped => self.actions.push(ActionItem {
                        service: Some(service.clone()),
                        cause: Cause::ServiceSkipped,
                        what: format!(
                            "Service '{service}' was skipped{}: restore it or record why it can wait",
                            because(reason.as_deref())
                        ),
                        seq: r.seq,
                    }),
                    ServiceState::Failed => self.actions.push(ActionItem {
                        service: Some(service.clone()),
                        cause: Cause::ServiceFailed,
                        what: format!(
                            "Service '{service}' failed to restore{}: find the cause and fix the runbook or the service",
                            because(reason.as_deref())
                        ),
                        seq: r.seq,
                    }),
                    ServiceState::Unreachable => self.actions.push(ActionItem {
                        service: Some(service.clone()),
                        cause: Cause::ServiceUnreachable,
                        what: format!(
                            "Service '{service}' was unreachable{}: fix the connection, credentials or host key, then check it again",
                            because(reason.as_deref())
                        ),
                        seq: r.seq,
                    }),
                    ServiceState::Blocked => self.actions.push(ActionItem {
                        service: Some(service.clone()),
                        cause: Cause::ServiceBlocked,
                        what: format!(
                            "Service '{service}' was blocked{}: restore what it depends on, then it",
                            because(reason.as_deref())
                        ),
                        seq: r.seq,
                    }),
                    _ => {}
                }
            }
            Event::StepStarted { service, phase: Phase::Restore, .. } => {
                self.trackers.entry(service.clone()).or_default().restore_step_attempts += 1;
            }
            Event::StepStarted { service, phase: Phase::Inject, .. } => {
                self.trackers
                    .entry(service.clone())
                    .or_default()
                    .outages
                    .inject(r.ts);
            }
            Event::StepFinished {
                service,
                phase,
                step,
                host,
                attempt,
                outcome,
                exit_code,
                error,
                ..
            } => {
                let key = (service.clone(), step.clone(), host.clone());
                if matches!(phase, Phase::Check | Phase::Verify) {
                    self.checks.insert(key.clone(), (*outcome == StepOutcome::Ok, r.ts));
                }
                if matches!(phase, Phase::Restore | Phase::Verify | Phase::Inject) {
                    let detail = outcome_detail(*outcome, *exit_code, error.as_deref());
                    self.last_finish.insert((*phase, key), (r.seq, *outcome, *attempt, detail));
                }
            }
            Event::Approval {
                service,
                step,
                decision: Decision::Declined,
                operator,
                ..
            } => self.actions.push(ActionItem {
                service: Some(service.clone()),
                cause: Cause::Declined,
                what: format!("'{step}' of '{service}' was declined by {operator}: decide whether it should run"),
                seq: r.seq,
            }),
            Event::Manual {
                service,
                step,
                outcome,
                operator,
                ..
            } => {
                // A manual check (answered while the service is checked or verified) counts
                // for its feature like any other check; it runs on no host.
                let state = self.trackers.get(service).map(|t| t.state);
                if matches!(state, Some(ServiceState::Checking | ServiceState::Verifying)) {
                    let key = (service.clone(), step.clone(), HostId::new(""));
                    self.checks.insert(key, (*outcome == ManualOutcome::Done, r.ts));
                }
                if *outcome == ManualOutcome::Failed {
                    self.actions.push(ActionItem {
                        service: Some(service.clone()),
                        cause: Cause::ManualFailed,
                        what: format!("Manual step '{step}' of '{service}' failed ({operator}): follow up with whoever owns it"),
                        seq: r.seq,
                    });
                }
            }
            Event::OperatorAction { service, action, .. } if action.is_by_hand() => {
                self.trackers.entry(service.clone()).or_default().by_hand = true;
            }
            Event::Resumed { .. } => self.run.resumed += 1,
            Event::Note { text, .. } => self.run.notes.push(text.clone()),
            Event::RunFinished { outcome, .. } => {
                self.run.finished = Some(r.ts);
                self.run.outcome = Some(outcome.clone());
            }
            _ => {}
        }
        if let Some(entry) = entry(r) {
            self.timeline.push(entry);
        }
    }

    /// The analysis of every record pushed; `final_hash` and `intact` come from verification.
    pub fn finish(self, final_hash: Option<String>, intact: bool) -> Analysis {
        let Analyser {
            run,
            infos,
            trackers,
            operators,
            identities,
            checks,
            last_finish,
            timeline,
            mut actions,
            tails,
            events,
            first_ts,
            last_ts,
            drill,
        } = self;
        let failures = tails.finish();
        actions.extend(step_actions(&last_finish, &failures));
        let actions = once_each(actions);

        let as_of = last_ts;
        let start = run.outage_origin().or(first_ts);
        let services: Vec<ServiceReport> = trackers
            .into_iter()
            .map(|(id, t)| {
                let info = infos.get(&id).cloned().unwrap_or_else(|| ServiceInfo {
                    id: id.clone(),
                    name: id.to_string(),
                    tier: 0,
                    rto_ms: None,
                    depends_on: Vec::new(),
                    checks: Vec::new(),
                });
                report(info, t, start, as_of, run.finished.is_some(), &checks)
            })
            .collect();
        let metrics = run_metrics(&services, start, run.finished.or(as_of));
        Analysis {
            scorecard: crate::export::scorecard::scorecard(&drill.finish()),
            events,
            first_ts,
            run,
            services,
            metrics,
            operators: operators.into_iter().collect(),
            identities,
            timeline,
            actions,
            failures,
            as_of,
            final_hash,
            intact,
        }
    }
}

type LastFinish = IndexMap<(Phase, StepKey), (u64, StepOutcome, u32, String)>;

/// One action item per step that ended badly (its hosts together, with the last line it
/// printed) or needed retries to succeed.
fn step_actions(last_finish: &LastFinish, failures: &[StepFailure]) -> Vec<ActionItem> {
    // (phase, service, step) → hosts with how each ended, the first seq, the most attempts.
    let mut bad: IndexMap<(Phase, &ServiceId, &str), BadStep> = IndexMap::new();
    let mut items = Vec::new();
    for ((phase, (service, step, host)), (seq, outcome, attempt, detail)) in last_finish {
        if *outcome == StepOutcome::Ok {
            if *attempt > 1 {
                let what = format!(
                    "{} step '{step}' of '{service}' on {host} needed {attempt} attempts: make it reliable",
                    capital(phase.as_str())
                );
                items.push(ActionItem {
                    service: Some(service.clone()),
                    cause: Cause::StepRetried,
                    what,
                    seq: *seq,
                });
            }
            continue;
        }
        let entry = bad
            .entry((*phase, service, step.as_str()))
            .or_insert_with(|| BadStep {
                hosts: Vec::new(),
                seq: *seq,
                attempts: 0,
            });
        entry.hosts.push((host, detail.as_str()));
        entry.seq = entry.seq.min(*seq);
        entry.attempts = entry.attempts.max(*attempt);
    }
    for ((phase, service, step), b) in bad {
        items.push(ActionItem {
            service: Some(service.clone()),
            cause: Cause::StepFailed,
            what: bad_step_item(phase, service, step, &b, failures),
            seq: b.seq,
        });
    }
    items
}

struct BadStep<'a> {
    hosts: Vec<(&'a HostId, &'a str)>,
    seq: u64,
    attempts: u32,
}

/// "Restore step 'x' of 's' on h1, h2 ended failed (exit 32) after 2 attempts, printing '…':
/// find out why".
fn bad_step_item(
    phase: Phase,
    service: &ServiceId,
    step: &str,
    b: &BadStep,
    failures: &[StepFailure],
) -> String {
    let first = b.hosts.first().map_or("", |(_, d)| *d);
    let (on, ended) = if b.hosts.iter().all(|(_, d)| *d == first) {
        let names: Vec<String> = b.hosts.iter().map(|(h, _)| h.to_string()).collect();
        (format!(" on {}", names.join(", ")), first.to_string())
    } else {
        let each: Vec<String> = b.hosts.iter().map(|(h, d)| format!("{d} on {h}")).collect();
        (String::new(), each.join(", "))
    };
    let tries = if b.attempts > 1 {
        format!(" after {} attempts", b.attempts)
    } else {
        String::new()
    };
    // The last line it printed, unless the outcome already says it (an `error` text).
    let said = failures
        .iter()
        .filter(|f| f.phase == phase && f.service == *service && f.step == step)
        .find_map(StepFailure::last_words)
        .filter(|w| !ended.contains(w))
        .map(|w| format!(", printing '{w}'"))
        .unwrap_or_default();
    format!(
        "{} step '{step}' of '{service}'{on} ended {ended}{tries}{said}: find out why",
        capital(phase.as_str())
    )
}

/// Each follow-up once: the same item again (a resumed run, a service blocked twice) is
/// dropped, and "service failed to restore" is dropped when an item before it already says
/// which of its steps failed, was declined or was marked failed: the same failure, in more
/// detail. Keyed by service and text, so two steps failing stay two items.
fn once_each(mut actions: Vec<ActionItem>) -> Vec<ActionItem> {
    actions.sort_by_key(|a| a.seq);
    let mut seen = std::collections::HashSet::new();
    let mut explained: std::collections::HashSet<ServiceId> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(actions.len());
    for item in actions {
        if !seen.insert((item.service.clone(), item.what.clone())) {
            continue;
        }
        if let Some(s) = &item.service {
            match item.cause {
                Cause::ServiceFailed if explained.contains(s) => continue,
                Cause::StepFailed | Cause::Declined | Cause::ManualFailed => {
                    explained.insert(s.clone());
                }
                _ => {}
            }
        }
        out.push(item);
    }
    out
}

pub fn capital(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn because(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

fn ms(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
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

fn report(
    info: ServiceInfo,
    t: Tracker,
    start: Option<DateTime<Utc>>,
    as_of: Option<DateTime<Utc>>,
    finished: bool,
    checks: &HashMap<StepKey, (bool, DateTime<Utc>)>,
) -> ServiceReport {
    let outages = t.outages.outages(info.rto_ms, as_of, finished);
    let last_restored = outages.iter().rev().find(|o| o.restored);
    let restored_at = last_restored.and_then(|o| o.ended);
    let time_to_restore_ms = last_restored.and_then(|o| o.time_to_restore_ms);
    let restored_after_ms = start.zip(restored_at).map(|(s, r)| ms(s, r));
    let rto = overall_rto(&outages);
    let features = features(&info, checks);
    ServiceReport {
        info,
        state: t.state,
        reason: t.reason,
        intervals: t.intervals,
        outages,
        found_down_at: t.found_down_at,
        restored_at,
        time_to_restore_ms,
        restored_after_ms,
        rto,
        restore_attempts: t.restore_attempts,
        restore_step_attempts: t.restore_step_attempts,
        by_hand: t.by_hand,
        features,
    }
}

/// Each check with a feature is one function; a service with none stands for itself.
fn features(info: &ServiceInfo, checks: &HashMap<StepKey, (bool, DateTime<Utc>)>) -> Vec<Feature> {
    let latest = |steps: &[&str]| {
        let results: Vec<&(bool, DateTime<Utc>)> = checks
            .iter()
            .filter(|((s, step, _), _)| *s == info.id && steps.contains(&step.as_str()))
            .map(|(_, v)| v)
            .collect();
        let available = !results.is_empty() && results.iter().all(|(ok, _)| *ok);
        (available, results.iter().map(|(_, t)| *t).max())
    };
    let named: Vec<(&str, &str)> = info
        .checks
        .iter()
        .filter_map(|c| c.feature.as_deref().map(|f| (f, c.step.as_str())))
        .collect();
    if named.is_empty() {
        let all: Vec<&str> = checks
            .keys()
            .filter(|(s, _, _)| *s == info.id)
            .map(|(_, step, _)| step.as_str())
            .collect();
        let (available, checked_at) = latest(&all);
        return vec![Feature {
            service: info.id.clone(),
            name: info.name.clone(),
            available,
            checked_at,
            customer_facing: false,
        }];
    }
    // Several checks may stand for one feature: it is available when all of them pass.
    let mut by_feature: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for (feature, step) in named {
        by_feature.entry(feature).or_default().push(step);
    }
    by_feature
        .into_iter()
        .map(|(name, steps)| {
            let (available, checked_at) = latest(&steps);
            Feature {
                service: info.id.clone(),
                name: name.to_string(),
                available,
                checked_at,
                customer_facing: true,
            }
        })
        .collect()
}

fn run_metrics(
    services: &[ServiceReport],
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> RunMetrics {
    let down: Vec<&ServiceReport> = services
        .iter()
        .filter(|s| s.found_down_at.is_some())
        .collect();
    let restored: Vec<i64> = down.iter().filter_map(|s| s.restored_after_ms).collect();
    RunMetrics {
        duration_ms: start.zip(end).map(|(s, e)| ms(s, e)),
        services_down: down.len(),
        services_restored: restored.len(),
        time_to_first_restored_ms: restored.iter().copied().min(),
        time_to_all_restored_ms: (!down.is_empty() && restored.len() == down.len())
            .then(|| restored.iter().copied().max())
            .flatten(),
    }
}

/// The post-mortem's timeline line for an event: what `describe` says of it, less step starts
/// (every start is followed by its result) and output.
fn entry(r: &Record) -> Option<Entry> {
    if matches!(r.event, Event::StepStarted { .. }) {
        return None;
    }
    let d = describe(&r.event)?;
    Some(Entry {
        seq: r.seq,
        ts: r.ts,
        who: d.who.to_string(),
        what: d.what,
    })
}

pub fn mode_str(mode: Mode) -> &'static str {
    crate::export::describe::mode_word(mode)
}

/// `1h 02m 03s`, `4m 05s`, `6.2 s`, `120 ms`.
pub fn human_ms(ms: i64) -> String {
    let neg = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{neg}{ms} ms");
    }
    let secs = ms / 1000;
    if secs < 60 {
        return format!("{neg}{}.{} s", secs, (ms % 1000) / 100);
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{neg}{h}h {m:02}m {s:02}s")
    } else {
        format!("{neg}{m}m {s:02}s")
    }
}

/// `2026-11-22 08:14:03 UTC`.
pub fn full_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_read_naturally() {
        assert_eq!(human_ms(120), "120 ms");
        assert_eq!(human_ms(6_250), "6.2 s");
        assert_eq!(human_ms(245_000), "4m 05s");
        assert_eq!(human_ms(3_723_000), "1h 02m 03s");
    }
}
