//! How the reports tell what undo took back (SPEC "Undo and policies"): the post-mortem's
//! "Rolled back: …" and the drill scorecard's "Restore needed an undo". The rollbacks
//! themselves are the run's fold's ([`crate::fold::Rollbacks`]), the picture every report
//! shares; this only puts one into words.

use crate::fold::{AskedBy, Rollback, RollbackEnd};
use crate::runbook::model::HostId;

/// "vip: 'move the VIP', 'start gateway' on h0, h1 (asked by kim)"; an undo that did not end
/// says where it stopped.
pub fn words(r: &Rollback) -> String {
    let steps: Vec<String> = r.steps.iter().map(|s| format!("'{s}'")).collect();
    let hosts: Vec<&str> = r.hosts.iter().map(HostId::as_str).collect();
    let why = match &r.by {
        AskedBy::Operator(op) => format!("asked by {op}"),
        AskedBy::OnFail => "on_fail = \"undo\", after its restore failed".to_string(),
    };
    let end = match (r.end, &r.failed_step) {
        (RollbackEnd::Stopped, Some(step)) => {
            format!("; the undo of '{step}' did not succeed, it and older steps stay done")
        }
        (RollbackEnd::Stopped, None) => "; the undo stopped, older steps stay done".to_string(),
        (RollbackEnd::CutShort, _) => "; the run stopped before the undo ended".to_string(),
        (RollbackEnd::Open | RollbackEnd::Complete, _) => String::new(),
    };
    format!(
        "{}: {} on {} ({why}){end}",
        r.service,
        steps.join(", "),
        hosts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::engine::state::{Phase, ServiceState, StepOutcome};
    use crate::fold::RunFold;
    use crate::journal::Event;
    use crate::journal::event::{OperatorActionKind, Provenance};
    use crate::runbook::model::ServiceId;

    fn push(fold: &mut RunFold, seq: u64, event: &Event) {
        let ts = DateTime::from_timestamp(1_800_000_000 + i64::try_from(seq).unwrap_or(0), 0)
            .unwrap_or_default();
        fold.push_event(seq, ts, event);
    }

    fn undo(service: &str, step: &str, host: &str, outcome: StepOutcome) -> Event {
        Event::StepFinished {
            service: ServiceId::new(service),
            phase: Phase::Undo,
            step: step.into(),
            host: HostId::new(host),
            attempt: 1,
            outcome,
            exit_code: Some(0),
            duration_ms: 5,
            error: None,
        }
    }

    fn state(service: &str, to: ServiceState) -> Event {
        Event::ServiceState {
            service: ServiceId::new(service),
            from: ServiceState::Restored,
            to,
            reason: None,
        }
    }

    #[test]
    fn an_operators_undo_an_on_fail_rollback_and_one_that_stopped_are_each_told_with_steps_hosts_and_why()
     {
        let mut fold = RunFold::default();
        let events = [
            Event::OperatorAction {
                operator: "kim".into(),
                service: Some(ServiceId::new("vip")),
                action: OperatorActionKind::Undo,
                reason: None,
                provenance: Provenance::default(),
            },
            undo("vip", "move the VIP", "h1", StepOutcome::Ok),
            undo("vip", "move the VIP", "h0", StepOutcome::Ok),
            undo("vip", "start gateway", "h0", StepOutcome::Ok),
            state("vip", ServiceState::Undone),
            undo("mail", "push config", "m1", StepOutcome::Ok),
            state("mail", ServiceState::Failed),
            undo("dns", "add record", "d1", StepOutcome::Ok),
            undo("dns", "open port", "d1", StepOutcome::Failed),
            state("dns", ServiceState::Failed),
        ];
        for (seq, e) in (1..).zip(&events) {
            push(&mut fold, seq, e);
        }
        let words: Vec<String> = fold.rollbacks.taken_back().iter().map(words).collect();
        assert_eq!(
            words,
            vec![
                "vip: 'move the VIP', 'start gateway' on h0, h1 (asked by kim)",
                "mail: 'push config' on m1 (on_fail = \"undo\", after its restore failed)",
                "dns: 'add record' on d1 (on_fail = \"undo\", after its restore failed); the undo of 'open port' did not succeed, it and older steps stay done",
            ]
        );
    }
}

#[cfg(test)]
mod scorecard_tests {
    use chrono::DateTime;

    use crate::export::scorecard::{RunSummary, render, scorecard};
    use crate::fold::{AskedBy, Rollback, RollbackEnd};
    use crate::runbook::model::{HostId, ServiceId};

    #[test]
    fn a_drill_whose_restore_needed_an_undo_says_so_on_its_scorecard() {
        let rollback = Rollback {
            service: ServiceId::new("talk-messaging"),
            steps: vec!["move the VIP".into()],
            hosts: vec![HostId::new("operator")],
            by: AskedBy::Operator("kim".into()),
            began: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            at: DateTime::from_timestamp(1_800_000_001, 0),
            failed_step: None,
            end: RollbackEnd::Complete,
            ended: DateTime::from_timestamp(1_800_000_002, 0),
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
