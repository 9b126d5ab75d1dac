//! The header line: runbook name, mode, elapsed time, operator, journal path, auto mode.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::Mode;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::fmt_clock;

pub fn draw(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    buf.set_style(area, theme.header());
    let (mode, mode_style) = match app.info.mode {
        Mode::Incident => ("INCIDENT", theme.mode_incident()),
        Mode::Drill => ("DRILL", theme.mode_drill()),
    };
    let sep = Span::raw(" · ");
    let line = Line::from(vec![
        Span::raw(" "),
        Span::styled(app.runbook.name.as_str(), theme.title()),
        sep.clone(),
        Span::styled(mode, mode_style),
        sep.clone(),
        Span::raw(fmt_clock(app.elapsed)),
        sep.clone(),
        Span::raw(format!("operator {}", app.info.operator)),
        sep.clone(),
        Span::raw(if app.auto { "auto on" } else { "auto off" }),
        sep,
        Span::raw(format!("journal {}", app.info.journal.display())),
    ])
    .patch_style(theme.header());
    buf.set_line(area.x, area.y, &line, area.width);
}
