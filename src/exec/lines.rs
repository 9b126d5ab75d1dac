//! Cuts a command's byte stream into journal chunks for the transports, and splits decoded
//! text into lines for display. Chunks are bytes exactly as printed (secrets masked): at most
//! [`CHUNK_BYTES`], or what came within [`CHUNK_AGE`]; nothing is decoded or dropped here.
//! Secrets are masked on the bytes before they are cut, so a secret spanning a cut is masked
//! as a whole. Bounded: never holds more than one chunk of a runaway command.

use std::time::{Duration, Instant};

use crate::journal::mask::{Masker, StreamMasker};

/// Largest chunk of output one `step_output` event carries.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Output is passed on at least this often while a command prints.
pub const CHUNK_AGE: Duration = Duration::from_millis(100);
/// Longest display line kept whole; a longer run of text without a newline is cut.
pub const MAX_LINE: usize = 64 * 1024;

/// Masks a byte stream and cuts it into chunks of up to [`CHUNK_BYTES`] or [`CHUNK_AGE`].
#[derive(Debug, Default)]
pub struct Chunker {
    pending: Vec<u8>,
    /// When the oldest byte of `pending` arrived.
    since: Option<Instant>,
    mask: StreamMasker,
}

impl Chunker {
    /// A chunker whose chunks have every secret of `masker` replaced by `***`.
    pub fn masking(masker: Masker) -> Chunker {
        Chunker {
            pending: Vec::new(),
            since: None,
            mask: StreamMasker::new(masker),
        }
    }

    /// Feed bytes read at `now`; `emit` receives every chunk that is full or old enough.
    pub fn push(&mut self, data: &[u8], now: Instant, mut emit: impl FnMut(Vec<u8>)) {
        let masked = self.mask.push(data);
        let mut rest = &masked[..];
        while !rest.is_empty() {
            if self.pending.is_empty() {
                self.since = Some(now);
                // A chunk's room at once, not grown by doubling as reads come in.
                self.pending.reserve_exact(CHUNK_BYTES);
            }
            let room = CHUNK_BYTES - self.pending.len();
            let take = rest.len().min(room);
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == CHUNK_BYTES {
                self.cut(&mut emit);
            }
        }
        self.flush_due(now, emit);
    }

    /// When the held output must be passed on, if any is held.
    pub fn due(&self) -> Option<Instant> {
        self.since.map(|t| t + CHUNK_AGE)
    }

    /// Pass on what is held once it is [`CHUNK_AGE`] old.
    pub fn flush_due(&mut self, now: Instant, mut emit: impl FnMut(Vec<u8>)) {
        if self.due().is_some_and(|due| now >= due) {
            self.cut(&mut emit);
        }
    }

    /// The end of the stream: whatever masking and chunking still held.
    pub fn finish(&mut self, mut emit: impl FnMut(Vec<u8>)) {
        let rest = self.mask.finish();
        self.pending.extend_from_slice(&rest);
        for piece in std::mem::take(&mut self.pending).chunks(CHUNK_BYTES) {
            emit(piece.to_vec());
        }
        self.since = None;
    }

    /// Emit what is held, keeping back a UTF-8 sequence cut short at its end (at most 3
    /// bytes), so text is not cut inside a character when it can be helped.
    fn cut(&mut self, emit: &mut impl FnMut(Vec<u8>)) {
        let keep = incomplete_tail(&self.pending);
        if keep == self.pending.len() {
            return;
        }
        let tail = self.pending.split_off(self.pending.len() - keep);
        emit(std::mem::replace(&mut self.pending, tail));
        self.since = if self.pending.is_empty() {
            None
        } else {
            self.since
        };
    }
}

/// Length of an unfinished UTF-8 sequence at the end of `bytes` (0 if none).
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

/// Splits decoded output text into lines for display (the TUI's buffers, `run`'s progress).
#[derive(Debug, Default)]
pub struct DisplayLines {
    partial: String,
}

impl DisplayLines {
    /// Feed text; `emit` receives every complete line (without its `\n` or `\r\n`). A line
    /// longer than [`MAX_LINE`] bytes is cut. Lines wholly inside `text` are passed on as
    /// slices of it, without copying.
    pub fn push(&mut self, text: &str, mut emit: impl FnMut(&str)) {
        let mut rest = text;
        while let Some(nl) = memchr::memchr(b'\n', rest.as_bytes()) {
            let line = &rest[..nl];
            if self.partial.is_empty() && line.len() <= MAX_LINE {
                emit(line.strip_suffix('\r').unwrap_or(line));
            } else {
                self.add(line, &mut emit);
                self.emit_partial(&mut emit);
            }
            rest = &rest[nl + 1..];
        }
        self.add(rest, &mut emit);
    }

