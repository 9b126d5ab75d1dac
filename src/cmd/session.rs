//! What `run`, `open` and `demo` share before they diverge: load the runbook, set up the log,
//! open (or resume) the journal, and assemble engine, executor and driver.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cli::{OpenArgs, VarArgs};
use crate::cmd::{EXIT_BAD_INPUT, EXIT_INTERRUPTED};
use crate::driver::{Driver, Inbox, Notice, Signals};
use crate::engine::{Engine, EngineOptions, Mode, ResumeFacts};
use crate::exec::{ExecOptions, Executor};
use crate::journal::etcd::shared::SharedRun;
use crate::journal::etcd::{Access, RunUrl};
use crate::journal::{self, CheckInfo, Event, JournalWriter, ServiceInfo};
use crate::runbook::model::{Runbook, ServiceId};

pub struct Session {
    pub driver: Driver,
    pub messages: Inbox,
    /// SIGINT, SIGTERM and SIGHUP, listened for from before the run starts, for every front end.
    pub signals: Signals,
    pub runbook: Arc<Runbook>,
    /// `run_started` (or `resumed`) as journaled.
    pub start_notices: Vec<Notice>,
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
}

/// Load and validate the runbook; diagnostics go to stderr and become exit code 2.
pub fn load_runbook(path: &Path, args: &OpenArgs) -> Result<Arc<Runbook>, ExitCode> {
    let vars = var_values(&args.vars)?;
    let runbook = match crate::runbook::load(path, &vars) {
        Ok(rb) => rb,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Err(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    check_runbook(runbook, path, args)
}

/// A loaded runbook against the options: every secret has a value, `--only` and
/// `--scenario` name what it has. `path` names it in what is said.
pub fn check_runbook(
    runbook: Runbook,
    path: &Path,
    args: &OpenArgs,
) -> Result<Arc<Runbook>, ExitCode> {
    let unset = runbook.unset_secrets();
    if !unset.is_empty() {
        let flags: Vec<String> = unset
            .iter()
            .map(|k| format!("--var-env {k}=ENVNAME or --var-file {k}=PATH"))
            .collect();
        eprintln!(
            "bringup: secret variable(s) {} of '{}' have no value; pass {} (secrets are shown as *** everywhere)",
            unset
                .iter()
                .map(|k| format!("'{k}'"))
                .collect::<Vec<_>>()
                .join(", "),
            path.display(),
            flags.join(" ")
        );
        return Err(ExitCode::from(EXIT_BAD_INPUT));
    }
    for only in &args.only {
        if !runbook.services.iter().any(|s| s.id.as_str() == only) {
            let ids: Vec<&str> = runbook.services.iter().map(|s| s.id.as_str()).collect();
            let hint = crate::runbook::suggest(only, ids.iter().copied())
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default();
            eprintln!(
                "bringup: --only '{only}' is not a service of '{}'{hint}",
                path.display()
            );
            return Err(ExitCode::from(EXIT_BAD_INPUT));
        }
    }
    if let Some(id) = &args.scenario {
        scenario_of(&runbook, path, id)?;
    }
    Ok(Arc::new(runbook))
}

/// The `[[scenario]]` named `id`, or exit 2 naming it and the runbook's scenarios.
pub fn scenario_of<'a>(
    runbook: &'a Runbook,
    path: &Path,
    id: &str,
) -> Result<&'a crate::runbook::drill::Scenario, ExitCode> {
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
    eprintln!(
        "bringup: --scenario '{id}' is not a scenario of '{}'; {known}",
        path.display()
    );
    Err(ExitCode::from(EXIT_BAD_INPUT))
}

/// Whether `--only` selects this service (no `--only`: every service).
pub fn selected(_runbook: &Runbook, only: &[String], id: &ServiceId) -> bool {
    let options = crate::engine::EngineOptions {
        only: only.iter().map(ServiceId::new).collect(),
        check_only: false,
    };
    options.selects(id)
}

pub fn executor(runbook: &Runbook, args: &OpenArgs) -> Result<Executor, ExitCode> {
    let options = ExecOptions {
        accept_new_host_keys: args.accept_new_host_keys,
        connect_timeout: runbook.defaults.connect_timeout,
        ..ExecOptions::default()
    };
    Ok(Executor::new(runbook, options))
}

