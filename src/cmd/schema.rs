//! `bringup schema`: print the runbook format's JSON Schema, for editors and CI.

use std::process::ExitCode;

pub fn schema() -> ExitCode {
    crate::cmd::docs::print(crate::runbook::schema::text().as_bytes())
}
