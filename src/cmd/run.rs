//! `bringup run`: the headless front end. Loads the runbook, drives the run through the
//! driver's one API, asks on the terminal, maps the end to SPEC's exit codes. Ordering
//! decisions belong to the engine, run semantics to the driver; printing is `progress.rs`,
//! questions `questions.rs` and `prompt.rs`, `--dry-run` `dry_run.rs`.

mod dry_run;
mod progress;
mod prompt;
mod questions;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use crate::Exit;
use crate::cli::{OpenArgs, RunArgs, RunFormat};
use crate::cmd::session;
use crate::driver::{self, Driver, Ending, Inbox, STOP_GRACE, Signal, Signals, Stopped};
use crate::engine::Input;
use crate::journal::JournalError;
use crate::session::{JournalLocation, Scope, Session};
use progress::Printer;
use questions::Questions;

/// What a run does once its journal is open: the plan (or the drill), or, continuing a
/// finished run, the undo of one service (`bringup undo`).
#[derive(Debug, Clone)]
pub(crate) enum Goal {
    Plan,
    Undo {
        service: crate::runbook::model::ServiceId,
        cascade: crate::engine::Cascade,
        /// The runbook when it is not read from `RunArgs::runbook` (a shared run keeps its own).
        kept: Option<std::sync::Arc<crate::runbook::model::Runbook>>,
    },
}

pub fn run(args: &RunArgs) -> ExitCode {
    run_for(args, &Goal::Plan)
}

/// `run` with a goal other than the plan.
pub(crate) fn run_for(args: &RunArgs, goal: &Goal) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bringup: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::BadInput);
        }
    };
    let code = runtime.block_on(run_async(args, goal));
    // Blocking tasks (an SSH read, say) are not waited for long once the run is over.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run_async(args: &RunArgs, goal: &Goal) -> ExitCode {
    let mut open = args.open.clone();
    open.scenario.clone_from(&args.scenario);
    let kept = match goal {
        Goal::Undo { kept, .. } => kept.clone(),
        Goal::Plan => None,
    };
    let loaded = match (kept, goal) {
        (Some(rb), _) => Ok(rb),
        // A resumed drill goes on as the drill its journal records (checking only, or
        // printing commands, it runs no phase: nothing is injected).
        (None, Goal::Plan) if !args.check_only && !args.dry_run => {
            let with = session::ContinueWith::Run {
                runbook: &args.runbook,
                yes: args.yes,
            };
            session::load_resumed(&args.runbook, &mut open, with).await
        }
        (None, _) => session::load_runbook(&args.runbook, &open),
    };
    let runbook = match loaded {
        Ok(rb) => rb,
        Err(code) => return code,
    };
    if args.dry_run {
        return dry_run::dry_run(&runbook, args).await;
    }
    let scope = if args.check_only {
        Scope::CheckOnly
    } else {
        Scope::Restore
    };
    let mut session = match session::open(runbook, &open, scope, "run") {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Err(e) = session
        .resume(
            &mut |line| eprintln!("bringup: {line}"),
            // Headless: nobody to choose, so a command left running is stopped.
            &mut |_| crate::driver::Orphan::Stop,
        )
        .await
    {
        return session::failed(&e);
    }
    drive(session, args, &open, goal).await
}

/// What woke the run loop.
enum Woke {
    Reports(Vec<driver::Message>),
    /// A line from the terminal; `None` at end of input.
    Line(Option<String>),
    Signal(Signal),
    Closed,
}

