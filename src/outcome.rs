//! How a run ended, in SPEC's words and exit codes. Library types, so every front end (`run`,
//! the TUI, the demo's helpers) maps an end the same way and none imports from `cmd/`.

use std::fmt;

use crate::engine::ServiceState;
use crate::runbook::model::ServiceId;

/// SPEC's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every selected service is healthy or restored.
    AllUp = 0,
    /// Some selected service is not (failed, blocked, skipped, unreachable).
    NotAllUp = 1,
    /// Usage, an invalid runbook, an unreadable file.
    BadInput = 2,
    /// Ctrl-C, SIGTERM, SIGHUP, or quitting the TUI while steps run; the journal is intact.
    Interrupted = 3,
}

impl Exit {
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// The `outcome` of `run_finished`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every selected service is up.
    Restored,
    /// The run ended with some selected service not up.
    Incomplete,
    /// Stopped by a signal or by quitting while steps ran.
    Interrupted,
}

impl RunOutcome {
    /// The outcome of a run that ended on its own (or was quit with nothing running).
    pub fn of(services: &[(ServiceId, ServiceState)]) -> RunOutcome {
        if services.iter().all(|(_, s)| s.is_up()) {
            RunOutcome::Restored
        } else {
            RunOutcome::Incomplete
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Restored => "restored",
            RunOutcome::Incomplete => "incomplete",
            RunOutcome::Interrupted => "interrupted",
        }
    }

    pub fn exit(self) -> Exit {
        match self {
            RunOutcome::Restored => Exit::AllUp,
            RunOutcome::Incomplete => Exit::NotAllUp,
            RunOutcome::Interrupted => Exit::Interrupted,
        }
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_spec_words_and_exit_codes() {
        let up = [(ServiceId::new("a"), ServiceState::Healthy)];
        let down = [
            (ServiceId::new("a"), ServiceState::Restored),
            (ServiceId::new("b"), ServiceState::Failed),
        ];
        assert_eq!(RunOutcome::of(&up), RunOutcome::Restored);
        assert_eq!(RunOutcome::of(&down), RunOutcome::Incomplete);
        assert_eq!(RunOutcome::Restored.exit().code(), 0);
        assert_eq!(RunOutcome::Incomplete.exit().code(), 1);
        assert_eq!(Exit::BadInput.code(), 2);
        assert_eq!(RunOutcome::Interrupted.exit().code(), 3);
        assert_eq!(RunOutcome::Interrupted.as_str(), "interrupted");
    }
}
