//! Terminal setup for the TUI driver: raw mode, alternate screen, mouse capture, and a restore
//! that runs on drop, on panic (a hook installed once) and when the driver calls it after a
//! signal. Owns no UI state; draws nothing.

use std::io::{self, Stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

pub type Tty = Terminal<CrosstermBackend<Stdout>>;

/// Whether the terminal is in the TUI's modes now (so restoring twice is harmless).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// Puts the terminal back when dropped.
#[must_use = "the terminal is restored when the guard is dropped"]
pub struct TerminalGuard {
    _private: (),
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        // Nothing sensible can be done about a failure while unwinding or exiting.
        let _ = restore();
    }
}

/// Enter raw mode and the alternate screen with mouse capture; returns the terminal and the
/// guard that restores it. A panic anywhere restores the terminal before the message prints.
pub fn enter() -> io::Result<(Tty, TerminalGuard)> {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = restore();
            previous(info);
        }));
    });
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = TerminalGuard { _private: () };
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((terminal, guard))
}

/// Leave the TUI's modes: mouse capture off, main screen, cursor shown, raw mode off. Does
/// nothing when the terminal is not in them.
pub fn restore() -> io::Result<()> {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return Ok(());
    }
    // Raw mode first: it matters most if a later step fails.
    let raw = disable_raw_mode();
    let screen = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        Show
    );
    raw.and(screen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restoring_a_terminal_that_was_never_entered_does_nothing() {
        assert!(!ACTIVE.load(Ordering::SeqCst));
        assert!(restore().is_ok());
        assert!(!ACTIVE.load(Ordering::SeqCst));
    }
}
