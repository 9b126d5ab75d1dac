//! `bringup run`: the headless front end. Loads the runbook, opens the journal, drives the
//! engine through the driver, prints progress, asks on the terminal, maps the end to SPEC's
//! exit codes. Ordering decisions belong to the engine, not here.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{RunArgs, RunFormat};
use crate::cmd::session::{self, Session};
use crate::cmd::{EXIT_BAD_INPUT, EXIT_INTERRUPTED};
use crate::driver::Entry;
use crate::driver::{self, Driver, Notice};
use crate::engine::{Decision, Input, ManualOutcome, ServiceState, StepRef};
use crate::export::describe::{Described, ENGINE, Tone, describe};
use crate::journal::Event;
use crate::runbook::model::{HostId, Runbook};
use crate::text::visible;

/// How long running steps get to stop on their hosts when the journal fails.
const ABANDON_GRACE: Duration = Duration::from_secs(15);
/// Most reports from running steps carried out under one journal fsync.
const MESSAGE_BATCH: usize = 256;

pub fn run(args: &RunArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bringup: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let code = runtime.block_on(run_async(args));
    // A prompt may still be waiting on the terminal (the run was interrupted while it asked);
    // its answer no longer matters, and dropping the runtime would wait for it forever.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run_async(args: &RunArgs) -> ExitCode {
    let runbook = match session::load_runbook(&args.runbook, &args.open) {
        Ok(rb) => rb,
        Err(code) => return code,
    };
    if args.dry_run {
        return dry_run(&runbook, args).await;
    }
    let session = match Session::open(runbook, &args.open, args.check_only, "run") {
        Ok(s) => s,
        Err(code) => return code,
    };
    drive(session, args).await
}

/// `first` and whatever else is already waiting (bounded), to carry out under one fsync.
fn with_waiting(
    first: driver::Message,
    messages: &mut tokio::sync::mpsc::Receiver<driver::Message>,
) -> Vec<driver::Message> {
    let mut batch = vec![first];
    while batch.len() < MESSAGE_BATCH
        && let Ok(m) = messages.try_recv()
    {
        batch.push(m);
    }
    batch
}

/// A question waiting for the operator at the terminal.
enum Ask {
    Approval {
        step: StepRef,
        commands: Vec<(HostId, String)>,
    },
    Manual {
        step: StepRef,
        instruction: String,
    },
}

enum Answer {
    Approval(StepRef, Decision),
    Manual(StepRef, Option<ManualOutcome>),
}

