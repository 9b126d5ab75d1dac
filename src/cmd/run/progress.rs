//! `run`'s progress printer: every line `run` prints about the run (progress lines, JSON
//! lines, the table of states) is printed here, so there is one place that decides what
//! reaches the terminal. While a question waits for an answer on the terminal, it is shown
//! again below the progress lines that pushed it up.
//!
//! Standard output is buffered, on a terminal and off it, and flushed once per batch of
//! notices (the driver's batch of reports), before a question is asked and at the end: a
//! step printing two million lines costs a few thousand writes, not two million. A step on
//! several hosts ends with one line per group of hosts that printed the same (`groups.rs`).

mod groups;

use std::io::{BufWriter, IsTerminal as _, Stdout, Write};
use std::sync::Arc;

use crate::cli::RunFormat;
use crate::driver::{Entry, Notice};
use crate::engine::ServiceState;
use crate::export::describe::{Actor, Described, Tone, describe};
use crate::fold::{Outage, OutageCause, RunFold};
use crate::journal::Event;
use crate::journal::event::ServiceInfo;
use crate::runbook::model::Runbook;
use crate::text::visible;

pub(super) struct Printer {
    format: RunFormat,
    runbook: Arc<Runbook>,
    /// Prompts are read from a terminal (reminders are printed only then).
    terminal: bool,
    /// The reminder of the question waiting for an answer, if any.
    question: Option<String>,
    /// Standard output, flushed at the end of each batch and before each question.
    out: BufWriter<Stdout>,
    /// Standard output is a terminal (asked once, not per line).
    out_terminal: bool,
    groups: groups::Groups,
    /// Per witness, the error its last shown failure gave: a retry that fails the same way
    /// (a full disk, a share still unmounted) is journaled, not shown again.
    witness_said: std::collections::HashMap<usize, String>,
}

/// Standard output's buffer: large writes, few of them.
const OUT_BUFFER: usize = 64 * 1024;

impl Printer {
    pub(super) fn new(format: RunFormat, runbook: Arc<Runbook>, terminal: bool) -> Printer {
        Printer {
            format,
            runbook,
            terminal,
            question: None,
            out: BufWriter::with_capacity(OUT_BUFFER, std::io::stdout()),
            out_terminal: std::io::stdout().is_terminal(),
            groups: groups::Groups::default(),
            witness_said: std::collections::HashMap::new(),
        }
    }

    /// Print what the driver journaled; then, when a question waits on the terminal and
    /// lines were printed above it, show its last line again so it stays in view.
    pub(super) fn notices<'a>(&mut self, notices: impl IntoIterator<Item = &'a Notice>) {
        let mut printed = false;
        for notice in notices {
            printed |= self.notice(notice);
        }
        if self.format == RunFormat::Text {
            printed |= self.groups_ended();
        }
        self.flush();
        if printed
            && self.terminal
            && let Some(question) = &self.question
        {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\n{question}");
            let _ = err.flush();
        }
    }

    /// A question is on the terminal now (`Some`: its reminder line) or was answered. What
    /// was printed before it is on the screen before it.
    pub(super) fn asking(&mut self, question: Option<String>) {
        self.flush();
        self.question = question;
    }

    /// Everything printed so far, out of the buffer (before the table, a question, the end).
    pub(super) fn flush(&mut self) {
        let _ = self.out.flush();
    }

    fn notice(&mut self, notice: &Notice) -> bool {
        match (self.format, notice) {
            // Piped, the lines are the journal's own bytes (they verify); serde escapes C0.
            // On a terminal, DEL, C1 and bidi controls are escaped too: same JSON value.
            (RunFormat::Json, Notice::Journaled(record)) if self.out_terminal => {
                let _ = writeln!(
                    self.out,
                    "{}",
                    crate::text::json_escape_controls(&record.line)
                );
            }
            (RunFormat::Json, Notice::Journaled(record)) => {
                let _ = writeln!(self.out, "{}", record.line);
            }
            // Output is journaled in chunks; it is shown as the lines the driver split it into.
            (RunFormat::Text, Notice::Journaled(record))
                if matches!(record.event, Event::StepOutput { .. }) =>
            {
                return false;
            }
            (RunFormat::Text, Notice::Journaled(record)) if self.said_before(&record.event) => {
                return false;
            }
            (RunFormat::Text, Notice::Journaled(record)) => {
                self.groups.on_event(&self.runbook, record);
                let _ = writeln!(self.out, "{}", visible(&progress_line(record)));
            }
            (RunFormat::Text, Notice::Output { step, host, lines }) => {
                self.groups.on_output(step, host, lines);
                if groups::Groups::gathers(&self.runbook, step) {
                    return false;
                }
                let prefix = output_prefix(host.as_str());
                // `lines` is the driver's display lines, each ended by a newline.
                let mut rest = lines.as_str();
                while let Some(nl) = memchr::memchr(b'\n', rest.as_bytes()) {
                    output_line(&mut self.out, &prefix, &rest[..nl]);
                    rest = &rest[nl + 1..];
                }
                if !rest.is_empty() {
                    output_line(&mut self.out, &prefix, rest);
                }
            }
            _ => return false,
        }
        true
    }

    /// Whether `event` is a witness's failed attempt, to be retried, that fails as the one
    /// last shown for that witness did (remembered otherwise, to be shown).
    fn said_before(&mut self, event: &Event) -> bool {
        let Event::WitnessFailed {
            witness,
            error,
            next_retry_ms: Some(_),
            ..
        } = event
        else {
            return false;
        };
        if self.witness_said.get(witness) == Some(error) {
            return true;
        }
        self.witness_said.insert(*witness, error.clone());
        false
    }

    /// One line per group of hosts for each step on several hosts that no host runs any
    /// more, with a gathered step's output under it.
    fn groups_ended(&mut self) -> bool {
        let told = self.groups.ended(&self.runbook);
        for group in &told {
            let mark = if group.ok { '✓' } else { '✗' };
            let ts = group.ts.format("%H:%M:%S");
            let _ = writeln!(self.out, "{ts}  {mark} {}", visible(&group.line));
            let prefix = output_prefix(&group.label);
            if group.earlier > 0 {
                let earlier = format!("… {} earlier lines in the journal", group.earlier);
                output_line(&mut self.out, &prefix, &earlier);
            }
            for line in &group.output {
                output_line(&mut self.out, &prefix, line);
            }
        }
        !told.is_empty()
    }

    pub(super) fn table(
        &self,
        drv: &crate::driver::Driver,
        services: &[(crate::runbook::ServiceId, ServiceState)],
        out: &mut dyn Write,
    ) {
        let width = services
            .iter()
            .map(|(id, _)| id.as_str().len())
            .max()
            .unwrap_or(7)
            .max(7);
        let _ = writeln!(out, "\n{:<width$}  TIER  {:<11} REASON", "SERVICE", "STATE");
        for (id, state) in services {
            let service = self.runbook.services.iter().find(|s| &s.id == id);
            let tier = service.map_or(0, |s| s.tier);
            let reason = drv
                .engine()
                .service(id)
                .and_then(|v| v.reason.clone())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<width$}  {:>4}  {:<11} {}",
                id.as_str(),
                tier,
                state.as_str(),
                visible(&reason)
            );
        }
    }
}

