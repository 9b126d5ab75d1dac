//! `run`'s end-of-step groups. For a step on several hosts, each host's output (masked, as the
//! driver shows it) and end are kept, bounded, until no host of the step runs; then one line
//! per group of hosts that printed the same and ended alike (`crate::gather`), `clush -b`
//! style. A step on more than [`LIVE_HOSTS`] hosts prints no live output: each group's last
//! lines follow its line instead. Retries and batches end a step more than once: each time
//! no host of it runs, what ended since is told.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};

use crate::driver::Entry;
use crate::engine::state::{Phase, StepOutcome, StepRef};
use crate::export::describe::outcome_detail;
use crate::gather::{Digest, Fingerprint, gather};
use crate::journal::Event;
use crate::runbook::model::{HostId, Runbook, ServiceId};

/// Up to this many hosts, a step's output lines are printed as they come (labelled by host:
/// readable interleaved), and its groups say only whether the hosts agreed.
pub(super) const LIVE_HOSTS: usize = crate::gather::FOLD_ABOVE;
/// Lines of output printed under a gathered group (the journal has every line).
pub(super) const GROUP_LINES: usize = 50;
/// Characters of host names in a group's line before they are cut to `first … last`.
const NAMES_WIDTH: usize = 60;
/// Characters of host names labelling a gathered group's output lines.
const LABEL_WIDTH: usize = 24;

/// How one host's attempt ended: hosts group only when this is the same too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct End {
    outcome: StepOutcome,
    exit_code: Option<i32>,
    error: Option<String>,
}

#[derive(Default)]
struct HostOutput {
    digest: Digest,
    tail: VecDeque<String>,
    lines: u64,
    end: Option<End>,
}

struct StepHosts {
    service: ServiceId,
    phase: Phase,
    name: String,
    hosts: Vec<HostId>,
    running: HashSet<HostId>,
    seen: HashMap<HostId, HostOutput>,
    ended_at: Option<DateTime<Utc>>,
}

/// One group, ready to print: its line, then (gathered steps) its output lines.
pub(super) struct Told {
    pub ts: DateTime<Utc>,
    pub ok: bool,
    pub line: String,
    pub label: String,
    pub output: Vec<String>,
    /// Earlier lines not shown (the journal has them).
    pub earlier: u64,
}

/// The steps on several hosts that are running or have ended since they were last told.
#[derive(Default)]
pub(super) struct Groups {
    steps: HashMap<StepRef, StepHosts>,
}

impl Groups {
    /// Whether the step's output waits for its end instead of being printed as it comes.
    pub(super) fn gathers(runbook: &Runbook, step: &StepRef) -> bool {
        step.step(runbook)
            .is_some_and(|s| s.hosts.len() > LIVE_HOSTS)
    }

    pub(super) fn on_event(&mut self, runbook: &Runbook, entry: &Entry) {
        match &entry.event {
            Event::StepStarted {
                service,
                phase,
                step,
                host,
                ..
            } => {
                let Some(r) = StepRef::named(runbook, service, *phase, step) else {
                    return;
                };
                let Some(hosts) = r.step(runbook).map(|s| s.hosts.clone()) else {
                    return;
                };
                if hosts.len() < 2 {
                    return;
                }
                let s = self.steps.entry(r).or_insert_with(|| StepHosts {
                    service: service.clone(),
                    phase: *phase,
                    name: step.clone(),
                    hosts,
                    running: HashSet::new(),
                    seen: HashMap::new(),
                    ended_at: None,
                });
                s.running.insert(host.clone());
                // A retry is told by its own attempt's output.
                s.seen.insert(host.clone(), HostOutput::default());
            }
            Event::StepFinished {
                service,
                phase,
                step,
                host,
                outcome,
                exit_code,
                error,
                ..
            } => {
                let Some(r) = StepRef::named(runbook, service, *phase, step) else {
                    return;
                };
                let Some(s) = self.steps.get_mut(&r) else {
                    return;
                };
                s.running.remove(host);
                s.ended_at = Some(entry.ts);
                s.seen.entry(host.clone()).or_default().end = Some(End {
                    outcome: *outcome,
                    exit_code: *exit_code,
                    error: error.clone(),
                });
            }
            _ => {}
        }
    }

    /// Lines of output (each ending in `\n`) from one host's running step.
    pub(super) fn on_output(&mut self, step: &StepRef, host: &HostId, lines: &str) {
        let Some(out) = self.steps.get_mut(step).and_then(|s| s.seen.get_mut(host)) else {
            return;
        };
        out.digest.update(lines);
        for line in lines.lines() {
            out.lines += 1;
            if out.tail.len() == GROUP_LINES {
                out.tail.pop_front();
            }
            out.tail.push_back(line.to_string());
        }
    }

    /// The groups of every step no host of which runs any more, in the order of their hosts;
    /// those steps are forgotten until they start again.
    pub(super) fn ended(&mut self, runbook: &Runbook) -> Vec<Told> {
        let done: Vec<StepRef> = self
            .steps
            .iter()
            .filter(|(_, s)| s.running.is_empty() && s.ended_at.is_some())
            .map(|(r, _)| r.clone())
            .collect();
        let mut told = Vec::new();
        let mut done = done;
        done.sort_by_key(|r| self.steps.get(r).and_then(|s| s.ended_at));
        for r in done {
            if let Some(s) = self.steps.remove(&r) {
                told.extend(s.tell(Self::gathers(runbook, &r)));
            }
        }
        told
    }
}

impl StepHosts {
    fn tell(mut self, gathered: bool) -> Vec<Told> {
        let ts = self.ended_at.unwrap_or_default();
        let ended: Vec<(HostId, (End, Fingerprint))> = self
            .hosts
            .iter()
            .filter_map(|h| {
                let out = self.seen.get(h)?;
                let end = out.end.clone()?;
                Some((h.clone(), (end, out.digest.value())))
            })
            .collect();
        gather(ended)
            .into_iter()
            .map(|group| {
                let (end, _) = &group.key;
                let first = self.seen.remove(&group.hosts[0]).unwrap_or_default();
                let detail = outcome_detail(end.outcome, end.exit_code, end.error.as_deref());
                let said = match (first.lines, gathered, group.hosts.len()) {
                    (0, _, 1) => ", no output".to_string(),
                    (0, _, _) => ", none printed anything".to_string(),
                    (1, true, _) => ", 1 line:".to_string(),
                    (n, true, _) => format!(", {n} lines:"),
                    (1, false, 1) => ", 1 line".to_string(),
                    (n, false, 1) => format!(", {n} lines"),
                    (1, false, _) => ", the same 1 line".to_string(),
                    (n, false, _) => format!(", the same {n} lines"),
                };
                let line = format!(
                    "{}: {} '{}' on {}: {detail}{said}",
                    self.service,
                    self.phase.as_str(),
                    self.name,
                    group.heading(NAMES_WIDTH)
                );
                let (output, earlier) = if gathered {
                    let shown = first.tail.len() as u64;
                    (first.tail.into_iter().collect(), first.lines - shown)
                } else {
                    (Vec::new(), 0)
                };
                Told {
                    ts,
                    ok: end.outcome == StepOutcome::Ok,
                    line,
                    label: crate::gather::names(&group.hosts, LABEL_WIDTH),
                    output,
                    earlier,
                }
            })
            .collect()
    }
}
