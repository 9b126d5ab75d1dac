//! `bringup export`.

use std::process::ExitCode;

use crate::cli::ExportArgs;

pub fn export(args: &ExportArgs) -> ExitCode {
    let _ = args;
    super::not_yet("export")
}
