//! The header line: runbook name, mode, elapsed time, operator, journal path, auto mode.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::Mode;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::fmt_clock;
use crate::tui::view::services::clip;

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) {
    buf.set_style(area, theme.header());
    let (mode, mode_style) = match app.info.mode {
        Mode::Incident => ("INCIDENT", theme.mode_incident()),
        Mode::Drill => ("DRILL", theme.mode_drill()),
    };
    // The name gives way first, then the journal path (from its left), so mode, time and
    // operator always show.
    let fixed = format!(
        " · {mode} · {} · operator {} · {} · ",
        fmt_clock(app.elapsed),
        app.info.operator,
        if app.auto { "auto on" } else { "auto off" }
    );
    let journal = app.info.journal.display().to_string();
    let width = usize::from(area.width);
    let room = width.saturating_sub(fixed.chars().count() + 1);
    let name_w = app.runbook.name.chars().count().min(
        room.saturating_sub(journal.chars().count())
            .max(room.min(16)),
    );
    let name = clip(&app.runbook.name, name_w);
    let journal_room = room.saturating_sub(name.chars().count());
    let journal = clip_left(&journal, journal_room);
    let mut spans = vec![Span::raw(" "), Span::styled(name, theme.title())];
    let mut parts = fixed.splitn(3, mode);
    spans.push(Span::raw(parts.next().unwrap_or_default().to_string()));
    spans.push(Span::styled(mode, mode_style));
    spans.push(Span::raw(parts.next().unwrap_or_default().to_string()));
    spans.push(Span::raw(journal));
    let line = Line::from(spans).patch_style(theme.header());
    buf.set_line(area.x, area.y, &line, area.width);
}

/// Keep the end of `s` (a path's file name matters most), starting with `…` when cut.
fn clip_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        s.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let tail: String = s.chars().skip(n - (width - 1)).collect();
        format!("…{tail}")
    }
}