async fn drive(session: Session, args: &RunArgs) -> ExitCode {
    let Session {
        driver: mut drv,
        mut messages,
        runbook,
        start_notices,
        ..
    } = session;
    let printer = Printer {
        format: args.format,
        runbook: runbook.clone(),
    };
    let interactive = std::io::stdin().is_terminal();
    let (answer_tx, mut answers) = tokio::sync::mpsc::channel::<Answer>(4);
    let mut asks: VecDeque<Ask> = VecDeque::new();
    let mut asking = false;
    let mut interrupted = false;

    // Ctrl-C or SIGTERM stops running steps on their hosts; a second one stops waiting.
    let mut interrupted_by = Stopping::NotYet;
    let mut sig = Signals::listen();

    let mut pending = start_notices;
    match drv.input(Input::RunPlan) {
        Ok(n) => pending.extend(n),
        Err(e) => return journal_failed(&mut drv, &mut messages, &e, &mut sig).await,
    }

    loop {
        // Carry out what the last step produced: print, queue questions.
        for notice in pending.drain(..) {
            match notice {
                Notice::AskApproval { step, commands } => {
                    asks.push_back(Ask::Approval { step, commands });
                }
                Notice::AskManual { step, instruction } => {
                    asks.push_back(Ask::Manual { step, instruction });
                }
                other => printer.notice(&other),
            }
        }
        // Answer questions: --yes, the terminal, or nobody.
        while !asking && let Some(ask) = asks.pop_front() {
            let can_ask = interactive && !interrupted;
            match answer(&mut drv, &runbook, ask, args.yes, can_ask, &answer_tx) {
                Ok((notices, prompted)) => {
                    pending.extend(notices);
                    asking = prompted;
                }
                Err(e) => return journal_failed(&mut drv, &mut messages, &e, &mut sig).await,
            }
        }
        if !pending.is_empty() {
            continue;
        }
        if drv.finished().is_some() && !drv.busy() && !asking && asks.is_empty() {
            break;
        }

        let step = tokio::select! {
            msg = messages.recv() => match msg {
                Some(m) => drv.on_messages(with_waiting(m, &mut messages)),
                None => break,
            },
            answer = answers.recv() => {
                asking = false;
                match answer {
                    Some(Answer::Approval(step, decision)) => {
                        let op = drv.operator().to_string();
                        drv.approve(step, decision, &op)
                    }
                    Some(Answer::Manual(step, Some(outcome))) => drv.manual(step, outcome),
                    Some(Answer::Manual(step, None)) => drv.manual_unavailable(step),
                    None => Ok(Vec::new()),
                }
            },
            () = recv_signal(&mut sig.int), if interrupted_by != Stopping::Left => {
                let (next, stopped) = interrupt(&mut drv, interrupted_by, "interrupted", "press Ctrl-C");
                interrupted_by = next;
                stopped
            },
            () = recv_signal(&mut sig.term), if interrupted_by != Stopping::Left => {
                let (next, stopped) = interrupt(&mut drv, interrupted_by, "terminated", "send SIGTERM");
                interrupted_by = next;
                stopped
            },
        };
        interrupted = interrupted_by != Stopping::NotYet;
        match step {
            Ok(n) => pending.extend(n),
            Err(e) => return journal_failed(&mut drv, &mut messages, &e, &mut sig).await,
        }
        if interrupted_by == Stopping::Left || (interrupted && !drv.busy()) {
            break;
        }
    }

    let left = interrupted_by == Stopping::Left;
    conclude(&mut drv, &runbook, args, &printer, interrupted, left).await
}

/// Where an interrupted run is in stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopping {
    NotYet,
    /// Running steps were told to stop; the run waits for them to end.
    Waiting,
    /// The operator asked again: the run ends without waiting for the steps to stop.
    Left,
}

/// A Ctrl-C or SIGTERM: the first tells running steps to stop (and says how to leave them),
/// the second stops waiting for them.
fn interrupt(
    drv: &mut Driver,
    stopping: Stopping,
    why: &str,
    again: &str,
) -> (Stopping, Result<Vec<Notice>, crate::journal::JournalError>) {
    match stopping {
        Stopping::NotYet => {
            eprintln!(
                "bringup: {why}; stopping running steps on their hosts… {again} again to leave them"
            );
            (Stopping::Waiting, drv.stop())
        }
        Stopping::Waiting | Stopping::Left => {
            eprintln!(
                "bringup: not waiting for running steps to stop; they were told to, check their hosts"
            );
            (Stopping::Left, Ok(Vec::new()))
        }
    }
}

/// Where Ctrl-C (`int`) and SIGTERM (`term`) arrive; `None` if they cannot be listened for.
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Signals {
        Signals {
            int: listen(tokio::signal::unix::SignalKind::interrupt(), "Ctrl-C"),
            term: listen(tokio::signal::unix::SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// The next Ctrl-C or SIGTERM, whichever comes first.
    async fn next(&mut self) {
        tokio::select! {
            () = recv_signal(&mut self.int) => {},
            () = recv_signal(&mut self.term) => {},
        }
    }
}

fn listen(
    kind: tokio::signal::unix::SignalKind,
    name: &str,
) -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot listen for {name}: {e}");
            None
        }
    }
}

