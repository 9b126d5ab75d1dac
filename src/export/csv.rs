//! The csv export: one row per event, every field that events share in its own column, the
//! rest in `text`/`detail`. Quoting is the `csv` crate's. Text cells that a spreadsheet would
//! take for a formula (step output is whatever a remote command printed) get a leading `'`.

use crate::engine::state::{Decision, ManualOutcome};
use crate::export::{ExportError, Source};
use crate::journal::event::Event;
use crate::journal::record::format_ts;

pub const HEADER: [&str; 18] = [
    "seq",
    "ts",
    "kind",
    "service",
    "phase",
    "step",
    "host",
    "attempt",
    "outcome",
    "exit_code",
    "duration_ms",
    "from",
    "to",
    "operator",
    "text",
    "detail",
    "prev",
    "hash",
];

#[derive(Default)]
struct Row {
    service: String,
    phase: String,
    step: String,
    host: String,
    attempt: String,
    outcome: String,
    exit_code: String,
    duration_ms: String,
    from: String,
    to: String,
    operator: String,
    text: String,
    detail: String,
}

// One flat arm per event kind: splitting it would only scatter the kinds.
#[allow(clippy::too_many_lines)]
fn row(event: &Event) -> Row {
    let mut r = Row {
        service: event.service().map(ToString::to_string).unwrap_or_default(),
        operator: event.operator().unwrap_or_default().to_string(),
        ..Row::default()
    };
    match event {
        Event::RunStarted {
            runbook,
            runbook_sha256,
            version,
            mode,
            ..
        } => {
            r.text.clone_from(runbook);
            r.detail =
                format!("sha256 {runbook_sha256}; bringup {version}; mode {mode:?}").to_lowercase();
        }
        Event::ServiceState {
            from, to, reason, ..
        } => {
            r.from = from.to_string();
            r.to = to.to_string();
            r.text = reason.clone().unwrap_or_default();
        }
        Event::StepStarted {
            phase,
            step,
            host,
            attempt,
            command,
            ..
        } => {
            r.phase = phase.to_string();
            r.step.clone_from(step);
            r.host = host.to_string();
            r.attempt = attempt.to_string();
            r.text.clone_from(command);
        }
        Event::StepSkipped {
            phase,
            step,
            reason,
            ..
        } => {
            r.phase = phase.to_string();
            r.step.clone_from(step);
            r.text.clone_from(reason);
        }
        Event::StepOutput {
            step, host, text, ..
        } => {
            r.step.clone_from(step);
            r.host = host.to_string();
            r.text.clone_from(text);
            if let Some(f) = event.output_file() {
                r.detail = format!("{} ({} bytes, sha256 {})", f.path, f.bytes, f.sha256);
            }
        }
        Event::StepFinished {
            phase,
            step,
            host,
            attempt,
            outcome,
            exit_code,
            duration_ms,
            error,
            ..
        } => {
            r.phase = phase.to_string();
            r.step.clone_from(step);
            r.host = host.to_string();
            r.attempt = attempt.to_string();
            r.outcome = outcome.to_string();
            r.exit_code = exit_code.map(|c| c.to_string()).unwrap_or_default();
            r.duration_ms = duration_ms.to_string();
            r.text = error.clone().unwrap_or_default();
        }
        Event::NoticeDue { after_ms } => r.duration_ms = after_ms.to_string(),
        Event::NotifyQueued { notify, what, .. } => {
            r.text = format!("webhook {}: {what}", notify + 1);
        }
        Event::NotifySent {
            notify,
            attempt,
            status,
            ..
        } => {
            r.attempt = attempt.to_string();
            r.outcome = status.to_string();
            r.text = format!("webhook {}", notify + 1);
        }
        Event::NotifyFailed {
            notify,
            attempt,
            status,
            error,
            ..
        } => {
            r.attempt = attempt.to_string();
            r.outcome = status.map(|s| s.to_string()).unwrap_or_default();
            r.text = format!(
                "webhook {}: {}",
                notify + 1,
                error.clone().unwrap_or_default()
            );
        }
        Event::WitnessFailed {
            witness,
            target,
            of_seq,
            attempt,
            error,
            ..
        } => {
            r.attempt = attempt.to_string();
            r.text = format!(
                "witness {} ('{target}') at seq {of_seq}: {error}",
                witness + 1
            );
        }
        Event::DrillPhase {
            scenario,
            phase,
            outcome,
            reason,
        } => {
            r.phase = crate::export::describe::drill_phase_word(*phase).to_string();
            r.outcome = match outcome {
                Some(crate::journal::DrillOutcome::Passed) => "passed",
                Some(crate::journal::DrillOutcome::Failed) => "failed",
                None => "",
            }
            .to_string();
            r.text.clone_from(scenario);
            r.detail = reason.clone().unwrap_or_default();
        }
        Event::GuardTripped {
            guard,
            host,
            exit_code,
            error,
        } => {
            r.step.clone_from(guard);
            r.host = host.to_string();
            r.exit_code = exit_code.map(|c| c.to_string()).unwrap_or_default();
            r.detail = error.clone().unwrap_or_default();
        }
        Event::Approval {
            step,
            phase,
            decision,
            ..
        } => {
            r.step.clone_from(step);
            r.phase = phase.map(|p| p.as_str().to_string()).unwrap_or_default();
            r.outcome = match decision {
                Decision::Approved => "approved",
                Decision::Declined => "declined",
            }
            .to_string();
        }
        Event::Manual { step, outcome, .. } => {
            r.step.clone_from(step);
            r.outcome = match outcome {
                ManualOutcome::Done => "done",
                ManualOutcome::Failed => "failed",
            }
            .to_string();
        }
        Event::Note { text, .. } => r.text.clone_from(text),
        Event::Asked {
            step,
            phase,
            question,
            ..
        } => {
            r.step.clone_from(step);
            r.phase = phase.map(|p| p.as_str().to_string()).unwrap_or_default();
            r.detail = match question {
                crate::journal::event::QuestionKind::Approval => "approval",
                crate::journal::event::QuestionKind::Manual => "manual",
            }
            .to_string();
        }
        Event::OperatorAction { action, reason, .. } => {
            r.detail = action.to_string();
            r.text = reason.clone().unwrap_or_default();
        }
        Event::HostKeyAccepted {
            host, fingerprint, ..
        } => {
            r.host = host.to_string();
            r.detail.clone_from(fingerprint);
        }
        Event::RequestRefused {
            key,
            reason,
            code,
            asked,
            ..
        } => {
            r.outcome = "refused".to_string();
            r.text = asked.clone().unwrap_or_default();
            r.detail = format!(
                "{}{reason}{}",
                code.as_deref()
                    .map_or_else(String::new, |c| format!("{c}: ")),
                key.as_deref()
                    .map_or_else(String::new, |k| format!("; key {k}"))
            );
        }
        Event::Resumed {
            from_seq,
            forced,
            operator,
            previous,
            reason,
            ..
        } => {
            r.detail = format!(
                "from_seq {from_seq}{}",
                if *forced { "; forced" } else { "" }
            );
            if let Some(op) = operator {
                r.text =
                    super::describe::handed_over(op, previous.as_ref(), *reason, *from_seq, "");
            }
        }
        Event::RunFinished {
            outcome,
            services,
            left_down,
        } => {
            r.outcome.clone_from(outcome);
            r.detail = services
                .iter()
                .map(|(id, s)| format!("{id}={s}"))
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(left) = left_down.as_ref().filter(|l| !l.is_empty()) {
                r.detail.push_str("; left down: ");
                r.detail
                    .push_str(&crate::export::describe::service_list(left));
            }
        }
    }
    // Who asked, as the executing process knew it (absent in older journals).
    if let Some(p) = event.provenance()
        && let Some(identity) = p.identity
    {
        let sep = if r.detail.is_empty() { "" } else { "; " };
        r.detail = format!("{}{sep}identity {}", r.detail, identity.as_str());
        if let Some(key) = &p.key {
            r.detail = format!("{}; key {key}", r.detail);
        }
    }
    r
}

