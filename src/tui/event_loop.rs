//! The TUI's event loop: one `tokio::select!` over terminal events, the driver's inbox (in
//! batches), a frame tick and the run's signals. [`Front`] ties the App to the [`Driver`]: keys
//! become actions, the App's commands become driver requests, and the driver's notices feed
//! the App. It decides nothing about ordering (the engine does) and draws only through
//! `view::draw`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use ratatui::crossterm::event::{EventStream, KeyEvent};

use crate::driver::{Driver, EndError, Ending, Inbox, Message, Notice, STOP_GRACE, Signals};
use crate::engine::{Input, ServiceState};
use crate::journal::JournalError;
use crate::runbook::model::ServiceId;
use crate::tui::action::{Action, Command};
use crate::tui::app::App;
use crate::tui::keymap::Keymap;
use crate::tui::screen::{Screen, TermInput};
use crate::tui::terminal::Tty;
use crate::tui::theme::Theme;

/// How often the screen may be redrawn; output arriving faster only marks it dirty.
pub(crate) const FRAME: Duration = Duration::from_millis(80);
pub use crate::tui::screen::DIALOG_GUARD;

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The operator quit.
    Quit,
    /// SIGTERM, SIGHUP or SIGINT.
    Signal,
}

/// The App and the driver, wired together; no terminal, so tests drive it with keys.
pub struct Front {
    pub app: App,
    pub driver: Driver,
    screen: Screen,
    /// Run time before this session (a resumed run keeps its clock).
    started: Instant,
    offset: Duration,
    quit: bool,
}

impl Front {
    /// `offset`: how long the run had been going before this session (zero for a new run).
    pub fn new(app: App, driver: Driver, offset: Duration) -> Front {
        let mut front = Front {
            app,
            driver,
            screen: Screen::default(),
            started: Instant::now(),
            offset,
            quit: false,
        };
        front.sync();
        front
    }

    /// Show the events already on disk (a resumed run's history, `run_started`).
    pub fn history(&mut self, notices: Vec<Notice>) {
        self.notices(notices);
    }

    /// The opening move: check every service at once and restore nothing. The engine's sweep
    /// (`RunPlan`) starts the checks of every selected service and its dependencies; auto mode
    /// goes off straight after, so the checks run to their end and no restore starts until the
    /// operator presses `a` (or `r`, `Enter` on a service).
    /// The bottom pane opens on the timeline: the first question is what is happening
    /// everywhere; `t` switches to the selected step's output.
    pub fn start(&mut self) -> Result<(), JournalError> {
        if self.app.bottom_mode() == crate::tui::app::BottomMode::Output {
            self.app.on_action(Action::Timeline);
        }
        let mut notices = self.driver.input(Input::RunPlan)?;
        notices.extend(self.driver.input(Input::SetAuto(false))?);
        self.notices(notices);
        // The App sees the checks running now, not at the first report (a silent check may
        // send none for a long time, and `q` must know something runs).
        self.sync();
        Ok(())
    }

    /// The opening move of a scenario drill: the driver runs its phases (baseline checks
    /// first, then injects, restores in plan order); the operator answers its questions.
    pub fn start_drill(&mut self, scenario: &str) -> Result<(), JournalError> {
        if self.app.bottom_mode() == crate::tui::app::BottomMode::Output {
            self.app.on_action(Action::Timeline);
        }
        let notices = self
            .driver
            .input(crate::driver::Request::StartDrill(scenario.to_string()))?;
        self.notices(notices);
        self.sync();
        Ok(())
    }

    pub fn quitting(&self) -> bool {
        self.quit
    }

    /// Whether the screen should be redrawn.
    pub fn dirty(&self) -> bool {
        self.screen.dirty()
    }

    pub fn keymap(&self) -> &Keymap {
        self.screen.keymap()
    }

    /// A key press, through the keymap for the App's current context.
    pub fn key(&mut self, ev: KeyEvent) -> Result<(), JournalError> {
        self.key_at(ev, Instant::now())
    }

    /// A key pressed at `now`. Within [`DIALOG_GUARD`] of a dialog opening by itself the key
    /// is dropped (Ctrl-C still quits).
    pub fn key_at(&mut self, ev: KeyEvent, now: Instant) -> Result<(), JournalError> {
        match self.screen.action_for(&mut self.app, ev, now) {
            Some(action) => self.action(action),
            None => Ok(()),
        }
    }

    /// One operator action: the App decides, the driver carries out its commands.
    pub fn action(&mut self, action: Action) -> Result<(), JournalError> {
        self.screen.mark_dirty();
        for command in self.app.on_action(action) {
            self.command(command)?;
        }
        self.sync();
        Ok(())
    }