fn operator(args: &OpenArgs) -> String {
    operator_name(args.operator.as_deref())
}

/// Who is at the keyboard: `given`, else `$USER` or `$LOGNAME`, else "operator".
pub(crate) fn operator_name(given: Option<&str>) -> String {
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

impl Session {
    /// Open the journal (new, or `--resume`), start logging beside it, and journal the start.
    #[allow(clippy::too_many_lines)]
    pub fn open(
        runbook: Arc<Runbook>,
        args: &OpenArgs,
        check_only: bool,
        front: &str,
    ) -> Result<Session, ExitCode> {
        // Before anything is journaled: from here a signal stops the run, never kills it.
        let signals = Signals::listen();
        let operator = operator(args);
        // Before any file is made: a bad time is bad input. A resumed run keeps the start
        // its journal recorded (clap refuses --incident-start with --resume).
        let incident_start = match args.incident_start.as_deref() {
            None => None,
            Some(text) => Some(parse_incident_start(text, Utc::now()).map_err(|e| {
                eprintln!("bringup: {e}");
                ExitCode::from(EXIT_BAD_INPUT)
            })?),
        };
        // A drill restores only what its scenario breaks (and checks what those depend on).
        let scenario = args
            .scenario
            .as_deref()
            .and_then(|id| runbook.drills.scenario(id));
        let only = match scenario {
            Some(s) => s.services.iter().cloned().collect::<BTreeSet<_>>(),
            None => args.only.iter().map(ServiceId::new).collect(),
        };
        let options = EngineOptions { only, check_only };
        let engine = Engine::new(runbook.clone(), options);
        let secrets = runbook.secret_values();

        let mut resume_facts = None;
        // Webhooks and the notice deadline: what a resumed journal still owes, when the
        // incident began, and whether its notice already came due.
        let mut owed = Vec::new();
        let mut began = incident_start.unwrap_or_else(Utc::now);
        let mut notice_due = false;
        let mut history = Vec::new();
        let (journal, start_event, log_path) = if let Some(resume) = &args.resume {
            let bad = |e: &dyn std::fmt::Display| {
                eprintln!("bringup: cannot resume from '{}': {e}", resume.display());
                ExitCode::from(EXIT_BAD_INPUT)
            };
            // Locked (or, for a shared run, held) before it is read: what is replayed is all
            // there is, and no other run appends while this one decides.
            let (opened, recorded) = if let Some(url) = shared_url(resume).map_err(|e| bad(&e))? {
                let run = take_over(&url, args, &operator).map_err(|e| bad(&e))?;
                let recorded = run.read_run().map_err(|e| bad(&e))?;
                (Opened::Shared(Box::new(run)), recorded)
            } else {
                let lock = journal::JournalLock::acquire(resume).map_err(|e| bad(&e))?;
                let recorded = journal::read_journal(resume).map_err(|e| bad(&e))?;
                (Opened::File(lock), recorded)
            };
            let replayed = journal::replay(&recorded.records, &runbook);
            owed = crate::notify::owed(recorded.records.iter().map(|r| &r.event));
            for r in &recorded.records {
                match &r.event {
                    Event::RunStarted { incident_start, .. } => {
                        began = incident_start.unwrap_or(r.ts);
                    }
                    Event::NoticeDue { .. } => notice_due = true,
                    _ => {}
                }
            }
            let forced = match journal::check_runbook(&replayed, &runbook) {
                Ok(()) => false,
                Err(mismatch @ journal::RunbookMismatch::Changed { .. }) => {
                    if !args.force {
                        eprintln!(
                            "bringup: {mismatch}; resuming could re-run steps under different commands"
                        );
                        return Err(ExitCode::from(EXIT_BAD_INPUT));
                    }
                    true
                }
                Err(e) => return Err(bad(&e)),
            };
            let writer = match opened {
                Opened::File(lock) => {
                    let (writer, report) = JournalWriter::resume_locked(
                        lock,
                        &secrets,
                        Box::new(journal::SystemClock),
                    )
                    .map_err(|e| bad(&e))?;
                    for warning in report.warnings() {
                        eprintln!("bringup: warning: {warning}");
                    }
                    writer
                }
                Opened::Shared(run) => {
                    if let Some(p) = recorded.report.first_problem() {
                        return Err(bad(&format_args!(
                            "it does not verify ({p}); it cannot be continued — run `bringup verify` on it"
                        )));
                    }
                    JournalWriter::shared(*run, &secrets, true).map_err(|e| bad(&e))?
                }
            };
            resume_facts = Some(PendingResume {
                facts: replayed.facts,
                run_id: replayed.run_id,
                in_flight: replayed.in_flight,
            });
            history = recorded.records;
            (
                writer,
                Event::Resumed {
                    from_seq: replayed.from_seq,
                    forced,
                },
                log_path(args, resume),
            )
        } else {
            let shared = match args.journal.as_deref().map(shared_url).transpose() {
                Ok(url) => url.flatten(),
                Err(e) => {
                    eprintln!("bringup: {e}");
                    return Err(ExitCode::from(EXIT_BAD_INPUT));
                }
            };
            let (path, created) = match (&args.journal, shared) {
                (_, Some(url)) => (
                    PathBuf::from(url.to_string()),
                    start_shared(&url, args, &operator, &runbook, &secrets),
                ),
                (Some(path), None) => (path.clone(), JournalWriter::create(path, &secrets)),
                (None, None) => create_default(&runbook.path, &secrets),
            };
            let writer = created.map_err(|e| {
                eprintln!(
                    "bringup: cannot create the journal '{}': {e}; choose another place with --journal",
                    path.display()
                );
                ExitCode::from(EXIT_BAD_INPUT)
            })?;
            let mut start = run_started(&runbook, &operator, args.drill, incident_start);
            if let Event::RunStarted { scenario, .. } = &mut start {
                scenario.clone_from(&args.scenario);
            }
            (writer, start, log_path(args, &path))
        };

        let log_guard = init_log(&log_path);
        tracing::info!(front, journal = %journal.path().display(), "session opened");

        let exec = executor(&runbook, args)?;
        let (mut driver, messages) = Driver::new(engine, journal, exec, operator);
        let start_notices = match driver.record(start_event) {
            Ok(n) => n,
            Err(e) => return Err(start_not_recorded(&mut driver, &e)),
        };
        driver.redeliver(owed);
        if let Some(after) = runbook.notice.after {
            driver.arm_notice(began, after, notice_due);
        }
        Ok(Session {
            driver,
            messages,
            signals,
            runbook,
            start_notices,
            log_guard,
            resume: resume_facts,
            history,
        })
    }

    /// `--resume`, before anything else runs: settle the steps in flight at the crash (a
    /// command still running on its host is stopped; `say` tells the operator), then check
    /// every service again. Nothing to do for a new run.
    pub async fn resume(
        &mut self,
        say: &mut dyn FnMut(String),
        choose: &mut dyn FnMut(&str) -> crate::driver::Orphan,
    ) -> Result<(), ExitCode> {
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
                Err(e) => return Err(start_not_recorded(&mut self.driver, &e)),
            }
        }
        match self.driver.resume(&pending.facts) {
            Ok(n) => self.start_notices.extend(n),
            Err(e) => return Err(start_not_recorded(&mut self.driver, &e)),
        }
        Ok(())
    }
}

