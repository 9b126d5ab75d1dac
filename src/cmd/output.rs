//! `bringup output`: a step's output exactly as it printed it (secrets masked), reassembled
//! from the journal's `step_output` chunks and their side files, in journal order.

use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::cli::OutputArgs;
use crate::cmd::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP};
use crate::journal::record;
use crate::journal::verify::{self, side_shown};
use crate::journal::{Event, files};

pub fn output(args: &OutputArgs) -> ExitCode {
    if let Some(out) = &args.output
        && let Err(why) = crate::cmd::export::check_target(out, &args.journal)
    {
        eprintln!("bringup: {why}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let result = match &args.output {
        Some(out) => crate::cmd::export::write_atomically(out, |w| reassemble(args, w)),
        None if std::io::stdout().is_terminal() => {
            // The bytes are evidence, not for a terminal to interpret: shown as visible text,
            // a line at a time, as export shows its reports.
            let mut shown = crate::cmd::export::TerminalSafe::new(
                std::io::stdout().lock(),
                crate::cli::ExportFormat::Markdown,
            );
            reassemble(args, &mut shown).and_then(|()| shown.finish())
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            reassemble(args, &mut stdout).and_then(|()| stdout.flush())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            eprintln!("bringup: {e}");
            ExitCode::from(EXIT_NOT_ALL_UP)
        }
        Err(e) => {
            eprintln!("bringup: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Write the selected output to `out` chunk by chunk. A side file that is missing or does
/// not match what the journal records for it is an error (`InvalidData`), not silently
/// replaced by the chunk's text.
fn reassemble(args: &OutputArgs, out: &mut dyn Write) -> std::io::Result<()> {
    let mut failed: Option<std::io::Error> = None;
    let mut matched = 0_usize;
    let report = verify::scan(&args.journal, |bytes, env| {
        if failed.is_some() {
            return;
        }
        let Some(env) = env else { return };
        let Ok(r) = record::parse_with(bytes, env) else {
            return;
        };
        let Event::StepOutput {
            service,
            step,
            host,
            text,
            size,
            ..
        } = &r.event
        else {
            return;
        };
        let wanted = args
            .service
            .as_deref()
            .is_none_or(|s| s == service.as_str())
            && args.step.as_deref().is_none_or(|s| s == step)
            && args.host.as_deref().is_none_or(|h| h == host.as_str());
        if !wanted {
            return;
        }
        matched += 1;
        let written = match r.event.output_file() {
            Some(file) => side_file(&args.journal, &file, r.seq).and_then(|b| out.write_all(&b)),
            // Older journals hold one line per event, its newline not recorded.
            None if size.is_none() => out
                .write_all(text.as_bytes())
                .and_then(|()| out.write_all(b"\n")),
            None => out.write_all(text.as_bytes()),
        };
        if let Err(e) = written {
            failed = Some(e);
        }
    })
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some(p) = report.refused_side() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "journal '{}' is refused at {p}; run `bringup verify` on it",
                args.journal.display()
            ),
        ));
    }
    if let Some(p) = report.first_problem() {
        eprintln!(
            "bringup: warning: journal '{}' does not verify ({p}); run `bringup verify` on it",
            args.journal.display()
        );
    }
    if matched == 0 {
        return Err(std::io::Error::other(format!(
            "journal '{}' holds no output{}; `bringup export --format csv` lists every step and host",
            args.journal.display(),
            selection(args)
        )));
    }
    Ok(())
}

fn selection(args: &OutputArgs) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &args.service {
        parts.push(format!("service '{s}'"));
    }
    if let Some(s) = &args.step {
        parts.push(format!("step '{s}'"));
    }
    if let Some(h) = &args.host {
        parts.push(format!("host '{h}'"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" for {}", parts.join(", "))
    }
}

/// A chunk's side file, `<journal>.d/<seq>.out`, checked against the size and sha256 its
/// event records before any of it is written out.
fn side_file(
    journal: &Path,
    file: &crate::journal::OutputFile,
    seq: u64,
) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    files::read_side(journal, seq, file, &mut |b| bytes.extend_from_slice(b)).map_err(|why| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the output of seq {seq} in '{}' {why}; run `bringup verify` on the journal",
                side_shown(journal, seq)
            ),
        )
    })?;
    Ok(bytes)
}
