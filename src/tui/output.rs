//! Bounded in-memory scrollback of step output, one ring per (step, host). The journal keeps
//! every byte; this only keeps what the screen may show, so a runaway command cannot eat memory.
//! Reading never copies: views ask for the visible slice only.

use std::collections::{HashMap, VecDeque};

use crate::engine::state::StepRef;
use crate::runbook::model::HostId;

/// Lines kept per step and host.
pub const DEFAULT_LINES_PER_BUFFER: usize = 5_000;
/// Bytes kept across all buffers before the least recently written ones are dropped.
pub const DEFAULT_TOTAL_BYTES: usize = 48 * 1024 * 1024;
/// A longer line is cut here (the journal has it whole).
pub const MAX_LINE_CHARS: usize = 2_000;
/// Rough per-line bookkeeping cost counted against the byte budget.
const LINE_OVERHEAD: usize = 32;

type Key = (StepRef, HostId);

/// One step's output on one host: the last lines, and how many earlier ones were let go.
#[derive(Debug, Default)]
pub struct OutputBuffer {
    lines: VecDeque<String>,
    /// The last line has no newline yet: the next chunk continues it.
    open_line: bool,
    dropped: u64,
    bytes: usize,
    last_write: u64,
    /// Every byte pushed, in order, dropped lines too: what the step pane folds hosts by.
    digest: crate::gather::Digest,
    fingerprint: crate::gather::Fingerprint,
}

impl OutputBuffer {
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines no longer held here (still in the journal).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Equal for hosts that printed the same (all of it, not only the lines held here).
    pub fn fingerprint(&self) -> &crate::gather::Fingerprint {
        &self.fingerprint
    }

    /// Up to `count` lines from `start`, without copying.
    pub fn lines(&self, start: usize, count: usize) -> impl Iterator<Item = &str> {
        let start = start.min(self.lines.len());
        let end = start.saturating_add(count).min(self.lines.len());
        self.lines.range(start..end).map(String::as_str)
    }

    /// The last line with something on it, passing over the screen's attempt headings.
    pub fn last_said(&self) -> Option<&str> {
        self.lines
            .iter()
            .rev()
            .map(String::as_str)
            .find(|l| !l.trim().is_empty() && !l.starts_with("── attempt "))
    }

    fn push_line(&mut self, line: &str, cap: usize) -> (usize, usize) {
        let clean = crate::text::visible_line(line);
        let line = clip(&clean);
        let added = line.len() + LINE_OVERHEAD;
        self.lines.push_back(line.to_owned());
        self.bytes += added;
        let mut freed = 0;
        while self.lines.len() > cap {
            if let Some(old) = self.lines.pop_front() {
                freed += old.len() + LINE_OVERHEAD;
                self.dropped += 1;
            }
        }
        self.bytes -= freed;
        (added, freed)
    }

    fn clear(&mut self) -> usize {
        self.dropped += self.lines.len() as u64;
        self.lines.clear();
        self.open_line = false;
        std::mem::take(&mut self.bytes)
    }
}

