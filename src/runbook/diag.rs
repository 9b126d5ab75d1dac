//! Diagnostics: a problem found in a runbook, tied to a byte span of its source, rendered as
//! `file:line:col: error: message` with the source line, a caret and an optional help.
//! Knows nothing of TOML or of the model; only text positions.

use std::fmt::Write as _;
use std::ops::Range;

/// One problem, located by a byte span of the runbook's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub span: Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

impl Diag {
    pub fn new(span: Range<usize>, message: impl Into<String>) -> Self {
        Diag {
            span,
            message: message.into(),
            help: None,
        }
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds `did you mean 'x'?` when a suggestion exists.
    #[must_use]
    pub fn suggest(mut self, suggestion: Option<&str>) -> Self {
        if let Some(s) = suggestion {
            self.help = Some(format!("did you mean '{s}'?"));
        }
        self
    }
}

/// Maps byte offsets of a source text to 1-based line and column (columns count characters).
pub struct SourceMap<'a> {
    name: &'a str,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    pub fn new(name: &'a str, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceMap {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based (line, column) of a byte offset; offsets past the end map to the last position.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&e| e - 1);
        self.text
            .get(start..end)
            .unwrap_or_default()
            .trim_end_matches('\r')
    }

    /// `file:line:col: error: message`, then the source line with a caret under the span,
    /// then `help: ...` when there is one.
    pub fn render(&self, diag: &Diag) -> String {
        let (line, col) = self.line_col(diag.span.start);
        let mut out = format!("{}:{line}:{col}: error: {}", self.name, diag.message);
        let text = self.line_text(line);
        if !text.trim().is_empty() {
            let gutter = line.to_string().len();
            // The caret covers the span, or the rest of the line when the span runs past it.
            let span_end = diag.span.end.min(self.line_starts[line - 1] + text.len());
            let width = self
                .text
                .get(diag.span.start.min(span_end)..span_end)
                .map_or(1, |s| s.chars().count().max(1));
            let (shown, caret_col, width) = excerpt(text, col - 1, width);
            let _ = write!(
                out,
                "\n{:gutter$} |\n{line} | {shown}\n{:gutter$} | {}{}",
                "",
                "",
                " ".repeat(caret_col),
                "^".repeat(width),
            );
        }
        if let Some(help) = &diag.help {
            let _ = write!(out, "\n  help: {help}");
        }
        out
    }
}

/// Source lines longer than this are cut around the caret, so that a generated or minified
/// runbook does not flood the terminal with one line.
const MAX_SHOWN: usize = 100;

/// The part of `text` to show, the caret's column in it and the caret's width: the whole line
/// when short, else a window of [`MAX_SHOWN`] characters around `col` marked with `…`.
fn excerpt(text: &str, col: usize, width: usize) -> (String, usize, usize) {
    // A tab is one column to the caret but up to eight on a terminal: show it as a space.
    let text = &text.replace('\t', " ");
    let len = text.chars().count();
    if len <= MAX_SHOWN {
        return (text.clone(), col, width);
    }
    let start = col.saturating_sub(MAX_SHOWN / 4).min(len - MAX_SHOWN);
    let end = start + MAX_SHOWN;
    let mut shown: String = text.chars().skip(start).take(MAX_SHOWN).collect();
    let mut caret = col - start;
    if start > 0 {
        shown.insert(0, '…');
        caret += 1;
    }
    if end < len {
        shown.push('…');
    }
    let width = width.min(end.saturating_sub(col)).max(1);
    (shown, caret, width)
}

/// The known name closest to `unknown`, if one is close enough to be a likely typo.
pub fn closest<'k>(unknown: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let unknown_lower = unknown.to_lowercase();
    known
        .into_iter()
        .filter_map(|k| {
            let d = strsim::damerau_levenshtein(&unknown_lower, &k.to_lowercase());
            // Allow about one edit per three characters, and never a full rewrite.
            let limit = (k.chars().count().max(unknown.chars().count()) / 3).max(1);
            (d <= limit && d < k.chars().count()).then_some((d, k))
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let map = SourceMap::new("f.toml", "a = 1\nnamé = \"x\"\n");
        assert_eq!(map.line_col(0), (1, 1));
        assert_eq!(map.line_col(6), (2, 1));
        // 'é' is two bytes but one column.
        let eq = "a = 1\nnamé ".len();
        assert_eq!(map.line_col(eq), (2, 6));
    }

    #[test]
    fn render_shows_location_source_line_caret_and_help() {
        let src = "[[service]]\ndepnds_on = []\n";
        let map = SourceMap::new("rb.toml", src);
        let d = Diag::new(12..21, "unknown key 'depnds_on'").suggest(Some("depends_on"));
        let out = map.render(&d);
        assert!(
            out.starts_with("rb.toml:2:1: error: unknown key 'depnds_on'"),
            "{out}"
        );
        assert!(out.contains("2 | depnds_on = []"), "{out}");
        assert!(out.contains("  | ^^^^^^^^^\n"), "{out}");
        assert!(out.ends_with("help: did you mean 'depends_on'?"), "{out}");
    }

    #[test]
    fn tabs_show_as_spaces_so_the_caret_lines_up() {
        let src = "\tdepnds_on = []\n";
        let map = SourceMap::new("rb.toml", src);
        let out = map.render(&Diag::new(1..10, "unknown key 'depnds_on'"));
        assert!(out.contains("1 |  depnds_on = []\n  |  ^^^^^^^^^"), "{out}");
    }

    #[test]
    fn a_long_source_line_is_cut_around_the_caret() {
        let src = format!(
            "run = \"{}{{{{nope}}}}{}\"\n",
            "x".repeat(5000),
            "y".repeat(5000)
        );
        let map = SourceMap::new("rb.toml", &src);
        let start = src.find("{{").expect("placeholder");
        let out = map.render(&Diag::new(start..start + 8, "unknown variable 'nope'"));
        let lines: Vec<&str> = out.lines().collect();
        assert!(out.starts_with("rb.toml:1:5008:"), "{out}");
        let shown = lines[2].trim_start_matches("1 | ");
        assert!(shown.chars().count() <= MAX_SHOWN + 2, "{}", shown.len());
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        // The caret still sits under the placeholder.
        let caret = lines[3].trim_start_matches("  | ");
        let at = caret.find('^').expect("caret");
        let under: String = shown.chars().skip(at).take(8).collect();
        assert_eq!(under, "{{nope}}");
        assert_eq!(caret.trim(), "^^^^^^^^");
    }

    #[test]
    fn closest_suggests_typos_but_not_unrelated_words() {
        let keys = ["depends_on", "hosts", "tier", "rto"];
        assert_eq!(closest("depnds_on", keys), Some("depends_on"));
        assert_eq!(closest("host", keys), Some("hosts"));
        assert_eq!(closest("colour", keys), None);
    }
}
