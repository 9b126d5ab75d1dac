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
        Action::Down if app.context() == Context::Help => "scroll",
        Action::Down if app.context() == Context::TextInput => "choose",
        Action::Down => "move",
        Action::NextPane => "pane",
        Action::RunNext => "next step",
        Action::Check => "check",
        Action::Restore => "restore",
        Action::Inject => "inject",
        Action::Undo => "undo",
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
        Action::Timeline => match app.bottom_mode() {
            crate::tui::app::BottomMode::Output => "timeline",
            crate::tui::app::BottomMode::Timeline => "output",
        },
        Action::Wrap => {
            if app.timeline_wraps() {
                "cut lines"
            } else {
                "wrap"
            }
        }
        Action::Help => "help",
        Action::Quit => "quit",
        Action::Follow => "follow",
        Action::PageUp | Action::PageDown => "page",
        Action::Cancel => match app.context() {
            Context::HostKey | Context::Approval | Context::Manual | Context::Ask => "not now",
            Context::TextInput => "cancel",
            Context::QuitConfirm => "stay",
            Context::Main => "clear filter",
            Context::Help => "close",
        },
        Action::Approve => match app.context() {
            Context::QuitConfirm => "quit",
            _ => "approve",
        },
        Action::Decline => match app.context() {
            Context::QuitConfirm => "stay",
            _ => "decline",
        },
        Action::RefuseHostKey => "refuse",
        Action::Submit => "submit",
        Action::Palette => "command",
        Action::Complete => match app.overlay() {
            Some(Overlay::Input(i)) if i.purpose == InputPurpose::Note => "cause:",
            _ => "complete",
        },
        _ => "",
    }
}

/// The keys line, with the next-step `hint` on a line above it when there is one.
pub fn draw(
    app: &App,
    theme: Theme,
    keymap: &Keymap,
    hint: Option<&(String, Option<String>)>,
    area: Rect,
    buf: &mut Buffer,
) {
    let area = match hint {
        Some((text, detail)) if area.height >= 2 => {
            let line = Line::from(vec![
                Span::styled(" ▶ ", theme.key()),
                Span::styled(text.clone(), theme.message()),
            ]);
            buf.set_line(area.x, area.y, &line, area.width);
            let mut y = area.y + 1;
            if let Some(detail) = detail.as_ref().filter(|_| area.height >= 3) {
                let line = Line::from(vec![
                    Span::raw("   "),
                    Span::styled(detail.clone(), theme.dim()),
                ]);
                buf.set_line(area.x, y, &line, area.width);
                y += 1;
            }
            Rect::new(area.x, y, area.width, 1)
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
    if let Some(Overlay::Input(input)) = app.overlay()
        && input.purpose == InputPurpose::Palette
    {
        let line = Line::from(vec![
            Span::styled(":", theme.key()),
            Span::styled(format!("{}█", input.text), theme.input()),
            Span::styled(
                "  Enter run · Tab complete · ↑/↓ choose · Esc close",
                theme.dim(),
            ),
        ]);
        buf.set_line(area.x, area.y, &line, area.width);
        return;
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
    let entries = entries(app, keymap);
    buf.set_line(
        area.x,
        area.y,
        &fit(&entries, usize::from(area.width), theme),
        area.width,
    );
}

/// One key in the footer: how it is written and what it does, shortest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub label: &'static str,
    pub word: &'static str,
}

/// The keys valid now, most needed first: what the operator is asked for, then running the
/// plan, then moving around. `?` is not among them: [`fit`] always adds it.
pub(crate) fn entries(app: &App, keymap: &Keymap) -> Vec<Entry> {
    let mut bindings: Vec<_> = keymap.for_context(app.context()).collect();
    bindings.sort_by_key(|b| priority(b.action, app));
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for b in bindings {
        let word = short(b.action, app);
        if word.is_empty() || b.action == Action::Help || seen.contains(&b.action) {
            continue;
        }
        if !app.can(b.action) {
            continue;
        }
        // The quit dialog's own y/n say it all: no second "stay" nor "quit".
        if app.context() == Context::QuitConfirm
            && matches!(b.action, Action::Cancel | Action::Quit)
        {
            continue;
        }
        // One entry per action: C-c and q both quit; page up and down share "PgUp/PgDn".
        if b.action == Action::PageDown {
            continue;
        }
        seen.push(b.action);
        let label = match b.action {
            Action::Down if app.context() == Context::TextInput => "↑/↓",
            Action::Down => "j/k",
            Action::PageUp => "PgUp/PgDn",
            _ => b.label,
        };
        out.push(Entry { label, word });
    }
    out
}

/// Lower sorts first. Ties keep the keymap's order (the sort is stable).
fn priority(action: Action, app: &App) -> u8 {
    match action {
        Action::ManualDone
        | Action::ManualFailed
        | Action::Approve
        | Action::Decline
        | Action::AcceptHostKey
        | Action::RefuseHostKey
        | Action::Submit => 0,
        // Esc in a dialog is how to leave it; in the main view only while a filter is set.
        Action::Cancel => 1,
        Action::RunNext | Action::ToggleAuto | Action::Restore => 2,
        Action::Check | Action::Skip => 3,
        Action::Quit if app.context() == Context::Main => 4,
        Action::Down | Action::NextPane | Action::Timeline => 5,
        Action::Follow | Action::PageUp => 6,
        Action::Note | Action::Filter => 7,
        _ => 8,
    }
}

/// As many entries as fit in `width` cells, in order, then `? help` (`? more keys` when some
/// were left out) — `?` always shows.
pub(crate) fn fit(entries: &[Entry], width: usize, theme: Theme) -> Line<'static> {
    const SEP: usize = 2;
    let cells = |e: &Entry| e.label.chars().count() + 1 + e.word.chars().count() + SEP;
    let all: usize = 1 + entries.iter().map(cells).sum::<usize>();
    // `? help` ends the line, with no separator after it.
    let help = Entry {
        label: "?",
        word: if all + "? help".len() <= width {
            "help"
        } else {
            "more keys"
        },
    };
    let mut used = 1 + cells(&help) - SEP;
    let mut spans = vec![Span::raw(" ")];
    for e in entries {
        if used + cells(e) > width {
            // Keep looking: a shorter entry further on may still fit.
            continue;
        }
        used += cells(e);
        spans.push(Span::styled(e.label, theme.key()));
        spans.push(Span::raw(format!(" {}  ", e.word)));
    }
    spans.push(Span::styled(help.label, theme.key()));
    spans.push(Span::raw(format!(" {}", help.word)));
    Line::from(spans)
}
