//! Sessions for the unit tests that drive the real driver (its own tests and the TUI event
//! loop's): a runbook on the local transport written into a temp folder, opened with a
//! journal and a log file there, as `open` and `run` open one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::{OpenArgs, VarArgs};
use crate::cmd::session;
use crate::driver::{Driver, Inbox, Notice};
use crate::engine::StepOutcome;
use crate::journal::Event;
use crate::runbook::model::Runbook;
use crate::session::Session;

/// A tier-1 service `slow` on host `box` whose one check sleeps for 30 s (timeout 60 s).
pub const SLOW_SERVICE: &str = r#"
[[service]]
id = "slow"
name = "Slow"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "hangs"
  run = "sleep 30"
  timeout = "60s"
"#;

/// A tier-1 service `db` on host `box`, up once `DIR/db.up` exists, whose one restore (with
/// `confirm`) creates it; `dir` is put in the commands as written (a path, or a placeholder).
pub fn db_service(dir: &str) -> String {
    format!(
        r#"
[[service]]
id = "db"
name = "Database"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f {dir}/db.up"
  [[service.restore]]
  name = "start db"
  run = "touch {dir}/db.up && echo started"
  confirm = true
"#
    )
}

/// What a test keeps of an opened session (the signal listener and log guard are dropped).
pub struct Opened {
    pub driver: Driver,
    pub messages: Inbox,
    pub runbook: Arc<Runbook>,
    pub start_notices: Vec<Notice>,
    /// `dir/journal.jsonl`.
    pub journal: PathBuf,
}

/// Write `text` (with [`SLOW_SERVICE`] appended when `slow`) to `dir/name`.
pub fn write_runbook(dir: &Path, name: &str, mut text: String, slow: bool) -> PathBuf {
    if slow {
        text.push_str(SLOW_SERVICE);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write runbook");
    path
}

/// Load and open the runbook at `path` as `operator`, with `vars`, journaling to
/// `dir/journal.jsonl` and logging to `dir/bringup.log`.
pub fn open_session(dir: &Path, path: &Path, operator: &str, vars: Vec<String>) -> Opened {
    let journal = dir.join("journal.jsonl");
    let args = OpenArgs {
        vars: VarArgs {
            vars,
            ..VarArgs::default()
        },
        journal: Some(journal.clone()),
        operator: Some(operator.into()),
        log_file: Some(dir.join("bringup.log")),
        ..OpenArgs::default()
    };
    let rb = session::load_runbook(path, &args).expect("valid runbook");
    let Session {
        driver,
        messages,
        runbook,
        start_notices,
        ..
    } = session::open(rb, &args, crate::session::Scope::Restore, "test").expect("session");
    Opened {
        driver,
        messages,
        runbook,
        start_notices,
        journal,
    }
}

/// The journal of a run stopped while [`SLOW_SERVICE`] ran: the slow check ended other than
/// `ok`, and the run ended `interrupted`.
#[track_caller]
pub fn assert_slow_stopped_and_interrupted(events: &[Event]) {
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepFinished { service, outcome, .. }
            if service.as_str() == "slow" && *outcome != StepOutcome::Ok
    )));
    assert!(matches!(
        events.last(),
        Some(Event::RunFinished { outcome, .. }) if outcome == "interrupted"
    ));
}