/// `open`: the run's options as the session took them (a resumed drill's from its journal).
async fn drive(session: Session, args: &RunArgs, open: &OpenArgs, goal: &Goal) -> ExitCode {
    let Session {
        driver: mut drv,
        messages: mut inbox,
        mut signals,
        runbook,
        start_notices,
        journal,
        log,
        ..
    } = session;
    let log = log.as_deref();
    let interactive = std::io::stdin().is_terminal();
    let mut printer = Printer::new(args.format, runbook.clone(), interactive);
    let mut questions = Questions::new(interactive);
    let run = (args, open, goal);

    let mut pending = start_notices;
    match drv.input(first_request(open.scenario.as_deref(), goal)) {
        // An undo the engine turns down starts nothing, so nothing would ever end the run.
        Ok(n) if matches!(goal, Goal::Undo { .. }) && refusal(&n).is_some() => {
            eprintln!("bringup: {}", refusal(&n).unwrap_or_default());
            if let Err(e) = settle(&mut drv, &mut inbox, &mut signals, &mut printer).await {
                return journal_failed(&mut drv, &mut inbox, &e, &mut signals, run).await;
            }
            let (end, left) = (Ending::Idle, false);
            let (j, p) = ((&journal, log), &mut printer);
            let a = (args, open);
            return conclude(&mut drv, &mut inbox, a, p, end, left, j, goal).await;
        }
        Ok(n) => pending.extend(n),
        Err(e) => return journal_failed(&mut drv, &mut inbox, &e, &mut signals, run).await,
    }

    let signal = loop {
        // Carry out what the last step produced: print, queue questions, answer or ask them.
        questions.queue(&pending, &runbook, &mut printer);
        printer.notices(&pending);
        pending.clear();
        let wait = if args.wait_for_operators {
            questions::Wait::ForOperators
        } else {
            questions::Wait::No
        };
        match questions.ask(&mut drv, &runbook, args.yes, wait, &mut printer) {
            Ok(n) => pending.extend(n),
            Err(e) => return journal_failed(&mut drv, &mut inbox, &e, &mut signals, run).await,
        }
        if !pending.is_empty() {
            continue;
        }
        if drv.finished().is_some() && !drv.busy() && questions.idle() {
            break None;
        }

        let woke = tokio::select! {
            batch = inbox.next() => batch.map_or(Woke::Closed, Woke::Reports),
            line = questions.lines.recv(), if questions.reading() => Woke::Line(line.flatten()),
            signal = signals.next() => Woke::Signal(signal),
        };
        let step = match woke {
            Woke::Reports(batch) => drv.on_messages(batch),
            Woke::Line(line) => match questions.on_line(line, &mut printer) {
                Some(input) => drv.input(input),
                None => Ok(Vec::new()),
            },
            Woke::Signal(signal) => break Some(signal),
            Woke::Closed => break None,
        };
        match step {
            Ok(n) => pending.extend(n),
            Err(e) => return journal_failed(&mut drv, &mut inbox, &e, &mut signals, run).await,
        }
    };

    let left_running = match signal {
        Some(signal) => {
            stop_on_signal(&mut drv, &mut inbox, &mut signals, &mut printer, signal).await
        }
        None => false,
    };
    let ending = if signal.is_some() {
        Ending::Signal
    } else {
        Ending::Idle
    };
    conclude(
        &mut drv,
        &mut inbox,
        (args, open),
        &mut printer,
        ending,
        left_running,
        (&journal, log),
        goal,
    )
    .await
}

/// A drill runs its phases (the driver's); an undo, the undo; any other run, the plan in
/// auto mode, which the driver journals (`auto_on`) so that every screen shows its mode.
fn first_request(scenario: Option<&str>, goal: &Goal) -> driver::Request {
    match (scenario, goal) {
        (
            _,
            Goal::Undo {
                service, cascade, ..
            },
        ) => Input::Undo {
            service: service.clone(),
            cascade: *cascade,
        }
        .into(),
        (Some(id), Goal::Plan) => driver::Request::StartDrill(id.to_string()),
        (None, Goal::Plan) => Input::SetAuto(true).into(),
    }
}

/// What the driver turned down, if it did.
fn refusal(notices: &[driver::Notice]) -> Option<String> {
    notices.iter().find_map(|n| match n {
        driver::Notice::Refused(why) => Some(why.clone()),
        _ => None,
    })
}

