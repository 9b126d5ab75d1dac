//! `bringup verify`.

use std::process::ExitCode;

use crate::cli::VerifyArgs;

pub fn verify(args: &VerifyArgs) -> ExitCode {
    let _ = args;
    super::not_yet("verify")
}
