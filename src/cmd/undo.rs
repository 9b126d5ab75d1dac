//! `bringup undo JOURNAL|URL --service ID [--cascade]` (SPEC "Undo and policies"). A run
//! that a process executes now is asked, like `approve` or `done`, through its socket or
//! etcd, and undoes under the asking operator's name. A finished (or crashed) file journal
//! is continued: the runbook its `run_started` recorded is loaded again (a changed one is
//! refused unless `--force`), the journal locked, `resumed` journals who continues it and
//! why (`undo`), and the undo runs headless as `run` would, approvals with `--yes` or asked
//! on the terminal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{Cli, Command, UndoArgs};
use crate::cmd::run::Goal;
use crate::cmd::shared::{Failure, Target, edge_runtime};
use crate::driver::Ask;
use crate::engine::Cascade;
use crate::journal::Event;
use crate::journal::event::HandOver;
use crate::reach::socket::{self, Call, ReachError};
use crate::runbook::model::ServiceId;
use crate::session::{JournalLocation, KeptRun};

/// How long the executing process has to carry the request out and answer.
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// How long finding out whether a process is behind the socket may take.
const PROBE_WAIT: Duration = Duration::from_secs(5);

pub fn undo(args: &UndoArgs) -> ExitCode {
    let cascade = if args.cascade {
        Cascade::Dependents
    } else {
        Cascade::Alone
    };
    let location = match JournalLocation::parse(Path::new(&args.run.url)) {
        Ok(l) => l,
        Err(e) => return said(Err(Failure::input(e))),
    };
    match location {
        JournalLocation::Shared(_) => {
            let executed = edge_runtime().and_then(|rt| rt.block_on(executed(args)));
            match executed {
                Ok(None) => {
                    said(edge_runtime().and_then(|rt| rt.block_on(ask_running(args, cascade))))
                }
                Ok(Some(kept)) => continue_shared(args, kept, cascade),
                Err(f) => said(Err(f)),
            }
        }
        JournalLocation::File(path) => {
            if !path.is_file() {
                return said(Err(Failure::input(format!(
                    "no journal '{}': give the journal file of the run to undo in (or a shared run's etcd:// URL)",
                    path.display()
                ))));
            }
            let listening = edge_runtime().map(|rt| rt.block_on(listening(&path)));
            match listening {
                Ok(true) => {
                    said(edge_runtime().and_then(|rt| rt.block_on(ask_running(args, cascade))))
                }
                Ok(false) => continue_finished(args, &path, cascade),
                Err(f) => said(Err(f)),
            }
        }
    }
}

