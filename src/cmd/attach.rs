//! `bringup attach URL|JOURNAL`: the TUI on a run another process executes. Wiring only: the
//! runbook and the history, two tasks (one follows the run's events and the executor's
//! `live` view, one sends requests and waits for their answers), the terminal, and the loop
//! in `tui::attach`. A shared run is followed through an etcd watch; a file-journal run by
//! reading its journal file as it grows and asking its socket for the view. Quitting
//! detaches; the run goes on. Every request is awaited: none holds up the screen.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc as async_mpsc;

use crate::Exit;
use crate::cli::{AttachArgs, OpenArgs, SharedRunArgs};
use crate::cmd::local::Local;
use crate::cmd::session;
use crate::cmd::shared::{Attached, Failure};
use crate::driver::{Ask, Signals};
use crate::engine::Mode;
use crate::journal::etcd::EtcdStore;
use crate::journal::{Event, record};
use crate::session::JournalLocation;
use crate::session::KeptRun;
use crate::tui::app::Seat;
use crate::tui::attach::{self as screen, Attach, Update};
use crate::tui::event_loop::End;
use crate::tui::{App, RunInfo, Theme, terminal};

/// The first wait before following the run again once etcd stopped answering.
const RETRY: Duration = Duration::from_millis(200);
/// The longest wait between tries while etcd does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Event lines read per request.
const PAGE: u64 = 256;
/// How long a request waits for the executing process to carry it out.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub fn attach(args: &AttachArgs) -> ExitCode {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        say!(
            "bringup: attach opens the TUI and needs a terminal; headless, use `bringup approve {}` or `bringup note {} TEXT`",
            args.run.url,
            args.run.url
        );
        return ExitCode::from(Exit::BadInput);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say!("bringup: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::BadInput);
        }
    };
    if let Ok(JournalLocation::File(journal)) =
        JournalLocation::parse(std::path::Path::new(&args.run.url))
    {
        let code = rt.block_on(attach_local(args, &journal));
        return code;
    }
    let (app, url, history) = match rt.block_on(open(&args.run)) {
        Ok(opened) => opened,
        Err(f) => {
            say!("bringup: {}", f.message);
            return ExitCode::from(f.code);
        }
    };
    let shown = rt.block_on(show(args, app, &url, &history));
    match shown {
        Shown::Done(code) => code,
        Shown::TakeOver => {
            let kept =
                rt.block_on(async { Attached::connect(&args.run).await?.runbook_text().await });
            // The local run starts a runtime of its own: this one must be gone first.
            drop(rt);
            take_over(args, &url, kept)
        }
    }
}

fn seat(args: &AttachArgs) -> Seat {
    if args.read_only {
        Seat::ReadOnly
    } else {
        Seat::Operator
    }
}

/// How the attached screen ended.
enum Shown {
    Done(ExitCode),
    /// The operator asked to continue the run here, its executor being gone.
    TakeOver,
}

/// The runbook the run keeps, an App on it, and the run's history so far.
async fn open(args: &SharedRunArgs) -> Result<(App, String, Vec<Vec<u8>>), Failure> {
    let mut run = Attached::connect(args).await?;
    let runbook = run.runbook().await?;
    let mut store = run.store().await?;
    let history = read_after(&mut store, 0).await?;
    let mode = history
        .first()
        .and_then(|l| record::parse(l).ok())
        .and_then(|r| match r.event {
            Event::RunStarted { mode, .. } => Some(mode),
            _ => None,
        })
        .unwrap_or(Mode::Incident);
    let url = run.url.to_string();
    let info = RunInfo {
        mode,
        operator: run.operator.clone(),
        journal: url.clone().into(),
    };
    Ok((App::new(std::sync::Arc::new(runbook), info), url, history))
}

/// Every event line after `seq`, in order.
async fn read_after(store: &mut EtcdStore, mut seq: u64) -> Result<Vec<Vec<u8>>, Failure> {
    let mut lines = Vec::new();
    loop {
        let before = lines.len();
        seq = store
            .lines_after(seq, PAGE, |_, line| lines.push(line.to_vec()))
            .await
            .map_err(Failure::input)?;
        if (lines.len() - before) < usize::try_from(PAGE).unwrap_or(usize::MAX) {
            return Ok(lines);
        }
    }
}