/// Record the end, print the table of states, and map it to SPEC's exit code.
async fn conclude(
    drv: &mut Driver,
    runbook: &Runbook,
    args: &RunArgs,
    printer: &Printer,
    interrupted: bool,
    left_running: bool,
) -> ExitCode {
    let services: Vec<(crate::runbook::ServiceId, ServiceState)> = drv
        .engine()
        .services()
        .iter()
        .filter(|(id, _)| session::selected(runbook, &args.open.only, id))
        .map(|(id, v)| (id.clone(), v.state))
        .collect();
    let code = if interrupted {
        EXIT_INTERRUPTED
    } else {
        driver::exit_code(&services)
    };
    let outcome = match code {
        0 => "restored",
        EXIT_INTERRUPTED => "interrupted",
        _ => "incomplete",
    };
    match drv.finish(outcome) {
        Ok(n) => n.iter().for_each(|n| printer.notice(n)),
        Err(e) => {
            eprintln!(
                "bringup: the journal cannot be written: {e}; the run is over but its end is not recorded"
            );
            if !left_running {
                drv.executor().shutdown().await;
            }
            return ExitCode::from(EXIT_INTERRUPTED);
        }
    }
    // Closing sessions waits for the commands on them; steps left running are not waited for.
    if !left_running {
        drv.executor().shutdown().await;
    }
    // The table is what `--check-only` is for: on stdout, unless stdout carries JSON lines.
    match args.format {
        RunFormat::Text => printer.table(drv, &services, &mut std::io::stdout().lock()),
        RunFormat::Json if args.check_only => {
            printer.table(drv, &services, &mut std::io::stderr().lock());
        }
        RunFormat::Json => {}
    }
    crate::cmd::seal::after_run(&args.open, drv.journal_path());
    eprintln!("journal: {}", drv.journal_path().display());
    ExitCode::from(code)
}

/// Answer one question: approve with `--yes`, ask on the terminal (the answer comes back on
/// `tx`; returns `true`), or, with nobody to ask, decline or leave the service blocked.
fn answer(
    drv: &mut Driver,
    runbook: &Runbook,
    ask: Ask,
    yes: bool,
    can_ask: bool,
    tx: &tokio::sync::mpsc::Sender<Answer>,
) -> Result<(Vec<Notice>, bool), crate::journal::JournalError> {
    match ask {
        Ask::Approval { step, commands } => {
            if yes {
                let operator = drv.operator().to_string();
                Ok((drv.approve(step, Decision::Approved, &operator)?, false))
            } else if can_ask {
                spawn_approval_prompt(runbook, step, commands, tx.clone());
                Ok((Vec::new(), true))
            } else {
                eprintln!(
                    "bringup: '{}' needs approval and there is no terminal to ask on; pass --yes to approve confirm steps",
                    driver::step_name(runbook, &step)
                );
                Ok((
                    drv.approve(step, Decision::Declined, "(no terminal)")?,
                    false,
                ))
            }
        }
        Ask::Manual { step, instruction } => {
            if can_ask {
                spawn_manual_prompt(runbook, step, instruction, tx.clone());
                Ok((Vec::new(), true))
            } else {
                eprintln!(
                    "bringup: manual step '{}' needs an operator and there is no terminal; its service stays blocked",
                    driver::step_name(runbook, &step)
                );
                Ok((drv.manual_unavailable(step)?, false))
            }
        }
    }
}

async fn recv_signal(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// The journal cannot record what happens next: stop every running step on its host (the
/// stop itself cannot be journaled), wait a bounded time for them to end, and exit 3. A
/// Ctrl-C or SIGTERM during the wait ends it at once: the steps were already told to stop.
async fn journal_failed(
    drv: &mut Driver,
    messages: &mut tokio::sync::mpsc::Receiver<driver::Message>,
    e: &crate::journal::JournalError,
    signals: &mut Signals,
) -> ExitCode {
    eprintln!(
        "bringup: the journal cannot be written: {e}; stopping so that nothing happens unrecorded"
    );
    let running = drv.abandon();
    match await_stopped(messages, running, ABANDON_GRACE, signals.next()).await {
        Abandoned::Stopped => drv.executor().shutdown().await,
        Abandoned::TimedOut(left) => {
            eprintln!(
                "bringup: {left} step(s) did not stop within {}s; check their hosts",
                ABANDON_GRACE.as_secs()
            );
            drv.executor().shutdown().await;
        }
        // Closing sessions would wait for the very commands the operator chose not to wait for.
        Abandoned::Left(left) => eprintln!(
            "bringup: not waiting for {left} running step(s) to stop; they were told to, check their hosts"
        ),
    }
    ExitCode::from(EXIT_INTERRUPTED)
}

/// How the wait for abandoned steps ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Abandoned {
    /// Every running step reported that it ended.
    Stopped,
    /// The grace ran out with this many steps still running.
    TimedOut(usize),
    /// The operator asked again (`leave` resolved) with this many steps still running.
    Left(usize),
}