    /// Reports from the driver's tasks, as [`Inbox::next`] batches them: carried out under
    /// one fsync, then the App is synced once.
    pub fn messages(&mut self, batch: Vec<Message>) -> Result<(), JournalError> {
        let notices = self.driver.on_messages(batch)?;
        self.notices(notices);
        self.sync();
        Ok(())
    }

    /// Take the engine's views into the App (once per batch, not per line of output).
    pub fn sync(&mut self) {
        self.screen
            .sync(&mut self.app, self.driver.engine().services());
    }

    /// Advance the App's clock; marks the screen dirty when the shown second changes.
    pub fn tick(&mut self) {
        let elapsed = self.offset + self.started.elapsed();
        self.screen.tick(&mut self.app, elapsed);
    }

    /// Paint one frame.
    pub fn draw(&mut self, terminal: &mut Tty, theme: &Theme) -> std::io::Result<()> {
        self.screen.draw(&mut self.app, terminal, theme)
    }

    fn command(&mut self, command: Command) -> Result<(), JournalError> {
        match command {
            Command::Request(request) => {
                let notices = self.driver.input(request)?;
                self.notices(notices);
            }
            // The driver decides how a quit ends the run (steps stopped mid-run: interrupted).
            Command::Quit => self.quit = true,
            // Only an attached screen asks for it (this one executes the run).
            Command::TakeOver => {}
        }
        Ok(())
    }

    /// Feed what the driver produced to the App.
    fn notices(&mut self, notices: Vec<Notice>) {
        self.screen.show(&mut self.app, notices);
    }

    /// Stop running steps on their hosts and wait (bounded) until they have reported back, so
    /// the journal records how each ended.
    pub async fn wind_down(&mut self, inbox: &mut Inbox) {
        if !self.driver.busy() && self.driver.engine().is_stopped() {
            return;
        }
        let mut shown = Vec::new();
        self.driver
            .stop_and_wait(inbox, STOP_GRACE, std::future::pending(), |n| {
                shown.extend(n);
            })
            .await;
        self.notices(shown);
        self.sync();
    }

    /// The selected services and their states now.
    pub fn states(&self) -> Vec<(ServiceId, ServiceState)> {
        self.driver.states()
    }

    /// Journal `run_finished` and return SPEC's exit code, as the driver decides it for
    /// every front end (interrupted on a signal, or when steps were stopped mid-run).
    pub fn finish(&mut self, end: End) -> Result<u8, EndError> {
        let ending = match end {
            End::Quit => Ending::Quit,
            End::Signal => Ending::Signal,
        };
        let ended = self.driver.end(ending)?;
        self.notices(ended.notices);
        Ok(ended.exit.code())
    }
}

/// Run the TUI until the operator quits or a signal arrives; returns how it ended. The
/// caller winds down, journals the end and restores the terminal.
pub async fn run(
    front: &mut Front,
    inbox: &mut Inbox,
    signals: &mut Signals,
    terminal: &mut Tty,
    theme: &Theme,
) -> Result<End, LoopError> {
    let mut events = EventStream::new();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    front.tick();
    front.draw(terminal, theme).map_err(LoopError::Terminal)?;
    loop {
        tokio::select! {
            ev = events.next() => match TermInput::of(ev.as_ref()) {
                TermInput::Key(key) => {
                    front.key(key)?;
                    front.tick();
                    front.draw(terminal, theme).map_err(LoopError::Terminal)?;
                }
                TermInput::Action(action) => front.action(action)?,
                TermInput::Redraw => front.draw(terminal, theme).map_err(LoopError::Terminal)?,
                TermInput::Nothing => {}
                TermInput::Gone => return Ok(End::Signal),
            },
            batch = inbox.next() => {
                let Some(batch) = batch else { return Ok(End::Quit) };
                front.messages(batch)?;
            },
            _ = frame.tick() => {
                front.tick();
                if front.dirty() {
                    front.draw(terminal, theme).map_err(LoopError::Terminal)?;
                }
            },
            _ = signals.next() => return Ok(End::Signal),
        }
        if front.quitting() {
            return Ok(End::Quit);
        }
    }
}

/// Why the loop could not go on.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("{}", .0.stopping())]
    Journal(#[from] JournalError),
    #[error("the terminal cannot be drawn on: {0}")]
    Terminal(#[source] std::io::Error),
}

#[cfg(test)]
#[path = "event_loop_tests.rs"]
mod tests;
