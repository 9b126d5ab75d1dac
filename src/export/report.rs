//! `bringup report`: history across drills and incidents, from many journals' summaries
//! (each folded by `scorecard::Fold`): per service its time to restore over time, RTO met
//! rate, last drill and readiness score by Gremlin's rule, per runbook the mean score, and
//! the services past `drill_every`. Only evidence counts as it should: with allowed signers
//! only sealed and verified journals count; a copy of a run counts once; a journal dated after
//! the report's "now" does not count; a failed incident after a passing drill lowers the
//! score. Pure: reading the journals and checking their seals is `cmd/report.rs`'s job;
//! rendering lives in `report/render.rs`.

pub mod render;

use chrono::{DateTime, TimeDelta, Utc};
use indexmap::IndexMap;

use crate::engine::state::Mode;
use crate::export::metrics::{Rto, overall_rto};
use crate::export::scorecard::{RunSummary, injected};
use crate::journal::seal::Evidence;
use crate::runbook::model::ServiceId;

/// Gremlin's readiness rule, as the report states it.
pub const RULE: &str = "Readiness score (Gremlin's rule): 100 when the service's last drill met its RTO, 50 when it missed it (or the service was not restored, or not seen down), 0 when it was never drilled; then −25 % per full 30 days since that drill: score × 0.75^⌊days/30⌋. An incident outage after the last passing drill that missed its RTO or ended not restored scores as a failed drill (50, decaying from the incident) until the service is drilled again. A runbook's score is the mean of its services' scores.";

/// How far past the report's "now" a journal's events may be dated (clocks drift) and still
/// count.
pub const FUTURE_SLACK: TimeDelta = TimeDelta::minutes(5);

/// Days in one decay period.
pub const DECAY_DAYS: i64 = 30;
/// What a score keeps per full period.
pub const DECAY: f64 = 0.75;

/// One journal as `cmd/report.rs` read it: its run folded, what its seal proves, and what
/// telling copies and dates apart needs.
#[derive(Debug, Clone)]
pub struct Read {
    pub path: String,
    pub run: RunSummary,
    pub evidence: Evidence,
    /// The hash of its `run_started` event: the run's identity, whatever the file is called.
    pub run_hash: Option<String>,
    pub last_seq: u64,
    pub last_hash: Option<String>,
    /// Its latest event time (the latest of all, not the last line's).
    pub latest: Option<DateTime<Utc>>,
}

/// A journal the report counted.
#[derive(Debug, Clone)]
pub struct Used {
    pub path: String,
    pub runbook: String,
    pub mode: Mode,
    pub scenario: Option<String>,
    pub started: DateTime<Utc>,
    pub evidence: Evidence,
}

/// Why a journal is not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It cannot be read, or its chain does not verify (the reason, one line).
    Unusable(String),
    NoRunStarted,
    /// Allowed signers were given and it has no seal.
    Unsealed,
    /// Its seal does not vouch for it (the reason, one line).
    SealRefuted(String),
    /// Another journal given holds the same run (the same `run_started` hash) and is counted
    /// instead; `differs` when the two copies end differently.
    Duplicate {
        of: String,
        differs: bool,
    },
    /// Some event is dated after the report's "now" (more than [`FUTURE_SLACK`]).
    Future {
        latest: DateTime<Utc>,
    },
}

impl Why {
    /// A short stable word for scripts (json `reason`).
    pub fn code(&self) -> &'static str {
        match self {
            Why::Unusable(_) => "unusable",
            Why::NoRunStarted => "no_run_started",
            Why::Unsealed => "unsealed",
            Why::SealRefuted(_) => "seal_refuted",
            Why::Duplicate { .. } => "duplicate",
            Why::Future { .. } => "dated_in_the_future",
        }
    }

    /// One line for a person.
    pub fn line(&self, as_of: DateTime<Utc>) -> String {
        match self {
            Why::Unusable(why) => why.clone(),
            Why::NoRunStarted => {
                "it has no run_started event, so no runbook or services to report on".into()
            }
            Why::Unsealed => {
                "unsealed: it has no signature, so its results are claims, not evidence; seal it with `bringup seal`".into()
            }
            Why::SealRefuted(why) => format!("its seal does not hold: {why}"),
            Why::Duplicate { of, differs } => {
                let copies = if *differs {
                    "; the two copies end differently, check which one is the record"
                } else {
                    ""
                };
                format!(
                    "a copy of the run in '{of}' (the same run_started hash), which is counted instead{copies}"
                )
            }
            Why::Future { latest } => format!(
                "dated in the future: an event at {} is after the report's as-of {}",
                crate::journal::record::format_ts(*latest),
                crate::journal::record::format_ts(as_of)
            ),
        }
    }
}

