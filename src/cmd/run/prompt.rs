//! `run`'s questions on the terminal: approval of a `confirm` step and a manual step's
//! outcome. Each prompt reads stdin on a blocking thread and sends back the engine input that
//! answers it; the driver journals that answer like any other front end's.

use std::fmt::Write as _;
use std::io::Write;

use tokio::sync::mpsc::Sender;

use crate::driver;
use crate::engine::{Decision, Input, ManualOutcome, StepRef};
use crate::runbook::model::{HostId, Runbook};
use crate::text::visible;

/// The line shown again below progress lines while a question waits.
pub(super) fn reminder(runbook: &Runbook, step: &StepRef, approval: bool) -> String {
    let name = driver::step_name(runbook, step);
    if approval {
        format!(
            "  ▶ still waiting: approve {} · '{name}'? [y/N] ",
            step.service
        )
    } else {
        format!(
            "  ▶ still waiting: manual step {} · '{name}': type 'd' when done, 'f' if it cannot be: ",
            step.service
        )
    }
}

pub(super) fn spawn_approval_prompt(
    runbook: &Runbook,
    step: StepRef,
    commands: Vec<(HostId, String)>,
    reason: Option<String>,
    tx: Sender<Input>,
) {
    let name = driver::step_name(runbook, &step);
    tokio::task::spawn_blocking(move || {
        let mut text = format!(
            "\n  APPROVAL NEEDED  {} · '{}' will run on {} host(s):\n",
            step.service,
            name,
            commands.len()
        );
        if let Some(reason) = &reason {
            let _ = writeln!(text, "  asked because {reason}");
        }
        for (host, command) in &commands {
            let _ = writeln!(text, "    {host}: {command}");
        }
        text.push_str("  Approve? [y/N] ");
        let decision = match ask_line(&text) {
            Some(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => {
                Decision::Approved
            }
            _ => Decision::Declined,
        };
        let _ = tx.blocking_send(Input::Approval { step, decision });
    });
}

pub(super) fn spawn_manual_prompt(
    runbook: &Runbook,
    step: StepRef,
    instruction: String,
    tx: Sender<Input>,
) {
    let name = driver::step_name(runbook, &step);
    tokio::task::spawn_blocking(move || {
        let text = format!(
            "\n  MANUAL STEP  {} · '{}'\n    {}\n  When it is done type 'd'; if it cannot be done type 'f': ",
            step.service, name, instruction
        );
        let outcome = loop {
            match ask_line(&text).as_deref() {
                Some("d" | "done") => break Some(ManualOutcome::Done),
                Some("f" | "failed") => break Some(ManualOutcome::Failed),
                None => break None,
                Some(_) => {}
            }
        };
        let _ = tx.blocking_send(match outcome {
            Some(outcome) => Input::Manual { step, outcome },
            None => Input::ManualUnavailable { step },
        });
    });
}

/// Print a prompt and read one trimmed line; `None` at end of input.
fn ask_line(prompt: &str) -> Option<String> {
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(visible(prompt).as_bytes());
    let _ = stderr.flush();
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}
