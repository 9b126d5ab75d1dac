//! The host-key prompt: an unknown key's fingerprint, accept or refuse. (A changed key never
//! reaches this prompt: the transport refuses it.)

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::dialog;

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) {
    let Some(p) = app.host_keys.front() else {
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            Span::raw("Host "),
            Span::styled(p.host.as_str(), theme.title()),
            Span::raw(format!(" ({}) offered a {} key", p.address, p.key_type)),
        ]),
        Line::raw("that is not in known_hosts. Its fingerprint:"),
        Line::raw(""),
        Line::styled(p.fingerprint.as_str(), theme.command()),
        Line::raw(""),
        Line::raw("Accept only if it matches what you know of this host."),
        Line::from(vec![
            Span::styled("Y", theme.key()),
            Span::raw(" (shift) or type "),
            Span::styled("yes", theme.key()),
            Span::raw(" accept and remember   "),
            Span::styled("N", theme.key()),
            Span::raw(" refuse   "),
            Span::styled("Esc", theme.key()),
            Span::raw(" not now"),
        ]),
    ];
    if app.host_keys.len() > 1 {
        lines.push(Line::styled(
            format!("{} more host keys waiting", app.host_keys.len() - 1),
            theme.dim(),
        ));
    }
    dialog(theme, "Unknown host key", lines, 76, area, buf);
}
