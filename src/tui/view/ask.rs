//! Draws [`Ask`](crate::tui::app::Ask): what will happen, then the one key that says yes and
//! `Esc` for not now.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::app::Ask;
use crate::tui::theme::Theme;
use crate::tui::view::dialog_with_keys;

pub fn draw(ask: &Ask, theme: Theme, area: Rect, buf: &mut Buffer) {
    let mut lines: Vec<Line> = ask.lines.iter().map(|l| Line::raw(l.as_str())).collect();
    lines.push(Line::raw(""));
    let no = if ask.yes == 'N' { "" } else { "n or " };
    let keys = Line::from(vec![
        Span::styled(ask.yes.to_string(), theme.key()),
        Span::raw(format!(" {}   ", ask.yes_label)),
        Span::raw(no),
        Span::styled("Esc", theme.key()),
        Span::raw(" not now"),
    ]);
    dialog_with_keys(theme, &ask.title, lines, keys, 72, area, buf);
}
