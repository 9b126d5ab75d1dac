//! `Etcd::watch` over the JSON gateway's streaming `/v3/watch`, on real etcd on loopback: a
//! prefix watched from a revision sees every put after it in order and stops when told; with
//! the member it watches through killed, it goes on through another from the last revision
//! seen, and with it hung (no answer, no close) it does the same once the stream has been
//! silent; a compacted start revision and a cluster gone for good are errors that say so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::etcd::{Cluster, Options, Wait as _};
use bringup::journal::etcd::prefix_end;
use bringup::journal::etcd::{Etcd, EtcdError, WatchKind};

const PREFIX: &[u8] = b"bringup-test/watch/";
/// Bounds every wait of these tests (a watch that works answers in milliseconds).
const LIMIT: Duration = Duration::from_secs(30);

struct Watcher {
    seen: mpsc::Receiver<(WatchKind, String, String, i64)>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), EtcdError>>,
}

/// Watch `PREFIX` through `endpoints` (the first answering is used) from `from`.
fn watch(endpoints: &[String], from: i64) -> Watcher {
    watch_with(
        Etcd::connect(endpoints)
            .wait()
            .expect("connect the watcher"),
        from,
    )
}

fn watch_with(etcd: Etcd, from: i64) -> Watcher {
    let (tx, seen) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_w = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        etcd.watch(PREFIX, Some(&prefix_end(PREFIX)), from, |batch| {
            for e in batch.events {
                let key = String::from_utf8(e.kv.key).expect("utf-8 key");
                let value = String::from_utf8(e.kv.value).expect("utf-8 value");
                let _ = tx.send((e.kind, key, value, e.kv.mod_revision));
            }
            !stop_w.load(Ordering::SeqCst)
        })
        .wait()
    });
    Watcher { seen, stop, thread }
}

fn key(i: usize) -> String {
    format!("bringup-test/watch/k{i:02}")
}

/// The store's revision now: a watch from one past it sees every later change.
fn revision(etcd: &mut Etcd) -> i64 {
    etcd.range(b"bringup-test/none", None, 0)
        .wait()
        .expect("read")
        .revision
}

/// The next `n` changes the watcher reports, each within the bound.
fn next_changes(w: &Watcher, n: usize) -> Vec<(WatchKind, String, String, i64)> {
    let deadline = Instant::now() + LIMIT;
    (0..n)
        .map(|i| {
            let left = deadline.saturating_duration_since(Instant::now());
            w.seen
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("change #{i} not seen within {LIMIT:?}: {e}"))
        })
        .collect()
}

fn assert_puts_in_order(changes: &[(WatchKind, String, String, i64)], from: usize) {
    let mut last_rev = 0;
    for (i, (kind, k, v, rev)) in changes.iter().enumerate() {
        assert_eq!(*kind, WatchKind::Put);
        assert_eq!(
            k,
            &key(from + i),
            "change #{i} is the put of {}",
            key(from + i)
        );
        assert_eq!(v, &format!("v{}", from + i));
        assert!(*rev > last_rev, "revisions go up: {rev} after {last_rev}");
        last_rev = *rev;
    }
}

