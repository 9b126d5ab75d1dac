//! What every TUI loop needs around the App, whoever carries out its commands (the local
//! driver in `event_loop`, a shared run's executor in `attach`): keys through the keymap and
//! the dialog guard, engine views in with questions surfacing on their own, notices shown,
//! frames drawn. Holds no run logic and does no IO but drawing.

use std::time::{Duration, Instant};

use indexmap::IndexMap;
use ratatui::crossterm::event::KeyEvent;

use crate::driver::Notice;
use crate::engine::{ServiceView, StepRef};
use crate::runbook::model::ServiceId;
use crate::tui::action::Action;
use crate::tui::app::{App, HostKeyPrompt, Overlay};
use crate::tui::keymap::Keymap;
use crate::tui::terminal::Tty;
use crate::tui::theme::Theme;
use crate::tui::view;

/// Keys this soon after a dialog opened by itself (auto mode, a host key) are dropped: they
/// were typed for the screen before it, not as an answer.
pub const DIALOG_GUARD: Duration = Duration::from_millis(300);

/// The keymap, the dialog guard and the redraw flag of one screen.
pub struct Screen {
    keymap: Keymap,
    dirty: bool,
    /// The question last shown, so a new one brings its service into view once.
    shown_prompt: Option<StepRef>,
    /// When a dialog last opened without a key asking for it.
    opened_alone: Option<Instant>,
}

impl Default for Screen {
    fn default() -> Self {
        Screen {
            keymap: Keymap::default(),
            dirty: true,
            shown_prompt: None,
            opened_alone: None,
        }
    }
}

impl Screen {
    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    /// Whether the screen should be redrawn.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The action a key pressed at `now` means, if any. Within [`DIALOG_GUARD`] of a dialog
    /// opening by itself the key is dropped and the App says why (Ctrl-C still quits).
    pub fn action_for(&mut self, app: &mut App, ev: KeyEvent, now: Instant) -> Option<Action> {
        let action = self.keymap.action(app.context(), ev)?;
        let fresh = self
            .opened_alone
            .is_some_and(|t| now.saturating_duration_since(t) < DIALOG_GUARD);
        self.dirty = true;
        if fresh && app.overlay().is_some() && action != Action::Quit {
            app.notify("key ignored: a question just opened; read it, then answer");
            return None;
        }
        Some(action)
    }

    /// Take the engine's views into the App; questions from the engine and host keys open by
    /// themselves, whatever key came last, and bring their service into view once.
    pub fn sync(&mut self, app: &mut App, views: &IndexMap<ServiceId, ServiceView>) {
        let before = app.overlay().cloned();
        app.sync_services(views);
        let asked = matches!(
            app.overlay(),
            Some(Overlay::Approval(_) | Overlay::Manual(_) | Overlay::HostKey)
        );
        if asked && app.overlay() != before.as_ref() {
            self.opened_alone = Some(Instant::now());
        }
        self.follow_prompt(app);
        self.dirty = true;
    }

    /// When a question opens, select its service so the steps and output panes show the
    /// step being asked about (once per question: the operator may look elsewhere after).
    fn follow_prompt(&mut self, app: &mut App) {
        let open = match app.overlay() {
            Some(Overlay::Approval(step) | Overlay::Manual(step)) => Some(step.clone()),
            _ => None,
        };
        if let Some(step) = &open
            && self.shown_prompt.as_ref() != Some(step)
        {
            app.select_service(&step.service);
        }
        if open.is_some() {
            self.shown_prompt = open;
        }
    }

    /// Feed what a run produced to the App.
    pub fn show(&mut self, app: &mut App, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::Journaled(entry) => app.on_entry(entry.seq, entry.ts, &entry.event),
                // Whole lines, each closed with its newline.
                Notice::Output { step, host, lines } => app.on_output(&step, &host, &lines),
                Notice::AskHostKey(q) => {
                    if !app.host_key_queued(&q.host) {
                        app.on_host_key(HostKeyPrompt {
                            host: q.host,
                            address: q.address,
                            key_type: q.key_type,
                            fingerprint: q.fingerprint,
                        });
                    }
                }
                Notice::Refused(why) => app.notify(why),
                // The driver no longer asks: its dialog closes here as on every front end.
                Notice::Withdrawn { step } => app.withdraw(&step),
                // Questions open from the engine's views (`ServiceView::waiting`).
                Notice::AskApproval { .. } | Notice::AskManual { .. } | Notice::Idle { .. } => {}
            }
        }
        self.dirty = true;
    }

    /// Advance the App's clock to `elapsed`; marks the screen dirty when the shown second
    /// changes.
    pub fn tick(&mut self, app: &mut App, elapsed: Duration) {
        if elapsed.as_secs() != app.elapsed.as_secs() {
            self.dirty = true;
        }
        app.tick(elapsed);
    }

    /// Paint one frame.
    pub fn draw(
        &mut self,
        app: &mut App,
        terminal: &mut Tty,
        theme: &Theme,
    ) -> std::io::Result<()> {
        let mut hits = None;
        terminal.draw(|frame| {
            hits = Some(view::draw(app, theme, &self.keymap, frame));
        })?;
        if let Some(hits) = hits {
            app.set_hits(hits);
        }
        self.dirty = false;
        Ok(())
    }
}

/// What a terminal event means to a TUI loop.
#[derive(Debug)]
pub enum TermInput {
    /// A key: answer it, then redraw at once (keys answer at once; output waits for a tick).
    Key(KeyEvent),
    /// A click or a wheel turn.
    Action(Action),
    /// The terminal changed size.
    Redraw,
    /// The terminal is gone (hung up): as good as a SIGHUP.
    Gone,
    Nothing,
}

impl TermInput {
    pub fn of(ev: Option<&std::io::Result<ratatui::crossterm::event::Event>>) -> TermInput {
        use ratatui::crossterm::event::Event as TermEvent;
        match ev {
            Some(Ok(TermEvent::Key(key))) => TermInput::Key(*key),
            Some(Ok(TermEvent::Mouse(mouse))) => {
                Keymap::mouse(*mouse).map_or(TermInput::Nothing, TermInput::Action)
            }
            Some(Ok(TermEvent::Resize(..))) => TermInput::Redraw,
            Some(Ok(_)) => TermInput::Nothing,
            Some(Err(_)) | None => TermInput::Gone,
        }
    }
}
