//! The timeline pane: journal events as `time mark who · what`, newest at the bottom; the
//! mark (✓ ✗ ! …) carries the tone so colour is never the only sign.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::action::Focus;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::timeline::TimelineLine;
use crate::tui::view::{pane, put};

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) -> Rect {
    let scroll = app.timeline_scroll();
    let title = format!(
        " Timeline ({}) · {}{} ",
        app.timeline.len(),
        if scroll.follow { "follow" } else { "scrolled" },
        if app.timeline_wraps() { " · wrap" } else { "" }
    );
    let inner = pane(
        app,
        theme,
        Focus::Bottom,
        Line::styled(title, theme.title()),
        area,
        buf,
    );
    let height = usize::from(inner.height);
    if app.timeline.is_empty() {
        if inner.height > 0 {
            put(
                buf,
                inner.x,
                inner.y,
                " nothing recorded yet",
                inner.width,
                theme.dim(),
            );
        }
        return inner;
    }
    let top = scroll.top_for(app.timeline.len(), height);
    if app.timeline_wraps() {
        draw_wrapped(app, theme, inner, top, buf);
        return inner;
    }
    for (n, l) in app.timeline.lines(top, height).enumerate() {
        let y = inner.y + u16::try_from(n).unwrap_or(u16::MAX);
        buf.set_line(inner.x, y, &head(theme, l, l.what.clone()), inner.width);
    }
    inner
}

/// `time mark who · ` and then `what` (or its first part), styled by tone.
fn head(theme: Theme, l: &TimelineLine, what: String) -> Line<'_> {
    let (mark, style) = theme.tone(l.tone);
    Line::from(vec![
        Span::styled(l.time.as_str(), theme.dim()),
        Span::raw(" "),
        Span::styled(mark, style),
        Span::raw(" "),
        Span::styled(l.who.as_str(), theme.key()),
        Span::raw(" · "),
        Span::styled(what, style),
    ])
}

/// One event as the rows it takes wrapped at `width`: the head, then the rest of `what`
/// under its start (or two cells in when the head leaves little room). Lines break between
/// words; only a word longer than a whole row is cut.
fn wrapped(theme: Theme, l: &TimelineLine, width: usize) -> Vec<Line<'_>> {
    let (mark, style) = theme.tone(l.tone);
    let prefix = l.time.chars().count() + 1 + mark.chars().count() + 1 + l.who.chars().count() + 3;
    let first = width.saturating_sub(prefix).max(1);
    let indent = if prefix <= width / 2 { prefix } else { 2 };
    let rest = width.saturating_sub(indent).max(1);
    let mut pieces = word_wrap(&l.what, first, rest).into_iter();
    let mut rows = vec![head(theme, l, pieces.next().unwrap_or_default())];
    for piece in pieces {
        rows.push(Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(piece, style),
        ]));
    }
    rows
}

/// `text` in rows of at most `first` characters, then `rest`, broken at spaces; a word
/// longer than a row is cut where the row ends.
pub(crate) fn word_wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    let mut room = first.max(1);
    let mut len = 0;
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let gap = usize::from(len > 0);
            if len + gap + word.len() <= room {
                if gap == 1 {
                    row.push(' ');
                }
                row.extend(word.iter());
                len += gap + word.len();
                break;
            }
            if len > 0 {
                rows.push(std::mem::take(&mut row));
                len = 0;
                room = rest.max(1);
                continue;
            }
            // A word longer than a whole row.
            let cut: String = word.drain(..room).collect();
            rows.push(cut);
            room = rest.max(1);
        }
    }
    if len > 0 || rows.is_empty() {
        rows.push(row);
    }
    rows
}

/// Wrapped events: following, the newest end at the bottom; scrolled, from the event at `top`.
fn draw_wrapped(app: &App, theme: Theme, inner: Rect, top: usize, buf: &mut Buffer) {
    let height = usize::from(inner.height);
    let width = usize::from(inner.width);
    let rows: Vec<Line> = if app.timeline_scroll().follow {
        let mut rows = Vec::new();
        let len = app.timeline.len();
        let start = len.saturating_sub(height);
        for l in app
            .timeline
            .lines(start, height)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            let mut event = wrapped(theme, l, width);
            event.append(&mut rows);
            rows = event;
            if rows.len() >= height {
                break;
            }
        }
        let skip = rows.len().saturating_sub(height);
        rows.into_iter().skip(skip).collect()
    } else {
        app.timeline
            .lines(top, height)
            .flat_map(|l| wrapped(theme, l, width))
            .take(height)
            .collect()
    };
    for (n, line) in rows.iter().enumerate() {
        let y = inner.y + u16::try_from(n).unwrap_or(u16::MAX);
        buf.set_line(inner.x, y, line, inner.width);
    }
}

#[cfg(test)]
mod tests {
    use super::word_wrap;

    #[test]
    fn wrapping_breaks_between_words_never_inside_one() {
        let rows = word_wrap("step 'kill gateway' inject started on msg-gw-1", 20, 16);
        assert_eq!(
            rows,
            ["step 'kill gateway'", "inject started", "on msg-gw-1"]
        );
        for row in &rows {
            assert!(!row.ends_with("inje"), "{rows:?}");
        }
    }

    #[test]
    fn a_word_longer_than_a_row_is_cut_at_the_row() {
        assert_eq!(
            word_wrap("abcdefghij xy", 4, 4),
            ["abcd", "efgh", "ij", "xy"]
        );
        assert_eq!(word_wrap("", 4, 4), [""]);
    }
}