async fn show(args: &AttachArgs, app: App, url: &str, history: &[Vec<u8>]) -> Shown {
    let (asks_tx, asks_rx) = async_mpsc::unbounded_channel::<Ask>();
    let (tx, updates) = async_mpsc::channel::<Update>(64);
    let mut front = Attach::new(app, url, seat(args), asks_tx);
    front.lines(history);
    let mut tasks = vec![tokio::spawn(follow(
        args.run.clone(),
        front.seq(),
        tx.clone(),
    ))];
    // A read-only screen has no one to send requests: nothing posts them.
    if seat(args) == Seat::Operator {
        tasks.push(tokio::spawn(serve(args.run.clone(), asks_rx, tx)));
    }
    screen_on(front, updates, url, tasks).await
}

/// The attached screen on the terminal until it ends; `tasks` feed it and end with it.
async fn screen_on(
    mut front: Attach,
    mut updates: async_mpsc::Receiver<Update>,
    url: &str,
    tasks: Vec<tokio::task::JoinHandle<()>>,
) -> Shown {
    let mut signals = Signals::listen();
    let theme = Theme::new(Theme::no_color_from(
        std::env::var_os("NO_COLOR").as_deref(),
    ));
    let (mut tty, guard) = match terminal::enter() {
        Ok(t) => t,
        Err(e) => {
            say!("bringup: cannot take over the terminal: {e}");
            return Shown::Done(ExitCode::from(Exit::BadInput));
        }
    };
    let ended = screen::run(&mut front, &mut updates, &mut signals, &mut tty, &theme).await;
    drop(guard);
    let _ = terminal::restore();
    if tty.show_cursor().is_err() {
        std::mem::forget(tty);
    } else {
        drop(tty);
    }
    for task in tasks {
        task.abort();
    }
    drop(updates);
    if matches!(ended, Ok(End::Quit)) && front.taking_over() {
        return Shown::TakeOver;
    }
    Shown::Done(match ended {
        Ok(End::Quit) => {
            say!("detached from {url}; the run goes on (attach again: bringup attach {url})");
            ExitCode::SUCCESS
        }
        Ok(End::Signal) => ExitCode::from(Exit::Interrupted),
        Err(e) => {
            say!("bringup: the terminal cannot be drawn on: {e}");
            ExitCode::from(Exit::Interrupted)
        }
    })
}

/// Continue the run in this process, in the local TUI, under the Resume rules: the runbook
/// the run keeps, with the variables it recorded and this command's own on top (secrets,
/// never recorded, come from `--var-env`/`--var-file`); as `bringup open RUNBOOK --resume URL`.
fn take_over(args: &AttachArgs, url: &str, kept: Result<KeptRun, Failure>) -> ExitCode {
    let kept = match kept {
        Ok(kept) => kept,
        Err(f) => {
            say!("bringup: cannot take over {url}: {}", f.message);
            return ExitCode::from(f.code);
        }
    };
    // A drill goes on as the drill it began as: same scenario, nothing injected again.
    let (drill, scenario) = kept.drill_and_scenario();
    let open = OpenArgs {
        drill,
        scenario,
        vars: args.vars.clone(),
        resume: Some(url.into()),
        etcd: args.run.etcd.clone(),
        operator: args.run.operator.clone(),
        accept_new_host_keys: args.accept_new_host_keys,
        hand_over: Some(crate::journal::event::HandOver::TakeOver),
        ..OpenArgs::default()
    };
    let Ok(own) = session::var_values(&args.vars) else {
        return ExitCode::from(Exit::BadInput);
    };
    let name = std::path::PathBuf::from(format!("{url} (runbook)"));
    let vars = crate::session::continued_vars(&kept.text, kept.vars, own);
    let runbook = match crate::runbook::load_text(&kept.text, &name, &vars) {
        Ok(rb) => rb,
        Err(d) => {
            say!("bringup: the runbook kept in '{url}':\n{d}");
            return ExitCode::from(Exit::BadInput);
        }
    };
    let secrets = runbook.secret_vars.clone();
    let runbook = match session::check_runbook(runbook, &name, &open) {
        Ok(rb) => rb,
        Err(code) => {
            // With a runbook file at hand instead: the TUI's command for the run as it began
            // (a drill as `bringup drill RUNBOOK --scenario ID`).
            let (command, to_set) = crate::session::continue_command(
                crate::session::ContinueWith::Tui {
                    runbook: std::path::Path::new("RUNBOOK"),
                },
                &crate::session::RecordedRun::of(open.drill, open.scenario.as_deref()),
                &args.vars,
                &secrets,
                std::path::Path::new(url),
                &args.run.etcd,
            );
            say!(
                "bringup: not taken over; attach again with the secrets (--var-env KEY=ENVNAME), or `{command}`"
            );
            for env in to_set {
                say!("  (set {env} to the secret first: read -rs {env}; export {env})");
            }
            return code;
        }
    };
    say!(
        "taking over {url} as {}",
        crate::cmd::session::operator_name(open.operator.as_deref())
    );
    crate::cmd::open::take_over(runbook, &name, &open)
}

