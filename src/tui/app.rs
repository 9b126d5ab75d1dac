//! The TUI's state and what each [`Action`] does to it: pure, no IO, no clock. The driver feeds
//! in engine views, journal events, output and time, and carries out the [`Command`]s returned.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use ratatui::layout::{Position, Rect};

use crate::driver::Request;
use crate::engine::Input;
use crate::engine::state::{
    Decision, HostStatus, ManualOutcome, Mode, Phase, ServiceState, ServiceView, StepOutcome,
    StepRef, Waiting,
};
use crate::journal::Event;
use crate::runbook::model::{HostId, Runbook, Service, ServiceId, Step};
use crate::tui::action::{Action, Command, Focus};
use crate::tui::keymap::Context;
use crate::tui::output::OutputStore;
use crate::tui::timeline::Timeline;

/// Facts about the run shown in the header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub mode: Mode,
    pub operator: String,
    pub journal: PathBuf,
}

/// An unknown host key waiting for the operator's word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyPrompt {
    pub host: HostId,
    pub address: String,
    pub key_type: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPurpose {
    Skip(ServiceId),
    Note,
    Filter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextInput {
    pub purpose: InputPurpose,
    pub text: String,
    pub error: Option<String>,
}

/// A dialog over the main view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    Approval(StepRef),
    Manual(StepRef),
    Input(TextInput),
    QuitConfirm,
    /// Shows the front of the host-key queue.
    HostKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BottomMode {
    #[default]
    Output,
    Timeline,
}

/// A scroll position: `follow` pins the view to the end as lines arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scroll {
    pub follow: bool,
    pub top: usize,
}

impl Default for Scroll {
    fn default() -> Self {
        Self {
            follow: true,
            top: 0,
        }
    }
}

impl Scroll {
    /// The first visible line for `len` lines in `height` rows.
    pub fn top_for(self, len: usize, height: usize) -> usize {
        let max = len.saturating_sub(height);
        if self.follow { max } else { self.top.min(max) }
    }

    fn by(&mut self, delta: isize, len: usize, height: usize) {
        let max = len.saturating_sub(height);
        let top = self
            .top_for(len, height)
            .saturating_add_signed(delta)
            .min(max);
        self.top = top;
        self.follow = delta > 0 && top == max;
    }
}

/// A row of the service list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Tier(u32),
    /// Index into `Runbook::services`.
    Service(usize),
}

/// A row of the steps pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepRow {
    Step(StepRef),
    Host(StepRef, HostId),
}

impl StepRow {
    pub fn step(&self) -> &StepRef {
        match self {
            Self::Step(s) | Self::Host(s, _) => s,
        }
    }
}

/// Where the panes were on the last frame (content areas, inside borders) and their first
/// visible rows: what the mouse and page keys are measured against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hits {
    pub services: Rect,
    pub steps: Rect,
    pub bottom: Rect,
    pub services_top: usize,
    pub steps_top: usize,
}

pub struct App {
    pub(crate) runbook: Arc<Runbook>,
    pub(crate) info: RunInfo,
    pub(crate) services: IndexMap<ServiceId, ServiceView>,
    pub(crate) elapsed: Duration,
    /// When each service came up (healthy or restored), as elapsed run time.
    pub(crate) up_at: HashMap<ServiceId, Duration>,
    pub(crate) auto: bool,
    pub(crate) focus: Focus,
    pub(crate) bottom: BottomMode,
    pub(crate) rows: Vec<Row>,
    pub(crate) selected: Option<usize>,
    pub(crate) services_top: usize,
    pub(crate) step_sel: usize,
    pub(crate) filter: String,
    pub(crate) overlay: Option<Overlay>,
    deferred: HashSet<StepRef>,
    answered: HashSet<StepRef>,
    pub(crate) host_keys: VecDeque<HostKeyPrompt>,
    pub(crate) output: OutputStore,
    pub(crate) output_scroll: Scroll,
    pub(crate) timeline: Timeline,
    pub(crate) timeline_scroll: Scroll,
    pub(crate) hits: Hits,
    pub(crate) message: Option<String>,
    /// Who marked each manual step, by (service, step name), from the journal.
    pub(crate) manual_by: HashMap<(ServiceId, String), String>,
    has_secrets: bool,
    /// Whether the App still picks the service to show once the opening sweep ends.
    landing: Landing,
}

