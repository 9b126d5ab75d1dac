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
use crate::fold::{Auto, Failure, RunFold};
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

/// A screen on a shared run that another process executes (`bringup attach`): where the run
/// lives and how this screen is linked to it. Shown in the header and the hint line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The run's `etcd://` URL (or its journal file).
    pub url: String,
    pub link: Link,
    pub seat: Seat,
}

/// What an attached screen may do: act as an operator (its requests go to the executor), or
/// only watch (`bringup attach --read-only`: it sends nothing, not even a take-over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seat {
    #[default]
    Operator,
    ReadOnly,
}

/// How an attached screen reaches the run it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Attached; the run's `executor` key names who executes it.
    Executing { holder: String },
    /// No process executes the run: its executor's lease ended (it died or lost etcd).
    NoExecutor,
    /// The run has ended (`run_finished`, with its outcome): nothing executes it any more.
    Ended { outcome: String },
    /// etcd does not answer; the screen shows the run as last seen and keeps trying.
    Unreachable { why: String },
}

/// What a read-only screen says to a key that would act on the run.
pub(crate) const READ_ONLY: &str =
    "read-only: this screen sends nothing (attach without --read-only to act on the run)";

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
    /// Why a manual step could not be done (`f`).
    FailReason(StepRef),
    Note,
    Filter,
    /// The `:` command palette.
    Palette,
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
    /// A question before something that changes a host or fails a service.
    Ask(Box<Ask>),
}

/// How the timeline's lines meet the pane's edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFit {
    /// Cut at the pane's edge.
    Cut,
    /// Wrapped to the pane's width.
    Wrap,
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

/// How the service list shows tiers: a heading row above each, or folded into the rows
/// (the tier's number beside its first service) when the list would not fit otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tiers {
    #[default]
    Headings,
    Folded,
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
    /// Hosts of the step that stand alike and printed the same, folded into one row (`g`).
    Group(StepRef, Vec<HostId>),
}

impl StepRow {
    pub fn step(&self) -> &StepRef {
        match self {
            Self::Step(s) | Self::Host(s, _) | Self::Group(s, _) => s,
        }
    }

    /// The row stands for this host of this step.
    pub fn shows(&self, step: &StepRef, host: &HostId) -> bool {
        match self {
            Self::Host(s, h) => s == step && h == host,
            Self::Group(s, hosts) => s == step && hosts.contains(host),
            Self::Step(_) => false,
        }
    }

    /// The host whose status and output the row shows: its own, or its group's first.
    pub fn host(&self) -> Option<&HostId> {
        match self {
            Self::Host(_, h) => Some(h),
            Self::Group(_, hosts) => hosts.first(),
            Self::Step(_) => None,
        }
    }
}

/// Where the panes were on the last frame (content areas, inside borders) and their first
/// visible rows: what the mouse and page keys are measured against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hits {
    /// Whether the service list showed its tier headings as rows of their own.
    pub tiers: Tiers,
    pub services: Rect,
    pub steps: Rect,
    pub bottom: Rect,
    pub services_top: usize,
    pub steps_top: usize,
    /// How far the help overlay scrolls, and its rows per page (0 when it all shows).
    pub help_max: usize,
    pub help_page: usize,
}