/// Tell the watcher to stop, wake it with one more change, and wait (bounded) for it.
fn stop(w: Watcher, writer: &mut Etcd) -> Result<(), EtcdError> {
    w.stop.store(true, Ordering::SeqCst);
    writer
        .put(key(99).as_bytes(), b"wake")
        .wait()
        .expect("wake the watcher");
    let deadline = Instant::now() + LIMIT;
    while !w.thread.is_finished() {
        assert!(Instant::now() < deadline, "the watcher did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    w.thread.join().expect("watcher thread")
}

#[test]
fn a_watch_on_a_prefix_sees_50_puts_made_after_it_started_in_order_and_stops_when_told() {
    let cluster = Cluster::start_with(&Options {
        members: 1,
        ..Options::default()
    });
    let mut writer = Etcd::connect(&cluster.endpoints).wait().expect("connect");
    writer
        .put(key(0).as_bytes(), b"before the watch")
        .wait()
        .expect("put");
    let from = revision(&mut writer) + 1;
    let w = watch(&cluster.endpoints, from);
    for i in 0..50 {
        writer
            .put(key(i).as_bytes(), format!("v{i}").as_bytes())
            .wait()
            .expect("put");
        // Outside the prefix: never reported.
        writer.put(b"bringup-test/other", b"x").wait().expect("put");
    }
    let changes = next_changes(&w, 50);
    assert_puts_in_order(&changes, 0);
    stop(w, &mut writer).expect("the watch ends without error");
}

#[test]
fn with_the_member_it_watches_through_killed_the_watch_still_sees_all_50_puts() {
    let mut cluster = Cluster::start();
    // The watcher uses member 1; the writer never does.
    let mut writer = Etcd::connect(&cluster.endpoints[1..])
        .wait()
        .expect("connect");
    let from = revision(&mut writer) + 1;
    let w = watch(&cluster.endpoints, from);
    for i in 0..20 {
        writer
            .put(key(i).as_bytes(), format!("v{i}").as_bytes())
            .wait()
            .expect("put");
    }
    let mut changes = next_changes(&w, 20);
    cluster.stop(0);
    for i in 20..50 {
        writer
            .put(key(i).as_bytes(), format!("v{i}").as_bytes())
            .wait()
            .expect("put with member 1 down");
    }
    changes.extend(next_changes(&w, 30));
    assert_puts_in_order(&changes, 0);
    stop(w, &mut writer).expect("the watch ends without error");
}

#[test]
fn with_the_member_it_watches_through_hung_the_watch_opens_again_elsewhere_and_sees_all_50_puts() {
    let mut cluster = Cluster::start();
    let mut writer = Etcd::connect(&cluster.endpoints[1..])
        .wait()
        .expect("connect");
    let from = revision(&mut writer) + 1;
    let mut etcd = Etcd::connect(&cluster.endpoints)
        .wait()
        .expect("connect the watcher");
    let silence = Duration::from_secs(2);
    etcd.set_watch_silence(silence);
    let w = watch_with(etcd, from);
    for i in 0..20 {
        writer
            .put(key(i).as_bytes(), format!("v{i}").as_bytes())
            .wait()
            .expect("put");
    }
    let mut changes = next_changes(&w, 20);
    // Member 1 hangs: the watch's connection to it stays open and says nothing more.
    cluster.freeze(0);
    let hung = Instant::now();
    for i in 20..50 {
        writer
            .put(key(i).as_bytes(), format!("v{i}").as_bytes())
            .wait()
            .expect("put with member 1 hung");
    }
    changes.extend(next_changes(&w, 30));
    assert_puts_in_order(&changes, 0);
    // Silence, then a new stream through the next member (connect bounded at 2 s).
    assert!(
        hung.elapsed() < silence + Duration::from_secs(10),
        "the watch took {:?} to leave the hung member",
        hung.elapsed()
    );
    cluster.thaw(0);
    stop(w, &mut writer).expect("the watch ends without error");
}

#[test]
fn a_compacted_start_revision_is_an_error_saying_so() {
    let cluster = Cluster::start_with(&Options {
        members: 1,
        ..Options::default()
    });
    let mut etcd = Etcd::connect(&cluster.endpoints).wait().expect("connect");
    let first = revision(&mut etcd) + 1;
    for i in 0..5 {
        etcd.put(key(i).as_bytes(), b"v").wait().expect("put");
    }
    let now = revision(&mut etcd);
    let request = reqwest::Client::new()
        .post(format!("http://{}/v3/kv/compaction", cluster.endpoints[0]))
        .body(format!(r#"{{"revision":"{now}","physical":true}}"#));
    let answer =
        crate::support::etcd::block(async { request.send().await?.text().await }).expect("compact");
    assert!(!answer.contains("\"code\""), "{answer}");
    let err = etcd
        .watch(PREFIX, Some(&prefix_end(PREFIX)), first, |_| true)
        .wait()
        .expect_err("watching from a compacted revision");
    assert!(
        matches!(err, EtcdError::Compacted { revision, compacted, .. } if revision == first && compacted == now),
        "{err:?}"
    );
    assert!(err.to_string().contains("was compacted"), "{err}");
}

#[test]
fn with_every_member_gone_the_watch_gives_up_as_unreachable() {
    let mut cluster = Cluster::start_with(&Options {
        members: 1,
        ..Options::default()
    });
    let mut writer = Etcd::connect(&cluster.endpoints).wait().expect("connect");
    let from = revision(&mut writer) + 1;
    let w = watch(&cluster.endpoints, from);
    writer.put(key(0).as_bytes(), b"v0").wait().expect("put");
    assert_puts_in_order(&next_changes(&w, 1), 0);
    let killed = Instant::now();
    cluster.stop(0);
    let deadline = killed + LIMIT;
    while !w.thread.is_finished() {
        assert!(Instant::now() < deadline, "the watch never gave up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let gave_up = killed.elapsed();
    let err = w.thread.join().expect("watcher").expect_err("unreachable");
    eprintln!("gave up after {gave_up:?}: {err}");
    assert!(matches!(err, EtcdError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&cluster.endpoints[0]), "{err}");
    assert!(
        gave_up >= Duration::from_secs(10),
        "gave up after {gave_up:?}"
    );
}
