//! The quit confirmation shown while steps run.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::theme::Theme;
use crate::tui::view::dialog;

pub fn draw(theme: Theme, area: Rect, buf: &mut Buffer) {
    let lines = vec![
        Line::styled("Steps are still running.", theme.danger()),
        Line::raw("Quitting stops them; the journal stays intact and --resume continues."),
        Line::raw(""),
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(" quit   "),
            Span::styled("n", theme.key()),
            Span::raw(" stay"),
        ]),
    ];
    dialog(theme, "Quit?", lines, 60, area, buf);
}
