//! What undo took back (SPEC "Undo and policies"), as part of the run's one fold: per
//! service, each rollback — who asked (an operator, for the service or as a dependent of one
//! undone with `--cascade`, or the service's `on_fail = "undo"`), the restore steps whose
//! `undo` ran ok in the order they ran, the hosts, when it began and how it ended. Every report
//! that says "rolled back" reads it from [`crate::fold::RunFold::rollbacks`].
//!
//! Pure: fed events in journal order by `RunFold::push_event`; says nothing in words (the
//! exports do).

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::engine::state::{Decision, Phase, ServiceState, StepOutcome};
use crate::journal::event::{Event, OperatorActionKind, ServiceInfo};
use crate::runbook::model::{HostId, ServiceId};

/// The reason an operator's `undo` action is journaled with when the service's dependents
/// are undone first (`--cascade`).
pub const CASCADE: &str = "with its dependents first (cascade)";

/// Who asked for a rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskedBy {
    /// An operator's undo (`bringup undo`, `u`), of this service or, with `--cascade`, of a
    /// service it depends on.
    Operator(String),
    /// The service's `on_fail = "undo"`, after its restore failed.
    OnFail,
}

/// How a rollback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackEnd {
    /// Not ended when the journal ends: its undo steps are still running.
    Open,
    /// Every step with an undo was taken back: the service `undone` (an operator's) or
    /// marked failed (`on_fail`).
    Complete,
    /// An undo step failed, timed out or was declined: the steps listed were taken back,
    /// the older ones stay done.
    Stopped,
    /// The run stopped or was taken over before the undo ended.
    CutShort,
}

/// One rollback of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub service: ServiceId,
    pub by: AskedBy,
    /// Its first undo step's start (or skip).
    pub began: DateTime<Utc>,
    /// When its first undo step finished ok; `None` while nothing was taken back.
    pub at: Option<DateTime<Utc>>,
    /// Restore steps taken back, in the order their undo ran.
    pub steps: Vec<String>,
    /// Hosts an undo ran ok on, sorted.
    pub hosts: Vec<HostId>,
    /// The step whose undo did not succeed (failed, timed out, declined), if one did not.
    pub failed_step: Option<String>,
    pub end: RollbackEnd,
    /// When it ended; `None` while open.
    pub ended: Option<DateTime<Utc>>,
}

impl Rollback {
    /// Whether its undo took anything back.
    pub fn took_back(&self) -> bool {
        !self.steps.is_empty()
    }
}

/// An operator's undo not carried out yet: the service asked and, with `--cascade`, its
/// dependents (undone first).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    operator: String,
    service: ServiceId,
    covers: Vec<ServiceId>,
}

/// Every rollback of a run, in the order they began.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollbacks {
    all: Vec<Rollback>,
    asked: Vec<Request>,
}

impl Rollbacks {
    /// Every rollback, open ones included, in the order they began (some may have taken
    /// nothing back: their first undo step did not succeed).
    pub fn all(&self) -> &[Rollback] {
        &self.all
    }

    /// The rollbacks that took something back, in the order they began: what reports tell.
    pub fn taken_back(&self) -> Vec<Rollback> {
        self.all.iter().filter(|r| r.took_back()).cloned().collect()
    }