/// Wait until `running` steps report `Done`, `grace` passes, or `leave` resolves.
async fn await_stopped(
    messages: &mut tokio::sync::mpsc::Receiver<driver::Message>,
    mut running: usize,
    grace: Duration,
    leave: impl std::future::Future<Output = ()>,
) -> Abandoned {
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline, leave);
    while running > 0 {
        // Reports already waiting are counted first, so the count left behind is exact.
        tokio::select! {
            biased;
            msg = messages.recv() => match msg {
                Some(driver::Message::Done { .. }) => running -= 1,
                Some(_) => {}
                None => break,
            },
            () = &mut leave => return Abandoned::Left(running),
            () = &mut deadline => return Abandoned::TimedOut(running),
        }
    }
    Abandoned::Stopped
}

fn spawn_approval_prompt(
    runbook: &Runbook,
    step: StepRef,
    commands: Vec<(HostId, String)>,
    tx: tokio::sync::mpsc::Sender<Answer>,
) {
    let name = driver::step_name(runbook, &step);
    tokio::task::spawn_blocking(move || {
        let mut text = format!(
            "\n  APPROVAL NEEDED  {} · '{}' will run on {} host(s):\n",
            step.service,
            name,
            commands.len()
        );
        for (host, command) in &commands {
            let _ = writeln!(text, "    {host}: {command}");
        }
        text.push_str("  Approve? [y/N] ");
        let decision = match ask_line(&text) {
            Some(a) if a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => {
                Decision::Approved
            }
            _ => Decision::Declined,
        };
        let _ = tx.blocking_send(Answer::Approval(step, decision));
    });
}

fn spawn_manual_prompt(
    runbook: &Runbook,
    step: StepRef,
    instruction: String,
    tx: tokio::sync::mpsc::Sender<Answer>,
) {
    let name = driver::step_name(runbook, &step);
    tokio::task::spawn_blocking(move || {
        let text = format!(
            "\n  MANUAL STEP  {} · '{}'\n    {}\n  When it is done type 'd'; if it cannot be done type 'f': ",
            step.service, name, instruction
        );
        let outcome = loop {
            match ask_line(&text).as_deref() {
                Some("d" | "done") => break Some(ManualOutcome::Done),
                Some("f" | "failed") => break Some(ManualOutcome::Failed),
                None => break None,
                Some(_) => {}
            }
        };
        let _ = tx.blocking_send(Answer::Manual(step, outcome));
    });
}

/// Print a prompt and read one trimmed line; `None` at end of input.
fn ask_line(prompt: &str) -> Option<String> {
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(visible(prompt).as_bytes());
    let _ = stderr.flush();
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}

async fn dry_run(runbook: &Arc<Runbook>, args: &RunArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Dry run of '{}': nothing is changed. Commands per host after expansion:",
        runbook.name
    );
    for service in &runbook.services {
        if !session::selected(runbook, &args.open.only, &service.id) {
            continue;
        }
        let _ = writeln!(
            out,
            "\n[tier {}] {} — {}",
            service.tier, service.id, service.name
        );
        let phases = [("check", &service.checks), ("restore", &service.restores)];
        for (phase, steps) in phases {
            for step in steps {
                let confirm = if step.confirm { "  (asks first)" } else { "" };
                let _ = writeln!(out, "  {phase} '{}'{confirm}", step.name);
                for host in &step.hosts {
                    let expanded = runbook.expand(&step.action, &service.id, host);
                    let shown = match step.action {
                        crate::runbook::model::StepAction::Run(_) => expanded.shown,
                        crate::runbook::model::StepAction::Manual(_) => {
                            format!("(manual) {}", expanded.shown)
                        }
                    };
                    let _ = writeln!(out, "    {host}: {}", visible(&shown));
                }
            }
        }
    }
    drop(out);
    let exec = match session::executor(runbook, &args.open) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut hosts: Vec<&HostId> = runbook
        .services
        .iter()
        .filter(|s| session::selected(runbook, &args.open.only, &s.id))
        .flat_map(|s| s.hosts.iter())
        .collect();
    hosts.sort();
    hosts.dedup();
    println!(
        "\nHosts ({}): reachability, host key, authentication",
        hosts.len()
    );
    let probes = futures::future::join_all(hosts.iter().map(|h| exec.probe(h))).await;
    let accepted: std::collections::HashMap<HostId, String> =
        exec.take_accepted_keys().into_iter().collect();
    let mut failures = 0;
    for (host, result) in hosts.iter().zip(probes) {
        match result {
            Ok(()) => match accepted.get(*host) {
                Some(fp) => println!(
                    "  ✓ {host} (new host key {fp} recorded, as --accept-new-host-keys asked)"
                ),
                None => println!("  ✓ {host}"),
            },
            Err(e) => {
                failures += 1;
                println!("  ✗ {host}: {}", visible(&e.to_string()));
            }
        }
    }
    exec.shutdown().await;
    let changed = if accepted.is_empty() {
        "Nothing was changed.".to_string()
    } else {
        format!(
            "Nothing was changed on the hosts; {} new host key(s) were recorded in bringup's known_hosts.",
            accepted.len()
        )
    };
    if failures == 0 {
        println!("\nEvery host answered. {changed}");
        ExitCode::SUCCESS
    } else {
        println!("\n{failures} host(s) cannot be used as they are. {changed}");
        ExitCode::from(1)
    }
}

