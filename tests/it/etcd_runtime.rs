//! A shared run's commits never stall the async runtime they are made from, on real etcd on
//! loopback with the member in use hung (SIGSTOP: its connections stay open and say nothing,
//! so the commit in flight waits for the request timeout before going to the next member).
//! A ticker task spawned beside the commits keeps its period throughout: awaited commits on a
//! current-thread runtime, and the journal writer's sync commits (what the driver makes) from
//! tasks of a 2-worker runtime.

use std::time::{Duration, Instant};

use crate::support::etcd::{Cluster, Wait as _};
use bringup::journal::etcd::shared::SharedRun;
use bringup::journal::etcd::{Access, EtcdStore, RunUrl};
use bringup::journal::{Durability, Event, JournalWriter};

/// The ticker's period.
const PERIOD: Duration = Duration::from_millis(20);
/// How late one tick may be. A stalled runtime is late by the request timeout (8 s); a
/// loaded machine (parallel builds on two cores) by tens of milliseconds.
const LATE: Duration = Duration::from_millis(500);
/// How long commits go on after the member hangs: past the request timeout, so that the
/// commit that waits on the hung member, and those after it through another, all fall in.
const COMMITTING: Duration = Duration::from_secs(11);

fn note(i: usize) -> Event {
    Event::Note {
        operator: "ticker".into(),
        text: format!("note {i}"),
        provenance: bringup::journal::event::Provenance::default(),
    }
}

/// Tick every [`PERIOD`] until `until`; each tick's lateness, sorted.
async fn ticker(until: Instant) -> Vec<Duration> {
    let mut late = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        tokio::time::sleep(PERIOD).await;
        late.push(t.elapsed().saturating_sub(PERIOD));
    }
    late.sort();
    late
}

/// `commits` made, the longest of them `longest`.
fn assert_on_time(late: &[Duration], commits: usize, longest: Duration) {
    let worst = *late.last().expect("ticks");
    let p99 = late[(late.len() * 99 / 100).min(late.len() - 1)];
    eprintln!(
        "{} ticks, {commits} commits (longest {longest:?}); lateness p99 {p99:?}, worst {worst:?}",
        late.len()
    );
    // One commit did wait on the hung member (else this test shows nothing).
    assert!(
        longest >= Duration::from_secs(1),
        "no commit waited on the hung member (longest {longest:?})"
    );
    assert!(
        worst < LATE,
        "a tick came {worst:?} late while commits waited on a hung member"
    );
    // The commits did go on: past the one that waited on the hung member, through another.
    assert!(commits >= 10, "only {commits} commits in {COMMITTING:?}");
}

/// A shared run held by this process, its member 0 (the one in use) then hung.
fn held(cluster: &Cluster, name: &str) -> SharedRun {
    let url = RunUrl::parse(&cluster.url(name)).expect("url");
    let mut run = SharedRun::connect(&url, &Access::default()).expect("connect");
    run.campaign("ticker", Duration::ZERO)
        .expect("hold the run");
    run
}

#[test]
fn on_a_current_thread_runtime_a_ticker_keeps_its_period_while_awaited_commits_wait_on_a_hung_member()
 {
    crate::require!(Etcd);
    let mut cluster = Cluster::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (late, commits, longest) = rt.block_on(async {
        let url = RunUrl::parse(&cluster.url("awaited")).expect("url");
        let mut run = SharedRun::connect_async(&url, &Access::default())
            .await
            .expect("connect");
        run.campaign_async("ticker", Duration::ZERO)
            .await
            .expect("hold the run");
        let mut writer = JournalWriter::shared(run, &[], false).expect("writer");
        cluster.freeze(0);
        let until = Instant::now() + COMMITTING;
        let ticks = tokio::spawn(ticker(until));
        let (mut commits, mut longest) = (0, Duration::ZERO);
        while Instant::now() < until {
            let t = Instant::now();
            writer
                .append_with(&note(commits), Durability::Buffered)
                .expect("append");
            writer
                .sync_async()
                .await
                .expect("commit past the hung member");
            longest = longest.max(t.elapsed());
            commits += 1;
        }
        (ticks.await.expect("ticker"), commits, longest)
    });
    cluster.thaw(0);
    assert_on_time(&late, commits, longest);
}

