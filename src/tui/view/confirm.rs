//! The confirm dialog for a `confirm` step: the exact command per host as shown (secrets
//! masked; hosts running the same command on one line, named as node ranges), and `y`/`n`. After a canary (SPEC "Fleets") it shows the canary hosts' results
//! first: what the operator decides on.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::{HostStatus, StepOutcome, StepRef, Waiting};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::dialog_with_keys;

/// About how wide a list of host names may get before it is cut to its first and last.
const HOST_NAMES_WIDTH: usize = 60;

pub fn draw(app: &App, theme: Theme, step: &StepRef, area: Rect, buf: &mut Buffer) {
    let Some(Waiting::Approval {
        hosts,
        commands,
        reason,
        ..
    }) = app.view_of(&step.service).and_then(|v| v.waiting.as_ref())
    else {
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            Span::raw("Service "),
            Span::styled(step.service.as_str(), theme.title()),
            Span::raw(format!(" · {} ", super::step_label(app, step))),
        ]),
        Line::raw(format!(
            "Runs on {} host{}: {}",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            crate::gather::names(hosts, HOST_NAMES_WIDTH)
        )),
        Line::raw(""),
    ];
    if let Some(reason) = reason {
        lines.insert(
            2,
            Line::styled(
                if reason.ends_with(['?', '.']) {
                    format!("Asked because {reason}")
                } else {
                    format!("Asked because {reason}.")
                },
                theme.danger(),
            ),
        );
    }
    let canary = canary_lines(app, theme, step, hosts);
    let is_canary = !canary.is_empty();
    lines.extend(canary);
    // Hosts that would run the same command are one line: 200 hosts, one command to read.
    let groups = crate::gather::gather(
        commands
            .iter()
            .map(|(host, command)| (host.clone(), command)),
    );
    let alike = groups.len() == 1 && commands.len() > 1;
    for group in groups {
        // The hosts were named just above when they all run the same.
        let label = if alike {
            "each host".to_string()
        } else {
            group.heading(HOST_NAMES_WIDTH)
        };
        lines.push(Line::from(vec![
            Span::styled(label, theme.key()),
            Span::raw(" $ "),
            Span::styled(group.key.as_str(), theme.command()),
        ]));
    }
    let keys = Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" approve   "),
        Span::styled("n", theme.key()),
        Span::raw(" decline (asks again)   "),
        Span::styled("Esc", theme.key()),
        Span::raw(" not now (Enter reopens)"),
    ]);
    let title = if is_canary {
        "Canary done: run on the rest?"
    } else {
        "Approve this step?"
    };
    dialog_with_keys(theme, title, lines, keys, 100, area, buf);
}

/// The results of the hosts that already ran the step while it waits (a canary's), one line
/// each, failures first; none for a step that has not run anywhere yet.
fn canary_lines(
    app: &App,
    theme: Theme,
    step: &StepRef,
    asked: &[crate::runbook::model::HostId],
) -> Vec<Line<'static>> {
    let Some(statuses) = app.view_of(&step.service).and_then(|v| v.steps.get(step)) else {
        return Vec::new();
    };
    let mut ran: Vec<_> = statuses
        .iter()
        .filter(|(host, status)| {
            !asked.contains(host)
                && matches!(status, HostStatus::Finished { attempt, .. } if *attempt > 0)
        })
        .collect();
    if ran.is_empty() {
        return Vec::new();
    }
    ran.sort_by_key(|(_, status)| {
        !matches!(
            status,
            HostStatus::Finished {
                outcome: StepOutcome::Failed
                    | StepOutcome::Timeout
                    | StepOutcome::Error
                    | StepOutcome::Unknown,
                ..
            }
        )
    });
    let mut lines = vec![Line::styled(
        format!(
            "Canary: {} host{} ran it",
            ran.len(),
            if ran.len() == 1 { "" } else { "s" }
        ),
        theme.title(),
    )];
    for (host, status) in ran {
        let badge = theme.host_status(status);
        let detail = match status {
            HostStatus::Finished {
                exit_code,
                duration,
                ..
            } => {
                let code = exit_code.map_or_else(|| "no exit".to_string(), |c| format!("exit {c}"));
                let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
                format!("  {code} · {}", crate::export::metrics::human_ms(ms))
            }
            _ => String::new(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("  {:<12} ", host.as_str())),
            Span::styled(format!("{} {}", badge.symbol, badge.word), badge.style),
            Span::raw(detail),
        ]));
    }
    lines.push(Line::raw(""));
    lines
}
