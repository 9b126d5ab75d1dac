//! The header line: runbook name, mode, elapsed time, operator, journal path, auto mode.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::Mode;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::fmt_clock;
use crate::tui::view::services::clip;

/// Fewer cells than this of the journal path say nothing: the header leaves it out.
const MIN_JOURNAL: usize = 20;

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) {
    buf.set_style(area, theme.header());
    let (mode, mode_style) = match app.info.mode {
        Mode::Incident => ("INCIDENT", theme.mode_incident()),
        Mode::Drill => ("DRILL", theme.mode_drill()),
    };
    // Mode, time, operator and auto mode always show. The journal path gives way first (it
    // is dropped rather than shown as a useless `….jsonl`), then the runbook's name.
    let fixed = format!(
        " · {mode} · {} · by {} · {}",
        fmt_clock(app.elapsed),
        app.info.operator,
        if app.auto { "auto on" } else { "auto off" }
    );
    let journal = app.info.journal.display().to_string();
    let width = usize::from(area.width);
    let room = width.saturating_sub(fixed.chars().count() + 1);
    let name_len = app.runbook.name.chars().count();
    let journal_room = room.saturating_sub(name_len.min(room.min(24)) + 3);
    let journal = if journal_room >= MIN_JOURNAL.min(journal.chars().count()) {
        format!(" · {}", clip_left(&journal, journal_room))
    } else {
        String::new()
    };
    let name = clip(
        &app.runbook.name,
        room.saturating_sub(journal.chars().count()),
    );
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
