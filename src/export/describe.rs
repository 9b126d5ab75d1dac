//! One journal event in words: who acted and what happened, with a tone for colour or marks.
//! Shared by the post-mortem timeline, and meant for the TUI timeline and `run`'s progress
//! lines too, so that all three tell the story the same way. Takes an `Event` alone (no
//! `seq`, no time, no IO); never styles, never decides which events a caller shows.

use std::fmt::Write as _;

use crate::engine::state::{Decision, ManualOutcome, Mode, Phase, ServiceState, StepOutcome};
use crate::journal::event::{
    DrillOutcome, DrillPhase, Event, Identity, OperatorActionKind, Provenance, QuestionKind,
};

/// The one who acts when no operator does.
pub const ENGINE: &str = "bringup";

/// Who did what an event records: bringup itself, bringup on one host (a step ran there), or
/// an operator by name. Shown as `bringup`, `bringup@<host>` or the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Bringup,
    BringupOn(crate::runbook::model::HostId),
    Operator(String),
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Bringup => f.write_str(ENGINE),
            Actor::BringupOn(host) => write!(f, "{ENGINE}@{host}"),
            Actor::Operator(name) => f.write_str(name),
        }
    }
}

/// How an event reads: a front end maps it to a colour (TUI theme) or a mark (`run`: `✓`/`✗`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Facts with no verdict: the run starting, notes, resumes.
    Neutral,
    /// Work under way: checking, restoring, verifying, a step started.
    Progress,
    /// Something passed or came back: healthy, restored, a step ok, approved, done.
    Good,
    /// Needs attention without being a failure: partial, blocked, skipped, an operator acting
    /// out of the plan, a host key accepted.
    Warn,
    /// Something went wrong: down, failed, a step failed or timed out, declined.
    Bad,
}

/// An event in words. `who` acted; `what` is one line (no newline of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub who: Actor,
    pub what: String,
    pub tone: Tone,
}

/// Services named in a line of text: `dns, db`.
pub fn service_list(ids: &[crate::runbook::model::ServiceId]) -> String {
    let names: Vec<&str> = ids
        .iter()
        .map(crate::runbook::model::ServiceId::as_str)
        .collect();
    names.join(", ")
}

/// A drill phase's word, as journaled.
pub fn drill_phase_word(phase: DrillPhase) -> &'static str {
    match phase {
        DrillPhase::Baseline => "baseline",
        DrillPhase::Inject => "inject",
        DrillPhase::Detect => "detect",
        DrillPhase::Restore => "restore",
        DrillPhase::Cleanup => "cleanup",
        DrillPhase::Finished => "finished",
    }
}