/// A text cell safe to open in a spreadsheet: one starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return is prefixed with `'`, so it shows as text instead of running as a formula
/// (OWASP's advice on CSV injection). Other cells are left exactly as journaled.
pub fn text_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Write every event of `source` as a CSV row, as it is read.
pub fn write(source: Source<'_>, out: &mut dyn std::io::Write) -> Result<(), ExportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    source.for_each(|rec| -> Result<(), ExportError> {
        let r = row(&rec.event);
        w.write_record([
            rec.seq.to_string().as_str(),
            &format_ts(rec.ts),
            rec.event.kind(),
            &text_cell(&r.service),
            &r.phase,
            &text_cell(&r.step),
            &text_cell(&r.host),
            &r.attempt,
            &text_cell(&r.outcome),
            &r.exit_code,
            &r.duration_ms,
            &r.from,
            &r.to,
            &text_cell(&r.operator),
            &text_cell(&r.text),
            &text_cell(&r.detail),
            &rec.prev,
            &rec.hash,
        ])?;
        Ok(())
    })?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_are_made_text() {
        for evil in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(text_cell(evil), format!("'{evil}"));
        }
        for plain in ["ok", "", "a=b", "curl -fsS x", "'quoted"] {
            assert_eq!(text_cell(plain), plain);
        }
    }
}
