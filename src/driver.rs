//! The run driver: carries out the engine's effects (journal, executor, timers) and feeds the
//! results back. Shared by `bringup run` and the TUI; it decides nothing about ordering.
//!
//! Every fact is journaled before bringup acts on it: `step_started` is on disk before the
//! command is sent, `approval` before the approved step runs, and whatever a call recorded
//! (a `step_finished` included) before that call's commands are sent or its notices shown.
//! Events are group-committed: each public call appends what it records and ends with one
//! fsync ([`Driver::settle`]), so a wave of 200 hosts costs one flush, not 200. Output that
//! nothing acts on rides along, or is flushed on its own at most every 200 ms.
//!
//! This is the one owner of run semantics that front ends share. A front end (`run`, the TUI,
//! an operator attached to a shared run) needs only: [`Driver::input`] / [`Driver::input_by`]
//! for whatever an operator asks ([`Request`]), [`Inbox::next`] + [`Driver::on_messages`] for
//! reports in batches, [`Driver::stop_and_wait`] to stop, [`Signals`] for the signals that end
//! a run, and [`Driver::end`] for `run_finished` and the exit code.

mod checks;
mod drill;
mod live;
mod orphans;
mod outbox;
mod remote;
mod requests;
mod shared;
mod signals;
mod witness;

pub use drill::{GuardReport, exact_ms};
pub use live::LiveView;
pub use orphans::Orphan;
pub use outbox::{NOTIFY_GRACE, NOTIFY_SILENT, RUN_ENDED};
pub use remote::Ask;
pub use signals::{Signal, Signals};
pub use witness::{WITNESS_GRACE, WITNESS_SILENT};

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::{
    AttemptId, Effect, Engine, Input, Launch, ResumeFacts, ServiceState, StepOutcome, StepRef,
    classify_exit,
};
use crate::exec::{Executor, Refusal, StepResult};
use crate::journal::event::{OperatorActionKind, Provenance, QuestionKind};
use crate::journal::{Event, JournalError, JournalWriter};
use crate::outcome::{Exit, RunOutcome};
use crate::runbook::model::{HostId, Runbook, ServiceId};

/// How many reports may wait for the driver, from all running steps together, before their
/// transports wait. A chunk is up to 64 KiB (`exec::lines::CHUNK_BYTES`), so this bounds the
/// output in flight for the whole run, whatever the number of hosts: 1,024 × 64 KiB.
const OUTPUT_CHANNEL: usize = 1024;
/// Chunks one step on one host may have read ahead of the shared channel.
const STEP_CHANNEL: usize = 4;
/// Output bytes carried out under one fsync at most: a batch's notices copy its lines.
const BATCH_BYTES: usize = 1 << 20;
/// Output kept per attempt for matching `expect_output` (the journal keeps everything).
const MATCH_BUFFER_BYTES: usize = 1 << 20;
/// Most reports carried out under one journal fsync.
const BATCH: usize = 256;
/// Output alone (no event anything acts on) is made durable at most this often; any other
/// event is fsynced before the call that wrote it returns.
const OUTPUT_SYNC: Duration = Duration::from_millis(200);
/// How long stopped steps get to report how they ended (quit, signal, journal failure).
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// What an operator (or the plan) asks of a run. Every front end speaks this; the driver
/// journals and carries out each by its variant, so none has to route anything by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Feed the engine. Journaled first by variant: `Approval` as `approval`, `Manual` as
    /// `manual`, `Skip` and a by-hand `Restore` as `operator_action`; `Stop` also cancels
    /// every running step on its host.
    Input(Input),
    /// A note on the timeline.
    Note(String),
    /// The operator checked an unknown host key out of band and accepts it: recorded in
    /// known_hosts and journaled; the services it stopped are checked again.
    AcceptHostKey { host: HostId, fingerprint: String },
    /// The operator refused an unknown host key: nothing runs on that host until asked again.
    RefuseHostKey { host: HostId },
    /// Run the runbook's `[[scenario]]` of this id as a drill (SPEC "Drills"): baseline,
    /// inject, detect, restore, cleanup, each journaled as `drill_phase`. The run is over
    /// ([`Driver::finished`]) when the drill is.
    StartDrill(String),
}

/// An approval by a principal this process knows (its own operator at its terminal, or a
/// verified signature) counts toward a two-person step; the engine is told who.
fn counted(input: Input, operator: &str, provenance: &Provenance) -> Input {
    use crate::journal::event::Identity;
    match input {
        Input::Approval { step, decision }
            if matches!(
                provenance.identity,
                Some(Identity::Local | Identity::Verified)
            ) =>
        {
            Input::ApprovalBy {
                step,
                decision,
                principal: operator.to_string(),
            }
        }
        other => other,
    }
}

impl From<Input> for Request {
    fn from(input: Input) -> Request {
        Request::Input(input)
    }
}

/// The driver's report channel, read in batches by every front end.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Message>,
}

impl Inbox {
    /// Wait for the next report, then take whatever else already waits (up to a bound), so
    /// that [`Driver::on_messages`] carries them out under one fsync. `None`: nothing can
    /// report any more.
    pub async fn next(&mut self) -> Option<Vec<Message>> {
        let first = self.rx.recv().await?;
        let mut bytes = first.output_len();
        let mut batch = vec![first];
        while batch.len() < BATCH
            && bytes < BATCH_BYTES
            && let Ok(m) = self.rx.try_recv()
        {
            bytes += m.output_len();
            batch.push(m);
        }
        Some(batch)
    }
}

/// How [`Driver::stop_and_wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every running step reported that it ended.
    All,
    /// The grace ran out with this many steps still running.
    TimedOut(usize),
    /// The operator asked again (`leave` resolved) with this many steps still running.
    Left(usize),
}