/// Let the steps already running (a resume's read-only re-checks) end and be journaled; a
/// signal stops waiting.
async fn settle(
    drv: &mut Driver,
    inbox: &mut Inbox,
    signals: &mut Signals,
    printer: &mut Printer,
) -> Result<(), JournalError> {
    while drv.busy() {
        let batch = tokio::select! {
            batch = inbox.next() => batch,
            _ = signals.next() => break,
        };
        let Some(batch) = batch else { break };
        printer.notices(&drv.on_messages(batch)?);
    }
    Ok(())
}

/// A signal: stop running steps on their hosts and wait for them (bounded); a second signal
/// stops waiting. Returns whether steps were left running.
async fn stop_on_signal(
    drv: &mut Driver,
    inbox: &mut Inbox,
    signals: &mut Signals,
    printer: &mut Printer,
    signal: Signal,
) -> bool {
    printer.asking(None);
    if drv.drill_under_way() {
        eprintln!(
            "bringup: {}; stopping running steps on their hosts, then restoring what the drill injected… {} again to leave it down",
            signal.word(),
            signal.again()
        );
    } else {
        eprintln!(
            "bringup: {}; stopping running steps on their hosts… {} again to leave them",
            signal.word(),
            signal.again()
        );
    }
    let leave = async {
        signals.next().await;
    };
    match drv
        .stop_and_wait(inbox, STOP_GRACE, leave, |n| printer.notices(&n))
        .await
    {
        Stopped::All => false,
        Stopped::TimedOut(left) => {
            eprintln!(
                "bringup: {left} step(s) did not stop within {}s; check their hosts",
                STOP_GRACE.as_secs()
            );
            false
        }
        Stopped::Left(left) => {
            eprintln!(
                "bringup: not waiting for {left} running step(s) to stop; they were told to, check their hosts"
            );
            true
        }
    }
}

/// Record the end, print the table of states, and map it to SPEC's exit code (for an
/// undo: 0 when the service was undone, 1 otherwise). `open`: the options as the session
/// took them.
#[allow(clippy::too_many_arguments)]
async fn conclude(
    drv: &mut Driver,
    inbox: &mut driver::Inbox,
    (args, open): (&RunArgs, &OpenArgs),
    printer: &mut Printer,
    ending: Ending,
    left_running: bool,
    (journal, log): (&JournalLocation, Option<&std::path::Path>),
    goal: &Goal,
) -> ExitCode {
    let code = match drv.end(ending) {
        Ok(ended) => {
            printer.notices(&ended.notices);
            // Webhooks get a short, bounded while to catch up; what is left is journaled.
            if let Err(e) = drv
                .deliver_owed(inbox, driver::NOTIFY_GRACE, |n| printer.notices(&n))
                .await
            {
                eprintln!("bringup: the journal cannot be written: {e}");
            }
            ended.exit
        }
        Err(e) => {
            eprintln!("bringup: {e}");
            if !left_running {
                drv.executor().shutdown().await;
            }
            if let driver::EndError::Journal(j) = &e {
                how_to_continue(drv, j, (args, open, goal));
            }
            return ExitCode::from(e.exit());
        }
    };
    // Closing sessions waits for the commands on them; steps left running are not waited for.
    if !left_running {
        drv.executor().shutdown().await;
    }
    // As recorded: an interrupted drill's end makes what its stop cut short `unknown`.
    let services = drv.states();
    // The table is what `--check-only` is for: on stdout, unless stdout carries JSON lines.
    printer.flush();
    match args.format {
        RunFormat::Text => {
            let mut stdout = std::io::stdout().lock();
            printer.table(drv, &services, &mut stdout);
            let access = crate::journal::etcd::Access::from_args(&open.etcd);
            progress::outages(journal, &access, &mut stdout);
        }
        RunFormat::Json if args.check_only => {
            printer.table(drv, &services, &mut std::io::stderr().lock());
        }
        RunFormat::Json => {}
    }
    crate::cmd::seal::after_run(open, journal);
    if let Some(left) = drv.left_down().filter(|l| !l.is_empty()) {
        eprintln!(
            "bringup: left down by the drill: {} (injected and not seen healthy again; restore them before anything else)",
            crate::export::describe::service_list(&left)
        );
    }
    eprintln!("journal: {}", drv.journal_path().display());
    if let Some(line) = session::log_line(journal, log) {
        eprintln!("{line}");
    }
    if open.drill || open.scenario.is_some() {
        for hint in crate::cmd::session::report_hints(drv.journal_path(), true) {
            eprintln!("{hint}");
        }
    }
    if let Goal::Undo { service, .. } = goal {
        if code == Exit::Interrupted {
            return ExitCode::from(code);
        }
        if drv.engine().was_undone(service) {
            return ExitCode::SUCCESS;
        }
        eprintln!("bringup: '{service}' was not undone (see its state above and the journal)");
        return ExitCode::from(Exit::NotAllUp);
    }
    if code != Exit::AllUp && !args.dry_run && !args.check_only {
        say_continue(drv, args, open);
    }
    ExitCode::from(code)
}