/// After the table: each outage of the run from the run's fold (`RunFold`), the picture every
/// report computes its outages from, so `run` and every export agree. Nothing when the journal
/// cannot be read back.
pub(super) fn outages(
    journal: &crate::session::JournalLocation,
    access: &crate::journal::etcd::Access,
    out: &mut dyn Write,
) {
    use crate::export::metrics::human_ms;
    use crate::session::JournalLocation;
    let picture = match journal {
        // A shared run is read back from etcd, on a thread (and runtime) of its own.
        JournalLocation::Shared(url) => {
            let url = url.clone();
            let access = access.clone();
            crate::journal::etcd::shared::on_thread(move || async move {
                let mut store = crate::journal::etcd::EtcdStore::open_with(&url, &access).await?;
                crate::journal::etcd::read_run(&mut store).await
            })
            .map(|j| RunFold::of(&j.records))
            .ok()
        }
        // Read whole (a chatty run's is hundreds of megabytes): off the async worker.
        JournalLocation::File(path) => {
            crate::journal::etcd::shared::blocking_wait(|| crate::export::picture_file(path)).ok()
        }
    };
    let Some(picture) = picture else {
        return;
    };
    let outages: Vec<(&ServiceInfo, Vec<Outage>)> = picture
        .infos
        .values()
        .map(|info| (info, picture.outages(&info.id)))
        .collect();
    let rows: Vec<String> = outages
        .iter()
        .flat_map(|(info, outages)| {
            outages.iter().map(move |o| {
                let d = |v: Option<i64>| v.map_or_else(|| "—".to_string(), human_ms);
                let rto = match info.rto_ms {
                    Some(_) => format!(", RTO {}", o.rto.as_str()),
                    None => String::new(),
                };
                format!(
                    "  {} ({}): detected after {}, up again after {}{rto}",
                    info.id,
                    o.cause.as_str(),
                    d(o.time_to_detect_ms),
                    d(o.time_to_restore_ms)
                )
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let injected = outages
        .iter()
        .flat_map(|(_, outages)| outages)
        .all(|o| o.cause == OutageCause::Inject);
    let origin = if injected {
        "a drill's outages, each timed from its inject"
    } else if picture.incident_start.is_some() {
        "those found down timed from the incident's start, given with --incident-start"
    } else {
        "those found down timed from the run's start: the incident's start was not given"
    };
    let _ = writeln!(out, "\nOUTAGES ({origin})");
    for row in rows {
        let _ = writeln!(out, "{}", visible(&row));
    }
}

/// What goes before each output line: indented under its step, labelled with its host (or its
/// group's hosts).
fn output_prefix(label: &str) -> String {
    format!("          {} │ ", visible(label))
}

/// One line of a step's output after its `prefix` (indented, labelled with its host or its
/// group's hosts, already made visible); written straight into the buffer, made visible on the
/// way. Two million lines a step is a case it is made for: printable ASCII (the usual line) is
/// written as it is, without a scan by characters or a format.
fn output_line(out: &mut impl Write, prefix: &str, line: &str) {
    let line = if crate::text::is_printable_ascii(line) {
        line.into()
    } else {
        visible(line)
    };
    let _ = out.write_all(prefix.as_bytes());
    let _ = out.write_all(line.as_bytes());
    let _ = out.write_all(b"\n");
}

/// One human line per journal event, told as the post-mortem and the TUI tell it (see
/// `export::describe`); output lines are indented under their steps.
fn progress_line(record: &Entry) -> String {
    let ts = record.ts.format("%H:%M:%S");
    let Some(Described { who, what, tone }) = describe(&record.event) else {
        return format!("{ts}  {}", record.event.kind());
    };
    let mark = match tone {
        Tone::Good => '✓',
        Tone::Bad => '✗',
        Tone::Warn => '!',
        Tone::Progress => '▶',
        Tone::Neutral => '·',
    };
    // bringup's own doings need no signature, but a step says which host it ran on (with
    // many hosts, its lines are otherwise alike); an operator's doings are signed.
    match who {
        Actor::Bringup => format!("{ts}  {mark} {what}"),
        Actor::BringupOn(host) => format!("{ts}  {mark} {what} (on {host})"),
        Actor::Operator(name) => format!("{ts}  {mark} {what} by {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{Decision, ManualOutcome, Phase, StepOutcome};
    use crate::runbook::model::{HostId, ServiceId};

    fn entry(event: Event) -> Entry {
        let ts = chrono::DateTime::parse_from_rfc3339("2026-11-22T09:08:07Z")
            .expect("a valid time")
            .with_timezone(&chrono::Utc);
        Entry {
            seq: 1,
            ts,
            event,
            line: String::new(),
        }
    }

    #[test]
    fn a_passed_notice_deadline_is_a_warning_line_naming_the_rule() {
        let line = progress_line(&entry(Event::NoticeDue {
            after_ms: 2 * 3600 * 1000,
        }));
        assert_eq!(
            line,
            "09:08:07  ! User notice due: the outage passed 2h 00m 00s"
        );
    }

    #[test]
    fn an_approval_keeps_the_names_as_written_and_signs_with_the_operator() {
        let line = progress_line(&entry(Event::Approval {
            service: ServiceId::new("Talk"),
            step: "Start Gateway".into(),
            phase: None,
            decision: Decision::Approved,
            operator: "Kim".into(),
            provenance: crate::journal::event::Provenance::default(),
        }));
        assert_eq!(line, "09:08:07  ✓ Talk: approved 'Start Gateway' by Kim");
    }

    #[test]
    fn a_manual_outcome_reads_as_a_word_not_a_debug_name() {
        let line = progress_line(&entry(Event::Manual {
            service: ServiceId::new("db"),
            step: "Swap the disk".into(),
            outcome: ManualOutcome::Failed,
            operator: "ana".into(),
            provenance: crate::journal::event::Provenance::default(),
        }));
        assert_eq!(
            line,
            "09:08:07  ✗ db: manual step 'Swap the disk' marked failed by ana"
        );
        assert!(!line.contains("Failed"), "{line}");
    }

    #[test]
    fn bringup_on_a_host_names_the_host_not_a_signer_and_a_step_result_carries_its_mark() {
        let line = progress_line(&entry(Event::StepFinished {
            service: ServiceId::new("mail"),
            phase: Phase::Restore,
            step: "restart dovecot".into(),
            host: HostId::new("mail-1"),
            attempt: 1,
            outcome: StepOutcome::Ok,
            exit_code: Some(0),
            duration_ms: 1_500,
            error: None,
        }));
        assert_eq!(
            line,
            "09:08:07  ✓ mail: restore 'restart dovecot' ok (exit 0) in 1.5 s (on mail-1)"
        );
        let state = progress_line(&entry(Event::ServiceState {
            service: ServiceId::new("mail"),
            from: ServiceState::Checking,
            to: ServiceState::Down,
            reason: None,
        }));
        assert_eq!(state, "09:08:07  ✗ mail: checking → down");
    }

    #[test]
    fn output_stays_indented_under_its_host_and_controls_are_visible() {
        let mut out = Vec::new();
        output_line(&mut out, &output_prefix("h1"), "hello\u{1b}[2J");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "          h1 │ hello\\x1b[2J\n"
        );
    }
}
