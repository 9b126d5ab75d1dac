//! The header line: runbook name, mode, elapsed time, operator, journal path, auto mode.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::Mode;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::fmt_clock;
use crate::tui::view::services::clip;

/// The runbook name keeps at least this much before the journal path is shown.
const MIN_NAME: usize = 24;

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) {
    buf.set_style(area, theme.header());
    let (mode, mode_style) = match app.info.mode {
        Mode::Incident => (" INCIDENT ", theme.mode_incident()),
        Mode::Drill => (" DRILL ", theme.mode_drill()),
    };
    // Mode, time, operator and auto mode always show. The journal path gives way first (to its
    // file name, then entirely, never a useless `….jsonl`), then the runbook's name.
    let fixed = format!(
        " ·{mode}· {} · by {} · {}",
        fmt_clock(app.elapsed),
        app.info.operator,
        if app.auto { "auto on" } else { "auto off" }
    );
    let full = app.info.journal.display().to_string();
    let file = app
        .info
        .journal
        .file_name()
        .map(|f| format!("…/{}", f.to_string_lossy()))
        .unwrap_or_default();
    let width = usize::from(area.width);
    let room = width.saturating_sub(fixed.chars().count() + 1);
    let name_len = app.runbook.name.chars().count();
    let len = |s: &str| s.chars().count();
    // The whole name with the whole path, else with the path's file name, else the file
    // name beside at least MIN_NAME of the name; else no path at all.
    let fits = |name: usize, j: &str| !j.is_empty() && name + 3 + len(j) <= room;
    let journal = [
        (name_len, full.as_str()),
        (name_len, file.as_str()),
        (name_len.min(MIN_NAME), file.as_str()),
    ]
    .into_iter()
    .find(|(name, j)| fits(*name, j))
    .map(|(_, j)| format!(" · {j}"))
    .unwrap_or_default();
    let name = clip(&app.runbook.name, room.saturating_sub(len(&journal)));
    let mut spans = vec![Span::raw(" "), Span::styled(name, theme.title())];
    let mut parts = fixed.splitn(3, mode);
    spans.push(Span::raw(parts.next().unwrap_or_default().to_string()));
    spans.push(Span::styled(mode, mode_style));
    spans.push(Span::raw(parts.next().unwrap_or_default().to_string()));
    spans.push(Span::raw(journal));
    let line = Line::from(spans).patch_style(theme.header());
    buf.set_line(area.x, area.y, &line, area.width);
}
