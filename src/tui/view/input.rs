//! The text dialogs: a skip reason (required) and a note for the timeline.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::app::{InputPurpose, TextInput};
use crate::tui::theme::Theme;
use crate::tui::view::dialog;

pub fn draw(theme: Theme, input: &TextInput, area: Rect, buf: &mut Buffer) {
    let (title, prompt) = match &input.purpose {
        InputPurpose::Skip(service) => (
            format!("Skip {service}"),
            "Why skip it? The reason goes into the journal.".to_string(),
        ),
        InputPurpose::Note => ("Note".to_string(), "A note for the timeline:".to_string()),
        InputPurpose::FailReason(step) => (
            format!("Mark '{}' failed", step.service),
            "Why could it not be done? This fails the service; the reason goes into the journal."
                .to_string(),
        ),
        InputPurpose::Filter => ("Filter".to_string(), "Services matching:".to_string()),
        InputPurpose::Palette => ("Command".to_string(), "Action and service:".to_string()),
    };
    let mut lines = vec![
        Line::raw(prompt),
        Line::from(vec![
            Span::styled("> ", theme.key()),
            Span::styled(format!("{}█", input.text), theme.input()),
        ]),
    ];
    if let Some(e) = &input.error {
        lines.push(Line::styled(e.as_str(), theme.error()));
    }
    let mut keys = vec![Span::styled("Enter", theme.key()), Span::raw(" submit   ")];
    if input.purpose == InputPurpose::Note {
        // A root cause is a note that starts with `cause:`: offered, never assumed.
        let tab = if input.text.starts_with(crate::tui::app::dialogs::CAUSE) {
            " no longer a cause   "
        } else {
            " starts it with 'cause:' (a root cause, for the post-mortem and notice)   "
        };
        keys.push(Span::styled("Tab", theme.key()));
        keys.push(Span::raw(tab));
    }
    keys.push(Span::styled("Esc", theme.key()));
    keys.push(Span::raw(" cancel"));
    lines.push(Line::from(keys));
    dialog(theme, &title, lines, 70, area, buf);
}
