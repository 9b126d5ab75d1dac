//! `bringup export`: read a journal, warn if it does not verify, write the chosen report.

use std::io::Write as _;
use std::process::ExitCode;

use crate::cli::ExportArgs;
use crate::cmd::EXIT_BAD_INPUT;
use crate::journal::verify::read_journal;

pub fn export(args: &ExportArgs) -> ExitCode {
    let journal = match read_journal(&args.journal) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let path = args.journal.display();
    for w in journal.report.warnings() {
        eprintln!("bringup: warning: journal '{path}': {w}");
    }
    if let Some(p) = journal.report.first_problem() {
        eprintln!(
            "bringup: warning: journal '{path}' does not verify ({p}); exporting it anyway — run `bringup verify` on it"
        );
    }
    let text = match crate::export::render(&journal, args.format) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let written = if let Some(out) = &args.output {
        std::fs::write(out, text.as_bytes()).map_err(|e| {
            format!(
                "cannot write '{}': {e}; check the folder exists and is writable",
                out.display()
            )
        })
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bringup: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
