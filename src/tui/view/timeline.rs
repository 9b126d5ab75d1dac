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
/// under its start (or two cells in when the head leaves little room).
fn wrapped(theme: Theme, l: &TimelineLine, width: usize) -> Vec<Line<'_>> {
    let (mark, style) = theme.tone(l.tone);
    let prefix = l.time.chars().count() + 1 + mark.chars().count() + 1 + l.who.chars().count() + 3;
    let what: Vec<char> = l.what.chars().collect();
    let first = width.saturating_sub(prefix).max(1);
    let indent = if prefix <= width / 2 { prefix } else { 2 };
    let rest = width.saturating_sub(indent).max(1);
    let cut = first.min(what.len());
    let mut rows = vec![head(theme, l, what[..cut].iter().collect())];
    for chunk in what[cut..].chunks(rest) {
        rows.push(Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(chunk.iter().collect::<String>(), style),
        ]));
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
