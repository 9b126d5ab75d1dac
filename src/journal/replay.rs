//! Replay: fold a journal's events into what a resumed run needs (`ResumeFacts`, the seq to
//! record in `resumed`), and check that the runbook is the one the journal began with.
//! Pure: works on records already read; no IO.

use indexmap::IndexMap;

use crate::engine::event::ResumeFacts;
use crate::engine::state::{Phase, ServiceState, StepOutcome, StepRef};
use crate::journal::event::Event;
use crate::journal::record::Record;
use crate::runbook::model::{HostId, Runbook, ServiceId};

/// What a journal says about the run it recorded.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub facts: ResumeFacts,
    /// The last seq in the journal: the `from_seq` of the `resumed` event.
    pub from_seq: u64,
    /// The runbook the run goes on with: `run_started.runbook_sha256`, or the one a forced
    /// `resumed` recorded since; `None` without a `run_started`.
    pub runbook_sha256: Option<String>,
    /// Restore steps recorded `ok` whose names the runbook no longer has (service, step, host).
    pub unknown_steps: Vec<(ServiceId, String, HostId)>,
    /// Steps started and never finished: in flight when the run stopped. Their commands may
    /// still run on their hosts, under their markers.
    pub in_flight: Vec<InFlight>,
    /// The run's id: the start of its first `run_started` hash; markers are named by it.
    pub run_id: Option<String>,
    /// The run had finished (`run_finished` is the last word, not followed by `resumed`).
    pub finished: bool,
    /// Services the journal recorded a state for that the runbook no longer has, with the
    /// last state recorded: a forced resume keeps them in `run_finished` as `removed`, and
    /// the run's outcome counts what the journal says of them.
    pub removed: Vec<(ServiceId, ServiceState)>,
    /// Approvals a pending two-person step (`confirm = 2`) already had, by principal: they
    /// still count when the question is asked again.
    pub approved: Vec<(StepRef, String)>,
}

/// A step whose `step_started` has no `step_finished`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub service: ServiceId,
    pub phase: Phase,
    pub step: String,
    pub host: HostId,
    pub attempt: u32,
    /// The seq of its `step_started`: the marker's name on the host.
    pub seq: u64,
}

/// How much of a `run_started` hash names the run (64 bits: unique enough on one host).
pub const RUN_ID_LEN: usize = 16;

