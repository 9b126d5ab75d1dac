//! `run`'s questions: each `confirm` step's approval and each manual step's outcome the
//! driver asks for is answered at once (`--yes`; with nobody to ask, left to attached
//! operators of a shared run, declined, or the service left blocked) or shown on the
//! terminal, one at a time, answered by the next line read (`prompt.rs`). A question the
//! engine stops waiting on (an attached operator answered it) is withdrawn.

use std::collections::VecDeque;

use tokio::sync::mpsc::{Receiver, Sender, channel};

use super::progress::Printer;
use super::prompt;
use crate::driver::{self, Driver, Notice};
use crate::engine::{Decision, Input, StepRef};
use crate::journal::JournalError;
use crate::runbook::model::{HostId, Runbook};

/// A question waiting for the operator at the terminal.
enum Ask {
    Approval {
        step: StepRef,
        commands: Vec<(HostId, String)>,
        reason: Option<String>,
    },
    Manual {
        step: StepRef,
        instruction: String,
    },
}

impl Ask {
    fn step(&self) -> &StepRef {
        match self {
            Ask::Approval { step, .. } | Ask::Manual { step, .. } => step,
        }
    }
}

/// The question shown on the terminal now; the next line read answers it.
struct Shown {
    ask: Ask,
    /// The question as printed, shown again when a line does not answer it.
    text: String,
}

pub(super) struct Questions {
    queue: VecDeque<Ask>,
    shown: Option<Shown>,
    /// Lines from the terminal (`None` at its end); read once a question is first shown.
    pub(super) lines: Receiver<Option<String>>,
    reader: Option<Sender<Option<String>>>,
    stdin_open: bool,
}

impl Questions {
    pub(super) fn new(interactive: bool) -> Questions {
        let (tx, lines) = channel(4);
        Questions {
            queue: VecDeque::new(),
            shown: None,
            lines,
            reader: Some(tx),
            stdin_open: interactive,
        }
    }

    /// Nothing shown, nothing queued.
    pub(super) fn idle(&self) -> bool {
        self.shown.is_none() && self.queue.is_empty()
    }

    /// Whether a line from the terminal can come.
    pub(super) fn reading(&self) -> bool {
        self.reader.is_none() && self.stdin_open
    }

    /// Queue the questions the driver asks; drop those it withdraws.
    pub(super) fn queue(&mut self, notices: &[Notice], runbook: &Runbook, printer: &mut Printer) {
        for notice in notices {
            match notice {
                Notice::AskApproval {
                    step,
                    commands,
                    reason,
                } => self.queue.push_back(Ask::Approval {
                    step: step.clone(),
                    commands: commands.clone(),
                    reason: reason.clone(),
                }),
                Notice::AskManual { step, instruction } => self.queue.push_back(Ask::Manual {
                    step: step.clone(),
                    instruction: instruction.clone(),
                }),
                Notice::Withdrawn { step } => self.withdraw(step, runbook, printer),
                _ => {}
            }
        }
    }

    /// The driver withdrew a question (an operator attached to the shared run answered it,
    /// or it became moot): the one shown goes with a word, a queued one silently.
    fn withdraw(&mut self, step: &StepRef, runbook: &Runbook, printer: &mut Printer) {
        if let Some(s) = &self.shown
            && s.ask.step() == step
        {
            printer.asking(None);
            prompt::show(&format!(
                "\n  {} · '{}' was answered elsewhere; nothing to answer here\n",
                step.service,
                driver::step_name(runbook, step)
            ));
            self.shown = None;
        }
        self.queue.retain(|a| a.step() != step);
    }

    /// Answer queued questions until one is shown on the terminal (or none is left): what the
    /// driver journaled for those answered at once.
    pub(super) fn ask(
        &mut self,
        drv: &mut Driver,
        runbook: &Runbook,
        yes: bool,
        printer: &mut Printer,
    ) -> Result<Vec<Notice>, JournalError> {
        let mut notices = Vec::new();
        while self.shown.is_none()
            && let Some(ask) = self.queue.pop_front()
        {
            match answer(drv, runbook, ask, yes, self.stdin_open)? {
                Answered::Now(n) => notices.extend(n),
                Answered::Asking(ask) => {
                    if let Some(tx) = self.reader.take()
                        && let Err(e) = prompt::spawn_reader(tx)
                    {
                        eprintln!("bringup: cannot read the terminal ({e}); asking nobody");
                        self.stdin_open = false;
                        self.queue.push_front(ask);
                        continue;
                    }
                    let (text, reminder) = question(runbook, &ask);
                    prompt::show(&text);
                    printer.asking(Some(reminder));
                    self.shown = Some(Shown { ask, text });
                }
            }
        }
        Ok(notices)
    }