    /// One event, in journal order; `infos` are the services `run_started` recorded (whose
    /// `depends_on` says what a cascade covers).
    pub(super) fn push(
        &mut self,
        ts: DateTime<Utc>,
        event: &Event,
        infos: &IndexMap<ServiceId, ServiceInfo>,
    ) {
        match event {
            Event::OperatorAction {
                operator,
                service: Some(service),
                action: OperatorActionKind::Undo,
                reason,
                ..
            } => {
                let mut covers = vec![service.clone()];
                if reason.as_deref() == Some(CASCADE) {
                    covers.extend(dependents(service, infos));
                }
                self.asked.retain(|r| &r.service != service);
                self.asked.push(Request {
                    operator: operator.clone(),
                    service: service.clone(),
                    covers,
                });
            }
            Event::StepStarted {
                service,
                phase: Phase::Undo,
                ..
            }
            | Event::StepSkipped {
                service,
                phase: Phase::Undo,
                ..
            } => {
                self.open(ts, service);
            }
            Event::StepFinished {
                service,
                phase: Phase::Undo,
                step,
                host,
                outcome,
                ..
            } => {
                let open = self.open(ts, service);
                if *outcome == StepOutcome::Ok {
                    open.at.get_or_insert(ts);
                    if !open.steps.contains(step) {
                        open.steps.push(step.clone());
                    }
                    // Sorted: hosts finish in any order, the report says the same each time.
                    if let Err(i) = open.hosts.binary_search(host) {
                        open.hosts.insert(i, host.clone());
                    }
                } else {
                    open.failed_step.get_or_insert_with(|| step.clone());
                }
            }
            // The only question an undo asks is its step's approval, asked before the step
            // starts: declined at the first step of an undo, the rollback begins and stops
            // there, having taken nothing back. Older journals do not say the phase: there a
            // decline is an undo's when an operator's undo covers the service or one is open.
            Event::Approval {
                service,
                step,
                phase,
                decision: Decision::Declined,
                ..
            } => {
                let undo = match phase {
                    Some(phase) => *phase == Phase::Undo,
                    None => {
                        self.open_of(service).is_some()
                            || self.asked.iter().any(|r| r.covers.contains(service))
                    }
                };
                if undo {
                    let open = self.open(ts, service);
                    open.failed_step.get_or_insert_with(|| step.clone());
                }
            }
            Event::ServiceState {
                service,
                to: to @ (ServiceState::Undone | ServiceState::Failed),
                ..
            } => self.close(ts, service, *to),
            // A stopped or taken-over run does not go on with an undo, nor with one asked.
            Event::Resumed { .. } | Event::RunFinished { .. } => {
                for r in &mut self.all {
                    if r.end == RollbackEnd::Open {
                        r.end = RollbackEnd::CutShort;
                        r.ended = Some(ts);
                    }
                }
                self.asked.clear();
            }
            _ => {}
        }
    }

    fn open_of(&mut self, service: &ServiceId) -> Option<&mut Rollback> {
        self.all
            .iter_mut()
            .rev()
            .find(|r| &r.service == service && r.end == RollbackEnd::Open)
    }

    /// The service's open rollback, begun now when it has none: asked by the operator whose
    /// request covers it, else by its `on_fail`.
    fn open(&mut self, ts: DateTime<Utc>, service: &ServiceId) -> &mut Rollback {
        let open = self
            .all
            .iter()
            .rposition(|r| &r.service == service && r.end == RollbackEnd::Open);
        let i = open.unwrap_or_else(|| {
            let by = match self.asked.iter().position(|r| r.covers.contains(service)) {
                Some(i) => {
                    let operator = self.asked[i].operator.clone();
                    // The service asked is undone last: its request is carried out.
                    if &self.asked[i].service == service {
                        self.asked.remove(i);
                    }
                    AskedBy::Operator(operator)
                }
                None => AskedBy::OnFail,
            };
            self.all.push(Rollback {
                service: service.clone(),
                by,
                began: ts,
                at: None,
                steps: Vec::new(),
                hosts: Vec::new(),
                failed_step: None,
                end: RollbackEnd::Open,
                ended: None,
            });
            self.all.len() - 1
        });
        &mut self.all[i]
    }

    /// The service is `undone` or failed: its open rollback ended.
    fn close(&mut self, ts: DateTime<Utc>, service: &ServiceId, to: ServiceState) {
        let Some(open) = self.open_of(service) else {
            return;
        };
        // An operator's undo that ends in `failed` stopped on a step (complete, it is
        // `undone`); `on_fail`'s ends in `failed` either way.
        let stopped = open.failed_step.is_some()
            || (to == ServiceState::Failed && matches!(open.by, AskedBy::Operator(_)));
        open.end = if stopped {
            RollbackEnd::Stopped
        } else {
            RollbackEnd::Complete
        };
        open.ended = Some(ts);
        if stopped && let AskedBy::Operator(_) = open.by {
            // A cascade stops with the undo that failed: the rest of it is not carried out.
            self.asked.retain(|r| !r.covers.contains(service));
        }
    }
}

/// The services that depend on `service`, directly or not, as `run_started` recorded them.
fn dependents(service: &ServiceId, infos: &IndexMap<ServiceId, ServiceInfo>) -> Vec<ServiceId> {
    let mut found: Vec<ServiceId> = Vec::new();
    let mut stack = vec![service.clone()];
    while let Some(id) = stack.pop() {
        for s in infos.values() {
            if &s.id != service && !found.contains(&s.id) && s.depends_on.contains(&id) {
                found.push(s.id.clone());
                stack.push(s.id.clone());
            }
        }
    }
    found
}