/// Fold `records` into resume facts, mapping step names to indexes of `runbook`.
///
/// A restore step counts as recorded `ok` on a host when a step of that name ran `ok` there;
/// and when the journal was begun (or resumed) with another runbook, also when a step with the
/// same command ran `ok` on that host of that service, whatever it is called now (SPEC "Forced
/// resume keeps its promises"): it is not run again while the service stays up, and needs an
/// approval to run again when the service is down.
pub fn replay(records: &[Record], runbook: &Runbook) -> Replay {
    let mut out = Replay::default();
    let mut states: IndexMap<ServiceId, (ServiceState, Option<String>)> = IndexMap::new();
    // (service, step, host) recorded ok, with the command it ran.
    let mut ok_steps: IndexMap<(ServiceId, String, HostId), String> = IndexMap::new();
    let mut open: IndexMap<(ServiceId, Phase, String, HostId), (u32, u64)> = IndexMap::new();
    // The command of the latest `step_started` of each restore step on each host.
    let mut commands: IndexMap<(ServiceId, String, HostId), String> = IndexMap::new();
    // Every runbook the journal was run with.
    let mut runbooks: Vec<&str> = Vec::new();
    for r in records {
        out.from_seq = r.seq;
        match &r.event {
            Event::RunStarted { runbook_sha256, .. } => {
                if out.run_id.is_none() {
                    out.run_id = r.hash.get(..RUN_ID_LEN).map(str::to_string);
                }
                if out.runbook_sha256.is_none() {
                    out.runbook_sha256 = Some(runbook_sha256.clone());
                }
                runbooks.push(runbook_sha256.as_str());
                out.finished = false;
            }
            Event::ServiceState {
                service,
                to,
                reason,
                ..
            } => {
                states.insert(service.clone(), (*to, reason.clone()));
            }
            Event::StepStarted {
                service,
                phase,
                step,
                host,
                attempt,
                command,
            } => {
                if *phase == Phase::Restore {
                    commands.insert(
                        (service.clone(), step.clone(), host.clone()),
                        command.clone(),
                    );
                }
                open.insert(
                    (service.clone(), *phase, step.clone(), host.clone()),
                    (*attempt, r.seq),
                );
            }
            Event::StepFinished {
                service,
                phase,
                step,
                host,
                outcome,
                ..
            } => {
                open.shift_remove(&(service.clone(), *phase, step.clone(), host.clone()));
                let key = (service.clone(), step.clone(), host.clone());
                if *outcome == StepOutcome::Ok {
                    ended_ok(&mut ok_steps, &commands, *phase, key);
                }
            }
            Event::Resumed { runbook_sha256, .. } => {
                if let Some(sha) = runbook_sha256 {
                    runbooks.push(sha.as_str());
                    if out.runbook_sha256.is_some() {
                        out.runbook_sha256 = Some(sha.clone());
                    }
                }
                out.finished = false;
            }
            Event::RunFinished { .. } => out.finished = true,
            _ => {}
        }
    }
    let has = |id: &ServiceId| runbook.services.iter().any(|s| &s.id == id);
    out.removed = states
        .iter()
        .filter(|(id, _)| !has(id))
        .map(|(id, (state, _))| (id.clone(), *state))
        .collect();
    out.facts.states = states
        .into_iter()
        .map(|(id, (state, reason))| (id, state, reason))
        .collect();
    let changed = runbooks.iter().any(|sha| *sha != runbook.sha256);
    recorded_ok(&mut out, ok_steps, runbook, changed);
    (out.facts.pending, out.approved) = pending(&crate::fold::RunFold::of(records), runbook);
    out.in_flight = open
        .into_iter()
        .map(|((service, phase, step, host), (attempt, seq))| InFlight {
            service,
            phase,
            step,
            host,
            attempt,
            seq,
        })
        .collect();
    out
}

/// A step ended `ok` on a host: a restore step is done there (the latest success last, as an
/// undo takes back the newest first); an undo takes it back.
fn ended_ok(
    ok_steps: &mut IndexMap<(ServiceId, String, HostId), String>,
    commands: &IndexMap<(ServiceId, String, HostId), String>,
    phase: Phase,
    key: (ServiceId, String, HostId),
) {
    match phase {
        Phase::Restore => {
            let command = commands.get(&key).cloned().unwrap_or_default();
            ok_steps.shift_remove(&key);
            ok_steps.insert(key, command);
        }
        Phase::Undo => {
            ok_steps.shift_remove(&key);
        }
        _ => {}
    }
}

/// The restore steps whose question (approval or manual step) the journal leaves unanswered,
/// as the run's fold sees them: asked again on resume. A question about another phase (an
/// undo's, an inject's) is not a restore's; older journals do not say, and are read as one.
/// With them, the principals who already approved one that needs more than one approval.
type Pending = (Vec<StepRef>, Vec<(StepRef, String)>);

fn pending(fold: &crate::fold::RunFold, runbook: &Runbook) -> Pending {
    let steps: Vec<StepRef> = fold
        .questions
        .iter()
        .filter(|q| q.phase.is_none_or(|p| p == Phase::Restore))
        .filter_map(|q| StepRef::named(runbook, &q.service, Phase::Restore, &q.step))
        .collect();
    let approved = approved(fold, runbook, &steps);
    (steps, approved)
}

