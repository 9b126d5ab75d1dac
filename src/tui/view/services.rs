//! The service list: services grouped by tier, each with a state badge (symbol and word, so it
//! reads without color) and its time against its RTO. Only visible rows are built.

use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::runbook::model::Service;
use crate::tui::action::Focus;
use crate::tui::app::{App, Row, Tiers};
use crate::tui::theme::Theme;
use crate::tui::view::{fmt_dur, pane, put, window_top};

/// The fewest characters of a service id a row shows (the last of them `…`) before it gives
/// up its state word: ids are never cut to a letter (SPEC "The TUI").
const MIN_ID: usize = 8;

/// Returns the content area, its first visible row and how tiers were shown.
pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) -> (Rect, usize, Tiers) {
    let total = app.runbook.services.len();
    let shown = app
        .rows()
        .iter()
        .filter(|r| matches!(r, Row::Service(_)))
        .count();
    let title = if app.filter().is_empty() {
        format!(" Services ({total}) ")
    } else {
        format!(" Services ({shown}/{total}) /{} ", app.filter())
    };
    let inner = pane(
        app,
        theme,
        Focus::Services,
        Line::styled(title, theme.title()),
        area,
        buf,
    );
    let height = usize::from(inner.height);
    // Tier headings take rows of their own only while every row fits; otherwise the tier's
    // number stands beside its first service, so more services are in view at once.
    let tiers = if app.rows().len() <= height {
        Tiers::Headings
    } else {
        Tiers::Folded
    };
    let rows = app.list_rows(tiers);
    let sel_pos = app
        .selected
        .and_then(|s| rows.iter().position(|r| *r == Row::Service(s)));
    let top = window_top(app.services_top, sel_pos, rows.len(), height);
    if rows.is_empty() && inner.height > 0 {
        put(
            buf,
            inner.x,
            inner.y,
            " no service matches the filter",
            inner.width,
            theme.dim(),
        );
    }
    let mut last_tier = None;
    for (n, row) in rows.iter().skip(top).take(height).enumerate() {
        let y = inner.y + u16::try_from(n).unwrap_or(u16::MAX);
        match row {
            Row::Tier(t) => {
                let text = format!("── tier {t} {}", "─".repeat(usize::from(inner.width)));
                put(buf, inner.x, y, &text, inner.width, theme.tier_heading());
            }
            Row::Service(i) => {
                let service = &app.runbook.services[*i];
                let selected = app.selected == Some(*i);
                let mut row = Rect::new(inner.x, y, inner.width, 1);
                if tiers == Tiers::Folded && row.width > 2 {
                    let gutter = if last_tier == Some(service.tier) {
                        "  ".to_string()
                    } else {
                        format!("{:<2}", service.tier)
                    };
                    put(buf, row.x, y, &gutter, 2, theme.tier_heading());
                    last_tier = Some(service.tier);
                    row.x += 2;
                    row.width -= 2;
                }
                draw_service(app, theme, service, selected, row, buf);
            }
        }
    }
    let outside = attention_outside(app, &rows, top, height);
    match outside {
        Some(text) => border_note(theme, inner, &text, buf),
        None => more_below(theme, inner, top + height < rows.len(), buf),
    }
    (inner, top, tiers)
}

/// A service that asks or failed but is scrolled out of the list's window, as the note on
/// its bottom border says it: `↓ mail-imap failed`.
fn attention_outside(app: &App, rows: &[Row], top: usize, height: usize) -> Option<String> {
    rows.iter().enumerate().find_map(|(n, row)| {
        let Row::Service(i) = row else { return None };
        if (top..top + height).contains(&n) {
            return None;
        }
        let service = &app.runbook.services[*i];
        let view = app.view_of(&service.id)?;
        let word = if view.waiting.is_some() {
            "asks"
        } else if view.state == crate::engine::state::ServiceState::Failed {
            "failed"
        } else {
            return None;
        };
        let arrow = if n < top { "↑" } else { "↓" };
        Some(format!(" {arrow} {} {word} ", service.id))
    })
}

fn border_note(theme: Theme, inner: Rect, text: &str, buf: &mut Buffer) {
    if inner.width < 10 {
        return;
    }
    let y = inner.y + inner.height;
    let w = u16::try_from(text.chars().count())
        .unwrap_or(u16::MAX)
        .min(inner.width);
    let x = inner.x + inner.width.saturating_sub(w + 1);
    put(buf, x, y, text, w, theme.message());
}

