//! Fleets inside the engine (SPEC "Fleets"): a restore or inject step runs batch by batch in
//! the order of its hosts, a canary first and a question before the rest; the failure budget
//! (`max_fail`) stops new batches and names the hosts never run; failures within it are
//! degraded hosts; `min_healthy` lets a probe find a service up without some of its hosts,
//! and a restore after a probe that named its unhealthy hosts runs on those alone.
//!
//! The budget reaches the verification that follows its restore: without `min_healthy`, a
//! host the restore already failed on within `max_fail` does not fail the service when its
//! checks fail there too (it stays degraded); any other host failing still does. With
//! `min_healthy`, the count alone decides, so it stays the floor. A check (`Phase::Check`,
//! before a restore or asked by an operator later) excuses nothing: it judges every host
//! afresh, and a restore after it runs again where the service is unhealthy. A service up
//! with degraded hosts keeps them as its restore's targets, so a check that later fails
//! without naming its hosts alone restores those (and the ones failing now), never the
//! hosts it was up with.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;

use crate::engine::effect::Effect;
use crate::engine::machine::steps::{step_word, steps_of};
use crate::engine::machine::{Ask, Engine, Job};
use crate::engine::state::{HostStatus, Phase, StepRef, Waiting};
use crate::runbook::model::HostId;

/// How many names a reason lists before "…".
const NAMES_SHOWN: usize = 10;

/// One restore or inject step under way on a fleet.
#[derive(Debug)]
pub(super) struct FleetRun {
    index: usize,
    /// Hosts not started yet, in order.
    queue: VecDeque<HostId>,
    /// The step's hosts (what percentages and reasons count).
    total: usize,
    batch: usize,
    budget: usize,
    /// Canary hosts not started yet.
    canary_left: usize,
    /// Hosts in the canary, once it ran (for the question).
    canary: Vec<HostId>,
    stage: Stage,
    failed: Vec<HostId>,
    /// The step set fleet keys (reasons then speak of its budget).
    keyed: bool,
    /// Its canary ran in this job; `false` when it was recorded ok before.
    canary_ran: bool,
}

impl FleetRun {
    /// The canary ran in this job (rather than recorded ok before it).
    fn ran_canary(&self) -> bool {
        self.canary_ran
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Canary,
    /// The canary ran; an operator is asked about the rest.
    Asked,
    Rest,
}

/// How one unit of a job concluded on a host, for the fleet's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostResult {
    Passed,
    /// Failed or could not run; the job's failures (or unreachable checks) name it.
    Failed,
    /// A verification that failed (or could not run) on a host its restore's failure budget
    /// already excused: not among the job's failures.
    Excused,
}

/// A job's fleet bookkeeping: the sequence step's batches, or a probe's unhealthy hosts.
#[derive(Debug, Default)]
pub(super) struct JobFleet {
    run: Option<FleetRun>,
    /// Probes: hosts where a check failed or could not run (excused ones too).
    bad_hosts: BTreeSet<HostId>,
    /// Probes: failures and unreachable checks that named a host (excused ones not).
    host_failures: usize,
    /// Verification: hosts whose failures the restore's budget excused.
    excused: BTreeSet<HostId>,
}

impl JobFleet {
    /// One unit of the job concluded on `host`.
    pub(super) fn note(&mut self, phase: Phase, host: &HostId, result: HostResult) {
        match (phase, result) {
            (_, HostResult::Passed) => {}
            (Phase::Check | Phase::Verify, HostResult::Failed) => {
                self.bad_hosts.insert(host.clone());
                self.host_failures += 1;
            }
            (Phase::Check | Phase::Verify, HostResult::Excused) => {
                self.bad_hosts.insert(host.clone());
                self.excused.insert(host.clone());
            }
            (Phase::Restore | Phase::Inject | Phase::Undo, _) => {
                if let Some(run) = &mut self.run {
                    run.failed.push(host.clone());
                }
            }
        }
    }
}

