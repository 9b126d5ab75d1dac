//! Splits a byte stream into output lines for the transports: bounded in memory, lossy UTF-8.
//! It must not buffer more than one line (at most [`MAX_LINE`] bytes) of a runaway command.
//! Secrets are masked on the bytes before they are cut into lines, so a secret spanning lines
//! or a cut is masked as a whole.

use crate::journal::mask::{Masker, StreamMasker};

/// Longest line kept whole; a longer run of bytes without a newline is cut into pieces.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    mask: StreamMasker,
}

impl LineSplitter {
    /// A splitter whose lines have every secret of `masker` replaced by `***`.
    pub fn masking(masker: Masker) -> LineSplitter {
        LineSplitter {
            partial: Vec::new(),
            mask: StreamMasker::new(masker),
        }
    }

    /// Feed bytes; `emit` receives every complete line (without its `\n` or `\r\n`).
    pub fn push(&mut self, data: &[u8], emit: impl FnMut(String)) {
        let masked = self.mask.push(data);
        self.split(&masked, emit);
    }

    fn split(&mut self, mut data: &[u8], mut emit: impl FnMut(String)) {
        while !data.is_empty() {
            let room = MAX_LINE - self.partial.len();
            let window = &data[..data.len().min(room)];
            if let Some(nl) = window.iter().position(|&b| b == b'\n') {
                self.partial.extend_from_slice(&window[..nl]);
                emit(self.take());
                data = &data[nl + 1..];
            } else {
                self.partial.extend_from_slice(window);
                data = &data[window.len()..];
                if self.partial.len() == MAX_LINE {
                    emit(self.take());
                }
            }
        }
    }

    /// The end of the stream: whatever masking still held, and the last line when the
    /// stream ended without a newline.
    pub fn finish(&mut self, mut emit: impl FnMut(String)) {
        let rest = self.mask.finish();
        self.split(&rest, &mut emit);
        if !self.partial.is_empty() {
            emit(self.take());
        }
    }

    fn take(&mut self) -> String {
        let mut bytes = std::mem::take(&mut self.partial);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        String::from_utf8(bytes)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = LineSplitter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, |line| out.push(line));
        }
        splitter.finish(|line| out.push(line));
        out
    }

    #[test]
    fn a_secret_across_lines_and_the_line_cut_is_masked() {
        let secret = "line one\nline two";
        let mut splitter = LineSplitter::masking(Masker::new(&[secret.to_string()]));
        let mut out = Vec::new();
        for piece in [&b"a line "[..], b"one\nline", b" two b\n"] {
            splitter.push(piece, |line| out.push(line));
        }
        splitter.finish(|line| out.push(line));
        assert_eq!(out, ["a *** b"]);

        // A secret straddling the cut of an overlong line.
        let mut splitter = LineSplitter::masking(Masker::new(&["TOPSECRET".to_string()]));
        let mut long = vec![b'x'; MAX_LINE - 4];
        long.extend_from_slice(b"TOPSECRET\n");
        let mut out = Vec::new();
        splitter.push(&long, |line| out.push(line));
        splitter.finish(|line| out.push(line));
        assert!(out.concat().ends_with("***"));
        assert!(!out.concat().contains("SECRET"));
    }

    #[test]
    fn lines_split_across_chunks_are_joined() {
        assert_eq!(split(&[b"ab", b"c\nde", b"f\r\ng"]), ["abc", "def", "g"]);
    }

    #[test]
    fn empty_lines_are_kept() {
        assert_eq!(split(&[b"\n\nx\n"]), ["", "", "x"]);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut() {
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let lines = split(&[&long]);
        assert_eq!(
            lines.iter().map(String::len).collect::<Vec<_>>(),
            [MAX_LINE, MAX_LINE, 5]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(split(&[b"a\xffb\n"]), ["a\u{fffd}b"]);
    }
}
