//! A drill's scorecard, folded from a journal's records one at a time (`push`, then
//! `finish`), so it can run while a journal streams past: per injected service when it was
//! injected, detected and restored against its RTO, the guards that tripped, the drill's
//! outcome, the critical path and what undo took back. Outages, phases and rollbacks come from the run's one fold
//! (`crate::fold::RunFold`), the picture every screen and report shares. Pure: no IO; rendering lives in `scorecard/render.rs`.

pub mod render;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::engine::state::{Mode, Phase};
use crate::export::metrics::{Outage, Rto};
pub use crate::fold::GuardTrip;
use crate::fold::RunFold;
use crate::journal::event::{DrillOutcome, DrillPhase, Event, ServiceInfo};
use crate::journal::record::Record;
use crate::runbook::model::ServiceId;

/// Why a journal has no scorecard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoScorecard {
    #[error(
        "the journal is not a scenario drill (its run_started has no scenario and it has no drill_phase event); a scorecard needs a journal of `bringup drill RUNBOOK --scenario ID` or `run --drill --scenario ID` — for an incident use `--format markdown`"
    )]
    NotADrill,
}

/// One service as a run left it.
#[derive(Debug, Clone)]
pub struct ServiceRun {
    pub info: ServiceInfo,
    /// Its first inject step's start, if the run injected it.
    pub injected_at: Option<DateTime<Utc>>,
    /// Its first move into `restoring` after its inject.
    pub restore_started: Option<DateTime<Utc>>,
    /// Every outage of the run, in order, each measured against its RTO.
    pub outages: Vec<Outage>,
    /// Where its restore's time went: waiting for an approval, running commands.
    pub spent: Spent,
}

/// Time a service's restore spent waiting for an operator's approval (from the question to
/// the answer) and running commands (restore and verify steps; the hosts of one attempt of a
/// step run side by side, so it counts as its slowest host). The rest of its time to
/// restore is waiting for what it depends on, retry delays and manual steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub waiting_for_approval_ms: i64,
    pub running_commands_ms: i64,
}

impl ServiceRun {
    /// The outage its inject made (or, when the inject found it already down, the one it was
    /// in); `None` when it was not injected or the inject broke nothing.
    pub fn inject_outage(&self) -> Option<&Outage> {
        crate::fold::inject_outage(&self.outages, self.injected_at?)
    }
}

/// Everything a journal says about one run that the scorecard and the history need.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// What undo took back, in the order it began (the run's fold's).
    pub rollbacks: Vec<crate::fold::Rollback>,
    pub runbook: String,
    pub operator: String,
    pub mode: Mode,
    /// `run_started.scenario`, else the scenario its `drill_phase` events name.
    pub scenario: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// The last event's time.
    pub as_of: Option<DateTime<Utc>>,
    /// In the runbook's order; services the journal names but `run_started` does not follow.
    pub services: Vec<ServiceRun>,
    /// `drill_every` per service, as `run_started` recorded it.
    pub drill_every_ms: IndexMap<ServiceId, u64>,
    /// Each drill phase's first start.
    pub phases: Vec<(DrillPhase, DateTime<Utc>)>,
    pub outcome: Option<DrillOutcome>,
    pub reason: Option<String>,
    pub guards: Vec<GuardTrip>,
    /// `run_finished.left_down`: services injected and not seen healthy again.
    pub left_down: Vec<ServiceId>,
    /// Whether it is a scenario drill (a scenario in `run_started` or a `drill_phase`).
    pub is_scenario_drill: bool,
}

/// Folds a journal's records into a [`RunSummary`]: the run's picture plus what only the
/// summary names (the runbook and its first operator).
#[derive(Default)]
pub struct Fold {
    picture: RunFold,
    runbook: String,
    operator: String,
    drill_every_ms: IndexMap<ServiceId, u64>,
    /// The slowest host of each attempt of each restore or verify step.
    attempts: IndexMap<(ServiceId, Phase, String, u32), i64>,
}

impl Fold {
    pub fn push(&mut self, r: &Record) {
        if let Event::RunStarted {
            runbook,
            operator,
            about,
            ..
        } = &r.event
            && self.picture.started.is_none()
        {
            self.runbook.clone_from(runbook);
            self.operator.clone_from(operator);
            self.drill_every_ms.clone_from(&about.drill_every_ms);
        }
        self.time_spent(r);
        self.picture.push(r);
    }

