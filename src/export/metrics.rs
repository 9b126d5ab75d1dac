//! What the reports say, computed from a journal's records alone: run facts, each service's
//! state intervals and restore metrics, feature availability, the human timeline and the
//! action items. Pure: no IO, no formatting beyond plain text.

use std::collections::HashMap;

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
    /// What outages found in the opening sweep start at (`crate::fold::RunFold::outage_origin`).
    pub fn outage_origin(&self) -> Option<DateTime<Utc>> {
        crate::fold::origin(self.incident_start, self.started)
    }

    /// The outage's cause as known: `[runbook] cause`, then every operator's note that starts
    /// with `cause:` (the prefix taken off), in order. Never the runbook's description: that
    /// is a restore plan, not a cause.
    pub fn causes(&self) -> Vec<String> {
        self.about
            .cause
            .iter()
            .cloned()
            .chain(self.notes.iter().filter_map(|n| cause_note(n)))
            .collect()
    }
}

/// The text of a note that states a cause (`cause: the UPS batteries caught fire`), any case.
pub fn cause_note(note: &str) -> Option<String> {
    let t = note.trim_start();
    let head = t.get(..CAUSE_PREFIX.len())?;
    if !head.eq_ignore_ascii_case(CAUSE_PREFIX) {
        return None;
    }
    let rest = t[CAUSE_PREFIX.len()..].trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

/// What an operator's note starts with to state the outage's cause.
pub const CAUSE_PREFIX: &str = "cause:";

pub use crate::fold::{Outage, OutageCause, Rto, overall_rto};

/// A span of time a service spent in one state; `to` is `None` for the state it is in now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub state: ServiceState,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
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
    /// A manual step left unanswered whose service was later found up.
    ManualUnconfirmed,
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
    /// What undo took back, in the order it began.
    pub rollbacks: Vec<crate::fold::Rollback>,
}

impl Analysis {
    pub fn features(&self) -> impl Iterator<Item = &Feature> {
        self.services.iter().flat_map(|s| s.features.iter())
    }
}

type StepKey = (ServiceId, String, HostId);

#[derive(Default)]
struct Tracker {
    intervals: Vec<Interval>,
    restore_attempts: u32,
    restore_step_attempts: u32,
    by_hand: bool,
}

