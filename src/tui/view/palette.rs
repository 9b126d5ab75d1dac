//! The `:` palette's choices, in a box just above the footer where the text is typed (the
//! footer draws the text itself, as it does the filter's).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};

use crate::tui::app::{App, TextInput};
use crate::tui::palette::choices;
use crate::tui::theme::Theme;

/// Choices shown at once.
const SHOWN: usize = 8;

/// Draw the choices over the panes, their bottom edge on the footer's top.
pub fn draw(app: &App, theme: Theme, input: &TextInput, footer: Rect, buf: &mut Buffer) {
    let all = choices(app, &input.text);
    let pick = app.palette_pick.min(all.len().saturating_sub(1));
    let room = usize::from(footer.y.saturating_sub(1)).saturating_sub(2);
    let shown = SHOWN.min(room).max(1);
    let top = pick.saturating_sub(shown - 1);
    let lines: Vec<Line> = if all.is_empty() {
        vec![Line::styled(
            " nothing matches: Backspace, or Esc",
            theme.dim(),
        )]
    } else {
        all.iter()
            .enumerate()
            .skip(top)
            .take(shown)
            .map(|(i, c)| {
                let marker = if i == pick { "›" } else { " " };
                Line::from(vec![
                    Span::raw(marker),
                    Span::styled(format!("{:<28}", c.label), theme.key()),
                    Span::styled(format!(" {}", c.help), theme.dim()),
                ])
            })
            .collect()
    };
    let width = footer.width.min(72);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let y = footer.y.saturating_sub(height);
    let rect = Rect::new(footer.x, y, width, height.min(footer.y));
    Clear.render(rect, buf);
    let title = format!(" : {} of {} ", all.len().min(pick + 1), all.len());
    let block = Block::bordered()
        .border_style(theme.dialog_border())
        .title(Line::styled(title, theme.title()));
    let inner = block.inner(rect);
    block.render(rect, buf);
    for (n, line) in lines.iter().enumerate() {
        let y = inner.y + u16::try_from(n).unwrap_or(u16::MAX);
        if y >= inner.bottom() {
            break;
        }
        buf.set_line(inner.x, y, line, inner.width);
        if n + top == pick && !all.is_empty() {
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), theme.selected());
        }
    }
}
