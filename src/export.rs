//! Reports made from a journal alone: markdown post-mortem, status notice, html, json, csv.
//! Reads a journal through `journal::read_journal`; never writes one.

pub mod csv;
pub mod describe;
pub mod failures;
pub mod html;
pub mod json;
pub mod markdown;
pub mod metrics;
pub mod notice;
pub mod report;
pub mod scorecard;
pub mod status;
pub mod status_json;

pub use metrics::{Analysis, analyse};

use crate::cli::ExportFormat;
use crate::journal::verify::Journal;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write csv: {0}")]
    Csv(#[from] ::csv::Error),
    #[error(transparent)]
    NoScorecard(#[from] scorecard::NoScorecard),
}

/// Render `journal` in `format`.
pub fn render(journal: &Journal, format: ExportFormat) -> Result<String, ExportError> {
    // The scorecard needs no post-mortem analysis: a fold of its own.
    if format == ExportFormat::Scorecard {
        return scorecard_markdown(journal);
    }
    let a = analyse(journal);
    // A scenario drill's html and json carry its scorecard too.
    let drill = || scorecard::scorecard(&scorecard::summarise(&journal.records)).ok();
    Ok(match format {
        ExportFormat::Markdown => markdown::render(&a),
        ExportFormat::Status => status::render(&a),
        ExportFormat::StatusJson => status_json::render(&a)?,
        ExportFormat::Notice => notice::render(&a),
        ExportFormat::Html => html::render_with(&a, drill().as_ref()),
        ExportFormat::Json => json::render_with(&a, drill().as_ref())?,
        ExportFormat::Csv => csv::render(&a)?,
        ExportFormat::Scorecard => scorecard_markdown(journal)?,
    })
}

fn scorecard_markdown(journal: &Journal) -> Result<String, ExportError> {
    let sc = scorecard::scorecard(&scorecard::summarise(&journal.records))?;
    Ok(scorecard::render::markdown(&sc))
}
