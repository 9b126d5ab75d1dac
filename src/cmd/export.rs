//! `bringup export`: read a journal, warn if it does not verify, write the chosen report.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::ExportArgs;
use crate::cmd::EXIT_BAD_INPUT;
use crate::journal::verify::{Journal, read_journal};

pub fn export(args: &ExportArgs) -> ExitCode {
    let journal = match read_journal(&args.journal) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Err(why) = has_events(&journal, &args.journal) {
        eprintln!("bringup: {why}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
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

/// A report of no events from a file that is no journal (empty, a runbook, a log) would look
/// like a quiet incident; refuse it. A journal that reads but does not verify is still one.
fn has_events(journal: &Journal, path: &Path) -> Result<(), String> {
    if journal.records.is_empty() {
        Err(format!(
            "'{}' is not a bringup journal: no event line could be read; pass the .jsonl file that `bringup run` or `bringup open` wrote",
            path.display()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ExportFormat;

    fn export_to_file(journal: &Path, out: &Path) -> ExitCode {
        export(&ExportArgs {
            journal: journal.to_path_buf(),
            format: ExportFormat::Markdown,
            output: Some(out.to_path_buf()),
        })
    }

    #[test]
    fn an_empty_file_or_a_file_that_is_no_journal_is_refused_with_exit_2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("report.md");
        for (name, text) in [
            ("empty.jsonl", ""),
            ("runbook.toml", "name = \"not a journal\"\n[hosts]\n"),
            ("log.txt", "{\"msg\":\"some json, but no journal line\"}\n"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            assert_eq!(
                export_to_file(&path, &out),
                ExitCode::from(EXIT_BAD_INPUT),
                "{name}"
            );
            assert!(!out.exists(), "{name}: no report is written");
            let journal = read_journal(&path).expect("readable");
            let why = has_events(&journal, &path).expect_err("refused");
            assert!(why.contains(&format!("'{}'", path.display())), "{why}");
            assert!(
                why.contains("not a bringup journal: no event line could be read"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_journal_with_events_exports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.jsonl");
        let mut w = crate::journal::JournalWriter::create(&path, &[]).expect("create");
        w.append(&crate::journal::Event::Note {
            operator: "ana".into(),
            text: "bridge open".into(),
        })
        .expect("note");
        drop(w);
        let out = dir.path().join("report.md");
        assert_eq!(export_to_file(&path, &out), ExitCode::SUCCESS);
        assert!(
            std::fs::read_to_string(&out)
                .expect("written")
                .contains("bridge open")
        );
    }
}