/// The App picks the first service that is not up when the opening sweep ends, unless the
/// operator chose one first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landing {
    Pending,
    Done,
}

impl App {
    pub fn new(runbook: Arc<Runbook>, info: RunInfo) -> Self {
        Self::with_output(runbook, info, OutputStore::default())
    }

    /// With a custom output store (other bounds).
    pub fn with_output(runbook: Arc<Runbook>, info: RunInfo, output: OutputStore) -> Self {
        let services = runbook
            .services
            .iter()
            .map(|s| (s.id.clone(), ServiceView::default()))
            .collect();
        let has_secrets = !runbook.secret_values().is_empty();
        let mut app = Self {
            runbook,
            info,
            services,
            elapsed: Duration::ZERO,
            up_at: HashMap::new(),
            auto: false,
            focus: Focus::Services,
            bottom: BottomMode::Output,
            rows: Vec::new(),
            selected: None,
            services_top: 0,
            step_sel: 0,
            filter: String::new(),
            overlay: None,
            landing: Landing::Pending,
            deferred: HashSet::new(),
            answered: HashSet::new(),
            host_keys: VecDeque::new(),
            output,
            output_scroll: Scroll::default(),
            timeline: Timeline::default(),
            timeline_scroll: Scroll::default(),
            hits: Hits::default(),
            message: None,
            manual_by: HashMap::new(),
            has_secrets,
        };
        app.rebuild_rows();
        app
    }

    // ---- feeding state in -------------------------------------------------------------

    /// Take the engine's current views (call after each `Engine::handle`).
    pub fn sync_services(&mut self, views: &IndexMap<ServiceId, ServiceView>) {
        for (id, view) in views {
            if view.state.is_up() {
                self.up_at.entry(id.clone()).or_insert(self.elapsed);
            } else {
                self.up_at.remove(id);
            }
            self.services.insert(id.clone(), view.clone());
        }
        let waiting: HashSet<&StepRef> = self.services.values().filter_map(waiting_step).collect();
        self.answered.retain(|s| waiting.contains(s));
        self.deferred.retain(|s| waiting.contains(s));
        if !self.filter.is_empty() {
            self.rebuild_rows();
        }
        self.clamp_step_sel();
        self.land_on_first_down();
        self.surface_prompts();
    }

    /// Once the opening sweep has found every state, select the first service that is not up
    /// (its failed check is what the operator needs to read first), unless they already chose.
    fn land_on_first_down(&mut self) {
        if self.landing == Landing::Done {
            return;
        }
        let sweeping = self
            .services
            .values()
            .any(|v| matches!(v.state, ServiceState::Unknown | ServiceState::Checking));
        if sweeping {
            return;
        }
        self.landing = Landing::Done;
        let first_down = self.rows.iter().find_map(|r| match r {
            Row::Service(i) => self
                .services
                .get(&self.runbook.services[*i].id)
                .filter(|v| !v.state.is_up())
                .map(|_| *i),
            Row::Tier(_) => None,
        });
        if first_down.is_some() {
            self.select(first_down);
        }
    }

    /// Time since the run started (the driver's clock).
    pub fn tick(&mut self, elapsed: Duration) {
        self.elapsed = elapsed;
    }

    /// A journal event was written: add it to the timeline.
    pub fn on_journal(&mut self, ts: DateTime<Utc>, event: &Event) {
        if let Event::Manual {
            service,
            step,
            operator,
            ..
        } = event
        {
            self.manual_by
                .insert((service.clone(), step.clone()), operator.clone());
        }
        self.timeline.push(ts, event);
    }

    /// A chunk of a step's output on a host (secrets are masked here as well).
    pub fn on_output(&mut self, step: &StepRef, host: &HostId, text: &str) {
        if self.has_secrets {
            let masked = self.runbook.redact(text);
            self.output.push(step, host, &masked);
        } else {
            self.output.push(step, host, text);
        }
    }

