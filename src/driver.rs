//! The run driver: carries out the engine's effects (journal, executor, timers) and feeds the
//! results back. Shared by `bringup run` and the TUI; it decides nothing about ordering.
//!
//! Every fact is journaled before bringup acts on it: `step_started` is on disk before the
//! command is sent, `approval` before the approved step runs, and whatever a call recorded
//! (a `step_finished` included) before that call's commands are sent or its notices shown.
//! Events are group-committed: each public call appends what it records and ends with one
//! fsync ([`Driver::settle`]), so a wave of 200 hosts costs one flush, not 200.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::{
    AttemptId, Decision, Effect, Engine, Input, Launch, ManualOutcome, ResumeFacts, ServiceState,
    StepOutcome, StepRef, classify_exit,
};
use crate::exec::{Executor, StepResult};
use crate::journal::{Event, JournalError, JournalWriter};
use crate::runbook::model::{Runbook, ServiceId};

/// How many output lines may wait between a transport and the driver before the transport
/// waits: a runaway command cannot eat memory.
const OUTPUT_CHANNEL: usize = 1024;
/// Output kept per attempt for matching `expect_output` (the journal keeps everything).
const MATCH_BUFFER_BYTES: usize = 1 << 20;

/// Something the driver's tasks report back; feed each to [`Driver::on_message`].
#[derive(Debug)]
pub enum Message {
    Output {
        attempt: AttemptId,
        line: String,
    },
    Done {
        attempt: AttemptId,
        result: StepResult,
    },
    Wake(crate::engine::TimerId),
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
    /// An output line of a running step, secrets masked.
    Output {
        step: StepRef,
        host: crate::runbook::model::HostId,
        line: String,
    },
    /// The operator must approve or decline (`Driver::approve`).
    AskApproval {
        step: StepRef,
        commands: Vec<(crate::runbook::model::HostId, String)>,
    },
    /// The operator must carry out a manual step (`Driver::manual`).
    AskManual { step: StepRef, instruction: String },
    /// Nothing runs and nothing can start without an operator.
    Idle {
        services: Vec<(ServiceId, ServiceState)>,
    },
}

/// A command whose `step_started` is written but not yet synced.
struct Queued {
    command: String,
    timeout: Duration,
    matcher: Option<regex::Regex>,
    expect_exit: i32,
}

struct Running {
    launch: Launch,
    matcher: Option<regex::Regex>,
    expect_exit: i32,
    seen: String,
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
}