/// A service's fleet bookkeeping across jobs.
#[derive(Debug, Default)]
pub(super) struct TrackFleet {
    /// Hosts a restore step failed on within its budget, since the restore began.
    restore_degraded: Vec<HostId>,
    /// What made them degraded, for the service's reason.
    notes: Vec<String>,
    /// Those of them whose verification after the restore failed too, excused by the budget.
    excused: BTreeSet<HostId>,
    /// Hosts the latest failing probe found unhealthy, when every failure named a host of
    /// the service (or the hosts kept below, with those failing now): a restore runs its
    /// service's hosts' steps on these alone.
    unhealthy: Option<BTreeSet<HostId>>,
    /// The service's hosts it was last found up without (degraded): what a restore asked
    /// later targets when a failing check names no hosts alone. Cleared by a probe that
    /// finds every host of the service passing, or by a failed verification.
    kept: Option<BTreeSet<HostId>>,
}

/// "1 host", "5 hosts".
fn hosts_word(n: usize) -> String {
    if n == 1 {
        "1 host".to_string()
    } else {
        format!("{n} hosts")
    }
}

/// `a, b, c` or `a, b, … (and 5 more)`.
fn names(hosts: &[HostId]) -> String {
    let shown: Vec<&str> = hosts.iter().take(NAMES_SHOWN).map(HostId::as_str).collect();
    let mut text = shown.join(", ");
    if hosts.len() > NAMES_SHOWN {
        let _ = write!(text, " … (and {} more)", hosts.len() - NAMES_SHOWN);
    }
    text
}

impl Engine {
    /// Run a sequence step on `hosts` (approved or needing no approval): batch by batch, the
    /// canary first. A step whose canary question was just approved goes on with the rest.
    pub(super) fn run_fleet(
        &mut self,
        si: usize,
        job_id: u64,
        step_ref: &StepRef,
        hosts: &[HostId],
        out: &mut Vec<Effect>,
    ) {
        let runbook = std::sync::Arc::clone(&self.runbook);
        let Some(step) = steps_of(&runbook.services[si], step_ref.phase).get(step_ref.index) else {
            return;
        };
        let Some(job) = &mut self.tracks[si].job else {
            return;
        };
        if let Some(run) = &mut job.fleet.run
            && run.index == step_ref.index
            && run.stage == Stage::Asked
        {
            run.stage = Stage::Rest;
            self.next_batch(si, job_id, step_ref, out);
            return;
        }
        let total = step.hosts.len().max(hosts.len());
        let fleet = step.fleet;
        // A canary that already passed (recorded ok before a stop or a failed restore) is
        // not run again: the question before the rest is asked at once.
        let proven: Vec<HostId> = step
            .hosts
            .iter()
            .filter(|h| {
                self.tracks[si]
                    .done
                    .contains(&(step_ref.index, (*h).clone()))
            })
            .cloned()
            .collect();
        let Some(job) = &mut self.tracks[si].job else {
            return;
        };
        let ask_now = fleet
            .canary
            .is_some_and(|n| proven.len() >= n && !hosts.is_empty());
        let canary = fleet
            .canary
            .filter(|&n| n < hosts.len() && !ask_now)
            .unwrap_or(0);
        job.fleet.run = Some(FleetRun {
            index: step_ref.index,
            queue: hosts.iter().cloned().collect(),
            total,
            batch: fleet.batch_size(total),
            budget: fleet.budget(total),
            canary_left: canary,
            canary: if ask_now { proven } else { Vec::new() },
            stage: if canary > 0 || ask_now {
                Stage::Canary
            } else {
                Stage::Rest
            },
            failed: Vec::new(),
            keyed: fleet != crate::runbook::fleet::Fleet::default(),
            canary_ran: !ask_now,
        });
        if ask_now {
            self.fleet_continue(si, out);
        } else {
            self.next_batch(si, job_id, step_ref, out);
        }
    }

