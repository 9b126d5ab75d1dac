//! `bringup open`.
//! Also `bringup demo`, which stages the simulated datacenter first.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::{DemoArgs, OpenArgs};

pub fn open(runbook: &Path, args: &OpenArgs) -> ExitCode {
    let _ = (runbook, args);
    super::not_yet("the TUI")
}

pub fn demo(args: &DemoArgs) -> ExitCode {
    let _ = args;
    super::not_yet("demo")
}
