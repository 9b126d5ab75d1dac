//! Scenario drills (SPEC "Drills"): the phases baseline → inject → detect → restore → cleanup
//! → finished, and the guards checked before and during them. The one owner of drill
//! semantics: `run --drill --scenario` and the TUI's `drill` both start it with
//! [`Request::StartDrill`](super::Request) and see its phases as `drill_phase` events.
//!
//! It decides nothing the engine decides: a phase feeds the engine the inputs an operator
//! would (check, inject, run the plan) and moves on when the engine has nothing left to do.
//! Guards run beside the engine (they belong to no service and are never retried); a failing
//! one journals `guard_tripped` and sends the drill straight to restoring what was injected.
//! A stop (a signal, a quit) interrupts it: once the stopped steps have reported, what the
//! stop cut short is `unknown` and the plan restores what was injected, unless the operator
//! asks again; `run_finished` lists what is left down.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Driver, MATCH_BUFFER_BYTES, Message, Notice, STEP_CHANNEL, Stopped};
use crate::engine::state::{Phase, StepRef};
use crate::engine::{Input, ServiceState, attempt_failure, passes};
use crate::exec::StepResult;
use crate::fold::{Outage, RunFold};
use crate::journal::event::{DrillOutcome, DrillPhase};
use crate::journal::{Event, JournalError};
use crate::runbook::drill::Scenario;
use crate::runbook::model::{HostId, Runbook, ServiceId};

/// How often a service not yet seen down after its inject is checked again.
const DETECT_EVERY: Duration = Duration::from_millis(250);
/// Detection gives up after the service's slowest check × its attempts, within these bounds.
const DETECT_MIN: Duration = Duration::from_secs(5);
const DETECT_MAX: Duration = Duration::from_secs(60);

/// A drill under way (or ended: `phase` is `Finished`).
pub(super) struct Drill {
    scenario: Scenario,
    phase: DrillPhase,
    /// The next service of `scenario.services` to inject.
    next: usize,
    /// Services whose inject started, in order.
    injected: Vec<ServiceId>,
    /// The run's picture since the drill began, folded from what the driver journals: each
    /// inject's outage (detected, restored, its time) is measured there, as every report
    /// measures it.
    picture: RunFold,
    /// Detection gives up at this instant.
    detect_deadline: Option<Instant>,
    /// A detect re-check is scheduled.
    wake_pending: bool,
    /// Per guard: hosts whose run of the current round has not reported.
    rounds_out: Vec<usize>,
    /// The first guard that failed (its name).
    tripped: Option<String>,
    /// What went wrong on the way (an inject that broke nothing), for the final reason.
    problems: Vec<String>,
    /// Injected services' states and reasons when the restore phase ended.
    after_restore: HashMap<ServiceId, (ServiceState, Option<String>)>,
    outcome: Option<DrillOutcome>,
    /// Cancels guard runs and timers when the drill ends.
    quiet: CancellationToken,
    /// The phase a stop (a signal, a quit) interrupted: the drill moves on no more.
    interrupted: Option<DrillPhase>,
    /// Recalled from a resumed journal and not continued yet: it moves on once the front
    /// end's `StartDrill` names its scenario (after the resume's re-checks are under way).
    recalled: Recalled,
}

/// Whether a drill was recalled from a resumed journal and waits to be continued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recalled {
    No,
    Waiting,
    /// It had ended with a verdict of its own: the resume goes on as any resume.
    Ended,
    Continued,
}

impl Drill {
    /// The journal recorded `event` at `ts`: what the drill measures from it.
    pub(super) fn observe(&mut self, seq: u64, ts: chrono::DateTime<chrono::Utc>, event: &Event) {
        self.picture.push_event(seq, ts, event);
    }

    /// The outage an injected service's inject made, as the run's fold measures it.
    fn inject_outage(&self, service: &ServiceId) -> Option<Outage> {
        self.picture.inject_outage(service)
    }

    /// Seen down or partial since its inject.
    fn detected(&self, service: &ServiceId) -> bool {
        self.injected.contains(service)
            && self
                .inject_outage(service)
                .is_some_and(|o| o.detected.is_some())
    }

    pub(super) fn phase(&self) -> DrillPhase {
        self.phase
    }

    pub(super) fn outcome(&self) -> Option<DrillOutcome> {
        self.outcome
    }

    fn guarding(&self) -> bool {
        self.tripped.is_none()
            && matches!(
                self.phase,
                DrillPhase::Inject | DrillPhase::Detect | DrillPhase::Restore
            )
    }
}

/// What a guard's run on one host reported.
#[derive(Debug)]
pub struct GuardReport {
    pub(super) guard: usize,
    pub(super) host: HostId,
    pub(super) result: StepResult,
    pub(super) output_matched: Option<bool>,
}

impl Driver {
    /// The drill's phase now, when this run is a scenario drill.
    pub fn drill_phase(&self) -> Option<DrillPhase> {
        self.drill.as_ref().map(Drill::phase)
    }

    /// A drill is under way: started and not finished (a stop then restores what it injected).
    pub fn drill_under_way(&self) -> bool {
        self.drill_phase()
            .is_some_and(|p| p != DrillPhase::Finished)
    }

    /// How the drill ended, once it has.
    pub fn drill_outcome(&self) -> Option<DrillOutcome> {
        self.drill.as_ref().and_then(Drill::outcome)
    }