/// A journal the report did not count, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub why: Why,
}

/// One journal's result for one service.
#[derive(Debug, Clone)]
pub struct Row {
    pub path: String,
    pub started: DateTime<Utc>,
    pub mode: Mode,
    pub scenario: Option<String>,
    /// Drills: from its inject; incidents: of its latest restored outage.
    pub time_to_restore_ms: Option<i64>,
    pub rto: Rto,
    /// Incidents: the service's latest outage in it, and whether that one failed (missed its
    /// RTO, or ended not restored).
    pub latest_outage: Option<(DateTime<Utc>, Failed)>,
}

/// Whether an incident outage failed: missed its RTO or ended not restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    Yes(Rto),
    No,
}

/// The incident that lowered a service's score after its last passing drill.
#[derive(Debug, Clone)]
pub struct Lowered {
    pub path: String,
    /// The incident journal's start.
    pub started: DateTime<Utc>,
    /// The failed outage's start: the score decays from here.
    pub outage_started: DateTime<Utc>,
    /// `Missed` or `NotRestored` (or `NotApplicable` for a service with no RTO left down).
    pub rto: Rto,
    pub days_since: i64,
}

impl Row {
    /// Met, or missed (a drill or outage that ended unrestored counts as missed); `None`
    /// when there is nothing to count (no RTO, still pending).
    fn counted(&self) -> Option<bool> {
        match self.rto {
            Rto::Met => Some(true),
            Rto::Missed | Rto::NotRestored => Some(false),
            Rto::Pending | Rto::NotApplicable => None,
        }
    }
}

/// What the last drill of a service said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastDrill {
    Met,
    Missed,
}

#[derive(Debug, Clone)]
pub struct ServiceHistory {
    pub runbook: String,
    pub id: ServiceId,
    pub name: String,
    pub rto_ms: Option<u64>,
    /// Oldest first.
    pub rows: Vec<Row>,
    pub met: usize,
    /// Missed or not restored.
    pub missed: usize,
    /// The start of the latest drill that injected it.
    pub last_drilled: Option<DateTime<Utc>>,
    pub last_drill: Option<LastDrill>,
    /// Full days from the last drill to the report's "now".
    pub days_since: Option<i64>,
    /// A failed incident after a passing last drill: the score is a failed drill's from it.
    pub lowered_by: Option<Lowered>,
    /// 100, 50 or 0 before decay.
    pub base: u32,
    pub score: f64,
    pub drill_every_ms: Option<u64>,
    /// Never drilled, or drilled longer ago than its `drill_every`.
    pub overdue: bool,
}

impl History {
    /// Counted journals with no seal.
    pub fn unsealed(&self) -> usize {
        self.used
            .iter()
            .filter(|u| u.evidence == Evidence::Unsealed)
            .count()
    }

    /// Counted journals sealed but whose signature was not checked.
    pub fn not_checked(&self) -> usize {
        self.used
            .iter()
            .filter(|u| matches!(u.evidence, Evidence::NotChecked { .. }))
            .count()
    }
}

impl ServiceHistory {
    /// Met over met and missed; `None` with nothing counted.
    pub fn met_rate(&self) -> Option<f64> {
        let n = self.met + self.missed;
        #[allow(clippy::cast_precision_loss)]
        (n > 0).then(|| self.met as f64 / n as f64)
    }
}

#[derive(Debug, Clone)]
pub struct RunbookScore {
    pub runbook: String,
    pub score: f64,
    pub services: usize,
    pub overdue: usize,
}

