//! The confirm dialog for a `confirm` step: the exact command per host as shown (secrets
//! masked), and `y`/`n`.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::{StepRef, Waiting};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::dialog_with_keys;

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
            hosts
                .iter()
                .map(crate::runbook::model::HostId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Line::raw(""),
    ];
    if let Some(reason) = reason {
        lines.insert(
            2,
            Line::styled(format!("Asked because {reason}."), theme.danger()),
        );
    }
    for (host, command) in commands {
        lines.push(Line::from(vec![
            Span::styled(format!("{host}"), theme.key()),
            Span::raw(" $ "),
            Span::styled(command.as_str(), theme.command()),
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
    dialog_with_keys(theme, "Approve this step?", lines, keys, 100, area, buf);
}
