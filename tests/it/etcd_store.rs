//! The etcd journal store against SPEC "Shared runs (etcd)", on a real 3-member etcd cluster
//! on loopback: the same bytes as a file journal, `pull` and `verify` of `etcd://` URLs,
//! racing writers that never fork the chain, and appends going on with a member down.

use std::sync::{Arc, Barrier};

use crate::support::etcd::{Cluster, Wait as _};
use crate::support::run::{bringup_cmd, stderr, stdout};
use crate::support::sshd::free_ports;
use bringup::journal::etcd::{Etcd, EtcdStore, RunUrl, StoreError};
use bringup::journal::{Event, JournalWriter, ManualClock};
use chrono::{DateTime, TimeDelta, Utc};

fn note(text: &str) -> Event {
    Event::Note {
        operator: "kim".into(),
        text: text.into(),
        provenance: bringup::journal::event::Provenance::default(),
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T08:14:03.120Z")
        .expect("literal")
        .with_timezone(&Utc)
}

fn open(url: &str) -> EtcdStore {
    EtcdStore::open(&RunUrl::parse(url).expect("url"))
        .wait()
        .expect("open the run")
}

/// Every line of the run, in order, as stored.
fn lines_of(store: &mut EtcdStore) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    store
        .read_lines(|_, line| out.push(line.to_vec()))
        .wait()
        .expect("read the run");
    out
}

/// Append `event` at `ts`, going again after each conflict; the conflicts it met.
fn append_until_won(store: &mut EtcdStore, event: &Event, ts: DateTime<Utc>) -> u64 {
    // Bounded: a store that never learned the new head would conflict forever.
    for conflicts in 0..1000 {
        match store.append(event, ts).wait() {
            Ok(_) => return conflicts,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("append failed: {e}"),
        }
    }
    panic!("1000 conflicts in a row: the store does not move on to the new head");
}

#[test]
fn events_read_back_byte_for_byte_as_a_file_journal_holds_them_and_pull_verifies() {
    crate::require!(Etcd);
    let cluster = Cluster::start();
    let url = cluster.url("bytes");
    let mut store = open(&url);
    let dir = tempfile::tempdir().expect("tempdir");
    let file_journal = dir.path().join("same.jsonl");
    let clock = ManualClock::new(t0());
    let mut writer = JournalWriter::create_with_clock(&file_journal, &[], Box::new(clock.clone()))
        .expect("file journal");
    // More than one page of events (256), with text JSON must escape.
    let began = std::time::Instant::now();
    for i in 0..300u32 {
        let ts = t0() + TimeDelta::milliseconds(i64::from(i) * 7);
        let event = note(&format!("#{i} \"quoted\" ,\"hash\": 판교\n\ttab \u{1}"));
        clock.set(ts);
        let file_line = writer.append(&event).expect("file append").line;
        let etcd_line = store.append(&event, ts).wait().expect("etcd append").line;
        assert_eq!(etcd_line, file_line, "seq {}", i + 1);
    }
    eprintln!("300 appends in {:?}", began.elapsed());
    drop(writer);
    let file_bytes = std::fs::read(&file_journal).expect("file journal");

    let mut stored = Vec::new();
    for line in lines_of(&mut open(&url)) {
        stored.extend_from_slice(&line);
        stored.push(b'\n');
    }
    assert_eq!(stored, file_bytes, "etcd holds the file journal's bytes");

    let pulled = dir.path().join("pulled/run.jsonl");
    let out = bringup_cmd()
        .args(["pull", &url, "-o"])
        .arg(&pulled)
        .output()
        .expect("pull");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("pulled 300 event(s)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read(&pulled).expect("pulled"), file_bytes);
    let leftovers: Vec<_> = std::fs::read_dir(pulled.parent().expect("folder"))
        .expect("folder")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, ["run.jsonl"], "no temporary file is left");

    let out = bringup_cmd()
        .arg("verify")
        .arg(&pulled)
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bringup_cmd()
        .args(["verify", &url])
        .output()
        .expect("verify url");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("events: 300"), "{}", stdout(&out));
}

#[test]
fn a_writer_behind_the_head_gets_a_conflict_and_writes_nothing() {
    crate::require!(Etcd);
    let cluster = Cluster::start();
    let url = cluster.url("behind");
    let mut a = open(&url);
    let mut b = open(&url);
    let won = a
        .append(&note("a first"), t0())
        .wait()
        .expect("a appends seq 1");
    match b.append(&note("b first"), t0()).wait() {
        Err(StoreError::Conflict { seq, head_seq, .. }) => assert_eq!((seq, head_seq), (1, 1)),
        other => panic!("b should lose seq 1 to a: {other:?}"),
    }
    let lines = lines_of(&mut a);
    assert_eq!(lines, [won.line.into_bytes()], "only a's event is stored");
    // The loser has learned the head and goes on after it.
    assert_eq!((b.seq(), b.last_hash()), (1, won.hash.as_str()));
    assert_eq!(
        b.append(&note("b after"), t0())
            .wait()
            .expect("b appends")
            .seq,
        2
    );
}

