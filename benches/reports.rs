//! Drill reports, measured (not asserted): `bringup export --format scorecard` of a
//! 100,000-event scenario drill journal (goal under 1 s), and `bringup report` over 50 drill
//! journals of 2,000 events each (goal under 2 s), each timed as a whole process (read, verify,
//! fold, render, write) of the release binary. Run: `cargo bench --bench reports`.
#![allow(clippy::cast_precision_loss)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bringup::engine::state::{Mode, Phase, ServiceState as S, StepOutcome};
use bringup::journal::{
    DrillOutcome, DrillPhase, Durability, Event, JournalWriter, ManualClock, RunbookAbout,
    ServiceInfo,
};
use bringup::runbook::model::{HostId, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};

const SERVICES: usize = 50;

fn sid(i: usize) -> ServiceId {
    ServiceId::new(format!("svc-{i}"))
}

/// A scenario drill of `SERVICES` services in 5 tiers (each depending on one of the tier
/// below), every one injected, detected and restored, padded with check steps and output to
/// about `n` events.
// One straight script of a drill; splitting it would only scatter its order.
#[allow(clippy::too_many_lines)]
fn write_drill(path: &Path, t0: DateTime<Utc>, n: usize, slow: bool) {
    let clock = ManualClock::new(t0);
    let mut w =
        JournalWriter::create_with_clock(path, &[], Box::new(clock.clone())).expect("create");
    let mut ms = 0i64;
    let mut put = |w: &mut JournalWriter, step_ms: i64, e: Event| {
        ms += step_ms;
        clock.set(t0 + TimeDelta::milliseconds(ms));
        w.append_with(&e, Durability::Buffered).expect("append");
    };
    let services: Vec<ServiceInfo> = (0..SERVICES)
        .map(|i| ServiceInfo {
            id: sid(i),
            name: format!("Service {i}"),
            tier: 1 + u32::try_from(i / 10).expect("small"),
            rto_ms: Some(if slow { 60_000 } else { 3_600_000 }),
            depends_on: if i >= 10 {
                vec![sid(i - 10)]
            } else {
                Vec::new()
            },
            checks: Vec::new(),
        })
        .collect();
    let about = RunbookAbout {
        drill_every_ms: (0..SERVICES).map(|i| (sid(i), 30 * 86_400_000)).collect(),
        ..RunbookAbout::default()
    };
    put(
        &mut w,
        0,
        Event::RunStarted {
            executor: None,
            about: Box::new(about),
            runbook: "bench".into(),
            runbook_sha256: "0".repeat(64),
            operator: "bench".into(),
            vars: indexmap::IndexMap::new(),
            version: bringup::VERSION.into(),
            mode: Mode::Drill,
            services,
            incident_start: None,
            scenario: Some("dc-loss".into()),
        },
    );
    let phase = |phase| Event::DrillPhase {
        scenario: "dc-loss".into(),
        phase,
        outcome: None,
        reason: None,
    };
    let state = |i: usize, from, to| Event::ServiceState {
        service: sid(i),
        from,
        to,
        reason: None,
    };
    put(&mut w, 10, phase(DrillPhase::Inject));
    for i in 0..SERVICES {
        put(
            &mut w,
            10,
            Event::StepStarted {
                service: sid(i),
                phase: Phase::Inject,
                step: "break".into(),
                host: HostId::new(format!("h{i}")),
                attempt: 1,
                command: "systemctl stop it".into(),
            },
        );
        put(&mut w, 10, state(i, S::Healthy, S::Checking));
        put(&mut w, 10, state(i, S::Checking, S::Down));
    }
    put(&mut w, 10, phase(DrillPhase::Restore));
    // Padding: restore steps with output, spread over the services.
    let padding = n.saturating_sub(8 + SERVICES * 5) / 3;
    for k in 0..padding {
        let i = k % SERVICES;
        let host = HostId::new(format!("h{i}"));
        put(
            &mut w,
            1,
            Event::StepStarted {
                service: sid(i),
                phase: Phase::Restore,
                step: "start".into(),
                host: host.clone(),
                attempt: 1,
                command: "systemctl start it".into(),
            },
        );
        put(
            &mut w,
            1,
            Event::output_text(sid(i), "start".into(), host.clone(), format!("line {k}\n")),
        );
        put(
            &mut w,
            1,
            Event::StepFinished {
                service: sid(i),
                phase: Phase::Restore,
                step: "start".into(),
                host,
                attempt: 1,
                outcome: StepOutcome::Ok,
                exit_code: Some(0),
                duration_ms: 2,
                error: None,
            },
        );
    }
    for i in 0..SERVICES {
        put(&mut w, 100, state(i, S::Down, S::Restoring));
        put(&mut w, 100, state(i, S::Restoring, S::Restored));
    }
    put(
        &mut w,
        10,
        Event::DrillPhase {
            scenario: "dc-loss".into(),
            phase: DrillPhase::Finished,
            outcome: Some(DrillOutcome::Passed),
            reason: None,
        },
    );
    put(
        &mut w,
        10,
        Event::RunFinished {
            outcome: "restored".into(),
            services: indexmap::IndexMap::new(),
            left_down: None,
        },
    );
    w.sync().expect("sync");
}

fn time(args: &[&std::ffi::OsStr], runs: usize) -> (Duration, Duration, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_bringup"))
            .args(args)
            .output()
            .expect("runs");
        times.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bytes = out.stdout.len();
    }
    times.sort();
    (times[times.len() / 2], times[times.len() - 1], bytes)
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .expect("literal")
        .with_timezone(&Utc);

    let big = dir.path().join("drill-100k.jsonl");
    write_drill(&big, t0, 100_000, false);
    let events = bringup::journal::verify(&big).expect("verify").events;
    let size = std::fs::metadata(&big).expect("size").len();
    let (median, worst, out) = time(
        &[
            "export".as_ref(),
            "--format".as_ref(),
            "scorecard".as_ref(),
            big.as_os_str(),
        ],
        7,
    );
    println!(
        "export --format scorecard, {events} events ({:.1} MB): median {:.3} s, worst {:.3} s, {out} bytes out",
        size as f64 / 1e6,
        median.as_secs_f64(),
        worst.as_secs_f64()
    );

    let mut paths = Vec::new();
    for j in 0..50 {
        let p = dir.path().join(format!("drill-{j:02}.jsonl"));
        write_drill(&p, t0 + TimeDelta::days(7 * j), 2_000, j % 3 == 0);
        paths.push(p);
    }
    let total: u64 = paths
        .iter()
        .map(|p| bringup::journal::verify(p).expect("verify").events)
        .sum();
    for format in ["markdown", "html", "json"] {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "report".as_ref(),
            "--as-of".as_ref(),
            "2027-01-01T00:00:00Z".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
        ];
        args.extend(paths.iter().map(|p| p.as_os_str()));
        let (median, worst, out) = time(&args, 7);
        println!(
            "report --format {format}, 50 journals, {total} events: median {:.3} s, worst {:.3} s, {out} bytes out",
            median.as_secs_f64(),
            worst.as_secs_f64()
        );
    }
}
