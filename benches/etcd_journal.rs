//! Shared-run journal throughput, measured (not asserted): the same `JournalWriter` appends
//! to a real 3-member etcd cluster on 127.0.0.1 (started here, killed on exit) and to a file
//! journal on the local disk, one event per commit (what `step_started`, approvals and states
//! do: durable before bringup acts) and group commits of 10, 100 and 256 events (what output
//! and a settle's batch do). Each commit's latency is timed on its own; the table gives the
//! median, p90 and p99 of those, and events/s over the whole case.
//! Run: `cargo bench --bench etcd_journal` (release; needs Debian's etcd-server, which
//! `scripts/test` installs). `BENCH_QUICK=1` shrinks the counts.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::{Duration, Instant};

use bringup::journal::etcd::RunUrl;
use bringup::journal::etcd::shared::SharedRun;
use bringup::journal::{Event, JournalWriter};

use support::etcd::Cluster;

fn note(i: usize) -> Event {
    Event::Note {
        operator: "bench".into(),
        text: format!("note number {i}: the bench writes what an operator would"),
        provenance: bringup::journal::event::Provenance::default(),
    }
}

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
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `commits` commits of `per_commit` events each; prints one table row.
fn case(store: &str, w: &mut JournalWriter, per_commit: usize, commits: usize) {
    let batch: Vec<Event> = (0..per_commit).map(note).collect();
    let mut took = Vec::with_capacity(commits);
    let all = Instant::now();
    for _ in 0..commits {
        let t = Instant::now();
        if per_commit == 1 {
            w.append(&batch[0]).expect("append");
        } else {
            w.append_batch(&batch).expect("append_batch");
        }
        took.push(t.elapsed());
    }
    let total = all.elapsed();
    took.sort();
    let events = per_commit * commits;
    #[allow(clippy::cast_precision_loss)]
    let rate = events as f64 / total.as_secs_f64();
    println!(
        "| {store} | {per_commit} | {events} | {} | {} | {} | {rate:.0} |",
        ms(quantile(&took, 0.5)),
        ms(quantile(&took, 0.9)),
        ms(quantile(&took, 0.99)),
    );
}

fn shared_writer(cluster: &Cluster, name: &str) -> JournalWriter {
    let url = RunUrl::parse(&cluster.url(name)).expect("url");
    let mut run = SharedRun::connect(&url, &cluster.access).expect("connect");
    run.campaign("bench", Duration::from_secs(10))
        .expect("campaign");
    JournalWriter::shared(run, &[], false).expect("shared writer")
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let (singles, groups) = if quick { (100, 20) } else { (1_000, 200) };
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    println!("file journals in {}", dir.path().display());
    let cluster = Cluster::start();
    println!("etcd: 3 members on {}", cluster.endpoints.join(", "));

    println!("| store | events per commit | events | median | p90 | p99 | events/s |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (i, &(per_commit, commits)) in
        [(1, singles), (10, groups), (100, groups), (256, groups / 2)]
            .iter()
            .enumerate()
    {
        let path = dir.path().join(format!("case-{i}.jsonl"));
        let mut file = JournalWriter::create(&path, &[]).expect("create");
        case("file", &mut file, per_commit, commits);
        let mut shared = shared_writer(&cluster, &format!("bench-{i}"));
        case("etcd, 3 members", &mut shared, per_commit, commits);
    }
}
