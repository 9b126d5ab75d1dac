//! Every `Style` the TUI uses, and the symbols that make states readable without color.
//! Built once from a `no_color` flag the driver reads from the environment; views never look
//! at the environment themselves.

use ratatui::style::{Color, Modifier, Style};

use crate::engine::state::{HostStatus, ServiceState, StepOutcome};
use crate::export::describe::Tone;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

/// How a state or status is shown: a symbol and a word (never color alone), and its style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Badge {
    pub symbol: &'static str,
    pub word: &'static str,
    pub style: Style,
}

impl Theme {
    /// `no_color`: the driver passes whether `NO_COLOR` is set (and non-empty).
    pub fn new(no_color: bool) -> Self {
        Self { color: !no_color }
    }

    /// The theme for `NO_COLOR`: modifiers only.
    pub fn plain() -> Self {
        Self::new(true)
    }

    /// `NO_COLOR` as <https://no-color.org> defines it: present and not empty.
    pub fn no_color_from(value: Option<&std::ffi::OsStr>) -> bool {
        value.is_some_and(|v| !v.is_empty())
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn base(self) -> Style {
        Style::new()
    }

    pub fn header(self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.color {
            s.fg(Color::White).bg(Color::Blue)
        } else {
            s.add_modifier(Modifier::REVERSED)
        }
    }

    /// Modes are badges on the header's blue: a coloured word there would not read.
    pub fn mode_drill(self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.color {
            s.fg(Color::Black).bg(Color::Yellow)
        } else {
            s
        }
    }

    pub fn mode_incident(self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.color {
            s.fg(Color::White).bg(Color::Red)
        } else {
            s
        }
    }

    pub fn border(self) -> Style {
        self.fg(Color::DarkGray)
    }

    pub fn border_focused(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn title(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn tier_heading(self) -> Style {
        self.fg(Color::Gray).add_modifier(Modifier::BOLD)
    }

    pub fn rto_ok(self) -> Style {
        self.dim()
    }

    pub fn rto_over(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn message(self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn dialog(self) -> Style {
        Style::new()
    }

    pub fn dialog_border(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn danger(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn command(self) -> Style {
        self.fg(Color::LightYellow)
    }

    pub fn input(self) -> Style {
        Style::new().add_modifier(Modifier::UNDERLINED)
    }

    pub fn error(self) -> Style {
        self.fg(Color::Red)
    }

    pub fn state(self, state: ServiceState) -> Badge {
        let (symbol, color) = match state {
            ServiceState::Unknown => ("?", Color::Gray),
            ServiceState::Checking => ("⧗", Color::Cyan),
            ServiceState::Healthy => ("✓", Color::Green),
            ServiceState::Down => ("✗", Color::Red),
            ServiceState::Partial => ("◐", Color::Yellow),
            ServiceState::Restoring => ("↻", Color::Cyan),
            ServiceState::Verifying => ("⧗", Color::LightCyan),
            ServiceState::Restored => ("✓", Color::LightGreen),
            ServiceState::Failed => ("✗", Color::LightRed),
            ServiceState::Blocked => ("⊘", Color::Magenta),
            ServiceState::Skipped => ("»", Color::DarkGray),
            ServiceState::Unreachable => ("⁇", Color::LightMagenta),
            ServiceState::Removed => ("∅", Color::DarkGray),
            ServiceState::Undone => ("↶", Color::Yellow),
        };
        Badge {
            symbol,
            word: state.as_str(),
            style: self.fg(color),
        }
    }

    /// A timeline line's tone: a mark that reads without colour (`✓` good, `✗` bad, `!` needs
    /// attention, `…` under way, blank for plain facts) and a colour when there is colour.
    pub fn tone(self, tone: Tone) -> (&'static str, Style) {
        match tone {
            Tone::Neutral => (" ", Style::new()),
            Tone::Progress => ("…", self.fg(Color::Cyan)),
            Tone::Good => ("✓", self.fg(Color::Green)),
            Tone::Warn => ("!", self.fg(Color::Yellow)),
            Tone::Bad => ("✗", self.fg(Color::Red).add_modifier(Modifier::BOLD)),
        }
    }

    pub fn host_status(self, status: &HostStatus) -> Badge {
        let (symbol, word, color) = match status {
            HostStatus::Pending => ("…", "pending", Color::Gray),
            HostStatus::Running { .. } => ("⧗", "running", Color::Cyan),
            HostStatus::RetryWait { .. } => ("↻", "retry", Color::Yellow),
            HostStatus::Finished { outcome, .. } => match outcome {
                StepOutcome::Ok => ("✓", "ok", Color::Green),
                StepOutcome::Failed => ("✗", "failed", Color::Red),
                StepOutcome::Timeout => ("⧖", "timeout", Color::Red),
                StepOutcome::Error => ("!", "error", Color::LightRed),
                StepOutcome::Unknown => ("?", "unknown", Color::Yellow),
                StepOutcome::NotRun => ("–", "not run", Color::DarkGray),
            },
            HostStatus::NotRun => ("–", "not run", Color::DarkGray),
        };
        Badge {
            symbol,
            word,
            style: self.fg(color),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_theme_carries_no_colors_at_all() {
        let t = Theme::plain();
        for s in ServiceState::ALL {
            let b = t.state(s);
            assert_eq!(b.style.fg, None, "{s}");
            assert_eq!(b.word, s.as_str());
        }
        for s in [
            t.header(),
            t.rto_over(),
            t.border_focused(),
            t.danger(),
            t.mode_incident(),
            t.mode_drill(),
        ] {
            assert_eq!((s.fg, s.bg), (None, None));
        }
    }

    #[test]
    fn every_state_has_a_distinct_word_and_a_symbol() {
        let t = Theme::new(false);
        let words: std::collections::BTreeSet<_> =
            ServiceState::ALL.iter().map(|s| t.state(*s).word).collect();
        assert_eq!(words.len(), ServiceState::ALL.len());
        assert!(
            ServiceState::ALL
                .iter()
                .all(|s| !t.state(*s).symbol.is_empty())
        );
        assert!(t.state(ServiceState::Down).style.fg.is_some());
    }

    #[test]
    fn every_tone_but_neutral_has_its_own_mark_and_no_color_without_color() {
        let tones = [Tone::Progress, Tone::Good, Tone::Warn, Tone::Bad];
        let marks: std::collections::BTreeSet<_> =
            tones.iter().map(|t| Theme::plain().tone(*t).0).collect();
        assert_eq!(marks.len(), tones.len());
        assert!(marks.iter().all(|m| !m.trim().is_empty()));
        for t in tones {
            assert_eq!(Theme::plain().tone(t).1.fg, None);
            assert!(Theme::new(false).tone(t).1.fg.is_some());
        }
    }

    #[test]
    fn no_color_is_set_only_by_a_non_empty_value() {
        assert!(!Theme::no_color_from(None));
        assert!(!Theme::no_color_from(Some(std::ffi::OsStr::new(""))));
        assert!(Theme::no_color_from(Some(std::ffi::OsStr::new("1"))));
    }
}