/// The principals who approved a pending step that needs more than one approval.
fn approved(
    fold: &crate::fold::RunFold,
    runbook: &Runbook,
    pending: &[StepRef],
) -> Vec<(StepRef, String)> {
    let mut out = Vec::new();
    for ((service, name), by) in &fold.approvals {
        let Some(step) = StepRef::named(runbook, service, Phase::Restore, name) else {
            continue;
        };
        let needs = step.step(runbook).map_or(1, |s| s.confirm.approvals());
        if needs < 2 || !pending.contains(&step) {
            continue;
        }
        out.extend(by.iter().map(|who| (step.clone(), who.clone())));
    }
    out
}

/// Map the restore steps recorded `ok` (service, step, host → command) onto `runbook`: by
/// name, and when the runbook `changed`, also by the same command on the same host.
fn recorded_ok(
    out: &mut Replay,
    ok_steps: IndexMap<(ServiceId, String, HostId), String>,
    runbook: &Runbook,
    changed: bool,
) {
    for ((service, step, host), command) in ok_steps {
        let mut found: Vec<StepRef> = StepRef::named(runbook, &service, Phase::Restore, &step)
            .into_iter()
            .collect();
        if changed {
            found.extend(same_command(runbook, &service, &host, &command));
        }
        found.sort();
        found.dedup();
        if found.is_empty() {
            out.unknown_steps.push((service, step, host.clone()));
        }
        for step in found {
            if !out
                .facts
                .restored_steps
                .contains(&(step.clone(), host.clone()))
            {
                out.facts.restored_steps.push((step, host.clone()));
            }
        }
    }
}

/// The restore steps of `service` that run `command` on `host` (as expanded and shown).
fn same_command(
    runbook: &Runbook,
    service: &ServiceId,
    host: &HostId,
    command: &str,
) -> Vec<StepRef> {
    let Some(s) = runbook.services.iter().find(|s| &s.id == service) else {
        return Vec::new();
    };
    s.restores
        .iter()
        .enumerate()
        .filter(|(_, step)| {
            step.hosts.contains(host)
                && !command.is_empty()
                && runbook.expand(&step.action, service, host).shown == command
        })
        .map(|(index, _)| StepRef {
            service: service.clone(),
            phase: Phase::Restore,
            index,
        })
        .collect()
}

/// The runbook differs from the one the journal began with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunbookMismatch {
    #[error(
        "runbook '{path}' changed since the journal began (sha256 {actual}, the journal records {recorded}); pass --force to resume anyway"
    )]
    Changed {
        path: String,
        recorded: String,
        actual: String,
    },
    #[error("the journal has no run_started event, so it cannot be resumed")]
    NoRunStarted,
}

