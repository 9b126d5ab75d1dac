//! Output side files of shared runs (SPEC "Shared runs (etcd)", "Journal" output): stored in
//! etcd in pieces under `out/<seq>/<piece>`, checked by `verify URL` (size and sha256 of the
//! pieces in order), and written by `pull URL -o FILE` where the events name them, so that
//! `verify FILE` and `output FILE` work on the copy. On a real etcd on loopback.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::etcd::{Cluster, Options, Wait as _};
use crate::support::run::{bringup_cmd, stderr, stdout};
use bringup::journal::Event;
use bringup::journal::etcd::{Etcd, EtcdStore, RunUrl, SIDE_CHUNK};
use bringup::runbook::{HostId, ServiceId};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// 1.2 MB: three pieces of at most `SIDE_CHUNK` (512 KiB).
const SIDE_BYTES: usize = 1_200_000;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T08:14:03.120Z")
        .expect("literal")
        .with_timezone(&Utc)
}

/// Bytes no text decoder keeps as they are: every value, invalid UTF-8 throughout.
fn output_bytes() -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..SIDE_BYTES).map(|_| rng.u8(..)).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A run: a note, then a `step_output` whose bytes are in a side file (seq 2), then a note.
fn write_run(cluster: &Cluster, name: &str, bytes: &[u8]) -> RunUrl {
    let url = RunUrl::parse(&cluster.url(name)).expect("url");
    let mut store = EtcdStore::open(&url).wait().expect("open");
    let note = |text: &str| Event::Note {
        operator: "kim".into(),
        text: text.into(),
        provenance: bringup::journal::event::Provenance::default(),
    };
    store.append(&note("before"), t0()).wait().expect("append");
    store.put_side(2, bytes).wait().expect("put the side file");
    let output = Event::StepOutput {
        service: ServiceId::new("talk-messaging"),
        step: "dump".into(),
        host: HostId::new("msg-gw-1"),
        text: "(binary)".into(),
        raw: Some(url.side_name(2)),
        size: Some(bytes.len() as u64),
        sha256: Some(sha256(bytes)),
        file: None,
    };
    assert_eq!(store.append(&output, t0()).wait().expect("append").seq, 2);
    store.append(&note("after"), t0()).wait().expect("append");
    url
}

fn single() -> Cluster {
    Cluster::start_with(&Options {
        members: 1,
        ..Options::default()
    })
}

#[test]
fn a_run_with_a_three_piece_side_file_verifies_and_pulls_into_a_folder_output_reads_back() {
    crate::require!(Etcd);
    let cluster = single();
    let bytes = output_bytes();
    let url = write_run(&cluster, "sides", &bytes);
    // Stored as three pieces, in order.
    let mut etcd = Etcd::connect(&cluster.endpoints).wait().expect("connect");
    for piece in 0..3 {
        let got = etcd
            .range(&url.side_key(2, piece), None, 0)
            .wait()
            .expect("read a piece");
        let want = &bytes[piece * SIDE_CHUNK..((piece + 1) * SIDE_CHUNK).min(bytes.len())];
        assert_eq!(got.kvs[0].value, want, "piece {piece}");
    }

    let out = bringup_cmd()
        .args(["verify", &url.to_string()])
        .output()
        .expect("verify url");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("events: 3"), "{}", stdout(&out));

    let dir = tempfile::tempdir().expect("tempdir");
    let pulled = dir.path().join("copy/pulled.jsonl");
    let out = bringup_cmd()
        .args(["pull", &url.to_string(), "-o"])
        .arg(&pulled)
        .output()
        .expect("pull");
    assert!(out.status.success(), "{}", stderr(&out));
    let side = dir.path().join("copy/pulled.jsonl.d/2.out");
    assert_eq!(std::fs::read(&side).expect("pulled side file"), bytes);
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&side), 0o600);
    assert_eq!(mode(side.parent().expect("folder")), 0o700);

    let out = bringup_cmd()
        .arg("verify")
        .arg(&pulled)
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", stderr(&out));
    let reassembled = dir.path().join("out.bin");
    let out = bringup_cmd()
        .arg("output")
        .arg(&pulled)
        .arg("-o")
        .arg(&reassembled)
        .output()
        .expect("output");
    assert!(out.status.success(), "{}", stderr(&out));
    let got = std::fs::read(&reassembled).expect("output file");
    assert_eq!(sha256(&got), sha256(&bytes), "output gives the bytes back");
}

#[test]
fn a_side_file_piece_changed_in_etcd_fails_verify_naming_the_seq() {
    crate::require!(Etcd);
    let cluster = single();
    let bytes = output_bytes();
    let url = write_run(&cluster, "tampered-side", &bytes);
    let mut etcd = Etcd::connect(&cluster.endpoints).wait().expect("connect");
    let mut piece = bytes[SIDE_CHUNK..2 * SIDE_CHUNK].to_vec();
    piece[1000] ^= 1;
    etcd.put(&url.side_key(2, 1), &piece)
        .wait()
        .expect("change piece 1");

    let out = bringup_cmd()
        .args(["verify", &url.to_string()])
        .output()
        .expect("verify url");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("FAILED: first bad seq 2"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("output file 'tampered-side.jsonl.d/2.out'") && err.contains("sha256"),
        "{err}"
    );

    // A piece gone: the size no longer matches.
    let request = reqwest::Client::new()
        .post(format!("http://{}/v3/kv/deleterange", cluster.endpoints[0]))
        .body(format!(
            r#"{{"key":"{}"}}"#,
            base64_key(&url.side_key(2, 2))
        ));
    let answer = crate::support::etcd::block(async { request.send().await?.text().await })
        .expect("delete piece 2");
    assert!(!answer.contains("\"code\""), "{answer}");
    etcd.put(&url.side_key(2, 1), &bytes[SIDE_CHUNK..2 * SIDE_CHUNK])
        .wait()
        .expect("put piece 1 back");
    let out = bringup_cmd()
        .args(["verify", &url.to_string()])
        .output()
        .expect("verify url");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{} bytes in 2 piece(s) in etcd, the event records {SIDE_BYTES}",
            2 * SIDE_CHUNK
        )),
        "{}",
        stderr(&out)
    );
}

fn base64_key(key: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key)
}