fn clip(line: &str) -> &str {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// Every output buffer, with a per-buffer line cap and a global byte budget.
#[derive(Debug)]
pub struct OutputStore {
    buffers: HashMap<Key, OutputBuffer>,
    /// Each buffer's fingerprint by step, then host: looked up by reference, a frame that
    /// folds a thousand hosts allocates nothing for it.
    prints: HashMap<StepRef, HashMap<HostId, crate::gather::Fingerprint>>,
    lines_per_buffer: usize,
    total_bytes: usize,
    bytes: usize,
    writes: u64,
}

impl Default for OutputStore {
    fn default() -> Self {
        Self::new(DEFAULT_LINES_PER_BUFFER, DEFAULT_TOTAL_BYTES)
    }
}

impl OutputStore {
    pub fn new(lines_per_buffer: usize, total_bytes: usize) -> Self {
        Self {
            buffers: HashMap::new(),
            prints: HashMap::new(),
            lines_per_buffer: lines_per_buffer.max(1),
            total_bytes,
            bytes: 0,
            writes: 0,
        }
    }

    /// Bytes held (text plus bookkeeping estimate).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The fingerprint of every host's output of `step` (see [`OutputBuffer::fingerprint`]).
    pub fn fingerprints(
        &self,
        step: &StepRef,
    ) -> Option<&HashMap<HostId, crate::gather::Fingerprint>> {
        self.prints.get(step)
    }

    pub fn get(&self, step: &StepRef, host: &HostId) -> Option<&OutputBuffer> {
        self.buffers.get(&(step.clone(), host.clone()))
    }

    /// Append a chunk of output. A chunk may end mid-line; the next one continues it.
    pub fn push(&mut self, step: &StepRef, host: &HostId, text: &str) {
        if text.is_empty() {
            return;
        }
        self.writes += 1;
        let cap = self.lines_per_buffer;
        let key = (step.clone(), host.clone());
        let buf = self.buffers.entry(key.clone()).or_default();
        buf.last_write = self.writes;
        // Once per chunk, so a frame reads the fingerprint instead of hashing.
        buf.digest.update(text);
        buf.fingerprint = buf.digest.value();
        self.prints
            .entry(step.clone())
            .or_default()
            .insert(host.clone(), buf.fingerprint);
        let mut rest = text;
        let (mut added, mut freed) = (0, 0);
        if buf.open_line {
            let (head, tail) = match rest.find('\n') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if let Some(last) = buf.lines.back_mut() {
                let before = last.len();
                let room = MAX_LINE_CHARS.saturating_sub(last.chars().count());
                let head = match tail {
                    Some(_) => head.strip_suffix('\r').unwrap_or(head),
                    None => head,
                };
                let clean = crate::text::visible_line(head);
                last.push_str(clip_to(&clean, room));
                added += last.len() - before;
                buf.bytes += last.len() - before;
            }
            match tail {
                Some(t) => {
                    buf.open_line = false;
                    rest = t;
                }
                None => rest = "",
            }
        }
        if !rest.is_empty() {
            let ends_open = !rest.ends_with('\n');
            let body = rest.strip_suffix('\n').unwrap_or(rest);
            for line in body.split('\n') {
                let line = line.strip_suffix('\r').unwrap_or(line);
                let (a, f) = buf.push_line(line, cap);
                added += a;
                freed += f;
            }
            buf.open_line = ends_open;
        }
        self.bytes = self.bytes + added - freed;
        if self.bytes > self.total_bytes {
            self.evict(&key);
        }
    }

    /// A line of the screen's own between two runs of one step on one host (`── attempt 2 ──`),
    /// only once the buffer holds output of an earlier run: the first run needs no heading.
    pub fn separate(&mut self, step: &StepRef, host: &HostId, text: &str) {
        let key = (step.clone(), host.clone());
        let Some(buf) = self.buffers.get_mut(&key).filter(|b| !b.is_empty()) else {
            return;
        };
        self.writes += 1;
        buf.last_write = self.writes;
        buf.open_line = false;
        let (added, freed) = buf.push_line(text, self.lines_per_buffer);
        self.bytes = self.bytes + added - freed;
        if self.bytes > self.total_bytes {
            self.evict(&key);
        }
    }

    /// Over budget: empty the least recently written buffers until the total is three
    /// quarters of the budget again; if the one being written is still over that alone, its
    /// oldest lines go too. The budget holds for all steps and hosts together.
    fn evict(&mut self, keep: &Key) {
        let target = self.total_bytes / 4 * 3;
        let mut order: Vec<(u64, Key)> = self
            .buffers
            .iter()
            .filter(|(k, b)| *k != keep && !b.is_empty())
            .map(|(k, b)| (b.last_write, k.clone()))
            .collect();
        order.sort_unstable_by_key(|(w, _)| *w);
        for (_, key) in order {
            if self.bytes <= target {
                break;
            }
            if let Some(b) = self.buffers.get_mut(&key) {
                self.bytes -= b.clear();
            }
        }
        if let Some(b) = self.buffers.get_mut(keep) {
            while self.bytes > target && b.lines.len() > 1 {
                if let Some(old) = b.lines.pop_front() {
                    let freed = old.len() + LINE_OVERHEAD;
                    b.bytes -= freed;
                    b.dropped += 1;
                    self.bytes -= freed;
                }
            }
        }
    }
}

fn clip_to(s: &str, chars: usize) -> &str {
    match s.char_indices().nth(chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::Phase;
    use crate::runbook::model::ServiceId;

    fn step(i: usize) -> StepRef {
        StepRef {
            service: ServiceId::new("svc"),
            phase: Phase::Restore,
            index: i,
        }
    }

    fn all(b: &OutputBuffer) -> Vec<&str> {
        b.lines(0, usize::MAX).collect()
    }

    #[test]
    fn chunks_split_mid_line_are_joined() {
        let mut s = OutputStore::default();
        let h = HostId::new("h1");
        s.push(&step(0), &h, "hel");
        s.push(&step(0), &h, "lo\nwor");
        s.push(&step(0), &h, "ld\r\n");
        s.push(&step(0), &h, "next\n");
        assert_eq!(
            all(s.get(&step(0), &h).expect("buffer")),
            ["hello", "world", "next"]
        );
    }

    #[test]
    fn a_buffer_keeps_only_its_last_lines_and_counts_the_rest() {
        let mut s = OutputStore::new(3, usize::MAX);
        let h = HostId::new("h1");
        for i in 0..10 {
            s.push(&step(0), &h, &format!("line {i}\n"));
        }
        let b = s.get(&step(0), &h).expect("buffer");
        assert_eq!(all(b), ["line 7", "line 8", "line 9"]);
        assert_eq!(b.dropped(), 7);
    }

    #[test]
    fn the_byte_budget_drops_the_least_recently_written_buffers() {
        let mut s = OutputStore::new(1_000, 40 * 100);
        let h = HostId::new("h1");
        for i in 0..3 {
            for _ in 0..50 {
                s.push(&step(i), &h, "0123456789\n");
            }
        }
        assert!(s.bytes() <= 40 * 100, "{} bytes held", s.bytes());
        assert!(s.get(&step(0), &h).expect("buffer").is_empty());
        assert_eq!(s.get(&step(0), &h).expect("buffer").dropped(), 50);
        assert_eq!(s.get(&step(2), &h).expect("buffer").len(), 50);
    }

    #[test]
    fn the_byte_budget_is_global_even_when_every_buffer_is_written_at_once() {
        // 32 hosts writing in turn, each far past the budget, lines under the line cap.
        let budget = 64 * 1024;
        let mut s = OutputStore::new(100_000, budget);
        let line = format!("{}\n", "x".repeat(1_000));
        for round in 0..200 {
            for host in 0..32 {
                s.push(&step(0), &HostId::new(format!("h{host}")), &line);
            }
            assert!(
                s.bytes() <= budget,
                "round {round}: {} bytes held",
                s.bytes()
            );
        }
        // One buffer alone over the budget gives up its oldest lines, keeping its newest.
        let mut one = OutputStore::new(100_000, budget);
        for i in 0..1_000 {
            one.push(&step(1), &HostId::new("h"), &format!("{i:0>1000}\n"));
        }
        assert!(one.bytes() <= budget, "{} bytes held", one.bytes());
        let b = one.get(&step(1), &HostId::new("h")).expect("buffer");
        assert!(b.dropped() > 0);
        assert!(b.lines(b.len() - 1, 1).all(|l| l.ends_with("999")));
    }

    #[test]
    fn escape_sequences_and_control_characters_are_shown_as_visible_text() {
        let mut s = OutputStore::default();
        let h = HostId::new("h1");
        s.push(
            &step(0),
            &h,
            "\u{1b}[31mred\u{1b}[0m\tx\u{7}\u{1b}]0;title\u{7}!\n",
        );
        assert_eq!(
            all(s.get(&step(0), &h).expect("buffer")),
            ["\\x1b[31mred\\x1b[0m    x\\x07\\x1b]0;title\\x07!"]
        );
    }

    #[test]
    fn a_second_run_is_set_apart_from_the_first_and_a_first_run_is_not() {
        let mut s = OutputStore::default();
        let h = HostId::new("h1");
        s.separate(&step(0), &h, "── attempt 1 ──");
        s.push(&step(0), &h, "degraded");
        s.separate(&step(0), &h, "── attempt 2 ──");
        s.push(&step(0), &h, "degraded\n");
        assert_eq!(
            all(s.get(&step(0), &h).expect("buffer")),
            ["degraded", "── attempt 2 ──", "degraded"]
        );
    }

    #[test]
    fn overlong_lines_are_clipped() {
        let mut s = OutputStore::default();
        let h = HostId::new("h1");
        s.push(&step(0), &h, &"x".repeat(MAX_LINE_CHARS * 2));
        s.push(&step(0), &h, &"y".repeat(10));
        let b = s.get(&step(0), &h).expect("buffer");
        assert_eq!(b.len(), 1);
        assert_eq!(all(b)[0].chars().count(), MAX_LINE_CHARS);
    }
}