fn said(result: Result<String, Failure>) -> ExitCode {
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("bringup: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// A process answers on the journal's socket: the run is going on.
async fn listening(journal: &Path) -> bool {
    !matches!(
        socket::call(journal, &Call::Live, PROBE_WAIT).await,
        Err(ReachError::NotListening { .. })
    )
}

/// The run is executed by a process now: ask it, through the one request path.
async fn ask_running(args: &UndoArgs, cascade: Cascade) -> Result<String, Failure> {
    let mut run = Target::connect(&args.run).await?;
    let runbook = run.runbook().await?;
    let service = ServiceId::new(&args.service);
    if !runbook.services.iter().any(|s| s.id == service) {
        let known: Vec<&str> = runbook.services.iter().map(|s| s.id.as_str()).collect();
        return Err(Failure::input(format!(
            "the run has no service '{}'; it has: {}",
            args.service,
            known.join(", ")
        )));
    }
    let answer = run
        .ask(
            &Ask::Undo {
                service: service.clone(),
                cascade,
            },
            ANSWER_WAIT,
        )
        .await?;
    if let Some(why) = answer.refused {
        return Err(Failure::refused(why));
    }
    let seq = answer
        .seq
        .map(|s| format!(" (seq {s})"))
        .unwrap_or_default();
    Ok(format!(
        "undo of '{service}'{} asked of {} as {}{seq}; its steps are journaled as phase undo (confirm steps wait for an approval)",
        if cascade == Cascade::Dependents {
            " with its dependents first"
        } else {
            ""
        },
        run.name(),
        run.operator()
    ))
}

/// A shared run that no process executes: the runbook it keeps and the variables it
/// recorded. `None` while a process executes it (it is asked instead).
async fn executed(args: &UndoArgs) -> Result<Option<KeptRun>, Failure> {
    let mut run = crate::cmd::shared::Attached::connect(&args.run).await?;
    if run.live().await?.is_some() {
        return Ok(None);
    }
    run.runbook_text().await.map(Some)
}

/// A shared run no process executes: take it over (its lease, `resumed` with reason
/// `undo`) with the runbook it keeps, and undo there.
fn continue_shared(args: &UndoArgs, kept: KeptRun, cascade: Cascade) -> ExitCode {
    let (drill, _) = kept.drill_and_scenario();
    let KeptRun {
        text,
        vars: recorded,
        ..
    } = kept;
    let url = &args.run.url;
    let name = PathBuf::from(format!("{url} (runbook)"));
    let own = match crate::session::var_values(&args.vars) {
        Ok(v) => v,
        Err(e) => return said(Err(Failure::input(e))),
    };
    let vars = crate::session::continued_vars(&text, recorded, own);
    let runbook = match crate::runbook::load_text(&text, &name, &vars) {
        Ok(rb) => rb,
        Err(d) => {
            return said(Err(Failure::input(format!(
                "the runbook kept in '{url}':\n{d}"
            ))));
        }
    };
    let command_line: Vec<std::ffi::OsString> = vec![
        "bringup".into(),
        "run".into(),
        name.clone().into(),
        "--resume".into(),
        url.into(),
        "--only".into(),
        args.service.clone().into(),
    ];
    let mut run = match run_args(
        command_line,
        &[
            ("--yes", args.yes),
            ("--drill", drill),
            ("--accept-new-host-keys", args.accept_new_host_keys),
        ],
        args,
    ) {
        Ok(run) => run,
        Err(f) => return said(Err(f)),
    };
    run.open.etcd = args.run.etcd.clone();
    run.open.hand_over = Some(HandOver::Undo);
    if cascade == Cascade::Dependents {
        run.open.only.extend(dependents_of(&runbook, &args.service));
    }
    let runbook = match crate::cmd::session::check_runbook(runbook, &name, &run.open) {
        Ok(rb) => rb,
        Err(code) => return code,
    };
    crate::cmd::run::run_for(
        &run,
        &Goal::Undo {
            service: ServiceId::new(&args.service),
            cascade,
            kept: Some(runbook),
        },
    )
}

/// The journal's `run_started`: the runbook's recorded path, variables and mode.
struct Recorded {
    runbook: Option<PathBuf>,
    vars: Vec<String>,
    drill: bool,
}

fn recorded(journal: &Path) -> Result<Recorded, Failure> {
    let unreadable = |why: String| {
        Failure::input(format!(
            "journal '{}' cannot be read: {why}",
            journal.display()
        ))
    };
    let record = crate::journal::first_record(journal).map_err(unreadable)?;
    let Event::RunStarted {
        vars, mode, about, ..
    } = record.event
    else {
        return Err(unreadable("its first event is not run_started".to_string()));
    };
    Ok(Recorded {
        runbook: about.runbook_path.map(PathBuf::from),
        // As recorded, secrets masked (`session::continued_vars` leaves those out).
        vars: vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        drill: mode == crate::engine::Mode::Drill,
    })
}

/// The run has ended (or its process is gone): continue its journal to undo.
fn continue_finished(args: &UndoArgs, journal: &Path, cascade: Cascade) -> ExitCode {
    let recorded = match recorded(journal) {
        Ok(r) => r,
        Err(f) => return said(Err(f)),
    };
    let Some(runbook) = args.runbook.clone().or(recorded.runbook) else {
        return said(Err(Failure::input(format!(
            "journal '{}' does not record where its runbook is (written by an older bringup): give it with --runbook FILE",
            journal.display()
        ))));
    };
    if !runbook.is_file() {
        return said(Err(Failure::input(format!(
            "the runbook '{}' the journal recorded is not there any more: give it with --runbook FILE",
            runbook.display()
        ))));
    }
    // `run --resume` with the journal's own variables, the operator's on top, and only the
    // services the undo touches (their dependencies are re-checked, read-only).
    // Secret values were never recorded: the operator gives them again. Which variables are
    // secret, the runbook says (unreadable here, every masked value is left out).
    let text = std::fs::read_to_string(&runbook).unwrap_or_default();
    let mut command_line: Vec<std::ffi::OsString> = vec![
        "bringup".into(),
        "run".into(),
        runbook.into(),
        "--resume".into(),
        journal.into(),
        "--only".into(),
        args.service.clone().into(),
    ];
    for v in crate::session::continued_vars(&text, recorded.vars, args.vars.vars.clone()) {
        command_line.push(format!("--var={v}").into());
    }
    for v in &args.vars.var_env {
        command_line.push(format!("--var-env={v}").into());
    }
    for v in &args.vars.var_file {
        command_line.push(format!("--var-file={v}").into());
    }
    let mut run = match run_args(
        command_line,
        &[
            ("--yes", args.yes),
            ("--force", args.force),
            ("--drill", recorded.drill),
            ("--accept-new-host-keys", args.accept_new_host_keys),
        ],
        args,
    ) {
        Ok(run) => run,
        Err(f) => return said(Err(f)),
    };
    if cascade == Cascade::Dependents {
        // Dependents are undone too: they are part of the run that continues.
        match dependents(&run.runbook, &args.service) {
            Ok(more) => run.open.only.extend(more),
            Err(f) => return said(Err(f)),
        }
    }
    run.open.hand_over = Some(HandOver::Undo);
    crate::cmd::run::run_for(
        &run,
        &Goal::Undo {
            service: ServiceId::new(&args.service),
            cascade,
            kept: None,
        },
    )
}

/// The ids of the services that depend on `service` (directly or not) in the runbook at
/// `path` (read here only for their ids: the run validates it again).
/// The `run` that continues the run: `command_line` with the `flags` that are on and the
/// operator, parsed as the command line would be.
fn run_args(
    mut command_line: Vec<std::ffi::OsString>,
    flags: &[(&str, bool)],
    args: &UndoArgs,
) -> Result<crate::cli::RunArgs, Failure> {
    for (flag, on) in flags {
        if *on {
            command_line.push(flag.into());
        }
    }
    if let Some(op) = &args.run.operator {
        command_line.push(format!("--operator={op}").into());
    }
    let cli = <Cli as clap::Parser>::try_parse_from(command_line).map_err(Failure::input)?;
    match cli.command {
        Some(Command::Run(run)) => Ok(run),
        _ => Err(Failure::input("cannot continue the run")),
    }
}

fn dependents(path: &Path, service: &str) -> Result<Vec<String>, Failure> {
    let runbook = crate::session::load_runbook(path, &crate::cli::VarArgs::default())
        .or_else(|_| {
            // Secret variables may be missing here; the ids do not depend on them.
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            crate::runbook::load_text(&text, path, &[]).map_err(|d| d.to_string())
        })
        .map_err(|e| Failure::input(format!("runbook '{}': {e}", path.display())))?;
    Ok(dependents_of(&runbook, service))
}

/// The ids of the services of `runbook` that depend on `service`, directly or not.
fn dependents_of(runbook: &crate::runbook::model::Runbook, service: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut stack = vec![service.to_string()];
    while let Some(id) = stack.pop() {
        for s in &runbook.services {
            if s.depends_on.iter().any(|d| d.as_str() == id) && !found.contains(&s.id.0) {
                found.push(s.id.0.clone());
                stack.push(s.id.0.clone());
            }
        }
    }
    found
}