/// Follow the run as etcd commits its changes: read what is new (events, the executor and
/// its view) once, then again after each change a watch on the run's keys reports. While etcd
/// does not answer, say so and start over with a bounded backoff. Ends when the screen is
/// gone.
async fn follow(args: SharedRunArgs, mut seq: u64, tx: async_mpsc::Sender<Update>) {
    let mut wait = RETRY;
    while !tx.is_closed() {
        match follow_once(&args, &mut seq, &tx).await {
            Ok(()) => return,
            Err(f) => {
                if tx.send(Update::Unreachable(f.message)).await.is_err() {
                    return;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One watch, on its own connection, with another to read what each change brought: the
/// reads go on beside the watch, so a slow read never holds the stream up.
async fn follow_once(
    args: &SharedRunArgs,
    seq: &mut u64,
    tx: &async_mpsc::Sender<Update>,
) -> Result<(), Failure> {
    let watcher = Attached::connect(args).await?;
    let mut reader = Attached::connect(args).await?;
    let mut store = reader.store().await?;
    let from = reader.revision().await? + 1;
    refresh(&mut reader, &mut store, seq, tx).await?;
    // Changes coalesce: one read catches up with all that came before it.
    let (changed_tx, mut changed) = async_mpsc::channel::<()>(1);
    let screen = tx.clone();
    let watch = watcher.follow(from, move || {
        let _ = changed_tx.try_send(());
        !screen.is_closed()
    });
    tokio::pin!(watch);
    loop {
        tokio::select! {
            ended = &mut watch => return ended,
            got = changed.recv() => {
                if got.is_none() || tx.is_closed() {
                    return Ok(());
                }
                refresh(&mut reader, &mut store, seq, tx).await?;
            }
        }
    }
}

/// Send the screen the event lines after `seq`, who executes the run and the executor's view.
async fn refresh(
    run: &mut Attached,
    store: &mut EtcdStore,
    seq: &mut u64,
    tx: &async_mpsc::Sender<Update>,
) -> Result<(), Failure> {
    let lines = read_after(store, *seq).await?;
    if let Some(last) = lines.last().and_then(|l| record::Envelope::parse(l).ok()) {
        *seq = last.seq;
    }
    if !lines.is_empty() && tx.send(Update::Lines(lines)).await.is_err() {
        return Ok(());
    }
    let holder = run.holder().await?;
    let live = run.live().await?;
    let _ = tx
        .send(Update::Live {
            live,
            holder: holder.map(|h| format!("{} on {}", h.operator, h.host)),
        })
        .await;
    Ok(())
}

/// Post each request the screen makes and report what became of it.
async fn serve(
    args: SharedRunArgs,
    mut asks: async_mpsc::UnboundedReceiver<Ask>,
    tx: async_mpsc::Sender<Update>,
) {
    let mut conn: Option<Attached> = None;
    while let Some(ask) = asks.recv().await {
        let run = match &mut conn {
            Some(run) => Ok(run),
            None => Attached::connect(&args).await.map(|run| conn.insert(run)),
        };
        let answer = match run {
            Ok(run) => run.ask(&ask, ANSWER_WAIT).await,
            Err(f) => Err(f),
        };
        let said = match answer {
            Ok(answer) => answer.refused,
            Err(f) => {
                conn = None;
                Some(f.message)
            }
        };
        if tx.send(Update::Answered(said)).await.is_err() {
            return;
        }
    }
}

/// How often a file-journal run's journal and view are read again.
const LOCAL_POLL: Duration = Duration::from_millis(250);
/// Most bytes of new journal lines read at once.
const LOCAL_CHUNK: usize = 4 << 20;

/// `attach JOURNAL`: the screen on a file-journal run through its socket. Taking over is
/// `open RUNBOOK --resume JOURNAL`, once the run is gone (the journal's lock says so).
async fn attach_local(args: &AttachArgs, journal: &std::path::Path) -> ExitCode {
    let operator = session::operator_name(args.run.operator.as_deref());
    let opened = async {
        let run = Local::open(journal, operator.clone(), args.run.sign_key.clone())?;
        let runbook = run.runbook().await?;
        Ok::<_, Failure>((run, runbook))
    };
    let (run, runbook) = match opened.await {
        Ok(o) => o,
        Err(f) => {
            say!("bringup: {}", f.message);
            return ExitCode::from(f.code);
        }
    };
    let mut tail = Tail::default();
    let history = tail.read(journal);
    let mode = history
        .first()
        .and_then(|l| record::parse(l).ok())
        .and_then(|r| match r.event {
            Event::RunStarted { mode, .. } => Some(mode),
            _ => None,
        })
        .unwrap_or(Mode::Incident);
    let name = journal.display().to_string();
    let info = RunInfo {
        mode,
        operator,
        journal: journal.to_path_buf(),
    };
    let app = App::new(std::sync::Arc::new(runbook), info);
    let (asks_tx, asks_rx) = async_mpsc::unbounded_channel::<Ask>();
    let (tx, updates) = async_mpsc::channel::<Update>(64);
    let mut front = Attach::new(app, &name, seat(args), asks_tx);
    front.lines(&history);
    let mut tasks = vec![tokio::spawn(follow_local(
        journal.to_path_buf(),
        tail,
        front.seq(),
        tx.clone(),
    ))];
    if seat(args) == Seat::Operator {
        tasks.push(tokio::spawn(serve_local(run, asks_rx, tx)));
    }
    match screen_on(front, updates, &name, tasks).await {
        Shown::Done(code) => code,
        Shown::TakeOver => {
            say!(
                "the run on '{name}' has ended; continue it with `bringup open RUNBOOK --resume {name}`"
            );
            ExitCode::SUCCESS
        }
    }
}

/// A journal file read as it grows: whole lines only, from where the last read ended.
#[derive(Default)]
struct Tail {
    offset: u64,
}

impl Tail {
    /// The complete lines written since the last read (at most [`LOCAL_CHUNK`] bytes).
    fn read(&mut self, journal: &std::path::Path) -> Vec<Vec<u8>> {
        use std::io::{Read as _, Seek as _};
        let Ok(mut file) = std::fs::File::open(journal) else {
            return Vec::new();
        };
        if file.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        if file
            .take(LOCAL_CHUNK as u64)
            .read_to_end(&mut bytes)
            .is_err()
        {
            return Vec::new();
        }
        // A line still being written waits for the next read.
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(whole);
        self.offset += whole as u64;
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }
}

/// Follow a file-journal run: its new event lines and the executor's view, every
/// [`LOCAL_POLL`]; no view (the socket gone) means no process executes it any more.
async fn follow_local(
    journal: std::path::PathBuf,
    mut tail: Tail,
    mut seq: u64,
    tx: async_mpsc::Sender<Update>,
) {
    while !tx.is_closed() {
        let lines: Vec<Vec<u8>> = tail
            .read(&journal)
            .into_iter()
            .filter(|l| record::Envelope::parse(l).is_ok_and(|e| e.seq > seq))
            .collect();
        if let Some(last) = lines.last().and_then(|l| record::Envelope::parse(l).ok()) {
            seq = last.seq;
        }
        if !lines.is_empty() && tx.send(Update::Lines(lines)).await.is_err() {
            return;
        }
        let live =
            crate::reach::socket::call(&journal, &crate::reach::socket::Call::Live, ANSWER_WAIT)
                .await
                .ok()
                .and_then(|bytes| {
                    serde_json::from_slice::<Option<crate::driver::LiveView>>(&bytes).ok()
                })
                .flatten();
        let holder = live
            .as_ref()
            .map(|l| format!("{} on this machine", l.operator));
        if tx.send(Update::Live { live, holder }).await.is_err() {
            return;
        }
        tokio::time::sleep(LOCAL_POLL).await;
    }
}

/// Send each request the screen makes through the run's socket and report what became of it.
async fn serve_local(
    run: Local,
    mut asks: async_mpsc::UnboundedReceiver<Ask>,
    tx: async_mpsc::Sender<Update>,
) {
    while let Some(ask) = asks.recv().await {
        let said = match run.ask(&ask, ANSWER_WAIT).await {
            Ok(answer) => answer.refused,
            Err(f) => Some(f.message),
        };
        if tx.send(Update::Answered(said)).await.is_err() {
            return;
        }
    }
}