#[derive(Debug, Clone)]
pub struct History {
    pub as_of: DateTime<Utc>,
    /// The allowed signers file the seals were checked against, as given.
    pub signers: Option<String>,
    /// Oldest first.
    pub used: Vec<Used>,
    /// Not counted, each with why.
    pub skipped: Vec<Skipped>,
    pub runbooks: Vec<RunbookScore>,
    /// By runbook, then in the runbook's order.
    pub services: Vec<ServiceHistory>,
    /// `--runbook`: each runbook checked against the loss of its `[runbook] lost_site`.
    pub lost_sites: Vec<LostSiteCheck>,
}

/// A runbook's structure checked against the loss of the site it declares lost (SPEC "Sites
/// and witnesses"): one that depends on it is not ready, whatever its drills say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostSiteCheck {
    /// The runbook's name, as its journals carry it.
    pub runbook: String,
    pub path: String,
    /// `None`: the runbook declares no `lost_site`, so nothing could be checked.
    pub lost_site: Option<String>,
    /// Each finding in words (after `DEPENDS ON LOST SITE: `).
    pub dependencies: Vec<String>,
}

impl LostSiteCheck {
    /// Whether it was checked and needs nothing from its lost site.
    pub fn ready(&self) -> bool {
        self.lost_site.is_some() && self.dependencies.is_empty()
    }
}

impl History {
    /// The lost-site check of runbook `name`, when one was made and found dependencies.
    pub fn depends_on_lost_site(&self, name: &str) -> Option<&LostSiteCheck> {
        self.lost_sites
            .iter()
            .find(|c| c.runbook == name && !c.dependencies.is_empty())
    }
}

/// The readiness score: `base` × 0.75 per full 30 days since the drill.
pub fn score(base: u32, days_since: i64) -> f64 {
    let periods = i32::try_from(days_since.max(0) / DECAY_DAYS).unwrap_or(i32::MAX);
    f64::from(base) * DECAY.powi(periods)
}

/// A journal's result per service: for a drill its injected services, for an incident the
/// services that were down.
fn rows(path: &str, run: &RunSummary, started: DateTime<Utc>) -> Vec<(ServiceId, Row)> {
    let drill = run.mode == Mode::Drill || run.is_scenario_drill;
    run.services
        .iter()
        .filter_map(|s| {
            let (ttr, rto, latest_outage) = if drill {
                let i = injected(s)?;
                (i.time_to_restore_ms, i.rto, None)
            } else {
                let latest = s.outages.last()?;
                let ttr = s
                    .outages
                    .iter()
                    .rev()
                    .find(|o| o.restored)
                    .and_then(|o| o.time_to_restore_ms);
                let failed = match latest.rto {
                    r @ (Rto::Missed | Rto::NotRestored) => Failed::Yes(r),
                    // No RTO to miss: left down when the run ended is still a failure.
                    Rto::NotApplicable if latest.ended.is_none() && run.finished.is_some() => {
                        Failed::Yes(Rto::NotApplicable)
                    }
                    _ => Failed::No,
                };
                (ttr, overall_rto(&s.outages), Some((latest.started, failed)))
            };
            Some((
                s.info.id.clone(),
                Row {
                    path: path.to_string(),
                    started,
                    mode: if drill { Mode::Drill } else { Mode::Incident },
                    scenario: run.scenario.clone(),
                    time_to_restore_ms: ttr,
                    rto,
                    latest_outage,
                },
            ))
        })
        .collect()
}

/// How strongly a journal's seal vouches for it: of two copies of a run, the better one counts.
fn rank(e: &Evidence) -> u8 {
    match e {
        Evidence::Verified { .. } => 3,
        Evidence::NotChecked { .. } => 2,
        Evidence::Unsealed => 1,
        Evidence::Refuted(_) => 0,
    }
}

