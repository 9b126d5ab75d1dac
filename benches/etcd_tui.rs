//! The TUI's input-to-frame latency on a shared run's executor while one of three etcd
//! members is frozen, measured (not asserted): the executor's front end (`Front`: the App and
//! the driver, as `bringup open --journal etcd://…` has them) on a 2-worker runtime like
//! `open`'s, fed a key (`j`/`k`) every 50 ms, drawing into a 120×40 `TestBackend`, while a
//! check streams a line every 20 ms (so the driver commits output every 200 ms). Each key's
//! latency runs from the moment it was due to the end of the frame drawn after it, so a loop
//! held up by a commit counts every key that waited. First with every member up, then with
//! member 1 (the one the executor's connections use) stopped by SIGSTOP: its connections stay
//! open and never answer.
//! Run: `cargo bench --bench etcd_tui` (release; needs etcd). `BENCH_QUICK=1` shortens it.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use bringup::cli::OpenArgs;
use bringup::cmd::session;
use bringup::engine::state::Mode;
use bringup::session::{Scope, Session};
use bringup::tui::event_loop::Front;
use bringup::tui::{App, RunInfo, Theme};
use futures::FutureExt as _;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use support::etcd::Cluster;

/// How often a key is pressed.
const KEY_EVERY: Duration = Duration::from_millis(50);
/// How often the loop looks whether to redraw (as `tui::event_loop`).
const FRAME: Duration = Duration::from_millis(80);

const RUNBOOK: &str = r#"
[runbook]
name = "chatty"

[hosts.box]
transport = "local"

[[service]]
id = "chatty"
name = "Chatty"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "streams"
  timeout = "10m"
  run = "i=0; while [ $i -lt 30000 ]; do echo line $i; i=$((i+1)); sleep 0.02; done"
"#;

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Drive the front end for `length`: keys at [`KEY_EVERY`], the driver's reports as they
/// come, a frame when dirty; each key's latency from when it was due to its frame drawn.
async fn measure(
    front: &mut Front,
    inbox: &mut bringup::driver::Inbox,
    terminal: &mut Terminal<TestBackend>,
    theme: &Theme,
    length: Duration,
) -> Vec<Duration> {
    let keymap = front.keymap().clone();
    let mut keys = tokio::time::interval(KEY_EVERY);
    keys.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let end = tokio::time::sleep(length);
    tokio::pin!(end);
    let mut latencies = Vec::new();
    let mut down = true;
    loop {
        tokio::select! {
            () = &mut end => return latencies,
            due = keys.tick() => {
                let code = if down { KeyCode::Char('j') } else { KeyCode::Char('k') };
                down = !down;
                front.key(KeyEvent::new(code, KeyModifiers::NONE)).expect("key");
                front.tick();
                terminal
                    .draw(|f| {
                        bringup::tui::view::draw(&front.app, theme, &keymap, f);
                    })
                    .expect("draw");
                latencies.push(due.into_std().elapsed());
            }
            batch = inbox.next() => {
                let Some(batch) = batch else { return latencies };
                front.messages(batch).expect("the run goes on");
            }
            _ = frame.tick() => {
                front.tick();
                if front.dirty() {
                    terminal
                        .draw(|f| {
                            bringup::tui::view::draw(&front.app, theme, &keymap, f);
                        })
                        .expect("draw");
                }
            }
        }
    }
}

fn row(case: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "| {case} | {} | {} | {} | {} | {} |",
        latencies.len(),
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.9)),
        ms(quantile(&latencies, 0.99)),
        ms(*latencies.last().expect("keys")),
    );
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let (up, frozen) = if quick {
        (Duration::from_secs(3), Duration::from_secs(10))
    } else {
        (Duration::from_secs(10), Duration::from_secs(20))
    };
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let path = dir.path().join("chatty.toml");
    std::fs::write(&path, RUNBOOK).expect("runbook");
    let mut cluster = Cluster::start();
    let url = cluster.url("tui-latency");
    println!("etcd: 3 members on {}", cluster.endpoints.join(", "));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (all_up, one_frozen) = rt.block_on(async {
        let args = OpenArgs {
            journal: Some(PathBuf::from(&url)),
            operator: Some("bench".into()),
            log_file: Some(dir.path().join("bringup.log")),
            ..OpenArgs::default()
        };
        let runbook = session::load_runbook(&path, &args).expect("runbook");
        let Session {
            driver,
            mut messages,
            runbook,
            start_notices,
            ..
        } = session::open(runbook, &args, Scope::Restore, "bench").expect("session");
        let info = RunInfo {
            mode: Mode::Incident,
            operator: "bench".into(),
            journal: url.clone().into(),
        };
        let mut front = Front::new(App::new(runbook, info), driver, Duration::ZERO);
        front.history(start_notices);
        front.start().expect("start");
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        let theme = Theme::new(true);
        let all_up = measure(&mut front, &mut messages, &mut terminal, &theme, up).await;
        cluster.freeze(0);
        let one_frozen = measure(&mut front, &mut messages, &mut terminal, &theme, frozen).await;
        cluster.thaw(0);
        // Whatever is still owed to etcd goes out now the member answers again.
        let _ = front.driver.on_messages(Vec::new());
        while let Some(Some(batch)) = messages.next().now_or_never() {
            let _ = front.driver.on_messages(batch);
        }
        (all_up, one_frozen)
    });
    println!("| etcd | keys | p50 | p90 | p99 | worst |");
    println!("| --- | --- | --- | --- | --- | --- |");
    row("3 members up", all_up);
    row("member 1 frozen (SIGSTOP)", one_frozen);
    // The streaming check and the run are left behind: etcd goes with the cluster.
    drop(cluster);
    rt.shutdown_background();
    std::process::exit(0);
}
