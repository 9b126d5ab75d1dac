//! The TUI's event loop: one `tokio::select!` over terminal events, the driver's inbox (in
//! batches), a frame tick and the run's signals. [`Front`] ties the App to the [`Driver`]: keys
//! become actions, the App's commands become driver requests, and the driver's notices feed
//! the App. It decides nothing about ordering (the engine does) and draws only through
//! `view::draw`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use ratatui::crossterm::event::{Event as TermEvent, EventStream, KeyEvent};

use crate::driver::{Driver, Inbox, Message, Notice, STOP_GRACE, Signals};
use crate::engine::{Input, ServiceState, StepRef};
use crate::journal::JournalError;
use crate::runbook::model::ServiceId;
use crate::tui::action::{Action, Command};
use crate::tui::app::{App, HostKeyPrompt, Overlay};
use crate::tui::keymap::Keymap;
use crate::tui::terminal::Tty;
use crate::tui::theme::Theme;
use crate::tui::view;

/// How often the screen may be redrawn; output arriving faster only marks it dirty.
const FRAME: Duration = Duration::from_millis(80);
/// Keys this soon after a dialog opened by itself (auto mode, a host key) are dropped: they
/// were typed for the screen before it, not as an answer.
pub const DIALOG_GUARD: Duration = Duration::from_millis(300);

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
    keymap: Keymap,
    /// Run time before this session (a resumed run keeps its clock).
    started: Instant,
    offset: Duration,
    quit: bool,
    /// The operator quit while steps were running: the run ends interrupted (exit 3).
    quit_mid_step: bool,
    dirty: bool,
    /// The question last shown, so a new one brings its service into view once.
    shown_prompt: Option<StepRef>,
    /// When a dialog last opened without a key asking for it.
    opened_alone: Option<Instant>,
}

