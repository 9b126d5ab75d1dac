//! The TUI on a shared run that another process executes (`bringup attach`): the same App as
//! the local TUI, fed from what the executing process publishes (its `live` view, the run's
//! event lines), and its commands sent as requests the executor journals under this
//! operator's name. One `tokio::select!` over terminal keys, the etcd thread's updates, a
//! frame tick and signals. It decides nothing about the run and never talks to etcd itself:
//! the caller's threads do (etcd's client blocks), through [`Update`] and a request channel.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use indexmap::IndexMap;
use ratatui::crossterm::event::{EventStream, KeyEvent};

use crate::driver::{self, Entry, LiveView, Notice, Signals};
use crate::engine::{ServiceView, StepRef};
use crate::exec::lines::DisplayLines;
use crate::journal::{Event, record};
use crate::runbook::model::{HostId, ServiceId};
use crate::tui::action::{Action, Command};
use crate::tui::app::{App, Attachment, Link, Seat};
use crate::tui::event_loop::{End, FRAME};
use crate::tui::screen::{Screen, TermInput};
use crate::tui::terminal::Tty;
use crate::tui::theme::Theme;

/// What the etcd threads report to the screen.
#[derive(Debug, Clone)]
pub enum Update {
    /// New event lines of the run, in seq order.
    Lines(Vec<Vec<u8>>),
    /// The executing process's view and who holds the run; `None`: no process executes it.
    Live {
        live: Option<LiveView>,
        holder: Option<String>,
    },
    /// etcd did not answer; the threads keep trying.
    Unreachable(String),
    /// What became of a request: `Some(why)` when it was refused or could not be delivered.
    Answered(Option<String>),
}

/// The step output of event lines as the driver shows it: whole display lines per step and
/// host ([`Notice::Output`]), split by the same [`DisplayLines`].
#[derive(Default)]
struct OutputLines {
    /// The step each (service, step name, host) last started, from `step_started`.
    started: HashMap<(ServiceId, String, HostId), StepRef>,
    split: HashMap<(StepRef, HostId), DisplayLines>,
}