/// An unknown host key met by a step: what a front end shows to ask about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyQuestion {
    /// The host whose key it is (a jump host's key is asked about as the jump host's).
    pub host: HostId,
    pub address: String,
    pub key_type: String,
    pub fingerprint: String,
}

/// Something the driver's tasks report back; read them with [`Inbox::next`] and carry out
/// each batch with [`Driver::on_messages`].
#[derive(Debug)]
pub enum Message {
    /// A chunk of a step's output, secrets masked.
    Output {
        attempt: AttemptId,
        bytes: Vec<u8>,
    },
    Done {
        attempt: AttemptId,
        result: StepResult,
    },
    Wake(crate::engine::TimerId),
    /// A webhook delivery's attempt (see `crate::notify`), to be journaled.
    Notify(crate::notify::Report),
    /// `[runbook] notice_after` passed since the incident's start.
    NoticeDue,
    /// A drill's guard ran on one host.
    Guard(GuardReport),
    /// A drill's guard is due again (its `every` passed).
    GuardDue(usize),
    /// A drill checks again the services not yet seen down after their inject.
    DrillWake,
    /// An operator in another process asks something (a shared run's etcd, a run's socket).
    Remote(crate::reach::Incoming),
    /// This process lost the shared run's lease (why): it must stop acting.
    LeaseLost(String),
    /// A shared run's commit (by its number) came to this: what waited on it may act.
    Committed(u64, Result<(), crate::journal::etcd::StoreError>),
    /// A witness's attempt at a head (see `crate::witness`), its failures to be journaled.
    Witness(crate::witness::Report),
}

impl Message {
    fn output_len(&self) -> usize {
        match self {
            Message::Output { bytes, .. } => bytes.len(),
            _ => 0,
        }
    }
}

/// An event as it went onto disk.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub ts: chrono::DateTime<chrono::Utc>,
    pub event: Event,
    /// The journal line (secrets masked), without its newline.
    pub line: String,
}

/// What a front end should show or ask, produced while carrying out effects.
#[derive(Debug, Clone)]
pub enum Notice {
    /// An event is on disk (the TUI's timeline, `run --format json`'s lines).
    Journaled(Entry),
    /// Output lines of a running step, secrets masked: the lines a chunk completed, each
    /// ending in `\n` (without `\r`, cut at `exec::lines::MAX_LINE`).
    Output {
        step: StepRef,
        host: crate::runbook::model::HostId,
        lines: String,
    },
    /// The operator must approve or decline (`Input::Approval`).
    AskApproval {
        step: StepRef,
        commands: Vec<(crate::runbook::model::HostId, String)>,
        /// Why, when the step is not a `confirm` step.
        reason: Option<String>,
    },
    /// The operator must carry out a manual step (`Input::Manual`).
    AskManual { step: StepRef, instruction: String },
    /// Nothing runs and nothing can start without an operator.
    Idle {
        services: Vec<(ServiceId, ServiceState)>,
    },
    /// A step met an unknown host key: ask, then send [`Request::AcceptHostKey`] or
    /// [`Request::RefuseHostKey`]. Once per host until it is answered.
    AskHostKey(HostKeyQuestion),
    /// A request could not be carried out; the words say why and what to do.
    Refused(String),
    /// A question asked ([`Notice::AskApproval`], [`Notice::AskManual`]) is no longer asked:
    /// answered here or elsewhere (an attached operator), or moot (the run stopped, the
    /// service moved on). Every front end closes its dialog or prompt for it.
    Withdrawn { step: StepRef },
}

/// How a run comes to its end, for [`Driver::end`]. Whatever the front end, the outcome is
/// decided here: interrupted on a signal, or when steps were still running (or were stopped
/// while running) at a quit; else by the selected services' states (a drill by its verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Nothing runs and nothing can start (the engine's `Finished`, or the inbox closed).
    Idle,
    /// The operator quit.
    Quit,
    /// SIGINT, SIGTERM or SIGHUP (or the terminal went away).
    Signal,
}

/// What [`Driver::end`] recorded.
#[derive(Debug, Clone)]
pub struct Ended {
    pub outcome: RunOutcome,
    pub exit: Exit,
    pub notices: Vec<Notice>,
}

/// Why [`Driver::end`] could not record the end.
#[derive(Debug, thiserror::Error)]
pub enum EndError {
    /// The journal failed earlier in the run: nothing more can be journaled.
    #[error("the journal failed earlier; the run is over but its end is not recorded")]
    Broken,
    #[error(
        "the journal cannot be written: {0}; the run is over but its end is not recorded{hint}",
        hint = full_hint(.0)
    )]
    Journal(#[from] JournalError),
}

/// What to do when the journal's file system is full, after the error that says so.
fn full_hint(e: &JournalError) -> &'static str {
    if e.is_full() {
        ". Its file system is full: free space there (old logs, core dumps), then continue the run with --resume to record its end"
    } else {
        ""
    }
}

impl EndError {
    /// SPEC's exit code for a run whose end is not recorded: interrupted, journal intact.
    pub fn exit(&self) -> Exit {
        Exit::Interrupted
    }
}

/// A command whose `step_started` is written but not yet synced.
struct Queued {
    command: String,
    /// The pid file the command runs under on its host (named by run and `step_started` seq).
    marker: Option<crate::exec::Marker>,
    timeout: Duration,
    matcher: Option<regex::Regex>,
    expect_exit: i32,
}

struct Running {
    launch: Launch,
    matcher: Option<regex::Regex>,
    expect_exit: i32,
    seen: String,
    /// The output split into lines for display (the journal keeps chunks).
    lines: crate::exec::lines::DisplayLines,
}