pub struct App {
    pub(crate) runbook: Arc<Runbook>,
    pub(crate) info: RunInfo,
    pub(crate) services: IndexMap<ServiceId, ServiceView>,
    /// Time since the run started (the driver's clock, or the run's as published).
    pub(crate) elapsed: Duration,
    /// The run's picture, folded from the events the driver journaled (or the run's event
    /// lines on an attached screen): outages, auto mode, a drill's phase. The App keeps no
    /// time of its own for anything the journal records.
    pub(crate) fold: RunFold,
    pub(crate) focus: Focus,
    pub(crate) bottom: BottomMode,
    pub(crate) rows: Vec<Row>,
    pub(crate) selected: Option<usize>,
    pub(crate) services_top: usize,
    pub(crate) step_sel: usize,
    /// The operator chose a row in the steps pane; until then (and again after selecting
    /// another service) the steps and output panes follow the step that runs or last ran.
    pub(crate) steps_shown: StepsShown,
    /// Whether hosts that stand alike and printed the same share a row (`g` toggles).
    pub(crate) hosts_shown: HostsShown,
    /// Per service, the step and host that started last (from the journal).
    pub(crate) last_ran: HashMap<ServiceId, (StepRef, HostId)>,
    pub(crate) filter: String,
    pub(crate) overlay: Option<Overlay>,
    deferred: HashSet<StepRef>,
    answered: HashSet<StepRef>,
    pub(crate) host_keys: VecDeque<HostKeyPrompt>,
    /// What the operator typed in the host-key dialog (accepting by typing `yes`).
    pub(crate) host_key_typed: String,
    /// The host-key question was put off with `Esc`: it waits until `Enter` brings it back.
    host_key_later: bool,
    pub(crate) output: OutputStore,
    pub(crate) output_scroll: Scroll,
    pub(crate) timeline: Timeline,
    pub(crate) timeline_scroll: Scroll,
    /// Whether timeline lines wrap to the pane or are cut at its edge (`w`).
    pub(crate) timeline_lines: LineFit,
    pub(crate) hits: Hits,
    pub(crate) message: Option<String>,
    /// Who marked each manual step, by (service, step name), from the journal.
    pub(crate) manual_by: HashMap<(ServiceId, String), String>,
    /// The run's secrets, masked in the output shown: built once, not per chunk.
    masker: crate::journal::mask::Masker,
    /// Whether the App still picks the service to show once the opening sweep ends.
    pub(super) landing: Landing,
    /// Set on a screen attached to a shared run (`bringup attach`).
    pub(crate) attached: Option<Attachment>,
    /// The failure the selection was last brought to: the seq of its service's move into
    /// `failed` (the failure itself is the run's fold's, `RunFold::stopped_on`).
    failure_landed: Option<u64>,
    /// Where the help overlay is scrolled to (its first line shown).
    pub(crate) help_top: usize,
    /// The palette's highlighted choice.
    pub(crate) palette_pick: usize,
}

/// Which row the steps pane shows: the one the operator chose, or the step that runs or
/// last ran on the selected service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepsShown {
    Following,
    Chosen,
}

/// Whether the steps pane folds hosts that stand alike and printed the same into one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostsShown {
    Folded,
    Each,
}

