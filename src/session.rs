//! A session: what `run`, `open`, `demo` and `drill` share before they diverge. Load the
//! runbook against the options, open (or resume) the journal, set up the log, and assemble
//! engine, executor and driver. It prints nothing: it returns typed values, [`Note`]s for the
//! front end to show while it opens, and [`SessionError`]s for `cmd/` to say and map to an
//! exit code.

mod config;
mod error;
mod log;
mod recorded;
mod start;
mod vars;

pub use config::{JournalLocation, NewHostKeys, OnChange, RunConfig, Scope, Selection, Start};
pub use error::{Note, SessionError};
pub use log::{LogPlace, init_log, log_place};
pub use recorded::{KeptRun, Mismatch, RecordedRun, reconcile, recorded_run};
pub use start::{parse_incident_start, run_started};
pub use vars::{
    ContinueWith, continue_command, continued_vars, kept_runbook, var_sources, var_values,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::driver::{Driver, Inbox, Notice, Signals};
use crate::engine::{Engine, ResumeFacts, ServiceState};
use crate::exec::{ExecOptions, Executor};
use crate::journal::etcd::shared::SharedRun;
use crate::journal::etcd::{Access, RunUrl};
use crate::journal::event::{HandOver, PreviousExecutor};
use crate::journal::seal::SigningKey;
use crate::journal::{self, Event, JournalWriter};
use crate::runbook::model::{Runbook, ServiceId};

pub struct Session {
    pub driver: Driver,
    pub messages: Inbox,
    /// SIGINT, SIGTERM and SIGHUP, listened for from before the run starts, for every front end.
    pub signals: Signals,
    pub runbook: Arc<Runbook>,
    /// Where the journal is, as opened.
    pub journal: JournalLocation,
    /// `run_started` (or `resumed`) as journaled.
    pub start_notices: Vec<Notice>,
    /// Where diagnostics are logged; `None` when the log could not be kept (said in a
    /// [`Note::LogUnavailable`]).
    pub log: Option<PathBuf>,
    /// Keeps the log writer flushing until the session ends.
    pub log_guard: Option<tracing_appender::non_blocking::WorkerGuard>,
    /// `--resume`: what the journal says, carried out by [`Session::resume`].
    pub resume: Option<PendingResume>,
    /// `--resume`: the run's records as read when it was taken (locked or held), so a
    /// screen can show its history; empty for a new run.
    pub history: Vec<journal::Record>,
}

/// A resumed run's journal facts, waiting for [`Session::resume`].
pub struct PendingResume {
    facts: ResumeFacts,
    run_id: Option<String>,
    in_flight: Vec<journal::replay::InFlight>,
    /// Services the journal has and the runbook no longer does, with their recorded states.
    removed: Vec<(ServiceId, ServiceState)>,
    /// Approvals a pending two-person step already had.
    approved: Vec<(crate::engine::StepRef, String)>,
}

/// Load and validate the runbook with the variables given.
pub fn load_runbook(path: &Path, vars: &crate::cli::VarArgs) -> Result<Runbook, SessionError> {
    let vars = var_values(vars)?;
    crate::runbook::load(path, &vars).map_err(SessionError::Runbook)
}

/// A loaded runbook against the options: every secret has a value, `--only` and
/// `--scenario` name what it has. `path` names it in what is said.
pub fn check_runbook(
    runbook: Runbook,
    path: &Path,
    only: &[String],
    scenario: Option<&str>,
) -> Result<Arc<Runbook>, SessionError> {
    let unset = runbook.unset_secrets();
    if !unset.is_empty() {
        let flags: Vec<String> = unset
            .iter()
            .map(|k| format!("--var-env {k}=ENVNAME or --var-file {k}=PATH"))
            .collect();
        return Err(SessionError::UnsetSecrets {
            names: unset
                .iter()
                .map(|k| format!("'{k}'"))
                .collect::<Vec<_>>()
                .join(", "),
            path: path.display().to_string(),
            flags: flags.join(" "),
        });
    }
    check_selection(&runbook, path, only, scenario)?;
    Ok(Arc::new(runbook))
}

/// `--only` and `--scenario` name what the runbook has; secrets aside (`preflight` runs
/// without them).
pub fn check_selection(
    runbook: &Runbook,
    path: &Path,
    only: &[String],
    scenario: Option<&str>,
) -> Result<(), SessionError> {
    for only in only {
        if !runbook.services.iter().any(|s| s.id.as_str() == only) {
            let ids: Vec<&str> = runbook.services.iter().map(|s| s.id.as_str()).collect();
            let hint = crate::runbook::suggest(only, ids.iter().copied())
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default();
            return Err(SessionError::UnknownService {
                only: only.clone(),
                path: path.display().to_string(),
                hint,
            });
        }
    }
    if let Some(id) = scenario {
        scenario_of(runbook, path, id)?;
    }
    Ok(())
}

/// The `[[scenario]]` named `id`, or an error naming it and the runbook's scenarios.
pub fn scenario_of<'a>(
    runbook: &'a Runbook,
    path: &Path,
    id: &str,
) -> Result<&'a crate::runbook::drill::Scenario, SessionError> {
    if let Some(scenario) = runbook.drills.scenario(id) {
        return Ok(scenario);
    }
    let ids: Vec<&str> = runbook
        .drills
        .scenarios
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    let hint = crate::runbook::suggest(id, ids.iter().copied())
        .map(|s| format!("did you mean '{s}'? "))
        .unwrap_or_default();
    let known = if ids.is_empty() {
        "it has none; add a [[scenario]] to drill".to_string()
    } else {
        format!(
            "{hint}its scenarios: {}",
            ids.iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(SessionError::UnknownScenario {
        id: id.to_string(),
        path: path.display().to_string(),
        known,
    })
}

/// The executor for a runbook's hosts.
pub fn executor(runbook: &Runbook, new_host_keys: NewHostKeys) -> Executor {
    let options = ExecOptions {
        accept_new_host_keys: new_host_keys == NewHostKeys::Accept,
        connect_timeout: runbook.defaults.connect_timeout,
        ..ExecOptions::default()
    };
    Executor::new(runbook, options)
}

/// Who is at the keyboard: `given`, else `$USER` or `$LOGNAME`, else "operator".
pub fn operator_name(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .into_iter()
        .chain(
            ["USER", "LOGNAME"]
                .iter()
                .filter_map(|v| std::env::var(v).ok()),
        )
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "operator".to_string())
}

