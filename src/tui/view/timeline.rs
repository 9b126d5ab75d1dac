//! The timeline pane: journal events as `time mark who · what`, newest at the bottom; the
//! mark (✓ ✗ ! …) carries the tone so colour is never the only sign.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::action::Focus;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::{pane, put};

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) -> Rect {
    let scroll = app.timeline_scroll();
    let title = format!(
        " Timeline ({}) · {} ",
        app.timeline.len(),
        if scroll.follow { "follow" } else { "scrolled" }
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
    for (n, l) in app.timeline.lines(top, height).enumerate() {
        let y = inner.y + u16::try_from(n).unwrap_or(u16::MAX);
        let (mark, style) = theme.tone(l.tone);
        let line = Line::from(vec![
            Span::styled(l.time.as_str(), theme.dim()),
            Span::raw(" "),
            Span::styled(mark, style),
            Span::raw(" "),
            Span::styled(l.who.as_str(), theme.key()),
            Span::raw(" · "),
            Span::styled(l.what.as_str(), style),
        ]);
        buf.set_line(inner.x, y, &line, inner.width);
    }
    inner
}