    /// The slowest host of each attempt of a restore or verify step: the time commands ran.
    fn time_spent(&mut self, r: &Record) {
        if let Event::StepFinished {
            service,
            phase: phase @ (Phase::Restore | Phase::Verify),
            step,
            attempt,
            duration_ms,
            ..
        } = &r.event
        {
            let took = i64::try_from(*duration_ms).unwrap_or(i64::MAX);
            let slowest = self
                .attempts
                .entry((service.clone(), *phase, step.clone(), *attempt))
                .or_default();
            *slowest = (*slowest).max(took);
        }
    }

    /// The run's picture so far.
    pub fn picture(&self) -> &RunFold {
        &self.picture
    }

    pub fn finish(self) -> RunSummary {
        let mut spent: IndexMap<ServiceId, Spent> = IndexMap::new();
        for ((service, ..), took) in &self.attempts {
            spent
                .entry(service.clone())
                .or_default()
                .running_commands_ms += took;
        }
        for (service, waited) in &self.picture.approval_waits {
            spent
                .entry(service.clone())
                .or_default()
                .waiting_for_approval_ms += waited;
        }
        let p = self.picture;
        let services = p
            .services
            .iter()
            .map(|(id, s)| {
                let info = p.infos.get(id).cloned().unwrap_or_else(|| ServiceInfo {
                    name: id.to_string(),
                    id: id.clone(),
                    tier: 0,
                    rto_ms: None,
                    depends_on: Vec::new(),
                    checks: Vec::new(),
                });
                ServiceRun {
                    outages: p.outages(id),
                    spent: spent.get(id).copied().unwrap_or_default(),
                    info,
                    injected_at: s.injected_at,
                    restore_started: s.restore_started,
                }
            })
            .collect();
        let is_scenario_drill = p.drill.scenario.is_some() || !p.drill.phases.is_empty();
        RunSummary {
            runbook: self.runbook,
            operator: self.operator,
            mode: p.mode,
            scenario: p.drill.scenario,
            started: p.started,
            // Ended once recorded, as the journal says it last (a resumed run that did not
            // finish again is not finished).
            finished: p.finished,
            as_of: p.as_of,
            services,
            drill_every_ms: self.drill_every_ms,
            phases: p.drill.phases,
            outcome: p.drill.outcome,
            reason: p.drill.reason,
            guards: p.drill.guards,
            left_down: p.left_down,
            is_scenario_drill,
            rollbacks: p.rollbacks.taken_back(),
        }
    }
}

/// Fold a whole slice of records.
pub fn summarise(records: &[Record]) -> RunSummary {
    let mut fold = Fold::default();
    for r in records {
        fold.push(r);
    }
    fold.finish()
}

/// One injected service on the scorecard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub id: ServiceId,
    pub name: String,
    pub tier: u32,
    pub depends_on: Vec<ServiceId>,
    pub rto_ms: Option<u64>,
    pub injected_at: DateTime<Utc>,
    pub detected_at: Option<DateTime<Utc>>,
    pub time_to_detect_ms: Option<i64>,
    pub restore_started: Option<DateTime<Utc>>,
    /// When a restore brought it back (not a check finding it healthy on its own).
    pub restored_at: Option<DateTime<Utc>>,
    /// From its inject to `restored_at`.
    pub time_to_restore_ms: Option<i64>,
    pub rto: Rto,
    /// RTO less time to restore: what was left (positive) or by how much it was missed
    /// (negative). Set when both are known.
    pub rto_margin_ms: Option<i64>,
    /// Of its time to restore: waiting for approvals, running commands.
    pub spent: Spent,
}

/// How a link of the critical path waited for the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The first link: it starts at its own inject.
    Inject,
    /// It depends on the previous service (`depends_on`).
    DependsOn,
    /// The previous service is in a lower tier, which had to settle first.
    Tier,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Inject => "inject",
            Via::DependsOn => "depends_on",
            Via::Tier => "tier",
        }
    }
}

/// One link of the critical path: `service` ran from `from` (its inject, or the previous
/// link's restore) until it was restored at `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub service: ServiceId,
    pub tier: u32,
    pub via: Via,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub ms: i64,
}