impl Front {
    /// `offset`: how long the run had been going before this session (zero for a new run).
    pub fn new(app: App, driver: Driver, offset: Duration) -> Front {
        let mut front = Front {
            app,
            driver,
            keymap: Keymap::default(),
            started: Instant::now(),
            offset,
            quit: false,
            quit_mid_step: false,
            dirty: true,
            shown_prompt: None,
            opened_alone: None,
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
        self.dirty
    }

    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    /// A key press, through the keymap for the App's current context.
    pub fn key(&mut self, ev: KeyEvent) -> Result<(), JournalError> {
        self.key_at(ev, Instant::now())
    }

    /// A key pressed at `now`. Within [`DIALOG_GUARD`] of a dialog opening by itself the key
    /// is dropped (Ctrl-C still quits).
    pub fn key_at(&mut self, ev: KeyEvent, now: Instant) -> Result<(), JournalError> {
        let Some(action) = self.keymap.action(self.app.context(), ev) else {
            return Ok(());
        };
        let fresh = self
            .opened_alone
            .is_some_and(|t| now.saturating_duration_since(t) < DIALOG_GUARD);
        if fresh && self.app.overlay().is_some() && action != Action::Quit {
            self.app
                .notify("key ignored: a question just opened; read it, then answer");
            self.dirty = true;
            return Ok(());
        }
        self.action(action)
    }

    /// One operator action: the App decides, the driver carries out its commands.
    pub fn action(&mut self, action: Action) -> Result<(), JournalError> {
        self.dirty = true;
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
        let before = self.app.overlay().cloned();
        self.app.sync_services(self.driver.engine().services());
        // Questions from the engine and host keys open by themselves, whatever key came last.
        let asked = matches!(
            self.app.overlay(),
            Some(Overlay::Approval(_) | Overlay::Manual(_) | Overlay::HostKey)
        );
        if asked && self.app.overlay() != before.as_ref() {
            self.opened_alone = Some(Instant::now());
        }
        self.follow_prompt();
        self.dirty = true;
    }

    /// When a question opens, select its service so the steps and output panes show the
    /// step being asked about (once per question: the operator may look elsewhere after).
    fn follow_prompt(&mut self) {
        let open = match self.app.overlay() {
            Some(Overlay::Approval(step) | Overlay::Manual(step)) => Some(step.clone()),
            _ => None,
        };
        if let Some(step) = &open
            && self.shown_prompt.as_ref() != Some(step)
        {
            self.app.select_service(&step.service);
        }
        if open.is_some() {
            self.shown_prompt = open;
        }
    }

    /// Advance the App's clock; marks the screen dirty when the shown second changes.
    pub fn tick(&mut self) {
        let elapsed = self.offset + self.started.elapsed();
        if elapsed.as_secs() != self.app.elapsed.as_secs() {
            self.dirty = true;
        }
        self.app.tick(elapsed);
    }

    /// Paint one frame.
    pub fn draw(&mut self, terminal: &mut Tty, theme: &Theme) -> std::io::Result<()> {
        let mut hits = None;
        terminal.draw(|frame| {
            hits = Some(view::draw(&self.app, theme, &self.keymap, frame));
        })?;
        if let Some(hits) = hits {
            self.app.set_hits(hits);
        }
        self.dirty = false;
        Ok(())
    }

    fn command(&mut self, command: Command) -> Result<(), JournalError> {
        match command {
            Command::Request(request) => {
                let notices = self.driver.input(request)?;
                self.notices(notices);
            }
            Command::Quit => {
                self.quit = true;
                self.quit_mid_step = self.driver.busy();
            }
        }
        Ok(())
    }

    /// Feed what the driver produced to the App.
    fn notices(&mut self, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::Journaled(entry) => self.app.on_journal(entry.ts, &entry.event),
                // Whole lines, each closed with its newline.
                Notice::Output { step, host, lines } => {
                    self.app.on_output(&step, &host, &lines);
                }
                Notice::AskHostKey(q) => {
                    if !self.app.host_key_queued(&q.host) {
                        self.app.on_host_key(HostKeyPrompt {
                            host: q.host,
                            address: q.address,
                            key_type: q.key_type,
                            fingerprint: q.fingerprint,
                        });
                    }
                }
                Notice::Refused(why) => self.app.notify(why),
                // Questions open from the engine's views (`ServiceView::waiting`).
                Notice::AskApproval { .. } | Notice::AskManual { .. } | Notice::Idle { .. } => {}
            }
        }
        self.dirty = true;
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

    /// Journal `run_finished` and return SPEC's exit code: interrupted on a signal or when
    /// the operator quit while steps ran.
    pub fn finish(&mut self, end: End) -> Result<u8, JournalError> {
        let interrupted = end == End::Signal || self.quit_mid_step;
        let (_, exit, notices) = self.driver.end(interrupted)?;
        self.notices(notices);
        Ok(exit.code())
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
            ev = events.next() => match ev {
                Some(Ok(TermEvent::Key(key))) => {
                    front.key(key)?;
                    // Keys answer at once; output waits for the frame tick.
                    front.tick();
                    front.draw(terminal, theme).map_err(LoopError::Terminal)?;
                }
                Some(Ok(TermEvent::Mouse(mouse))) => {
                    if let Some(action) = Keymap::mouse(mouse) {
                        front.action(action)?;
                    }
                }
                Some(Ok(TermEvent::Resize(..))) => {
                    front.draw(terminal, theme).map_err(LoopError::Terminal)?;
                }
                Some(Ok(_)) => {}
                // The terminal is gone (hung up): as good as a SIGHUP.
                Some(Err(_)) | None => return Ok(End::Signal),
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
    #[error("the journal cannot be written: {0}; stopping so that nothing happens unrecorded")]
    Journal(#[from] JournalError),
    #[error("the terminal cannot be drawn on: {0}")]
    Terminal(#[source] std::io::Error),
}

#[cfg(test)]
#[path = "event_loop_tests.rs"]
mod tests;
