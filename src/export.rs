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
}

/// Render `journal` in `format`.
pub fn render(journal: &Journal, format: ExportFormat) -> Result<String, ExportError> {
    let a = analyse(journal);
    Ok(match format {
        ExportFormat::Markdown => markdown::render(&a),
        ExportFormat::Status => status::render(&a),
        ExportFormat::StatusJson => status_json::render(&a)?,
        ExportFormat::Notice => notice::render(&a),
        ExportFormat::Html => html::render(&a),
        ExportFormat::Json => json::render(&a)?,
        ExportFormat::Csv => csv::render(&a)?,
    })
}
