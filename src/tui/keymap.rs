//! Keys are data: one table maps (context, key) to an [`Action`]; the help overlay and the
//! footer are drawn from the same table. Nothing here knows what an action does.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use crate::tui::action::Action;

/// Where the keyboard is: the main view or one of the dialogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Main,
    Help,
    Approval,
    Manual,
    /// Skip reason, note, filter: typed characters go into the text.
    TextInput,
    QuitConfirm,
    HostKey,
    /// A question before an inject, a restore of a service that is up, or a decline: the
    /// dialog names its yes key; typed characters are its answers.
    Ask,
}

/// A key as written in bindings: a code and the modifiers that must be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            modifiers: KeyModifiers::NONE,
        }
    }

    pub const fn ch(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            modifiers: KeyModifiers::CONTROL,
        }
    }

    /// Shift is part of the character for letters (`F` is shift-f), so it is not compared.
    fn from_event(ev: KeyEvent) -> Self {
        let mut modifiers = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        if matches!(ev.code, KeyCode::BackTab) {
            modifiers = KeyModifiers::NONE;
        }
        Self {
            code: ev.code,
            modifiers,
        }
    }
}

/// One row of the table: in these contexts, these keys do this.
#[derive(Debug, Clone)]
pub struct Binding {
    pub contexts: &'static [Context],
    pub keys: Vec<Key>,
    pub action: Action,
    /// How the keys are written in help and footer.
    pub label: &'static str,
    pub help: &'static str,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

const MAIN: &[Context] = &[Context::Main];
/// Moving and scrolling: the main view's lists, and the help overlay's keys.
const MAIN_AND_HELP: &[Context] = &[Context::Main, Context::Help];
const ANY: &[Context] = &[
    Context::Main,
    Context::Help,
    Context::Approval,
    Context::Manual,
    Context::TextInput,
    Context::QuitConfirm,
    Context::HostKey,
];

impl Default for Keymap {
    /// SPEC's defaults.
    #[allow(clippy::too_many_lines, reason = "one table row per binding")]
    fn default() -> Self {
        use Context as C;
        use KeyCode as K;
        let b = |contexts, keys: &[Key], action, label, help| Binding {
            contexts,
            keys: keys.to_vec(),
            action,
            label,
            help,
        };
        let bindings = vec![
            b(
                MAIN_AND_HELP,
                &[Key::ch('k'), Key::plain(K::Up)],
                Action::Up,
                "k/↑",
                "move up",
            ),
            b(
                MAIN_AND_HELP,
                &[Key::ch('j'), Key::plain(K::Down)],
                Action::Down,
                "j/↓",
                "move down",
            ),
            b(
                MAIN,
                &[Key::plain(K::Tab)],
                Action::NextPane,
                "Tab",
                "next pane",
            ),
            b(
                MAIN,
                &[Key::plain(K::BackTab)],
                Action::PrevPane,
                "S-Tab",
                "previous pane",
            ),
            b(
                MAIN,
                &[Key::plain(K::Enter)],
                Action::RunNext,
                "Enter",
                "run next step",
            ),
            b(MAIN, &[Key::ch('c')], Action::Check, "c", "check service"),
            b(
                MAIN,
                &[Key::ch('r')],
                Action::Restore,
                "r",
                "restore service",
            ),
            b(
                MAIN,
                &[Key::ch('i')],
                Action::Inject,
                "i",
                "inject (drills)",
            ),
            b(
                MAIN,
                &[Key::ch('a')],
                Action::ToggleAuto,
                "a",
                "auto mode on/off",
            ),
            b(
                MAIN,
                &[Key::ch('d')],
                Action::ManualDone,
                "d",
                "manual step done",
            ),
            b(
                MAIN,
                &[Key::ch('f')],
                Action::ManualFailed,
                "f",
                "manual step failed",
            ),
            b(MAIN, &[Key::ch('s')], Action::Skip, "s", "skip (asks why)"),
            b(MAIN, &[Key::ch('n')], Action::Note, "n", "add a note"),
            b(
                MAIN,
                &[Key::ch('/')],
                Action::Filter,
                "/",
                "filter services",
            ),
            b(
                MAIN,
                &[Key::ch('t')],
                Action::Timeline,
                "t",
                "output/timeline",
            ),
            b(MAIN, &[Key::ch('w')], Action::Wrap, "w", "wrap timeline"),
            b(MAIN, &[Key::ch('u')], Action::Undo, "u", "undo (asks)"),
            b(
                MAIN,
                &[Key::ch(':')],
                Action::Palette,
                ":",
                "command palette",
            ),
            b(
                MAIN,
                &[Key::ch('g')],
                Action::Fold,
                "g",
                "fold/unfold hosts",
            ),
            b(
                MAIN,
                &[Key::ch('T')],
                Action::TakeOver,
                "T",
                "take over run",
            ),
            b(
                MAIN_AND_HELP,
                &[Key::plain(K::PageUp)],
                Action::PageUp,
                "PgUp",
                "scroll page up",
            ),
            b(
                MAIN_AND_HELP,
                &[Key::plain(K::PageDown)],
                Action::PageDown,
                "PgDn",
                "scroll page down",
            ),
            b(
                MAIN_AND_HELP,
                &[Key::plain(K::Home)],
                Action::Home,
                "Home",
                "scroll to start",
            ),
            b(
                MAIN_AND_HELP,
                &[Key::plain(K::End)],
                Action::End,
                "End",
                "end, follow",
            ),
            b(MAIN, &[Key::ch('F')], Action::Follow, "F", "follow on/off"),
            b(
                MAIN,
                &[Key::plain(K::Esc)],
                Action::Cancel,
                "Esc",
                "clear filter",
            ),
            // Everywhere but where text is typed: the help of a dialog closes back to it.
            b(
                &[
                    C::Main,
                    C::Help,
                    C::Approval,
                    C::Manual,
                    C::QuitConfirm,
                    C::HostKey,
                ],
                &[Key::ch('?')],
                Action::Help,
                "?",
                "help",
            ),
            b(MAIN, &[Key::ch('q')], Action::Quit, "q", "quit (may ask)"),
            // Dialogs.
            b(
                &[C::Approval, C::QuitConfirm],
                &[Key::ch('y')],
                Action::Approve,
                "y",
                "yes / approve",
            ),
            b(
                &[C::Approval, C::QuitConfirm],
                &[Key::ch('n')],
                Action::Decline,
                "n",
                "no / decline",
            ),
            b(
                &[C::Manual],
                &[Key::ch('d')],
                Action::ManualDone,
                "d",
                "mark done",
            ),
            b(
                &[C::Manual],
                &[Key::ch('f')],
                Action::ManualFailed,
                "f",
                "mark failed",
            ),
            // Not main-screen keys: the prompt can pop up while the operator types.
            b(
                &[C::HostKey],
                &[Key::ch('Y')],
                Action::AcceptHostKey,
                "Y",
                "accept (or type yes)",
            ),
            b(
                &[C::HostKey],
                &[Key::ch('N')],
                Action::RefuseHostKey,
                "N",
                "refuse key",
            ),
            b(
                &[C::TextInput],
                &[Key::plain(K::Enter)],
                Action::Submit,
                "Enter",
                "submit",
            ),
            b(
                &[C::TextInput],
                &[Key::plain(K::Tab)],
                Action::Complete,
                "Tab",
                "complete / cause: prefix",
            ),
            b(
                &[C::TextInput],
                &[Key::plain(K::Up)],
                Action::Up,
                "↑",
                "palette: previous choice",
            ),
            b(
                &[C::TextInput],
                &[Key::plain(K::Down)],
                Action::Down,
                "↓",
                "palette: next choice",
            ),
            b(
                &[C::TextInput],
                &[Key::plain(K::Backspace)],
                Action::Backspace,
                "Bksp",
                "delete",
            ),
            b(
                &[
                    C::Help,
                    C::Approval,
                    C::Manual,
                    C::TextInput,
                    C::QuitConfirm,
                    C::HostKey,
                    C::Ask,
                ],
                &[Key::plain(K::Esc)],
                Action::Cancel,
                "Esc",
                "close / not now",
            ),
            // In the dialogs that ask a question, q answers later like Esc.
            b(
                &[C::Help, C::Approval, C::Manual],
                &[Key::ch('q')],
                Action::Cancel,
                "q",
                "close / not now",
            ),
            b(
                ANY,
                &[Key::ctrl('c')],
                Action::Quit,
                "C-c",
                "quit (may ask)",
            ),
        ];
        Self { bindings }
    }
}

impl Keymap {
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The action a key press means here, if any. Text inputs take any other printable key.
    pub fn action(&self, context: Context, ev: KeyEvent) -> Option<Action> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let key = Key::from_event(ev);
        let found = self
            .bindings
            .iter()
            .find(|b| b.contexts.contains(&context) && b.keys.contains(&key))
            .map(|b| b.action);
        match (found, context, key.code) {
            (Some(a), _, _) => Some(a),
            (None, Context::TextInput | Context::HostKey | Context::Ask, KeyCode::Char(c))
                if !key.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                Some(Action::Type(c))
            }
            _ => None,
        }
    }

    /// Bindings valid in a context, in table order (help and footer).
    pub fn for_context(&self, context: Context) -> impl Iterator<Item = &Binding> {
        self.bindings
            .iter()
            .filter(move |b| b.contexts.contains(&context))
    }

    /// Mouse: a left click selects, the wheel scrolls; where is resolved by the App.
    pub fn mouse(ev: MouseEvent) -> Option<Action> {
        let (column, row) = (ev.column, ev.row);
        match ev.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Action::Click { column, row }),
            MouseEventKind::ScrollUp => Some(Action::Scroll {
                column,
                row,
                down: false,
            }),
            MouseEventKind::ScrollDown => Some(Action::Scroll {
                column,
                row,
                down: true,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn spec_default_keys_map_to_their_actions() {
        let km = Keymap::default();
        let cases = [
            (KeyCode::Char('j'), Action::Down),
            (KeyCode::Down, Action::Down),
            (KeyCode::Char('k'), Action::Up),
            (KeyCode::Up, Action::Up),
            (KeyCode::Tab, Action::NextPane),
            (KeyCode::Enter, Action::RunNext),
            (KeyCode::Char('c'), Action::Check),
            (KeyCode::Char('r'), Action::Restore),
            (KeyCode::Char('a'), Action::ToggleAuto),
            (KeyCode::Char('d'), Action::ManualDone),
            (KeyCode::Char('f'), Action::ManualFailed),
            (KeyCode::Char('s'), Action::Skip),
            (KeyCode::Char('n'), Action::Note),
            (KeyCode::Char('/'), Action::Filter),
            (KeyCode::Char('t'), Action::Timeline),
            (KeyCode::Char('w'), Action::Wrap),
            (KeyCode::Char('?'), Action::Help),
            (KeyCode::Char('q'), Action::Quit),
            (KeyCode::PageUp, Action::PageUp),
            (KeyCode::PageDown, Action::PageDown),
            (KeyCode::Home, Action::Home),
            (KeyCode::End, Action::End),
        ];
        for (code, action) in cases {
            assert_eq!(
                km.action(Context::Main, press(code)),
                Some(action),
                "{code:?}"
            );
        }
        let shift_f = KeyEvent::new(KeyCode::Char('F'), KeyModifiers::SHIFT);
        assert_eq!(km.action(Context::Main, shift_f), Some(Action::Follow));
    }

    #[test]
    fn n_declines_in_a_confirm_dialog_and_notes_elsewhere() {
        let km = Keymap::default();
        let n = press(KeyCode::Char('n'));
        assert_eq!(km.action(Context::Approval, n), Some(Action::Decline));
        assert_eq!(km.action(Context::Main, n), Some(Action::Note));
        assert_eq!(km.action(Context::TextInput, n), Some(Action::Type('n')));
    }

    #[test]
    fn text_input_takes_letters_that_are_commands_elsewhere() {
        let km = Keymap::default();
        for c in ['q', 'j', 's', '?', '/'] {
            assert_eq!(
                km.action(Context::TextInput, press(KeyCode::Char(c))),
                Some(Action::Type(c))
            );
        }
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(km.action(Context::TextInput, ctrl_c), Some(Action::Quit));
    }

    #[test]
    fn key_releases_are_ignored() {
        let km = Keymap::default();
        let mut ev = press(KeyCode::Char('q'));
        ev.kind = KeyEventKind::Release;
        assert_eq!(km.action(Context::Main, ev), None);
    }

    #[test]
    fn mouse_click_and_wheel_become_actions() {
        let ev = |kind| MouseEvent {
            kind,
            column: 3,
            row: 4,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(
            Keymap::mouse(ev(MouseEventKind::Down(MouseButton::Left))),
            Some(Action::Click { column: 3, row: 4 })
        );
        assert_eq!(
            Keymap::mouse(ev(MouseEventKind::ScrollDown)),
            Some(Action::Scroll {
                column: 3,
                row: 4,
                down: true
            })
        );
        assert_eq!(Keymap::mouse(ev(MouseEventKind::Moved)), None);
    }
}