/// A scenario drill's scorecard.
#[derive(Debug, Clone)]
pub struct Scorecard {
    pub runbook: String,
    pub scenario: String,
    pub operator: String,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub phases: Vec<(DrillPhase, DateTime<Utc>)>,
    /// `None` while the drill has not finished (or crashed).
    pub outcome: Option<DrillOutcome>,
    pub reason: Option<String>,
    pub guards: Vec<GuardTrip>,
    /// Services injected and not seen healthy again when the run ended (an interrupted drill).
    pub left_down: Vec<ServiceId>,
    /// In the runbook's order.
    pub services: Vec<Injected>,
    /// From the first inject to the last-restored service, oldest link first.
    pub critical_path: Vec<Link>,
    pub first_inject: Option<DateTime<Utc>>,
    pub last_restored: Option<DateTime<Utc>>,
    /// From the first inject to the last restore, when every injected service was restored.
    pub total_ms: Option<i64>,
    /// What the journal's seal proves, once `cmd/` has checked it; `None` when not asked.
    pub evidence: Option<crate::journal::seal::Evidence>,
    /// What undo took back during the drill: a restore that needed an undo.
    pub rollbacks: Vec<crate::fold::Rollback>,
}

impl Scorecard {
    pub fn met(&self) -> usize {
        self.services.iter().filter(|s| s.rto == Rto::Met).count()
    }

    pub fn missed(&self) -> usize {
        self.services
            .iter()
            .filter(|s| s.rto == Rto::Missed)
            .count()
    }
}

fn ms(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_milliseconds()
}

/// The scorecard of a run, or why it has none.
pub fn scorecard(run: &RunSummary) -> Result<Scorecard, NoScorecard> {
    if !run.is_scenario_drill {
        return Err(NoScorecard::NotADrill);
    }
    let services: Vec<Injected> = run.services.iter().filter_map(injected).collect();
    let first_inject = services.iter().map(|s| s.injected_at).min();
    let last_restored = services.iter().filter_map(|s| s.restored_at).max();
    let all_restored = !services.is_empty() && services.iter().all(|s| s.restored_at.is_some());
    Ok(Scorecard {
        runbook: run.runbook.clone(),
        scenario: run.scenario.clone().unwrap_or_default(),
        operator: run.operator.clone(),
        started: run.started,
        finished: run.finished,
        phases: run.phases.clone(),
        outcome: run.outcome,
        reason: run.reason.clone(),
        guards: run.guards.clone(),
        left_down: run.left_down.clone(),
        critical_path: critical_path(&services),
        total_ms: first_inject
            .zip(last_restored)
            .filter(|_| all_restored)
            .map(|(a, b)| ms(a, b)),
        first_inject,
        last_restored,
        services,
        evidence: None,
        rollbacks: run.rollbacks.clone(),
    })
}

/// The scorecard line of a service the run injected; `None` when it was not.
pub fn injected(s: &ServiceRun) -> Option<Injected> {
    let injected_at = s.injected_at?;
    let outage = s.inject_outage();
    let restored_at = outage.filter(|o| o.restored).and_then(|o| o.ended);
    let time_to_restore_ms = restored_at.map(|at| ms(injected_at, at));
    let rto = outage.map_or(Rto::NotApplicable, |o| o.rto);
    let rto_margin_ms = s
        .info
        .rto_ms
        .and_then(|r| i64::try_from(r).ok())
        .zip(time_to_restore_ms)
        .map(|(r, t)| r - t);
    let detected_at = outage.and_then(|o| o.detected);
    Some(Injected {
        id: s.info.id.clone(),
        name: s.info.name.clone(),
        tier: s.info.tier,
        depends_on: s.info.depends_on.clone(),
        rto_ms: s.info.rto_ms,
        injected_at,
        detected_at,
        time_to_detect_ms: detected_at.map(|d| ms(injected_at, d)),
        restore_started: s.restore_started,
        restored_at,
        time_to_restore_ms,
        rto,
        rto_margin_ms,
        spent: s.spent,
    })
}

