//! `bringup report`: history across drills and incidents, from many journals' summaries
//! (each folded by `scorecard::Fold`): per service its time to restore over time, RTO met
//! rate, last drill and readiness score by Gremlin's rule, per runbook the mean score, and
//! the services past `drill_every`. Pure: reading the journals is `cmd/report.rs`'s job;
//! rendering lives in `report/render.rs`.

pub mod render;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::engine::state::Mode;
use crate::export::metrics::{Rto, overall_rto};
use crate::export::scorecard::{RunSummary, injected};
use crate::runbook::model::ServiceId;

/// Gremlin's readiness rule, as the report states it.
pub const RULE: &str = "Readiness score (Gremlin's rule): 100 when the service's last drill met its RTO, 50 when it missed it (or the service was not restored, or not seen down), 0 when it was never drilled; then −25 % per full 30 days since that drill: score × 0.75^⌊days/30⌋. A runbook's score is the mean of its services' scores.";

/// Days in one decay period.
pub const DECAY_DAYS: i64 = 30;
/// What a score keeps per full period.
pub const DECAY: f64 = 0.75;

/// A journal the report could use.
#[derive(Debug, Clone)]
pub struct Used {
    pub path: String,
    pub runbook: String,
    pub mode: Mode,
    pub scenario: Option<String>,
    pub started: DateTime<Utc>,
}

/// A journal the report left out, and why (one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub why: String,
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
    /// 100, 50 or 0 before decay.
    pub base: u32,
    pub score: f64,
    pub drill_every_ms: Option<u64>,
    /// Never drilled, or drilled longer ago than its `drill_every`.
    pub overdue: bool,
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
    /// Oldest first.
    pub used: Vec<Used>,
    pub skipped: Vec<Skipped>,
    pub runbooks: Vec<RunbookScore>,
    /// By runbook, then in the runbook's order.
    pub services: Vec<ServiceHistory>,
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
            let (ttr, rto) = if drill {
                let i = injected(s)?;
                (i.time_to_restore_ms, i.rto)
            } else {
                if s.outages.is_empty() {
                    return None;
                }
                let ttr = s
                    .outages
                    .iter()
                    .rev()
                    .find(|o| o.restored)
                    .and_then(|o| o.time_to_restore_ms);
                (ttr, overall_rto(&s.outages))
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
                },
            ))
        })
        .collect()
}

/// The history of `runs` (each with the path it was read from) as of `as_of`. A run with no
/// `run_started` is skipped with its reason.
pub fn history(
    runs: Vec<(String, RunSummary)>,
    mut skipped: Vec<Skipped>,
    as_of: DateTime<Utc>,
) -> History {
    let mut runs: Vec<(String, RunSummary, DateTime<Utc>)> = runs
        .into_iter()
        .filter_map(|(path, run)| {
            let Some(t) = run.started else {
                skipped.push(Skipped {
                    path,
                    why: "it has no run_started event, so no runbook or services to report on"
                        .into(),
                });
                return None;
            };
            Some((path, run, t))
        })
        .collect();
    runs.sort_by_key(|(_, _, t)| *t);

    // Per runbook: its services as its latest journal lists them, and its drill_every.
    let mut latest: IndexMap<&str, &RunSummary> = IndexMap::new();
    for (_, run, _) in &runs {
        latest.insert(run.runbook.as_str(), run);
    }
    let mut by_service: IndexMap<(String, ServiceId), Vec<Row>> = IndexMap::new();
    for (path, run, started) in &runs {
        for (id, row) in rows(path, run, *started) {
            by_service
                .entry((run.runbook.clone(), id))
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
        used: runs
            .iter()
            .map(|(path, run, started)| Used {
                path: path.clone(),
                runbook: run.runbook.clone(),
                mode: if run.mode == Mode::Drill || run.is_scenario_drill {
                    Mode::Drill
                } else {
                    Mode::Incident
                },
                scenario: run.scenario.clone(),
                started: *started,
            })
            .collect(),
        skipped,
        runbooks,
        services,
    }
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
    let base = match last_drill {
        Some(LastDrill::Met) => 100,
        Some(LastDrill::Missed) => 50,
        None => 0,
    };
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
        base,
        score: score(base, days_since.unwrap_or(0)),
        drill_every_ms,
        overdue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
