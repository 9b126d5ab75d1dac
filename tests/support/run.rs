//! What a finished `bringup` process left behind, as tests read it: its stdout and stderr as
//! text, and its journal as one JSON value per line ([`super::events`]). Reads only.

use std::path::Path;
use std::process::Output;

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The journal reader of [`super::events`], here too for the tests that take it with the output
/// helpers.
pub use super::events::read_journal;

/// `bringup` as an `assert_cmd` command, for tests that only look at its exit and output.
pub fn bringup_cmd() -> assert_cmd::Command {
    assert_cmd::cargo::cargo_bin_cmd!("bringup")
}

/// Run `cmd` and fail the test unless it exits 2 naming `path` in single quotes on stderr.
#[track_caller]
pub fn assert_exits_2_naming(cmd: &mut assert_cmd::Command, path: &Path) {
    cmd.assert()
        .code(2)
        .stderr(predicates::str::contains(format!("'{}'", path.display())));
}
