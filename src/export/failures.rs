//! Why steps failed: for each restore, verify or inject step whose last result on a host is
//! not `ok`, the last lines it printed, as the journal holds them (already masked), bounded
//! in count and width. Pure: fed records one by one, keeps only steps in flight and failures.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::engine::state::{Phase, StepOutcome};
use crate::export::describe::outcome_detail;
use crate::journal::event::Event;
use crate::journal::record::Record;
use crate::runbook::model::{HostId, ServiceId};

/// Lines of output kept per failed step and host.
pub const TAIL_LINES: usize = 10;
/// Characters kept of each line; longer lines are cut and end in `…`.
pub const LINE_CHARS: usize = 200;

/// One step that ended badly on one host, with the end of what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// The seq of its `step_finished`.
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub service: ServiceId,
    pub phase: Phase,
    pub step: String,
    pub host: HostId,
    pub attempt: u32,
    /// `failed (exit 32)`, `timeout`, `error (connection lost…)`.
    pub detail: String,
    /// The last [`TAIL_LINES`] lines of the attempt's output, each at most [`LINE_CHARS`]
    /// characters (plus `…` when cut). Raw text: renderers make it safe for their format.
    pub tail: Vec<String>,
    /// Lines the attempt printed in all.
    pub lines: u64,
}

impl StepFailure {
    /// The last line with something on it: the likeliest reason, for one-line summaries.
    pub fn last_words(&self) -> Option<&str> {
        self.tail
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
    }
}

/// Failures alike but for their host, told once (`crate::gather`): same phase, service,
/// step, outcome and output. `first` is the earliest; `hosts` every host it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureGroup<'a> {
    pub first: &'a StepFailure,
    pub hosts: Vec<HostId>,
}

/// Width of the host names in a group's heading before they are cut to `first … last`.
pub const NAMES_WIDTH: usize = 60;

impl FailureGroup<'_> {
    /// `h25`, or `2 hosts: h[07,19]`.
    pub fn hosts_heading(&self) -> String {
        crate::gather::heading(&self.hosts, NAMES_WIDTH)
    }
}

/// The failures (in the order they happened) folded: hosts whose step failed alike and
/// printed the same are one group, in the order of its first failure.
pub fn folded(failures: &[StepFailure]) -> Vec<FailureGroup<'_>> {
    let same = |f: &StepFailure| {
        (
            f.phase,
            f.service.clone(),
            f.step.clone(),
            f.detail.clone(),
            f.tail.clone(),
            f.lines,
        )
    };
    crate::gather::gather(failures.iter().map(|f| (f.host.clone(), same(f))))
        .into_iter()
        .filter_map(|g| {
            let first = failures
                .iter()
                .find(|f| f.host == g.hosts[0] && same(f) == g.key)?;
            Some(FailureGroup {
                first,
                hosts: g.hosts,
            })
        })
        .collect()
}

type Key = (ServiceId, String, HostId);

#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    total: u64,
    /// The last line's start, while its chunk ended without a newline (bounded by `cut`).
    partial: Option<String>,
}

impl Tail {
    /// One `step_output` chunk: its lines, the first joined to the line the last chunk cut.
    /// (Older journals have one line per event, without its newline.)
    fn push(&mut self, text: &str, chunked: bool) {
        let (body, open) = match text.strip_suffix('\n') {
            Some(body) => (body, false),
            None => (text, chunked),
        };
        // Lines that later lines of this chunk push out of the tail are only counted: a
        // step printing two million lines is read back without a copy of each.
        let complete = memchr::memchr_iter(b'\n', body.as_bytes()).count() + usize::from(!open);
        let mut pieces = body.split('\n').enumerate().peekable();
        while let Some((i, piece)) = pieces.next() {
            if i + TAIL_LINES < complete {
                self.partial = None;
                self.total += 1;
                continue;
            }
            let line = match self.partial.take() {
                Some(mut start) => {
                    // Already cut to width: the rest of the line is not shown anyway.
                    if !start.ends_with('…') {
                        start.push_str(piece);
                    }
                    start
                }
                None => piece.to_string(),
            };
            if open && pieces.peek().is_none() {
                self.partial = Some(cut(&line));
                break;
            }
            self.line(&line);
        }
    }

    fn line(&mut self, line: &str) {
        self.total += 1;
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines
            .push_back(cut(line.strip_suffix('\r').unwrap_or(line)));
    }

    /// The step ended: a last line without a newline counts too.
    fn finish(mut self) -> Self {
        if let Some(line) = self.partial.take() {
            self.line(&line);
        }
        self
    }
}

