//! The TUI's driver loop: one `tokio::select!` over terminal events, the run driver's messages,
//! a frame tick and SIGTERM/SIGHUP/SIGINT. [`Front`] ties the App to the [`Driver`]: keys become
//! actions, the App's commands become driver calls, and the driver's notices feed the App.
//! It decides nothing about ordering (the engine does) and draws only through `view::draw`.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ratatui::crossterm::event::{Event as TermEvent, EventStream, KeyEvent};
use tokio::sync::mpsc;

use crate::driver::{self, Driver, Message, Notice};
use crate::engine::{Input, ServiceState, StepRef};
use crate::journal::{Event, JournalError};
use crate::runbook::model::{HostId, ServiceId};
use crate::tui::action::{Action, Command};
use crate::tui::app::{App, HostKeyPrompt, Overlay};
use crate::tui::keymap::Keymap;
use crate::tui::terminal::Tty;
use crate::tui::theme::Theme;
use crate::tui::view;

/// How often the screen may be redrawn; output arriving faster only marks it dirty.
const FRAME: Duration = Duration::from_millis(80);
/// Messages taken from the driver's channel in one go before the App is synced.
const BATCH: usize = 256;
/// How long a quit or a signal waits for cancelled steps to report back.
const WIND_DOWN: Duration = Duration::from_secs(15);

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
    /// `--only`: the services whose states make the exit code.
    only: Vec<String>,
    /// Run time before this session (a resumed run keeps its clock).
    started: Instant,
    offset: Duration,
    quit: bool,
    dirty: bool,
    /// Hosts whose unknown key the operator is asked about, with the services to check again
    /// once it is accepted.
    key_waits: HashMap<HostId, BTreeSet<ServiceId>>,
    /// The question last shown, so a new one brings its service into view once.
    shown_prompt: Option<StepRef>,
}

impl Front {
    /// `offset`: how long the run had been going before this session (zero for a new run).
    pub fn new(app: App, driver: Driver, only: Vec<String>, offset: Duration) -> Front {
        let mut front = Front {
            app,
            driver,
            keymap: Keymap::default(),
            only,
            started: Instant::now(),
            offset,
            quit: false,
            dirty: true,
            key_waits: HashMap::new(),
            shown_prompt: None,
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
        match self.keymap.action(self.app.context(), ev) {
            Some(action) => self.action(action),
            None => Ok(()),
        }
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

    /// One report from the driver's tasks (call [`Front::sync`] after a batch).
    pub fn message(&mut self, message: Message) -> Result<(), JournalError> {
        let notices = self.driver.on_message(message)?;
        self.notices(notices);
        Ok(())
    }

    /// Take the engine's views into the App (once per batch, not per line of output).
    pub fn sync(&mut self) {
        self.app.sync_services(self.driver.engine().services());
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
        let notices = match command {
            Command::EngineInput(Input::Approval { step, decision }) => {
                let operator = self.driver.operator().to_string();
                self.driver.approve(step, decision, &operator)?
            }
            Command::EngineInput(Input::Manual { step, outcome }) => {
                self.driver.manual(step, outcome)?
            }
            // Quitting stops through `wind_down`, which waits for the cancelled steps.
            Command::EngineInput(Input::Stop) => Vec::new(),
            Command::EngineInput(input) => self.driver.input(input)?,
            Command::Journal(event) => self.driver.record(event)?,
            Command::AcceptHostKey { host, fingerprint } => {
                self.accept_host_key(host, fingerprint)?
            }
            Command::RefuseHostKey { host } => {
                self.key_waits.remove(&host);
                self.app.notify(format!(
                    "host key of '{host}' refused: nothing runs there; press c on a service to try again"
                ));
                Vec::new()
            }
            Command::Quit => {
                self.quit = true;
                Vec::new()
            }
        };
        self.notices(notices);
        Ok(())
    }

    fn accept_host_key(
        &mut self,
        host: HostId,
        fingerprint: String,
    ) -> Result<Vec<Notice>, JournalError> {
        let waiting = self.key_waits.remove(&host).unwrap_or_default();
        if let Err(e) = self.driver.executor().accept_host_key(&host, &fingerprint) {
            self.app.notify(format!("{e}"));
            return Ok(Vec::new());
        }
        let operator = self.driver.operator().to_string();
        let mut notices = self.driver.record(Event::HostKeyAccepted {
            host,
            fingerprint,
            operator,
        })?;
        // The services stopped by the unknown key are checked again at once.
        for service in waiting {
            notices.extend(self.driver.input(Input::Check(service))?);
        }
        Ok(notices)
    }

    /// Feed what the driver produced to the App.
    fn notices(&mut self, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::Journaled(entry) => {
                    self.watch_host_key(&entry.event);
                    self.app.on_journal(entry.ts, &entry.event);
                }
                // The driver hands over whole lines; the store takes chunks that may end
                // mid-line, so each line is closed here.
                Notice::Output {
                    step,
                    host,
                    mut line,
                } => {
                    line.push('\n');
                    self.app.on_output(&step, &host, &line);
                }
                // Questions open from the engine's views (`ServiceView::waiting`).
                Notice::AskApproval { .. } | Notice::AskManual { .. } | Notice::Idle { .. } => {}
            }
        }
        self.dirty = true;
    }