/// "↓ more" on a pane's bottom border when its list goes on below what is shown.
pub(crate) fn more_below(theme: Theme, inner: Rect, more: bool, buf: &mut Buffer) {
    if !more || inner.width < 10 {
        return;
    }
    let y = inner.y + inner.height;
    let text = " ↓ more below ";
    let w = u16::try_from(text.chars().count()).unwrap_or(0);
    let x = inner.x + inner.width.saturating_sub(w + 1);
    put(buf, x, y, text, w, theme.dim());
}

fn draw_service(
    app: &App,
    theme: Theme,
    service: &Service,
    selected: bool,
    row: Rect,
    buf: &mut Buffer,
) {
    let view = app.view_of(&service.id);
    let state = view.map(|v| v.state).unwrap_or_default();
    let badge = theme.state(state);
    let marker = if selected { "›" } else { " " };
    let waiting = view.is_some_and(|v| v.waiting.is_some());
    let (rto, over) = rto_text(app, service);
    // Up without some hosts (SPEC "Fleets"): how many are degraded, beside the RTO.
    let degraded = view.map_or(0, |v| v.degraded.len());
    let flag = format!(
        "{}{}",
        if waiting { "⚑ " } else { "" },
        if degraded > 0 {
            format!("◐{degraded} ")
        } else {
            String::new()
        }
    );
    let full_rto = format!("{flag}{rto}");
    let short_rto = format!("{flag}{}", short_rto(app, service));
    let long_left = format!("{marker}{} {:<9} ", badge.symbol, badge.word);
    let short_left = format!("{marker}{} ", badge.symbol);
    let width = usize::from(row.width);
    let id_w = service.id.as_str().chars().count();
    // The id and the state word are what the operator must read: the RTO shrinks first, then
    // goes, then the id is cut (with `…`, never below `MIN_ID` characters) before the state
    // word goes (the symbol stays).
    let fits = |l: &str, r: &str, id: usize| {
        l.chars().count() + id + r.chars().count() + usize::from(!r.is_empty()) <= width
    };
    // Unpadded, the state word leaves the id more room: "healthy push-notifications".
    let tight_left = format!("{marker}{} {} ", badge.symbol, badge.word);
    let no_rto = String::new();
    let cut_id = id_w.min(MIN_ID);
    let (left, rto) = [
        (&long_left, &full_rto, id_w),
        (&long_left, &short_rto, id_w),
        (&tight_left, &short_rto, id_w),
        (&tight_left, &no_rto, id_w),
        (&tight_left, &no_rto, cut_id),
        (&short_left, &short_rto, id_w),
        (&short_left, &no_rto, id_w),
    ]
    .into_iter()
    .find(|(l, r, id)| fits(l, r, *id))
    .map_or((short_left.clone(), String::new()), |(l, r, _)| {
        (l.clone(), r.clone())
    });
    let left_w = left.chars().count();
    let rto_w = rto.chars().count();
    let id_room = width.saturating_sub(left_w + rto_w + usize::from(rto_w > 0));
    let id = clip(service.id.as_str(), id_room);
    let pad = width.saturating_sub(left_w + id.chars().count() + rto_w);
    let line = Line::from(vec![
        Span::styled(left, badge.style),
        Span::raw(id),
        Span::raw(" ".repeat(pad)),
        Span::styled(
            rto,
            if over {
                theme.rto_over()
            } else {
                theme.rto_ok()
            },
        ),
    ]);
    buf.set_line(row.x, row.y, &line, row.width);
    if selected {
        buf.set_style(row, theme.selected());
    }
}

/// The time the RTO column shows: the run's fold measures it (`RunFold::time_against_rto_ms`,
/// the latest outage's length); before the journal said when the run began, the clock's.
fn rto_time(app: &App, service: &Service) -> Duration {
    app.outage_time(&service.id).unwrap_or(app.elapsed)
}

/// `12m/30m` (the latest outage's length, see `rto_time`, against its RTO); over the RTO it
/// ends in `!` and is drawn red.
pub fn rto_text(app: &App, service: &Service) -> (String, bool) {
    let t = rto_time(app, service);
    match service.rto {
        Some(rto) => {
            let over = t > rto;
            let mark = if over { "!" } else { "" };
            (format!("{}/{}{mark}", fmt_dur(t), fmt_dur(rto)), over)
        }
        None => (fmt_dur(t), false),
    }
}

/// The time alone (`40m`, `40m!` over the RTO), for narrow rows.
fn short_rto(app: &App, service: &Service) -> String {
    let t = rto_time(app, service);
    let over = service.rto.is_some_and(|rto| t > rto);
    format!("{}{}", fmt_dur(t), if over { "!" } else { "" })
}

/// Cut to `width` characters, ending in `…` when cut.
pub(crate) fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}
