//! The timeline pane's lines: journal events as `time · who · what` with a tone, in the words
//! of `export::describe` (one way to tell the story), bounded in memory (the journal itself
//! keeps everything). No IO, no styling: the theme maps the tone.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::export::describe::{Tone, describe};
use crate::journal::Event;

/// Timeline lines kept for the screen.
pub const DEFAULT_TIMELINE_LINES: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineLine {
    pub time: String,
    pub who: String,
    pub what: String,
    pub tone: Tone,
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
    /// Step starts are: a live view shows what is running.
    pub fn push(&mut self, ts: DateTime<Utc>, event: &Event) {
        let Some(d) = describe(event) else {
            return;
        };
        self.lines.push_back(TimelineLine {
            time: ts.format("%H:%M:%S").to_string(),
            who: d.who.to_string(),
            what: d.what,
            tone: d.tone,
        });
        if self.lines.len() > self.cap {
            self.lines.pop_front();
            self.dropped += 1;
        }
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
                provenance: crate::journal::event::Provenance::default(),
            },
        );
        let line = t.lines(0, 1).next().expect("one line");
        assert_eq!(
            (line.time.as_str(), line.who.as_str(), line.what.as_str()),
            ("08:14:03", "alice", "Note: VIP moved")
        );
        assert_eq!(line.tone, Tone::Neutral);
    }

    #[test]
    fn output_events_stay_out_of_the_timeline_and_it_is_bounded() {
        let mut t = Timeline::new(2);
        let out = Event::StepOutput {
            service: ServiceId::new("s"),
            step: "x".into(),
            host: crate::runbook::model::HostId::new("h"),
            text: "hi".into(),
            raw: None,
            size: None,
            sha256: None,
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
                    provenance: crate::journal::event::Provenance::default(),
                },
            );
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.dropped(), 1);
        assert_eq!(t.lines(0, 1).next().expect("line").what, "Note: 1");
    }
}