/// The journal opened for the session, and what to record first.
struct Opening {
    writer: JournalWriter,
    location: JournalLocation,
    start: Event,
    resume: Option<PendingResume>,
    history: Vec<journal::Record>,
    /// Webhooks a resumed journal still owes.
    owed: Vec<(usize, u64, serde_json::Value)>,
    /// When the incident began (a resumed run keeps its journal's).
    began: chrono::DateTime<chrono::Utc>,
    /// A resumed journal's notice already came due.
    notice_due: bool,
}

impl Session {
    /// Open the journal (new, or `--resume`), start logging beside it, and journal the start.
    /// `say` gets what the operator should read while it opens.
    pub fn open(
        runbook: Arc<Runbook>,
        config: &RunConfig,
        say: &mut dyn FnMut(Note),
    ) -> Result<Session, SessionError> {
        // Before anything is journaled: from here a signal stops the run, never kills it.
        let signals = Signals::listen();
        let selection = config.selection(&runbook);
        let mut options = selection.engine_options();
        options.mode = config.mode;
        let engine = Engine::new(runbook.clone(), options);
        let secrets = runbook.secret_values();
        let opening = match &config.start {
            Start::Resume { from, on_change } => {
                resume_journal(&runbook, config, from, *on_change, &secrets, say)?
            }
            Start::New(location) => new_journal(&runbook, config, location.as_ref(), &secrets)?,
        };
        let place = log_place(config.log_file.as_deref(), &opening.location);
        let (log, log_guard) = match init_log(&place) {
            Ok((path, guard)) => (Some(path), guard),
            Err(note) => {
                say(note);
                (None, None)
            }
        };
        tracing::info!(front = config.front, journal = %opening.location, "session opened");

        let exec = executor(&runbook, config.new_host_keys);
        let (mut driver, messages) =
            Driver::new(engine, opening.writer, exec, config.operator.clone());
        // Who may ask from elsewhere, and what a resumed run already carried out.
        driver.set_operators(config.operators.clone());
        driver.witness_with(config.access.clone(), config.seal_key.clone());
        driver.recall_requests(&opening.history);
        // A resumed drill goes on from where its journal says it stood.
        if let (Start::Resume { .. }, Some(id)) = (&config.start, &config.scenario) {
            driver.recall_drill(id, &opening.history);
        }
        let start_notices = match driver.record(opening.start) {
            Ok(n) => n,
            Err(e) => return Err(not_recorded(&mut driver, e)),
        };
        driver.redeliver(opening.owed);
        if let Some(after) = runbook.notice.after {
            driver.arm_notice(opening.began, after, opening.notice_due);
        }
        Ok(Session {
            driver,
            messages,
            signals,
            runbook,
            journal: opening.location,
            start_notices,
            log,
            log_guard,
            resume: opening.resume,
            history: opening.history,
        })
    }