/// Which journals count: not the ones without a `run_started`, dated after `as_of`, or (with
/// signers) not sealed and verified, or whose seal is refuted; of several copies of one run
/// (the same `run_started` hash) the best-sealed, then the longest, then the first given.
fn counted(
    reads: Vec<Read>,
    skipped: &mut Vec<Skipped>,
    as_of: DateTime<Utc>,
    signers: bool,
) -> Vec<Read> {
    let mut keep: Vec<Read> = Vec::new();
    for r in reads {
        let why = if r.run.started.is_none() {
            Some(Why::NoRunStarted)
        } else if let Some(latest) = r.latest.filter(|t| *t > as_of + FUTURE_SLACK) {
            Some(Why::Future { latest })
        } else if !r.evidence.counts(signers) {
            Some(match &r.evidence {
                Evidence::Refuted(why) => Why::SealRefuted(why.clone()),
                _ => Why::Unsealed,
            })
        } else {
            None
        };
        match why {
            Some(why) => skipped.push(Skipped { path: r.path, why }),
            None => keep.push(r),
        }
    }
    let mut by_run: IndexMap<String, usize> = IndexMap::new();
    let mut out: Vec<Read> = Vec::new();
    let mut dupes: Vec<Read> = Vec::new();
    for r in keep {
        let held = r.run_hash.as_ref().and_then(|id| by_run.get(id).copied());
        if let Some(i) = held {
            if (rank(&r.evidence), r.last_seq) > (rank(&out[i].evidence), out[i].last_seq) {
                dupes.push(std::mem::replace(&mut out[i], r));
            } else {
                dupes.push(r);
            }
        } else {
            if let Some(id) = &r.run_hash {
                by_run.insert(id.clone(), out.len());
            }
            out.push(r);
        }
    }
    for d in dupes {
        let Some(of) = out.iter().find(|o| o.run_hash == d.run_hash) else {
            continue;
        };
        skipped.push(Skipped {
            why: Why::Duplicate {
                of: of.path.clone(),
                differs: (of.last_seq, &of.last_hash) != (d.last_seq, &d.last_hash),
            },
            path: d.path,
        });
    }
    out
}

/// The history of the journals `reads` as of `as_of`; `skipped` holds those that could not
/// be read, and gets those not counted, each with why. `signers` is the allowed signers file
/// the seals were checked against, if any: then only sealed and verified journals count.
pub fn history(
    reads: Vec<Read>,
    mut skipped: Vec<Skipped>,
    as_of: DateTime<Utc>,
    signers: Option<String>,
) -> History {
    let mut runs: Vec<(Read, DateTime<Utc>)> =
        counted(reads, &mut skipped, as_of, signers.is_some())
            .into_iter()
            .filter_map(|r| {
                let t = r.run.started?;
                Some((r, t))
            })
            .collect();
    runs.sort_by_key(|(_, t)| *t);

    // Per runbook: its services as its latest journal lists them, and its drill_every.
    let mut latest: IndexMap<&str, &RunSummary> = IndexMap::new();
    for (r, _) in &runs {
        latest.insert(r.run.runbook.as_str(), &r.run);
    }
    let mut by_service: IndexMap<(String, ServiceId), Vec<Row>> = IndexMap::new();
    for (r, started) in &runs {
        for (id, row) in rows(&r.path, &r.run, *started) {
            by_service
                .entry((r.run.runbook.clone(), id))
                .or_default()
                .push(row);
        }
    }

    let mut services = Vec::new();
    let mut runbooks = Vec::new();
    for (runbook, run) in &latest {
        let mine: Vec<ServiceHistory> = run
            .services
            .iter()
            .map(|s| {
                let rows = by_service
                    .shift_remove(&((*runbook).to_string(), s.info.id.clone()))
                    .unwrap_or_default();
                service_history(runbook, s, rows, run, as_of)
            })
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let mean = if mine.is_empty() {
            0.0
        } else {
            mine.iter().map(|s| s.score).sum::<f64>() / mine.len() as f64
        };
        runbooks.push(RunbookScore {
            runbook: (*runbook).to_string(),
            score: mean,
            services: mine.len(),
            overdue: mine.iter().filter(|s| s.overdue).count(),
        });
        services.extend(mine);
    }
    History {
        as_of,
        signers,
        used: runs
            .iter()
            .map(|(r, started)| Used {
                path: r.path.clone(),
                runbook: r.run.runbook.clone(),
                mode: if r.run.mode == Mode::Drill || r.run.is_scenario_drill {
                    Mode::Drill
                } else {
                    Mode::Incident
                },
                scenario: r.run.scenario.clone(),
                started: *started,
                evidence: r.evidence.clone(),
            })
            .collect(),
        skipped,
        runbooks,
        services,
        lost_sites: Vec::new(),
    }
}

