//! The `?` overlay: every key of the keymap with what it does, main view and dialogs.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};

use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crate::tui::view::centered;

pub fn draw(theme: Theme, keymap: &Keymap, area: Rect, buf: &mut Buffer) {
    let mut lines: Vec<Line> = vec![
        Line::styled("How a run goes", theme.title()),
        Line::raw(" Opening checks every"),
        Line::raw(" service; nothing is"),
        Line::raw(" restored until asked."),
        Line::raw(" a  all, in plan order,"),
        Line::raw("    asking at confirm"),
        Line::raw("    (y/n), manual (d/f)"),
        Line::raw(" r  one service by hand"),
        Line::styled("Main view", theme.title()),
    ];
    let entry = |lines: &mut Vec<Line>, label: &str, help: &str| {
        lines.push(Line::from(vec![
            Span::styled(format!(" {label:<5}"), theme.key()),
            Span::raw(format!(" {help}")),
        ]));
    };
    for b in keymap.for_context(Context::Main) {
        entry(&mut lines, b.label, b.help);
    }
    lines.push(Line::styled("Dialogs", theme.title()));
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for b in keymap.bindings() {
        if b.contexts.contains(&Context::Main) || seen.contains(&(b.label, b.help)) {
            continue;
        }
        seen.push((b.label, b.help));
        entry(&mut lines, b.label, b.help);
    }
    let width = area.width.saturating_sub(4).min(100);
    let height = area.height.saturating_sub(2);
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(theme.dialog_border())
        .title(Line::styled(" Keys (Esc or ? to close) ", theme.title()));
    let inner = block.inner(rect);
    block.render(rect, buf);
    // As many columns as it takes to show every key at once, each as wide as its widest
    // line when that fits (narrow screens), else equal shares.
    let rows = usize::from(inner.height).max(1);
    let columns: Vec<&[Line]> = lines.chunks(rows).collect();
    let widths: Vec<u16> = columns
        .iter()
        .map(|c| {
            let w = c.iter().map(Line::width).max().unwrap_or(0) + 1;
            u16::try_from(w).unwrap_or(u16::MAX)
        })
        .collect();
    let fits = widths.iter().map(|w| usize::from(*w)).sum::<usize>() <= usize::from(inner.width);
    let share = inner.width / u16::try_from(columns.len()).unwrap_or(1).max(1);
    let mut x = inner.x;
    for (column, width) in columns.iter().zip(widths) {
        let width = if fits { width } else { share };
        for (row, line) in column.iter().enumerate() {
            let y = inner.y + u16::try_from(row).unwrap_or(0);
            buf.set_line(x, y, line, width.saturating_sub(1));
        }
        x += width;
    }
}
