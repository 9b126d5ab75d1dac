//! `bringup open RUNBOOK` (also `bringup RUNBOOK`): the TUI on a runbook; and `bringup demo`,
//! which stages the simulated datacenter first and tears it down after. Sets up and tears down
//! (runtime, session, terminal, exit code); the loop itself is `tui::event_loop`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::Exit;
use crate::cli::{DemoArgs, DrillCmd, OpenArgs};
use crate::cmd::session;
use crate::engine::Mode;
use crate::journal;
use crate::runbook::model::Runbook;
use crate::session::{Scope, Session};
use crate::tui::event_loop::{self, End, Front, LoopError};
use crate::tui::{App, RunInfo, Theme, terminal};

/// `eprintln!` that never panics: after a hangup stderr is a dead terminal, and a failed
/// message must not stop the teardown that follows.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub fn open(runbook: &Path, args: &OpenArgs) -> ExitCode {
    match runtime() {
        Ok(rt) => rt.block_on(open_async(runbook, args, None)),
        Err(code) => code,
    }
}

/// `bringup drill RUNBOOK --scenario ID`: the TUI in drill mode, running the scenario's
/// phases. Without `--scenario`: the runbook's scenarios, and exit 2.
pub fn drill(args: &DrillCmd) -> ExitCode {
    // A resumed drill's scenario is the one its journal records.
    if args.scenario.is_none() && args.open.resume.is_none() {
        return list_scenarios(args);
    }
    let mut open = args.open.clone();
    open.drill = true;
    open.scenario.clone_from(&args.scenario);
    self::open(&args.runbook, &open)
}

fn list_scenarios(args: &DrillCmd) -> ExitCode {
    let runbook = match session::load_runbook(&args.runbook, &args.open) {
        Ok(rb) => rb,
        Err(code) => return code,
    };
    let scenarios = &runbook.drills.scenarios;
    if scenarios.is_empty() {
        say!(
            "bringup: '{}' has no [[scenario]] to drill; add one (see `bringup validate` for the format)",
            args.runbook.display()
        );
        return ExitCode::from(Exit::BadInput);
    }
    say!(
        "bringup: which scenario? pass --scenario ID; the scenarios of '{}':",
        args.runbook.display()
    );
    let width = scenarios.iter().map(|s| s.id.len()).max().unwrap_or(0);
    for s in scenarios {
        say!(
            "  {:<width$}  {} ({} service{})",
            s.id,
            s.name,
            s.services.len(),
            if s.services.len() == 1 { "" } else { "s" }
        );
    }
    say!(
        "  e.g. bringup drill {} --scenario {}",
        args.runbook.display(),
        scenarios[0].id
    );
    ExitCode::from(Exit::BadInput)
}

/// The scenario `bringup demo --drill` runs unless `--scenario` names another.
const DEMO_SCENARIO: &str = "dc-loss";

pub fn demo(args: &DemoArgs) -> ExitCode {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        say!("bringup: the demo opens the TUI and needs a terminal; run it in a terminal window");
        return ExitCode::from(Exit::BadInput);
    }
    let staged = match crate::demo::stage(args.dir.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            say!("bringup: cannot stage the demo: {e}");
            return ExitCode::from(Exit::BadInput);
        }
    };
    // Held until this function returns, and let go by the kernel if the process is killed:
    // the simulated services watch it and stop with the demo, however it ends.
    let _owner = match crate::demo::Owner::hold(&staged) {
        Ok(o) => o,
        Err(e) => {
            say!("bringup: cannot stage the demo: {e}");
            return ExitCode::from(Exit::BadInput);
        }
    };
    let mut open = args.open.clone();
    if open.drill && open.resume.is_none() {
        // A drill starts from a datacenter that works: everything the fire took is up.
        let exe = std::env::current_exe();
        if let Err(e) = exe
            .map_err(crate::demo::DemoError::NoExe)
            .and_then(|exe| crate::demo::bring_up(&staged, &exe))
        {
            say!("bringup: cannot bring the simulated datacenter up for the drill: {e}");
            return ExitCode::from(Exit::BadInput);
        }
        open.scenario = Some(
            args.scenario
                .clone()
                .unwrap_or_else(|| DEMO_SCENARIO.to_string()),
        );
    }
    // The staged values first: the user's own --var still win.
    open.vars.vars = staged
        .vars
        .iter()
        .cloned()
        .chain(args.open.vars.vars.clone())
        .collect();
    if open.journal.is_none() && open.resume.is_none() {
        // Beside the simulated datacenter, so a demo leaves nothing in the working folder.
        let relative =
            journal::default_path(Path::new(crate::demo::RUNBOOK_FILE), chrono::Utc::now());
        open.journal = Some(staged.dir.join(relative));
    }
    if open.resume.is_some() {
        open.scenario.clone_from(&args.scenario);
    }
    let code = match runtime() {
        Ok(rt) => rt.block_on(open_async(&staged.runbook, &open, Some(&staged.dir))),
        Err(code) => code,
    };
    if let Err(e) = staged.teardown() {
        say!("bringup: stopping the simulated services: {e}");
    }
    say!(
        "demo: the simulated datacenter in '{}' is stopped (the folder is kept)",
        staged.dir.display()
    );
    code
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            say!("bringup: cannot start the async runtime: {e}");
            ExitCode::from(Exit::BadInput)
        })
}