    /// `--resume`, before anything else runs: settle the steps in flight at the crash (a
    /// command still running on its host is stopped; `say` tells the operator), then check
    /// every service again. Nothing to do for a new run.
    pub async fn resume(
        &mut self,
        say: &mut dyn FnMut(String),
        choose: &mut dyn FnMut(&str) -> crate::driver::Orphan,
    ) -> Result<(), SessionError> {
        let Some(pending) = self.resume.take() else {
            return Ok(());
        };
        if let Some(run_id) = &pending.run_id {
            match self
                .driver
                .settle_in_flight(run_id, &pending.in_flight, say, choose)
                .await
            {
                Ok(n) => self.start_notices.extend(n),
                Err(e) => return Err(not_recorded(&mut self.driver, e)),
            }
        }
        self.driver.keep_removed(pending.removed);
        match self.driver.resume(&pending.facts, &pending.approved) {
            Ok(n) => self.start_notices.extend(n),
            Err(e) => return Err(not_recorded(&mut self.driver, e)),
        }
        Ok(())
    }
}

/// The journal failed while recording the start (or the resume): as anywhere else in a run,
/// every step that runs is told to stop (the driver launches steps only after their events
/// are durable, so none should be running).
fn not_recorded(driver: &mut Driver, error: journal::JournalError) -> SessionError {
    let running = driver.abandon();
    SessionError::NotRecorded {
        error: Box::new(error),
        running,
    }
}