fn cut(line: &str) -> String {
    match line.char_indices().nth(LINE_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// Follows a journal's records; [`Tracker::finish`] gives the failures still standing.
#[derive(Default)]
pub struct Tracker {
    running: HashMap<Key, Tail>,
    /// The latest failure per phase, step and host; a later `ok` removes it.
    failed: IndexMap<(Phase, Key), StepFailure>,
}

impl Tracker {
    pub fn record(&mut self, r: &Record) {
        match &r.event {
            Event::StepStarted {
                service,
                step,
                host,
                ..
            } => {
                self.running.insert(
                    (service.clone(), step.clone(), host.clone()),
                    Tail::default(),
                );
            }
            Event::StepOutput {
                service,
                step,
                host,
                text,
                size,
                ..
            } => {
                if let Some(tail) =
                    self.running
                        .get_mut(&(service.clone(), step.clone(), host.clone()))
                {
                    tail.push(text, size.is_some());
                }
            }
            Event::StepFinished {
                service,
                phase,
                step,
                host,
                attempt,
                outcome,
                exit_code,
                error,
                ..
            } => {
                let key = (service.clone(), step.clone(), host.clone());
                let tail = self.running.remove(&key).unwrap_or_default().finish();
                if !matches!(phase, Phase::Restore | Phase::Verify | Phase::Inject) {
                    return;
                }
                if *outcome == StepOutcome::Ok {
                    self.failed.shift_remove(&(*phase, key));
                    return;
                }
                // Never started (SPEC "Fleets"): nothing failed there, and it printed nothing;
                // the action items name those hosts.
                if *outcome == StepOutcome::NotRun {
                    return;
                }
                let failure = StepFailure {
                    seq: r.seq,
                    ts: r.ts,
                    service: service.clone(),
                    phase: *phase,
                    step: step.clone(),
                    host: host.clone(),
                    attempt: *attempt,
                    detail: outcome_detail(*outcome, *exit_code, error.as_deref()),
                    tail: tail.lines.into_iter().collect(),
                    lines: tail.total,
                };
                // Removed first so that the failure takes its place in time order.
                self.failed.shift_remove(&(*phase, key.clone()));
                self.failed.insert((*phase, key), failure);
            }
            _ => {}
        }
    }

    /// The failures whose step never succeeded afterwards, in the order they happened.
    pub fn finish(self) -> Vec<StepFailure> {
        let mut out: Vec<StepFailure> = self.failed.into_values().collect();
        out.sort_by_key(|f| f.seq);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_keeps_the_last_lines_each_cut_to_width() {
        let mut t = Tail::default();
        for i in 0..25 {
            t.push(&format!("line {i}"), false);
        }
        t.push(&"x".repeat(500), false);
        t.push("a\nb\n", true);
        assert_eq!(t.total, 28);
        assert_eq!(t.lines.len(), TAIL_LINES);
        assert_eq!(t.lines[TAIL_LINES - 1], "b");
        assert_eq!(t.lines[TAIL_LINES - 2], "a");
        let long = &t.lines[TAIL_LINES - 3];
        assert_eq!(long.chars().count(), LINE_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(t.lines[0], "line 18");
    }

    #[test]
    fn a_line_cut_between_chunks_is_one_line() {
        let mut t = Tail::default();
        t.push("volume 'mailstore-07' is deg", true);
        t.push("raded\nretry", true);
        let t = t.finish();
        assert_eq!(t.lines, ["volume 'mailstore-07' is degraded", "retry"]);
        assert_eq!(t.total, 2);
    }

    #[test]
    fn failures_alike_but_for_their_host_fold_into_one_group() {
        let failure = |seq: u64, host: &str, said: &str| StepFailure {
            seq,
            ts: DateTime::<Utc>::default(),
            service: ServiceId::new("db"),
            phase: Phase::Restore,
            step: "mount".into(),
            host: HostId::new(host),
            attempt: 1,
            detail: "failed (exit 1)".into(),
            tail: vec![said.to_string()],
            lines: 1,
        };
        let all = [
            failure(1, "h07", "disk full"),
            failure(2, "h25", "no such device"),
            failure(3, "h19", "disk full"),
        ];
        let groups = folded(&all);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].first.seq, 1);
        assert_eq!(groups[0].hosts_heading(), "2 hosts: h[07,19]");
        assert_eq!(groups[1].hosts_heading(), "h25");
    }

    #[test]
    fn cutting_respects_character_boundaries() {
        let s = "é".repeat(LINE_CHARS + 5);
        let c = cut(&s);
        assert_eq!(c.chars().count(), LINE_CHARS + 1);
        assert_eq!(cut("short"), "short");
    }
}