/// Describe every kind but `step_output` (output is shown as output, not as a story line).
/// Callers choose what to show: the post-mortem leaves `step_started` out, a progress view
/// keeps it.
// One flat arm per event kind: splitting it would only scatter the kinds.
#[allow(clippy::too_many_lines)]
pub fn describe(event: &Event) -> Option<Described> {
    let (who, what, tone) = match event {
        Event::RunStarted {
            runbook,
            operator,
            mode,
            version,
            executor,
            ..
        } => (
            Actor::Operator(operator.clone()),
            format!(
                "Run started ({}) on runbook '{runbook}', bringup {version}{}",
                mode_word(*mode),
                executor
                    .as_ref()
                    .map_or_else(String::new, |e| match e.identity {
                        Identity::Verified => format!(" (operator verified, key {})", e.key),
                        Identity::Unverified | Identity::Local => format!(
                            " (operator NOT verified: key {} is not listed for them)",
                            e.key
                        ),
                    })
            ),
            Tone::Neutral,
        ),
        Event::ServiceState {
            service,
            from,
            to,
            reason,
        } => (
            Actor::Bringup,
            format!("{service}: {from} → {to}{}", dash(reason.as_deref())),
            state_tone(*to),
        ),
        Event::StepStarted {
            service,
            phase,
            step,
            host,
            attempt,
            command,
        } => (
            Actor::BringupOn(host.clone()),
            format!(
                "{service}: {phase} '{step}'{} started: {command}",
                attempt_note(*attempt)
            ),
            Tone::Progress,
        ),
        // The outbox's bookkeeping: only what reached a webhook, or did not, is a story line.
        Event::StepOutput { .. } | Event::NotifyQueued { .. } => return None,
        Event::StepFinished {
            service,
            phase,
            step,
            host,
            attempt,
            outcome,
            exit_code,
            duration_ms,
            error,
        } => (
            Actor::BringupOn(host.clone()),
            format!(
                "{service}: {phase} '{step}'{} {} in {}",
                attempt_note(*attempt),
                outcome_detail(*outcome, *exit_code, error.as_deref()),
                crate::export::metrics::human_ms(i64::try_from(*duration_ms).unwrap_or(i64::MAX)),
            ),
            if *outcome == StepOutcome::Ok {
                Tone::Good
            } else {
                Tone::Bad
            },
        ),
        Event::StepSkipped {
            service,
            phase,
            step,
            reason,
        } => (
            Actor::Bringup,
            format!("{service}: {phase} '{step}' skipped: {reason}"),
            Tone::Warn,
        ),
        Event::Approval {
            service,
            step,
            phase,
            decision,
            operator,
            provenance,
        } => {
            let (word, tone) = match decision {
                Decision::Approved => ("approved", Tone::Good),
                Decision::Declined => ("declined", Tone::Bad),
            };
            let of = phase_prefix(*phase);
            (
                Actor::Operator(operator.clone()),
                format!(
                    "{service}: {word} {of}'{step}'{}",
                    identity_note(provenance)
                ),
                tone,
            )
        }
        Event::Manual {
            service,
            step,
            outcome,
            operator,
            provenance,
        } => {
            let (word, tone) = match outcome {
                ManualOutcome::Done => ("done", Tone::Good),
                ManualOutcome::Failed => ("failed", Tone::Bad),
            };
            (
                Actor::Operator(operator.clone()),
                format!(
                    "{service}: manual step '{step}' marked {word}{}",
                    identity_note(provenance)
                ),
                tone,
            )
        }
        Event::Note {
            operator,
            text,
            provenance,
        } => (
            Actor::Operator(operator.clone()),
            format!("Note: {text}{}", identity_note(provenance)),
            Tone::Neutral,
        ),
        Event::OperatorAction {
            operator,
            service,
            action,
            reason,
            provenance,
        } => (
            Actor::Operator(operator.clone()),
            match service {
                Some(service) => format!(
                    "{service}: {}{}{}",
                    action_words(action),
                    dash(reason.as_deref()),
                    identity_note(provenance)
                ),
                None => format!(
                    "{}{}{}",
                    capital(action_words(action)),
                    dash(reason.as_deref()),
                    identity_note(provenance)
                ),
            },
            Tone::Warn,
        ),
        Event::Asked {
            service,
            step,
            phase,
            question,
        } => (
            Actor::Bringup,
            match question {
                QuestionKind::Approval => {
                    format!(
                        "{service}: asks to approve {}'{step}'",
                        phase_prefix(*phase)
                    )
                }
                QuestionKind::Manual => format!("{service}: waits for manual step '{step}'"),
            },
            Tone::Neutral,
        ),
        Event::HostKeyAccepted {
            host,
            fingerprint,
            operator,
            provenance,
        } => (
            Actor::Operator(operator.clone()),
            format!(
                "Accepted host key of {host}: {fingerprint}{}",
                identity_note(provenance)
            ),
            Tone::Warn,
        ),
        Event::Resumed {
            from_seq,
            forced,
            operator,
            previous,
            reason,
            ..
        } => {
            let forced = if *forced {
                " (forced: runbook changed)"
            } else {
                ""
            };
            match operator {
                Some(op) => (
                    Actor::Operator(op.clone()),
                    handed_over(op, previous.as_ref(), *reason, *from_seq, forced),
                    Tone::Warn,
                ),
                None => (
                    Actor::Bringup,
                    format!("Run resumed after seq {from_seq}{forced}"),
                    Tone::Neutral,
                ),
            }
        }
        Event::RunFinished {
            outcome, left_down, ..
        } => (
            Actor::Bringup,
            match left_down.as_deref() {
                Some(left) if !left.is_empty() => format!(
                    "Run finished: {outcome}; left down by the drill: {}",
                    service_list(left)
                ),
                _ => format!("Run finished: {outcome}"),
            },
            if outcome == "restored" {
                Tone::Good
            } else {
                Tone::Warn
            },
        ),
        Event::NoticeDue { after_ms } => (
            Actor::Bringup,
            format!(
                "User notice due: the outage passed {}",
                crate::export::metrics::human_ms(i64::try_from(*after_ms).unwrap_or(i64::MAX))
            ),
            Tone::Warn,
        ),
        Event::NotifySent { notify, of_seq, .. } => (
            Actor::Bringup,
            format!("Webhook {} told of seq {of_seq}", notify + 1),
            Tone::Neutral,
        ),
        Event::NotifyFailed {
            notify,
            of_seq,
            attempt,
            status,
            error,
            next_retry_ms,
        } => (
            Actor::Bringup,
            format!(
                "Webhook {} not reached for seq {of_seq} (attempt {attempt}: {}){}",
                notify + 1,
                status.map_or_else(
                    || error.clone().unwrap_or_default(),
                    |s| format!("HTTP {s}")
                ),
                if next_retry_ms.is_some() {
                    "; retrying"
                } else {
                    "; given up"
                }
            ),
            Tone::Warn,
        ),
        Event::WitnessFailed {
            witness,
            target,
            of_seq,
            attempt,
            error,
            next_retry_ms,
        } => (
            Actor::Bringup,
            format!(
                "Witness {} ('{target}') did not take the head at seq {of_seq} (attempt {attempt}: {error}){}",
                witness + 1,
                if next_retry_ms.is_some() {
                    "; retrying"
                } else {
                    "; given up"
                }
            ),
            Tone::Warn,
        ),
        Event::DrillPhase {
            scenario,
            phase,
            outcome,
            reason,
        } => {
            let (what, tone) = match (phase, outcome) {
                (DrillPhase::Baseline, Some(DrillOutcome::Failed)) => {
                    ("refused at baseline".to_string(), Tone::Bad)
                }
                (_, Some(DrillOutcome::Passed)) => ("passed".to_string(), Tone::Good),
                (_, Some(DrillOutcome::Failed)) => ("failed".to_string(), Tone::Bad),
                (phase, None) => (
                    format!("{} phase", drill_phase_word(*phase)),
                    Tone::Progress,
                ),
            };
            (
                Actor::Bringup,
                format!("Drill '{scenario}' {what}{}", dash(reason.as_deref())),
                tone,
            )
        }
        Event::GuardTripped {
            guard,
            host,
            exit_code,
            error,
        } => (
            Actor::BringupOn(host.clone()),
            format!(
                "Guard '{guard}' tripped ({}): no new injects or restores; restoring what was injected",
                exit_code.map_or_else(
                    || error.clone().unwrap_or_else(|| "failed".into()),
                    |c| format!("exit {c}")
                )
            ),
            Tone::Bad,
        ),
        Event::RequestRefused {
            operator,
            key,
            reason,
            asked,
            ..
        } => (
            if operator.is_empty() {
                Actor::Bringup
            } else {
                Actor::Operator(operator.clone())
            },
            format!(
                "Request refused{}{}: {reason}",
                asked
                    .as_deref()
                    .map_or_else(String::new, |a| format!(" ({a})")),
                key.as_deref()
                    .map_or_else(String::new, |k| format!(", signed by key {k}")),
            ),
            Tone::Bad,
        ),
    };
    Some(Described {
        who,
        // Journal text may hold newlines (a reason, a note); a story line is one line.
        what: one_line(&what),
        tone,
    })
}

