//! Frame time and output memory of the TUI, measured (not asserted).
//!
//! `cargo bench --bench tui_frame` prints the median time to draw one 120×40 frame on a
//! `TestBackend` with 1,000 services and a 100,000-line output buffer (goal < 2 ms), the same
//! with one service of 1,000 hosts whose output the steps pane folds (goal < 2 ms), and the
//! resident memory after streaming 1,000,000 output lines into the bounded buffers (goal
//! < 100 MB).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bringup::engine::state::{
    HostStatus, Mode, Phase, ServiceState, ServiceView, StepOutcome, StepRef,
};
use bringup::runbook::model::{
    Defaults, Host, HostId, Runbook, Service, ServiceId, Step, StepAction, Template, Transport,
};
use bringup::tui::output::OutputStore;
use bringup::tui::{Action, App, Keymap, RunInfo, Theme};
use indexmap::IndexMap;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SERVICES: usize = 1_000;
const OUTPUT_LINES: usize = 100_000;
const STREAMED_LINES: usize = 1_000_000;
const FRAMES: usize = 300;
const FLEET_HOSTS: usize = 1_000;
const FLEET_LINES: usize = 20;

fn step(name: &str, hosts: &[HostId]) -> Step {
    Step {
        name: name.into(),
        action: StepAction::Run(Template::parse("systemctl restart {{service}}")),
        hosts: hosts.to_vec(),
        timeout: Duration::from_secs(30),
        retries: 1,
        retry_delay: Duration::from_secs(5),
        expect_exit: 0,
        expect_output: None,
        confirm: bringup::runbook::model::Confirm::No,
        feature: None,
        fleet: bringup::runbook::fleet::Fleet::default(),
        policy: bringup::runbook::model::StepPolicy::default(),
    }
}

fn host(id: &HostId) -> Host {
    Host {
        id: id.clone(),
        transport: Transport::Ssh,
        address: id.to_string(),
        port: None,
        user: None,
        identity: None,
        jump: None,
        tags: Vec::new(),
    }
}

fn bench_runbook(hosts: IndexMap<HostId, Host>, services: Vec<Service>) -> Runbook {
    Runbook {
        notice: bringup::runbook::model::Notice::default(),
        notify: Vec::new(),
        name: "bench".into(),
        description: String::new(),
        path: PathBuf::from("bench.toml"),
        sha256: "0".repeat(64),
        defaults: Defaults::default(),
        vars: IndexMap::new(),
        secret_vars: std::collections::BTreeSet::default(),
        hosts,
        groups: IndexMap::new(),
        services,
        drills: bringup::runbook::drill::Drills::default(),
        operators: bringup::runbook::model::Operators::default(),
        sites: bringup::runbook::sites::Sites::default(),
        witnesses: Vec::new(),
    }
}

/// One service on 1,000 hosts whose check printed 20 lines: the same on 990 of them (ok),
/// other words on 5 (ok), a failure on 5.
fn fleet() -> App {
    let ids: Vec<HostId> = (0..FLEET_HOSTS)
        .map(|i| HostId::new(format!("web{i:04}")))
        .collect();
    let hosts = ids.iter().map(|h| (h.clone(), host(h))).collect();
    let service = Service {
        id: ServiceId::new("web"),
        name: "A fleet of 1,000".into(),
        tier: 1,
        rto: Some(Duration::from_secs(30 * 60)),
        hosts: ids.clone(),
        depends_on: Vec::new(),
        checks: vec![step("health", &ids)],
        restores: vec![step("start", &ids)],
        injects: Vec::new(),
        min_healthy: None,
        on_fail: bringup::runbook::model::OnFail::Stop,
    };
    let rb = Arc::new(bench_runbook(hosts, vec![service]));
    let mut app = App::new(rb, info());
    let check = StepRef {
        service: ServiceId::new("web"),
        phase: Phase::Check,
        index: 0,
    };
    let mut statuses = IndexMap::new();
    for (i, h) in ids.iter().enumerate() {
        let (outcome, code, said) = match i % 200 {
            7 => (StepOutcome::Failed, 1, "disk full"),
            99 => (StepOutcome::Ok, 0, "degraded"),
            _ => (StepOutcome::Ok, 0, "ok"),
        };
        for n in 0..FLEET_LINES {
            app.on_output(&check, h, &format!("{n:02} GET /health 200 {said}\n"));
        }
        statuses.insert(
            h.clone(),
            HostStatus::Finished {
                outcome,
                exit_code: Some(code),
                attempt: 1,
                duration: Duration::from_millis(300 + i as u64 % 200),
            },
        );
    }
    let mut view = ServiceView {
        state: ServiceState::Partial,
        ..ServiceView::default()
    };
    view.steps.insert(check, statuses);
    app.tick(Duration::from_secs(60));
    app.sync_services(&[(ServiceId::new("web"), view)].into_iter().collect());
    app
}

fn runbook() -> Runbook {
    let mut hosts = IndexMap::new();
    let mut services = Vec::new();
    for i in 0..SERVICES {
        let h: Vec<HostId> = (0..2)
            .map(|k| HostId::new(format!("host-{i}-{k}")))
            .collect();
        for id in &h {
            hosts.insert(id.clone(), host(id));
        }
        services.push(Service {
            id: ServiceId::new(format!("service-{i:04}")),
            name: format!("Service number {i}"),
            tier: u32::try_from(i % 10).unwrap_or(0) + 1,
            rto: Some(Duration::from_secs(30 * 60)),
            hosts: h.clone(),
            depends_on: Vec::new(),
            checks: vec![step("health", &h)],
            restores: vec![step("start", &h), step("warm caches", &h)],
            injects: Vec::new(),
            min_healthy: None,
            on_fail: bringup::runbook::model::OnFail::Stop,
        });
    }
    bench_runbook(hosts, services)
}