/// The journal failed while recording the start (or the resume): as anywhere else in a run,
/// stop whatever was started and exit 3. The driver launches steps only after their events
/// are durable, so none should be running; any that are, are told to stop.
fn start_not_recorded(driver: &mut Driver, e: &journal::JournalError) -> ExitCode {
    eprintln!("bringup: {}", e.stopping());
    let running = driver.abandon();
    if running > 0 {
        eprintln!("bringup: {running} step(s) were told to stop; check their hosts");
    }
    ExitCode::from(EXIT_INTERRUPTED)
}

/// A resumed journal, locked or held, before it is read.
enum Opened {
    File(journal::JournalLock),
    Shared(Box<SharedRun>),
}

/// The shared run `path` names, if it is an `etcd://` URL (a bad one is an error).
fn shared_url(path: &Path) -> Result<Option<RunUrl>, journal::etcd::UrlError> {
    match path.to_str() {
        Some(text) if RunUrl::is_etcd(text) => RunUrl::parse(text).map(Some),
        _ => Ok(None),
    }
}

/// Start a new shared run: hold it (refused while another process does), then keep the
/// runbook's text in it for attached operators.
fn start_shared(
    url: &RunUrl,
    args: &OpenArgs,
    operator: &str,
    runbook: &Runbook,
    secrets: &[String],
) -> Result<JournalWriter, journal::JournalError> {
    let mut run = SharedRun::connect(url, &Access::from_args(&args.etcd))?;
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
fn take_over(
    url: &RunUrl,
    args: &OpenArgs,
    operator: &str,
) -> Result<SharedRun, journal::etcd::StoreError> {
    let access = Access::from_args(&args.etcd);
    if let Some(holder) = SharedRun::holder(url, &access)? {
        eprintln!(
            "bringup: {url} is held by {holder}; waiting up to {} s for its lease to end…",
            TAKE_OVER_WAIT.as_secs()
        );
    }
    let mut run = SharedRun::connect(url, &access)?;
    run.campaign(operator, TAKE_OVER_WAIT)?;
    Ok(run)
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

fn log_path(args: &OpenArgs, journal: &Path) -> PathBuf {
    if let Ok(Some(url)) = shared_url(journal) {
        // A shared run has no folder here: the log stays in the working folder.
        return args
            .log_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("bringup-{}.log", url.name)));
    }
    args.log_file.clone().unwrap_or_else(|| {
        journal
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("bringup.log")
    })
}