/// How an operator's event says who it was, after its words: nothing for a request typed at
/// the executing process's terminal (or an older journal), ` (verified, key SHA256:…)` for a
/// signed request checked against allowed signers, ` (identity not verified)` otherwise.
pub fn identity_note(provenance: &Provenance) -> String {
    match (provenance.identity, provenance.key.as_deref()) {
        (Some(Identity::Verified), Some(key)) => format!(" (verified, key {key})"),
        (Some(Identity::Verified), None) => " (verified)".to_string(),
        (Some(Identity::Unverified), _) => " (identity not verified)".to_string(),
        (Some(Identity::Local) | None, _) => String::new(),
    }
}

/// The tone of entering a state.
pub fn state_tone(state: ServiceState) -> Tone {
    match state {
        ServiceState::Unknown => Tone::Neutral,
        ServiceState::Checking | ServiceState::Restoring | ServiceState::Verifying => {
            Tone::Progress
        }
        ServiceState::Healthy | ServiceState::Restored => Tone::Good,
        ServiceState::Partial
        | ServiceState::Blocked
        | ServiceState::Skipped
        | ServiceState::Unreachable
        | ServiceState::Removed
        | ServiceState::Undone => Tone::Warn,
        ServiceState::Down | ServiceState::Failed => Tone::Bad,
    }
}

