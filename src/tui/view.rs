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
pub mod palette;
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
    let footer_rows = match &hint {
        Some((_, Some(_))) => 3,
        Some((_, None)) => 2,
        None => 1,
    };
    let [header_area, body, footer_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(footer_rows),
    ])
    .areas(area);
    let [top, bottom_area] = Layout::vertical([
        Constraint::Length(top_height(app, body.height)),
        Constraint::Fill(1),
    ])
    .areas(body);
    let [services_area, steps_area] = Layout::horizontal([
        Constraint::Length(services_width(app, area.width)),
        Constraint::Fill(1),
    ])
    .areas(top);

    let buf = frame.buffer_mut();
    header::draw(app, theme, header_area, buf);
    let (services, services_top, tiers) = services::draw(app, theme, services_area, buf);
    let (steps, steps_top) = steps::draw(app, theme, steps_area, buf);
    let bottom = match app.bottom_mode() {
        BottomMode::Output => output::draw(app, theme, bottom_area, buf),
        BottomMode::Timeline => timeline::draw(app, theme, bottom_area, buf),
    };
    footer::draw(app, theme, keymap, hint.as_ref(), footer_area, buf);

    let mut help = help::Scrolled::default();
    match app.overlay() {
        Some(Overlay::Help) => help = help::draw(theme, keymap, app.help_top, area, buf),
        Some(Overlay::Approval(step)) => confirm::draw(app, theme, step, area, buf),
        Some(Overlay::Manual(step)) => manual::draw(app, theme, step, area, buf),
        Some(Overlay::Input(input)) if input.purpose == InputPurpose::Palette => {
            palette::draw(app, theme, input, footer_area, buf);
        }
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
        tiers,
        services,
        steps,
        bottom,
        services_top,
        steps_top,
        help_max: help.max,
        help_page: help.page,
    }
}

/// Rows the output pane keeps at least (borders included) when the service list grows.
const MIN_BOTTOM: u16 = 7;

/// The upper panes' height: 55% of the body, more when that lets every service show (with
/// its tier headings if they fit too, else with the tiers folded into the list), keeping
/// [`MIN_BOTTOM`] rows for the output.
fn top_height(app: &App, body: u16) -> u16 {
    let base = body * 55 / 100;
    let most = body.saturating_sub(MIN_BOTTOM).max(base);
    let rows = u16::try_from(app.rows().len()).unwrap_or(u16::MAX);
    let services = u16::try_from(
        app.rows()
            .iter()
            .filter(|r| matches!(r, crate::tui::app::Row::Service(_)))
            .count(),
    )
    .unwrap_or(u16::MAX);
    if rows + 2 <= most {
        base.max(rows + 2)
    } else {
        base.max((services + 2).min(most))
    }
}

/// The service list's width: 40% of the screen, up to half of it when the longest id needs
/// that to keep its state word beside it.
fn services_width(app: &App, width: u16) -> u16 {
    let longest = app
        .runbook
        .services
        .iter()
        .map(|s| s.id.as_str().chars().count())
        .max()
        .unwrap_or(0);
    // Borders, tier gutter, marker, symbol, the state word and the time.
    let wanted = u16::try_from(longest + 2 + 2 + 2 + 10 + 5).unwrap_or(u16::MAX);
    wanted.clamp(width * 2 / 5, width / 2)
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

/// A centered dialog whose own keys (`keys`, its last line) are always shown on its bottom
/// rows, however long its text: the text above is cut first, with a line saying so.
pub(crate) fn dialog_with_keys(
    theme: Theme,
    title: &str,
    lines: Vec<Line<'_>>,
    keys: Line<'_>,
    width: u16,
    area: Rect,
    buf: &mut Buffer,
) {
    let width = width.min(area.width.saturating_sub(2)).max(10);
    let inner_width = usize::from(width.saturating_sub(2)).max(1);
    let rows_of = |l: &Line| {
        let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
        timeline::word_wrap(&text, inner_width, inner_width).len()
    };
    let body_rows: usize = lines.iter().map(rows_of).sum();
    let key_rows = keys.width().max(1).div_ceil(inner_width);
    let most = usize::from(area.height.saturating_sub(2).max(3));
    let height = (body_rows + key_rows + 2).min(most);
    let rect = centered(area, width, u16::try_from(height).unwrap_or(u16::MAX));
    ratatui::widgets::Widget::render(Clear, rect, buf);
    let block = Block::bordered()
        .border_style(theme.dialog_border())
        .title(Line::styled(format!(" {title} "), theme.title()))
        .style(theme.dialog());
    let inner = block.inner(rect);
    ratatui::widgets::Widget::render(block, rect, buf);
    let key_h = u16::try_from(key_rows)
        .unwrap_or(u16::MAX)
        .min(inner.height);
    let body_h = inner.height - key_h;
    let keys_area = Rect::new(inner.x, inner.y + body_h, inner.width, key_h);
    ratatui::widgets::Widget::render(
        Paragraph::new(keys).wrap(Wrap { trim: false }),
        keys_area,
        buf,
    );
    let body_area = Rect::new(inner.x, inner.y, inner.width, body_h);
    ratatui::widgets::Widget::render(
        Paragraph::new(lines).wrap(Wrap { trim: false }),
        body_area,
        buf,
    );
    if body_rows > usize::from(body_h) && body_h > 0 {
        let y = body_area.y + body_h - 1;
        let note = format!(
            "… {} more row(s): a larger terminal shows all",
            body_rows - usize::from(body_h) + 1
        );
        buf.set_stringn(
            body_area.x,
            y,
            format!("{note:<w$}", w = usize::from(body_area.width)),
            usize::from(body_area.width),
            theme.dim(),
        );
    }
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