/// The journal cannot record what happens next: stop every running step on its host (the
/// stop itself cannot be journaled), wait a bounded time for them to end, and exit 3. A
/// signal during the wait ends it at once: the steps were already told to stop.
async fn journal_failed(
    drv: &mut Driver,
    inbox: &mut Inbox,
    e: &JournalError,
    signals: &mut Signals,
    run: (&RunArgs, &OpenArgs, &Goal),
) -> ExitCode {
    eprintln!("bringup: {}", e.stopping());
    drv.abandon();
    let leave = async {
        signals.next().await;
    };
    match drv.stop_and_wait(inbox, STOP_GRACE, leave, drop).await {
        Stopped::All => drv.executor().shutdown().await,
        Stopped::TimedOut(left) => {
            eprintln!(
                "bringup: {left} step(s) did not stop within {}s; check their hosts",
                STOP_GRACE.as_secs()
            );
            drv.executor().shutdown().await;
        }
        // Closing sessions would wait for the very commands the operator chose not to wait for.
        Stopped::Left(left) => eprintln!(
            "bringup: not waiting for {left} running step(s) to stop; they were told to, check their hosts"
        ),
    }
    how_to_continue(drv, e, run);
    ExitCode::from(Exit::Interrupted)
}

/// After the journal failed (what to fix is said with the error): the journal, and the
/// command that continues the run. A shared run lost to another holder says so itself.
fn how_to_continue(
    drv: &Driver,
    e: &JournalError,
    (args, open, goal): (&RunArgs, &OpenArgs, &Goal),
) {
    if matches!(e, JournalError::Shared(_)) {
        return;
    }
    let journal = drv.journal_path();
    eprintln!("journal: {}", journal.display());
    // As at the end of a run: checking only or undoing, there is no plan to continue.
    if args.check_only || matches!(goal, Goal::Undo { .. }) {
        return;
    }
    say_continue(drv, args, open);
}

/// `continue:` and the command that continues the run, with the secrets to set first.
fn say_continue(drv: &Driver, args: &RunArgs, open: &OpenArgs) {
    let with = session::ContinueWith::Run {
        runbook: &args.runbook,
        yes: args.yes,
    };
    let (command, to_set) = session::continue_command(
        with,
        &session::RecordedRun::of(open.drill, open.scenario.as_deref()),
        &open.vars,
        &drv.engine().runbook().secret_vars,
        drv.journal_path(),
        &open.etcd,
    );
    eprintln!("continue: {command}");
    for env in to_set {
        eprintln!("  (set {env} to the secret first: read -rs {env}; export {env})");
    }
}