/// Check `runbook.sha256` against the journal's `run_started.runbook_sha256`.
pub fn check_runbook(replay: &Replay, runbook: &Runbook) -> Result<(), RunbookMismatch> {
    let recorded = replay
        .runbook_sha256
        .as_ref()
        .ok_or(RunbookMismatch::NoRunStarted)?;
    if *recorded == runbook.sha256 {
        Ok(())
    } else {
        Err(RunbookMismatch::Changed {
            path: runbook.path.display().to_string(),
            recorded: recorded.clone(),
            actual: runbook.sha256.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::engine::Mode;

    fn runbook(restores: &[(&str, &str)], extra: &str) -> Runbook {
        let mut toml = String::from(
            "[hosts.op]\ntransport = \"local\"\n\n[[service]]\nid = \"web\"\nhosts = [\"op\"]\n\
             [[service.check]]\nname = \"up\"\nrun = \"true\"\n",
        );
        for (name, run) in restores {
            let _ = write!(
                toml,
                "[[service.restore]]\nname = \"{name}\"\nrun = \"{run}\"\n"
            );
        }
        toml.push_str(extra);
        crate::runbook::load_text(&toml, std::path::Path::new("rb.toml"), &[]).expect("valid")
    }

    fn record(seq: u64, event: Event) -> Record {
        Record {
            seq,
            ts: chrono::DateTime::UNIX_EPOCH,
            event,
            prev: String::new(),
            hash: "0123456789abcdef0123".into(),
        }
    }

    /// A run of `rb` whose restore step `name` ran `command` ok on `op`.
    fn journal(rb: &Runbook, name: &str, command: &str) -> Vec<Record> {
        let (service, host) = (ServiceId::new("web"), HostId::new("op"));
        vec![
            record(
                1,
                crate::session::run_started(rb, "kim", Mode::Incident, None),
            ),
            record(
                2,
                Event::StepStarted {
                    service: service.clone(),
                    phase: Phase::Restore,
                    step: name.into(),
                    host: host.clone(),
                    attempt: 1,
                    command: command.into(),
                },
            ),
            record(
                3,
                Event::StepFinished {
                    service,
                    phase: Phase::Restore,
                    step: name.into(),
                    host,
                    attempt: 1,
                    outcome: StepOutcome::Ok,
                    exit_code: Some(0),
                    duration_ms: 1,
                    error: None,
                },
            ),
        ]
    }

    fn recorded(replay: &Replay) -> Vec<usize> {
        replay
            .facts
            .restored_steps
            .iter()
            .map(|(s, _)| s.index)
            .collect()
    }

    #[test]
    fn a_changed_runbook_keeps_a_renamed_step_with_the_same_command_recorded_ok() {
        let before = runbook(&[("start", "systemctl start web")], "");
        let records = journal(&before, "start", "systemctl start web");
        let renamed = runbook(
            &[("prepare", "true"), ("bring up", "systemctl start web")],
            "",
        );
        let replayed = replay(&records, &renamed);
        assert_eq!(recorded(&replayed), [1], "the same command, renamed");
        assert!(replayed.unknown_steps.is_empty());

        // Another command under the old name still counts (by name), never less.
        let edited = runbook(&[("start", "systemctl restart web")], "");
        assert_eq!(recorded(&replay(&records, &edited)), [0]);
    }

    #[test]
    fn an_unchanged_runbook_matches_by_name_only() {
        let rb = runbook(
            &[
                ("start", "systemctl start web"),
                ("again", "systemctl start web"),
            ],
            "",
        );
        let records = journal(&rb, "start", "systemctl start web");
        assert_eq!(recorded(&replay(&records, &rb)), [0]);
    }

    #[test]
    fn services_the_runbook_dropped_are_listed_with_their_last_state() {
        let rb = runbook(&[("start", "true")], "");
        let mut records = journal(&rb, "start", "true");
        for (seq, (service, to)) in [
            ("mail", ServiceState::Failed),
            ("web", ServiceState::Restored),
        ]
        .into_iter()
        .enumerate()
        {
            records.push(record(
                10 + seq as u64,
                Event::ServiceState {
                    service: ServiceId::new(service),
                    from: ServiceState::Unknown,
                    to,
                    reason: None,
                },
            ));
        }
        let replayed = replay(&records, &rb);
        assert_eq!(
            replayed.removed,
            [(ServiceId::new("mail"), ServiceState::Failed)]
        );
    }

    #[test]
    fn only_a_restore_question_left_open_is_asked_again_and_an_older_journals_counts_as_one() {
        let rb = runbook(&[("start", "true")], "");
        let asked = |phase| Event::Asked {
            service: ServiceId::new("web"),
            step: "start".into(),
            phase,
            question: crate::journal::event::QuestionKind::Approval,
        };
        let pending = |phase| {
            let mut records = journal(&rb, "start", "true");
            records.push(record(4, asked(phase)));
            replay(&records, &rb).facts.pending
        };
        // The undo of `start` was waiting: not the restore step of that name.
        assert!(pending(Some(Phase::Undo)).is_empty());
        let start = StepRef {
            service: ServiceId::new("web"),
            phase: Phase::Restore,
            index: 0,
        };
        assert_eq!(pending(Some(Phase::Restore)), std::slice::from_ref(&start));
        assert_eq!(pending(None), [start]);
    }
}
