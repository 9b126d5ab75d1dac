//! The `--log-file` writer (SPEC "Edges": the log is terminal-safe). Whatever a log line
//! carries — an operator's name, a note, a host's output, an error — reaches the file as
//! visible text, as on the screen ([`crate::text::visible`]): `\x1b]52;c;…\x07`, never the
//! raw bytes, so `cat` or `tail -f` of the log cannot act on a terminal. A newline inside a
//! line is written as `\n`, so no message can pass for another line. It wraps the writer at
//! the bottom of logging, so no call site can forget it. No IO of its own.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

use crate::text::visible;

/// A [`MakeWriter`] whose writers make every line terminal-safe before passing it on.
#[derive(Debug, Clone)]
pub struct TerminalSafe<M> {
    inner: M,
}

impl<M> TerminalSafe<M> {
    pub fn new(inner: M) -> TerminalSafe<M> {
        TerminalSafe { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for TerminalSafe<M> {
    type Writer = SafeWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        SafeWriter {
            inner: self.inner.make_writer(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        SafeWriter {
            inner: self.inner.make_writer_for(meta),
        }
    }
}

/// One writer of [`TerminalSafe`]: each `write` is taken whole (the formatter writes a line
/// at once) and written on as [`terminal_safe`] makes it.
#[derive(Debug)]
pub struct SafeWriter<W> {
    inner: W,
}

impl<W: Write> Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(&terminal_safe(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `bytes` (one or more log lines) with every control character but the line's final `\n`
/// and tabs shown as text; bytes that are not UTF-8 become U+FFFD.
pub fn terminal_safe(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let (body, end) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (&*text, ""),
    };
    let shown = visible(body);
    let mut out = if shown.contains('\n') {
        shown.replace('\n', "\\n")
    } else {
        shown.into_owned()
    };
    out.push_str(end);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_bel_and_c1_controls_are_written_as_text() {
        let line = "INFO request from operator=\u{1b}]52;c;cHduZWQ=\u{7}\u{9b}2J lee\n";
        let safe = terminal_safe(line.as_bytes());
        assert_eq!(
            String::from_utf8(safe).expect("text"),
            "INFO request from operator=\\x1b]52;c;cHduZWQ=\\x07\\u{9b}2J lee\n"
        );
    }

    #[test]
    fn a_newline_inside_a_line_cannot_start_another() {
        let safe = terminal_safe(b"WARN note: ok\r\n2026-12-07 INFO forged\n");
        assert_eq!(safe, b"WARN note: ok\\n2026-12-07 INFO forged\n");
        assert_eq!(terminal_safe(b"plain\tline\n"), b"plain\tline\n");
        assert_eq!(terminal_safe(b"\xff\x1b"), "\u{fffd}\\x1b".as_bytes());
    }

    #[test]
    fn the_writer_passes_on_each_write_made_safe() {
        let made = TerminalSafe::new(|| SafeSink(Vec::new()));
        let mut w = made.make_writer();
        w.write_all(b"a\x07b\n").expect("write");
        assert_eq!(w.inner.0, b"a\\x07b\n");
    }

    struct SafeSink(Vec<u8>);

    impl Write for SafeSink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