    /// A connection met an unknown host key: ask the operator.
    pub fn on_host_key(&mut self, prompt: HostKeyPrompt) {
        self.host_keys.push_back(prompt);
        self.surface_prompts();
    }

    /// Show a one-line message in the footer until the next action (e.g. a refused command).
    pub fn notify(&mut self, message: impl Into<String>) {
        self.message = Some(message.into());
    }

    /// A resumed run: when a service came up, from its journal (run time), so its time
    /// against the RTO is the recorded one. Call before the first `sync_services`.
    pub fn seed_up_at(&mut self, id: ServiceId, at: Duration) {
        self.up_at.insert(id, at);
    }

    /// Select a service (e.g. the one a question just opened for), when the list shows it.
    pub fn select_service(&mut self, id: &ServiceId) {
        let index = self.runbook.services.iter().position(|s| &s.id == id);
        if let Some(i) = index.filter(|i| self.rows.contains(&Row::Service(*i))) {
            self.select(Some(i));
        }
    }

    /// Whether an unknown-key prompt for `host` is queued or open.
    pub fn host_key_queued(&self, host: &HostId) -> bool {
        self.host_keys.iter().any(|p| &p.host == host)
    }

    /// Remember where the panes were drawn (from `view::draw`).
    pub fn set_hits(&mut self, hits: Hits) {
        self.hits = hits;
        self.services_top = hits.services_top;
    }

    // ---- reading state ------------------------------------------------------------------