    /// Start the next batch: `batch` hosts, or what is left of the canary.
    fn next_batch(&mut self, si: usize, job_id: u64, step_ref: &StepRef, out: &mut Vec<Effect>) {
        let Some(job) = &mut self.tracks[si].job else {
            return;
        };
        let Some(run) = &mut job.fleet.run else {
            return;
        };
        let room = match run.stage {
            Stage::Canary => run.canary_left.min(run.batch),
            Stage::Asked => 0,
            Stage::Rest => run.batch,
        };
        let n = room.min(run.queue.len());
        let hosts: Vec<HostId> = run.queue.drain(..n).collect();
        if run.stage == Stage::Canary {
            run.canary_left -= n;
            run.canary.extend(hosts.iter().cloned());
        }
        for host in &hosts {
            job.pending.insert((step_ref.index, host.clone()));
        }
        for host in hosts {
            self.launch(si, job_id, step_ref.clone(), host, 1, out);
        }
    }

    /// A batch of a sequence step ended: start the next one, ask after the canary, or stop
    /// at the budget. `true` while the step goes on; `false` once it is over (its failures,
    /// if any, left in the job for `step_done`).
    pub(super) fn fleet_continue(&mut self, si: usize, out: &mut Vec<Effect>) -> bool {
        let Some(job) = &mut self.tracks[si].job else {
            return false;
        };
        let Some(run) = &mut job.fleet.run else {
            return false;
        };
        let step_ref = StepRef {
            service: self.runbook.services[si].id.clone(),
            phase: job.phase,
            index: run.index,
        };
        let name = step_ref.name(&self.runbook).to_string();
        let word = step_word(step_ref.phase);
        let failed = run.failed.len();
        if failed > run.budget {
            let reason = format!(
                "failure budget exceeded: {failed} of {} hosts failed (max {})",
                run.total, run.budget
            );
            let rest: Vec<HostId> = run.queue.drain(..).collect();
            if run.keyed || !rest.is_empty() {
                job.failures.insert(0, format!("{word} '{name}': {reason}"));
            }
            job.fleet.run = None;
            self.not_run(&step_ref, rest, reason, out);
            return false;
        }
        if run.stage == Stage::Canary && run.canary_left == 0 && !run.queue.is_empty() {
            run.stage = Stage::Asked;
            let rest: Vec<HostId> = run.queue.iter().cloned().collect();
            let reason = if failed == 0 {
                format!(
                    "canary ok on {}{}; run on the other {}?",
                    hosts_word(run.canary.len()),
                    if run.ran_canary() {
                        ""
                    } else {
                        " (recorded before)"
                    },
                    rest.len()
                )
            } else {
                format!(
                    "canary done on {}, {failed} failed ({}) within max_fail {}; run on the other {}?",
                    hosts_word(run.canary.len()),
                    names(&run.failed),
                    run.budget,
                    rest.len()
                )
            };
            job.asking = Some(Ask::Approval {
                index: step_ref.index,
                hosts: rest.clone(),
                approved_by: Vec::new(),
            });
            self.ask_for_rest(si, step_ref, rest, reason, out);
            return true;
        }
        if !run.queue.is_empty() {
            let job_id = job.id;
            self.next_batch(si, job_id, &step_ref, out);
            return true;
        }
        if failed > 0 {
            // Within the budget: the step counts as done; its failed hosts are degraded.
            let note = format!(
                "{word} '{name}' failed on {failed} of {} hosts within max_fail {}",
                run.total, run.budget
            );
            let hosts = std::mem::take(&mut run.failed);
            job.failures.clear();
            job.fleet.run = None;
            let track = &mut self.tracks[si].fleet;
            for h in hosts {
                if !track.restore_degraded.contains(&h) {
                    track.restore_degraded.push(h);
                }
            }
            track.notes.push(note);
            let degraded = self.in_host_order(si, self.tracks[si].fleet.restore_degraded.iter());
            self.services[si].degraded = degraded;
        } else {
            job.fleet.run = None;
        }
        false
    }