struct Printer {
    format: RunFormat,
    runbook: Arc<Runbook>,
}

impl Printer {
    fn notice(&self, notice: &Notice) {
        match (self.format, notice) {
            // Piped, the lines are the journal's own bytes (they verify); serde escapes C0.
            // On a terminal, DEL, C1 and bidi controls are escaped too: same JSON value.
            (RunFormat::Json, Notice::Journaled(record)) if std::io::stdout().is_terminal() => {
                println!("{}", crate::text::json_escape_controls(&record.line));
            }
            (RunFormat::Json, Notice::Journaled(record)) => println!("{}", record.line),
            (RunFormat::Text, Notice::Journaled(record)) => {
                println!("{}", visible(&progress_line(record)));
            }
            _ => {}
        }
        let _ = &self.runbook;
    }

    fn table(
        &self,
        drv: &Driver,
        services: &[(crate::runbook::ServiceId, ServiceState)],
        out: &mut dyn Write,
    ) {
        let width = services
            .iter()
            .map(|(id, _)| id.as_str().len())
            .max()
            .unwrap_or(7)
            .max(7);
        let _ = writeln!(out, "\n{:<width$}  TIER  {:<10} REASON", "SERVICE", "STATE");
        for (id, state) in services {
            let service = self.runbook.services.iter().find(|s| &s.id == id);
            let tier = service.map_or(0, |s| s.tier);
            let reason = drv
                .engine()
                .service(id)
                .and_then(|v| v.reason.clone())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<width$}  {:>4}  {:<10} {}",
                id.as_str(),
                tier,
                state.as_str(),
                visible(&reason)
            );
        }
    }
}