impl Driver {
    /// The receiver gets what the driver's tasks report; pass each message to `on_message`.
    pub fn new(
        engine: Engine,
        journal: JournalWriter,
        exec: Executor,
        operator: String,
    ) -> (Driver, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(OUTPUT_CHANNEL);
        let runbook = Arc::new(engine.runbook().clone());
        (
            Driver {
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
            },
            rx,
        )
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

    pub fn executor(&self) -> &Executor {
        &self.exec
    }

    /// Steps in flight right now.
    pub fn busy(&self) -> bool {
        !self.running.is_empty()
    }

    /// Set when the engine reported that nothing runs and nothing can start.
    pub fn finished(&self) -> Option<&[(ServiceId, ServiceState)]> {
        self.finished.as_deref()
    }

    /// Journal an event that records an operator's act (a note, a host key accepted...).
    pub fn record(&mut self, event: Event) -> Result<Vec<Notice>, JournalError> {
        let r = self.record_unsynced(event);
        self.settle(r)
    }

    /// Continue a journaled run: recorded states and successful restore steps are taken as
    /// they are; what was in flight is checked again.
    pub fn resume(&mut self, facts: &ResumeFacts) -> Result<Vec<Notice>, JournalError> {
        let r = self.resume_unsynced(facts);
        self.settle(r)
    }

    /// Feed an operator's or the plan's input to the engine and carry out what follows.
    pub fn input(&mut self, input: Input) -> Result<Vec<Notice>, JournalError> {
        let r = self.input_unsynced(input);
        self.settle(r)
    }

    /// The operator's decision on a `confirm` step: journaled, then the step runs (or not).
    pub fn approve(
        &mut self,
        step: StepRef,
        decision: Decision,
        operator: &str,
    ) -> Result<Vec<Notice>, JournalError> {
        let r = self.approve_unsynced(step, decision, operator);
        self.settle(r)
    }

    /// The operator's report on a manual step: journaled, then the engine moves on.
    pub fn manual(
        &mut self,
        step: StepRef,
        outcome: ManualOutcome,
    ) -> Result<Vec<Notice>, JournalError> {
        let r = self.manual_unsynced(step, outcome);
        self.settle(r)
    }

    /// Nobody can answer a manual step (headless, no terminal): its service ends blocked.
    pub fn manual_unavailable(&mut self, step: StepRef) -> Result<Vec<Notice>, JournalError> {
        let r = self.manual_unavailable_unsynced(step);
        self.settle(r)
    }

    /// Carry out one report from the driver's tasks.
    pub fn on_message(&mut self, message: Message) -> Result<Vec<Notice>, JournalError> {
        let r = self.on_message_unsynced(message);
        self.settle(r)
    }

    /// Carry out several reports that arrived together, with one fsync for all they record
    /// (200 hosts finishing a check at once cost one disk flush, not 200).
    pub fn on_messages(
        &mut self,
        messages: impl IntoIterator<Item = Message>,
    ) -> Result<Vec<Notice>, JournalError> {
        let mut notices = Vec::new();
        for message in messages {
            match self.on_message_unsynced(message) {
                Ok(n) => notices.extend(n),
                Err(e) => return self.settle(Err(e)),
            }
        }
        self.settle(Ok(notices))
    }

    /// Stop: cancel every running step on its host and start nothing new.
    pub fn stop(&mut self) -> Result<Vec<Notice>, JournalError> {
        let r = self.stop_unsynced();
        self.settle(r)
    }

    /// Record the end of the run. `outcome` is SPEC's word for it.
    pub fn finish(&mut self, outcome: &str) -> Result<Vec<Notice>, JournalError> {
        let r = self.finish_unsynced(outcome);
        self.settle(r)
    }

    /// End of every public call: make what it journaled durable with one fsync, then send
    /// the commands whose `step_started` is now on disk, then let the front end show it.
    /// On a journal error nothing queued is sent.
    fn settle(
        &mut self,
        notices: Result<Vec<Notice>, JournalError>,
    ) -> Result<Vec<Notice>, JournalError> {
        let synced = notices.and_then(|n| self.journal.sync().map(|()| n));
        let queued = std::mem::take(&mut self.queued);
        if synced.is_ok() {
            for (launch, run) in queued {
                self.launch(launch, run);
            }
        }
        synced
    }

    /// Append one event; [`Driver::settle`] makes it durable before anything acts on it.
    fn write(&mut self, event: Event) -> Result<Notice, JournalError> {
        let appended = self
            .journal
            .append_with(&event, crate::journal::Durability::Buffered)?;
        Ok(Notice::Journaled(Entry {
            seq: appended.seq,
            ts: appended.ts,
            event,
            line: appended.line,
        }))
    }

    /// [`Driver::record`] before its fsync.
    fn record_unsynced(&mut self, event: Event) -> Result<Vec<Notice>, JournalError> {
        Ok(vec![self.write(event)?])
    }

    /// [`Driver::resume`] before its fsync.
    fn resume_unsynced(&mut self, facts: &ResumeFacts) -> Result<Vec<Notice>, JournalError> {
        let effects = self.engine.resume(facts);
        self.apply(effects)
    }

    /// [`Driver::input`] before its fsync.
    fn input_unsynced(&mut self, input: Input) -> Result<Vec<Notice>, JournalError> {
        if matches!(input, Input::RunPlan | Input::SetAuto(true)) {
            self.finished = None;
        }
        if let Input::Restore {
            service,
            by_hand: true,
        } = &input
        {
            let notice = self.write(Event::OperatorAction {
                operator: self.operator.clone(),
                service: service.clone(),
                action: "restore started by hand".to_string(),
                reason: None,
            })?;
            let mut notices = vec![notice];
            let effects = self.engine.handle(input);
            notices.extend(self.apply(effects)?);
            return Ok(notices);
        }
        if let Input::Skip { service, reason } = &input {
            let notice = self.write(Event::OperatorAction {
                operator: self.operator.clone(),
                service: service.clone(),
                action: "skipped".to_string(),
                reason: Some(reason.clone()),
            })?;
            let mut notices = vec![notice];
            let effects = self.engine.handle(input);
            notices.extend(self.apply(effects)?);
            return Ok(notices);
        }
        let effects = self.engine.handle(input);
        self.apply(effects)
    }

    /// [`Driver::approve`] before its fsync.
    fn approve_unsynced(
        &mut self,
        step: StepRef,
        decision: Decision,
        operator: &str,
    ) -> Result<Vec<Notice>, JournalError> {
        let notice = self.write(Event::Approval {
            service: step.service.clone(),
            step: self.step_name(&step),
            decision,
            operator: operator.to_string(),
        })?;
        let mut notices = vec![notice];
        let effects = self.engine.handle(Input::Approval { step, decision });
        notices.extend(self.apply(effects)?);
        Ok(notices)
    }

    /// [`Driver::manual`] before its fsync.
    fn manual_unsynced(
        &mut self,
        step: StepRef,
        outcome: ManualOutcome,
    ) -> Result<Vec<Notice>, JournalError> {
        let notice = self.write(Event::Manual {
            service: step.service.clone(),
            step: self.step_name(&step),
            outcome,
            operator: self.operator.clone(),
        })?;
        let mut notices = vec![notice];
        let effects = self.engine.handle(Input::Manual { step, outcome });
        notices.extend(self.apply(effects)?);
        Ok(notices)
    }

    /// [`Driver::manual_unavailable`] before its fsync.
    fn manual_unavailable_unsynced(&mut self, step: StepRef) -> Result<Vec<Notice>, JournalError> {
        let effects = self.engine.handle(Input::ManualUnavailable { step });
        self.apply(effects)
    }

    /// [`Driver::on_message`] before its fsync.
    fn on_message_unsynced(&mut self, message: Message) -> Result<Vec<Notice>, JournalError> {
        match message {
            Message::Output { attempt, line } => self.on_output(attempt, &line),
            Message::Done { attempt, result } => self.on_done(attempt, &result),
            Message::Wake(timer) => {
                let effects = self.engine.handle(Input::Wake(timer));
                self.apply(effects)
            }
        }
    }

    /// [`Driver::stop`] before its fsync.
    fn stop_unsynced(&mut self) -> Result<Vec<Notice>, JournalError> {
        self.stop.cancel();
        let effects = self.engine.handle(Input::Stop);
        self.apply(effects)
    }

    /// The journal failed: cancel every running step on its host and journal nothing more
    /// (nothing can be). Returns how many steps were in flight; each still reports `Done` on
    /// the message channel once its command is stopped, which the caller may wait for.
    pub fn abandon(&mut self) -> usize {
        self.stop.cancel();
        self.running.len()
    }

    /// [`Driver::finish`] before its fsync.
    fn finish_unsynced(&mut self, outcome: &str) -> Result<Vec<Notice>, JournalError> {
        let services: IndexMap<ServiceId, ServiceState> = self
            .engine
            .services()
            .iter()
            .map(|(id, view)| (id.clone(), view.state))
            .collect();
        let notice = self.write(Event::RunFinished {
            outcome: outcome.to_string(),
            services,
        })?;
        Ok(vec![notice])
    }

    fn on_output(&mut self, attempt: AttemptId, line: &str) -> Result<Vec<Notice>, JournalError> {
        let Some(running) = self.running.get_mut(&attempt) else {
            return Ok(Vec::new());
        };
        if running.matcher.is_some() && running.seen.len() < MATCH_BUFFER_BYTES {
            running.seen.push_str(line);
            running.seen.push('\n');
        }
        let step = running.launch.step.clone();
        let host = running.launch.host.clone();
        let name = self.step_name(&step);
        let line = self.runbook.redact(line);
        // Group-committed: output is written at once and made durable with the next event
        // that something acts on.
        let appended = self
            .journal
            .append_output(&step.service, &name, &host, line.as_bytes())?;
        let entry = Entry {
            seq: appended.seq,
            ts: appended.ts,
            event: Event::StepOutput {
                service: step.service.clone(),
                step: name,
                host: host.clone(),
                text: line.clone(),
                file: None,
            },
            line: appended.line,
        };
        Ok(vec![
            Notice::Journaled(entry),
            Notice::Output { step, host, line },
        ])
    }

    fn on_done(
        &mut self,
        attempt: AttemptId,
        result: &StepResult,
    ) -> Result<Vec<Notice>, JournalError> {
        let Some(running) = self.running.remove(&attempt) else {
            return Ok(Vec::new());
        };
        let launch = running.launch;
        let output_matched = running
            .matcher
            .as_ref()
            .map(|re| re.is_match(&running.seen));
        let error = result.error.as_deref().map(|e| self.runbook.redact(e));
        // A key the operator's --accept-new-host-keys let a connection record: journaled
        // before the outcome of the step that connected.
        let mut notices = Vec::new();
        for (host, fingerprint) in self.exec.take_accepted_keys() {
            notices.push(self.write(Event::HostKeyAccepted {
                host,
                fingerprint,
                operator: self.operator.clone(),
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
            phase: launch.step.phase.into(),
            step: self.step_name(&launch.step),
            host: launch.host.clone(),
            attempt: launch.attempt,
            outcome,
            exit_code: result.exit_code,
            duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
            error: error.clone(),
        })?;
        notices.push(notice);
        let effects = self.engine.handle(Input::StepFinished {
            attempt,
            outcome,
            exit_code: result.exit_code,
            duration: result.duration,
            error,
            output_matched,
        });
        notices.extend(self.apply(effects)?);
        Ok(notices)
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
                        phase: launch.step.phase.into(),
                        step: self.step_name(&launch.step),
                        host: launch.host.clone(),
                        attempt: launch.attempt,
                        command: command.shown.clone(),
                    })?;
                    notices.push(notice);
                    // Sent by `settle`, once the `step_started` is on disk.
                    self.queued.push((
                        launch,
                        Queued {
                            command: command.text,
                            timeout,
                            matcher: expect_output,
                            expect_exit,
                        },
                    ));
                }
                Effect::AskApproval { step, commands } => {
                    notices.push(Notice::AskApproval {
                        step,
                        commands: commands.into_iter().map(|(h, c)| (h, c.shown)).collect(),
                    });
                }
                Effect::AskManual { step, instruction } => {
                    notices.push(Notice::AskManual {
                        step,
                        instruction: instruction.shown,
                    });
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
                Effect::Finished { services } => {
                    self.finished = Some(services.clone());
                    notices.push(Notice::Idle { services });
                }
            }
        }
        Ok(notices)
    }

    fn launch(&mut self, launch: Launch, queued: Queued) {
        let Queued {
            command,
            timeout,
            matcher,
            expect_exit,
        } = queued;
        let attempt = launch.attempt_id;
        let token = self.stop.child_token();
        let exec = self.exec.clone();
        let tx = self.tx.clone();
        let host = launch.host.clone();
        tokio::spawn(async move {
            let (out_tx, mut out_rx) = mpsc::channel::<String>(OUTPUT_CHANNEL);
            let forward_tx = tx.clone();
            let forward = tokio::spawn(async move {
                while let Some(line) = out_rx.recv().await {
                    if forward_tx
                        .send(Message::Output { attempt, line })
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
            },
        );
    }

    fn step_name(&self, step: &StepRef) -> String {
        step_name(&self.runbook, step)
    }
}

/// The name of the step a `StepRef` points at (verification re-runs the checks).
pub fn step_name(runbook: &Runbook, step: &StepRef) -> String {
    use crate::engine::state::PhaseKey;
    let Some(service) = runbook.services.iter().find(|s| s.id == step.service) else {
        return String::new();
    };
    let steps = match step.phase {
        PhaseKey::Check | PhaseKey::Verify => &service.checks,
        PhaseKey::Restore => &service.restores,
        PhaseKey::Inject => &service.injects,
    };
    steps
        .get(step.index)
        .map(|s| s.name.clone())
        .unwrap_or_default()
}

/// SPEC's exit code for a finished run: 0 when every selected service is up.
pub fn exit_code(services: &[(ServiceId, ServiceState)]) -> u8 {
    u8::from(!services.iter().all(|(_, s)| s.is_up()))
}
