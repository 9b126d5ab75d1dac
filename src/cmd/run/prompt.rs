//! `run`'s questions on the terminal: approval of a `confirm` step and a manual step's
//! outcome. One thread reads stdin and sends each line to the run loop, which reads it as the
//! answer to the question shown then (a line typed while none is shown is dropped); the
//! driver journals that answer like any other front end's. A question answered meanwhile by an
//! operator attached to a shared run is withdrawn, so the next one can be asked.

use std::fmt::Write as _;
use std::io::{BufRead as _, Write};

use tokio::sync::mpsc::Sender;

use crate::driver;
use crate::engine::{Decision, ManualOutcome, StepRef};
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

/// Read stdin line by line on its own thread (a plain one: the process does not wait for it
/// at exit), each line trimmed; `None` once at end of input.
pub(super) fn spawn_reader(tx: Sender<Option<String>>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut line = String::new();
            loop {
                line.clear();
                let read = stdin.lock().read_line(&mut line);
                let got = match read {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line.trim().to_string()),
                };
                let end = got.is_none();
                if tx.blocking_send(got).is_err() || end {
                    return;
                }
            }
        })
        .map(drop)
}

pub(super) fn approval_text(
    runbook: &Runbook,
    step: &StepRef,
    commands: &[(HostId, String)],
    reason: Option<&str>,
) -> String {
    let mut text = format!(
        "\n  APPROVAL NEEDED  {} · '{}' will run on {} host(s):\n",
        step.service,
        driver::step_name(runbook, step),
        commands.len()
    );
    if let Some(reason) = reason {
        let _ = writeln!(text, "  asked because {reason}");
    }
    for (host, command) in commands {
        let _ = writeln!(text, "    {host}: {command}");
    }
    text.push_str("  Approve? [y/N] ");
    text
}

pub(super) fn manual_text(runbook: &Runbook, step: &StepRef, instruction: &str) -> String {
    format!(
        "\n  MANUAL STEP  {} · '{}'\n    {}\n  When it is done type 'd'; if it cannot be done type 'f': ",
        step.service,
        driver::step_name(runbook, step),
        instruction
    )
}

/// An approval's answer: only `y` or `yes` approves; anything else, or the end of input,
/// declines.
pub(super) fn approval_answer(line: Option<&str>) -> Decision {
    match line {
        Some(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => {
            Decision::Approved
        }
        _ => Decision::Declined,
    }
}

/// How a line answers a manual step.
pub(super) enum ManualAnswer {
    Outcome(ManualOutcome),
    /// End of input: nobody can do it.
    Unavailable,
    /// Neither `d` nor `f`: ask again.
    Again,
}

pub(super) fn manual_answer(line: Option<&str>) -> ManualAnswer {
    match line {
        Some("d" | "done") => ManualAnswer::Outcome(ManualOutcome::Done),
        Some("f" | "failed") => ManualAnswer::Outcome(ManualOutcome::Failed),
        None => ManualAnswer::Unavailable,
        Some(_) => ManualAnswer::Again,
    }
}

/// Print a question (or a line about one) on stderr.
pub(super) fn show(text: &str) {
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(visible(text).as_bytes());
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_approves() {
        for yes in ["y", "Y", "yes", "YES"] {
            assert_eq!(approval_answer(Some(yes)), Decision::Approved, "{yes}");
        }
        for no in ["", "n", "yep", "y es", "sure"] {
            assert_eq!(approval_answer(Some(no)), Decision::Declined, "{no}");
        }
        assert_eq!(approval_answer(None), Decision::Declined);
    }

    #[test]
    fn a_manual_step_takes_d_or_f_and_asks_again_otherwise() {
        assert!(matches!(
            manual_answer(Some("d")),
            ManualAnswer::Outcome(ManualOutcome::Done)
        ));
        assert!(matches!(
            manual_answer(Some("failed")),
            ManualAnswer::Outcome(ManualOutcome::Failed)
        ));
        assert!(matches!(manual_answer(Some("x")), ManualAnswer::Again));
        assert!(matches!(manual_answer(None), ManualAnswer::Unavailable));
    }
}
