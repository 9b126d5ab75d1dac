//! The journal writer and verifier against SPEC "Journal": chain, durability, secrets,
//! output side files, torn tails and resume, the independent Python check, replay.

use crate::pangyo;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::run::{assert_exits_2_naming, bringup_cmd};
use bringup::engine::state::ServiceState;
use bringup::journal::{self, Event, GENESIS, JournalError, JournalWriter, ProblemKind};
use bringup::runbook::model::{HostId, ServiceId};
use chrono::TimeDelta;

fn fixture(dir: &Path) -> PathBuf {
    let path = dir.join("nested/journal/pangyo.jsonl");
    pangyo::write(&path);
    path
}

fn note(text: &str) -> Event {
    Event::Note {
        operator: "kim".into(),
        text: text.into(),
        provenance: bringup::journal::event::Provenance::default(),
    }
}

fn bringup() -> assert_cmd::Command {
    bringup_cmd()
}

#[test]
fn creating_a_journal_creates_its_folder_and_chains_from_genesis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let journal = journal::read_journal(&path).expect("readable");
    assert!(journal.report.is_intact(), "{:?}", journal.report.problems);
    assert_eq!(journal.records[0].prev, GENESIS);
    for (i, pair) in journal.records.windows(2).enumerate() {
        assert_eq!(pair[0].seq, i as u64 + 1);
        assert_eq!(pair[1].prev, pair[0].hash);
    }
}

#[test]
fn timestamps_are_rfc3339_utc_with_milliseconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let text = fs::read_to_string(&path).expect("read");
    let first = text.lines().next().expect("a line");
    assert!(
        first.starts_with(r#"{"seq":1,"ts":"2026-11-22T08:00:00.000Z","kind":"run_started","#),
        "{first}"
    );
    assert!(text.contains(r#""ts":"2026-11-22T08:00:00.510Z""#));
}

#[test]
fn an_existing_journal_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let before = fs::read(&path).expect("read");
    let err = JournalWriter::create(&path, &[]).expect_err("must refuse");
    assert!(matches!(err, JournalError::Exists(_)), "{err}");
    assert_eq!(fs::read(&path).expect("read"), before);
}

#[test]
fn secrets_never_reach_the_journal_or_its_side_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let mut files = vec![path.clone()];
    let side = journal::side_dir(&path);
    for entry in fs::read_dir(&side).expect("side files exist") {
        files.push(entry.expect("entry").path());
    }
    assert!(files.len() >= 3, "expected spilled output files: {files:?}");
    for f in files {
        let bytes = fs::read(&f).expect("read");
        let hay = String::from_utf8_lossy(&bytes);
        for secret in [pangyo::SECRET, pangyo::OTHER_SECRET] {
            assert!(!hay.contains(secret), "secret in {}", f.display());
        }
    }
    // The masks are there instead, in commands, vars, output and errors.
    let text = fs::read_to_string(&path).expect("read");
    assert!(text.contains(r#""command":"objstore mount --key ***""#));
    assert!(text.contains(r#""objstore_key":"***""#));
    assert!(text.contains("for admin:***"));
}

#[test]
fn long_and_binary_output_is_kept_byte_for_byte_beside_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let journal = journal::read_journal(&path).expect("readable");
    let spilled: Vec<_> = journal
        .records
        .iter()
        .filter_map(|r| r.event.output_file().map(|f| (r.seq, f)))
        .collect();
    assert_eq!(spilled.len(), 2, "the long mount log and the binary banner");
    let dir = path.parent().expect("parent");
    let (seq, binary) = &spilled[1];
    assert_eq!(binary.path, format!("pangyo.jsonl.d/{seq}.out"));
    assert_eq!(
        fs::read(dir.join(&binary.path)).expect("read"),
        b"\xff\xfebinary banner\x00\n"
    );
    let (_, long) = &spilled[0];
    let text = fs::read_to_string(dir.join(&long.path)).expect("read");
    assert_eq!(text.lines().count(), 200);
    assert!(text.contains("mounting shard 199 with key ***: ok"));
}

#[test]
fn a_changed_side_file_fails_verification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let side = journal::side_dir(&path);
    let victim = fs::read_dir(&side)
        .expect("side")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    let mut bytes = fs::read(&victim).expect("read");
    bytes[0] ^= 0x20;
    fs::write(&victim, bytes).expect("write");
    let report = journal::verify(&path).expect("readable");
    let p = report.first_problem().expect("a problem");
    assert!(matches!(p.kind, ProblemKind::OutputFile { .. }), "{p}");
    bringup()
        .arg("verify")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!("seq {}", p.seq)));
}