    fn add(&mut self, mut text: &str, emit: &mut impl FnMut(&str)) {
        while self.partial.len() + text.len() > MAX_LINE {
            let mut room = MAX_LINE - self.partial.len();
            while !text.is_char_boundary(room) {
                room -= 1;
            }
            self.partial.push_str(&text[..room]);
            text = &text[room..];
            self.emit_partial(emit);
        }
        self.partial.push_str(text);
    }

    /// The end of the stream: the last line when it had no newline.
    pub fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.partial.is_empty() {
            self.emit_partial(&mut emit);
        }
    }

    fn emit_partial(&mut self, emit: &mut impl FnMut(&str)) {
        let line = self.partial.strip_suffix('\r').unwrap_or(&self.partial);
        emit(line);
        self.partial.clear();
    }
}

/// Every display line of a whole output (decoded, invalid UTF-8 replaced).
pub fn split_lines(bytes: &[u8]) -> Vec<String> {
    let mut split = DisplayLines::default();
    let mut out = Vec::new();
    split.push(&String::from_utf8_lossy(bytes), |l| out.push(l.to_string()));
    split.finish(|l| out.push(l.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(chunker: &mut Chunker, pieces: &[&[u8]]) -> Vec<Vec<u8>> {
        let now = Instant::now();
        let mut out = Vec::new();
        for piece in pieces {
            chunker.push(piece, now, |c| out.push(c));
        }
        chunker.finish(|c| out.push(c));
        out
    }

    fn lines(pieces: &[&str]) -> Vec<String> {
        let mut split = DisplayLines::default();
        let mut out = Vec::new();
        for piece in pieces {
            split.push(piece, |l| out.push(l.to_string()));
        }
        split.finish(|l| out.push(l.to_string()));
        out
    }

    #[test]
    fn a_secret_across_a_chunk_cut_is_masked() {
        let mut chunker = Chunker::masking(Masker::new(&["TOPSECRET".to_string()]));
        let mut long = vec![b'x'; CHUNK_BYTES - 4];
        long.extend_from_slice(b"TOPSECRET\n");
        let out = chunks(
            &mut chunker,
            &[&long[..CHUNK_BYTES - 1], &long[CHUNK_BYTES - 1..]],
        );
        let all = out.concat();
        assert!(out.iter().all(|c| c.len() <= CHUNK_BYTES));
        assert!(all.ends_with(b"***\n"), "masked as a whole");
        assert!(!all.windows(6).any(|w| w == b"SECRET"));
        assert_eq!(all.len(), CHUNK_BYTES - 4 + 4);
    }

    #[test]
    fn chunks_are_at_most_the_chunk_size_and_keep_every_byte() {
        let data: Vec<u8> = (0..CHUNK_BYTES * 2 + 5)
            .map(|i| u8::try_from(i % 251).expect("below 251"))
            .collect();
        let mut chunker = Chunker::default();
        let out = chunks(&mut chunker, &[&data[..1000], &data[1000..]]);
        assert!(out.iter().all(|c| c.len() <= CHUNK_BYTES), "bounded");
        assert_eq!(out.concat(), data, "nothing decoded, dropped or added");
    }

    #[test]
    fn held_output_is_passed_on_once_old_enough() {
        let mut chunker = Chunker::default();
        let start = Instant::now();
        let mut out = Vec::new();
        chunker.push(b"waiting...\n", start, |c| out.push(c));
        assert!(out.is_empty(), "held for a moment");
        assert_eq!(chunker.due(), Some(start + CHUNK_AGE));
        chunker.flush_due(start + CHUNK_AGE, |c| out.push(c));
        assert_eq!(out, [b"waiting...\n".to_vec()]);
        assert_eq!(chunker.due(), None);
    }

    #[test]
    fn a_cut_keeps_a_multi_byte_character_whole_when_it_can() {
        // 'é' is 0xC3 0xA9: the full chunk would end on 0xC3.
        let mut data = vec![b'a'; CHUNK_BYTES - 1];
        data.extend_from_slice("é!".as_bytes());
        let out = chunks(&mut Chunker::default(), &[&data]);
        assert_eq!(out[0].len(), CHUNK_BYTES - 1);
        assert!(std::str::from_utf8(&out[1]).is_ok());
        assert_eq!(out.concat(), data);
        // At the end of the stream a cut sequence is passed on as it is.
        let out = chunks(&mut Chunker::default(), &[b"x\xe2\x82"]);
        assert_eq!(out.concat(), b"x\xe2\x82");
    }

    #[test]
    fn lines_split_across_pieces_are_joined() {
        assert_eq!(lines(&["ab", "c\nde", "f\r\ng"]), ["abc", "def", "g"]);
        assert_eq!(lines(&["\n\nx\n"]), ["", "", "x"]);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut() {
        let long = "x".repeat(MAX_LINE * 2 + 5);
        let out = lines(&[&long]);
        assert_eq!(
            out.iter().map(String::len).collect::<Vec<_>>(),
            [MAX_LINE, MAX_LINE, 5]
        );
    }
}
