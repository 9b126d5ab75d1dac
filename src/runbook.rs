//! Runbooks: TOML → raw serde structs → validated model → ordered plan.

pub mod model;
pub mod plan;

pub use model::{HostId, Runbook, ServiceId};
pub use plan::Plan;

use std::path::Path;

/// Every problem found in a runbook, each already formatted as
/// `file:line:col: message 'value' — suggestion`. Displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<String>);

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Read, parse and validate a runbook; `vars` are `--var KEY=VALUE` overrides.
pub fn load(path: &Path, vars: &[String]) -> Result<Runbook, Diagnostics> {
    let _ = (path, vars);
    todo!("runbook loading")
}
