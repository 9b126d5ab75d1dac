//! What undo took back in a run (SPEC "Undo and policies"), folded from the journal alone:
//! per service, the restore steps whose `undo` ran ok (newest first, as they ran), the hosts,
//! who asked and whether the service was undone by an operator or rolled back by
//! `on_fail = "undo"`. For the post-mortem ("rolled back: …") and the drill scorecard.

use chrono::{DateTime, Utc};

use crate::engine::state::{Phase, ServiceState, StepOutcome};
use crate::journal::event::OperatorActionKind;
use crate::journal::{Event, Record};
use crate::runbook::model::{HostId, ServiceId};

/// One rollback of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub service: ServiceId,
    /// Restore steps taken back, in the order their undo ran.
    pub steps: Vec<String>,
    /// Hosts an undo ran ok on, sorted.
    pub hosts: Vec<HostId>,
    /// The operator who asked; `None` when the service's `on_fail = "undo"` did.
    pub by: Option<String>,
    /// When its first undo step finished ok.
    pub at: DateTime<Utc>,
}

/// Fed records in order.
#[derive(Debug, Clone, Default)]
pub struct Rollbacks {
    pub done: Vec<Rollback>,
    /// Per service: the rollback being recorded (until `undone` or `failed`).
    open: Vec<Rollback>,
    /// Per service: who asked for an undo not started yet.
    asked: Vec<(ServiceId, String)>,
}

impl Rollbacks {
    pub fn push(&mut self, r: &Record) {
        match &r.event {
            Event::OperatorAction {
                operator,
                service: Some(service),
                action: OperatorActionKind::Undo,
                ..
            } => {
                self.asked.retain(|(s, _)| s != service);
                self.asked.push((service.clone(), operator.clone()));
            }
            Event::StepFinished {
                service,
                phase: Phase::Undo,
                step,
                host,
                outcome: StepOutcome::Ok,
                ..
            } => {
                let at = self.open.iter().position(|o| &o.service == service);
                let at = at.unwrap_or_else(|| {
                    let by = self
                        .asked
                        .iter()
                        .position(|(s, _)| s == service)
                        .map(|i| self.asked.remove(i).1);
                    self.open.push(Rollback {
                        service: service.clone(),
                        steps: Vec::new(),
                        hosts: Vec::new(),
                        by,
                        at: r.ts,
                    });
                    self.open.len() - 1
                });
                let open = &mut self.open[at];
                if !open.steps.contains(step) {
                    open.steps.push(step.clone());
                }
                // Sorted: hosts finish in any order, the report says the same each time.
                if let Err(i) = open.hosts.binary_search(host) {
                    open.hosts.insert(i, host.clone());
                }
            }
            Event::ServiceState {
                service,
                to: ServiceState::Undone | ServiceState::Failed,
                ..
            } => {
                if let Some(i) = self.open.iter().position(|o| &o.service == service) {
                    self.done.push(self.open.remove(i));
                }
            }
            _ => {}
        }
    }

    /// Every rollback, those still open (a run cut short) included, in the order they began.
    pub fn finish(mut self) -> Vec<Rollback> {
        self.done.append(&mut self.open);
        self.done.sort_by_key(|r| r.at);
        self.done
    }
}

impl Rollback {
    /// "vip: 'move the VIP', 'start gateway' on h0, h1 (asked by kim)".
    pub fn words(&self) -> String {
        let steps: Vec<String> = self.steps.iter().map(|s| format!("'{s}'")).collect();
        let hosts: Vec<&str> = self.hosts.iter().map(HostId::as_str).collect();
        let why = match &self.by {
            Some(op) => format!("asked by {op}"),
            None => "on_fail = \"undo\", after its restore failed".to_string(),
        };
        format!(
            "{}: {} on {} ({why})",
            self.service,
            steps.join(", "),
            hosts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::Provenance;

    fn rec(seq: u64, event: Event) -> Record {
        Record {
            seq,
            ts: DateTime::from_timestamp(1_800_000_000 + i64::try_from(seq).unwrap_or(0), 0)
                .unwrap_or_default(),
            event,
            prev: String::new(),
            hash: String::new(),
        }
    }

    fn undo_ok(seq: u64, service: &str, step: &str, host: &str) -> Record {
        rec(
            seq,
            Event::StepFinished {
                service: ServiceId::new(service),
                phase: Phase::Undo,
                step: step.into(),
                host: HostId::new(host),
                attempt: 1,
                outcome: StepOutcome::Ok,
                exit_code: Some(0),
                duration_ms: 5,
                error: None,
            },
        )
    }

    fn state(seq: u64, service: &str, to: ServiceState) -> Record {
        rec(
            seq,
            Event::ServiceState {
                service: ServiceId::new(service),
                from: ServiceState::Restored,
                to,
                reason: None,
            },
        )
    }

    #[test]
    fn an_operators_undo_and_an_on_fail_rollback_are_each_told_with_steps_hosts_and_why() {
        let mut fold = Rollbacks::default();
        for r in [
            rec(
                1,
                Event::OperatorAction {
                    operator: "kim".into(),
                    service: Some(ServiceId::new("vip")),
                    action: OperatorActionKind::Undo,
                    reason: None,
                    provenance: Provenance::default(),
                },
            ),
            undo_ok(2, "vip", "move the VIP", "h1"),
            undo_ok(3, "vip", "move the VIP", "h0"),
            undo_ok(4, "vip", "start gateway", "h0"),
            state(5, "vip", ServiceState::Undone),
            undo_ok(6, "mail", "push config", "m1"),
            state(7, "mail", ServiceState::Failed),
        ] {
            fold.push(&r);
        }
        let words: Vec<String> = fold.finish().iter().map(Rollback::words).collect();
        assert_eq!(
            words,
            vec![
                "vip: 'move the VIP', 'start gateway' on h0, h1 (asked by kim)",
                "mail: 'push config' on m1 (on_fail = \"undo\", after its restore failed)",
            ]
        );
    }
}

#[cfg(test)]
mod scorecard_tests {
    use super::*;
    use crate::export::scorecard::{RunSummary, render, scorecard};

    #[test]
    fn a_drill_whose_restore_needed_an_undo_says_so_on_its_scorecard() {
        let rollback = Rollback {
            service: ServiceId::new("talk-messaging"),
            steps: vec!["move the VIP".into()],
            hosts: vec![HostId::new("operator")],
            by: Some("kim".into()),
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
        };
        let run = RunSummary {
            is_scenario_drill: true,
            scenario: Some("dc-loss".into()),
            rollbacks: vec![rollback],
            ..RunSummary::default()
        };
        let card = scorecard(&run).expect("a drill");
        let text = render::markdown(&card);
        assert!(
            text.contains(
                "**Restore needed an undo:** rolled back talk-messaging: 'move the VIP' on operator (asked by kim)"
            ),
            "{text}"
        );
        let plain = RunSummary {
            is_scenario_drill: true,
            ..RunSummary::default()
        };
        let text = render::markdown(&scorecard(&plain).expect("a drill"));
        assert!(!text.contains("needed an undo"), "{text}");
    }
}