async fn open_async(path: &Path, args: &OpenArgs, demo_dir: Option<&Path>) -> ExitCode {
    // A bad runbook is reported first, terminal or not; a resumed drill goes on as the drill
    // its journal records.
    let mut args = args.clone();
    let with = match demo_dir {
        Some(dir) => session::ContinueWith::Demo { dir },
        None => session::ContinueWith::Tui { runbook: path },
    };
    let runbook = match session::load_resumed(path, &mut args, with).await {
        Ok(rb) => rb,
        Err(code) => return code,
    };
    open_loaded(runbook, path, &args, demo_dir).await
}

/// The TUI on a shared run taken over from an attached screen (`T` in `bringup attach`):
/// `runbook` is the one the run keeps, `args` resume its URL.
pub fn take_over(runbook: Arc<Runbook>, name: &Path, args: &OpenArgs) -> ExitCode {
    match runtime() {
        Ok(rt) => rt.block_on(open_loaded(runbook, name, args, None)),
        Err(code) => code,
    }
}

async fn open_loaded(
    runbook: Arc<Runbook>,
    path: &Path,
    args: &OpenArgs,
    demo_dir: Option<&Path>,
) -> ExitCode {
    // Before anything is journaled: a run that cannot be shown must not start.
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        say!(
            "bringup: the TUI needs a terminal; for a headless run use `bringup run '{}'`",
            path.display()
        );
        return ExitCode::from(Exit::BadInput);
    }
    let mut session = match session::open(runbook, args, Scope::Restore, "tui") {
        Ok(s) => s,
        Err(code) => return code,
    };
    // Before the screen is taken: a step still running since the crash is stopped here, and
    // the operator reads so on the terminal (the timeline has it too).
    if let Err(e) = session
        .resume(&mut |line| say!("bringup: {line}"), &mut ask_orphan)
        .await
    {
        return session::failed(&e);
    }
    let Session {
        driver,
        mut messages,
        mut signals,
        runbook,
        start_notices,
        log_guard,
        history,
        journal,
        log,
        ..
    } = session;
    let info = RunInfo {
        mode: if args.drill {
            Mode::Drill
        } else {
            Mode::Incident
        },
        operator: driver.operator().to_string(),
        journal: driver.journal_path().to_path_buf(),
    };
    let (app, offset) = app_with_history(App::new(runbook.clone(), info), &history);
    let mut front = Front::new(app, driver, offset);
    front.history(start_notices);
    let at = (&journal, log.as_deref());

    if args.plain {
        let code = plain(&mut front, &mut messages, &mut signals, args, &journal).await;
        summary(&front, at, path, demo_dir, args, code);
        return ExitCode::from(code);
    }
    let theme = Theme::new(Theme::no_color_from(
        std::env::var_os("NO_COLOR").as_deref(),
    ));
    let (mut tty, guard) = match terminal::enter() {
        Ok(t) => t,
        Err(e) => {
            say!("bringup: cannot take over the terminal: {e}; use `bringup run` without one");
            let _ = front.finish(End::Quit);
            return ExitCode::from(Exit::BadInput);
        }
    };
    let started = match &args.scenario {
        Some(id) => front.start_drill(id),
        None => front.start(),
    };
    let ended = match started {
        Ok(()) => event_loop::run(&mut front, &mut messages, &mut signals, &mut tty, &theme).await,
        Err(e) => Err(LoopError::Journal(e)),
    };
    // Stop what runs while the screen still shows it, then give the terminal back.
    let stopped = front
        .wind_down_on(
            &mut messages,
            async {
                signals.next().await;
            },
            &mut tty,
            &theme,
        )
        .await;
    drop(guard);
    let _ = terminal::restore();
    // ratatui's Drop prints with `eprintln!` when it cannot show the cursor, which panics on
    // a terminal that hung up; the cursor is already shown by `restore`, so skip that Drop.
    if tty.show_cursor().is_err() {
        std::mem::forget(tty);
    } else {
        drop(tty);
    }

    let code = record_end(&mut front, ended);
    // As in `run`: webhooks get a short, bounded while to catch up; what is left is journaled
    // (the screen is gone, so nothing is shown).
    if let Err(e) = front
        .driver
        .deliver_owed(&mut messages, crate::driver::NOTIFY_GRACE, |_| {})
        .await
    {
        say!("bringup: the journal cannot be written: {e}");
    }
    // Closing sessions would wait for the commands a second signal chose not to wait for.
    if !matches!(stopped, crate::driver::Stopped::Left(_)) {
        front.driver.executor().shutdown().await;
    }
    crate::cmd::seal::after_run(args, &journal);
    summary(&front, at, path, demo_dir, args, code);
    drop(log_guard);
    ExitCode::from(code)
}