impl OutputLines {
    fn on_event(&mut self, app: &App, event: &Event, notices: &mut Vec<Notice>) {
        match event {
            Event::StepStarted {
                service,
                phase,
                step,
                host,
                ..
            } => {
                if let Some(at) = StepRef::named(app.runbook(), service, *phase, step) {
                    self.started
                        .insert((service.clone(), step.clone(), host.clone()), at);
                }
            }
            Event::StepOutput {
                service,
                step,
                host,
                text,
                size,
                ..
            } => {
                let key = (service.clone(), step.clone(), host.clone());
                let Some(at) = self.started.get(&key).cloned() else {
                    return;
                };
                let split = self.split.entry((at.clone(), host.clone())).or_default();
                let mut lines = String::new();
                let mut take = |line: &str| {
                    lines.push_str(line);
                    lines.push('\n');
                };
                split.push(text, &mut take);
                // Older journals keep one line per event, without its newline.
                if size.is_none() {
                    split.finish(&mut take);
                }
                if !lines.is_empty() {
                    notices.push(Notice::Output {
                        step: at,
                        host: host.clone(),
                        lines,
                    });
                }
            }
            Event::StepFinished {
                service,
                step,
                host,
                ..
            } => {
                let key = (service.clone(), step.clone(), host.clone());
                let Some(at) = self.started.get(&key).cloned() else {
                    return;
                };
                // The last line, when it had no newline, shows before the outcome.
                if let Some(mut split) = self.split.remove(&(at.clone(), host.clone())) {
                    let mut lines = String::new();
                    split.finish(|line| {
                        lines.push_str(line);
                        lines.push('\n');
                    });
                    if !lines.is_empty() {
                        notices.push(Notice::Output {
                            step: at,
                            host: host.clone(),
                            lines,
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

/// Who executes the run, as the screen last heard from etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    NotYet,
    Nobody,
    Holder(String),
}

/// The App on a shared run, wired to the etcd threads; no terminal, so tests drive it.
pub struct Attach {
    pub app: App,
    screen: Screen,
    url: String,
    seat: Seat,
    asks: tokio::sync::mpsc::UnboundedSender<driver::Ask>,
    output: OutputLines,
    /// The seq of the last event line shown.
    seq: u64,
    /// How the run ended, once it has (`run_finished`, until a `resumed`).
    ended: Option<(DateTime<Utc>, String)>,
    /// Whether a process executes the run, as last heard.
    executor: Heard,
    /// The services as last shown, so the run's recorded end can be shown over them.
    views: IndexMap<ServiceId, ServiceView>,
    quit: bool,
    /// The operator asked to continue the run here (`T` once no process executes it).
    take_over: bool,
}

impl Attach {
    /// `asks` carries the App's requests to the task that posts them; a [`Seat::ReadOnly`]
    /// screen never sends one.
    pub fn new(
        mut app: App,
        url: &str,
        seat: Seat,
        asks: tokio::sync::mpsc::UnboundedSender<driver::Ask>,
    ) -> Attach {
        // As the local TUI opens: on the timeline, what is happening everywhere.
        if app.bottom_mode() == crate::tui::app::BottomMode::Output {
            app.on_action(Action::Timeline);
        }
        app.set_attachment(Attachment {
            url: url.to_string(),
            link: Link::NoExecutor,
            seat,
        });
        Attach {
            app,
            screen: Screen::default(),
            url: url.to_string(),
            seat,
            asks,
            output: OutputLines::default(),
            seq: 0,
            ended: None,
            executor: Heard::NotYet,
            views: IndexMap::new(),
            quit: false,
            take_over: false,
        }
    }

    pub fn quitting(&self) -> bool {
        self.quit
    }

    /// Whether the screen was left to take the run over in this process.
    pub fn taking_over(&self) -> bool {
        self.take_over
    }

    pub fn dirty(&self) -> bool {
        self.screen.dirty()
    }

    /// The seq of the last event shown.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Show what the threads report.
    pub fn update(&mut self, update: Update) {
        match update {
            Update::Lines(lines) => self.lines(&lines),
            Update::Live { live, holder } => self.live(live.as_ref(), holder),
            Update::Unreachable(why) => self.link(Link::Unreachable { why }),
            Update::Answered(Some(why)) => {
                self.app.notify(why);
                self.screen.mark_dirty();
            }
            Update::Answered(None) => {}
        }
    }

    /// Event lines of the run, in order: the timeline and the output panes, as the driver's
    /// notices feed the local TUI. A line already shown, or one that does not parse, is
    /// passed over (the chain is `verify`'s business, not the screen's).
    pub fn lines(&mut self, lines: &[Vec<u8>]) {
        let mut notices = Vec::new();
        for line in lines {
            let record = match record::parse(line) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("attach: an event line does not parse: {e}");
                    continue;
                }
            };
            if record.seq <= self.seq {
                continue;
            }
            self.seq = record.seq;
            match &record.event {
                Event::RunFinished {
                    outcome, services, ..
                } => {
                    self.ended = Some((record.ts, outcome.clone()));
                    self.ended_as(services);
                }
                Event::Resumed { .. } => self.ended = None,
                _ => {}
            }
            // The event first, then the lines it completed, as the driver orders them.
            let mut output = Vec::new();
            self.output.on_event(&self.app, &record.event, &mut output);
            notices.push(Notice::Journaled(Entry {
                seq: record.seq,
                ts: record.ts,
                event: record.event,
                line: String::from_utf8_lossy(line).into_owned(),
            }));
            notices.extend(output);
        }
        self.screen.show(&mut self.app, notices);
        self.relink();
    }

    /// The executor's view of the services (or none: no process executes the run). Once the
    /// run recorded its end, a view (published before it, read after it) changes nothing
    /// until the run is resumed.
    /// Who executes is known before the views are shown: a question opens (through the
    /// dialog guard) only while an executor is there to act on its answer.
    pub fn live(&mut self, live: Option<&LiveView>, holder: Option<String>) {
        self.executor = match holder.filter(|_| live.is_some()) {
            Some(h) => Heard::Holder(h),
            None => Heard::Nobody,
        };
        self.relink();
        if let Some(live) = live
            && self.ended.is_none()
        {
            self.views = live.views();
            self.screen.sync(&mut self.app, &self.views);
        }
    }

    /// The states `run_finished` recorded, over the last view the executor published (it
    /// may have ended before publishing its last one): nothing runs or waits any more.
    fn ended_as(&mut self, states: &IndexMap<ServiceId, crate::engine::ServiceState>) {
        for (id, state) in states {
            let view = self.views.entry(id.clone()).or_default();
            view.state = *state;
            view.waiting = None;
            view.current = None;
        }
        self.screen.sync(&mut self.app, &self.views);
    }

    fn relink(&mut self) {
        // A recorded end is the end, though its process may still be leaving.
        let link = match (&self.executor, &self.ended) {
            (_, Some((_, outcome))) => Link::Ended {
                outcome: outcome.clone(),
            },
            (Heard::Holder(holder), None) => Link::Executing {
                holder: holder.clone(),
            },
            (Heard::Nobody, None) => Link::NoExecutor,
            // Not heard yet: keep what the screen says.
            (Heard::NotYet, None) => return,
        };
        self.link(link);
    }

    fn link(&mut self, link: Link) {
        self.app.set_attachment(Attachment {
            url: self.url.clone(),
            link,
            seat: self.seat,
        });
        self.screen.mark_dirty();
    }

    /// A key press, through the keymap and the dialog guard.
    pub fn key(&mut self, ev: KeyEvent) {
        self.key_at(ev, Instant::now());
    }

    pub fn key_at(&mut self, ev: KeyEvent, now: Instant) {
        if let Some(action) = self.screen.action_for(&mut self.app, ev, now) {
            self.action(action);
        }
    }

    /// One operator action: the App decides; its requests go to the executing process.
    /// Quitting only detaches (the run goes on), so it never asks.
    pub fn action(&mut self, action: Action) {
        self.screen.mark_dirty();
        if action == Action::Quit {
            self.quit = true;
            return;
        }
        for command in self.app.on_action(action) {
            if self.seat == Seat::ReadOnly && command != Command::Quit {
                self.app.notify(crate::tui::app::READ_ONLY);
                continue;
            }
            match command {
                Command::Request(request) => match driver::Ask::from_request(&request) {
                    Ok(ask) => {
                        if self.asks.send(ask).is_err() {
                            self.app
                                .notify("cannot send: the connection to the run has stopped");
                        }
                    }
                    Err(why) => self.app.notify(why),
                },
                Command::Quit => self.quit = true,
                Command::TakeOver => {
                    self.take_over = true;
                    self.quit = true;
                }
            }
        }
    }

    /// Advance the clock: the run's time since its `run_started` (until its end), as the
    /// run's fold knows them.
    pub fn tick(&mut self) {
        let Some(began) = self.app.fold().started else {
            return;
        };
        let until = self.ended.as_ref().map_or_else(Utc::now, |(t, _)| *t);
        let elapsed = (until - began).to_std().unwrap_or(Duration::ZERO);
        self.screen.tick(&mut self.app, elapsed);
    }

    pub fn draw(&mut self, terminal: &mut Tty, theme: &Theme) -> std::io::Result<()> {
        self.screen.draw(&mut self.app, terminal, theme)
    }
}

/// Show the run until the operator leaves (`q`, exit 0) or a signal arrives. The channel
/// closing (the threads stopped) ends it too.
pub async fn run(
    front: &mut Attach,
    updates: &mut tokio::sync::mpsc::Receiver<Update>,
    signals: &mut Signals,
    terminal: &mut Tty,
    theme: &Theme,
) -> std::io::Result<End> {
    let mut events = EventStream::new();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    front.tick();
    front.draw(terminal, theme)?;
    loop {
        tokio::select! {
            ev = events.next() => match TermInput::of(ev.as_ref()) {
                TermInput::Key(key) => {
                    front.key(key);
                    front.tick();
                    front.draw(terminal, theme)?;
                }
                TermInput::Action(action) => front.action(action),
                TermInput::Redraw => front.draw(terminal, theme)?,
                TermInput::Nothing => {}
                TermInput::Gone => return Ok(End::Signal),
            },
            update = updates.recv() => {
                let Some(update) = update else { return Ok(End::Quit) };
                front.update(update);
            },
            _ = frame.tick() => {
                front.tick();
                if front.dirty() {
                    front.draw(terminal, theme)?;
                }
            },
            _ = signals.next() => return Ok(End::Signal),
        }
        if front.quitting() {
            return Ok(End::Quit);
        }
    }
}

#[cfg(test)]
#[path = "attach_tests.rs"]
mod tests;