#[test]
fn two_writers_racing_never_fork_the_chain() {
    const EACH: usize = 40;
    crate::require!(Etcd);
    let cluster = Cluster::start();
    let url = cluster.url("race");
    let start = Arc::new(Barrier::new(2));
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|who| {
            let url = url.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let mut store = open(&url);
                start.wait();
                (0..EACH)
                    .map(|i| append_until_won(&mut store, &note(&format!("{who}{i}")), t0()))
                    .sum::<u64>()
            })
        })
        .collect();
    let conflicts: u64 = writers
        .into_iter()
        .map(|w| w.join().expect("writer thread"))
        .sum();
    eprintln!("racing writers met {conflicts} conflict(s)");

    let lines = lines_of(&mut open(&url));
    assert_eq!(lines.len(), 2 * EACH, "every append won exactly one seq");
    for who in ["a", "b"] {
        let mine = lines
            .iter()
            .filter(|l| {
                let v: serde_json::Value = serde_json::from_slice(l).expect("json");
                v["text"].as_str().is_some_and(|t| t.starts_with(who))
            })
            .count();
        assert_eq!(mine, EACH, "{who}'s events are all there, once");
    }
    let out = bringup_cmd()
        .args(["verify", &url])
        .output()
        .expect("verify url");
    assert!(
        out.status.success(),
        "chain forked after {conflicts} conflicts: {}",
        stderr(&out)
    );
}

#[test]
fn with_the_member_in_use_stopped_appends_go_on_through_another() {
    crate::require!(Etcd);
    let mut cluster = Cluster::start();
    let url = cluster.url("member-down");
    let mut store = open(&url);
    assert_eq!(store.endpoint(), format!("http://{}", cluster.endpoints[0]));
    for i in 0..3 {
        store
            .append(&note(&format!("before {i}")), t0())
            .wait()
            .expect("append");
    }
    cluster.stop(0);
    for i in 0..3 {
        store
            .append(&note(&format!("after {i}")), t0())
            .wait()
            .expect("append with m1 down");
    }
    assert_ne!(store.endpoint(), format!("http://{}", cluster.endpoints[0]));
    let out = bringup_cmd()
        .args(["verify", &url])
        .output()
        .expect("verify url");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("events: 6"), "{}", stdout(&out));
}

#[test]
fn verify_of_a_url_names_the_first_rewritten_seq_and_a_cut_head() {
    crate::require!(Etcd);
    let cluster = Cluster::start();
    let url = cluster.url("tampered");
    let mut store = open(&url);
    let mut lines = Vec::new();
    for i in 0..5 {
        lines.push(
            store
                .append(&note(&format!("n{i}")), t0())
                .wait()
                .expect("append")
                .line,
        );
    }
    let mut etcd = Etcd::connect(&cluster.endpoints).wait().expect("connect");
    let key = b"bringup/runs/tampered/events/00000000000000000003";
    etcd.put(key, lines[2].replace("n2", "n9").as_bytes())
        .wait()
        .expect("rewrite seq 3");
    let out = bringup_cmd()
        .args(["verify", &url])
        .output()
        .expect("verify url");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("FAILED: first bad seq 3"),
        "{}",
        stdout(&out)
    );

    etcd.put(key, lines[2].as_bytes())
        .wait()
        .expect("put seq 3 back");
    let head = b"bringup/runs/tampered/head";
    etcd.put(head, br#"{"seq":7,"hash":"00"}"#)
        .wait()
        .expect("head past the events");
    let out = bringup_cmd()
        .args(["verify", &url])
        .output()
        .expect("verify url");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the run's head records seq 7"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_or_unreachable_urls_exit_2_quoting_what_was_given() {
    let out = bringup_cmd()
        .args(["pull", "etcd://127.0.0.1/run", "-o", "x.jsonl"])
        .output()
        .expect("pull");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("'etcd://127.0.0.1/run' is not a shared run URL")
            && err.contains("needs a port")
            && err.contains("etcd://HOST:PORT[,HOST:PORT…]/NAME"),
        "{err}"
    );

    // Nothing listens on a port just found free.
    let port = free_ports(1)[0];
    let url = format!("etcd://127.0.0.1:{port}/run");
    let out = bringup_cmd()
        .args(["verify", &url])
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("no etcd member answered")
            && err.contains(&format!("'http://127.0.0.1:{port}'")),
        "{err}"
    );
}