    /// [`Request::StartDrill`](super::Request): the baseline — check every scenario service
    /// and run every guard once.
    pub(super) fn start_drill(&mut self, id: &str) -> Result<Vec<Notice>, JournalError> {
        if let Some(drill) = &self.drill {
            if drill.recalled == Recalled::Waiting && drill.scenario.id == id {
                return self.continue_drill();
            }
            if drill.recalled == Recalled::Waiting {
                return Ok(vec![Notice::Refused(format!(
                    "the journal records a drill of scenario '{}', not '{id}'",
                    drill.scenario.id
                ))]);
            }
            if drill.recalled == Recalled::Ended {
                // Its verdict stands; the resume goes on as any resume: the plan restores
                // what its checks find down, and the run ends when nothing is left to do.
                let said = format!(
                    "the drill of scenario '{}' this journal records already ended ({}); restoring what is down, as any resume",
                    drill.scenario.id,
                    drill.outcome.map_or("ended", |o| match o {
                        DrillOutcome::Passed => "passed",
                        DrillOutcome::Failed => "failed",
                    })
                );
                if let Some(drill) = &mut self.drill {
                    drill.recalled = Recalled::Continued;
                }
                let effects = self.engine.handle(Input::RunPlan);
                let mut notices = self.apply(effects)?;
                notices.push(Notice::Refused(said));
                return Ok(notices);
            }
            return Ok(vec![Notice::Refused("a drill is already under way".into())]);
        }
        let Some(scenario) = self.runbook.drills.scenario(id).cloned() else {
            let ids: Vec<String> = self
                .runbook
                .drills
                .scenarios
                .iter()
                .map(|s| format!("'{}'", s.id))
                .collect();
            return Ok(vec![Notice::Refused(format!(
                "no scenario '{id}' in this runbook; its scenarios: {}",
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(", ")
                }
            ))]);
        };
        let guards = self.runbook.drills.guards.len();
        self.finished = None;
        self.drill = Some(Drill {
            scenario,
            phase: DrillPhase::Baseline,
            next: 0,
            injected: Vec::new(),
            picture: RunFold::default(),
            detect_deadline: None,
            wake_pending: false,
            rounds_out: vec![0; guards],
            tripped: None,
            problems: Vec::new(),
            after_restore: HashMap::new(),
            outcome: None,
            quiet: self.stop.child_token(),
            interrupted: None,
            recalled: Recalled::No,
        });
        let mut notices = vec![self.drill_event(DrillPhase::Baseline, None, None)?];
        for service in self.drill_services() {
            let effects = self.engine.handle(Input::Check(service));
            notices.extend(self.apply(effects)?);
        }
        for guard in 0..guards {
            self.guard_round(guard);
        }
        Ok(notices)
    }

    /// `--resume` of a drill's journal: the drill of scenario `id` as `history` records it,
    /// waiting for the front end's `StartDrill(id)` to continue it (SPEC "Resume": the
    /// journal is the authority). It goes on in the phase it was in when it was stopped or
    /// killed (a stop's restoring aside, which the continued drill does again); what was
    /// injected stays injected and is not injected again, step by step: a service stopped
    /// between its inject steps goes on with those never started; a guard that tripped stays
    /// tripped. A drill that ended with a verdict of its own (not by an interruption) stays
    /// ended. Nothing is recalled when the journal's drill never began.
    pub fn recall_drill(&mut self, id: &str, history: &[crate::journal::Record]) {
        let picture = RunFold::of(history);
        if picture.drill.phases.is_empty() {
            return;
        }
        let Some(scenario) = self.runbook.drills.scenario(id).cloned() else {
            return;
        };
        let phase = recalled_phase(history);
        let concluded = phase == DrillPhase::Finished;
        let injected: Vec<ServiceId> = scenario
            .services
            .iter()
            .filter(|s| {
                picture
                    .services
                    .get(*s)
                    .is_some_and(|f| f.injected_at.is_some())
            })
            .cloned()
            .collect();
        let tripped = picture.drill.guards.first().map(|g| g.guard.clone());
        let started = injects_started(history, &self.runbook);
        let next = next_to_inject(
            &self.runbook,
            &scenario,
            &injected,
            &started,
            phase == DrillPhase::Inject && tripped.is_none(),
        );
        // The inject steps started are never started again; a service's others run.
        self.engine.recall_injects(&started);
        let mut problems = Vec::new();
        if !concluded && phase as u8 > DrillPhase::Detect as u8 {
            for service in &injected {
                if picture
                    .inject_outage(service)
                    .is_none_or(|o| o.detected.is_none())
                {
                    problems.push(format!(
                        "{service} was not seen down after its inject before the drill was interrupted"
                    ));
                }
            }
        }
        if !concluded && phase as u8 > DrillPhase::Inject as u8 && tripped.is_none() {
            for service in scenario.services.iter().filter(|s| !injected.contains(s)) {
                problems.push(format!(
                    "{service} was not injected: the drill was interrupted before its inject"
                ));
            }
        }
        let guards = self.runbook.drills.guards.len();
        let outcome = if concluded {
            picture.drill.outcome
        } else {
            None
        };
        self.drill = Some(Drill {
            scenario,
            phase,
            next,
            injected,
            picture,
            detect_deadline: None,
            wake_pending: false,
            rounds_out: vec![0; guards],
            tripped,
            problems,
            after_restore: HashMap::new(),
            outcome,
            quiet: self.stop.child_token(),
            interrupted: None,
            recalled: if concluded {
                Recalled::Ended
            } else {
                Recalled::Waiting
            },
        });
    }

    /// The recalled drill goes on from its phase: the phase is journaled again, saying so,
    /// and its work resumes (guards run again; an inject already started is not redone).
    fn continue_drill(&mut self) -> Result<Vec<Notice>, JournalError> {
        let bound = self.detect_bound();
        let Some(drill) = &mut self.drill else {
            return Ok(Vec::new());
        };
        drill.recalled = Recalled::Continued;
        self.finished = None;
        let phase = drill.phase;
        let reason = format!(
            "continued after a resume, in the {} phase; injected before: {}",
            crate::export::describe::drill_phase_word(phase),
            if drill.injected.is_empty() {
                "none".to_string()
            } else {
                crate::export::describe::service_list(&drill.injected)
            }
        );
        if phase == DrillPhase::Detect {
            drill.detect_deadline = Some(Instant::now() + bound);
        }
        let mut notices = Vec::new();
        match phase {
            DrillPhase::Restore => self.restore_phase(&mut notices, Some(reason))?,
            DrillPhase::Cleanup => self.cleanup_phase(&mut notices, Some(reason))?,
            phase => notices.push(self.drill_event(phase, None, Some(reason))?),
        }
        if phase != DrillPhase::Cleanup {
            for guard in 0..self.runbook.drills.guards.len() {
                self.guard_round(guard);
            }
        }
        Ok(notices)
    }

    /// A drill's own report: a guard's result, a guard due again, a detect re-check.
    pub(super) fn on_drill_message(
        &mut self,
        message: Message,
    ) -> Result<Vec<Notice>, JournalError> {
        let Some(drill) = &mut self.drill else {
            return Ok(Vec::new());
        };
        match message {
            Message::Guard(report) => self.on_guard(report),
            Message::GuardDue(guard) => {
                if drill.guarding() && !self.stop.is_cancelled() {
                    self.guard_round(guard);
                }
                Ok(Vec::new())
            }
            Message::DrillWake => {
                drill.wake_pending = false;
                let mut notices = Vec::new();
                if drill.phase == DrillPhase::Detect && !self.stop.is_cancelled() {
                    for service in self.undetected() {
                        let effects = self.engine.handle(Input::Check(service));
                        notices.extend(self.apply(effects)?);
                    }
                }
                Ok(notices)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// After every call: move the drill on as far as the engine's state allows.
    pub(super) fn advance_drill(&mut self) -> Result<Vec<Notice>, JournalError> {
        let mut notices = Vec::new();
        while let Some(drill) = &self.drill {
            if drill.phase == DrillPhase::Finished
                || drill.recalled == Recalled::Waiting
                || drill.interrupted.is_some()
                || self.stop.is_cancelled()
                || self.engine.is_stopped()
                || self.broken
            {
                break;
            }
            let moved = match drill.phase {
                DrillPhase::Baseline => self.baseline_done(&mut notices)?,
                DrillPhase::Inject => self.inject_next(&mut notices)?,
                DrillPhase::Detect => self.detect_done(&mut notices)?,
                DrillPhase::Restore => {
                    if self.engine.is_idle() {
                        self.enter_cleanup(&mut notices)?;
                        true
                    } else {
                        false
                    }
                }
                DrillPhase::Cleanup => {
                    if self.engine.is_idle() {
                        self.conclude_drill(&mut notices)?;
                        true
                    } else {
                        false
                    }
                }
                DrillPhase::Finished => false,
            };
            if !moved {
                break;
            }
        }
        Ok(notices)
    }

    /// The run ended before the drill did (a signal, a quit): it cannot have passed. What a
    /// stop cut short is `unknown` first, so no state recorded at the end predates the last
    /// inject or restore of its service; the reason names what is left down.
    pub(super) fn interrupt_drill(&mut self) -> Result<Vec<Notice>, JournalError> {
        let Some(drill) = &mut self.drill else {
            return Ok(Vec::new());
        };
        if drill.phase == DrillPhase::Finished {
            return Ok(Vec::new());
        }
        let phase = *drill.interrupted.get_or_insert(drill.phase);
        drill.quiet.cancel();
        let mut notices = Vec::new();
        if self.engine.is_stopped() {
            let effects = self.engine.handle(Input::Forget);
            notices.extend(self.apply(effects)?);
        }
        let mut reason = format!(
            "{INTERRUPTED_IN}{} phase, before the drill ended",
            crate::export::describe::drill_phase_word(phase)
        );
        match self.left_down() {
            Some(left) if !left.is_empty() => {
                let _ = write!(
                    reason,
                    "; left down: {} (injected and not seen healthy again)",
                    crate::export::describe::service_list(&left)
                );
            }
            _ if self.injected_services().is_empty() => {}
            _ => reason.push_str("; every injected service is back"),
        }
        if let Some(drill) = &mut self.drill {
            drill.outcome = Some(DrillOutcome::Failed);
        }
        notices.push(self.drill_event(
            DrillPhase::Finished,
            Some(DrillOutcome::Failed),
            Some(reason),
        )?);
        Ok(notices)
    }

    /// A drill's services injected (an inject step started) and not up by their latest
    /// check, in the order injected: what `run_finished` lists as `left_down`. `None` when
    /// this run is not a drill.
    pub fn left_down(&self) -> Option<Vec<ServiceId>> {
        self.drill.as_ref()?;
        Some(
            self.injected_services()
                .into_iter()
                .filter(|s| self.engine.service(s).is_none_or(|v| !v.state.is_up()))
                .collect(),
        )
    }

    /// Services whose inject step started, in order.
    fn injected_services(&self) -> Vec<ServiceId> {
        self.drill.as_ref().map_or_else(Vec::new, |d| {
            d.injected
                .iter()
                .filter(|s| {
                    d.picture
                        .services
                        .get(*s)
                        .is_some_and(|p| p.injected_at.is_some())
                })
                .cloned()
                .collect()
        })
    }

    /// After the stop that interrupted a drill, once every stopped step has reported: what
    /// the stop cut short becomes `unknown`; then, when something was injected, the run takes
    /// requests again and the plan checks and restores what is down, in plan order as the
    /// restore phase does. Nobody is asked anything now: a step that needs an operator's
    /// answer is not run, and its service is left down. `leave` (the operator asked again)
    /// skips the rest: what runs is stopped and waited for (at most `grace`).
    pub(super) async fn restore_interrupted_drill<L: Future<Output = ()>>(
        &mut self,
        inbox: &mut super::Inbox,
        grace: Duration,
        mut leave: Pin<&mut L>,
        show: &mut impl FnMut(Vec<Notice>),
    ) -> Stopped {
        let Some(drill) = &mut self.drill else {
            return Stopped::All;
        };
        if drill.phase == DrillPhase::Finished || self.broken {
            return Stopped::All;
        }
        let phase = *drill.interrupted.get_or_insert(drill.phase);
        drill.quiet.cancel();
        let broken = self.injected_services();
        if broken.is_empty() {
            return Stopped::All;
        }
        // Steps launched from now on need a token the stop has not cancelled; a shared run's
        // lost lease cancels this one at once too.
        self.stop = CancellationToken::new();
        if let Some(run) = self.journal.shared_run() {
            let stop = self.stop.clone();
            run.on_lost(move |_| stop.cancel());
        }
        let reason = format!(
            "{INTERRUPTED_IN}{} phase: restoring what was injected ({})",
            crate::export::describe::drill_phase_word(phase),
            crate::export::describe::service_list(&broken)
        );
        // What the stop cut short is `unknown` first; then the plan runs again.
        let effects = self.engine.handle(Input::Forget);
        let r = self.apply(effects).and_then(|mut notices| {
            notices.push(self.drill_event(DrillPhase::Restore, None, Some(reason))?);
            for input in [Input::Reopen, Input::RunPlan] {
                let effects = self.engine.handle(input);
                notices.extend(self.apply(effects)?);
            }
            Ok(notices)
        });
        match self.settle(r) {
            Ok(n) => show(unasked(n)),
            Err(e) => {
                self.broke(&e);
                return self.wait_running(inbox, grace, leave, show).await;
            }
        }
        while self.busy() || self.engine.in_flight() {
            tokio::select! {
                biased;
                batch = inbox.next() => match batch {
                    Some(batch) => match self.on_messages(batch) {
                        Ok(n) => show(unasked(n)),
                        Err(e) => {
                            self.broke(&e);
                            return self.wait_running(inbox, grace, leave, show).await;
                        }
                    },
                    None => break,
                },
                () = &mut leave => {
                    self.stop_now(show);
                    let never = std::pin::pin!(std::future::pending::<()>());
                    return self.wait_running(inbox, grace, never, show).await;
                }
            }
        }
        // Only questions are left: nobody answers them now.
        if !self.engine.is_idle() {
            self.stop_now(show);
        }
        Stopped::All
    }

    /// Whether the engine's `Finished` is the drill's business (it ends the run only when
    /// the drill has ended).
    pub(super) fn drill_holds_finish(&self) -> bool {
        self.drill
            .as_ref()
            .is_some_and(|d| d.phase != DrillPhase::Finished)
    }

    fn drill_services(&self) -> Vec<ServiceId> {
        self.drill
            .as_ref()
            .map(|d| d.scenario.services.clone())
            .unwrap_or_default()
    }

    fn drill_event(
        &mut self,
        phase: DrillPhase,
        outcome: Option<DrillOutcome>,
        reason: Option<String>,
    ) -> Result<Notice, JournalError> {
        let scenario = self
            .drill
            .as_ref()
            .map(|d| d.scenario.id.clone())
            .unwrap_or_default();
        if let Some(drill) = &mut self.drill {
            drill.phase = phase;
        }
        self.write(Event::DrillPhase {
            scenario,
            phase,
            outcome,
            reason: reason.map(|r| self.runbook.redact(&r)),
        })
    }

    fn guards_out(&self) -> usize {
        self.drill.as_ref().map_or(0, |d| d.rounds_out.iter().sum())
    }

    fn baseline_done(&mut self, notices: &mut Vec<Notice>) -> Result<bool, JournalError> {
        if !self.engine.is_idle() || self.guards_out() > 0 {
            return Ok(false);
        }
        let mut why: Vec<String> = Vec::new();
        if let Some(guard) = self.drill.as_ref().and_then(|d| d.tripped.clone()) {
            why.push(format!("guard '{guard}' tripped"));
        }
        for service in self.drill_services() {
            let Some(view) = self.engine.service(&service) else {
                continue;
            };
            if !view.state.is_up() {
                why.push(format!(
                    "{service} is {} before the drill: {}",
                    view.state,
                    view.reason.as_deref().unwrap_or("its checks did not pass")
                ));
            }
        }
        if why.is_empty() {
            notices.push(self.drill_event(DrillPhase::Inject, None, None)?);
            for guard in 0..self.runbook.drills.guards.len() {
                self.guard_round(guard);
            }
        } else {
            let reason = format!("{}; nothing was injected", why.join("; "));
            notices.push(self.drill_event(
                DrillPhase::Baseline,
                Some(DrillOutcome::Failed),
                Some(reason),
            )?);
            self.end_drill(DrillOutcome::Failed, notices);
        }
        Ok(true)
    }

    fn inject_next(&mut self, notices: &mut Vec<Notice>) -> Result<bool, JournalError> {
        if !self.engine.is_idle() {
            return Ok(false);
        }
        let Some(drill) = &mut self.drill else {
            return Ok(false);
        };
        if drill.tripped.is_some() {
            // Straight to restoring what was injected.
            self.enter_restore(notices)?;
            return Ok(true);
        }
        let Some(service) = drill.scenario.services.get(drill.next).cloned() else {
            let bound = self.detect_bound();
            if let Some(drill) = &mut self.drill {
                drill.detect_deadline = Some(Instant::now() + bound);
            }
            notices.push(self.drill_event(DrillPhase::Detect, None, None)?);
            return Ok(true);
        };
        drill.next += 1;
        // Injected in part before a resume: already counted, its other steps run now.
        let before = drill.injected.contains(&service);
        if !before {
            drill.injected.push(service.clone());
        }
        let effects = self.engine.handle(Input::Inject(service.clone()));
        if effects.is_empty()
            && let Some(drill) = &mut self.drill
        {
            if !before {
                drill.injected.retain(|s| s != &service);
            }
            drill
                .problems
                .push(format!("{service} could not be injected (it was busy)"));
        }
        notices.extend(self.apply(effects)?);
        Ok(true)
    }

    /// Injected services not seen down yet.
    fn undetected(&self) -> Vec<ServiceId> {
        let Some(drill) = &self.drill else {
            return Vec::new();
        };
        drill
            .injected
            .iter()
            .filter(|s| !drill.detected(s))
            .filter(|s| self.engine.service(s).is_some_and(|v| !v.state.is_busy()))
            .cloned()
            .collect()
    }

    /// How long detection waits for the slowest injected service: its checks' timeout × the
    /// attempts they get.
    fn detect_bound(&self) -> Duration {
        let Some(drill) = &self.drill else {
            return DETECT_MIN;
        };
        drill
            .scenario
            .services
            .iter()
            .filter_map(|id| self.runbook.services.iter().find(|s| &s.id == id))
            .flat_map(|s| &s.checks)
            .map(|c| c.timeout * (c.retries + 1))
            .max()
            .unwrap_or(DETECT_MIN)
            .clamp(DETECT_MIN, DETECT_MAX)
    }

    fn detect_done(&mut self, notices: &mut Vec<Notice>) -> Result<bool, JournalError> {
        let Some(drill) = &self.drill else {
            return Ok(false);
        };
        let missing: Vec<ServiceId> = drill
            .injected
            .iter()
            .filter(|s| !drill.detected(s))
            .cloned()
            .collect();
        if missing.is_empty() || drill.tripped.is_some() {
            self.enter_restore(notices)?;
            return Ok(true);
        }
        if !self.engine.is_idle() || drill.wake_pending {
            return Ok(false);
        }
        let deadline = drill.detect_deadline.unwrap_or_else(Instant::now);
        if Instant::now() >= deadline {
            let bound = self.detect_bound();
            for service in missing {
                let state = self
                    .engine
                    .service(&service)
                    .map_or(ServiceState::Unknown, |v| v.state);
                if let Some(drill) = &mut self.drill {
                    drill.problems.push(format!(
                        "{service} was not seen down within {} of its inject (it is {state}): the inject did not break it",
                        crate::export::metrics::human_ms(
                            i64::try_from(bound.as_millis()).unwrap_or(i64::MAX)
                        )
                    ));
                }
            }
            self.enter_restore(notices)?;
            return Ok(true);
        }
        self.drill_timer(Message::DrillWake, DETECT_EVERY);
        if let Some(drill) = &mut self.drill {
            drill.wake_pending = true;
        }
        Ok(false)
    }

    fn enter_restore(&mut self, notices: &mut Vec<Notice>) -> Result<(), JournalError> {
        self.restore_phase(notices, None)
    }

    /// The restore phase begins (`reason`: why, when it is not the detect phase's end).
    fn restore_phase(
        &mut self,
        notices: &mut Vec<Notice>,
        reason: Option<String>,
    ) -> Result<(), JournalError> {
        notices.push(self.drill_event(DrillPhase::Restore, None, reason)?);
        // The normal path: the plan restores what is down among the scenario's services, in
        // tier and dependency order, with approvals and verification.
        let effects = self.engine.handle(Input::RunPlan);
        notices.extend(self.apply(effects)?);
        Ok(())
    }

    fn enter_cleanup(&mut self, notices: &mut Vec<Notice>) -> Result<(), JournalError> {
        self.cleanup_phase(notices, None)
    }

    /// The cleanup phase begins (`reason`: why, when it is not the restore phase's end).
    fn cleanup_phase(
        &mut self,
        notices: &mut Vec<Notice>,
        reason: Option<String>,
    ) -> Result<(), JournalError> {
        let injected = self
            .drill
            .as_ref()
            .map(|d| d.injected.clone())
            .unwrap_or_default();
        let after: HashMap<ServiceId, (ServiceState, Option<String>)> = injected
            .iter()
            .filter_map(|s| {
                let v = self.engine.service(s)?;
                Some((s.clone(), (v.state, v.reason.clone())))
            })
            .collect();
        if let Some(drill) = &mut self.drill {
            drill.after_restore = after;
        }
        notices.push(self.drill_event(DrillPhase::Cleanup, None, reason)?);
        // Cleanup only checks: a blocked service whose checks now pass must not let the plan
        // restore its dependents after the restore phase has ended.
        let effects = self.engine.handle(Input::SetAuto(false));
        notices.extend(self.apply(effects)?);
        for service in injected {
            let effects = self.engine.handle(Input::Check(service));
            notices.extend(self.apply(effects)?);
        }
        Ok(())
    }

    fn conclude_drill(&mut self, notices: &mut Vec<Notice>) -> Result<(), JournalError> {
        let Some(drill) = &self.drill else {
            return Ok(());
        };
        let mut failed: Vec<String> = Vec::new();
        let mut met: Vec<String> = Vec::new();
        if let Some(guard) = &drill.tripped {
            failed.push(format!("guard '{guard}' tripped"));
        }
        failed.extend(drill.problems.iter().cloned());
        for service in &drill.injected {
            let rto = self
                .runbook
                .services
                .iter()
                .find(|s| &s.id == service)
                .and_then(|s| s.rto);
            let now = self.engine.service(service);
            let state = now.map_or(ServiceState::Unknown, |v| v.state);
            // The inject's outage as the fold measures it: from the inject to up again.
            let took = drill
                .inject_outage(service)
                .and_then(|o| o.time_to_restore_ms);
            if !drill.detected(service) {
                // Already told in `problems`.
                continue;
            }
            let (before, why) = drill
                .after_restore
                .get(service)
                .cloned()
                .unwrap_or((state, None));
            // Up at the end of the restore phase and at cleanup: anything else is a restore
            // that did not finish, whatever a later check says.
            if !state.is_up() || !before.is_up() {
                let why = why
                    .or_else(|| now.and_then(|v| v.reason.clone()))
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default();
                failed.push(match before {
                    ServiceState::Failed => format!("{service}: restore failed{why}"),
                    s if s.is_up() => {
                        format!("{service}: restored, then failed its cleanup check{why}")
                    }
                    s => format!("{service}: not restored (it is {s}){why}"),
                });
                continue;
            }
            let Some(took) = took else {
                failed.push(format!(
                    "{service}: up, but when it came back is not recorded"
                ));
                continue;
            };
            let rto_ms = rto.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            match rto_ms {
                Some(limit) if took > limit => failed.push(format!(
                    "{service}: back in {} after its inject, RTO {} missed by {}",
                    exact_ms(took),
                    rto_text(rto),
                    exact_ms(took - limit)
                )),
                _ => met.push(format!(
                    "{service} {}{}",
                    exact_ms(took),
                    rto.map(|_| format!(" (RTO {})", rto_text(rto)))
                        .unwrap_or_default()
                )),
            }
        }
        let outcome = if failed.is_empty() {
            DrillOutcome::Passed
        } else {
            DrillOutcome::Failed
        };
        let mut reason = String::new();
        if failed.is_empty() {
            reason.push_str("every injected service is back within its RTO");
        } else {
            reason.push_str(&failed.join("; "));
        }
        if !met.is_empty() {
            let _ = write!(reason, "; time to restore from inject: {}", met.join(", "));
        }
        notices.push(self.drill_event(DrillPhase::Finished, Some(outcome), Some(reason))?);
        self.end_drill(outcome, notices);
        Ok(())
    }

    /// The drill is over: guards and timers stop; the run may end now.
    fn end_drill(&mut self, outcome: DrillOutcome, notices: &mut Vec<Notice>) {
        if let Some(drill) = &mut self.drill {
            drill.phase = DrillPhase::Finished;
            drill.outcome = Some(outcome);
            drill.quiet.cancel();
        }
        let services = self.engine.selected_states();
        self.finished = Some(services.clone());
        notices.push(Notice::Idle { services });
    }

    /// Run `guard` once on each of its hosts.
    fn guard_round(&mut self, guard: usize) {
        let Some(drill) = &mut self.drill else {
            return;
        };
        let Some(spec) = self.runbook.drills.guards.get(guard) else {
            return;
        };
        if drill.rounds_out[guard] > 0 {
            return;
        }
        drill.rounds_out[guard] = spec.step.hosts.len();
        for host in &spec.step.hosts {
            let command = self.runbook.expand_guard(spec, host).text;
            let timeout = spec.step.timeout;
            let matcher = spec.step.expect_output.clone();
            let exec = self.exec.clone();
            let tx = self.tx.clone();
            let token = drill.quiet.child_token();
            let host = host.clone();
            tokio::spawn(async move {
                let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(STEP_CHANNEL);
                let seen = tokio::spawn(async move {
                    let mut seen = String::new();
                    while let Some(bytes) = out_rx.recv().await {
                        if seen.len() < MATCH_BUFFER_BYTES {
                            seen.push_str(&String::from_utf8_lossy(&bytes));
                        }
                    }
                    seen
                });
                let result = exec.run(&host, &command, timeout, out_tx, token).await;
                let seen = seen.await.unwrap_or_default();
                let output_matched = matcher.map(|re| re.is_match(&seen));
                let _ = tx
                    .send(Message::Guard(GuardReport {
                        guard,
                        host,
                        result,
                        output_matched,
                    }))
                    .await;
            });
        }
    }

    fn on_guard(&mut self, report: GuardReport) -> Result<Vec<Notice>, JournalError> {
        let GuardReport {
            guard,
            host,
            result,
            output_matched,
        } = report;
        let Some(spec) = self.runbook.drills.guards.get(guard) else {
            return Ok(Vec::new());
        };
        let Some(drill) = &mut self.drill else {
            return Ok(Vec::new());
        };
        if let Some(out) = drill.rounds_out.get_mut(guard) {
            *out = out.saturating_sub(1);
        }
        let ended = drill.phase == DrillPhase::Finished || drill.quiet.is_cancelled();
        let pass = passes(
            result.outcome,
            result.exit_code,
            output_matched,
            spec.step.expect_exit,
            spec.step.expect_output.is_some(),
        );
        let mut notices = Vec::new();
        if !pass && !ended && drill.tripped.is_none() {
            drill.tripped = Some(spec.step.name.clone());
            let error = result.error.clone().or_else(|| {
                attempt_failure(&spec.step, result.outcome, result.exit_code, output_matched)
            });
            let event = Event::GuardTripped {
                guard: spec.step.name.clone(),
                host,
                exit_code: result.exit_code,
                error: error.map(|e| self.runbook.redact(&e)),
            };
            notices.push(self.write(event)?);
        } else if pass
            && drill.guarding()
            && drill.rounds_out.get(guard) == Some(&0)
            && !self.stop.is_cancelled()
        {
            let every = spec.every;
            self.drill_timer(Message::GuardDue(guard), every);
        }
        Ok(notices)
    }

    /// Send `message` back after `after`, unless the drill ends or the run stops first.
    fn drill_timer(&self, message: Message, after: Duration) {
        let Some(drill) = &self.drill else {
            return;
        };
        let tx = self.tx.clone();
        let quiet = drill.quiet.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(after) => {
                    let _ = tx.send(message).await;
                }
                () = quiet.cancelled() => {}
            }
        });
    }
}