/// The App picks the first service that is not up when the opening sweep ends, unless the
/// operator chose one first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Landing {
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
        let masker = crate::journal::mask::Masker::new(&runbook.secret_values());
        let mut app = Self {
            runbook,
            info,
            services,
            elapsed: Duration::ZERO,
            fold: RunFold::default(),
            focus: Focus::Services,
            bottom: BottomMode::Output,
            rows: Vec::new(),
            selected: None,
            services_top: 0,
            step_sel: 0,
            steps_shown: StepsShown::Following,
            hosts_shown: HostsShown::Folded,
            last_ran: HashMap::new(),
            filter: String::new(),
            overlay: None,
            landing: Landing::Pending,
            deferred: HashSet::new(),
            answered: HashSet::new(),
            host_keys: VecDeque::new(),
            host_key_typed: String::new(),
            host_key_later: false,
            output,
            output_scroll: Scroll::default(),
            timeline: Timeline::default(),
            timeline_scroll: Scroll::default(),
            timeline_lines: LineFit::Cut,
            hits: Hits::default(),
            message: None,
            manual_by: HashMap::new(),
            masker,
            attached: None,
            failure_landed: None,
            help_top: 0,
            palette_pick: 0,
        };
        app.rebuild_rows();
        app
    }

    // ---- feeding state in -------------------------------------------------------------

    /// Take the engine's current views (call after each `Engine::handle`).
    pub fn sync_services(&mut self, views: &IndexMap<ServiceId, ServiceView>) {
        for (id, view) in views {
            self.services.insert(id.clone(), view.clone());
        }
        let waiting: HashSet<&StepRef> = self.services.values().filter_map(waiting_step).collect();
        self.answered.retain(|s| waiting.contains(s));
        self.deferred.retain(|s| waiting.contains(s));
        if !self.filter.is_empty() {
            self.rebuild_rows();
        }
        self.clamp_step_sel();
        // Close questions no longer asked before landing: landing waits for closed dialogs.
        self.surface_prompts();
        self.land_on_first_down();
        self.surface_prompts();
        self.land_on_failure();
    }

    /// When the run stops on a failure (nothing runs, nothing asks), select the service that
    /// failed last, once per failure: its step, exit code and output are what the operator
    /// reads next. Never while a dialog or a text field is open.
    fn land_on_failure(&mut self) {
        let Some(stopped) = self.fold.stopped_on() else {
            return;
        };
        if self.failure_landed == Some(stopped.failed_seq)
            || self.overlay.is_some()
            || self.busy()
            || self.services.values().any(|v| v.waiting.is_some())
        {
            return;
        }
        self.failure_landed = Some(stopped.failed_seq);
        let id = stopped.failure.service.clone();
        self.landing = Landing::Done;
        self.select_service(&id);
    }

    /// The failure the run stopped on, as the run's fold tells it (`RunFold::stopped_on`):
    /// the latest one whose service is still failed, else any failed service's.
    pub fn stopped_on(&self) -> Option<&Failure> {
        self.fold.stopped_on().map(|s| &s.failure)
    }

    /// The last line a failed step printed on the host it failed on (blank lines and the
    /// screen's own attempt headings passed over).
    pub fn last_said(&self, failure: &Failure) -> Option<&str> {
        let step = StepRef::named(
            &self.runbook,
            &failure.service,
            failure.phase,
            &failure.step,
        )?;
        self.output.get(&step, failure.host.as_ref()?)?.last_said()
    }

    /// How many times a step started on a host in this run (at least its journaled attempt).
    pub fn attempt_of(&self, step: &StepRef, host: &HostId, attempt: u32) -> u32 {
        let started = step.step(&self.runbook).map_or(0, |s| {
            self.fold
                .starts_of(&step.service, step.phase, &s.name, host)
        });
        started.max(attempt)
    }

    /// Once the opening sweep has found every state, select the first service that is not up
    /// (its failed check is what the operator needs to read first), unless they already chose.
    fn land_on_first_down(&mut self) {
        // Never while a dialog or text field is open: the operator is looking at it.
        if self.landing == Landing::Done || self.overlay.is_some() {
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

    /// The run's time now: its start (from the journal) plus the clock's elapsed time.
    pub fn now(&self) -> Option<DateTime<Utc>> {
        let started = self.fold.started?;
        let elapsed = chrono::TimeDelta::from_std(self.elapsed).unwrap_or_default();
        Some(started + elapsed)
    }

    /// The time shown against a service's RTO: its latest outage's length (to now while it
    /// lasts), as the run's fold measures it. `None` before the journal said when it began.
    pub fn outage_time(&self, id: &ServiceId) -> Option<Duration> {
        let ms = self.fold.time_against_rto_ms(id, self.now()?);
        Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
    }

    /// The run's picture as the journal tells it.
    pub fn fold(&self) -> &RunFold {
        &self.fold
    }

    /// A journal event was written: fold it into the run's picture and add it to the
    /// timeline (its seq is the next one; see [`App::on_entry`]).
    pub fn on_journal(&mut self, ts: DateTime<Utc>, event: &Event) {
        self.on_entry(self.fold.last_seq + 1, ts, event);
    }

    /// A journal event with its seq: fold it into the run's picture, add it to the timeline.
    pub fn on_entry(&mut self, seq: u64, ts: DateTime<Utc>, event: &Event) {
        self.fold.push_event(seq, ts, event);
        self.timeline_event(ts, event);
    }

    fn timeline_event(&mut self, ts: DateTime<Utc>, event: &Event) {
        if let Event::StepStarted {
            service,
            phase,
            step,
            host,
            ..
        } = event
            && let Some(step) = StepRef::named(&self.runbook, service, *phase, step)
        {
            // The fold counted this start already (on_entry feeds it first).
            let n = self.attempt_of(&step, host, 1);
            // A new attempt's output starts under a heading of its own, not after the last
            // line of the one before as if it were the same run.
            self.output.separate(
                &step,
                host,
                &format!("── attempt {n} · {} ──", ts.format("%H:%M:%S")),
            );
            self.last_ran.insert(service.clone(), (step, host.clone()));
        }
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
        if self.masker.is_empty() {
            self.output.push(step, host, text);
        } else {
            let masked = self.masker.mask_str(text);
            self.output.push(step, host, &masked);
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

    /// This screen shows a shared run another process executes, linked as `attachment` says.
    /// What the screen is attached to. Once no process executes the run (or it ended), the
    /// dead executor's questions close: nobody is there to act on an answer, and `T` must
    /// work at once.
    pub fn set_attachment(&mut self, attachment: Attachment) {
        self.attached = Some(attachment);
        if self.executor_gone() {
            self.close_orphaned_dialogs();
        }
    }

    /// An attached screen whose run no process executes now: its questions are nobody's.
    pub(crate) fn executor_gone(&self) -> bool {
        matches!(
            self.attached.as_ref().map(|a| &a.link),
            Some(Link::NoExecutor | Link::Ended { .. })
        )
    }

    /// A screen that only watches (`attach --read-only`): no question opens, no key sends.
    pub(crate) fn read_only(&self) -> bool {
        self.attached
            .as_ref()
            .is_some_and(|a| a.seat == Seat::ReadOnly)
    }

    pub fn attachment(&self) -> Option<&Attachment> {
        self.attached.as_ref()
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
        self.help_top = self.help_top.min(hits.help_max);
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
        self.fold.auto == Auto::On
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

    /// Whether the timeline's lines wrap (`w`) rather than being cut at the pane's edge.
    pub fn timeline_wraps(&self) -> bool {
        self.timeline_lines == LineFit::Wrap
    }

    /// Whether a timeline line on screen is longer than the pane is wide (so `w` would show
    /// more of it).
    fn timeline_cut(&self) -> bool {
        let width = usize::from(self.hits.bottom.width.saturating_sub(2));
        let height = usize::from(self.hits.bottom.height).max(1);
        let top = self.timeline_scroll.top_for(self.timeline.len(), height);
        self.timeline.lines(top, height).any(|l| {
            l.time.chars().count() + l.who.chars().count() + l.what.chars().count() + 6 > width
        })
    }

    pub fn timeline_scroll(&self) -> Scroll {
        self.timeline_scroll
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The service list's rows as drawn: with tier headings, or without them when folded.
    pub fn list_rows(&self, tiers: Tiers) -> Vec<Row> {
        match tiers {
            Tiers::Headings => self.rows.clone(),
            Tiers::Folded => self
                .rows
                .iter()
                .filter(|r| matches!(r, Row::Service(_)))
                .copied()
                .collect(),
        }
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
            Some(Overlay::Ask(_)) => Context::Ask,
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
            self.host_rows(&mut rows, &step_ref, &step.hosts);
        }
        rows
    }

    /// The steps pane's row in view: the operator's choice; else, on a failed service, the
    /// step it failed at (the host it failed on); else the host row of the step that runs or
    /// last ran on the selected service.
    pub fn selected_step_row(&self) -> usize {
        if self.steps_shown == StepsShown::Chosen {
            return self.step_sel;
        }
        if let Some(at) = self.failure_row() {
            return at;
        }
        let last = self
            .selected_service()
            .and_then(|s| self.last_ran.get(&s.id));
        let Some((step, host)) = last else {
            return self.step_sel;
        };
        self.step_rows()
            .iter()
            .position(|r| r.shows(step, host))
            .unwrap_or(self.step_sel)
    }

    /// The steps pane's row of the failure the selected service stopped on, while it is
    /// failed (the run's fold says which): the row of the host it failed on, else the step's
    /// first host row (a declined or manual step ran on none), else the step's own.
    fn failure_row(&self) -> Option<usize> {
        let f = self.fold.failure(&self.selected_service()?.id)?;
        let step = StepRef::named(&self.runbook, &f.service, f.phase, &f.step)?;
        let rows = self.step_rows();
        if let Some(at) = f
            .host
            .as_ref()
            .and_then(|h| rows.iter().position(|r| r.shows(&step, h)))
        {
            return Some(at);
        }
        let at = rows
            .iter()
            .position(|r| matches!(r, StepRow::Step(s) if *s == step))?;
        let first_host = rows.get(at + 1).is_some_and(|r| {
            r.host().is_some()
                && matches!(r, StepRow::Host(s, _) | StepRow::Group(s, _) if *s == step)
        });
        Some(if first_host { at + 1 } else { at })
    }

    /// Whose output the bottom pane shows: the selected host row, or a step's first host.
    pub fn output_target(&self) -> Option<(StepRef, HostId)> {
        let rows = self.step_rows();
        match rows.get(self.selected_step_row())? {
            StepRow::Host(s, h) => Some((s.clone(), h.clone())),
            StepRow::Group(s, hosts) => Some((s.clone(), hosts.first()?.clone())),
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
                    || self
                        .selected_service()
                        .is_some_and(|s| self.paused_manual(&s.id).is_some())
            }
            Action::Wrap => {
                self.bottom == BottomMode::Timeline
                    && (self.timeline_wraps() || self.timeline_cut())
            }
            Action::Inject => self.info.mode == Mode::Drill && self.selected.is_some(),
            Action::Undo => self
                .selected_service()
                .is_some_and(|s| !self.undo_preview(&s.id).is_empty()),
            Action::Check | Action::Restore | Action::Skip | Action::RunNext => {
                self.selected.is_some()
            }
            Action::Cancel => self.overlay.is_some() || !self.filter.is_empty(),
            Action::Up | Action::Down if self.context() == Context::Help => self.hits.help_max > 0,
            // In a text field, arrows choose among the palette's lines, Tab completes one or
            // starts a note with `cause: `; elsewhere in it they do nothing.
            Action::Up | Action::Down | Action::Complete
                if self.context() == Context::TextInput =>
            {
                matches!(
                    &self.overlay,
                    Some(Overlay::Input(i)) if i.purpose == InputPurpose::Palette
                        || (action == Action::Complete && i.purpose == InputPurpose::Note)
                )
            }
            Action::Follow | Action::PageUp | Action::PageDown | Action::Home | Action::End => {
                self.focus == Focus::Bottom
                    || (self.overlay == Some(Overlay::Help) && self.hits.help_max > 0)
            }
            _ => true,
        }
    }

    // ---- actions ------------------------------------------------------------------------

    /// Apply one action; return what the driver must do.
    pub fn on_action(&mut self, action: Action) -> Vec<Command> {
        self.message = None;
        if self.read_only() && action.acts_on_the_run() {
            self.notify(READ_ONLY);
            return Vec::new();
        }
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
                let page = self.hits.help_page.max(1);
                let max = self.hits.help_max;
                match action {
                    Action::Cancel | Action::Help => self.overlay = None,
                    Action::Quit => return self.quit(),
                    Action::Down => self.help_top = (self.help_top + 1).min(max),
                    Action::Up => self.help_top = self.help_top.saturating_sub(1),
                    Action::PageDown => self.help_top = (self.help_top + page).min(max),
                    Action::PageUp => self.help_top = self.help_top.saturating_sub(page),
                    Action::Home => self.help_top = 0,
                    Action::End => self.help_top = max,
                    _ => {}
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
            Some(Overlay::Ask(ask)) => self.ask_action(*ask, action),
        };
        self.surface_prompts();
        out
    }

    pub(super) fn main_action(&mut self, action: Action) -> Vec<Command> {
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
            Action::Follow => self.toggle_follow(),
            Action::Timeline => {
                self.bottom = match self.bottom {
                    BottomMode::Output => BottomMode::Timeline,
                    BottomMode::Timeline => BottomMode::Output,
                };
            }
            Action::Wrap => {
                if self.bottom == BottomMode::Timeline {
                    self.timeline_lines = match self.timeline_lines {
                        LineFit::Cut => LineFit::Wrap,
                        LineFit::Wrap => LineFit::Cut,
                    };
                } else {
                    self.message = Some("w wraps the timeline's lines: press t to show it".into());
                }
            }
            Action::Help => {
                self.help_top = 0;
                self.overlay = Some(Overlay::Help);
            }
            Action::Fold => self.toggle_fold(),
            Action::Filter => self.open_input(InputPurpose::Filter),
            Action::Palette => {
                self.palette_pick = 0;
                self.open_input(InputPurpose::Palette);
            }
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
            Action::TakeOver => return self.take_over(),
            Action::ToggleAuto
            | Action::Check
            | Action::Restore
            | Action::Inject
            | Action::Undo
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
            | Action::Complete
            | Action::Backspace => {}
        }
        Vec::new()
    }

    /// `f`: follow the bottom pane's end, or hold it where it is.
    fn toggle_follow(&mut self) {
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
                // The run's mode, as journaled: the driver records the change and the fold
                // shows it on every screen.
                let on = self.fold.auto == Auto::Off;
                return vec![Command::input(Input::SetAuto(on))];
            }
            Action::Check => {
                if let Some(id) = need(self) {
                    return vec![Command::input(Input::Check(id))];
                }
            }
            Action::Restore => {
                if let Some(id) = need(self) {
                    let state = self.services.get(&id).map(|v| v.state).unwrap_or_default();
                    if state.is_up() {
                        self.ask_restore_up(&id, state);
                        return Vec::new();
                    }
                    // Pressed by an operator on the service by name: the journal records it
                    // as by hand.
                    self.message = Some(format!("restore of '{id}' started by hand"));
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
                    // Always asks, showing the commands per host: `i` sits beside `j`/`k`.
                    self.ask_inject(&id);
                }
            }
            Action::Undo => {
                if let Some(id) = need(self) {
                    // Always asks, showing the undo commands per host.
                    self.ask_undo(&id);
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
                } else if !self.host_keys.is_empty() {
                    self.host_key_later = false;
                    self.overlay = Some(Overlay::HostKey);
                } else if let Some(id) = need(self) {
                    return vec![Command::input(Input::NextStep(id))];
                }
            }
            Action::ManualDone | Action::ManualFailed => {
                if let Some(Waiting::Manual { step, .. }) = self.selected_waiting().cloned() {
                    if action == Action::ManualFailed {
                        self.open_input(InputPurpose::FailReason(step));
                        return Vec::new();
                    }
                    return self.answer_manual(&step, true);
                }
                // Auto off, a service paused before a manual step shows it pending: take the
                // answer at once (the step is reached and answered in one go).
                if let Some(step) = self
                    .selected_service()
                    .and_then(|svc| self.paused_manual(&svc.id))
                {
                    if action == Action::ManualFailed {
                        self.open_input(InputPurpose::FailReason(step));
                        return Vec::new();
                    }
                    return self.answer_manual(&step, true);
                }
                self.message = Some("no manual step is waiting on this service".into());
            }
            _ => {}
        }
        Vec::new()
    }

    /// `T`: on an attached screen whose run no process executes, leave it to continue the
    /// run here; otherwise say why there is nothing to take over.
    fn take_over(&mut self) -> Vec<Command> {
        let why = match self.attached.as_ref().map(|a| &a.link) {
            Some(Link::NoExecutor) => return vec![Command::TakeOver],
            Some(Link::Executing { holder }) => format!(
                "{holder} executes this run; it can be taken over once that process is gone (its lease ends 10 s after)"
            ),
            Some(Link::Ended { outcome }) => {
                format!("the run has ended ({outcome}); there is nothing to take over")
            }
            Some(Link::Unreachable { .. }) => {
                "etcd does not answer; who executes the run is not known, so it cannot be taken over now".into()
            }
            None => "this screen executes the run itself".into(),
        };
        self.notify(why);
        Vec::new()
    }

    /// The driver withdrew its question about `step` (answered elsewhere, or moot): its
    /// dialog, or a "decline …?" about it, closes.
    pub fn withdraw(&mut self, step: &StepRef) {
        self.deferred.remove(step);
        let open = match &self.overlay {
            Some(Overlay::Approval(s) | Overlay::Manual(s)) => s == step,
            Some(Overlay::Ask(ask)) => ask.defers.as_ref() == Some(step),
            _ => false,
        };
        if open {
            if !self.answered.contains(step) {
                self.message = Some(format!(
                    "'{}' is no longer asked (answered elsewhere)",
                    step.name(&self.runbook)
                ));
            }
            // The next question opens at the next sync, from views that no longer ask this.
            self.overlay = None;
        }
    }

    fn quit(&mut self) -> Vec<Command> {
        if self.busy() {
            self.overlay = Some(Overlay::QuitConfirm);
            Vec::new()
        } else {
            vec![Command::Quit]
        }
    }

    /// The manual step a service is paused before (auto off): shown next, not asked yet, and
    /// nothing of it started.
    /// The step a service in the middle of a restore is at while nothing runs: its next step,
    /// nothing asked and no host started on it yet. `None` while something runs or asks.
    pub(crate) fn paused_at(&self, id: &ServiceId) -> Option<StepRef> {
        let view = self.services.get(id)?;
        if view.waiting.is_some() {
            return None;
        }
        let step = view.current.as_ref()?;
        let untouched = view
            .steps
            .get(step)
            .is_none_or(|hosts| hosts.values().all(|h| *h == HostStatus::Pending));
        untouched.then(|| step.clone())
    }

    /// [`App::paused_at`] a manual step: the operator, not a host, is what it waits for.
    pub(crate) fn paused_manual(&self, id: &ServiceId) -> Option<StepRef> {
        self.paused_at(id).filter(|step| {
            step.step(&self.runbook)
                .is_some_and(|st| matches!(st.action, crate::runbook::model::StepAction::Manual(_)))
        })
    }

    fn selected_waiting(&self) -> Option<&Waiting> {
        let s = self.selected_service()?;
        self.services.get(&s.id)?.waiting.as_ref()
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

mod ask;
pub(crate) mod dialogs;
mod folding;
mod navigation;
mod undo;

pub use ask::Ask;

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
