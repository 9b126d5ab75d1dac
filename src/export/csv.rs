//! The csv export: one row per event, every field that events share in its own column, the
//! rest in `text`/`detail`. Quoting is the `csv` crate's.

use crate::engine::state::{Decision, ManualOutcome};
use crate::export::metrics::Analysis;
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
        Event::StepOutput {
            step,
            host,
            text,
            file,
            ..
        } => {
            r.step.clone_from(step);
            r.host = host.to_string();
            r.text.clone_from(text);
            if let Some(f) = file {
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
        Event::Approval { step, decision, .. } => {
            r.step.clone_from(step);
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
        Event::OperatorAction { action, reason, .. } => {
            r.detail.clone_from(action);
            r.text = reason.clone().unwrap_or_default();
        }
        Event::HostKeyAccepted {
            host, fingerprint, ..
        } => {
            r.host = host.to_string();
            r.detail.clone_from(fingerprint);
        }
        Event::Resumed { from_seq, forced } => {
            r.detail = format!(
                "from_seq {from_seq}{}",
                if *forced { "; forced" } else { "" }
            );
        }
        Event::RunFinished { outcome, services } => {
            r.outcome.clone_from(outcome);
            r.detail = services
                .iter()
                .map(|(id, s)| format!("{id}={s}"))
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    r
}

pub fn render(a: &Analysis) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(a.records.len() * 200));
    w.write_record(HEADER)?;
    for rec in a.records {
        let r = row(&rec.event);
        w.write_record([
            rec.seq.to_string().as_str(),
            &format_ts(rec.ts),
            rec.event.kind(),
            &r.service,
            &r.phase,
            &r.step,
            &r.host,
            &r.attempt,
            &r.outcome,
            &r.exit_code,
            &r.duration_ms,
            &r.from,
            &r.to,
            &r.operator,
            &r.text,
            &r.detail,
            &rec.prev,
            &rec.hash,
        ])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