fn views(rb: &Runbook) -> IndexMap<ServiceId, ServiceView> {
    rb.services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = ServiceView {
                state: ServiceState::ALL[i % ServiceState::ALL.len()],
                ..ServiceView::default()
            };
            let check = StepRef {
                service: s.id.clone(),
                phase: Phase::Check,
                index: 0,
            };
            let status = HostStatus::Finished {
                outcome: StepOutcome::Failed,
                exit_code: Some(1),
                attempt: 1,
                duration: Duration::from_millis(420),
            };
            v.steps.insert(
                check,
                s.hosts
                    .iter()
                    .map(|h| (h.clone(), status.clone()))
                    .collect(),
            );
            (s.id.clone(), v)
        })
        .collect()
}

fn info() -> RunInfo {
    RunInfo {
        mode: Mode::Incident,
        operator: "bench".into(),
        journal: PathBuf::from("journal/bench.jsonl"),
    }
}

fn median_frame(app: &mut App, terminal: &mut Terminal<TestBackend>) -> Duration {
    let theme = Theme::plain();
    let keymap = Keymap::default();
    let mut times = Vec::with_capacity(FRAMES);
    for _ in 0..FRAMES {
        let start = Instant::now();
        let mut hits = None;
        terminal
            .draw(|f| hits = Some(bringup::tui::view::draw(app, &theme, &keymap, f)))
            .expect("draw on a test backend");
        times.push(start.elapsed());
        if let Some(h) = hits {
            app.set_hits(h);
        }
    }
    times.sort();
    times[times.len() / 2]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let rb = Arc::new(runbook());
    let views = views(&rb);
    // A store big enough to hold all 100,000 lines, so the pane really has them to page over.
    let mut app = App::with_output(
        rb.clone(),
        info(),
        OutputStore::new(OUTPUT_LINES, usize::MAX),
    );
    app.tick(Duration::from_secs(45 * 60));
    app.sync_services(&views);
    let first = &rb.services[0];
    let target = StepRef {
        service: first.id.clone(),
        phase: Phase::Check,
        index: 0,
    };
    for i in 0..OUTPUT_LINES {
        app.on_output(
            &target,
            &first.hosts[0],
            &format!("{i:06} GET /health 200 upstream=10.20.0.11:8080 took 3ms\n"),
        );
    }
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    let follow = median_frame(&mut app, &mut terminal);
    app.on_action(Action::NextPane);
    app.on_action(Action::NextPane);
    app.on_action(Action::Home);
    for _ in 0..5 {
        app.on_action(Action::PageDown);
    }
    let scrolled = median_frame(&mut app, &mut terminal);
    app.on_action(Action::NextPane);
    for _ in 0..(SERVICES / 2) {
        app.on_action(Action::Down);
    }
    let middle = median_frame(&mut app, &mut terminal);
    println!(
        "frame 120x40, {SERVICES} services, {OUTPUT_LINES} output lines: median {:.3} ms following output, {:.3} ms scrolled back, {:.3} ms with service 500 selected",
        ms(follow),
        ms(scrolled),
        ms(middle)
    );
    drop(app);

    fleet_frames(&mut terminal);

    // Memory: 1,000,000 lines streamed into the default bounded store, spread over every
    // step and host of the run (as a big restore would), then into a single buffer.
    let before = rss_kib();
    let mut app = App::new(rb.clone(), info());
    let refs: Vec<(StepRef, HostId)> = rb
        .services
        .iter()
        .flat_map(|s| {
            let r = StepRef {
                service: s.id.clone(),
                phase: Phase::Restore,
                index: 0,
            };
            s.hosts.iter().map(move |h| (r.clone(), h.clone()))
        })
        .collect();
    let start = Instant::now();
    for i in 0..STREAMED_LINES {
        let (r, h) = &refs[i % refs.len()];
        app.on_output(
            r,
            h,
            &format!(
                "{i:07} INFO restoring shard {} of 64: copied 4096 blocks, 0 errors\n",
                i % 64
            ),
        );
    }
    let took = start.elapsed();
    let after = rss_kib();
    println!(
        "memory: {STREAMED_LINES} lines over {} buffers in {:.2} s: RSS {:.1} MB -> {:.1} MB (+{:.1} MB)",
        refs.len(),
        took.as_secs_f64(),
        mib(before),
        mib(after),
        mib(after.saturating_sub(before))
    );
    let first = refs[0].clone();
    for i in 0..STREAMED_LINES {
        app.on_output(
            &first.0,
            &first.1,
            &format!("{i:07} one runaway command printing forever\n"),
        );
    }
    println!(
        "memory: then {STREAMED_LINES} more lines into one buffer: RSS {:.1} MB",
        mib(rss_kib())
    );
}

/// 1,000 hosts under one step, folded into 3 rows (and 10 apart), then unfolded (`g`):
/// every frame folds them again from the buffers' fingerprints.
fn fleet_frames(terminal: &mut Terminal<TestBackend>) {
    let mut app = fleet();
    app.on_action(Action::NextPane);
    app.on_action(Action::Down);
    let folded = median_frame(&mut app, terminal);
    app.on_action(Action::Fold);
    let unfolded = median_frame(&mut app, terminal);
    println!(
        "frame 120x40, one step on {FLEET_HOSTS} hosts with {FLEET_LINES} lines each: median {:.3} ms folded, {:.3} ms unfolded (g)",
        ms(folded),
        ms(unfolded)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