/// Builds an [`Analysis`] from a journal's records, fed one by one in order (so a journal
/// is analysed while it is read, in memory that does not grow with its output).
#[derive(Default)]
pub struct Analyser {
    run: RunInfo,
    trackers: IndexMap<ServiceId, Tracker>,
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
    /// The run's picture (states, outages, questions) and a drill's scorecard, folded in
    /// the same pass.
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
                match to {
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
                phase,
                decision: Decision::Declined,
                operator,
                ..
            } => self.actions.push(ActionItem {
                service: Some(service.clone()),
                cause: Cause::Declined,
                what: format!(
                    "{}'{step}' of '{service}' was declined by {operator}: decide whether it should run",
                    crate::export::describe::phase_prefix(*phase)
                ),
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
                let state = self.drill.picture().services.get(service).map(|s| s.state);
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
            Event::OperatorAction {
                service: Some(service),
                action,
                ..
            } if action.is_by_hand() => {
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
            trackers,
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
        let picture = drill.picture();
        actions.extend(unconfirmed_actions(picture));
        let actions = once_each(actions);

        let as_of = last_ts;
        let start = picture.outage_origin().or(first_ts);
        let services: Vec<ServiceReport> = trackers
            .into_iter()
            .map(|(id, t)| {
                let info = picture
                    .infos
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| ServiceInfo {
                        id: id.clone(),
                        name: id.to_string(),
                        tier: 0,
                        rto_ms: None,
                        depends_on: Vec::new(),
                        checks: Vec::new(),
                    });
                report(info, t, picture, start, &checks)
            })
            .collect();
        let metrics = run_metrics(&services, start, run.finished.or(as_of));
        let operators = picture.operators.iter().cloned().collect();
        let summary = drill.finish();
        Analysis {
            rollbacks: summary.rollbacks.clone(),
            scorecard: crate::export::scorecard::scorecard(&summary),
            events,
            first_ts,
            run,
            services,
            metrics,
            operators,
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
    // The same for steps that succeeded only after retries: one item per step, its hosts listed.
    let mut retried: IndexMap<(Phase, &ServiceId, &str), BadStep> = IndexMap::new();
    let mut not_run: IndexMap<(Phase, &ServiceId, &str), BadStep> = IndexMap::new();
    let mut items = Vec::new();
    for ((phase, (service, step, host)), (seq, outcome, attempt, detail)) in last_finish {
        if *outcome == StepOutcome::Ok {
            if *attempt > 1 {
                let entry = retried
                    .entry((*phase, service, step.as_str()))
                    .or_insert_with(|| BadStep {
                        hosts: Vec::new(),
                        seq: *seq,
                        attempts: 0,
                    });
                entry.hosts.push((host, ""));
                entry.seq = entry.seq.min(*seq);
                entry.attempts = entry.attempts.max(*attempt);
            }
            continue;
        }
        let group = if *outcome == StepOutcome::NotRun {
            &mut not_run
        } else {
            &mut bad
        };
        let entry = group
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
    for ((phase, service, step), r) in retried {
        let hosts: Vec<String> = r.hosts.iter().map(|(h, _)| h.to_string()).collect();
        let what = format!(
            "{} step '{step}' of '{service}' on {} needed {} attempts: make it reliable",
            capital(phase.as_str()),
            hosts.join(", "),
            r.attempts
        );
        items.push(ActionItem {
            service: Some(service.clone()),
            cause: Cause::StepRetried,
            what,
            seq: r.seq,
        });
    }
    for ((phase, service, step), b) in bad {
        items.push(ActionItem {
            service: Some(service.clone()),
            cause: Cause::StepFailed,
            what: bad_step_item(phase, service, step, &b, failures),
            seq: b.seq,
        });
    }
    for ((phase, service, step), b) in not_run {
        items.push(ActionItem {
            service: Some(service.clone()),
            cause: Cause::StepFailed,
            what: not_run_item(phase, service, step, &b),
            seq: b.seq,
        });
    }
    items
}

/// "Restore step 'x' of 's' was not run on 25 hosts (h16, …): failure budget exceeded: …;
/// run it there with --resume once the cause is fixed" (SPEC "Fleets").
fn not_run_item(phase: Phase, service: &ServiceId, step: &str, b: &BadStep) -> String {
    const SHOWN: usize = 10;
    let names: Vec<String> = b
        .hosts
        .iter()
        .take(SHOWN)
        .map(|(h, _)| h.to_string())
        .collect();
    let more = if b.hosts.len() > SHOWN { ", …" } else { "" };
    let why = b.hosts.first().map_or("", |(_, d)| *d);
    let why = why
        .strip_prefix("not_run (")
        .and_then(|w| w.strip_suffix(')'))
        .unwrap_or(why);
    format!(
        "{} step '{step}' of '{service}' was not run on {} host{} ({}{more}): {why}; run it there with --resume once the cause is fixed",
        capital(phase.as_str()),
        b.hosts.len(),
        if b.hosts.len() == 1 { "" } else { "s" },
        names.join(", ")
    )
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
/// dropped, and "service failed to restore" is dropped when another item says which of its
/// steps failed, was declined or was marked failed: the same failure, in more detail,
/// whichever came first (a service that failed, was retried by hand and failed again has
/// its step's item from the last try). Keyed by service and text, so two steps failing stay
/// two items.
fn once_each(mut actions: Vec<ActionItem>) -> Vec<ActionItem> {
    actions.sort_by_key(|a| a.seq);
    let explained: std::collections::HashSet<ServiceId> = actions
        .iter()
        .filter(|i| {
            matches!(
                i.cause,
                Cause::StepFailed | Cause::Declined | Cause::ManualFailed
            )
        })
        .filter_map(|i| i.service.clone())
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(actions.len());
    for item in actions {
        if !seen.insert((item.service.clone(), item.what.clone())) {
            continue;
        }
        if item.cause == Cause::ServiceFailed
            && item.service.as_ref().is_some_and(|s| explained.contains(s))
        {
            continue;
        }
        out.push(item);
    }
    out
}

pub use crate::export::describe::capital;

fn because(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

use crate::fold::ms;

/// A manual step asked and never answered whose service was found up afterwards (e.g. by a
/// take-over's check): nobody said it was done.
fn unconfirmed_actions(picture: &crate::fold::RunFold) -> Vec<ActionItem> {
    picture
        .unconfirmed
        .iter()
        .map(|u| ActionItem {
            service: Some(u.service.clone()),
            cause: Cause::ManualUnconfirmed,
            what: format!(
                "Manual step '{}' of '{}' never confirmed: the service was found up before anyone marked it done; ask whoever owns it whether it was carried out",
                u.step, u.service
            ),
            seq: u.seq,
        })
        .collect()
}

fn report(
    info: ServiceInfo,
    t: Tracker,
    picture: &crate::fold::RunFold,
    start: Option<DateTime<Utc>>,
    checks: &HashMap<StepKey, (bool, DateTime<Utc>)>,
) -> ServiceReport {
    let outages = picture.outages(&info.id);
    let now = picture.services.get(&info.id).cloned().unwrap_or_default();
    let last_restored = outages.iter().rev().find(|o| o.restored);
    let restored_at = last_restored.and_then(|o| o.ended);
    let time_to_restore_ms = last_restored.and_then(|o| o.time_to_restore_ms);
    let restored_after_ms = start.zip(restored_at).map(|(s, r)| ms(s, r));
    let rto = overall_rto(&outages);
    let features = features(&info, checks);
    ServiceReport {
        info,
        state: now.state,
        reason: now.reason,
        intervals: t.intervals,
        outages,
        found_down_at: now.found_down_at,
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

    fn record(seq: u64, secs: i64, event: Event) -> Record {
        Record {
            seq,
            ts: DateTime::UNIX_EPOCH + chrono::TimeDelta::seconds(secs),
            event,
            prev: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_manual_step_overtaken_by_a_healthy_check_is_a_post_mortem_action_item() {
        let vip = || ServiceId::new("vip");
        let state = |to| Event::ServiceState {
            service: vip(),
            from: ServiceState::Unknown,
            to,
            reason: None,
        };
        let asked = || Event::Asked {
            service: vip(),
            step: "move the VIP".into(),
            phase: None,
            question: crate::journal::event::QuestionKind::Manual,
        };
        let events = [
            state(ServiceState::Down),
            state(ServiceState::Restoring),
            asked(),
            // The executor was killed; the new one checks every service again first.
            Event::Resumed {
                key: None,
                from_seq: 3,
                forced: false,
                runbook_sha256: None,
                operator: None,
                identity: None,
                previous: None,
                reason: None,
            },
            state(ServiceState::Checking),
            state(ServiceState::Healthy),
        ];
        let mut analyser = Analyser::default();
        for (i, e) in events.into_iter().enumerate() {
            let seq = i as u64 + 1;
            analyser.push(&record(seq, i64::try_from(seq).unwrap_or(0), e));
        }
        let a = analyser.finish(None, true);
        let item = a
            .actions
            .iter()
            .find(|i| i.cause == Cause::ManualUnconfirmed)
            .expect("an action item for the unanswered manual step");
        assert_eq!(item.seq, 3, "it points at the question");
        assert!(
            item.what
                .contains("'move the VIP' of 'vip' never confirmed"),
            "{}",
            item.what
        );
        let md = crate::export::markdown::render(&a);
        assert!(md.contains("never confirmed"), "{md}");
    }

    #[test]
    fn human_durations_read_naturally() {
        assert_eq!(human_ms(120), "120 ms");
        assert_eq!(human_ms(6_250), "6.2 s");
        assert_eq!(human_ms(245_000), "4m 05s");
        assert_eq!(human_ms(3_723_000), "1h 02m 03s");
    }
}