    /// A line read from the terminal (`None`: its end): the input that answers the question
    /// shown, if it does.
    pub(super) fn on_line(&mut self, line: Option<String>, printer: &mut Printer) -> Option<Input> {
        self.stdin_open &= line.is_some();
        let Some(shown) = self.shown.take() else {
            if let Some(line) = line.filter(|l| !l.is_empty()) {
                eprintln!("bringup: no question is waiting; '{line}' ignored");
            }
            return None;
        };
        match reply(shown, line.as_deref()) {
            Reply::Input(input) => {
                printer.asking(None);
                Some(input)
            }
            Reply::Again(shown) => {
                prompt::show(&shown.text);
                self.shown = Some(shown);
                None
            }
        }
    }
}

/// How a question was handled.
enum Answered {
    /// Answered at once (`--yes`, or nobody to ask): what the driver journaled.
    Now(Vec<Notice>),
    /// To ask on the terminal; the next line read answers it.
    Asking(Ask),
}

/// Answer one question: approve with `--yes`, leave it to the terminal, or, with nobody to
/// ask, leave it to attached operators (a shared run), decline or leave the service blocked.
fn answer(
    drv: &mut Driver,
    runbook: &crate::runbook::model::Runbook,
    ask: Ask,
    yes: bool,
    can_ask: bool,
) -> Result<Answered, JournalError> {
    match ask {
        Ask::Approval { step, .. } if yes => {
            let approve = Input::Approval {
                step,
                decision: Decision::Approved,
            };
            Ok(Answered::Now(drv.input(approve)?))
        }
        ask if can_ask => Ok(Answered::Asking(ask)),
        Ask::Approval { step, reason, .. } => {
            if let Some(url) = drv.shared_url() {
                // Operators attached to the shared run answer it from wherever they are.
                eprintln!(
                    "bringup: '{}' of {} needs approval{}; from any machine: bringup approve {url} --service {} --step '{}' [--decline]",
                    driver::step_name(runbook, &step),
                    step.service,
                    reason.map(|r| format!(" ({r})")).unwrap_or_default(),
                    step.service,
                    driver::step_name(runbook, &step),
                );
                Ok(Answered::Now(Vec::new()))
            } else {
                eprintln!(
                    "bringup: '{}' needs approval{} and there is no terminal to ask on; pass --yes to approve",
                    driver::step_name(runbook, &step),
                    reason.map(|r| format!(" ({r})")).unwrap_or_default()
                );
                let decline = Input::Approval {
                    step,
                    decision: Decision::Declined,
                };
                Ok(Answered::Now(drv.input_by("(no terminal)", decline)?))
            }
        }
        Ask::Manual { step, instruction } => {
            if let Some(url) = drv.shared_url() {
                eprintln!(
                    "bringup: manual step '{}' of {} needs an operator: {instruction}; mark it from `bringup attach {url}`",
                    driver::step_name(runbook, &step),
                    step.service,
                );
                Ok(Answered::Now(Vec::new()))
            } else {
                eprintln!(
                    "bringup: manual step '{}' needs an operator and there is no terminal; its service stays blocked",
                    driver::step_name(runbook, &step)
                );
                Ok(Answered::Now(drv.input(Input::ManualUnavailable { step })?))
            }
        }
    }
}

/// A question as printed, and the reminder shown below progress lines while it waits.
fn question(runbook: &crate::runbook::model::Runbook, ask: &Ask) -> (String, String) {
    match ask {
        Ask::Approval {
            step,
            commands,
            reason,
        } => (
            prompt::approval_text(runbook, step, commands, reason.as_deref()),
            prompt::reminder(runbook, step, true),
        ),
        Ask::Manual { step, instruction } => (
            prompt::manual_text(runbook, step, instruction),
            prompt::reminder(runbook, step, false),
        ),
    }
}

/// What a line read does to the question shown.
enum Reply {
    /// It answers it: the input for the driver.
    Input(Input),
    /// It does not: ask again.
    Again(Shown),
}

fn reply(shown: Shown, line: Option<&str>) -> Reply {
    match shown.ask {
        Ask::Approval { step, .. } => Reply::Input(Input::Approval {
            step,
            decision: prompt::approval_answer(line),
        }),
        Ask::Manual { ref step, .. } => match prompt::manual_answer(line) {
            prompt::ManualAnswer::Outcome(outcome) => Reply::Input(Input::Manual {
                step: step.clone(),
                outcome,
            }),
            prompt::ManualAnswer::Unavailable => {
                Reply::Input(Input::ManualUnavailable { step: step.clone() })
            }
            prompt::ManualAnswer::Again => Reply::Again(shown),
        },
    }
}