    pub fn runbook(&self) -> &Runbook {
        &self.runbook
    }

    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlay.as_ref()
    }

    pub fn focus(&self) -> Focus {
        self.focus
    }

    pub fn auto(&self) -> bool {
        self.auto
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    pub fn bottom_mode(&self) -> BottomMode {
        self.bottom
    }

    pub fn output_scroll(&self) -> Scroll {
        self.output_scroll
    }

    pub fn timeline_scroll(&self) -> Scroll {
        self.timeline_scroll
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The keyboard context: which part of the keymap applies now.
    pub fn context(&self) -> Context {
        match &self.overlay {
            None => Context::Main,
            Some(Overlay::Help) => Context::Help,
            Some(Overlay::Approval(_)) => Context::Approval,
            Some(Overlay::Manual(_)) => Context::Manual,
            Some(Overlay::Input(_)) => Context::TextInput,
            Some(Overlay::QuitConfirm) => Context::QuitConfirm,
            Some(Overlay::HostKey) => Context::HostKey,
        }
    }

    pub fn selected_service(&self) -> Option<&Service> {
        self.selected.and_then(|i| self.runbook.services.get(i))
    }

    pub fn view_of(&self, id: &ServiceId) -> Option<&ServiceView> {
        self.services.get(id)
    }

    /// Some step is running or waiting to retry: quitting needs a confirmation.
    pub fn busy(&self) -> bool {
        self.services.values().any(|v| {
            v.state.is_busy()
                || v.steps
                    .values()
                    .flat_map(IndexMap::values)
                    .any(|h| matches!(h, HostStatus::Running { .. } | HostStatus::RetryWait { .. }))
        })
    }

    /// Steps of a service as shown: checks, restores, the verification (once begun) and, in
    /// drills, injects.
    pub fn steps_of<'a>(&self, service: &'a Service) -> Vec<(StepRef, &'a Step)> {
        let view = self.services.get(&service.id);
        let r = |phase, index| StepRef {
            service: service.id.clone(),
            phase,
            index,
        };
        let mut out: Vec<(StepRef, &Step)> = Vec::new();
        out.extend(
            service
                .checks
                .iter()
                .enumerate()
                .map(|(i, s)| (r(Phase::Check, i), s)),
        );
        out.extend(
            service
                .restores
                .iter()
                .enumerate()
                .map(|(i, s)| (r(Phase::Restore, i), s)),
        );
        let verifying = view.is_some_and(|v| v.steps.keys().any(|k| k.phase == Phase::Verify));
        if verifying {
            out.extend(
                service
                    .checks
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (r(Phase::Verify, i), s)),
            );
        }
        if self.info.mode == Mode::Drill {
            out.extend(
                service
                    .injects
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (r(Phase::Inject, i), s)),
            );
        }
        out
    }

    /// The steps pane's rows for the selected service: each step, then each of its hosts.
    pub fn step_rows(&self) -> Vec<StepRow> {
        let Some(service) = self.selected_service() else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for (step_ref, step) in self.steps_of(service) {
            rows.push(StepRow::Step(step_ref.clone()));
            for host in &step.hosts {
                rows.push(StepRow::Host(step_ref.clone(), host.clone()));
            }
        }
        rows
    }

    pub fn selected_step_row(&self) -> usize {
        self.step_sel
    }

    /// Whose output the bottom pane shows: the selected host row, or a step's first host.
    pub fn output_target(&self) -> Option<(StepRef, HostId)> {
        let rows = self.step_rows();
        match rows.get(self.step_sel)? {
            StepRow::Host(s, h) => Some((s.clone(), h.clone())),
            StepRow::Step(s) => {
                let service = self.selected_service()?;
                let (_, step) = self.steps_of(service).into_iter().find(|(r, _)| r == s)?;
                Some((s.clone(), step.hosts.first()?.clone()))
            }
        }
    }

    /// Whether an action would do something now (the footer shows only these).
    pub fn can(&self, action: Action) -> bool {
        let waiting = self.selected_waiting();
        match action {
            Action::ManualDone | Action::ManualFailed => {
                matches!(waiting, Some(Waiting::Manual { .. }))
                    || matches!(self.overlay, Some(Overlay::Manual(_)))
            }
            Action::Inject => self.info.mode == Mode::Drill && self.selected.is_some(),
            Action::Check | Action::Restore | Action::Skip | Action::RunNext => {
                self.selected.is_some()
            }
            Action::Cancel => self.overlay.is_some() || !self.filter.is_empty(),
            Action::Follow | Action::PageUp | Action::PageDown | Action::Home | Action::End => {
                self.focus == Focus::Bottom
            }
            _ => true,
        }
    }

    // ---- actions ------------------------------------------------------------------------

    /// Apply one action; return what the driver must do.
    pub fn on_action(&mut self, action: Action) -> Vec<Command> {
        self.message = None;
        // `?` over a question: the question comes back when help closes (surface_prompts).
        if action == Action::Help
            && matches!(
                self.overlay,
                Some(
                    Overlay::Approval(_)
                        | Overlay::Manual(_)
                        | Overlay::QuitConfirm
                        | Overlay::HostKey
                )
            )
        {
            self.overlay = Some(Overlay::Help);
            return Vec::new();
        }
        let out = match self.overlay.clone() {
            None => self.main_action(action),
            Some(Overlay::Help) => {
                if matches!(action, Action::Cancel | Action::Help) {
                    self.overlay = None;
                } else if action == Action::Quit {
                    return self.quit();
                }
                Vec::new()
            }
            Some(Overlay::Approval(step)) => self.approval_action(&step, action),
            Some(Overlay::Manual(step)) => self.manual_action(&step, action),
            Some(Overlay::Input(input)) => self.input_action(input, action),
            Some(Overlay::QuitConfirm) => match action {
                // A second Ctrl-C means it.
                Action::Approve | Action::Quit => {
                    self.overlay = None;
                    vec![Command::input(Input::Stop), Command::Quit]
                }
                Action::Decline | Action::Cancel => {
                    self.overlay = None;
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Some(Overlay::HostKey) => self.host_key_action(action),
        };
        self.surface_prompts();
        out
    }

    fn main_action(&mut self, action: Action) -> Vec<Command> {
        let id = self.selected_service().map(|s| s.id.clone());
        let need = |this: &mut Self| {
            if id.is_none() {
                this.message = Some("no service selected".into());
            }
            id.clone()
        };
        match action {
            Action::Up => {
                self.landing = Landing::Done;
                self.move_by(-1);
            }
            Action::Down => {
                self.landing = Landing::Done;
                self.move_by(1);
            }
            Action::NextPane => self.focus = self.focus.next(),
            Action::PrevPane => self.focus = self.focus.prev(),
            Action::PageUp => self.scroll_page(false),
            Action::PageDown => self.scroll_page(true),
            Action::Home => {
                *self.scroll_mut() = Scroll {
                    follow: false,
                    top: 0,
                };
            }
            Action::End => *self.scroll_mut() = Scroll::default(),
            Action::Follow => {
                let (len, h) = (self.bottom_len(), self.page());
                let s = self.scroll_mut();
                *s = if s.follow {
                    Scroll {
                        follow: false,
                        top: s.top_for(len, h),
                    }
                } else {
                    Scroll::default()
                };
            }
            Action::Timeline => {
                self.bottom = match self.bottom {
                    BottomMode::Output => BottomMode::Timeline,
                    BottomMode::Timeline => BottomMode::Output,
                };
            }
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Filter => self.open_input(InputPurpose::Filter),
            Action::Note => self.open_input(InputPurpose::Note),
            Action::Skip => {
                if let Some(id) = need(self) {
                    self.open_input(InputPurpose::Skip(id));
                }
            }
            Action::Cancel => {
                if !self.filter.is_empty() {
                    self.filter.clear();
                    self.rebuild_rows();
                }
            }
            Action::Quit => return self.quit(),
            Action::ToggleAuto
            | Action::Check
            | Action::Restore
            | Action::Inject
            | Action::RunNext
            | Action::ManualDone
            | Action::ManualFailed => return self.service_action(action),
            Action::Click { column, row } => {
                self.landing = Landing::Done;
                self.click(column, row);
            }
            Action::Scroll { column, row, down } => self.wheel(column, row, down),
            Action::Approve
            | Action::Decline
            | Action::Submit
            | Action::AcceptHostKey
            | Action::RefuseHostKey
            | Action::Type(_)
            | Action::Backspace => {}
        }
        Vec::new()
    }

    /// Actions on the selected service that the engine carries out.
    fn service_action(&mut self, action: Action) -> Vec<Command> {
        let id = self.selected_service().map(|s| s.id.clone());
        let need = |this: &mut Self| {
            if id.is_none() {
                this.message = Some("no service selected".into());
            }
            id.clone()
        };
        match action {
            Action::ToggleAuto => {
                self.auto = !self.auto;
                return vec![Command::input(Input::SetAuto(self.auto))];
            }
            Action::Check => {
                if let Some(id) = need(self) {
                    return vec![Command::input(Input::Check(id))];
                }
            }
            Action::Restore => {
                if let Some(id) = need(self) {
                    // Pressed by an operator: the journal records it as by hand.
                    return vec![Command::input(Input::Restore {
                        service: id,
                        by_hand: true,
                    })];
                }
            }
            Action::Inject => {
                if self.info.mode != Mode::Drill {
                    self.message = Some("inject runs only in drill mode".into());
                } else if let Some(id) = need(self) {
                    return vec![Command::input(Input::Inject(id))];
                }
            }
            Action::RunNext => {
                if let Some(waiting) = self.selected_waiting().cloned() {
                    let step = waiting_ref(&waiting).clone();
                    self.deferred.remove(&step);
                    self.answered.remove(&step);
                    self.overlay = Some(match waiting {
                        Waiting::Approval { .. } => Overlay::Approval(step),
                        Waiting::Manual { .. } => Overlay::Manual(step),
                    });
                } else if let Some(id) = need(self) {
                    return vec![Command::input(Input::NextStep(id))];
                }
            }
            Action::ManualDone | Action::ManualFailed => {
                if let Some(Waiting::Manual { step, .. }) = self.selected_waiting().cloned() {
                    return self.answer_manual(&step, action == Action::ManualDone);
                }
                self.message = Some("no manual step is waiting on this service".into());
            }
            _ => {}
        }
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Command> {
        if self.busy() {
            self.overlay = Some(Overlay::QuitConfirm);
            Vec::new()
        } else {
            vec![Command::Quit]
        }
    }

    fn approval_action(&mut self, step: &StepRef, action: Action) -> Vec<Command> {
        let decision = match action {
            Action::Approve => Decision::Approved,
            Action::Decline => Decision::Declined,
            Action::Cancel => {
                self.deferred.insert(step.clone());
                self.overlay = None;
                self.message =
                    Some("approval still waiting: select the service and press Enter".into());
                return Vec::new();
            }
            Action::Quit => return self.quit(),
            _ => return Vec::new(),
        };
        self.answered.insert(step.clone());
        self.overlay = None;
        vec![Command::input(Input::Approval {
            step: step.clone(),
            decision,
        })]
    }

    fn manual_action(&mut self, step: &StepRef, action: Action) -> Vec<Command> {
        match action {
            Action::ManualDone => self.answer_manual(step, true),
            Action::ManualFailed => self.answer_manual(step, false),
            Action::Cancel => {
                self.deferred.insert(step.clone());
                self.overlay = None;
                Vec::new()
            }
            Action::Quit => self.quit(),
            _ => Vec::new(),
        }
    }

    fn answer_manual(&mut self, step: &StepRef, done: bool) -> Vec<Command> {
        self.answered.insert(step.clone());
        if matches!(self.overlay, Some(Overlay::Manual(_))) {
            self.overlay = None;
        }
        let outcome = if done {
            ManualOutcome::Done
        } else {
            ManualOutcome::Failed
        };
        vec![Command::input(Input::Manual {
            step: step.clone(),
            outcome,
        })]
    }

    fn open_input(&mut self, purpose: InputPurpose) {
        let text = if purpose == InputPurpose::Filter {
            self.filter.clone()
        } else {
            String::new()
        };
        self.overlay = Some(Overlay::Input(TextInput {
            purpose,
            text,
            error: None,
        }));
    }

    fn input_action(&mut self, mut input: TextInput, action: Action) -> Vec<Command> {
        match action {
            Action::Type(c) => {
                input.text.push(c);
                input.error = None;
            }
            Action::Backspace => {
                input.text.pop();
            }
            Action::Cancel => {
                if input.purpose == InputPurpose::Filter {
                    self.filter.clear();
                    self.rebuild_rows();
                }
                self.overlay = None;
                return Vec::new();
            }
            Action::Quit => return self.quit(),
            Action::Submit => return self.submit(input),
            _ => {}
        }
        if input.purpose == InputPurpose::Filter {
            // Live: the list narrows as the operator types.
            self.filter.clone_from(&input.text);
            self.rebuild_rows();
        }
        self.overlay = Some(Overlay::Input(input));
        Vec::new()
    }

    fn submit(&mut self, mut input: TextInput) -> Vec<Command> {
        let text = input.text.trim().to_string();
        match input.purpose.clone() {
            InputPurpose::Filter => {
                self.overlay = None;
                Vec::new()
            }
            _ if text.is_empty() => {
                input.error = Some(match input.purpose {
                    InputPurpose::Skip(_) => "a reason is required to skip".into(),
                    _ => "the note is empty".into(),
                });
                self.overlay = Some(Overlay::Input(input));
                Vec::new()
            }
            InputPurpose::Skip(service) => {
                self.overlay = None;
                vec![Command::input(Input::Skip {
                    service,
                    reason: text,
                })]
            }
            InputPurpose::Note => {
                self.overlay = None;
                vec![Command::Request(Request::Note(self.runbook.redact(&text)))]
            }
        }
    }

    fn host_key_action(&mut self, action: Action) -> Vec<Command> {
        let accept = match action {
            Action::AcceptHostKey => true,
            Action::RefuseHostKey | Action::Cancel => false,
            Action::Quit => return self.quit(),
            _ => return Vec::new(),
        };
        self.overlay = None;
        let Some(p) = self.host_keys.pop_front() else {
            return Vec::new();
        };
        vec![Command::Request(if accept {
            Request::AcceptHostKey {
                host: p.host,
                fingerprint: p.fingerprint,
            }
        } else {
            self.message = Some(format!(
                "host key of '{}' refused: nothing runs there; press c on a service to try again",
                p.host
            ));
            Request::RefuseHostKey { host: p.host }
        })]
    }

    /// Open the next question that needs an operator, unless a dialog is already up; close an
    /// approval or manual dialog the engine no longer waits on.
    fn surface_prompts(&mut self) {
        if let Some(Overlay::Approval(step) | Overlay::Manual(step)) = &self.overlay {
            let still = self
                .services
                .values()
                .filter_map(waiting_step)
                .any(|s| s == step);
            if still && !self.answered.contains(step) {
                return;
            }
            self.overlay = None;
        }
        if self.overlay.is_some() {
            return;
        }
        if !self.host_keys.is_empty() {
            self.overlay = Some(Overlay::HostKey);
            return;
        }
        let next = self
            .services
            .values()
            .filter_map(|v| v.waiting.as_ref())
            .find(|w| {
                let s = waiting_ref(w);
                !self.deferred.contains(s) && !self.answered.contains(s)
            });
        self.overlay = next.map(|w| match w {
            Waiting::Approval { step, .. } => Overlay::Approval(step.clone()),
            Waiting::Manual { step, .. } => Overlay::Manual(step.clone()),
        });
    }

    fn selected_waiting(&self) -> Option<&Waiting> {
        let s = self.selected_service()?;
        self.services.get(&s.id)?.waiting.as_ref()
    }

    // ---- navigation ---------------------------------------------------------------------

    fn rebuild_rows(&mut self) {
        let q = self.filter.to_lowercase();
        let mut order: Vec<usize> = (0..self.runbook.services.len())
            .filter(|&i| q.is_empty() || self.matches(i, &q))
            .collect();
        order.sort_by_key(|&i| self.runbook.services[i].tier);
        self.rows.clear();
        let mut tier = None;
        for i in order {
            let t = self.runbook.services[i].tier;
            if tier != Some(t) {
                self.rows.push(Row::Tier(t));
                tier = Some(t);
            }
            self.rows.push(Row::Service(i));
        }
        let still = self
            .selected
            .is_some_and(|s| self.rows.contains(&Row::Service(s)));
        if !still {
            let first = self.rows.iter().find_map(|r| match r {
                Row::Service(i) => Some(*i),
                Row::Tier(_) => None,
            });
            self.select(first);
        }
    }

    fn matches(&self, i: usize, q: &str) -> bool {
        let s = &self.runbook.services[i];
        let state = self
            .services
            .get(&s.id)
            .map(|v| v.state.as_str())
            .unwrap_or_default();
        s.id.as_str().to_lowercase().contains(q)
            || s.name.to_lowercase().contains(q)
            || state.contains(q)
    }

    fn select(&mut self, service: Option<usize>) {
        if self.selected != service {
            self.selected = service;
            self.step_sel = self.telling_row();
            self.output_scroll = Scroll::default();
        }
        self.keep_selection_visible();
    }

    /// The step row to land on when a service is selected: for a service that is not up, the
    /// last host result that went wrong (its output says why); otherwise the first row.
    fn telling_row(&self) -> usize {
        let Some(view) = self
            .selected_service()
            .and_then(|s| self.services.get(&s.id))
        else {
            return 0;
        };
        if !matches!(
            view.state,
            ServiceState::Down | ServiceState::Partial | ServiceState::Failed
        ) {
            return 0;
        }
        self.step_rows()
            .iter()
            .rposition(|row| match row {
                StepRow::Host(step, host) => matches!(
                    view.steps.get(step).and_then(|h| h.get(host)),
                    Some(HostStatus::Finished { outcome, .. }) if *outcome != StepOutcome::Ok
                ),
                StepRow::Step(_) => false,
            })
            .unwrap_or(0)
    }

    fn keep_selection_visible(&mut self) {
        let Some(pos) = self
            .selected
            .and_then(|s| self.rows.iter().position(|r| *r == Row::Service(s)))
        else {
            self.services_top = 0;
            return;
        };
        if self.hits.services.height == 0 {
            // Not drawn yet: the view keeps the selection in sight from the top.
            return;
        }
        let height = usize::from(self.hits.services.height);
        if pos < self.services_top {
            // Show the tier heading above the first service of a tier.
            self.services_top = if pos > 0 && matches!(self.rows[pos - 1], Row::Tier(_)) {
                pos - 1
            } else {
                pos
            };
        } else if pos >= self.services_top + height {
            self.services_top = pos + 1 - height;
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.focus {
            Focus::Services => {
                let services: Vec<usize> = self
                    .rows
                    .iter()
                    .filter_map(|r| match r {
                        Row::Service(i) => Some(*i),
                        Row::Tier(_) => None,
                    })
                    .collect();
                if services.is_empty() {
                    return;
                }
                let cur = self
                    .selected
                    .and_then(|s| services.iter().position(|&i| i == s))
                    .unwrap_or(0);
                let next = cur.saturating_add_signed(delta).min(services.len() - 1);
                self.select(Some(services[next]));
            }
            Focus::Steps => {
                let n = self.step_rows().len();
                let next = self
                    .step_sel
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
                if next != self.step_sel {
                    self.step_sel = next;
                    self.output_scroll = Scroll::default();
                }
            }
            Focus::Bottom => {
                let (len, h) = (self.bottom_len(), self.page());
                self.scroll_mut().by(delta, len, h);
            }
        }
    }

    fn clamp_step_sel(&mut self) {
        let n = self.step_rows().len();
        self.step_sel = self.step_sel.min(n.saturating_sub(1));
    }

    fn page(&self) -> usize {
        usize::from(self.hits.bottom.height).max(1)
    }

    /// Lines in what the bottom pane shows now.
    pub fn bottom_len(&self) -> usize {
        match self.bottom {
            BottomMode::Timeline => self.timeline.len(),
            BottomMode::Output => self
                .output_target()
                .and_then(|(s, h)| {
                    self.output
                        .get(&s, &h)
                        .map(super::output::OutputBuffer::len)
                })
                .unwrap_or(0),
        }
    }

    fn scroll_mut(&mut self) -> &mut Scroll {
        match self.bottom {
            BottomMode::Output => &mut self.output_scroll,
            BottomMode::Timeline => &mut self.timeline_scroll,
        }
    }

    fn scroll_page(&mut self, down: bool) {
        let (len, h) = (self.bottom_len(), self.page());
        let delta = isize::try_from(h).unwrap_or(isize::MAX);
        self.scroll_mut()
            .by(if down { delta } else { -delta }, len, h);
    }

    fn click(&mut self, column: u16, row: u16) {
        let p = Position::new(column, row);
        let hits = self.hits;
        if hits.services.contains(p) {
            self.focus = Focus::Services;
            let i = hits.services_top + usize::from(row - hits.services.y);
            if let Some(Row::Service(s)) = self.rows.get(i) {
                self.select(Some(*s));
            }
        } else if hits.steps.contains(p) {
            self.focus = Focus::Steps;
            let i = hits.steps_top + usize::from(row - hits.steps.y);
            if i < self.step_rows().len() && i != self.step_sel {
                self.step_sel = i;
                self.output_scroll = Scroll::default();
            }
        } else if hits.bottom.contains(p) {
            self.focus = Focus::Bottom;
        }
    }

    fn wheel(&mut self, column: u16, row: u16, down: bool) {
        let p = Position::new(column, row);
        let hits = self.hits;
        let focus = if hits.services.contains(p) {
            Focus::Services
        } else if hits.steps.contains(p) {
            Focus::Steps
        } else if hits.bottom.contains(p) {
            Focus::Bottom
        } else {
            return;
        };
        let saved = std::mem::replace(&mut self.focus, focus);
        let step = if focus == Focus::Bottom { 3 } else { 1 };
        self.move_by(if down { step } else { -step });
        self.focus = saved;
    }
}

fn waiting_ref(w: &Waiting) -> &StepRef {
    match w {
        Waiting::Approval { step, .. } | Waiting::Manual { step, .. } => step,
    }
}

fn waiting_step(v: &ServiceView) -> Option<&StepRef> {
    v.waiting.as_ref().map(waiting_ref)
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
