//! Reports made from a journal alone: markdown post-mortem, status notice, html, json, csv.
//! A journal is read as a stream ([`Source`]): the analysis keeps what the reports say, not
//! the output, and the formats that list every event (json, csv) read it a second time while
//! they write, so memory does not grow with the journal. Never writes a journal.

pub mod csv;
pub mod describe;
pub mod failures;
pub mod html;
pub mod identities;
pub mod json;
pub mod markdown;
pub mod metrics;
pub mod notice;
pub mod report;
pub mod rollback;
pub mod scorecard;
pub mod status;
pub mod status_json;

use std::io::Write;
use std::path::Path;

pub use metrics::{Analyser, Analysis, analyse};

use crate::cli::ExportFormat;
use crate::fold::RunFold;
use crate::journal::record::{self, Record};
use crate::journal::verify::{self, Journal, ReadError, Report};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write csv: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error(transparent)]
    NoScorecard(#[from] scorecard::NoScorecard),
}

/// Where a report's events come from: records in memory, or a journal file read again.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    Records(&'a [Record]),
    /// The file and how many events the analysis read from it: a journal still being
    /// written is listed as far as it was analysed.
    File(&'a Path, usize),
}

impl Source<'_> {
    /// Every record, in order, until `each` fails.
    pub fn for_each<E>(&self, mut each: impl FnMut(&Record) -> Result<(), E>) -> Result<(), E>
    where
        E: From<ReadError>,
    {
        match self {
            Source::Records(records) => records.iter().try_for_each(each),
            Source::File(path, limit) => {
                let mut seen = 0;
                let mut failed = None;
                verify::scan(path, |bytes, env| {
                    if failed.is_some() || seen >= *limit {
                        return;
                    }
                    if let Some(env) = env
                        && let Ok(r) = record::parse_with(bytes, env)
                    {
                        seen += 1;
                        if let Err(e) = each(&r) {
                            failed = Some(e);
                        }
                    }
                })?;
                failed.map_or(Ok(()), Err)
            }
        }
    }
}

/// A journal file analysed in one streaming pass, with its verification report.
pub fn analyse_file(path: &Path) -> Result<(Analysis, Report), ReadError> {
    let mut analyser = Analyser::default();
    let report = verify::scan(path, |bytes, env| {
        if let Some(env) = env
            && let Ok(r) = record::parse_with(bytes, env)
        {
            analyser.push(&r);
        }
    })?;
    let analysis = analyser.finish(report.last_hash.clone(), report.is_intact());
    Ok((analysis, report))
}

/// The run's picture from a journal file, read fast for `run`'s summary at its end. Step
/// output (most of a chatty run's bytes, and nothing the picture is made of) is passed over
/// unparsed, and the chain is not checked again: the run that wrote it is reading it back, and
/// `verify` is what checks it. Lines that cannot be read are left out, as the run left them.
pub fn picture_file(path: &Path) -> std::io::Result<RunFold> {
    use std::io::BufRead as _;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let mut fold = RunFold::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(fold);
        }
        if record::is_output_line(&line) {
            continue;
        }
        if let Ok(r) = record::parse(&line) {
            fold.push(&r);
        }
    }
}

/// Write the report of `a` in `format` to `out`; json and csv list the events of `source`.
pub fn write(
    a: &Analysis,
    source: Source<'_>,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    match format {
        ExportFormat::Json => json::write(a, source, out)?,
        ExportFormat::Csv => csv::write(source, out)?,
        ExportFormat::Scorecard => {
            let sc = a.scorecard.as_ref().map_err(Clone::clone)?;
            out.write_all(scorecard::render::markdown(sc).as_bytes())?;
        }
        ExportFormat::Markdown => out.write_all(markdown::render(a).as_bytes())?,
        ExportFormat::Status => out.write_all(status::render(a).as_bytes())?,
        ExportFormat::StatusJson => out.write_all(status_json::render(a)?.as_bytes())?,
        ExportFormat::Notice => out.write_all(notice::render(a).as_bytes())?,
        // A scenario drill's html and json carry its scorecard too.
        ExportFormat::Html => {
            out.write_all(html::render_with(a, a.scorecard.as_ref().ok()).as_bytes())?;
        }
    }
    Ok(())
}

/// Render `journal` in `format`, in memory.
pub fn render(journal: &Journal, format: ExportFormat) -> Result<String, ExportError> {
    let a = analyse(journal);
    let mut out = Vec::new();
    write(&a, Source::Records(&journal.records), format, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
