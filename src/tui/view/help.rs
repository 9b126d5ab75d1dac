//! The `?` overlay: every key of the keymap with what it does, main view and dialogs.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};

use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;
use crate::tui::view::centered;

/// Every line of the help: how a run goes, the main view's keys, the palette's words, and
/// each dialog's keys.
fn help_lines(theme: Theme, keymap: &Keymap) -> Vec<Line<'static>> {
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
    lines.push(Line::styled("Command palette (:)", theme.title()));
    lines.push(Line::raw(" letters of a word, then of a"));
    lines.push(Line::raw(" service: ':rest mail' Enter"));
    for c in crate::tui::palette::COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<8}", c.word), theme.key()),
            Span::raw(format!(" {}", c.help)),
        ]));
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
            entry(&mut lines, "y/N", "the key it names");
        }
        for b in keymap.for_context(context) {
            if b.contexts.contains(&Context::Main) && b.label != "Esc" {
                continue;
            }
            entry(&mut lines, b.label, b.help);
        }
    }
    lines
}

/// Draw the keys from line `top` on; returns where it was drawn from and how far it scrolls.
pub fn draw(theme: Theme, keymap: &Keymap, top: usize, area: Rect, buf: &mut Buffer) -> Scrolled {
    let lines = help_lines(theme, keymap);
    let width = area.width.saturating_sub(4).min(110);
    let height = area.height.saturating_sub(2);
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(theme.dialog_border())
        .title(Line::styled(" Keys (Esc or ? to close) ", theme.title()));
    let inner = block.inner(rect);
    block.render(rect, buf);
    let rows = usize::from(inner.height).max(1);
    let widest = lines.iter().map(Line::width).max().unwrap_or(0) + 1;
    let columns = into_columns(lines.clone(), rows, theme);
    // Every key at once in columns when they fit side by side; otherwise one column that
    // scrolls (j/k, PgUp/PgDn, Home/End), as a list is read top to bottom.
    if columns.len() * widest <= usize::from(inner.width) + 1 {
        let mut x = inner.x;
        let w = u16::try_from(widest).unwrap_or(u16::MAX);
        for column in &columns {
            for (row, line) in column.iter().enumerate() {
                let y = inner.y + u16::try_from(row).unwrap_or(0);
                buf.set_line(x, y, line, w.saturating_sub(1).min(inner.right() - x));
            }
            x = x.saturating_add(w).min(inner.right());
        }
        return Scrolled {
            top: 0,
            max: 0,
            page: rows,
        };
    }
    let max = lines.len().saturating_sub(rows);
    let top = top.min(max);
    for (row, line) in lines.iter().skip(top).take(rows).enumerate() {
        let y = inner.y + u16::try_from(row).unwrap_or(0);
        buf.set_line(inner.x, y, line, inner.width);
    }
    let note = if top < max {
        format!(" ↓ {} more: j/PgDn/End ", max - top)
    } else if max > 0 {
        " end · k/PgUp/Home back up ".to_string()
    } else {
        String::new()
    };
    if !note.is_empty() {
        let w = u16::try_from(note.chars().count())
            .unwrap_or(u16::MAX)
            .min(inner.width);
        let x = inner.x + inner.width.saturating_sub(w);
        buf.set_stringn(
            x,
            inner.y + inner.height,
            &note,
            usize::from(w),
            theme.dim(),
        );
    }
    Scrolled {
        top,
        max,
        page: rows,
    }
}

/// Where the help was drawn from, how far it can scroll, and a page's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scrolled {
    pub top: usize,
    pub max: usize,
    pub page: usize,
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
