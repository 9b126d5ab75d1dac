//! The output pane: the selected step's output on the selected host, from its bounded ring
//! buffer. Reads only the visible slice, so a 100,000-line buffer costs what 40 lines cost.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;

use crate::tui::action::Focus;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::{pane, put};

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) -> Rect {
    let target = app.output_target();
    let buffer = target.as_ref().and_then(|(s, h)| app.output.get(s, h));
    let scroll = app.output_scroll();
    let mut title = String::from(" Output ");
    if let Some((step, host)) = &target {
        let name = step.step(app.runbook()).map_or("?", |s| s.name.as_str());
        // A folded group's output is every one of its hosts' output: it says whose.
        let who = app.output_group().map_or_else(
            || host.to_string(),
            |hosts| crate::gather::heading(&hosts, usize::from(area.width / 2)),
        );
        let _ = write!(title, "· {} '{name}' @ {who} ", step.phase);
    }
    let len = buffer.map_or(0, crate::tui::output::OutputBuffer::len);
    title.push_str(if scroll.follow {
        "· follow "
    } else {
        "· scrolled "
    });
    if let Some(b) = buffer.filter(|b| b.dropped() > 0) {
        let _ = write!(title, "· {} earlier lines in the journal ", b.dropped());
    }
    let inner = pane(
        app,
        theme,
        Focus::Bottom,
        Line::styled(title, theme.title()),
        area,
        buf,
    );
    let height = usize::from(inner.height);
    let Some(buffer) = buffer.filter(|b| !b.is_empty()) else {
        let hint = if target.is_some() {
            " no output yet"
        } else {
            " no step selected"
        };
        if inner.height > 0 {
            put(buf, inner.x, inner.y, hint, inner.width, theme.dim());
        }
        return inner;
    };
    let top = scroll.top_for(len, height);
    for (n, line) in buffer.lines(top, height).enumerate() {
        let y = inner.y + u16::try_from(n).unwrap_or(u16::MAX);
        put(buf, inner.x, y, line, inner.width, theme.base());
    }
    if !scroll.follow && len > height && inner.width > 12 {
        let pos = format!(" {}-{}/{len} ", top + 1, (top + height).min(len));
        let w = u16::try_from(pos.chars().count()).unwrap_or(inner.width);
        let x = inner.right().saturating_sub(w);
        put(
            buf,
            x,
            area.bottom().saturating_sub(1),
            &pos,
            w,
            theme.dim(),
        );
    }
    inner
}
