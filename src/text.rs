//! Terminal-safe text: what a host printed or a journal holds, made fit to reach a terminal.
//! Control characters, escape sequences and bidi overrides become visible text (`\x1b[31m`),
//! so a step cannot retitle the window, set the clipboard or reorder what the operator reads.
//! Only for what is shown: the journal and its side files keep the raw bytes.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How many of `bytes` `pred` holds for. Counted 255 bytes at a time in `u8` lanes, a form the
/// compiler turns into SIMD compares (a plain `filter().count()` widens every byte to 64 bits):
/// for scans of every byte of a step's output.
pub fn count_bytes(bytes: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    bytes
        .chunks(255)
        .map(|block| usize::from(block.iter().fold(0_u8, |n, &b| n + u8::from(pred(b)))))
        .sum()
}

/// Whether every byte of `text` is printable ASCII (a space to `~`): such a line reaches a
/// terminal as it is.
pub fn is_printable_ascii(text: &str) -> bool {
    count_bytes(text.as_bytes(), |b| !(0x20..0x7f).contains(&b)) == 0
}

/// Bidi embeddings, overrides, isolates and marks: they reorder how the rest of a line reads.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether `c` acts on a terminal (or on how a line reads) instead of being shown. `\n` and
/// `\t` are the two controls text may keep; callers that draw one line at a time deal with them.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

/// `c` as visible text: `\x1b` for C0 and DEL, `\u{9b}` for C1 and bidi controls.
fn push_visible(out: &mut String, c: char) {
    let code = u32::from(c);
    if code < 0x80 {
        let _ = write!(out, "\\x{code:02x}");
    } else {
        let _ = write!(out, "\\u{{{code:x}}}");
    }
}

/// Text with every control character except `\n` and `\t` (C0, DEL, C1), and every bidi
/// control, shown as visible text. An escape sequence is inert once its ESC is text, so
/// `ESC ] 0 ; title BEL` shows as `\x1b]0;title\x07`. A `\r` before `\n` is a line ending
/// and is dropped; a lone `\r` could overwrite what the line showed, so it is shown.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        if is_unsafe(c) {
            push_visible(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One screen line (no `\n` in it): as [`visible`], with a tab as four spaces, since a tab
/// would leave the cells it skips unpainted.
pub fn visible_line(line: &str) -> Cow<'_, str> {
    let shown = visible(line);
    if shown.contains('\t') {
        Cow::Owned(shown.replace('\t', "    "))
    } else {
        shown
    }
}

/// JSON text with DEL, C1 and bidi controls written as `\u` escapes. serde_json already
/// escapes C0 (ESC, BEL…) but writes these raw; as escapes they mean the same string to a
/// JSON reader and nothing to a terminal. Outside strings JSON holds ASCII only, so every
/// such character is inside a string and the escape is valid there.
pub fn json_escape_controls(json: &str) -> Cow<'_, str> {
    let needs = |c: char| c.is_control() || is_bidi_control(c);
    if !json.chars().any(|c| needs(c) && u32::from(c) >= 0x7f) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) && u32::from(c) >= 0x7f {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_counted_across_blocks_and_printable_ascii_is_told_apart() {
        let mut bytes = vec![b'a'; 1000];
        for i in [0, 254, 255, 256, 509, 510, 999] {
            bytes[i] = b'"';
        }
        assert_eq!(count_bytes(&bytes, |b| b == b'"'), 7);
        assert_eq!(count_bytes(&[b'"'; 600], |b| b == b'"'), 600);
        assert_eq!(count_bytes(&[], |_| true), 0);
        assert!(is_printable_ascii("00001234 plain ~ text"));
        assert!(!is_printable_ascii("tab\there"));
        assert!(!is_printable_ascii("del\u{7f}"));
        assert!(!is_printable_ascii("caf\u{e9}"));
    }

    #[test]
    fn osc_title_and_clipboard_sequences_become_visible_text() {
        let shown = visible("a\u{1b}]0;pwned\u{7}\u{1b}]52;c;cHduZWQ=\u{7}b");
        assert_eq!(shown, "a\\x1b]0;pwned\\x07\\x1b]52;c;cHduZWQ=\\x07b");
    }

    #[test]
    fn csi_colours_del_and_c1_controls_are_shown_not_acted_on() {
        assert_eq!(
            visible("\u{1b}[31mred\u{1b}[0m\u{7f}\u{9b}2J\u{85}"),
            "\\x1b[31mred\\x1b[0m\\x7f\\u{9b}2J\\u{85}"
        );
    }

    #[test]
    fn bidi_overrides_are_shown_so_a_line_reads_in_its_real_order() {
        assert_eq!(
            visible("ok \u{202e}gnp.exe\u{2066}"),
            "ok \\u{202e}gnp.exe\\u{2066}"
        );
    }

    #[test]
    fn newlines_tabs_and_printable_unicode_are_kept_as_they_are() {
        let text = "line 1\n\tcafé — 서비스 ✓\n";
        assert!(matches!(visible(text), Cow::Borrowed(_)));
        assert_eq!(visible(text), text);
    }

    #[test]
    fn a_crlf_line_ending_is_a_line_ending_but_a_lone_cr_is_shown() {
        assert_eq!(visible("a\r\nb\r\n"), "a\nb\n");
        assert_eq!(visible("rm -rf /\rls"), "rm -rf /\\x0dls");
    }

    #[test]
    fn a_screen_line_shows_tabs_as_spaces() {
        assert_eq!(visible_line("a\tb\u{1b}[2J"), "a    b\\x1b[2J");
    }

    #[test]
    fn json_keeps_its_meaning_with_del_c1_and_bidi_escaped() {
        let value = serde_json::json!({"text": "\u{1b}]0;x\u{7}\u{7f}\u{9b}\u{202e}é"});
        let json = serde_json::to_string(&value).expect("encode");
        let escaped = json_escape_controls(&json);
        assert!(
            !escaped
                .chars()
                .any(|c| c.is_control() || is_bidi_control(c)),
            "{escaped}"
        );
        let back: serde_json::Value = serde_json::from_str(&escaped).expect("still JSON");
        assert_eq!(back, value);
    }
}