/// `--resume`: lock (or, for a shared run, hold) the journal before reading it, replay it,
/// and apply the resume rules: a changed runbook is refused unless forced.
fn resume_journal(
    runbook: &Runbook,
    config: &RunConfig,
    from: &JournalLocation,
    on_change: OnChange,
    secrets: &[String],
    say: &mut dyn FnMut(Note),
) -> Result<Opening, SessionError> {
    let bad = |e: &dyn std::fmt::Display| SessionError::resume(from, &e);
    let proven = prove_executor(runbook, config)?;
    // Locked (or held) before it is read: what is replayed is all there is, and no other run
    // appends while this one decides.
    let (opened, recorded, previous) = match from {
        JournalLocation::Shared(url) => {
            let (run, held_by) =
                take_over(url, &config.access, &config.operator, say).map_err(|e| bad(&e))?;
            let recorded = run.read_run().map_err(|e| bad(&e))?;
            let previous = held_by.map(|h| PreviousExecutor {
                operator: Some(h.operator),
                host: Some(h.host),
                pid: Some(h.pid),
            });
            (Opened::Shared(Box::new(run)), recorded, previous)
        }
        JournalLocation::File(path) => {
            // Before the lock is taken (taking it writes this process's pid there): the pid
            // a process that ended without letting go left behind.
            let pid = journal::files::recorded_holder(path);
            let lock = journal::JournalLock::acquire(path).map_err(|e| bad(&e))?;
            let recorded = journal::read_journal(path).map_err(|e| bad(&e))?;
            let previous = PreviousExecutor {
                operator: last_operator(&recorded.records),
                host: None,
                pid,
            };
            (Opened::File(lock), recorded, Some(previous))
        }
    };
    let reason = config.hand_over.or(match from {
        JournalLocation::Shared(_) => Some(HandOver::LeaseLost),
        JournalLocation::File(_) => (!finished(&recorded.records)).then_some(HandOver::Crashed),
    });
    let replayed = journal::replay(&recorded.records, runbook);
    let owed = crate::notify::owed(recorded.records.iter().map(|r| &r.event));
    let mut began = chrono::Utc::now();
    let mut notice_due = false;
    for r in &recorded.records {
        match &r.event {
            Event::RunStarted { incident_start, .. } => began = incident_start.unwrap_or(r.ts),
            Event::NoticeDue { .. } => notice_due = true,
            _ => {}
        }
    }
    let forced = match journal::check_runbook(&replayed, runbook) {
        Ok(()) => None,
        Err(mismatch @ journal::RunbookMismatch::Changed { .. }) => match on_change {
            OnChange::Refuse => return Err(SessionError::RunbookChanged(mismatch)),
            OnChange::Force => Some(runbook.sha256.clone()),
        },
        Err(e) => return Err(bad(&e)),
    };
    let writer = match opened {
        Opened::File(lock) => {
            let (writer, report) =
                JournalWriter::resume_locked(lock, secrets, Box::new(journal::SystemClock))
                    .map_err(|e| bad(&e))?;
            for warning in report.warnings() {
                say(Note::JournalWarning(warning.clone()));
            }
            writer
        }
        Opened::Shared(run) => {
            if let Some(p) = recorded.report.first_problem() {
                return Err(bad(&format_args!(
                    "it does not verify ({p}); it cannot be continued — run `bringup verify` on it"
                )));
            }
            JournalWriter::shared(*run, secrets, true).map_err(|e| bad(&e))?
        }
    };
    Ok(Opening {
        writer,
        location: from.clone(),
        start: Event::Resumed {
            from_seq: replayed.from_seq,
            forced: forced.is_some(),
            runbook_sha256: forced,
            operator: Some(config.operator.clone()),
            identity: Some(
                proven
                    .as_ref()
                    .map_or("local", |p| p.identity.as_str())
                    .to_string(),
            ),
            key: proven.map(|p| p.key),
            previous,
            reason,
        },
        resume: Some(PendingResume {
            facts: replayed.facts,
            run_id: replayed.run_id,
            in_flight: replayed.in_flight,
            removed: replayed.removed,
            approved: replayed.approved,
        }),
        history: recorded.records,
        owed,
        began,
        notice_due,
    })
}

/// With allowed signers and a key at hand (`--sign-key`, else the agent's first key), the
/// executing operator proven by a signature (SPEC "Who did it"); no key at hand: `None`, and
/// the journal says nothing of a key.
fn prove_executor(
    runbook: &Runbook,
    config: &RunConfig,
) -> Result<Option<crate::identity::ExecutorKey>, SessionError> {
    use crate::identity::SignError;
    let Some(signers) = config
        .operators
        .as_ref()
        .or(runbook.operators.signers.as_ref())
    else {
        return Ok(None);
    };
    let key = config
        .sign_key
        .clone()
        .map_or(SigningKey::Agent, SigningKey::File);
    match crate::identity::prove_executor(&config.operator, &runbook.sha256, &key, signers) {
        Ok(proven) => Ok(Some(proven)),
        Err(SignError::NoAgent | SignError::AgentEmpty) if config.sign_key.is_none() => Ok(None),
        Err(e @ SignError::TimedOut { .. }) => Err(SessionError::KeyProof(e)),
        // The agent's key (a confirmation declined, say): no `--sign-key` to blame.
        Err(e) if config.sign_key.is_none() => Err(SessionError::KeyProof(e)),
        Err(e) => Err(SessionError::SignKey(e)),
    }
}

/// A new run: its journal (`--journal`, a shared run, or the default file), and `run_started`.
fn new_journal(
    runbook: &Runbook,
    config: &RunConfig,
    location: Option<&JournalLocation>,
    secrets: &[String],
) -> Result<Opening, SessionError> {
    // Before the journal is created: a start that cannot prove its key leaves nothing behind,
    // and the same command works once the key is at hand.
    let proven = prove_executor(runbook, config)?;
    let (location, created) = match location {
        Some(JournalLocation::Shared(url)) => (
            JournalLocation::Shared(url.clone()),
            start_shared(url, &config.access, &config.operator, runbook, secrets),
        ),
        Some(JournalLocation::File(path)) => (
            JournalLocation::File(path.clone()),
            JournalWriter::create(path, secrets),
        ),
        None => {
            let (path, created) = create_default(&runbook.path, secrets);
            (JournalLocation::File(path), created)
        }
    };
    let writer = created.map_err(|source| SessionError::Create {
        path: location.to_string(),
        source: Box::new(source),
    })?;
    let mut start = run_started(
        runbook,
        &config.operator,
        config.mode,
        config.incident_start,
    );
    if let Event::RunStarted {
        scenario, executor, ..
    } = &mut start
    {
        scenario.clone_from(&config.scenario);
        *executor = proven.map(Box::new);
    }
    Ok(Opening {
        writer,
        location,
        start,
        resume: None,
        history: Vec::new(),
        owed: Vec::new(),
        began: config.incident_start.unwrap_or_else(chrono::Utc::now),
        notice_due: false,
    })
}