    fn ask_for_rest(
        &mut self,
        si: usize,
        step: StepRef,
        hosts: Vec<HostId>,
        reason: String,
        out: &mut Vec<Effect>,
    ) {
        let runbook = std::sync::Arc::clone(&self.runbook);
        let service = &runbook.services[si];
        let Some(def) = step.step(&runbook) else {
            return;
        };
        let commands: Vec<_> = hosts
            .iter()
            .map(|h| (h.clone(), runbook.expand(&def.action, &service.id, h)))
            .collect();
        self.services[si].waiting = Some(Waiting::Approval {
            step: step.clone(),
            hosts,
            commands: commands
                .iter()
                .map(|(h, e)| (h.clone(), e.shown.clone()))
                .collect(),
            reason: Some(reason.clone()),
        });
        out.push(Effect::AskApproval {
            step,
            commands,
            reason: Some(reason),
        });
    }

    /// The rest after a canary was declined: journaled as not run.
    pub(super) fn fleet_declined(&mut self, si: usize, step: &StepRef, out: &mut Vec<Effect>) {
        let Some(job) = &mut self.tracks[si].job else {
            return;
        };
        let Some(run) = job.fleet.run.take() else {
            return;
        };
        if run.stage != Stage::Asked || run.index != step.index {
            return;
        }
        let rest: Vec<HostId> = run.queue.into_iter().collect();
        let reason = format!(
            "not approved after the canary on {}",
            hosts_word(run.canary.len())
        );
        self.not_run(step, rest, reason, out);
    }

    fn not_run(
        &mut self,
        step: &StepRef,
        hosts: Vec<HostId>,
        reason: String,
        out: &mut Vec<Effect>,
    ) {
        if hosts.is_empty() {
            return;
        }
        for host in &hosts {
            self.set_host(step, host, HostStatus::NotRun);
        }
        out.push(Effect::NotRun {
            step: step.clone(),
            hosts,
            reason,
        });
    }

    /// A restore begins: what earlier restores left degraded is judged again.
    pub(super) fn fleet_restore_begins(&mut self, si: usize) {
        let track = &mut self.tracks[si].fleet;
        track.restore_degraded.clear();
        track.notes.clear();
        track.excused.clear();
    }

    /// Whether a failed (or unreachable) check on `host` is excused rather than counted: in
    /// the verification after a restore, on a host a restore step of the service already
    /// failed on within its `max_fail`, when the service sets no `min_healthy` (which, set,
    /// decides by its count alone). Never in a check (`Phase::Check`).
    pub(super) fn fleet_excuses(&self, si: usize, phase: Phase, host: &HostId) -> bool {
        phase == Phase::Verify
            && self.runbook.services[si].min_healthy.is_none()
            && self.tracks[si].fleet.restore_degraded.contains(host)
    }

    /// Whether a restore step runs on `host` of its service now: a probe that named the
    /// service's unhealthy hosts keeps it off the healthy ones; hosts outside the service's
    /// list (a load balancer, the operator's machine) always run.
    pub(super) fn fleet_targets(&self, si: usize, host: &HostId) -> bool {
        match &self.tracks[si].fleet.unhealthy {
            Some(unhealthy) => {
                unhealthy.contains(host) || !self.runbook.services[si].hosts.contains(host)
            }
            None => true,
        }
    }

