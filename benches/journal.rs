//! Journal throughput, measured (not asserted): appends with fsync and with group commit,
//! export of a 100,000-event journal to each format, verify of 1,000,000 events.
//! Run: `cargo bench --bench journal` (release). `BENCH_QUICK=1` shrinks the sizes.
#![allow(clippy::many_single_char_names)]

use std::path::Path;
use std::time::{Duration, Instant};

use bringup::cli::ExportFormat;
use bringup::engine::state::{Mode, Phase, ServiceState, StepOutcome};
use bringup::journal::{self, CheckInfo, Durability, Event, JournalWriter, ServiceInfo};
use bringup::runbook::model::{HostId, ServiceId};

fn rate(n: usize, d: Duration) -> String {
    #[allow(clippy::cast_precision_loss)]
    let per_sec = n as f64 / d.as_secs_f64();
    format!(
        "{n} events in {:.3} s = {per_sec:.0} events/s",
        d.as_secs_f64()
    )
}

fn note(i: usize) -> Event {
    Event::Note {
        operator: "bench".into(),
        text: format!("note number {i}"),
        provenance: bringup::journal::event::Provenance::default(),
    }
}

/// A run of `n` events: services cycling through checks, restores with output, and states.
fn write_run(path: &Path, n: usize) -> Duration {
    let t = Instant::now();
    let mut w = JournalWriter::create(path, &["s3cret-value".to_string()]).expect("create");
    let services: Vec<ServiceInfo> = (0..20)
        .map(|i| ServiceInfo {
            id: ServiceId::new(format!("svc-{i}")),
            name: format!("Service {i}"),
            tier: 1 + i / 5,
            rto_ms: Some(3_600_000),
            depends_on: Vec::new(),
            checks: vec![CheckInfo {
                step: "probe".into(),
                feature: Some(format!("Feature {i}")),
            }],
        })
        .collect();
    w.append(&Event::RunStarted {
        executor: None,
        about: Box::default(),
        runbook: "bench".into(),
        runbook_sha256: "0".repeat(64),
        operator: "bench".into(),
        vars: indexmap::IndexMap::new(),
        version: bringup::VERSION.into(),
        mode: Mode::Drill,
        services,
        incident_start: None,
        scenario: None,
    })
    .expect("append");
    let states = [
        ServiceState::Checking,
        ServiceState::Down,
        ServiceState::Restoring,
        ServiceState::Verifying,
        ServiceState::Restored,
    ];
    let mut i = 1;
    while i < n {
        let svc = ServiceId::new(format!("svc-{}", i % 20));
        let host = HostId::new(format!("host-{}", i % 7));
        let event = match i % 5 {
            0 => Event::ServiceState {
                service: svc,
                from: states[(i / 5) % 5],
                to: states[(i / 5 + 1) % 5],
                reason: None,
            },
            1 => Event::StepStarted {
                service: svc,
                phase: Phase::Restore,
                step: "restart".into(),
                host,
                attempt: 1,
                command: "sudo systemctl restart app --token s3cret-value".into(),
            },
            2 | 3 => Event::StepOutput {
                service: svc,
                step: "restart".into(),
                host,
                text: format!("line {i}: starting worker, pid {}\n", i * 7),
                raw: None,
                size: None,
                sha256: None,
                file: None,
            },
            _ => Event::StepFinished {
                service: svc,
                phase: Phase::Restore,
                step: "restart".into(),
                host,
                attempt: 1,
                outcome: StepOutcome::Ok,
                exit_code: Some(0),
                duration_ms: 1234,
                error: None,
            },
        };
        w.append_with(&event, Durability::Buffered).expect("append");
        i += 1;
    }
    w.sync().expect("sync");
    t.elapsed()
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let (n_sync, n_group, n_export, n_verify) = if quick {
        (200, 10_000, 10_000, 100_000)
    } else {
        (2_000, 200_000, 100_000, 1_000_000)
    };
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    println!("journal folder: {}", dir.path().display());
    if std::env::var("BENCH_ONLY").as_deref() == Ok("verify") {
        verify_section(dir.path(), n_verify);
        return;
    }

    let path = dir.path().join("sync.jsonl");
    let mut w = JournalWriter::create(&path, &[]).expect("create");
    let t = Instant::now();
    for i in 0..n_sync {
        w.append(&note(i)).expect("append");
    }
    println!(
        "append, fsync each:            {}",
        rate(n_sync, t.elapsed())
    );

    let path = dir.path().join("batch.jsonl");
    let mut w = JournalWriter::create(&path, &[]).expect("create");
    let batch: Vec<Event> = (0..100).map(note).collect();
    let t = Instant::now();
    for _ in 0..n_group / 100 {
        w.append_batch(&batch).expect("batch");
    }
    println!(
        "append_batch of 100, 1 fsync:  {}",
        rate(n_group, t.elapsed())
    );

    let path = dir.path().join("output.jsonl");
    let mut w = JournalWriter::create(&path, &["s3cret-value".to_string()]).expect("create");
    let (s, h) = (ServiceId::new("svc"), HostId::new("h"));
    let t = Instant::now();
    for i in 0..n_group {
        w.append_output(
            &s,
            "restart",
            &h,
            format!("line {i} of output\n").as_bytes(),
        )
        .expect("output");
    }
    w.sync().expect("sync");
    println!(
        "append_output (group commit):  {}",
        rate(n_group, t.elapsed())
    );

    let path = dir.path().join("export.jsonl");
    let took = write_run(&path, n_export);
    println!(
        "write {n_export}-event run (buffered): {}",
        rate(n_export, took)
    );
    let t = Instant::now();
    let j = journal::read_journal(&path).expect("read");
    println!(
        "read_journal {n_export}:            {:.3} s",
        t.elapsed().as_secs_f64()
    );
    for (name, format) in [
        ("markdown", ExportFormat::Markdown),
        ("status", ExportFormat::Status),
        ("html", ExportFormat::Html),
        ("json", ExportFormat::Json),
        ("csv", ExportFormat::Csv),
    ] {
        let t = Instant::now();
        let j = journal::read_journal(&path).expect("read");
        let out = bringup::export::render(&j, format).expect("render");
        println!(
            "export {n_export} -> {name:<8} (read+render): {:.3} s, {} bytes",
            t.elapsed().as_secs_f64(),
            out.len()
        );
    }
    drop(j);

    verify_section(dir.path(), n_verify);
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (ns): the figure that
/// does not depend on what else shares the cores.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// `verify` of `n` events three times each way, interleaved: the plain chain check, and the
/// chain check that also finds a seal's signed head (what `bringup verify` does when sealed).
fn verify_section(dir: &Path, n: usize) {
    let path = dir.join("verify.jsonl");
    let took = write_run(&path, n);
    println!("write {n}-event run (buffered): {}", rate(n, took));
    for round in 1..=3 {
        let (t, c) = (Instant::now(), thread_cpu());
        let report = journal::verify(&path).expect("read");
        assert!(report.is_intact());
        let cpu = thread_cpu().saturating_sub(c);
        println!(
            "verify {} events ({} MB), chain only, round {round}: {}; CPU {:.3} s = {:.0} events/CPU-s",
            report.events,
            report.complete_len / 1_000_000,
            rate(n, t.elapsed()),
            cpu.as_secs_f64(),
            per_cpu_second(n, cpu)
        );
        let head = report.last_seq;
        let (t, c) = (Instant::now(), thread_cpu());
        let (report, at) = journal::verify::verify_to(&path, head).expect("read");
        assert!(report.is_intact() && at.is_some());
        let cpu = thread_cpu().saturating_sub(c);
        println!(
            "verify {} events, sealed head, round {round}: {}; CPU {:.3} s = {:.0} events/CPU-s",
            report.events,
            rate(n, t.elapsed()),
            cpu.as_secs_f64(),
            per_cpu_second(n, cpu)
        );
    }
}

fn per_cpu_second(n: usize, cpu: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = n as f64;
    n / cpu.as_secs_f64().max(1e-9)
}