/// The inject steps whose `step_started` the journal records (on any host), as steps of
/// `runbook`: an inject counts as done once it started.
fn injects_started(history: &[crate::journal::Record], runbook: &Runbook) -> Vec<StepRef> {
    let mut started: Vec<StepRef> = Vec::new();
    for r in history {
        if let Event::StepStarted {
            service,
            phase: Phase::Inject,
            step,
            ..
        } = &r.event
            && let Some(found) = StepRef::named(runbook, service, Phase::Inject, step)
            && !started.contains(&found)
        {
            started.push(found);
        }
    }
    started
}

/// Where a resumed drill's injects go on: the index in the scenario of the next service to
/// inject. After the last service injected (an inject step of it started), unless it is
/// `in_inject` (the drill stopped in its inject phase, no guard tripped) and some of its
/// inject steps never started: then that service again, for those.
fn next_to_inject(
    runbook: &Runbook,
    scenario: &Scenario,
    injected: &[ServiceId],
    started: &[StepRef],
    in_inject: bool,
) -> usize {
    let Some(last) = scenario.services.iter().rposition(|s| injected.contains(s)) else {
        return 0;
    };
    let service = &scenario.services[last];
    let partly = runbook
        .services
        .iter()
        .find(|s| &s.id == service)
        .is_some_and(|s| {
            (0..s.injects.len()).any(|index| {
                !started.contains(&StepRef {
                    service: service.clone(),
                    phase: Phase::Inject,
                    index,
                })
            })
        });
    if in_inject && partly { last } else { last + 1 }
}