/// `ok (exit 0)`, `failed (exit 1: why)`, `timeout (timed out after 30s)`.
pub fn outcome_detail(outcome: StepOutcome, exit_code: Option<i32>, error: Option<&str>) -> String {
    let mut s = outcome.as_str().to_string();
    match (exit_code, error) {
        (Some(c), Some(e)) => {
            let _ = write!(s, " (exit {c}: {e})");
        }
        (Some(c), None) => {
            let _ = write!(s, " (exit {c})");
        }
        (None, Some(e)) => {
            let _ = write!(s, " ({e})");
        }
        (None, None) => {}
    }
    s
}

pub fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Incident => "incident",
        Mode::Drill => "drill",
    }
}

/// The phase an answer or a question names, before its step: none for a restore (where
/// questions mostly are, and all of them in journals older than the phase's record).
pub fn phase_prefix(phase: Option<Phase>) -> String {
    match phase {
        Some(phase) if phase != Phase::Restore => format!("{phase} "),
        _ => String::new(),
    }
}

fn attempt_note(attempt: u32) -> String {
    if attempt > 1 {
        format!(" (attempt {attempt})")
    } else {
        String::new()
    }
}

fn dash(reason: Option<&str>) -> String {
    reason.map(|r| format!(" — {r}")).unwrap_or_default()
}

fn one_line(text: &str) -> String {
    if text.contains(['\n', '\r']) {
        text.split(['\n', '\r'])
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ⏎ ")
    } else {
        text.to_string()
    }
}