/// The chain that set the total time: the last-restored service, then the service it waited
/// for (a dependency, or a lower tier that had to settle, restored latest before its own
/// restore began), and so on back to a service that waited for none, which starts at its
/// inject. Only restored, injected services take part: the others were up all along.
pub fn critical_path(services: &[Injected]) -> Vec<Link> {
    let restored: Vec<&Injected> = services
        .iter()
        .filter(|s| s.restored_at.is_some())
        .collect();
    // The last restored; on a tie the higher tier (it waited for the other).
    let Some(mut cur) = restored
        .iter()
        .copied()
        .max_by_key(|s| (s.restored_at, s.tier))
    else {
        return Vec::new();
    };
    let mut chain: Vec<(&Injected, Via)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        seen.insert(&cur.id);
        // What it waited for had to be up before its restore began.
        let began = cur.restore_started.or(cur.restored_at);
        let prev = restored
            .iter()
            .copied()
            .filter(|p| !seen.contains(&p.id))
            .filter_map(|p| {
                let via = if cur.depends_on.contains(&p.id) {
                    Via::DependsOn
                } else if p.tier < cur.tier {
                    Via::Tier
                } else {
                    return None;
                };
                (p.restored_at <= began).then_some((p, via))
            })
            .max_by_key(|(p, via)| (p.restored_at, *via == Via::DependsOn));
        let Some((p, via)) = prev else {
            chain.push((cur, Via::Inject));
            break;
        };
        chain.push((cur, via));
        cur = p;
    }
    chain.reverse();
    let mut links = Vec::with_capacity(chain.len());
    let mut from = None;
    // `chain[i].1` says how chain[i] waited for chain[i-1]; the first starts at its inject.
    for (s, via) in chain {
        let to = s.restored_at.unwrap_or(s.injected_at);
        let start = from.unwrap_or(s.injected_at);
        links.push(Link {
            service: s.id.clone(),
            tier: s.tier,
            via,
            from: start,
            to,
            ms: ms(start, to),
        });
        from = Some(to);
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).expect("in range")
    }

    fn svc(id: &str, tier: u32, deps: &[&str], inj: i64, began: i64, up: i64) -> Injected {
        Injected {
            id: ServiceId::new(id),
            name: id.into(),
            tier,
            depends_on: deps.iter().map(|d| ServiceId::new(*d)).collect(),
            rto_ms: None,
            injected_at: t(inj),
            detected_at: None,
            time_to_detect_ms: None,
            restore_started: Some(t(began)),
            restored_at: Some(t(up)),
            time_to_restore_ms: Some((up - inj) * 1000),
            rto: Rto::NotApplicable,
            rto_margin_ms: None,
            spent: Spent::default(),
        }
    }

    #[test]
    fn the_critical_path_follows_the_dependency_restored_last_back_to_an_inject() {
        // dns (tier 1) up at 50; cache (tier 1) up at 30; db (tier 2, needs dns) from 50 to
        // 120; web (tier 3, needs db) from 120 to 200; a tier-2 service up at 60 that web
        // does not depend on loses to db, restored later.
        let services = [
            svc("dns", 1, &[], 0, 5, 50),
            svc("cache", 1, &[], 0, 5, 30),
            svc("db", 2, &["dns"], 0, 50, 120),
            svc("queue", 2, &[], 0, 50, 60),
            svc("web", 3, &["db"], 0, 120, 200),
        ];
        let path = critical_path(&services);
        let names: Vec<(&str, Via, i64)> = path
            .iter()
            .map(|l| (l.service.as_str(), l.via, l.ms))
            .collect();
        assert_eq!(
            names,
            [
                ("dns", Via::Inject, 50_000),
                ("db", Via::DependsOn, 70_000),
                ("web", Via::DependsOn, 80_000)
            ]
        );
        assert_eq!(path[0].from, t(0));
        assert_eq!(path[2].to, t(200));
    }

    #[test]
    fn a_service_restored_after_the_dependent_began_is_not_what_it_waited_for() {
        // b (tier 2) began restoring at 10, before a (tier 1) was up at 40: b waited for
        // nothing; the path is b alone, from its inject.
        let services = [svc("a", 1, &[], 0, 1, 40), svc("b", 2, &[], 0, 10, 90)];
        let path = critical_path(&services);
        assert_eq!(path.len(), 1);
        assert_eq!(path[0].service.as_str(), "b");
        assert_eq!(path[0].via, Via::Inject);
        assert_eq!(path[0].ms, 90_000);
    }
}
