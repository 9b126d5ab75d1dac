//! Splits a byte stream into output lines for the transports: bounded in memory, lossy UTF-8.
//! It must not buffer more than one line (at most [`MAX_LINE`] bytes) of a runaway command.

/// Longest line kept whole; a longer run of bytes without a newline is cut into pieces.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Feed bytes; `emit` receives every complete line (without its `\n` or `\r\n`).
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(String)) {
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

    /// The last line when the stream ended without a newline.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
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
        out.extend(splitter.finish());
        out
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
