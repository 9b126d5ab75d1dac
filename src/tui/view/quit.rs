//! The quit confirmation: says what is actually pending (steps running, questions waiting)
//! and what quitting does to it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::{HostStatus, Waiting};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::dialog;

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) {
    let mut lines = Vec::new();
    for text in pending(app) {
        lines.push(Line::styled(text, theme.danger()));
    }
    lines.push(Line::raw(
        "Quitting stops what runs and leaves questions unanswered; the journal stays intact \
         and --resume continues.",
    ));
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" quit   "),
        Span::styled("n", theme.key()),
        Span::raw(" or "),
        Span::styled("Esc", theme.key()),
        Span::raw(" stay"),
    ]));
    dialog(theme, "Quit?", lines, 64, area, buf);
}

/// One sentence per kind of pending work: running steps, then each waiting question.
pub(crate) fn pending(app: &App) -> Vec<String> {
    let mut out = Vec::new();
    let running = app
        .services
        .values()
        .flat_map(|v| v.steps.values())
        .flat_map(indexmap::IndexMap::values)
        .filter(|h| matches!(h, HostStatus::Running { .. } | HostStatus::RetryWait { .. }))
        .count();
    let busy: Vec<&str> = app
        .services
        .iter()
        .filter(|(_, v)| v.state.is_busy() && v.waiting.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    if running > 0 {
        out.push(format!(
            "{running} step{} running ({}).",
            if running == 1 { " is" } else { "s are" },
            list(&busy)
        ));
    } else if !busy.is_empty() {
        out.push(format!("{} in progress.", list(&busy)));
    }
    for (id, v) in &app.services {
        match &v.waiting {
            Some(Waiting::Approval { .. }) => out.push(format!("'{id}' waits for your approval.")),
            Some(Waiting::Manual { .. }) => {
                out.push(format!("'{id}' waits for a manual step to be marked."));
            }
            None => {}
        }
    }
    if out.is_empty() {
        out.push("Nothing is pending.".into());
    }
    out
}

fn list(ids: &[&str]) -> String {
    match ids {
        [] => "no service".into(),
        [a, b, c, rest @ ..] if !rest.is_empty() => {
            format!("{a}, {b}, {c} and {} more", rest.len())
        }
        _ => ids.join(", "),
    }
}
