//! The steps pane: the selected service's checks, restores, verification and (drills) injects,
//! each with every host's latest result — symbol and word, attempt, exit code, duration.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::{HostStatus, Phase, StepOutcome, StepRef, Waiting};
use crate::runbook::model::{HostId, Step, StepAction};
use crate::tui::action::Focus;
use crate::tui::app::{App, StepRow};
use crate::tui::theme::Theme;
use crate::tui::view::{pane, put, window_top};

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) -> (Rect, usize) {
    let Some(service) = app.selected_service() else {
        let inner = pane(
            app,
            theme,
            Focus::Steps,
            Line::styled(" Steps ", theme.title()),
            area,
            buf,
        );
        return (inner, 0);
    };
    let view = app.view_of(&service.id);
    let state = view.map(|v| v.state).unwrap_or_default();
    let badge = theme.state(state);
    let title = Line::from(vec![
        Span::raw(" "),
        Span::styled(format!("{} {}", badge.symbol, badge.word), badge.style),
        Span::styled(
            format!(" · {} · {} ", service.id, service.name),
            theme.title(),
        ),
    ]);
    let mut block_title = title;
    if view.is_some_and(|v| v.by_hand) {
        block_title.push_span(Span::raw("· by hand "));
    }
    if let Some(span) = view.and_then(|v| degraded_span(theme, &v.degraded)) {
        block_title.push_span(span);
    }
    let inner = pane(app, theme, Focus::Steps, block_title, area, buf);
    // The reason for the state, on the bottom border.
    if let Some(reason) = view.and_then(|v| v.reason.as_deref())
        && area.height > 1
        && area.width > 4
    {
        {
            let y = area.y + area.height - 1;
            put(
                buf,
                area.x + 1,
                y,
                &format!(" {reason} "),
                area.width - 2,
                theme.dim(),
            );
        }
    }
    let steps = app.steps_of(service);
    let rows = app.step_rows();
    let height = usize::from(inner.height);
    let sel = app.selected_step_row();
    let top = window_top(0, Some(sel), rows.len(), height);
    let waiting = view.and_then(|v| v.waiting.as_ref());
    let current = view.and_then(|v| v.current.as_ref());
    for (n, row) in rows.iter().enumerate().skip(top).take(height) {
        let y = inner.y + u16::try_from(n - top).unwrap_or(u16::MAX);
        let rect = Rect::new(inner.x, y, inner.width, 1);
        let line = match row {
            StepRow::Step(r) => {
                let step = steps.iter().find(|(s, _)| s == r).map(|(_, s)| *s);
                step_line(theme, r, step, waiting, current)
            }
            StepRow::Host(r, _) | StepRow::Group(r, _) => {
                host_row(app, theme, service, view, &steps, row, r, inner.width)
            }
        };
        buf.set_line(rect.x, rect.y, &line, rect.width);
        if n == sel {
            // Readable without color or reverse video too.
            put(buf, rect.x, rect.y, "›", 1, theme.base());
            let marker_style = if app.focus() == Focus::Steps {
                theme.selected()
            } else {
                theme.title()
            };
            buf.set_style(rect, marker_style);
        }
    }
    super::services::more_below(theme, inner, top + height < rows.len(), buf);
    (inner, top)
}

/// The line of a host row (or of a group of hosts alike): its status as this run counts
/// attempts, and who marked a manual step.
#[allow(clippy::too_many_arguments)]
fn host_row(
    app: &App,
    theme: Theme,
    service: &crate::runbook::model::Service,
    view: Option<&crate::engine::ServiceView>,
    steps: &[(StepRef, &crate::runbook::model::Step)],
    row: &StepRow,
    r: &StepRef,
    width: u16,
) -> Line<'static> {
    let host = row.host().cloned().unwrap_or_else(|| HostId::new(""));
    let mut status = view
        .and_then(|v| v.steps.get(r))
        .and_then(|h| h.get(&host))
        .cloned()
        .unwrap_or_default();
    // The attempt as this run counts it: a restore run again by hand is #2, not
    // a second #1.
    if let HostStatus::Running { attempt } | HostStatus::Finished { attempt, .. } = &mut status {
        *attempt = app.attempt_of(r, &host, *attempt);
    }
    let manual = steps
        .iter()
        .find(|(s, st)| s == r && matches!(st.action, StepAction::Manual(_)))
        .map(|(_, st)| Manual {
            by: app
                .manual_by
                .get(&(service.id.clone(), st.name.clone()))
                .map(String::as_str),
        });
    match row {
        StepRow::Group(_, hosts) => group_line(theme, hosts, &status, manual, usize::from(width)),
        _ => host_line(theme, host.as_str(), &status, manual),
    }
}

/// "· ◐ 2 degraded: h03, h17" for a service up without some hosts (SPEC "Fleets").
fn degraded_span(
    theme: Theme,
    degraded: &[crate::runbook::model::HostId],
) -> Option<Span<'static>> {
    if degraded.is_empty() {
        return None;
    }
    let names: Vec<&str> = degraded
        .iter()
        .take(5)
        .map(crate::runbook::model::HostId::as_str)
        .collect();
    let more = if degraded.len() > 5 { " …" } else { "" };
    Some(Span::styled(
        format!(
            "· ◐ {} degraded: {}{more} ",
            degraded.len(),
            names.join(", ")
        ),
        theme.danger(),
    ))
}

