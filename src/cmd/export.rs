//! `bringup export`: read a journal, warn if it does not verify, write the chosen report:
//! to stdout made terminal-safe, or with `-o` atomically to a file that is no journal.

use std::borrow::Cow;
use std::io::{BufRead as _, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{ExportArgs, ExportFormat};
use crate::cmd::EXIT_BAD_INPUT;
use crate::export::Source;
#[cfg(test)]
use crate::journal::verify::read_journal;

pub fn export(args: &ExportArgs) -> ExitCode {
    // Before anything is read or rendered: a refused target is refused however the journal is.
    if let Some(out) = &args.output
        && let Err(why) = check_target(out, &args.journal)
    {
        eprintln!("bringup: {why}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    // A shared run is read from etcd once, into memory (what `pull` would write).
    let shared = match shared_run(args) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    // One streaming pass for the analysis (and verification); json and csv read the journal
    // again while they write its events.
    let read = match &shared {
        Some(journal) => Ok((
            crate::export::metrics::analyse(journal),
            journal.report.clone(),
        )),
        None => crate::export::analyse_file(&args.journal).map_err(|e| e.to_string()),
    };
    let (mut analysis, report) = match read {
        Ok(read) => read,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Some(p) = report.refused_side() {
        eprintln!(
            "bringup: journal '{}' is refused at {p}; run `bringup verify` on it",
            args.journal.display()
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Err(why) = has_events(analysis.events, &args.journal) {
        eprintln!("bringup: {why}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let path = args.journal.display();
    for w in report.warnings() {
        eprintln!("bringup: warning: journal '{path}': {w}");
    }
    if let Some(p) = report.first_problem() {
        eprintln!(
            "bringup: warning: journal '{path}' does not verify ({p}); exporting it anyway — run `bringup verify` on it"
        );
    }
    if args.format == ExportFormat::Scorecard
        && let Err(why) = &analysis.scorecard
    {
        eprintln!("bringup: {why}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Ok(sc) = &mut analysis.scorecard {
        match evidence(args, shared.is_some(), &report) {
            Ok(e) => sc.evidence = Some(e),
            Err(why) => {
                eprintln!("bringup: {why}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    let source = match &shared {
        Some(journal) => Source::Records(&journal.records),
        None => Source::File(&args.journal, analysis.events),
    };
    let written = if let Some(out) = &args.output {
        write_atomically(out, |file| {
            crate::export::write(&analysis, source, args.format, file).map_err(io_error)
        })
        .map_err(|e| {
            format!(
                "cannot write '{}': {e}; check the folder exists and is writable",
                out.display()
            )
        })
    } else {
        let mut stdout = TerminalSafe::new(std::io::stdout().lock(), args.format);
        crate::export::write(&analysis, source, args.format, &mut stdout)
            .map_err(io_error)
            .and_then(|()| stdout.finish())
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

/// What the journal's seal proves, for a drill's scorecard: checked against
/// `--allowed-signers` when given. A shared run has no seal.
fn evidence(
    args: &ExportArgs,
    shared: bool,
    chain: &crate::journal::verify::Report,
) -> Result<crate::journal::seal::Evidence, String> {
    use crate::journal::seal;
    let signers = args.allowed_signers.as_deref();
    if let Some(signers) = signers
        && let Err(e) = std::fs::File::open(signers)
    {
        return Err(format!(
            "cannot read the allowed signers file '{}': {e}; it holds lines of 'PRINCIPAL KEYTYPE BASE64'",
            signers.display()
        ));
    }
    if shared {
        return Ok(seal::Evidence::Unsealed);
    }
    let sealed = seal::read(&args.journal);
    let at_head = match &sealed {
        Ok(Some(s)) => {
            crate::journal::verify::verify_to(&args.journal, s.head.seq)
                .map_err(|e| e.to_string())?
                .1
        }
        _ => None,
    };
    Ok(seal::evidence(sealed, signers, chain, at_head.as_deref()))
}

/// The shared run `export` was given (an `etcd://` URL), read whole.
fn shared_run(args: &ExportArgs) -> Result<Option<crate::journal::Journal>, String> {
    use crate::journal::etcd::{self, Access, EtcdStore, RunUrl};
    let Some(text) = args.journal.to_str().filter(|t| RunUrl::is_etcd(t)) else {
        return Ok(None);
    };
    let url = RunUrl::parse(text).map_err(|e| e.to_string())?;
    let access = Access::from_args(&args.etcd);
    let rt = crate::cmd::shared::edge_runtime().map_err(|f| f.message)?;
    rt.block_on(async {
        let mut store = EtcdStore::open_with(&url, &access).await?;
        etcd::read_run(&mut store).await
    })
    .map(Some)
    .map_err(|e| e.to_string())
}

fn io_error(e: crate::export::ExportError) -> std::io::Error {
    match e {
        crate::export::ExportError::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

/// Stdout made terminal-safe as the report streams through it (see [`terminal_safe`]):
/// written a line at a time, since no escape sequence spans a newline.
pub(crate) struct TerminalSafe<W: Write> {
    inner: W,
    format: ExportFormat,
    pending: Vec<u8>,
}

/// A line longer than this is passed on at a character boundary without waiting for its end.
const PENDING_MAX: usize = 1 << 20;

impl<W: Write> TerminalSafe<W> {
    pub(crate) fn new(inner: W, format: ExportFormat) -> Self {
        TerminalSafe {
            inner,
            format,
            pending: Vec::new(),
        }
    }

    fn pass_on(&mut self, upto: usize) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.pending[..upto]);
        self.inner
            .write_all(terminal_safe(&text, self.format).as_bytes())?;
        self.pending.drain(..upto);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        let all = self.pending.len();
        self.pass_on(all)?;
        self.inner.flush()
    }
}

impl<W: Write> Write for TerminalSafe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(nl) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.pass_on(nl + 1)?;
        } else if self.pending.len() > PENDING_MAX {
            let cut = match std::str::from_utf8(&self.pending) {
                Ok(_) => self.pending.len(),
                Err(e) => e.valid_up_to(),
            };
            self.pass_on(cut)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The report as it may reach a terminal. Stdout is treated so whether or not it is one: a
/// pipe often ends at one (`| less -R`, `| tail`), and `-o FILE` is there for the format's own
/// bytes. JSON stays the same JSON (controls as `\u` escapes); the other formats show
/// control characters and escape sequences as visible text.
fn terminal_safe(text: &str, format: ExportFormat) -> Cow<'_, str> {
    match format {
        ExportFormat::Json | ExportFormat::StatusJson => crate::text::json_escape_controls(text),
        ExportFormat::Markdown
        | ExportFormat::Status
        | ExportFormat::Notice
        | ExportFormat::Html
        | ExportFormat::Csv
        | ExportFormat::Scorecard => crate::text::visible(text),
    }
}

/// Refuse an `-o` target that is the input itself (by device and inode, so `./J`, `J/../J`
/// and links count), any bringup journal, or a path inside a journal's side folder.
pub(crate) fn check_target(out: &Path, input: &Path) -> Result<(), String> {
    let refused = |what: String| {
        Err(format!(
            "will not write the report to '{}': {what}; pass another file with -o",
            out.display()
        ))
    };
    if let Ok(target) = std::fs::metadata(out) {
        if let Ok(source) = std::fs::metadata(input)
            && (target.dev(), target.ino()) == (source.dev(), source.ino())
        {
            return refused(format!(
                "it is the journal being exported, '{}'",
                input.display()
            ));
        }
        if target.is_file() && is_journal(out) {
            return refused("it is a bringup journal".to_string());
        }
    }
    if let Some(journal) = side_folder_owner(out) {
        return refused(format!(
            "it is inside the side folder of the journal '{}'",
            journal.display()
        ));
    }
    if let Some((journal, what)) = companion_owner(out) {
        return refused(format!(
            "it is the {what} of the journal '{}'",
            journal.display()
        ));
    }
    Ok(())
}

/// The journal that `out` belongs to as its seal (`JOURNAL.seal`, `JOURNAL.sig`) or its lock
/// (`JOURNAL.lock`): overwriting one loses the signature or breaks the one-writer rule.
fn companion_owner(out: &Path) -> Option<(PathBuf, &'static str)> {
    let name = out.file_name()?.to_str()?;
    let (stem, what) = [
        (".sig", "signature"),
        (".seal", "signed head"),
        (".lock", "lock file"),
    ]
    .into_iter()
    .find_map(|(suffix, what)| Some((name.strip_suffix(suffix)?, what)))?;
    let journal = out.with_file_name(stem);
    is_journal(&journal).then_some((journal, what))
}

/// Whether the file's first line is a journal's first event (`"seq":1`, `run_started`) or
/// any journal line with its hash chain envelope.
fn is_journal(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = Vec::new();
    // A journal's first line is small; a report's first line is not read past this.
    let mut reader = std::io::BufReader::new(std::io::Read::take(file, 1 << 20));
    if reader.read_until(b'\n', &mut first).is_err() {
        return false;
    }
    crate::journal::record::Envelope::parse(first.trim_ascii_end())
        .is_ok_and(|env| env.seq >= 1 && env.hash.len() == 64)
}

/// The journal whose `<journal>.d` folder holds `out` (at any depth), if any. Ancestors are
/// resolved, so a link into a side folder counts too.
fn side_folder_owner(out: &Path) -> Option<PathBuf> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = std::fs::canonicalize(parent).ok()?;
    let mut folders: Vec<PathBuf> = parent.ancestors().map(Path::to_path_buf).collect();
    // `out` itself may be a side folder (or a link to one) the report would replace.
    if let Ok(resolved) = std::fs::canonicalize(out)
        && resolved.is_dir()
    {
        folders.push(resolved);
    }
    folders.into_iter().find_map(|dir| {
        let name = dir.file_name()?.to_str()?;
        let stem = name.strip_suffix(".d")?;
        let journal = dir.with_file_name(stem);
        is_journal(&journal).then_some(journal)
    })
}

/// Write through a temporary file beside `out` and rename it into place, so a failed export
/// never leaves half a report, and a link at `out` is replaced, not written through. The
/// file is 0600 whatever the umask: a report holds what hosts printed.
pub(crate) fn write_atomically(
    out: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    crate::journal::files::write_atomically(out, fill)
}

/// A report of no events from a file that is no journal (empty, a runbook, a log) would look
/// like a quiet incident; refuse it. A journal that reads but does not verify is still one.
fn has_events(events: usize, path: &Path) -> Result<(), String> {
    if events == 0 {
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
            allowed_signers: None,
            etcd: crate::cli::EtcdArgs::default(),
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
            let why = has_events(journal.records.len(), &path).expect_err("refused");
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
            provenance: crate::journal::event::Provenance::default(),
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
