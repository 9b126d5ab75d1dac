//! The timeline pane's lines: journal events as `time · who · what`, bounded in memory (the
//! journal itself keeps everything). Formatting only; no IO.

use std::collections::VecDeque;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::journal::Event;

/// Timeline lines kept for the screen.
pub const DEFAULT_TIMELINE_LINES: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineLine {
    pub time: String,
    pub who: String,
    pub what: String,
}

#[derive(Debug)]
pub struct Timeline {
    lines: VecDeque<TimelineLine>,
    cap: usize,
    dropped: u64,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new(DEFAULT_TIMELINE_LINES)
    }
}

impl Timeline {
    pub fn new(cap: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn lines(&self, start: usize, count: usize) -> impl Iterator<Item = &TimelineLine> {
        let start = start.min(self.lines.len());
        let end = start.saturating_add(count).min(self.lines.len());
        self.lines.range(start..end)
    }

    /// Add an event; output lines are not timeline entries (they live in the output pane).
    pub fn push(&mut self, ts: DateTime<Utc>, event: &Event) {
        let Some((who, what)) = describe(event) else {
            return;
        };
        self.lines.push_back(TimelineLine {
            time: ts.format("%H:%M:%S").to_string(),
            who,
            what,
        });
        if self.lines.len() > self.cap {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }
}

const ENGINE: &str = "bringup";

/// Who did it and what happened, in one line.
#[allow(clippy::too_many_lines, reason = "one arm per event kind")]
pub fn describe(event: &Event) -> Option<(String, String)> {
    let line = match event {
        Event::RunStarted {
            runbook,
            operator,
            mode,
            ..
        } => (
            operator.clone(),
            format!("run started ({}) on '{runbook}'", mode_word(*mode)),
        ),
        Event::ServiceState {
            service,
            from,
            to,
            reason,
        } => (
            ENGINE.to_string(),
            match reason {
                Some(r) => format!("{service} {from} → {to}: {r}"),
                None => format!("{service} {from} → {to}"),
            },
        ),
        Event::StepStarted {
            service,
            phase,
            step,
            host,
            attempt,
            command,
        } => (
            host.to_string(),
            format!("{service} {phase} '{step}' #{attempt} started: {command}"),
        ),
        Event::StepOutput { .. } => return None,
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
        } => {
            let mut what = format!("{service} {phase} '{step}' #{attempt} {outcome}");
            if let Some(code) = exit_code {
                let _ = write!(what, " exit {code}");
            }
            let _ = write!(what, " in {}", crate::tui::view::fmt_millis(*duration_ms));
            if let Some(e) = error {
                let _ = write!(what, ": {e}");
            }
            (host.to_string(), what)
        }
        Event::Approval {
            service,
            step,
            decision,
            operator,
        } => (
            operator.clone(),
            format!(
                "{} '{step}' of {service}",
                match decision {
                    crate::engine::Decision::Approved => "approved",
                    crate::engine::Decision::Declined => "declined",
                }
            ),
        ),
        Event::Manual {
            service,
            step,
            outcome,
            operator,
        } => (
            operator.clone(),
            format!(
                "marked manual '{step}' of {service} {}",
                match outcome {
                    crate::engine::ManualOutcome::Done => "done",
                    crate::engine::ManualOutcome::Failed => "failed",
                }
            ),
        ),
        Event::Note { operator, text } => (operator.clone(), format!("note: {text}")),
        Event::OperatorAction {
            operator,
            service,
            action,
            reason,
        } => (
            operator.clone(),
            match reason {
                Some(r) => format!("{action} {service}: {r}"),
                None => format!("{action} {service}"),
            },
        ),
        Event::HostKeyAccepted {
            host,
            fingerprint,
            operator,
        } => (
            operator.clone(),
            format!("accepted host key of {host} ({fingerprint})"),
        ),
        Event::Resumed { from_seq, forced } => (
            ENGINE.to_string(),
            format!(
                "resumed after seq {from_seq}{}",
                if *forced { " (forced)" } else { "" }
            ),
        ),
        Event::RunFinished { outcome, .. } => {
            (ENGINE.to_string(), format!("run finished: {outcome}"))
        }
    };
    Some(line)
}

fn mode_word(mode: crate::engine::Mode) -> &'static str {
    match mode {
        crate::engine::Mode::Incident => "incident",
        crate::engine::Mode::Drill => "drill",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::model::ServiceId;

    fn ts() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T08:14:03.120Z")
            .expect("valid time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_note_reads_time_who_what() {
        let mut t = Timeline::default();
        t.push(
            ts(),
            &Event::Note {
                operator: "alice".into(),
                text: "VIP moved".into(),
            },
        );
        let line = t.lines(0, 1).next().expect("one line");
        assert_eq!(
            (line.time.as_str(), line.who.as_str(), line.what.as_str()),
            ("08:14:03", "alice", "note: VIP moved")
        );
    }

    #[test]
    fn output_events_stay_out_of_the_timeline_and_it_is_bounded() {
        let mut t = Timeline::new(2);
        let out = Event::StepOutput {
            service: ServiceId::new("s"),
            step: "x".into(),
            host: crate::runbook::model::HostId::new("h"),
            text: "hi".into(),
            file: None,
        };
        t.push(ts(), &out);
        assert!(t.is_empty());
        for i in 0..3 {
            t.push(
                ts(),
                &Event::Note {
                    operator: "a".into(),
                    text: i.to_string(),
                },
            );
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.dropped(), 1);
        assert_eq!(t.lines(0, 1).next().expect("line").what, "note: 1");
    }
}