pub struct Driver {
    engine: Engine,
    runbook: Arc<Runbook>,
    journal: JournalWriter,
    exec: Executor,
    operator: String,
    tx: mpsc::Sender<Message>,
    running: HashMap<AttemptId, Running>,
    /// Launches waiting for the next fsync (see [`Driver::settle`]).
    queued: Vec<(Launch, Queued)>,
    /// Cancels every running step (Ctrl-C, SIGTERM, quit).
    stop: CancellationToken,
    finished: Option<Vec<(ServiceId, ServiceState)>>,
    /// Auto mode as journaled (`operator_action` `auto_on`/`auto_off`): the run's mode.
    auto: crate::fold::Auto,
    /// Hosts whose unknown key an operator is asked about, with the services to check again
    /// once it is accepted.
    key_waits: HashMap<HostId, BTreeSet<ServiceId>>,
    /// The journal failed: nothing more is journaled; reports are only counted.
    broken: bool,
    /// Steps were stopped while they ran (a quit or a signal mid-step): the run ends
    /// interrupted whatever the states say.
    stopped_mid_step: bool,
    /// The questions asked and not yet withdrawn ([`Notice::Withdrawn`]).
    asked: BTreeSet<StepRef>,
    /// A forced resume's services the runbook no longer has, with their journaled states.
    removed: Vec<(ServiceId, ServiceState)>,
    /// An event other than output was written since the last fsync.
    must_sync: bool,
    last_sync: std::time::Instant,
    /// The run's id (from its `run_started`), which names the commands' markers.
    run_id: Option<String>,
    /// What checks the requests of other processes (SPEC "Who did it").
    identity: checks::Checks,
    /// Webhooks: their tasks, what is owed, what waits for the next fsync.
    outbox: outbox::State,
    /// The scenario drill this run is, once started.
    drill: Option<drill::Drill>,
    /// Attached operators' requests carried out, answered after the next commit.
    answers: Vec<requests::Owed>,
    /// A file-journal run's socket (`<journal>.sock`), for its life.
    socket: Option<crate::reach::socket::Listener>,
    /// A shared run's calls whose commit is in flight.
    later: shared::Later,
    /// Witnesses: their tasks, the last head handed over, what each took.
    witness: witness::State,
}

