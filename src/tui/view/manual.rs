//! The manual step dialog: the instruction, `d` done, `f` failed.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::{StepRef, Waiting};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::dialog_with_keys;

pub fn draw(app: &App, theme: Theme, step: &StepRef, area: Rect, buf: &mut Buffer) {
    let Some(Waiting::Manual { instruction, .. }) =
        app.view_of(&step.service).and_then(|v| v.waiting.as_ref())
    else {
        return;
    };
    let lines = vec![
        Line::from(vec![
            Span::raw("Service "),
            Span::styled(step.service.as_str(), theme.title()),
            Span::raw(format!(" · {}", super::step_label(app, step))),
        ]),
        Line::raw(""),
        Line::styled(instruction.as_str(), theme.command()),
        Line::raw(""),
    ];
    let keys = Line::from(vec![
        Span::styled("d", theme.key()),
        Span::raw(" done   "),
        Span::styled("f", theme.key()),
        Span::raw(" failed (asks why)   "),
        Span::styled("Esc", theme.key()),
        Span::raw(" not now (Enter reopens)"),
    ]);
    dialog_with_keys(theme, "Manual step", lines, keys, 80, area, buf);
}