/// The latest incident outage after the drill at `after`, when it failed.
fn lowered_by(rows: &[Row], after: DateTime<Utc>, as_of: DateTime<Utc>) -> Option<Lowered> {
    let (row, at, failed) = rows
        .iter()
        .filter(|r| r.mode == Mode::Incident)
        .filter_map(|r| {
            let (at, failed) = r.latest_outage?;
            (at > after).then_some((r, at, failed))
        })
        .max_by_key(|(_, at, _)| *at)?;
    let Failed::Yes(rto) = failed else {
        return None;
    };
    Some(Lowered {
        path: row.path.clone(),
        started: row.started,
        outage_started: at,
        rto,
        days_since: (as_of - at).num_days().max(0),
    })
}

fn service_history(
    runbook: &str,
    s: &crate::export::scorecard::ServiceRun,
    rows: Vec<Row>,
    latest: &RunSummary,
    as_of: DateTime<Utc>,
) -> ServiceHistory {
    let met = rows.iter().filter(|r| r.counted() == Some(true)).count();
    let missed = rows.iter().filter(|r| r.counted() == Some(false)).count();
    let last = rows.iter().rev().find(|r| r.mode == Mode::Drill);
    let last_drill = last.map(|r| {
        // Without an RTO, a restore is all a drill can ask for.
        let ok = r.rto == Rto::Met
            || (r.rto == Rto::NotApplicable
                && s.info.rto_ms.is_none()
                && r.time_to_restore_ms.is_some());
        if ok {
            LastDrill::Met
        } else {
            LastDrill::Missed
        }
    });
    let last_drilled = last.map(|r| r.started);
    let days_since = last_drilled.map(|t| (as_of - t).num_days().max(0));
    let lowered = match (last_drill, last_drilled) {
        (Some(LastDrill::Met), Some(t)) => lowered_by(&rows, t, as_of),
        _ => None,
    };
    let base = match (last_drill, &lowered) {
        (_, Some(_)) | (Some(LastDrill::Missed), None) => 50,
        (Some(LastDrill::Met), None) => 100,
        (None, None) => 0,
    };
    let decay_days = lowered
        .as_ref()
        .map(|l| l.days_since)
        .or(days_since)
        .unwrap_or(0);
    let drill_every_ms = latest.drill_every_ms.get(&s.info.id).copied();
    let overdue = drill_every_ms.is_some_and(|every| {
        last_drilled.is_none_or(|t| {
            (as_of - t).num_milliseconds() > i64::try_from(every).unwrap_or(i64::MAX)
        })
    });
    ServiceHistory {
        runbook: runbook.to_string(),
        id: s.info.id.clone(),
        name: s.info.name.clone(),
        rto_ms: s.info.rto_ms,
        rows,
        met,
        missed,
        last_drilled,
        last_drill,
        days_since,
        lowered_by: lowered,
        base,
        score: score(base, decay_days),
        drill_every_ms,
        overdue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("literal")
            .with_timezone(&Utc)
    }

    fn read(path: &str, run: &str, evidence: Evidence, last_seq: u64, latest: &str) -> Read {
        Read {
            path: path.into(),
            run: RunSummary {
                runbook: "rb".into(),
                started: Some(t("2026-05-01T00:00:00Z")),
                ..RunSummary::default()
            },
            evidence,
            run_hash: Some(run.into()),
            last_seq,
            last_hash: Some(format!("{run}-{last_seq}")),
            latest: Some(t(latest)),
        }
    }

    fn paths(reads: &[Read]) -> Vec<&str> {
        reads.iter().map(|r| r.path.as_str()).collect()
    }

    #[test]
    fn of_several_copies_of_a_run_the_best_sealed_then_the_longest_counts_and_the_rest_are_named() {
        let as_of = t("2026-06-01T00:00:00Z");
        let at = "2026-05-01T01:00:00Z";
        let reads = vec![
            read("a", "run1", Evidence::Unsealed, 10, at),
            read("b", "run1", Evidence::NotChecked { seq: 10 }, 10, at),
            read("c", "run2", Evidence::Unsealed, 5, at),
            read("d", "run2", Evidence::Unsealed, 7, at),
            read("e", "run2", Evidence::Unsealed, 7, at),
        ];
        let mut skipped = Vec::new();
        let kept = counted(reads, &mut skipped, as_of, false);
        assert_eq!(paths(&kept), ["b", "d"]);
        let named: Vec<(&str, &Why)> = skipped.iter().map(|s| (s.path.as_str(), &s.why)).collect();
        assert_eq!(
            named,
            [
                (
                    "a",
                    &Why::Duplicate {
                        of: "b".into(),
                        differs: false
                    }
                ),
                (
                    "c",
                    &Why::Duplicate {
                        of: "d".into(),
                        differs: true
                    }
                ),
                (
                    "e",
                    &Why::Duplicate {
                        of: "d".into(),
                        differs: false
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_journal_dated_past_the_slack_or_unverified_with_signers_is_not_counted() {
        let as_of = t("2026-06-01T00:00:00Z");
        let reads = vec![
            read("drift", "r1", Evidence::Unsealed, 3, "2026-06-01T00:04:59Z"),
            read("ahead", "r2", Evidence::Unsealed, 3, "2026-06-01T00:05:01Z"),
        ];
        let mut skipped = Vec::new();
        assert_eq!(
            paths(&counted(reads, &mut skipped, as_of, false)),
            ["drift"]
        );
        assert_eq!(skipped[0].why.code(), "dated_in_the_future");

        let verified = Evidence::Verified {
            principal: "p".into(),
            seq: 3,
        };
        let reads = vec![
            read("v", "r1", verified, 3, "2026-05-02T00:00:00Z"),
            read("u", "r2", Evidence::Unsealed, 3, "2026-05-02T00:00:00Z"),
            read(
                "x",
                "r3",
                Evidence::Refuted("bad".into()),
                3,
                "2026-05-02T00:00:00Z",
            ),
        ];
        let mut skipped = Vec::new();
        assert_eq!(paths(&counted(reads, &mut skipped, as_of, true)), ["v"]);
        let codes: Vec<&str> = skipped.iter().map(|s| s.why.code()).collect();
        assert_eq!(codes, ["unsealed", "seal_refuted"]);
    }

    fn row(mode: Mode, started: &str, outage: Option<(&str, Failed)>) -> Row {
        Row {
            path: started.into(),
            started: t(started),
            mode,
            scenario: None,
            time_to_restore_ms: None,
            rto: Rto::Met,
            latest_outage: outage.map(|(at, f)| (t(at), f)),
        }
    }

    #[test]
    fn only_the_latest_incident_outage_after_the_drill_can_lower_the_score() {
        let as_of = t("2026-06-01T00:00:00Z");
        let drill = t("2026-05-10T00:00:00Z");
        let before = row(
            Mode::Incident,
            "2026-05-09T00:00:00Z",
            Some(("2026-05-09T00:00:00Z", Failed::Yes(Rto::Missed))),
        );
        assert!(lowered_by(std::slice::from_ref(&before), drill, as_of).is_none());
        let failed = row(
            Mode::Incident,
            "2026-05-11T00:00:00Z",
            Some(("2026-05-11T00:00:00Z", Failed::Yes(Rto::NotRestored))),
        );
        let l = lowered_by(&[before.clone(), failed.clone()], drill, as_of).expect("lowered");
        assert_eq!(
            (l.path.as_str(), l.rto, l.days_since),
            ("2026-05-11T00:00:00Z", Rto::NotRestored, 21)
        );
        let later_ok = row(
            Mode::Incident,
            "2026-05-12T00:00:00Z",
            Some(("2026-05-12T00:00:00Z", Failed::No)),
        );
        assert!(lowered_by(&[before, failed, later_ok], drill, as_of).is_none());
    }

    #[test]
    fn the_score_loses_a_quarter_per_full_30_days() {
        assert!((score(100, 0) - 100.0).abs() < 1e-9);
        assert!((score(100, 29) - 100.0).abs() < 1e-9);
        assert!((score(100, 30) - 75.0).abs() < 1e-9);
        assert!((score(50, 65) - 28.125).abs() < 1e-9);
        assert!((score(100, 100) - 42.1875).abs() < 1e-9);
        assert!(score(0, 0).abs() < 1e-9);
    }
}