impl Driver {
    /// The inbox gets what the driver's tasks report; carry out each batch with
    /// [`Driver::on_messages`].
    pub fn new(
        engine: Engine,
        journal: JournalWriter,
        exec: Executor,
        operator: String,
    ) -> (Driver, Inbox) {
        let (tx, rx) = mpsc::channel(OUTPUT_CHANNEL);
        let runbook = Arc::new(engine.runbook().clone());
        let outbox = outbox::State::start(&runbook, tx.clone());
        let mut driver = Driver {
            engine,
            runbook,
            journal,
            exec,
            operator,
            tx,
            running: HashMap::new(),
            queued: Vec::new(),
            stop: CancellationToken::new(),
            finished: None,
            auto: crate::fold::Auto::Off,
            key_waits: HashMap::new(),
            broken: false,
            stopped_mid_step: false,
            asked: BTreeSet::new(),
            removed: Vec::new(),
            must_sync: false,
            last_sync: std::time::Instant::now(),
            run_id: None,
            identity: checks::Checks::default(),
            outbox,
            drill: None,
            answers: Vec::new(),
            socket: None,
            later: shared::Later::default(),
            witness: witness::State::default(),
        };
        driver.watch_shared();
        driver.listen();
        (driver, Inbox { rx })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn operator(&self) -> &str {
        &self.operator
    }

    pub fn journal_path(&self) -> &std::path::Path {
        self.journal.path()
    }

    /// The `etcd://` URL of the shared run this drives, if it is one.
    pub fn shared_url(&self) -> Option<String> {
        self.journal.shared_run().map(|r| r.url().to_string())
    }

    pub fn executor(&self) -> &Executor {
        &self.exec
    }

    /// Steps in flight right now.
    pub fn busy(&self) -> bool {
        !self.running.is_empty() || self.later.launches()
    }

    /// Set when the engine reported that nothing runs and nothing can start.
    pub fn finished(&self) -> Option<&[(ServiceId, ServiceState)]> {
        self.finished.as_deref()
    }

    /// The selected services (`--only`) and their states now.
    pub fn states(&self) -> Vec<(ServiceId, ServiceState)> {
        self.engine.selected_states()
    }

    /// Whether the journal failed: the run must stop, whatever the front end.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The step of `service` in `phase` named `name` in this run's runbook.
    pub fn step_ref(
        &self,
        service: &ServiceId,
        phase: crate::engine::Phase,
        name: &str,
    ) -> Option<StepRef> {
        StepRef::named(&self.runbook, service, phase, name)
    }

    /// Whether the driver still asks about `step` (its question not withdrawn).
    pub fn asks(&self, step: &StepRef) -> bool {
        self.asked.contains(step)
    }

    /// A forced resume: services of the journal the runbook no longer has, and the states the
    /// journal recorded last; kept in `run_finished` as `removed` and counted in its outcome.
    pub fn keep_removed(&mut self, removed: Vec<(ServiceId, ServiceState)>) {
        self.removed = removed;
    }

    /// Journal an event the session itself records (`run_started`).
    pub fn record(&mut self, event: Event) -> Result<Vec<Notice>, JournalError> {
        let r = self.write(event).map(|n| vec![n]);
        self.settle(r)
    }

    /// Continue a journaled run: recorded states and successful restore steps are taken as
    /// they are; what was in flight is checked again.
    /// `approved`: the principals who already approved a pending two-person step (from the
    /// journal, where their approvals are): they count toward it as if given now, and are
    /// not journaled again.
    pub fn resume(
        &mut self,
        facts: &ResumeFacts,
        approved: &[(StepRef, String)],
    ) -> Result<Vec<Notice>, JournalError> {
        let mut effects = self.engine.resume(facts);
        for (step, principal) in approved {
            // The question asked again is asked with who approved already.
            effects.retain(|e| !matches!(e, Effect::AskApproval { step: s, .. } if s == step));
            effects.extend(self.engine.handle(Input::ApprovalBy {
                step: step.clone(),
                decision: crate::engine::state::Decision::Approved,
                principal: principal.clone(),
            }));
        }
        let r = self.apply(effects);
        self.settle(r)
    }

    /// What the operator of this process asks (see [`Request`] for what is journaled),
    /// journaled with `"identity":"local"`.
    pub fn input(&mut self, request: impl Into<Request>) -> Result<Vec<Notice>, JournalError> {
        let operator = self.operator.clone();
        self.input_as(&operator, &Provenance::local(), request)
    }

    /// The same as [`Driver::input`], with another name that nothing checked (journaled
    /// `"identity":"unverified"`): an operator attached to a shared run, or `(no terminal)`
    /// for what `run` refuses when nobody can be asked.
    pub fn input_by(
        &mut self,
        operator: &str,
        request: impl Into<Request>,
    ) -> Result<Vec<Notice>, JournalError> {
        self.input_as(operator, &Provenance::unverified(), request)
    }

    /// The same as [`Driver::input`], by `operator` known as `provenance` says (a request
    /// whose signature `identity::Verifier` checked, say).
    pub fn input_as(
        &mut self,
        operator: &str,
        provenance: &Provenance,
        request: impl Into<Request>,
    ) -> Result<Vec<Notice>, JournalError> {
        let r = self
            .request_as(operator, provenance, request.into())
            .and_then(|n| self.then_drill(n));
        self.settle(r)
    }

    /// A drill moves on once what a call carried out has settled in the engine.
    fn then_drill(&mut self, mut notices: Vec<Notice>) -> Result<Vec<Notice>, JournalError> {
        notices.extend(self.advance_drill()?);
        Ok(notices)
    }

    /// Carry out reports that arrived together ([`Inbox::next`]), with one fsync for all
    /// they record (200 hosts finishing a check at once cost one disk flush, not 200).
    pub fn on_messages(
        &mut self,
        messages: impl IntoIterator<Item = Message>,
    ) -> Result<Vec<Notice>, JournalError> {
        let mut notices = Vec::new();
        let mut messages = messages.into_iter();
        for message in messages.by_ref() {
            match self.on_message_unsynced(message) {
                Ok(n) => notices.extend(n),
                Err(e) => {
                    // Nothing more can be journaled; the steps whose end the rest of the batch
                    // reports are over all the same, so nothing waits for them to stop.
                    for m in messages {
                        if let Message::Done { attempt, .. } = m {
                            self.running.remove(&attempt);
                        }
                    }
                    return self.settle(Err(e));
                }
            }
        }
        let r = self.then_drill(notices);
        self.settle(r)
    }

    /// Record the end of the run (`run_finished`) and say how it ended, the same for every
    /// front end (see [`Ending`]). A drill not ended is failed; a forced resume's removed
    /// services count with the states the journal recorded of them.
    pub fn end(&mut self, ending: Ending) -> Result<Ended, EndError> {
        if self.broken {
            return Err(EndError::Broken);
        }
        let interrupted = ending == Ending::Signal || self.busy() || self.stopped_mid_step;
        let r = self.interrupt_drill();
        let mut notices = self.settle(r)?;
        let outcome = if interrupted {
            RunOutcome::Interrupted
        } else {
            match self.drill_outcome() {
                Some(crate::journal::event::DrillOutcome::Passed) => RunOutcome::Restored,
                Some(crate::journal::event::DrillOutcome::Failed) => RunOutcome::Incomplete,
                None => {
                    let mut states = self.states();
                    states.extend(self.removed.iter().cloned());
                    RunOutcome::of(&states)
                }
            }
        };
        notices.extend(self.finish(outcome)?);
        Ok(Ended {
            outcome,
            exit: outcome.exit(),
            notices,
        })
    }

    /// Record `run_finished` with `outcome` (mostly through [`Driver::end`]).
    pub fn finish(&mut self, outcome: RunOutcome) -> Result<Vec<Notice>, JournalError> {
        // Nothing reads the inbox after the end: it commits in place.
        self.later.in_place = true;
        let mut services: IndexMap<ServiceId, ServiceState> = self
            .engine
            .services()
            .iter()
            .map(|(id, view)| (id.clone(), view.state))
            .collect();
        for (id, _) in &self.removed {
            services.insert(id.clone(), ServiceState::Removed);
        }
        let left_down = self.left_down();
        let r = self
            .write(Event::RunFinished {
                outcome: outcome.as_str().to_string(),
                services,
                left_down,
            })
            .map(|n| vec![n]);
        self.settle(r)
    }

    /// Stop every running step on its host, start nothing new, and wait (at most `grace`, or
    /// until `leave` resolves: the operator asked again) for each to report how it ended.
    /// With a working journal those reports are journaled and handed to `show`; after a
    /// journal failure ([`Driver::abandon`]) they are only counted. A drill interrupted
    /// then restores what it injected, unless `leave` resolved (see `driver/drill.rs`).
    pub async fn stop_and_wait(
        &mut self,
        inbox: &mut Inbox,
        grace: Duration,
        leave: impl std::future::Future<Output = ()>,
        mut show: impl FnMut(Vec<Notice>),
    ) -> Stopped {
        self.stop_now(&mut show);
        tokio::pin!(leave);
        match self
            .wait_running(inbox, grace, leave.as_mut(), &mut show)
            .await
        {
            Stopped::All => {
                self.restore_interrupted_drill(inbox, grace, leave, &mut show)
                    .await
            }
            stopped => stopped,
        }
    }

    /// Cancel every running step on its host and start nothing new.
    fn stop_now(&mut self, show: &mut impl FnMut(Vec<Notice>)) {
        if !self.running.is_empty() {
            self.stopped_mid_step = true;
        }
        self.stop.cancel();
        if !self.broken && !self.engine.is_stopped() {
            let r = self.request_unsynced("", Request::Input(Input::Stop));
            match self.settle(r) {
                Ok(n) => show(n),
                Err(e) => self.broke(&e),
            }
        }
    }

    /// Wait (at most `grace`, or until `leave`) for every running step to report.
    async fn wait_running<L: std::future::Future<Output = ()>>(
        &mut self,
        inbox: &mut Inbox,
        grace: Duration,
        mut leave: std::pin::Pin<&mut L>,
        show: &mut impl FnMut(Vec<Notice>),
    ) -> Stopped {
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        while !self.running.is_empty() {
            // Reports already waiting are counted first, so the count left behind is exact.
            tokio::select! {
                biased;
                batch = inbox.next() => match batch {
                    Some(batch) if self.broken => {
                        for m in batch {
                            if let Message::Done { attempt, .. } = m {
                                self.running.remove(&attempt);
                            }
                        }
                    }
                    Some(batch) => match self.on_messages(batch) {
                        Ok(n) => show(n),
                        Err(e) => self.broke(&e),
                    },
                    None => break,
                },
                () = &mut leave => return Stopped::Left(self.running.len()),
                () = &mut deadline => return Stopped::TimedOut(self.running.len()),
            }
        }
        Stopped::All
    }

    /// The journal failed: cancel every running step on its host and journal nothing more
    /// (nothing can be). Returns how many steps were in flight; [`Driver::stop_and_wait`]
    /// waits for them without journaling.
    pub fn abandon(&mut self) -> usize {
        self.broken = true;
        if !self.running.is_empty() {
            self.stopped_mid_step = true;
        }
        self.stop.cancel();
        self.running.len()
    }

    fn broke(&mut self, e: &JournalError) {
        tracing::error!("journal: {e}");
        self.broken = true;
        self.stop.cancel();
    }

    /// End of every public call: make what it journaled durable with one fsync, then send
    /// the commands whose `step_started` is now on disk, then let the front end show it.
    /// On a journal error nothing queued is sent.
    fn settle(
        &mut self,
        notices: Result<Vec<Notice>, JournalError>,
    ) -> Result<Vec<Notice>, JournalError> {
        if self.journal.shared_run().is_some() && !self.later.in_place {
            return self.settle_later(notices);
        }
        // Output is group-committed: it rides with the next event's fsync, or with one at
        // most every `OUTPUT_SYNC`, so a flood of output costs a few fsyncs a second.
        let due = self.must_sync || self.last_sync.elapsed() >= OUTPUT_SYNC;
        let mut durable = None;
        let synced = notices.and_then(|n| {
            if due {
                self.journal.sync()?;
                self.must_sync = false;
                self.last_sync = std::time::Instant::now();
                durable = Some(self.head_now());
            }
            // Commits in flight before this one were taken too (they go in order).
            let mut all = self.release_all()?;
            all.extend(n);
            Ok(all)
        });
        let queued = std::mem::take(&mut self.queued);
        if let (Ok(_), Some(head)) = (&synced, durable) {
            self.witness_durable(head, false);
        }
        let synced = match synced {
            Ok(mut n) => {
                for (launch, run) in queued {
                    self.launch(launch, run);
                }
                self.settle_shared();
                n.extend(self.withdrawn(&n));
                Ok(n)
            }
            // Every front end stops the same way: nothing more is journaled or started.
            Err(e) => {
                self.broke(&e);
                Err(e)
            }
        };
        // Webhook deliveries too are handed over only once their `notify_queued` is on disk.
        self.settle_outbox(synced)
    }

    /// Questions asked in `notices` are remembered; those asked before that the engine no
    /// longer waits on (answered here or elsewhere, or moot) are withdrawn.
    fn withdrawn(&mut self, notices: &[Notice]) -> Vec<Notice> {
        for notice in notices {
            if let Notice::AskApproval { step, .. } | Notice::AskManual { step, .. } = notice {
                self.asked.insert(step.clone());
            }
        }
        let services = self.engine.services();
        let still_asked = |step: &StepRef| {
            services
                .get(&step.service)
                .and_then(|v| v.waiting.as_ref())
                .is_some_and(|w| match w {
                    crate::engine::Waiting::Approval { step: s, .. }
                    | crate::engine::Waiting::Manual { step: s, .. } => s == step,
                })
        };
        let gone: Vec<StepRef> = self
            .asked
            .iter()
            .filter(|step| !still_asked(step))
            .cloned()
            .collect();
        gone.into_iter()
            .map(|step| {
                self.asked.remove(&step);
                Notice::Withdrawn { step }
            })
            .collect()
    }

    /// Append one event; [`Driver::settle`] makes it durable before anything acts on it.
    fn write(&mut self, event: Event) -> Result<Notice, JournalError> {
        self.must_sync = true;
        let appended = self
            .journal
            .append_with(&event, crate::journal::Durability::Buffered)?;
        if self.run_id.is_none() && matches!(event, Event::RunStarted { .. }) {
            let hash = self.journal.last_hash().to_string();
            self.identity.started(&hash);
            self.set_run_id(&hash);
        }
        self.queue_notifications(appended.seq, &event, &appended.line)?;
        if let Some(drill) = &mut self.drill {
            drill.observe(appended.seq, appended.ts, &event);
        }
        Ok(Notice::Journaled(Entry {
            seq: appended.seq,
            ts: appended.ts,
            event,
            line: appended.line,
        }))
    }

    /// [`Driver::input_by`] before its fsync: journal what the request records, then act.
    fn request_unsynced(
        &mut self,
        operator: &str,
        request: Request,
    ) -> Result<Vec<Notice>, JournalError> {
        self.request_as(operator, &Provenance::unverified(), request)
    }

    /// [`Driver::input_as`] before its fsync.
    fn request_as(
        &mut self,
        operator: &str,
        provenance: &Provenance,
        request: Request,
    ) -> Result<Vec<Notice>, JournalError> {
        let input = match request {
            Request::Input(input) => input,
            Request::Note(text) => {
                return Ok(vec![self.write(Event::Note {
                    operator: operator.to_string(),
                    text,
                    provenance: provenance.clone(),
                })?]);
            }
            Request::AcceptHostKey { host, fingerprint } => {
                return self.accept_host_key(operator, provenance, host, fingerprint);
            }
            Request::RefuseHostKey { host } => {
                self.key_waits.remove(&host);
                return Ok(Vec::new());
            }
            Request::StartDrill(scenario) => return self.start_drill(&scenario),
        };
        let act = |action, service: &ServiceId, reason| Event::OperatorAction {
            operator: operator.to_string(),
            service: Some(service.clone()),
            action,
            reason,
            provenance: provenance.clone(),
        };
        let record = match &input {
            Input::SetAuto(on) => self.auto_turned(operator, provenance, *on),
            _ => None,
        };
        let record = record.or(match &input {
            Input::RunPlan | Input::SetAuto(true) => {
                self.finished = None;
                None
            }
            Input::Approval { step, decision } => Some(Event::Approval {
                service: step.service.clone(),
                step: self.step_name(step),
                phase: Some(step.phase),
                decision: *decision,
                operator: operator.to_string(),
                provenance: provenance.clone(),
            }),
            Input::Manual { step, outcome } => Some(Event::Manual {
                service: step.service.clone(),
                step: self.step_name(step),
                outcome: *outcome,
                operator: operator.to_string(),
                provenance: provenance.clone(),
            }),
            Input::Skip { service, reason } => {
                Some(act(OperatorActionKind::Skip, service, Some(reason.clone())))
            }
            Input::Restore {
                service,
                by_hand: true,
            } => Some(act(OperatorActionKind::ByHandRestore, service, None)),
            Input::Check(service) => Some(act(OperatorActionKind::ByHandCheck, service, None)),
            Input::Inject(service) => Some(act(OperatorActionKind::Inject, service, None)),
            Input::Undo { service, cascade } => Some(act(
                OperatorActionKind::Undo,
                service,
                (*cascade == crate::engine::Cascade::Dependents)
                    .then(|| crate::fold::CASCADE.to_string()),
            )),
            Input::Stop => {
                self.stopped_mid_step |= !self.running.is_empty();
                self.stop.cancel();
                None
            }
            _ => None,
        });
        let turned_down = match &input {
            Input::Restore { by_hand: true, .. } => {
                Some("nothing was restored: the service is up or already busy")
            }
            Input::Check(_) => Some("nothing was checked: the service is busy"),
            Input::Inject(_) => {
                Some("nothing was injected: the service is busy or has no inject steps")
            }
            Input::Undo { .. } => Some(
                "nothing was undone: no restore step with an undo succeeded on it since it was last undone, or it (or a dependent) is busy",
            ),
            _ => None,
        };
        let effects = self.engine.handle(counted(input, operator, provenance));
        let mut notices = Vec::new();
        // A by-hand action the engine turns down (the service is up or busy) did not start:
        // say so instead of journaling that it did.
        if let Some(why) = turned_down
            && effects.is_empty()
        {
            return Ok(vec![Notice::Refused(why.into())]);
        }
        // Journaled before any effect is carried out (the engine has only decided so far).
        if let Some(event) = record {
            notices.push(self.write(event)?);
        }
        notices.extend(self.apply(effects)?);
        Ok(notices)
    }

    /// [`Request::AcceptHostKey`]: known_hosts first, then the journal, then the checks again.
    fn accept_host_key(
        &mut self,
        operator: &str,
        provenance: &Provenance,
        host: HostId,
        fingerprint: String,
    ) -> Result<Vec<Notice>, JournalError> {
        let waiting = self.key_waits.remove(&host).unwrap_or_default();
        if let Err(e) = self.exec.accept_host_key(&host, &fingerprint) {
            return Ok(vec![Notice::Refused(e.to_string())]);
        }
        let mut notices = vec![self.write(Event::HostKeyAccepted {
            host,
            fingerprint,
            operator: operator.to_string(),
            provenance: provenance.clone(),
        })?];
        for service in waiting {
            let effects = self.engine.handle(Input::Check(service));
            notices.extend(self.apply(effects)?);
        }
        Ok(notices)
    }

    /// One report, before its batch's fsync.
    fn on_message_unsynced(&mut self, message: Message) -> Result<Vec<Notice>, JournalError> {
        match message {
            Message::Output { attempt, bytes } => self.on_output(attempt, bytes),
            Message::Done { attempt, result } => self.on_done(attempt, &result),
            Message::Wake(timer) => {
                let effects = self.engine.handle(Input::Wake(timer));
                self.apply(effects)
            }
            Message::Notify(report) => self.on_notify(report),
            Message::NoticeDue => self.on_notice_due(),
            m @ (Message::Guard(_) | Message::GuardDue(_) | Message::DrillWake) => {
                self.on_drill_message(m)
            }
            Message::Remote(incoming) => self.on_remote(incoming),
            Message::LeaseLost(why) => Err(self.on_lease_lost(&why)),
            Message::Committed(ticket, result) => self.on_committed(ticket, result),
            Message::Witness(report) => self.on_witness(report),
        }
    }

    fn on_output(
        &mut self,
        attempt: AttemptId,
        bytes: Vec<u8>,
    ) -> Result<Vec<Notice>, JournalError> {
        let Some(running) = self.running.get_mut(&attempt) else {
            return Ok(Vec::new());
        };
        // Valid UTF-8 (nearly all output) is checked at memory speed and borrowed.
        let text = std::str::from_utf8(&bytes).map_or_else(
            |_| String::from_utf8_lossy(&bytes),
            std::borrow::Cow::Borrowed,
        );
        if running.matcher.is_some() && running.seen.len() < MATCH_BUFFER_BYTES {
            running.seen.push_str(&text);
        }
        let step = running.launch.step.clone();
        let host = running.launch.host.clone();
        let mut shown = String::with_capacity(text.len() + 1);
        running.lines.push(&text, |line| {
            shown.push_str(line);
            shown.push('\n');
        });
        let name = self.step_name(&step);
        // Group-committed: output is written at once and made durable with the next event
        // that something acts on. The transport masked the bytes; the writer masks again.
        let (appended, event) =
            self.journal
                .append_output_event(&step.service, &name, &host, bytes)?;
        let entry = Entry {
            seq: appended.seq,
            ts: appended.ts,
            event,
            line: appended.line,
        };
        let mut notices = vec![Notice::Journaled(entry)];
        if !shown.is_empty() {
            notices.push(Notice::Output {
                step,
                host,
                lines: self.journal.masker().mask_string(shown),
            });
        }
        Ok(notices)
    }

    fn on_done(
        &mut self,
        attempt: AttemptId,
        result: &StepResult,
    ) -> Result<Vec<Notice>, JournalError> {
        let Some(mut running) = self.running.remove(&attempt) else {
            return Ok(Vec::new());
        };
        let mut last = String::new();
        running.lines.finish(|line| {
            last.push_str(line);
            last.push('\n');
        });
        let launch = running.launch;
        let output_matched = running
            .matcher
            .as_ref()
            .map(|re| re.is_match(&running.seen));
        let error = result.error.as_deref().map(|e| self.runbook.redact(e));
        // A key the operator's --accept-new-host-keys let a connection record: journaled
        // before the outcome of the step that connected.
        // The last line of output, when it had no newline, is shown before the outcome.
        let mut notices: Vec<Notice> = Vec::new();
        if !last.is_empty() {
            notices.push(Notice::Output {
                step: launch.step.clone(),
                host: launch.host.clone(),
                lines: self.journal.masker().mask_string(last),
            });
        }
        for (host, fingerprint) in self.exec.take_accepted_keys() {
            notices.push(self.write(Event::HostKeyAccepted {
                host,
                fingerprint,
                operator: self.operator.clone(),
                provenance: Provenance::local(),
            })?);
        }
        // The transport says whether the command ran; whether it passed is the step's rule.
        let outcome = match (result.outcome, result.exit_code) {
            (StepOutcome::Ok, Some(code)) => {
                classify_exit(code, running.expect_exit, output_matched)
            }
            (outcome, _) => outcome,
        };
        let notice = self.write(Event::StepFinished {
            service: launch.step.service.clone(),
            phase: launch.step.phase,
            step: self.step_name(&launch.step),
            host: launch.host.clone(),
            attempt: launch.attempt,
            outcome,
            exit_code: result.exit_code,
            duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
            error: error.clone(),
        })?;
        notices.push(notice);
        if result.refused == Some(Refusal::UnknownHostKey) {
            notices.extend(self.ask_host_key(&launch));
        }
        let effects = self.engine.handle(Input::StepFinished {
            attempt,
            outcome,
            exit_code: result.exit_code,
            duration: result.duration,
            error,
            output_matched,
            refused: result.refused.is_some(),
        });
        notices.extend(self.apply(effects)?);
        Ok(notices)
    }

    /// A step met an unknown host key: ask about exactly the key offered (a jump host's on
    /// the way is asked about as that host's), once per host until it is answered.
    fn ask_host_key(&mut self, launch: &Launch) -> Option<Notice> {
        let (host, key) = self.exec.host_key_in_the_way(&launch.host)?;
        let first = !self.key_waits.contains_key(&host);
        self.key_waits
            .entry(host.clone())
            .or_default()
            .insert(launch.step.service.clone());
        first.then(|| {
            let address = if key.port == 22 {
                key.hostname.clone()
            } else {
                format!("{}:{}", key.hostname, key.port)
            };
            Notice::AskHostKey(HostKeyQuestion {
                host,
                address,
                key_type: key.key_type.clone(),
                fingerprint: key.fingerprint(),
            })
        })
    }

    fn apply(&mut self, effects: Vec<Effect>) -> Result<Vec<Notice>, JournalError> {
        let mut notices = Vec::new();
        for effect in effects {
            match effect {
                Effect::State {
                    service,
                    from,
                    to,
                    reason,
                } => {
                    let notice = self.write(Event::ServiceState {
                        service,
                        from,
                        to,
                        reason: reason.map(|r| self.runbook.redact(&r)),
                    })?;
                    notices.push(notice);
                }
                Effect::Run {
                    launch,
                    command,
                    timeout,
                    expect_output,
                    expect_exit,
                } => {
                    // On disk before the command is sent.
                    let notice = self.write(Event::StepStarted {
                        service: launch.step.service.clone(),
                        phase: launch.step.phase,
                        step: self.step_name(&launch.step),
                        host: launch.host.clone(),
                        attempt: launch.attempt,
                        command: command.shown.clone(),
                    })?;
                    let marker = match &notice {
                        Notice::Journaled(entry) => self
                            .run_id
                            .as_deref()
                            .and_then(|run| crate::exec::Marker::new(run, entry.seq)),
                        _ => None,
                    };
                    notices.push(notice);
                    // Sent by `settle`, once the `step_started` is on disk.
                    self.queued.push((
                        launch,
                        Queued {
                            command: command.text,
                            marker,
                            timeout,
                            matcher: expect_output,
                            expect_exit,
                        },
                    ));
                }
                Effect::AskApproval {
                    step,
                    commands,
                    reason,
                } => {
                    notices.push(self.asked(&step, QuestionKind::Approval)?);
                    notices.push(Notice::AskApproval {
                        step,
                        commands: commands.into_iter().map(|(h, c)| (h, c.shown)).collect(),
                        reason,
                    });
                }
                Effect::AskManual { step, instruction } => {
                    notices.push(self.asked(&step, QuestionKind::Manual)?);
                    notices.push(Notice::AskManual {
                        step,
                        instruction: instruction.shown,
                    });
                }
                Effect::NotRun {
                    step,
                    hosts,
                    reason,
                } => notices.extend(self.not_run(&step, hosts, &reason)?),
                Effect::Skipped { step, reason } => notices.push(self.skipped(&step, reason)?),
                Effect::Declined { step, reason } => {
                    notices.push(self.declined(&step, &reason)?);
                }
                Effect::Sleep { timer, after } => {
                    let tx = self.tx.clone();
                    let stop = self.stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = tokio::time::sleep(after) => {}
                            () = stop.cancelled() => {}
                        }
                        let _ = tx.send(Message::Wake(timer)).await;
                    });
                }
                // A drill's run is over when the drill is, not when the engine falls idle.
                Effect::Finished { .. } if self.drill_holds_finish() => {}
                Effect::Finished { services } => {
                    self.finished = Some(services.clone());
                    notices.push(Notice::Idle { services });
                }
            }
        }
        Ok(notices)
    }

    /// Hosts a step will not run on (SPEC "Fleets"): one `step_finished` `not_run` each.
    fn not_run(
        &mut self,
        step: &StepRef,
        hosts: Vec<HostId>,
        reason: &str,
    ) -> Result<Vec<Notice>, JournalError> {
        let name = self.step_name(step);
        let mut notices = Vec::with_capacity(hosts.len());
        for host in hosts {
            notices.push(self.write(Event::StepFinished {
                service: step.service.clone(),
                phase: step.phase,
                step: name.clone(),
                host,
                attempt: 1,
                outcome: StepOutcome::NotRun,
                exit_code: None,
                duration_ms: 0,
                error: Some(reason.to_string()),
            })?);
        }
        Ok(notices)
    }

    fn launch(&mut self, launch: Launch, queued: Queued) {
        let Queued {
            command,
            marker,
            timeout,
            matcher,
            expect_exit,
        } = queued;
        let attempt = launch.attempt_id;
        let token = self.stop.child_token();
        let exec = self.exec.clone();
        let tx = self.tx.clone();
        let host = launch.host.clone();
        let command = match marker {
            Some(marker) => marker.wrap(&command),
            None => command,
        };
        tokio::spawn(async move {
            let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(STEP_CHANNEL);
            let forward_tx = tx.clone();
            let forward = tokio::spawn(async move {
                while let Some(bytes) = out_rx.recv().await {
                    if forward_tx
                        .send(Message::Output { attempt, bytes })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            let result = exec.run(&host, &command, timeout, out_tx, token).await;
            // Every output line reaches the driver before the result does.
            let _ = forward.await;
            let _ = tx.send(Message::Done { attempt, result }).await;
        });
        self.running.insert(
            attempt,
            Running {
                launch,
                matcher,
                expect_exit,
                seen: String::new(),
                lines: crate::exec::lines::DisplayLines::default(),
            },
        );
    }

    /// `step_skipped`: a step that does not run (`only` for the other mode, no `undo`).
    fn skipped(&mut self, step: &StepRef, reason: String) -> Result<Notice, JournalError> {
        self.write(Event::StepSkipped {
            service: step.service.clone(),
            phase: step.phase,
            step: self.step_name(step),
            reason,
        })
    }

    /// The run itself declines a question nobody answered in its `confirm_timeout`: an
    /// `approval` declined by bringup, the reason in its name for every report.
    fn declined(&mut self, step: &StepRef, reason: &str) -> Result<Notice, JournalError> {
        self.write(Event::Approval {
            service: step.service.clone(),
            step: self.step_name(step),
            phase: Some(step.phase),
            decision: crate::engine::Decision::Declined,
            operator: format!("bringup ({reason})"),
            provenance: Provenance::default(),
        })
    }

    /// Journal that an operator is asked (`asked`): the question waits in the run's picture.
    fn asked(&mut self, step: &StepRef, question: QuestionKind) -> Result<Notice, JournalError> {
        let event = Event::Asked {
            service: step.service.clone(),
            step: self.step_name(step),
            phase: Some(step.phase),
            question,
        };
        self.write(event)
    }

    /// `operator_action` `auto_on`/`auto_off` when `on` changes the run's journaled mode.
    fn auto_turned(&mut self, operator: &str, provenance: &Provenance, on: bool) -> Option<Event> {
        use crate::fold::Auto;
        let to = if on { Auto::On } else { Auto::Off };
        if to == self.auto {
            return None;
        }
        self.auto = to;
        Some(Event::OperatorAction {
            operator: operator.to_string(),
            service: None,
            action: match to {
                Auto::On => OperatorActionKind::AutoOn,
                Auto::Off => OperatorActionKind::AutoOff,
            },
            reason: None,
            provenance: provenance.clone(),
        })
    }

    fn step_name(&self, step: &StepRef) -> String {
        step_name(&self.runbook, step)
    }
}

/// The name of the step a `StepRef` points at (verification re-runs the checks).
pub fn step_name(runbook: &Runbook, step: &StepRef) -> String {
    step.name(runbook).to_string()
}

#[cfg(test)]
mod policy_tests;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