/// Where a resumed journal's drill stood, by its latest `drill_phase`: a phase under way
/// (it was killed); the phase a stop interrupted, which the stop's verdict names; else
/// `Finished`: it ended with a verdict of its own (or its baseline refused it).
fn recalled_phase(history: &[crate::journal::Record]) -> DrillPhase {
    let latest = history.iter().rev().find_map(|r| match &r.event {
        Event::DrillPhase {
            phase,
            outcome,
            reason,
            ..
        } => Some((*phase, *outcome, reason.as_deref())),
        _ => None,
    });
    match latest {
        None => DrillPhase::Baseline,
        // Killed while a stop restored what it injected: the phase the stop interrupted.
        Some((phase, None, reason)) if phase != DrillPhase::Finished => {
            reason.and_then(interrupted_in).unwrap_or(phase)
        }
        Some((DrillPhase::Finished, Some(_), Some(reason))) => {
            interrupted_in(reason).unwrap_or(DrillPhase::Finished)
        }
        Some(_) => DrillPhase::Finished,
    }
}

/// How the reasons of an interrupted drill's `drill_phase` events begin, before the phase's
/// word: a resumed drill goes on from the phase its verdict names.
const INTERRUPTED_IN: &str = "interrupted in the ";

/// The phase an interrupted drill's reason names ([`INTERRUPTED_IN`]).
fn interrupted_in(reason: &str) -> Option<DrillPhase> {
    let rest = reason.strip_prefix(INTERRUPTED_IN)?;
    [
        DrillPhase::Baseline,
        DrillPhase::Inject,
        DrillPhase::Detect,
        DrillPhase::Restore,
        DrillPhase::Cleanup,
    ]
    .into_iter()
    .find(|p| {
        rest.strip_prefix(crate::export::describe::drill_phase_word(*p))
            .is_some_and(|r| r.starts_with(" phase"))
    })
}

