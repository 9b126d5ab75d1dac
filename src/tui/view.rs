//! Drawing: `draw(&App, ...)` lays out the panes and overlays and paints one frame. Views only
//! read state — no IO, no locks, no waiting — and build lines only for visible rows.

pub mod ask;
pub mod confirm;
pub mod footer;
pub mod header;
pub mod help;
pub mod host_key;
pub mod input;
pub mod manual;
pub mod output;
pub mod quit;
pub mod services;
pub mod steps;
pub mod timeline;

use std::time::Duration;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::tui::action::Focus;
use crate::tui::app::{App, BottomMode, Hits, InputPurpose, Overlay};
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;

/// Paint a frame; return where the panes went, for `App::set_hits`.
pub fn draw(app: &App, theme: &Theme, keymap: &Keymap, frame: &mut Frame) -> Hits {
    let theme = *theme;
    let area = frame.area();
    let hint = crate::tui::hint::next_step_for(app, area.width);
    let [header_area, body, footer_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(if hint.is_some() { 2 } else { 1 }),
    ])
    .areas(area);
    let [top, bottom_area] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]).areas(body);
    let [services_area, steps_area] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Fill(1)]).areas(top);

    let buf = frame.buffer_mut();
    header::draw(app, theme, header_area, buf);
    let (services, services_top) = services::draw(app, theme, services_area, buf);
    let (steps, steps_top) = steps::draw(app, theme, steps_area, buf);
    let bottom = match app.bottom_mode() {
        BottomMode::Output => output::draw(app, theme, bottom_area, buf),
        BottomMode::Timeline => timeline::draw(app, theme, bottom_area, buf),
    };
    footer::draw(app, theme, keymap, hint.as_deref(), footer_area, buf);

    match app.overlay() {
        Some(Overlay::Help) => help::draw(theme, keymap, area, buf),
        Some(Overlay::Approval(step)) => confirm::draw(app, theme, step, area, buf),
        Some(Overlay::Manual(step)) => manual::draw(app, theme, step, area, buf),
        Some(Overlay::Input(input)) if input.purpose != InputPurpose::Filter => {
            input::draw(theme, input, area, buf);
        }
        Some(Overlay::QuitConfirm) => quit::draw(app, theme, area, buf),
        Some(Overlay::HostKey) => host_key::draw(app, theme, area, buf),
        Some(Overlay::Ask(ask)) => ask::draw(ask, theme, area, buf),
        // The filter is typed in the footer, over the live list.
        Some(Overlay::Input(_)) | None => {}
    }

    Hits {
        services,
        steps,
        bottom,
        services_top,
        steps_top,
    }
}

/// A bordered pane; returns its content area.
pub(crate) fn pane(
    app: &App,
    theme: Theme,
    focus: Focus,
    title: Line<'_>,
    area: Rect,
    buf: &mut Buffer,
) -> Rect {
    let focused = app.focus() == focus && app.overlay().is_none();
    let border = if focused {
        theme.border_focused()
    } else {
        theme.border()
    };
    let block = Block::bordered().border_style(border).title(title);
    let inner = block.inner(area);
    ratatui::widgets::Widget::render(block, area, buf);
    inner
}

/// A centered dialog with a title and text; returns nothing, it only paints.
pub(crate) fn dialog(
    theme: Theme,
    title: &str,
    lines: Vec<Line<'_>>,
    width: u16,
    area: Rect,
    buf: &mut Buffer,
) {
    let width = width.min(area.width.saturating_sub(2)).max(10);
    let inner_width = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_width))
        .sum();
    let height = u16::try_from(rows + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2).max(3));
    let rect = centered(area, width, height);
    ratatui::widgets::Widget::render(Clear, rect, buf);
    let block = Block::bordered()
        .border_style(theme.dialog_border())
        .title(Line::styled(format!(" {title} "), theme.title()))
        .style(theme.dialog());
    let p = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false });
    ratatui::widgets::Widget::render(p, rect, buf);
}

pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// The first row to show so that `selected` is visible in `height` rows, starting from `top`.
pub(crate) fn window_top(top: usize, selected: Option<usize>, len: usize, height: usize) -> usize {
    let height = height.max(1);
    let mut top = top.min(len.saturating_sub(height));
    if let Some(s) = selected {
        if s < top {
            top = s;
        } else if s >= top + height {
            top = s + 1 - height;
        }
    }
    top
}

/// Write `text` clipped to `width` cells.
pub(crate) fn put(buf: &mut Buffer, x: u16, y: u16, text: &str, width: u16, style: Style) {
    buf.set_stringn(x, y, text, usize::from(width), style);
}

/// `45s`, `12m`, `1h05m`.
pub fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// `01:02:03` for the header's elapsed time.
pub fn fmt_clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// `restore 1 'start gateway'`.
pub(crate) fn step_label(app: &App, step: &crate::engine::state::StepRef) -> String {
    let name = step.step(&app.runbook).map_or("?", |s| s.name.as_str());
    format!("{} {} '{name}'", step.phase, step.index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_short() {
        assert_eq!(fmt_dur(Duration::from_secs(45)), "45s");
        assert_eq!(fmt_dur(Duration::from_secs(12 * 60 + 5)), "12m");
        assert_eq!(fmt_dur(Duration::from_secs(3900)), "1h05m");
        assert_eq!(fmt_clock(Duration::from_secs(3723)), "01:02:03");
    }

    #[test]
    fn the_window_follows_the_selection() {
        assert_eq!(window_top(0, Some(15), 100, 10), 6);
        assert_eq!(window_top(20, Some(3), 100, 10), 3);
        assert_eq!(window_top(95, None, 100, 10), 90);
    }
}