/// Diagnostics go to a file, never to the screen (the TUI owns it). Level from `RUST_LOG`.
fn init_log(path: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let file = match journal::files::open_log(path) {
        Ok(f) => f,
        Err(e) => {
            let why = if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
                "it is a symbolic link, which bringup does not follow".to_string()
            } else {
                e.to_string()
            };
            eprintln!(
                "bringup: warning: cannot open the log '{}': {why}; diagnostics are not kept (choose another with --log-file)",
                path.display()
            );
            return None;
        }
    };
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// `run_started`: the runbook's identity and what the reports need of it.
pub fn run_started(
    runbook: &Runbook,
    operator: &str,
    drill: bool,
    incident_start: Option<DateTime<Utc>>,
) -> Event {
    let vars = runbook
        .vars
        .iter()
        .map(|(k, v)| {
            let shown = if runbook.secret_vars.contains(k) {
                crate::runbook::model::SECRET_MASK.to_string()
            } else {
                v.clone()
            };
            (k.clone(), shown)
        })
        .collect();
    let services = runbook
        .services
        .iter()
        .map(|s| ServiceInfo {
            id: s.id.clone(),
            name: s.name.clone(),
            tier: s.tier,
            rto_ms: s
                .rto
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            depends_on: s.depends_on.clone(),
            checks: s
                .checks
                .iter()
                .map(|c| CheckInfo {
                    step: c.name.clone(),
                    feature: c.feature.clone(),
                })
                .collect(),
        })
        .collect();
    Event::RunStarted {
        runbook: runbook.name.clone(),
        runbook_sha256: runbook.sha256.clone(),
        operator: operator.to_string(),
        vars,
        version: crate::VERSION.to_string(),
        mode: if drill { Mode::Drill } else { Mode::Incident },
        services,
        about: Box::new(journal::RunbookAbout {
            description: Some(runbook.description.clone()).filter(|d| !d.is_empty()),
            contact: runbook.notice.contact.clone(),
            notice_after_ms: runbook
                .notice
                .after
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            drill_every_ms: runbook
                .services
                .iter()
                .filter_map(|s| {
                    let every = runbook.drills.every_for(&s.id)?;
                    Some((
                        s.id.clone(),
                        u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
                    ))
                })
                .collect(),
        }),
        incident_start,
        scenario: None,
    }
}