/// What an interrupted drill's restore shows: nobody is asked anything now.
fn unasked(notices: Vec<Notice>) -> Vec<Notice> {
    notices
        .into_iter()
        .filter(|n| {
            !matches!(
                n,
                Notice::AskApproval { .. } | Notice::AskManual { .. } | Notice::AskHostKey(_)
            )
        })
        .collect()
}

/// `1.234 s`: milliseconds exactly, as the journal's timestamps give them.
pub fn exact_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    format!("{sign}{}.{:03} s", ms / 1000, ms % 1000)
}

fn rto_text(rto: Option<Duration>) -> String {
    rto.map_or_else(String::new, |d| {
        crate::export::metrics::human_ms(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}

#[cfg(test)]
mod tests {
    use super::{DrillOutcome, DrillPhase, Event, exact_ms, interrupted_in, recalled_phase};

    fn records(events: Vec<Event>) -> Vec<crate::journal::Record> {
        let ts = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        (1..)
            .zip(events)
            .map(|(seq, event)| crate::journal::Record {
                seq,
                ts,
                event,
                prev: String::new(),
                hash: String::new(),
            })
            .collect()
    }

    fn phase(phase: DrillPhase, outcome: Option<DrillOutcome>, reason: Option<&str>) -> Event {
        Event::DrillPhase {
            scenario: "all".into(),
            phase,
            outcome,
            reason: reason.map(str::to_string),
        }
    }

    fn ended(outcome: &str) -> Event {
        Event::RunFinished {
            outcome: outcome.into(),
            services: indexmap::IndexMap::new(),
            left_down: None,
        }
    }

    #[test]
    fn a_resumed_drill_goes_on_where_it_was_stopped_or_killed_and_an_ended_one_stays_ended() {
        use DrillPhase::{Baseline, Detect, Finished, Inject, Restore};
        let killed = records(vec![phase(Baseline, None, None), phase(Detect, None, None)]);
        assert_eq!(recalled_phase(&killed), Detect);
        let stopped = records(vec![
            phase(Inject, None, None),
            phase(
                Restore,
                None,
                Some("interrupted in the inject phase: restoring what was injected (dns)"),
            ),
            phase(
                Finished,
                Some(DrillOutcome::Failed),
                Some("interrupted in the inject phase, before the drill ended"),
            ),
            ended("interrupted"),
        ]);
        assert_eq!(recalled_phase(&stopped), Inject);
        // Killed while the stop restored: still the phase the stop interrupted.
        assert_eq!(recalled_phase(&stopped[..2]), Inject);
        let mut passed = stopped.clone();
        passed.extend(records(vec![
            Event::Note {
                operator: "kim".into(),
                text: "resumed".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
            phase(
                Finished,
                Some(DrillOutcome::Passed),
                Some("every injected service is back within its RTO"),
            ),
            ended("restored"),
            ended("interrupted"),
        ]));
        assert_eq!(recalled_phase(&passed), Finished, "its own verdict stands");
        let refused = records(vec![phase(
            Baseline,
            Some(DrillOutcome::Failed),
            Some("db is down before the drill: x; nothing was injected"),
        )]);
        assert_eq!(recalled_phase(&refused), Finished);
    }

    #[test]
    fn an_interrupted_verdict_names_the_phase_a_resume_goes_on_from() {
        let said = "interrupted in the inject phase, before the drill ended; left down: db";
        assert_eq!(interrupted_in(said), Some(DrillPhase::Inject));
        assert_eq!(
            interrupted_in("interrupted in the detect phase: restoring what was injected (db)"),
            Some(DrillPhase::Detect)
        );
        assert_eq!(interrupted_in("every injected service is back"), None);
    }

    #[test]
    fn a_service_whose_inject_steps_did_not_all_start_is_injected_again_for_the_others() {
        use crate::engine::state::{Phase, StepRef};
        use crate::runbook::model::{HostId, ServiceId};
        let toml = "[hosts.box]\ntransport = \"local\"\n\n\
            [[service]]\nid = \"dns\"\nhosts = [\"box\"]\n\
            [[service.check]]\nname = \"up\"\nrun = \"true\"\n\
            [[service.inject]]\nname = \"stop\"\nrun = \"true\"\n\
            [[service.inject]]\nname = \"poison\"\nrun = \"true\"\n\n\
            [[service]]\nid = \"db\"\nhosts = [\"box\"]\n\
            [[service.check]]\nname = \"up\"\nrun = \"true\"\n\
            [[service.inject]]\nname = \"stop\"\nrun = \"true\"\n\n\
            [[scenario]]\nid = \"all\"\ninject = [\"dns\", \"db\"]\n";
        let rb = crate::runbook::load_text(toml, std::path::Path::new("rb.toml"), &[])
            .expect("valid runbook");
        let scenario = rb.drills.scenario("all").expect("scenario").clone();
        let started_event = |step: &str| Event::StepStarted {
            service: ServiceId::new("dns"),
            phase: Phase::Inject,
            step: step.into(),
            host: HostId::new("box"),
            attempt: 1,
            command: "true".into(),
        };
        let dns = [ServiceId::new("dns")];
        // Killed between dns's two inject steps: dns again, for its second one alone.
        let history = records(vec![started_event("stop"), started_event("stop")]);
        let started = super::injects_started(&history, &rb);
        let first = StepRef {
            service: ServiceId::new("dns"),
            phase: Phase::Inject,
            index: 0,
        };
        assert_eq!(started, [first]);
        assert_eq!(
            super::next_to_inject(&rb, &scenario, &dns, &started, true),
            0
        );
        // Out of the inject phase (a guard tripped) nothing more is injected of it.
        assert_eq!(
            super::next_to_inject(&rb, &scenario, &dns, &started, false),
            1
        );
        // Both started: db is next.
        let history = records(vec![started_event("stop"), started_event("poison")]);
        let started = super::injects_started(&history, &rb);
        assert_eq!(started.len(), 2);
        assert_eq!(
            super::next_to_inject(&rb, &scenario, &dns, &started, true),
            1
        );
        assert_eq!(super::next_to_inject(&rb, &scenario, &[], &[], true), 0);
    }

    #[test]
    fn times_to_restore_are_shown_to_the_millisecond() {
        assert_eq!(exact_ms(1234), "1.234 s");
        assert_eq!(exact_ms(5), "0.005 s");
        assert_eq!(exact_ms(61_000), "61.000 s");
    }
}
