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
    // One section per dialog, so a dialog's keys never read as main-view keys.
    let sections = [
        (Context::Approval, "Approve a step"),
        (Context::Manual, "Manual step"),
        (Context::HostKey, "Unknown host key"),
        (Context::Ask, "Inject, undo, r when up, decline"),
        (Context::TextInput, "Typing a reason or note"),
        (Context::QuitConfirm, "Quit?"),
    ];
    for (context, title) in sections {
        lines.push(Line::styled(title, theme.title()));
        if context == Context::Ask {
            entry(&mut lines, "y/N", "the key the question names");
        }
        for b in keymap.for_context(context) {
            if b.contexts.contains(&Context::Main) && b.label != "Esc" {
                continue;
            }
            entry(&mut lines, b.label, b.help);
        }
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
    let columns = into_columns(lines, rows, theme);
    let widths: Vec<u16> = columns
        .iter()
        .map(|c| {
            let w = c.iter().map(Line::width).max().unwrap_or(0) + 1;
            u16::try_from(w).unwrap_or(u16::MAX)
        })
        .collect();
    let fits = widths.iter().map(|w| usize::from(*w)).sum::<usize>() <= usize::from(inner.width);
    let share = inner.width / u16::try_from(columns.len()).unwrap_or(1).max(1);
    // Equal shares only while each still shows a key and most of its words; narrower than
    // that, the columns keep their width and those that do not fit are named as left out.
    let shares_readable = share >= 20;
    let mut x = inner.x;
    let mut left_out = 0;
    for (column, width) in columns.iter().zip(widths) {
        let width = if fits || !shares_readable {
            width
        } else {
            share
        };
        if !fits && !shares_readable && x + width > inner.x + inner.width {
            left_out += 1;
            continue;
        }
        for (row, line) in column.iter().enumerate() {
            let y = inner.y + u16::try_from(row).unwrap_or(0);
            buf.set_line(x, y, line, width.saturating_sub(1));
        }
        x += width;
    }
    if left_out > 0 {
        let text = format!(" {left_out} more column(s) of keys: widen the terminal ");
        let y = inner.y + inner.height;
        buf.set_stringn(inner.x, y, &text, usize::from(inner.width), theme.dim());
    }
}

/// Cut the lines into columns of `rows`, never leaving a heading at the foot of a column
/// (it would read as belonging to the keys of the next one).
fn into_columns(lines: Vec<Line<'_>>, rows: usize, theme: Theme) -> Vec<Vec<Line<'_>>> {
    let heading = theme.title();
    let mut columns: Vec<Vec<Line>> = vec![Vec::new()];
    for line in lines {
        let is_heading = line.style == heading && !line.spans.is_empty();
        let column = columns.last().map_or(0, Vec::len);
        if column == rows || (is_heading && column + 1 >= rows && column > 0) {
            columns.push(Vec::new());
        }
        if let Some(c) = columns.last_mut() {
            c.push(line);
        }
    }
    columns
}
