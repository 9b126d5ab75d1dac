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
    // Hosts that would run the same command are one line, named as node ranges.
    for group in crate::gather::gather(
        commands
            .iter()
            .map(|(host, command)| (host.clone(), command)),
    ) {
        let _ = writeln!(text, "    {}: {}", group.heading(72), group.key);
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
    fn hosts_that_would_run_the_same_command_are_one_line_and_a_different_one_its_own() {
        let names: Vec<String> = (1..=40).map(|i| format!("web{i:02}")).collect();
        let mut text = String::from("[runbook]\nname = \"t\"\n\n");
        for name in &names {
            let _ = write!(text, "[hosts.{name}]\ntransport = \"local\"\n");
        }
        let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        let _ = write!(
            text,
            "\n[[service]]\nid = \"web\"\nhosts = [{}]\n  [[service.check]]\n  name = \"up\"\n  \
             run = \"true\"\n  [[service.restore]]\n  name = \"start\"\n  run = \"systemctl start web\"\n",
            list.join(", ")
        );
        let runbook = crate::runbook::load_text(&text, std::path::Path::new("t.toml"), &[])
            .expect("a valid runbook");
        let step = StepRef {
            service: crate::runbook::model::ServiceId::new("web"),
            phase: crate::engine::state::Phase::Restore,
            index: 0,
        };
        let mut commands: Vec<(HostId, String)> = names
            .iter()
            .map(|n| (HostId::new(n), "systemctl start web".to_string()))
            .collect();
        commands[6].1 = "systemctl start web --repair".to_string();
        let asked = approval_text(&runbook, &step, &commands, None);
        assert!(
            asked.contains("    39 hosts: web[01-06,08-40]: systemctl start web\n"),
            "{asked}"
        );
        assert!(
            asked.contains("    web07: systemctl start web --repair\n"),
            "{asked}"
        );
        assert_eq!(asked.matches("systemctl start web").count(), 2, "{asked}");
        assert!(asked.contains("will run on 40 host(s)"), "{asked}");
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
