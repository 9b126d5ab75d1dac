//! What an operator asked for (`Action`, from keys and mouse) and what the driver must do about
//! it (`Command`). Plain data: no key codes reach the engine, no IO happens here.

use crate::driver::Request;
use crate::engine::Input;

/// The pane that has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Focus {
    #[default]
    Services,
    Steps,
    Bottom,
}

impl Focus {
    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Self::Services => Self::Steps,
            Self::Steps => Self::Bottom,
            Self::Bottom => Self::Services,
        }
    }

    #[must_use]
    pub fn prev(self) -> Self {
        match self {
            Self::Services => Self::Bottom,
            Self::Steps => Self::Services,
            Self::Bottom => Self::Steps,
        }
    }
}

/// An operator's intent, independent of which key or click expressed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Up,
    Down,
    NextPane,
    PrevPane,
    /// `Enter`: run the selected service's next step (or reopen the prompt it waits on).
    RunNext,
    Check,
    Restore,
    /// Drill mode: run the selected service's inject steps.
    Inject,
    /// Run the declared undo of the selected service's restore steps (asks first).
    Undo,
    ToggleAuto,
    Approve,
    Decline,
    ManualDone,
    ManualFailed,
    Skip,
    Note,
    Filter,
    Timeline,
    /// Wrap the timeline's lines, or cut them to the pane again.
    Wrap,
    /// `:` opens the command palette: an action and a service by a few letters each.
    Palette,
    /// `Tab` in a text field: complete the palette's choice, or start a note with `cause: `.
    Complete,
    /// The steps pane: fold hosts that stand alike and printed the same into one row, or
    /// show every host apart.
    Fold,
    Help,
    Quit,
    /// An attached screen (`bringup attach`): take the run over here once no process
    /// executes it (its executor's lease ended).
    TakeOver,
    PageUp,
    PageDown,
    Home,
    End,
    Follow,
    /// Dialogs: accept the text or the question.
    Submit,
    /// Dialogs: close without answering; main view: clear the filter.
    Cancel,
    AcceptHostKey,
    RefuseHostKey,
    /// Text input: a typed character.
    Type(char),
    Backspace,
    /// Mouse: a left click at a screen cell.
    Click {
        column: u16,
        row: u16,
    },
    /// Mouse: the wheel over a screen cell (`down` scrolls towards the end).
    Scroll {
        column: u16,
        row: u16,
        down: bool,
    },
}

impl Action {
    /// Whether the action would change the run (run, answer, note, take over…), as opposed
    /// to moving around the screen: a read-only screen refuses these.
    #[must_use]
    pub fn acts_on_the_run(self) -> bool {
        matches!(
            self,
            Action::RunNext
                | Action::Check
                | Action::Restore
                | Action::Inject
                | Action::Undo
                | Action::ToggleAuto
                | Action::Approve
                | Action::Decline
                | Action::ManualDone
                | Action::ManualFailed
                | Action::Skip
                | Action::Note
                | Action::TakeOver
                | Action::AcceptHostKey
                | Action::RefuseHostKey
        )
    }
}

/// What the driver must do. The App never performs these itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Ask the driver: it journals and carries out each request by its variant.
    Request(Request),
    /// Leave the TUI (after a `Stop` request when work was running).
    Quit,
    /// Leave the attached screen and continue the shared run in this process, under the
    /// Resume rules (`--resume URL`).
    TakeOver,
}

impl Command {
    /// A request that feeds the engine.
    pub fn input(input: Input) -> Command {
        Command::Request(Request::Input(input))
    }
}
