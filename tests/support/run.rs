//! What a finished `bringup` process left behind, as tests read it: its stdout and stderr as
//! text, and its journal as one JSON value per line. Reads only.

use std::fs;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every line of the journal at `path`, parsed.
pub fn read_journal(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .expect("journal readable")
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line is JSON"))
        .collect()
}
