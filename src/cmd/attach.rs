//! `bringup attach URL`: the TUI on a shared run from any machine.

use std::process::ExitCode;

use crate::cli::AttachArgs;

pub fn attach(args: &AttachArgs) -> ExitCode {
    let _ = args;
    eprintln!("bringup: attach is not built yet");
    ExitCode::from(crate::cmd::EXIT_BAD_INPUT)
}