/// A resumed journal, locked or held, before it is read.
enum Opened {
    File(journal::JournalLock),
    Shared(Box<SharedRun>),
}

/// Start a new shared run: hold it (refused while another process does), then keep the
/// runbook's text in it for attached operators.
fn start_shared(
    url: &RunUrl,
    access: &Access,
    operator: &str,
    runbook: &Runbook,
    secrets: &[String],
) -> Result<JournalWriter, journal::JournalError> {
    let mut run = SharedRun::connect(url, access)?;
    run.campaign(operator, Duration::ZERO)?;
    let writer = JournalWriter::shared(run, secrets, false)?;
    if let Ok(text) = std::fs::read_to_string(&runbook.path)
        && let Some(run) = writer.shared_run()
    {
        run.put_runbook(text)?;
    }
    Ok(writer)
}

/// Take over a shared run: hold it once its executing process's lease has ended (at most
/// the lease's TTL after that process died, plus a margin), saying so while it waits.
/// The operator who ran the journal last: the latest `resumed`'s, else `run_started`'s.
fn last_operator(records: &[journal::Record]) -> Option<String> {
    records.iter().rev().find_map(|r| match &r.event {
        Event::RunStarted { operator, .. }
        | Event::Resumed {
            operator: Some(operator),
            ..
        } => Some(operator.clone()),
        _ => None,
    })
}

/// Whether the journal's run ended (`run_finished` after its latest start or resume).
fn finished(records: &[journal::Record]) -> bool {
    records
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::RunFinished { .. } => Some(true),
            Event::RunStarted { .. } | Event::Resumed { .. } => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

/// Hold a shared run to continue it, waiting for a live holder's lease to end; with whoever
/// held it last (read before this process holds it).
fn take_over(
    url: &RunUrl,
    access: &Access,
    operator: &str,
    say: &mut dyn FnMut(Note),
) -> Result<(SharedRun, Option<journal::etcd::shared::Holder>), journal::etcd::StoreError> {
    let held_by = SharedRun::last_holder(url, access)?;
    if let Some(holder) = SharedRun::holder(url, access)? {
        say(Note::WaitingForHolder {
            url: url.to_string(),
            holder: holder.to_string(),
            secs: TAKE_OVER_WAIT.as_secs(),
        });
    }
    let mut run = SharedRun::connect(url, access)?;
    run.campaign(operator, TAKE_OVER_WAIT)?;
    Ok((run, held_by))
}

/// How long `--resume URL` waits for the executing process's lease to end.
const TAKE_OVER_WAIT: Duration = Duration::from_secs(15);

/// Most runs started within one second of each other that get a journal of their own.
const SAME_SECOND_RUNS: u32 = 100;

/// The default journal: `journal/<stem>-<time>.jsonl`, or `…-2.jsonl`, `…-3.jsonl` when runs
/// of the same runbook started within the same second (an existing journal is never reused).
fn create_default(
    runbook: &Path,
    secrets: &[String],
) -> (PathBuf, Result<JournalWriter, journal::JournalError>) {
    let first = journal::default_path(runbook, chrono::Utc::now());
    let mut path = first.clone();
    let mut n = 1;
    loop {
        match JournalWriter::create(&path, secrets) {
            Err(journal::JournalError::Exists(_) | journal::JournalError::Locked { .. })
                if n < SAME_SECOND_RUNS =>
            {
                n += 1;
                let stem = first.file_stem().unwrap_or_default().to_string_lossy();
                path = first.with_file_name(format!("{stem}-{n}.jsonl"));
            }
            created => return (path, created),
        }
    }
}
