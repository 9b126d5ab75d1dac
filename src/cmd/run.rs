//! `bringup run`.

use std::process::ExitCode;

use crate::cli::RunArgs;

pub fn run(args: &RunArgs) -> ExitCode {
    let _ = args;
    super::not_yet("run")
}
