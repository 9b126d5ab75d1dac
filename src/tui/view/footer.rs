//! The footer: the keys valid now (from the keymap, filtered by what the App can do), a
//! message after a refused action, or the filter being typed.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::action::Action;
use crate::tui::app::{App, InputPurpose, Overlay};
use crate::tui::keymap::{Context, Keymap};
use crate::tui::theme::Theme;

/// Footer words, shorter than the help texts.
fn short(action: Action, app: &App) -> &'static str {
    match action {
        Action::Down => "move",
        Action::NextPane => "pane",
        Action::RunNext => "next step",
        Action::Check => "check",
        Action::Restore => "restore",
        Action::Inject => "inject",
        Action::ToggleAuto => {
            if app.auto() {
                "auto off"
            } else {
                "auto on"
            }
        }
        Action::ManualDone => "done",
        Action::AcceptHostKey => "accept",
        Action::ManualFailed => "failed",
        Action::Skip => "skip",
        Action::Note => "note",
        Action::Filter => "filter",
        Action::Timeline => "timeline",
        Action::Help => "help",
        Action::Quit => "quit",
        Action::Follow => "follow",
        Action::PageUp | Action::PageDown => "page",
        Action::Cancel => match app.context() {
            Context::HostKey => "refuse",
            Context::Approval | Context::Manual => "later",
            Context::TextInput => "cancel",
            _ => "close",
        },
        Action::Approve => "yes",
        Action::Decline => "no",
        Action::RefuseHostKey => "refuse",
        Action::Submit => "submit",
        _ => "",
    }
}

/// The keys line, with the next-step `hint` on a line above it when there is one.
pub fn draw(
    app: &App,
    theme: Theme,
    keymap: &Keymap,
    hint: Option<&str>,
    area: Rect,
    buf: &mut Buffer,
) {
    let area = match hint {
        Some(text) if area.height >= 2 => {
            let line = Line::from(vec![
                Span::styled(" ▶ ", theme.key()),
                Span::styled(text.to_string(), theme.message()),
            ]);
            buf.set_line(area.x, area.y, &line, area.width);
            Rect::new(area.x, area.y + 1, area.width, 1)
        }
        _ => area,
    };
    if let Some(Overlay::Input(input)) = app.overlay()
        && input.purpose == InputPurpose::Filter
    {
        {
            let line = Line::from(vec![
                Span::styled("/", theme.key()),
                Span::styled(format!("{}█", input.text), theme.input()),
                Span::styled(
                    "  Enter keep · Esc clear · matches id, name, state",
                    theme.dim(),
                ),
            ]);
            buf.set_line(area.x, area.y, &line, area.width);
            return;
        }
    }
    if let Some(msg) = app.message.as_ref().filter(|_| app.overlay().is_none()) {
        buf.set_line(
            area.x,
            area.y,
            &Line::styled(format!(" {msg}"), theme.message()),
            area.width,
        );
        return;
    }
    let mut spans = vec![Span::raw(" ")];
    let mut seen = Vec::new();
    // What needs the operator first, then help and quit, then the rest in table order.
    let mut bindings: Vec<_> = keymap.for_context(app.context()).collect();
    bindings.sort_by_key(|b| match b.action {
        Action::ManualDone
        | Action::ManualFailed
        | Action::Approve
        | Action::Decline
        | Action::AcceptHostKey
        | Action::RefuseHostKey
        | Action::Submit => 0,
        Action::Help | Action::Quit => 1,
        _ => 2,
    });
    for b in bindings {
        let word = short(b.action, app);
        if word.is_empty() || seen.contains(&b.action) || !app.can(b.action) {
            continue;
        }
        // One entry per action: C-c and q both quit; page up and down share "PgUp/PgDn".
        if b.action == Action::PageDown
            || (b.action == Action::Quit && b.label == "C-c" && seen.contains(&Action::Quit))
        {
            continue;
        }
        seen.push(b.action);
        let label = match b.action {
            Action::Down => "j/k",
            Action::PageUp => "PgUp/PgDn",
            _ => b.label,
        };
        spans.push(Span::styled(label, theme.key()));
        spans.push(Span::raw(format!(" {word}  ")));
    }
    buf.set_line(area.x, area.y, &Line::from(spans), area.width);
}