    /// A probe ended: note which hosts are unhealthy, and when `min_healthy` holds despite
    /// them, clear the job's failures so the probe passes with those hosts degraded.
    ///
    /// A service found up with degraded hosts keeps them as its restore's targets: a check
    /// that later fails without naming its hosts alone (a check on a host outside the
    /// service's list, a manual one) restores those and the ones failing now, not every
    /// host. A probe that finds every host of the service passing forgets them, and so does
    /// a verification that fails (the restore narrowed to them did not bring it back).
    pub(super) fn judge_probe(&mut self, si: usize, job: &mut Job) {
        let service = &self.runbook.services[si];
        let bad = &job.fleet.bad_hosts;
        let named = job.failures.len() + job.unreachable.len() == job.fleet.host_failures
            && bad.iter().all(|h| service.hosts.contains(h));
        let failing: BTreeSet<HostId> = bad
            .iter()
            .filter(|h| service.hosts.contains(h))
            .cloned()
            .collect();
        let mut degraded: Vec<HostId> = Vec::new();
        if let Some(min) = service.min_healthy
            && named
            && !bad.is_empty()
            && service.hosts.len() - bad.len() >= min.ceil_of(service.hosts.len())
        {
            job.failures.clear();
            job.unreachable.clear();
            degraded.extend(bad.iter().cloned());
        }
        if job.phase == Phase::Verify {
            let track = &mut self.tracks[si].fleet;
            track.excused = std::mem::take(&mut job.fleet.excused);
            degraded.extend(track.restore_degraded.iter().cloned());
        } else {
            self.fleet_restore_begins(si);
        }
        // A budget excuses hosts while others are up: with none passing, nothing is.
        let service = &self.runbook.services[si];
        if job.phase == Phase::Verify
            && job.failures.is_empty()
            && job.unreachable.is_empty()
            && !self.tracks[si].fleet.excused.is_empty()
            && service.hosts.iter().all(|h| bad.contains(h))
        {
            job.failures.push(format!(
                "no host of '{}' passed its verification; max_fail excuses failed hosts only while others are up",
                service.id
            ));
        }
        let up = job.failures.is_empty() && job.unreachable.is_empty();
        let track = &mut self.tracks[si].fleet;
        if up {
            // Up, maybe without some of its hosts: a restore asked later runs on those.
            let kept: BTreeSet<HostId> = degraded
                .iter()
                .filter(|h| service.hosts.contains(h))
                .cloned()
                .collect();
            track.kept = (!kept.is_empty()).then_some(kept);
            track.unhealthy.clone_from(&track.kept);
        } else if named && !bad.is_empty() {
            track.unhealthy = Some(bad.clone());
            if job.phase == Phase::Verify {
                track.kept = None;
            }
        } else if failing.is_empty() || job.phase == Phase::Verify {
            track.kept = None;
            track.unhealthy = None;
        } else {
            // A failure no host of the service accounts for: the hosts it was up without,
            // with those failing now, when it was up without some; else every host.
            track.unhealthy = track
                .kept
                .as_ref()
                .map(|kept| kept.union(&failing).cloned().collect());
        }
        self.services[si].degraded = self.in_host_order(si, degraded.iter());
    }

    /// Why a service that is up names degraded hosts, if it does.
    pub(super) fn degraded_reason(&self, si: usize) -> Option<String> {
        let degraded = &self.services[si].degraded;
        if degraded.is_empty() {
            return None;
        }
        let service = &self.runbook.services[si];
        let mut reason = format!(
            "degraded: {} of {} hosts ({})",
            degraded.len(),
            service.hosts.len().max(degraded.len()),
            names(degraded)
        );
        if let Some(min) = service.min_healthy {
            let _ = write!(reason, "; min_healthy {min}");
        }
        let track = &self.tracks[si].fleet;
        for note in &track.notes {
            reason.push_str("; ");
            reason.push_str(note);
        }
        if !track.excused.is_empty() {
            let which = if track.excused.len() == track.restore_degraded.len() {
                "there".to_string()
            } else {
                let excused = self.in_host_order(si, track.excused.iter());
                format!("on {}", names(&excused))
            };
            let _ = write!(
                reason,
                "; verification failed {which} too, excused by max_fail"
            );
        }
        Some(reason)
    }

    /// `hosts` in the service's host order (others after, as given), without repeats.
    fn in_host_order<'h>(&self, si: usize, hosts: impl Iterator<Item = &'h HostId>) -> Vec<HostId> {
        let set: BTreeSet<&HostId> = hosts.collect();
        let order = &self.runbook.services[si].hosts;
        let mut out: Vec<HostId> = order.iter().filter(|h| set.contains(h)).cloned().collect();
        out.extend(set.into_iter().filter(|h| !order.contains(h)).cloned());
        out
    }
}