#[test]
fn verify_binary_reports_count_last_hash_and_span_on_an_intact_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let report = journal::verify(&path).expect("readable");
    bringup()
        .arg("verify")
        .arg(&path)
        .assert()
        .code(0)
        .stdout(predicates::str::contains(format!(
            "events: {}",
            report.events
        )))
        .stdout(predicates::str::contains(
            report.last_hash.clone().expect("hash"),
        ))
        .stdout(predicates::str::contains(
            "2026-11-22T08:00:00.000Z → 2026-11-22T10:00:00.000Z",
        ));
}

#[test]
fn verify_binary_exits_2_naming_an_unreadable_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such.jsonl");
    assert_exits_2_naming(bringup().arg("verify").arg(&missing), &missing);
    bringup().arg("verify").arg(dir.path()).assert().code(2);
}

/// `j.jsonl` in `dir`: a fresh journal holding the notes "one" and "two".
fn two_notes(dir: &Path) -> PathBuf {
    let path = dir.join("j.jsonl");
    let mut w = JournalWriter::create(&path, &[]).expect("create");
    w.append(&note("one")).expect("append");
    w.append(&note("two")).expect("append");
    path
}

/// The independent Python verifier `script` run over `path`.
fn python_verify(script: &Path, path: &Path) -> Output {
    Command::new("python3")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs")
}

#[test]
fn python_verifier_agrees_with_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/verify_journal.py");
    let out = python_verify(&script, &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = journal::verify(&path).expect("readable");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{} {}", report.events, report.last_hash.expect("hash"))
    );
    // And it is a real check: one changed byte fails it.
    let text = fs::read_to_string(&path)
        .expect("read")
        .replacen("\"kim\"", "\"kin\"", 1);
    fs::write(&path, text).expect("write");
    let out = python_verify(&script, &path);
    assert!(!out.status.success());
}

#[test]
fn torn_last_line_is_a_warning_and_resume_continues_the_chain_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let intact = journal::verify(&path).expect("readable");
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    f.write_all(br#"{"seq":999,"ts":"2026-11-22T10:00:01.000Z","kind":"note","oper"#)
        .expect("write");
    drop(f);

    let report = journal::verify(&path).expect("readable");
    assert!(report.is_intact());
    assert!(report.torn.is_some());
    assert_eq!(report.events, intact.events);
    bringup()
        .arg("verify")
        .arg(&path)
        .assert()
        .code(0)
        .stderr(predicates::str::contains("torn"));

    let clock = journal::ManualClock::new(pangyo::start() + TimeDelta::hours(3));
    let (mut w, opened) =
        JournalWriter::resume_with_clock(&path, &[], Box::new(clock)).expect("resume");
    assert!(opened.torn.is_some());
    assert_eq!(w.seq(), intact.last_seq);
    assert_eq!(Some(w.last_hash()), intact.last_hash.as_deref());
    let appended = w
        .append(&Event::Resumed {
            key: None,
            from_seq: intact.last_seq,
            forced: false,
            runbook_sha256: None,
            operator: None,
            identity: None,
            previous: None,
            reason: None,
        })
        .expect("append");
    assert_eq!(appended.seq, intact.last_seq + 1);
    drop(w);
    let after = journal::read_journal(&path).expect("readable");
    assert!(after.report.is_intact() && after.report.torn.is_none());
    let last = after.records.last().expect("records");
    assert_eq!(last.prev, intact.last_hash.expect("hash"));
    assert_eq!(last.hash, appended.hash);
}

#[test]
fn a_complete_last_line_missing_only_its_newline_is_kept_on_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = two_notes(dir.path());
    let mut bytes = fs::read(&path).expect("read");
    bytes.pop();
    fs::write(&path, bytes).expect("write");
    let (mut w, report) = JournalWriter::resume(&path, &[]).expect("resume");
    assert!(report.missing_newline && report.torn.is_none());
    assert_eq!(w.append(&note("three")).expect("append").seq, 3);
    drop(w);
    assert!(journal::verify(&path).expect("readable").is_intact());
}

#[test]
fn resume_refuses_a_journal_that_does_not_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = two_notes(dir.path());
    let text = fs::read_to_string(&path)
        .expect("read")
        .replacen("one", "0ne", 1);
    fs::write(&path, text).expect("write");
    let err = JournalWriter::resume(&path, &[]).expect_err("broken");
    assert!(err.to_string().contains("seq 1"), "{err}");
}

#[test]
fn group_committed_output_is_chained_like_any_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.jsonl");
    let mut w = JournalWriter::create(&path, &["tok".to_string()]).expect("create");
    let s = ServiceId::new("svc");
    let h = HostId::new("h1");
    for i in 0..50 {
        w.append_output(&s, "step", &h, format!("line {i} tok\n").as_bytes())
            .expect("output");
    }
    let batch = [note("a tok"), note("b")];
    let appended = w.append_batch(&batch).expect("batch");
    assert_eq!(
        appended.iter().map(|a| a.seq).collect::<Vec<_>>(),
        vec![51, 52]
    );
    drop(w);
    let j = journal::read_journal(&path).expect("readable");
    assert!(j.report.is_intact());
    assert_eq!(j.records.len(), 52);
    assert!(!fs::read_to_string(&path).expect("read").contains("tok"));
}