/// The word with its first letter in capitals.
pub fn capital(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// An operator action as a timeline line says it.
fn action_words(action: &OperatorActionKind) -> &str {
    match action {
        OperatorActionKind::ByHandRestore => "restore started by hand",
        OperatorActionKind::ByHandCheck => "checked by hand",
        OperatorActionKind::Skip => "skipped",
        OperatorActionKind::Inject => "inject run on purpose (drill)",
        OperatorActionKind::AutoOn => "auto mode on",
        OperatorActionKind::AutoOff => "auto mode off",
        OperatorActionKind::Undo => "undo asked",
        OperatorActionKind::Other(word) => word,
    }
}

/// A hand-over in words: "kim took over from lee@host-a (pid 4242): lease lost (after seq
/// 111)".
pub(crate) fn handed_over(
    operator: &str,
    previous: Option<&crate::journal::event::PreviousExecutor>,
    reason: Option<crate::journal::event::HandOver>,
    from_seq: u64,
    forced: &str,
) -> String {
    let from = previous.map_or_else(|| "the previous executor".to_string(), ToString::to_string);
    let why = reason.map_or(String::new(), |r| format!(": {}", r.words()));
    format!("{operator} took over from {from}{why} (after seq {from_seq}){forced}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::Phase;
    use crate::runbook::model::{HostId, ServiceId};

    fn finished(outcome: StepOutcome, exit_code: Option<i32>, attempt: u32) -> Event {
        Event::StepFinished {
            service: ServiceId::new("mail"),
            phase: Phase::Restore,
            step: "restart dovecot".into(),
            host: HostId::new("mail-1"),
            attempt,
            outcome,
            exit_code,
            duration_ms: 2_000,
            error: Some("storage not mounted".into()),
        }
    }

    #[test]
    fn a_step_result_names_bringup_on_the_host_and_reads_good_or_bad() {
        let d = describe(&finished(StepOutcome::Failed, Some(89), 2)).expect("described");
        assert_eq!(d.who, Actor::BringupOn(HostId::new("mail-1")));
        assert_eq!(d.who.to_string(), "bringup@mail-1");
        assert_eq!(
            d.what,
            "mail: restore 'restart dovecot' (attempt 2) failed (exit 89: storage not mounted) in 2.0 s"
        );
        assert_eq!(d.tone, Tone::Bad);
        let ok = describe(&finished(StepOutcome::Ok, Some(0), 1)).expect("described");
        assert_eq!(ok.tone, Tone::Good);
        assert!(!ok.what.contains("attempt"), "{}", ok.what);
    }

    #[test]
    fn operators_are_who_for_their_decisions() {
        let d = describe(&Event::Approval {
            service: ServiceId::new("talk"),
            step: "Start Gateway".into(),
            phase: None,
            decision: Decision::Declined,
            operator: "Kim".into(),
            provenance: crate::journal::event::Provenance::default(),
        })
        .expect("described");
        // Names keep their case: they are what the runbook and the operator wrote.
        assert_eq!(
            (d.who.to_string().as_str(), d.what.as_str()),
            ("Kim", "talk: declined 'Start Gateway'")
        );
        assert_eq!(d.tone, Tone::Bad);
    }

    #[test]
    fn a_take_over_says_who_took_over_from_whom_and_why() {
        let d = describe(&Event::Resumed {
            key: None,
            from_seq: 111,
            forced: false,
            runbook_sha256: None,
            operator: Some("kim".into()),
            identity: Some("local".into()),
            previous: Some(crate::journal::event::PreviousExecutor {
                operator: Some("lee".into()),
                host: Some("host-a".into()),
                pid: Some(4242),
            }),
            reason: Some(crate::journal::event::HandOver::LeaseLost),
        })
        .expect("described");
        assert_eq!(d.who.to_string(), "kim");
        assert_eq!(
            d.what,
            "kim took over from lee@host-a (pid 4242): lease lost (after seq 111)"
        );
        // A journal from before hand-overs were recorded still reads.
        let old: Event = serde_json::from_str(r#"{"kind":"resumed","from_seq":3}"#)
            .expect("an old resumed parses");
        let d = describe(&old).expect("described");
        assert_eq!(d.what, "Run resumed after seq 3");
    }

    #[test]
    fn state_changes_take_the_tone_of_the_state_entered() {
        let d = describe(&Event::ServiceState {
            service: ServiceId::new("mail"),
            from: ServiceState::Checking,
            to: ServiceState::Partial,
            reason: Some("imap login failed\non mail-1".into()),
        })
        .expect("described");
        assert_eq!(d.who, Actor::Bringup);
        assert_eq!(
            d.what,
            "mail: checking → partial — imap login failed ⏎ on mail-1"
        );
        assert_eq!(d.tone, Tone::Warn);
        assert_eq!(state_tone(ServiceState::Restored), Tone::Good);
        assert_eq!(state_tone(ServiceState::Failed), Tone::Bad);
    }

    #[test]
    fn output_is_not_a_story_line_but_a_step_start_is() {
        let out = Event::StepOutput {
            service: ServiceId::new("s"),
            step: "x".into(),
            host: HostId::new("h"),
            text: "hi".into(),
            raw: None,
            size: None,
            sha256: None,
            file: None,
        };
        assert_eq!(describe(&out), None);
        let started = Event::StepStarted {
            service: ServiceId::new("s"),
            phase: Phase::Check,
            step: "probe".into(),
            host: HostId::new("h"),
            attempt: 1,
            command: "curl -fsS http://x".into(),
        };
        let d = describe(&started).expect("described");
        assert_eq!(d.what, "s: check 'probe' started: curl -fsS http://x");
        assert_eq!(d.tone, Tone::Progress);
    }

    #[test]
    fn requests_say_how_their_operator_is_known_and_a_refusal_says_why() {
        let note = |identity, key: Option<&str>| Event::Note {
            operator: "alice".into(),
            text: "paged".into(),
            provenance: Provenance {
                identity,
                key: key.map(str::to_string),
                nonce: None,
            },
        };
        let what = |e: &Event| describe(e).expect("described").what;
        assert_eq!(
            what(&note(Some(Identity::Verified), Some("SHA256:abc"))),
            "Note: paged (verified, key SHA256:abc)"
        );
        assert_eq!(
            what(&note(Some(Identity::Unverified), None)),
            "Note: paged (identity not verified)"
        );
        assert_eq!(what(&note(Some(Identity::Local), None)), "Note: paged");
        assert_eq!(what(&note(None, None)), "Note: paged");
        let refused = describe(&Event::RequestRefused {
            operator: "alice".into(),
            key: Some("SHA256:mallory".into()),
            reason: "the key that signed belongs to 'mallory'".into(),
            code: Some("principal_differs".into()),
            asked: Some("approve 'gate' of 'x'".into()),
        })
        .expect("described");
        assert_eq!(refused.who, Actor::Operator("alice".into()));
        assert_eq!(refused.tone, Tone::Bad);
        assert_eq!(
            refused.what,
            "Request refused (approve 'gate' of 'x'), signed by key SHA256:mallory: the key that signed belongs to 'mallory'"
        );
    }
}