#[test]
fn on_a_two_worker_runtime_sync_commits_from_two_tasks_leave_a_ticker_on_time() {
    crate::require!(Etcd);
    let mut cluster = Cluster::start();
    let first = JournalWriter::shared(held(&cluster, "sync-a"), &[], false).expect("writer");
    let second = JournalWriter::shared(held(&cluster, "sync-b"), &[], false).expect("writer");
    cluster.freeze(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let until = Instant::now() + COMMITTING;
    let (late, commits, longest) = rt.block_on(async move {
        // Two tasks at once, as many as the runtime has workers: a commit that blocked its
        // worker would leave the ticker none.
        let committers = [first, second].map(|mut writer| {
            tokio::spawn(async move {
                let (mut commits, mut longest) = (0, Duration::ZERO);
                while Instant::now() < until {
                    let t = Instant::now();
                    writer
                        .append(&note(commits))
                        .expect("commit past the hung member");
                    longest = longest.max(t.elapsed());
                    commits += 1;
                }
                (commits, longest)
            })
        });
        let ticks = tokio::spawn(ticker(until));
        let (mut commits, mut longest) = (0, Duration::ZERO);
        for c in committers {
            let (n, l) = c.await.expect("committer");
            commits += n;
            longest = longest.max(l);
        }
        (ticks.await.expect("ticker"), commits, longest)
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    cluster.thaw(0);
    assert_on_time(&late, commits, longest);
}

/// How many `step_output` events the run at `url` holds.
fn output_events(url: &str) -> usize {
    let mut store = EtcdStore::open(&RunUrl::parse(url).expect("url"))
        .wait()
        .expect("open the run");
    let mut outputs = 0;
    store
        .read_lines(|_, line| {
            outputs += usize::from(String::from_utf8_lossy(line).contains("\"step_output\""));
        })
        .wait()
        .expect("read the run");
    outputs
}

/// A check that streams a line every 20 ms, so the driver commits output every 200 ms.
const CHATTY: &str = r#"
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

#[test]
fn the_executors_screen_answers_every_key_at_once_while_the_member_in_use_hangs() {
    use bringup::cli::OpenArgs;
    use bringup::cmd::session;
    use bringup::engine::state::Mode;
    use bringup::session::{Scope, Session};
    use bringup::tui::event_loop::Front;
    use bringup::tui::{App, RunInfo, Theme};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    crate::require!(Etcd);
    let mut cluster = Cluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chatty.toml");
    std::fs::write(&path, CHATTY).expect("runbook");
    let url = cluster.url("screen");
    // As `bringup open`'s runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut late = rt.block_on(async {
        let args = OpenArgs {
            journal: Some(url.clone().into()),
            operator: Some("kim".into()),
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
        } = session::open(runbook, &args, Scope::Restore, "test").expect("session");
        let info = RunInfo {
            mode: Mode::Incident,
            operator: "kim".into(),
            journal: url.clone().into(),
        };
        let mut front = Front::new(App::new(runbook, info), driver, Duration::ZERO);
        front.history(start_notices);
        front.start().expect("start");
        let keymap = front.keymap().clone();
        let theme = Theme::new(true);
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
        let mut keys = tokio::time::interval(Duration::from_millis(50));
        keys.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let end = tokio::time::sleep(Duration::from_secs(1) + COMMITTING);
        tokio::pin!(end);
        let freeze_at = Instant::now() + Duration::from_secs(1);
        let (mut late, mut frozen, mut down) = (Vec::new(), false, true);
        loop {
            tokio::select! {
                () = &mut end => break,
                due = keys.tick() => {
                    if !frozen && Instant::now() >= freeze_at {
                        cluster.freeze(0);
                        frozen = true;
                    }
                    let code = if down { KeyCode::Char('j') } else { KeyCode::Char('k') };
                    down = !down;
                    front.key(KeyEvent::new(code, KeyModifiers::NONE)).expect("key");
                    terminal
                        .draw(|f| {
                            bringup::tui::view::draw(&front.app, &theme, &keymap, f);
                        })
                        .expect("draw");
                    late.push(due.into_std().elapsed());
                }
                batch = messages.next() => {
                    let batch = batch.expect("the driver's inbox");
                    front.messages(batch).expect("the run goes on past the hung member");
                }
            }
        }
        late
    });
    cluster.thaw(0);
    // The output went on being committed, past the hung member, all along.
    let outputs = output_events(&url);
    late.sort();
    let worst = *late.last().expect("keys");
    let p99 = late[(late.len() * 99 / 100).min(late.len() - 1)];
    eprintln!(
        "{} keys: p99 {p99:?}, worst {worst:?}; {outputs} output events",
        late.len()
    );
    assert!(outputs >= 20, "only {outputs} output events were committed");
    assert!(
        worst < LATE,
        "a key waited {worst:?} for its frame while a commit waited on the hung member"
    );
    drop(cluster);
    rt.shutdown_background();
}