#[test]
fn replay_folds_states_ok_restore_steps_and_from_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let j = journal::read_journal(&path).expect("readable");
    let runbook = pangyo_runbook();
    let r = journal::replay(&j.records, &runbook);
    assert_eq!(r.from_seq, j.records.last().expect("records").seq);
    assert!(r.finished);
    let state = |id: &str| {
        r.facts
            .states
            .iter()
            .find(|(s, _, _)| s.as_str() == id)
            .map(|(_, st, _)| *st)
    };
    assert_eq!(state("talk-messaging"), Some(ServiceState::Restored));
    assert_eq!(state("mail"), Some(ServiceState::Failed));
    assert_eq!(state("mail-archive"), Some(ServiceState::Skipped));
    let restored: Vec<(String, usize, String)> = r
        .facts
        .restored_steps
        .iter()
        .map(|(s, h)| (s.service.to_string(), s.index, h.to_string()))
        .collect();
    // Both gateways (msg-gw-2 after its retry); media and PC login; never the failed dovecot.
    assert_eq!(
        restored,
        vec![
            ("talk-messaging".into(), 0, "msg-gw-1".into()),
            ("talk-messaging".into(), 0, "msg-gw-2".into()),
            ("pc-login".into(), 0, "pc-gw-1".into()),
            ("media".into(), 0, "media-1".into()),
        ]
    );
    assert!(r.in_flight.is_empty());
    assert!(journal::check_runbook(&r, &runbook).is_ok());
    let mut changed = runbook.clone();
    changed.sha256 = "0".repeat(64);
    assert!(journal::check_runbook(&r, &changed).is_err());
}

#[test]
fn replay_lists_steps_started_but_never_finished_as_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let mut j = journal::read_journal(&path).expect("readable");
    // Cut the run right after the mail's first dovecot restart started.
    let cut = j
        .records
        .iter()
        .position(
            |r| matches!(&r.event, Event::StepStarted { step, .. } if step == "restart dovecot"),
        )
        .expect("present");
    j.records.truncate(cut + 1);
    let r = journal::replay(&j.records, &pangyo_runbook());
    assert!(!r.finished);
    assert_eq!(r.in_flight.len(), 1);
    assert_eq!(r.in_flight[0].step, "restart dovecot");
}

/// The runbook the fixture ran, as the model (restore step names are what replay maps).
fn pangyo_runbook() -> bringup::runbook::model::Runbook {
    use bringup::runbook::model::{Defaults, Runbook, Service, Step, StepAction, Template};
    let step = |name: &str| Step {
        name: name.to_string(),
        action: StepAction::Run(Template::parse("true")),
        hosts: Vec::new(),
        timeout: std::time::Duration::from_secs(30),
        retries: 0,
        retry_delay: std::time::Duration::from_secs(5),
        expect_exit: 0,
        expect_output: None,
        confirm: bringup::runbook::model::Confirm::No,
        feature: None,
        fleet: bringup::runbook::fleet::Fleet::default(),
        policy: bringup::runbook::model::StepPolicy::default(),
    };
    let services = pangyo::services()
        .into_iter()
        .map(|info| {
            let restores = match info.id.as_str() {
                "talk-messaging" => vec![step("start gateway"), step("move the VIP")],
                "media" => vec![step("mount object store")],
                "pc-login" => vec![step("restart login farm")],
                "mail" => vec![step("restart dovecot")],
                _ => Vec::new(),
            };
            Service {
                id: info.id.clone(),
                name: info.name.clone(),
                tier: info.tier,
                rto: None,
                hosts: Vec::new(),
                depends_on: info.depends_on.clone(),
                checks: info.checks.iter().map(|c| step(&c.step)).collect(),
                restores,
                injects: Vec::new(),
                min_healthy: None,
                on_fail: bringup::runbook::model::OnFail::Stop,
            }
        })
        .collect();
    Runbook {
        notice: bringup::runbook::model::Notice::default(),
        notify: Vec::new(),
        name: "pangyo".into(),
        description: String::new(),
        path: PathBuf::from("pangyo.toml"),
        sha256: pangyo::RUNBOOK_SHA.into(),
        defaults: Defaults::default(),
        vars: indexmap::IndexMap::new(),
        secret_vars: std::collections::BTreeSet::new(),
        hosts: indexmap::IndexMap::new(),
        groups: indexmap::IndexMap::new(),
        services,
        drills: bringup::runbook::drill::Drills::default(),
        sites: bringup::runbook::sites::Sites::default(),
        operators: bringup::runbook::model::Operators::default(),
        witnesses: Vec::new(),
    }
}