fn step_line<'a>(
    theme: Theme,
    r: &StepRef,
    step: Option<&'a Step>,
    waiting: Option<&Waiting>,
    current: Option<&StepRef>,
) -> Line<'a> {
    let phase = match r.phase {
        Phase::Check => "check",
        Phase::Restore => "restore",
        Phase::Verify => "verify",
        Phase::Inject => "inject",
        Phase::Undo => "undo",
    };
    let marker = if current == Some(r) { "▸" } else { " " };
    // What the step is and whether it waits come before its name: on a narrow pane the
    // name is what gets cut, never "[confirm]" or the question.
    let mut spans = vec![Span::raw(format!(" {marker}{phase} {}", r.index + 1))];
    if let Some(step) = step {
        if matches!(step.action, StepAction::Manual(_)) {
            spans.push(Span::styled(" [manual]", theme.dim()));
        }
        if step.confirm.asks() {
            spans.push(Span::styled(" [confirm]", theme.dim()));
        }
    }
    match waiting {
        Some(Waiting::Approval { step, .. }) if step == r => {
            spans.push(Span::styled(
                " ⚑ awaiting approval (Enter)",
                theme.message(),
            ));
        }
        Some(Waiting::Manual { step, .. }) if step == r => {
            spans.push(Span::styled(" ⚑ awaiting operator (d/f)", theme.message()));
        }
        _ => {}
    }
    spans.push(Span::raw(" · "));
    spans.push(Span::styled(
        step.map_or("?", |s| s.name.as_str()),
        theme.title(),
    ));
    if let Some(step) = step.filter(|s| s.retries > 0) {
        spans.push(Span::styled(
            format!(" [retries {}]", step.retries),
            theme.dim(),
        ));
    }
    Line::from(spans)
}

/// A manual step, and who marked it when the journal said so.
struct Manual<'a> {
    by: Option<&'a str>,
}

fn host_line(
    theme: Theme,
    host: &str,
    status: &HostStatus,
    manual: Option<Manual<'_>>,
) -> Line<'static> {
    let badge = theme.host_status(status);
    let spans = vec![
        Span::raw(format!("    {host:<12} ")),
        Span::styled(format!("{} {}", badge.symbol, badge.word), badge.style),
        Span::styled(detail(status, manual, Detail::Host), theme.dim()),
    ];
    Line::from(spans)
}

/// Hosts folded into one row (they stand alike and printed the same): the status first,
/// without what differs between them (attempt, duration), then how many and which, the
/// names cut to the pane's `width`.
fn group_line(
    theme: Theme,
    hosts: &[HostId],
    status: &HostStatus,
    manual: Option<Manual<'_>>,
    width: usize,
) -> Line<'static> {
    let badge = theme.host_status(status);
    let shown = format!("    {} {}", badge.symbol, badge.word);
    let detail = detail(status, manual, Detail::Group);
    let count = format!("  {} hosts: ", hosts.len());
    let used = [&shown, &detail, &count]
        .iter()
        .map(|s| s.chars().count())
        .sum::<usize>();
    let names = crate::gather::names(hosts, width.saturating_sub(used).max(12));
    Line::from(vec![
        Span::styled(shown, badge.style),
        Span::styled(detail, theme.dim()),
        Span::raw(count),
        Span::styled(names, theme.title()),
    ])
}

/// Whether a row is one host's or a folded group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    Host,
    Group,
}

/// What follows a host row's status word.
fn detail(status: &HostStatus, manual: Option<Manual<'_>>, row: Detail) -> String {
    match status {
        HostStatus::Running { .. } | HostStatus::RetryWait { .. } if row == Detail::Group => {
            String::new()
        }
        HostStatus::Running { attempt } => format!("  #{attempt}"),
        HostStatus::RetryWait { next_attempt } => format!("  next #{next_attempt}"),
        // A manual step has no exit code nor a duration worth showing: who marked it matters.
        HostStatus::Finished { outcome, .. } if manual.is_some() => {
            let word = if *outcome == StepOutcome::Ok {
                "done"
            } else {
                "failed"
            };
            match manual.and_then(|m| m.by) {
                Some(op) => format!("  manual · {word} by {op}"),
                None => format!("  manual · marked {word}"),
            }
        }
        HostStatus::Finished {
            exit_code,
            attempt,
            duration,
            ..
        } => {
            let code = exit_code.map_or_else(|| "no exit".to_string(), |c| format!("exit {c}"));
            if row == Detail::Group {
                return format!("  {code}");
            }
            // In the timeline's words (export::describe), so both panes read alike.
            let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
            format!(
                "  {code}  #{attempt}  {}",
                crate::export::metrics::human_ms(ms)
            )
        }
        HostStatus::Pending if manual.is_some() => "  (operator marks it)".to_string(),
        HostStatus::Pending | HostStatus::NotRun => String::new(),
    }
}