/// `--plain`: the run told in lines (`cmd/plain.rs`), wound down and ended as on the full
/// screen; returns the exit code.
async fn plain(
    front: &mut Front,
    messages: &mut crate::driver::Inbox,
    signals: &mut crate::driver::Signals,
    args: &OpenArgs,
    journal: &crate::session::JournalLocation,
) -> u8 {
    let started = match &args.scenario {
        Some(id) => front.start_drill(id),
        None => front.start(),
    };
    let ended = match started {
        Ok(()) => crate::cmd::plain::run(front, messages, signals).await,
        Err(e) => Err(LoopError::Journal(e)),
    };
    let stopped = front
        .wind_down(messages, async {
            signals.next().await;
        })
        .await;
    let code = record_end(front, ended);
    if let Err(e) = front
        .driver
        .deliver_owed(messages, crate::driver::NOTIFY_GRACE, |_| {})
        .await
    {
        say!("bringup: the journal cannot be written: {e}");
    }
    if !matches!(stopped, crate::driver::Stopped::Left(_)) {
        front.driver.executor().shutdown().await;
    }
    crate::cmd::seal::after_run(args, journal);
    code
}

/// The App with a resumed run's history folded in (its timeline, outages and times to
/// restore, as the journal measures them); and how long the run had been going (zero for a
/// new run).
fn app_with_history(mut app: App, history: &[journal::Record]) -> (App, Duration) {
    for record in history {
        app.on_entry(record.seq, record.ts, &record.event);
    }
    let offset = app
        .fold()
        .started
        .and_then(|t| (chrono::Utc::now() - t).to_std().ok())
        .unwrap_or(Duration::ZERO);
    (app, offset)
}

/// A command still running since before bringup stopped, asked about on the terminal before
/// the screen is taken: stop it now, or wait for it to finish. Without an answer (no terminal,
/// end of input, anything else typed) it is stopped, as in a headless run.
fn ask_orphan(question: &str) -> crate::driver::Orphan {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if !std::io::stdin().is_terminal() {
        return crate::driver::Orphan::Stop;
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "bringup: {question}.\n  [s] stop it now (SIGTERM, then SIGKILL)   [w] wait for it to finish, then check the service\n  stop or wait? [s/w] "
    );
    let _ = err.flush();
    let mut line = String::new();
    // Read on this thread: nothing else runs before the answer.
    let read = tokio::task::block_in_place(|| std::io::stdin().lock().read_line(&mut line));
    match (read, line.trim()) {
        (Ok(n), "w" | "W" | "wait") if n > 0 => crate::driver::Orphan::Wait,
        _ => crate::driver::Orphan::Stop,
    }
}

/// Journal `run_finished` for how the loop ended; SPEC's exit code.
fn record_end(front: &mut Front, ended: Result<End, LoopError>) -> u8 {
    match ended {
        Ok(end) => match front.finish(end) {
            Ok(code) => code,
            Err(e) => {
                say!("bringup: {e}");
                e.exit().code()
            }
        },
        Err(e @ LoopError::Journal(_)) => {
            say!("bringup: {e}");
            Exit::Interrupted.code()
        }
        Err(e) => {
            say!("bringup: {e}");
            let _ = front.finish(End::Signal);
            Exit::Interrupted.code()
        }
    }
}

/// What is left on the screen after the TUI: each selected service's state and the journal.
fn summary(
    front: &Front,
    (location, log): (&crate::session::JournalLocation, Option<&Path>),
    runbook: &Path,
    demo_dir: Option<&Path>,
    args: &OpenArgs,
    code: u8,
) {
    let states = front.states();
    let up = states.iter().filter(|(_, s)| s.is_up()).count();
    say!("{up} of {} service(s) up:", states.len());
    for (id, state) in &states {
        say!("  {:<10} {id}", state.as_str());
    }
    if let Some(left) = front.driver.left_down().filter(|l| !l.is_empty()) {
        say!(
            "left down by the drill: {} (injected and not seen healthy again)",
            crate::export::describe::service_list(&left)
        );
    }
    let journal = front.driver.journal_path();
    say!("journal: {}", journal.display());
    if let Some(line) = session::log_line(location, log) {
        say!("{line}");
    }
    for hint in crate::cmd::session::report_hints(journal, args.drill || args.scenario.is_some()) {
        say!("{hint}");
    }
    say!("  check the chain:   bringup verify {}", journal.display());
    if code != 0 {
        let with = match demo_dir {
            Some(dir) => session::ContinueWith::Demo { dir },
            None if session::kept_runbook(runbook) => session::ContinueWith::Attach,
            None => session::ContinueWith::Tui { runbook },
        };
        let (command, to_set) = session::continue_command(
            with,
            &session::RecordedRun::of(args.drill, args.scenario.as_deref()),
            &args.vars,
            &front.app.runbook().secret_vars,
            journal,
            &args.etcd,
        );
        say!("  continue:          {command}");
        for env in to_set {
            say!("    (set {env} to the secret first: read -rs {env}; export {env})");
        }
    }
}