/// One human line per journal event, told as the post-mortem and the TUI tell it (see
/// `export::describe`); output lines are indented under their steps.
fn progress_line(record: &Entry) -> String {
    let ts = record.ts.format("%H:%M:%S");
    if let Event::StepOutput { host, text, .. } = &record.event {
        return format!("          {host} │ {text}");
    }
    let Some(Described { who, what, tone }) = describe(&record.event) else {
        return format!("{ts}  {}", record.event.kind());
    };
    let mark = match tone {
        Tone::Good => '✓',
        Tone::Bad => '✗',
        Tone::Warn => '!',
        Tone::Progress => '▶',
        Tone::Neutral => '·',
    };
    // bringup's own doings need no signature, but a step says which host it ran on (with
    // many hosts, its lines are otherwise alike); an operator's doings are signed.
    if who == ENGINE {
        format!("{ts}  {mark} {what}")
    } else if let Some(host) = who
        .strip_prefix(ENGINE)
        .and_then(|rest| rest.strip_prefix('@'))
    {
        format!("{ts}  {mark} {what} (on {host})")
    } else {
        format!("{ts}  {mark} {what} by {who}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::AttemptId;
    use crate::engine::state::{Phase, StepOutcome};
    use crate::exec::StepResult;
    use crate::runbook::model::ServiceId;

    fn done(attempt: u64) -> driver::Message {
        driver::Message::Done {
            attempt: AttemptId(attempt),
            result: StepResult::error("stopped".into(), Duration::ZERO),
        }
    }

    #[tokio::test]
    async fn a_second_signal_ends_the_wait_for_abandoned_steps_at_once() {
        // Two steps were running; one stops, the other never reports. The operator's signal
        // must end the wait long before the grace (an hour here) would.
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        tx.send(done(1)).await.expect("channel open");
        let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
        signal.send(()).expect("receiver alive");
        let leave = async {
            let _ = signalled.await;
        };
        let waited = tokio::time::timeout(
            Duration::from_secs(30),
            await_stopped(&mut rx, 2, Duration::from_secs(3600), leave),
        )
        .await;
        assert_eq!(waited, Ok(Abandoned::Left(1)));
        drop(tx);
    }

    #[tokio::test]
    async fn without_a_signal_the_wait_ends_when_every_abandoned_step_is_done() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        tx.send(done(1)).await.expect("channel open");
        tx.send(done(2)).await.expect("channel open");
        let waited = await_stopped(
            &mut rx,
            2,
            Duration::from_secs(3600),
            std::future::pending(),
        )
        .await;
        assert_eq!(waited, Abandoned::Stopped);
    }

    #[tokio::test]
    async fn without_a_signal_the_wait_gives_up_after_the_grace() {
        let (_tx, mut rx) = tokio::sync::mpsc::channel::<driver::Message>(4);
        let waited = await_stopped(
            &mut rx,
            1,
            Duration::from_millis(10),
            std::future::pending(),
        )
        .await;
        assert_eq!(waited, Abandoned::TimedOut(1));
    }

    fn entry(event: Event) -> Entry {
        let ts = chrono::DateTime::parse_from_rfc3339("2026-11-22T09:08:07Z")
            .expect("a valid time")
            .with_timezone(&chrono::Utc);
        Entry {
            seq: 1,
            ts,
            event,
            line: String::new(),
        }
    }

    #[test]
    fn an_approval_keeps_the_names_as_written_and_signs_with_the_operator() {
        let line = progress_line(&entry(Event::Approval {
            service: ServiceId::new("Talk"),
            step: "Start Gateway".into(),
            decision: Decision::Approved,
            operator: "Kim".into(),
        }));
        assert_eq!(line, "09:08:07  ✓ Talk: approved 'Start Gateway' by Kim");
    }

    #[test]
    fn a_manual_outcome_reads_as_a_word_not_a_debug_name() {
        let line = progress_line(&entry(Event::Manual {
            service: ServiceId::new("db"),
            step: "Swap the disk".into(),
            outcome: ManualOutcome::Failed,
            operator: "ana".into(),
        }));
        assert_eq!(
            line,
            "09:08:07  ✗ db: manual step 'Swap the disk' marked failed by ana"
        );
        assert!(!line.contains("Failed"), "{line}");
    }

    #[test]
    fn bringup_on_a_host_names_the_host_not_a_signer_and_a_step_result_carries_its_mark() {
        let line = progress_line(&entry(Event::StepFinished {
            service: ServiceId::new("mail"),
            phase: Phase::Restore,
            step: "restart dovecot".into(),
            host: HostId::new("mail-1"),
            attempt: 1,
            outcome: StepOutcome::Ok,
            exit_code: Some(0),
            duration_ms: 1_500,
            error: None,
        }));
        assert_eq!(
            line,
            "09:08:07  ✓ mail: restore 'restart dovecot' ok (exit 0) in 1.5 s (on mail-1)"
        );
        let state = progress_line(&entry(Event::ServiceState {
            service: ServiceId::new("mail"),
            from: ServiceState::Checking,
            to: ServiceState::Down,
            reason: None,
        }));
        assert_eq!(state, "09:08:07  ✗ mail: checking → down");
    }

    #[test]
    fn output_stays_indented_under_its_host() {
        let line = progress_line(&entry(Event::StepOutput {
            service: ServiceId::new("s"),
            step: "x".into(),
            host: HostId::new("h1"),
            text: "hello".into(),
            file: None,
        }));
        assert_eq!(line, "          h1 │ hello");
    }
}
