//! `bringup validate`.

use std::process::ExitCode;

use crate::cli::{PlanArgs, ValidateArgs};

pub fn validate(args: &ValidateArgs) -> ExitCode {
    let _ = args;
    super::not_yet("validate")
}

pub fn plan(args: &PlanArgs) -> ExitCode {
    let _ = args;
    super::not_yet("plan")
}