    /// A step that met an unknown host key: ask the operator about exactly the key offered.
    fn watch_host_key(&mut self, event: &Event) {
        let Event::StepFinished {
            service,
            host,
            error: Some(error),
            ..
        } = event
        else {
            return;
        };
        if !error.contains("unknown host key") {
            return;
        }
        // The key may be a jump host's on the way: it is asked about, accepted and journaled
        // as that host's, and the services waiting on it are checked again once it is.
        let Some((host, key)) = self.driver.executor().host_key_in_the_way(host) else {
            return;
        };
        self.key_waits
            .entry(host.clone())
            .or_default()
            .insert(service.clone());
        if !self.app.host_key_queued(&host) {
            let address = if key.port == 22 {
                key.hostname.clone()
            } else {
                format!("{}:{}", key.hostname, key.port)
            };
            self.app.on_host_key(HostKeyPrompt {
                host: host.clone(),
                address,
                key_type: key.key_type.clone(),
                fingerprint: key.fingerprint(),
            });
        }
    }

    /// Stop running steps on their hosts and wait (bounded) until they have reported back, so
    /// the journal records how each ended.
    pub async fn wind_down(&mut self, messages: &mut mpsc::Receiver<Message>) {
        if !self.driver.busy() && self.driver.engine().is_stopped() {
            return;
        }
        match self.driver.stop() {
            Ok(n) => self.notices(n),
            Err(e) => tracing::error!("journal: {e}"),
        }
        let deadline = tokio::time::Instant::now() + WIND_DOWN;
        while self.driver.busy() {
            match tokio::time::timeout_at(deadline, messages.recv()).await {
                Ok(Some(m)) => {
                    if let Err(e) = self.message(m) {
                        tracing::error!("journal: {e}");
                        break;
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        self.sync();
    }

    /// The selected services and their states now.
    pub fn states(&self) -> Vec<(ServiceId, ServiceState)> {
        self.driver
            .engine()
            .services()
            .iter()
            .filter(|(id, _)| self.only.is_empty() || self.only.iter().any(|o| o == id.as_str()))
            .map(|(id, v)| (id.clone(), v.state))
            .collect()
    }

    /// Journal `run_finished` and return SPEC's exit code.
    pub fn finish(&mut self, end: End) -> Result<u8, JournalError> {
        let code = match end {
            End::Signal => crate::cmd::EXIT_INTERRUPTED,
            End::Quit => driver::exit_code(&self.states()),
        };
        let outcome = match (end, code) {
            (End::Signal, _) => "interrupted",
            (End::Quit, 0) => "restored",
            (End::Quit, _) => "incomplete",
        };
        let notices = self.driver.finish(outcome)?;
        self.notices(notices);
        Ok(code)
    }
}

/// Run the TUI until the operator quits or a signal arrives; returns how it ended. The
/// caller winds down, journals the end and restores the terminal.
pub async fn run(
    front: &mut Front,
    messages: &mut mpsc::Receiver<Message>,
    terminal: &mut Tty,
    theme: &Theme,
) -> Result<End, LoopError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate()).map_err(LoopError::Signal)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(LoopError::Signal)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(LoopError::Signal)?;
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
            msg = messages.recv() => {
                let Some(first) = msg else { return Ok(End::Quit) };
                front.message(first)?;
                for _ in 1..BATCH {
                    match messages.try_recv() {
                        Ok(m) => front.message(m)?,
                        Err(_) => break,
                    }
                }
                front.sync();
            },
            _ = frame.tick() => {
                front.tick();
                if front.dirty() {
                    front.draw(terminal, theme).map_err(LoopError::Terminal)?;
                }
            },
            _ = sigterm.recv() => return Ok(End::Signal),
            _ = sighup.recv() => return Ok(End::Signal),
            _ = sigint.recv() => return Ok(End::Signal),
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
    #[error("cannot listen for signals: {0}")]
    Signal(#[source] std::io::Error),
}

#[cfg(test)]
#[path = "event_loop_tests.rs"]
mod tests;
