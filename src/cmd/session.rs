//! The session library (`crate::session`) as the commands use it: what it returns is said on
//! stderr here and mapped to SPEC's exit codes; nothing of a run's semantics lives here.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{OpenArgs, VarArgs};
use crate::runbook::model::Runbook;
pub use crate::session::{
    ContinueWith, RecordedRun, continue_command, kept_runbook, operator_name,
};
use crate::session::{JournalLocation, Note, RunConfig, Scope, Session, SessionError};

/// Say why a session could not start; its exit code.
pub fn failed(e: &SessionError) -> ExitCode {
    use std::io::Write as _;
    let mut err = std::io::stderr();
    match e {
        // Each diagnostic already names file, line and column.
        SessionError::Runbook(diagnostics) => {
            let _ = write!(err, "{diagnostics}");
        }
        SessionError::NotRecorded { running, .. } => {
            let _ = writeln!(err, "bringup: {e}");
            if *running > 0 {
                let _ = writeln!(
                    err,
                    "bringup: {running} step(s) were told to stop; check their hosts"
                );
            }
        }
        _ => {
            let _ = writeln!(err, "bringup: {e}");
        }
    }
    ExitCode::from(e.exit())
}

/// Say what a session tells while it opens.
pub fn note(note: &Note) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "bringup: {note}");
}

/// Load and validate the runbook against the options; diagnostics go to stderr (exit 2).
pub fn load_runbook(path: &Path, args: &OpenArgs) -> Result<Arc<Runbook>, ExitCode> {
    let runbook = crate::session::load_runbook(path, &args.vars).map_err(|e| failed(&e))?;
    check_runbook(runbook, path, args)
}

/// [`load_runbook`] for a run that may resume a journal: the run goes on as the journal's
/// `run_started` records it (a drill as the same drill, with its scenario: `args` take
/// `--drill` and `--scenario` from it). Asking for another run (another scenario, a drill
/// on an incident's journal, `--only` on a drill's) is refused as bad input (exit 2), with
/// the command that continues the recorded run.
pub async fn load_resumed(
    path: &Path,
    args: &mut OpenArgs,
    with: ContinueWith<'_>,
) -> Result<Arc<Runbook>, ExitCode> {
    let runbook = crate::session::load_runbook(path, &args.vars).map_err(|e| failed(&e))?;
    if let Some(journal) = args.resume.clone()
        && let Some(recorded) = crate::session::recorded_run(
            &journal,
            &crate::journal::etcd::Access::from_args(&args.etcd),
        )
        .await
    {
        let asked = RecordedRun::of(args.drill, args.scenario.as_deref());
        match crate::session::reconcile(&journal, &recorded, &asked, &args.only) {
            Ok(run) => {
                args.drill = matches!(run, RecordedRun::Drill { .. });
                args.scenario = run.scenario().map(str::to_string);
            }
            Err(mismatch) => {
                let (command, to_set) = continue_command(
                    with,
                    mismatch.recorded(),
                    &args.vars,
                    &runbook.secret_vars,
                    &journal,
                    &args.etcd,
                );
                eprintln!("bringup: {mismatch}");
                eprintln!("continue it with: {command}");
                for env in to_set {
                    eprintln!("  (set {env} to the secret first: read -rs {env}; export {env})");
                }
                return Err(ExitCode::from(crate::Exit::BadInput));
            }
        }
    }
    check_runbook(runbook, path, args)
}

/// The reports to make of a journal now, as commands: a drill's scorecard first (its detect
/// and restore times against each RTO, where the time went), then the post-mortem draft.
pub fn report_hints(journal: &Path, drill: bool) -> Vec<String> {
    let j = journal.display();
    let mut hints = Vec::new();
    if drill {
        hints.push(format!(
            "  drill scorecard:   bringup export {j} --format scorecard"
        ));
    }
    hints.push(format!(
        "  post-mortem draft: bringup export {j} --format markdown"
    ));
    hints
}

/// Where a shared run's log is, as one line under its `journal:` line (a file journal's is
/// beside it, where the operator already looks).
pub fn log_line(journal: &JournalLocation, log: Option<&Path>) -> Option<String> {
    journal.shared()?;
    Some(format!("log: {}", log?.display()))
}

/// The runbook for probes that run nothing a secret is needed for (`preflight`): validated,
/// `--only` and `--scenario` checked, secrets allowed to have no value.
pub fn load_runbook_without_secrets(path: &Path, args: &OpenArgs) -> Result<Runbook, ExitCode> {
    let runbook = crate::session::load_runbook(path, &args.vars).map_err(|e| failed(&e))?;
    crate::session::check_selection(&runbook, path, &args.only, args.scenario.as_deref())
        .map_err(|e| failed(&e))?;
    Ok(runbook)
}

/// [`crate::session::check_runbook`] with the options of `open` and `run`.
pub fn check_runbook(
    runbook: Runbook,
    path: &Path,
    args: &OpenArgs,
) -> Result<Arc<Runbook>, ExitCode> {
    crate::session::check_runbook(runbook, path, &args.only, args.scenario.as_deref())
        .map_err(|e| failed(&e))
}

/// The variables' values; a bad source is said on stderr (exit 2).
pub fn var_values(sources: &VarArgs) -> Result<Vec<String>, ExitCode> {
    crate::session::var_values(sources).map_err(|e| failed(&e))
}

/// Parse the options and open the session, saying what it tells on stderr.
pub fn open(
    runbook: Arc<Runbook>,
    args: &OpenArgs,
    scope: Scope,
    front: &'static str,
) -> Result<Session, ExitCode> {
    let config = RunConfig::from_args(args, scope, front).map_err(|e| failed(&e))?;
    Session::open(runbook, &config, &mut |n| note(&n)).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_shared_run_says_where_its_log_is() {
        let shared = JournalLocation::parse(Path::new("etcd://127.0.0.1:2379/fire")).expect("url");
        let log = Path::new("/home/kim/.local/state/bringup/fire.log");
        assert_eq!(
            log_line(&shared, Some(log)).as_deref(),
            Some("log: /home/kim/.local/state/bringup/fire.log")
        );
        // A log that could not be kept was warned about at the start: nothing to point at.
        assert_eq!(log_line(&shared, None), None);
        let file = JournalLocation::File("/j/fire.jsonl".into());
        assert_eq!(log_line(&file, Some(Path::new("/j/bringup.log"))), None);
    }
}