/// `--incident-start`: RFC 3339, or relative to `now` as a minus sign and a duration
/// (`-90m`, `-2h30m`). Never after `now`: an incident cannot begin in the future.
pub fn parse_incident_start(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let help = "write it as RFC 3339 (2026-11-22T06:10:00Z) or as a time before now (-90m, -2h)";
    let at = if let Some(ago) = text.trim().strip_prefix('-') {
        let ago = crate::runbook::duration::parse(ago)
            .map_err(|e| format!("--incident-start '{text}': {}; {help}", e.message))?;
        chrono::Duration::from_std(ago)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| format!("--incident-start '{text}' is too far back; {help}"))?
    } else {
        DateTime::parse_from_rfc3339(text.trim())
            .map_err(|e| format!("--incident-start '{text}' is not a time ({e}); {help}"))?
            .with_timezone(&Utc)
    };
    if at > now {
        return Err(format!(
            "--incident-start '{text}' is in the future ({}); give when the incident began",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    Ok(at)
}

/// Largest `--var-file` read: a secret, a key or a certificate chain, not a data set.
const VAR_FILE_LIMIT: u64 = 1024 * 1024;

/// [`var_sources`] for a command: a bad source is said on stderr and becomes exit code 2.
pub fn var_values(sources: &VarArgs) -> Result<Vec<String>, ExitCode> {
    var_sources(sources).map_err(|message| {
        eprintln!("bringup: {message}");
        ExitCode::from(EXIT_BAD_INPUT)
    })
}

/// The command that continues a run: `base` (the front end and its runbook, e.g. `bringup
/// open rb.toml`), the variables as they were given, and `--resume JOURNAL`. A secret given
/// with `--var` is never printed: it becomes `--var-env KEY=BRINGUP_VAR_KEY`, and the names
/// of such environment variables are returned for the operator to set first.
pub fn continue_command(
    base: &str,
    vars: &VarArgs,
    secrets: &std::collections::BTreeSet<String>,
    journal: &Path,
) -> (String, Vec<String>) {
    let quote = |s: &str| {
        shlex::try_quote(s).map_or_else(|_| format!("'{s}'"), std::borrow::Cow::into_owned)
    };
    let mut words = vec![base.to_string()];
    let mut to_set = Vec::new();
    for spec in &vars.vars {
        let key = spec.split_once('=').map_or(spec.as_str(), |(k, _)| k);
        if secrets.contains(key) {
            let env = format!(
                "BRINGUP_VAR_{}",
                key.to_uppercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            );
            words.extend(["--var-env".to_string(), quote(&format!("{key}={env}"))]);
            to_set.push(env);
        } else {
            words.extend(["--var".to_string(), quote(spec)]);
        }
    }
    for spec in &vars.var_env {
        words.extend(["--var-env".to_string(), quote(spec)]);
    }
    for spec in &vars.var_file {
        words.extend(["--var-file".to_string(), quote(spec)]);
    }
    words.extend([
        "--resume".to_string(),
        quote(&journal.display().to_string()),
    ]);
    (words.join(" "), to_set)
}

/// `--var` values, then those of `--var-env` and `--var-file`, as `KEY=VALUE` overrides in that
/// order (a later one for the same key wins). The values stay in memory only.
pub fn var_sources(sources: &VarArgs) -> Result<Vec<String>, String> {
    let mut out = sources.vars.clone();
    for spec in &sources.var_env {
        let (key, name) = split_source(spec, "--var-env", "KEY=ENVNAME", "token=OPS_TOKEN")?;
        match std::env::var(name) {
            Ok(value) => out.push(format!("{key}={value}")),
            Err(std::env::VarError::NotPresent) => {
                return Err(format!(
                    "--var-env '{spec}': environment variable '{name}' is not set; export it first (read -rs {name}; export {name}) or use --var-file {key}=PATH"
                ));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(format!(
                    "--var-env '{spec}': environment variable '{name}' is not UTF-8 text; set it to text or use --var-file {key}=PATH"
                ));
            }
        }
    }
    for spec in &sources.var_file {
        let (key, path) = split_source(spec, "--var-file", "KEY=PATH", "key=/run/secrets/key")?;
        let value = read_var_file(Path::new(path))
            .map_err(|why| format!("--var-file '{spec}': cannot use '{path}': {why}"))?;
        out.push(format!("{key}={value}"));
    }
    Ok(out)
}

fn split_source<'a>(
    spec: &'a str,
    flag: &str,
    shape: &str,
    example: &str,
) -> Result<(&'a str, &'a str), String> {
    match spec.split_once('=') {
        Some((key, rest)) if !key.is_empty() && !rest.is_empty() => Ok((key, rest)),
        _ => Err(format!(
            "{flag} '{spec}' is not {shape}; write it as {flag} {example}"
        )),
    }
}

/// A file's contents as a value: UTF-8 text with one trailing newline (`\n` or `\r\n`) removed.
fn read_var_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("{e}; check the path and its permissions"))?;
    let mut bytes = Vec::new();
    file.take(VAR_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{e}; check that it is a readable file"))?;
    if bytes.len() as u64 > VAR_FILE_LIMIT {
        return Err(format!(
            "it is larger than {} KiB; a variable holds a secret or a short value, not a data set",
            VAR_FILE_LIMIT / 1024
        ));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| {
        "it is not UTF-8 text; store the value as text (base64 for binary)".to_string()
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod var_source_tests {
    use super::*;

    #[test]
    fn a_var_file_loses_one_trailing_newline_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v");
        std::fs::write(&path, "line one\nline two\n\n").expect("write");
        assert_eq!(read_var_file(&path).as_deref(), Ok("line one\nline two\n"));
        std::fs::write(&path, "tok\r\n").expect("write");
        assert_eq!(read_var_file(&path).as_deref(), Ok("tok"));
        std::fs::write(&path, " tok ").expect("write");
        assert_eq!(read_var_file(&path).as_deref(), Ok(" tok "));
    }

    fn sources(env: &[&str], files: &[&str]) -> VarArgs {
        VarArgs {
            vars: Vec::new(),
            var_env: env.iter().map(ToString::to_string).collect(),
            var_file: files.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn bad_sources_are_named_with_what_to_do() {
        let e = var_sources(&sources(&["token"], &[])).expect_err("no =");
        assert!(
            e.contains("'token'") && e.contains("--var-env token=OPS_TOKEN"),
            "{e}"
        );
        let e =
            var_sources(&sources(&["t=BRINGUP_TEST_SURELY_UNSET_VAR"], &[])).expect_err("unset");
        assert!(
            e.contains("'BRINGUP_TEST_SURELY_UNSET_VAR' is not set"),
            "{e}"
        );
        let e = var_sources(&sources(&[], &["k=/nonexistent/secret"])).expect_err("missing");
        assert!(
            e.contains("'/nonexistent/secret'") && e.contains("check the path"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_started_records_each_services_drill_every_its_own_else_the_runbooks() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/runbooks/valid/drills.toml");
        let runbook = crate::runbook::load(&path, &[]).expect("valid");
        let Event::RunStarted { about, .. } = run_started(&runbook, "kim", true, None) else {
            panic!("run_started");
        };
        let day = 86_400_000;
        let every: Vec<(&str, u64)> = about
            .drill_every_ms
            .iter()
            .map(|(id, ms)| (id.as_str(), *ms))
            .collect();
        assert_eq!(
            every,
            [("dns", 30 * day), ("auth", 90 * day), ("web", 90 * day)]
        );
    }

    #[test]
    fn incident_start_reads_rfc3339_and_times_before_now_and_refuses_the_future() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let at = |t: &str| parse_incident_start(t, now);
        assert_eq!(
            at("-90m").expect("relative").to_rfc3339(),
            "2026-11-22T07:30:00+00:00"
        );
        assert_eq!(
            at("-2h").expect("relative").to_rfc3339(),
            "2026-11-22T07:00:00+00:00"
        );
        assert_eq!(
            at("2026-11-22T06:10:00+01:00")
                .expect("rfc3339")
                .to_rfc3339(),
            "2026-11-22T05:10:00+00:00"
        );
        let future = at("2026-11-22T10:00:00Z").expect_err("future");
        assert!(
            future.contains("'2026-11-22T10:00:00Z'") && future.contains("future"),
            "{future}"
        );
        let bad = at("yesterday").expect_err("bad");
        assert!(
            bad.contains("'yesterday'") && bad.contains("RFC 3339"),
            "{bad}"
        );
        let unit = at("-90x").expect_err("bad unit");
        assert!(unit.contains("'-90x'"), "{unit}");
    }
}
