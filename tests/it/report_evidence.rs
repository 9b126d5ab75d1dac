//! What `bringup report` and `export --format scorecard` count as evidence, over scripted
//! drill and incident journals sealed with real keys through `bringup seal` (OpenSSH's
//! `ssh-keygen -Y`): sealed and verified, unsealed, and forged (an outcome and a timestamp
//! edited, the hash chain recomputed, with the old seal left beside it or a stranger's seal
//! made over it); a copy of a run under another name; a journal dated in the future; and
//! a failed incident after a passing drill.

use std::path::{Path, PathBuf};

use crate::support::drill::{Script, drill_of, new_key, rechain, seal, svc, time};
use assert_cmd::Command;
use bringup::engine::state::ServiceState as S;
use bringup::journal::{DrillOutcome, DrillPhase};
use serde_json::Value;

const AS_OF: &str = "2026-06-01T12:00:00Z";

fn bringup() -> Command {
    let mut cmd = Command::cargo_bin("bringup").expect("the bringup binary is built");
    cmd.env_remove("SSH_AUTH_SOCK");
    cmd
}

struct Rig {
    dir: tempfile::TempDir,
    /// The auditor's key: the one allowed signer, as `auditor@example`.
    key: PathBuf,
    /// A key nobody allowed.
    stranger: PathBuf,
    signers: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("auditor_ed25519");
        let public = new_key(&key);
        let stranger = dir.path().join("stranger_ed25519");
        new_key(&stranger);
        let signers = dir.path().join("allowed_signers");
        std::fs::write(&signers, format!("auditor@example {public}\n")).expect("signers");
        Rig {
            dir,
            key,
            stranger,
            signers,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `report --format FORMAT`, with the allowed signers when `signed`.
    fn report(&self, paths: &[&Path], format: &str, signed: bool) -> (Option<i32>, String) {
        let mut cmd = bringup();
        cmd.args(["report", "--as-of", AS_OF, "--format", format]);
        if signed {
            cmd.arg("--allowed-signers").arg(&self.signers);
        }
        let out = cmd.args(paths).output().expect("runs");
        (
            out.status.code(),
            String::from_utf8(out.stdout).expect("utf-8"),
        )
    }

    fn json(&self, paths: &[&Path], signed: bool) -> Value {
        let (code, out) = self.report(paths, "json", signed);
        assert_eq!(code, Some(0), "{out}");
        serde_json::from_str(&out).expect("the report is json")
    }
}

/// The scenario drill of 2026-05-20 in which db missed its RTO (restored 700 s after its
/// inject, RTO 600 s) and the drill failed.
const FAILED_AT: &str = "2026-05-20T12:00:00Z";

fn failed_drill(path: &Path) {
    let sc = "dc-loss";
    let mut s = Script::start(
        path,
        time(FAILED_AT),
        "pangyo",
        Some(sc),
        vec![
            svc("dns", 1, 300, &[]),
            svc("db", 2, 600, &["dns"]),
            svc("mail", 2, 600, &[]),
        ],
        &[("dns", 30), ("db", 30), ("mail", 90)],
    );
    s.phase(1.0, sc, DrillPhase::Baseline);
    for id in ["dns", "db", "mail"] {
        s.healthy(2.0, id);
    }
    s.phase(10.0, sc, DrillPhase::Inject);
    s.inject(10.0, "db", "h1");
    s.state(12.0, "db", S::Healthy, S::Checking);
    s.restore(20.0, 21.0, 710.0, "db");
    s.finished(711.0, sc, DrillOutcome::Failed, Some("db missed its RTO"));
    s.run_finished(712.0);
}

/// What a forger does to the failed drill: the outcome `passed`, db's restore moved 400 s
/// earlier (300 s after its inject: within the RTO), the chain recomputed.
fn forge(path: &Path) {
    rechain(path, |line| {
        let line = line
            .replace("\"outcome\":\"failed\"", "\"outcome\":\"passed\"")
            .replace(",\"reason\":\"db missed its RTO\"", "");
        if line.contains("\"service\":\"db\"") && line.contains("\"to\":\"restored\"") {
            line.replace("2026-05-20T12:11:50.000Z", "2026-05-20T12:05:10.000Z")
        } else {
            line
        }
    });
}

fn service<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == id)
        .unwrap_or_else(|| panic!("no service {id}: {doc}"))
}

/// `not_counted` as (file name, reason, why).
fn not_counted(doc: &Value) -> Vec<(String, String, String)> {
    doc["not_counted"]
        .as_array()
        .expect("not_counted")
        .iter()
        .map(|n| {
            let path = n["path"].as_str().expect("path");
            (
                Path::new(path)
                    .file_name()
                    .expect("file name")
                    .to_string_lossy()
                    .into_owned(),
                n["reason"].as_str().expect("reason").to_string(),
                n["why"].as_str().expect("why").to_string(),
            )
        })
        .collect()
}

/// Counted journals as (file name, evidence status).
fn counted(doc: &Value) -> Vec<(String, String)> {
    doc["journals"]
        .as_array()
        .expect("journals")
        .iter()
        .map(|j| {
            (
                Path::new(j["path"].as_str().expect("path"))
                    .file_name()
                    .expect("file name")
                    .to_string_lossy()
                    .into_owned(),
                j["evidence"]["status"]
                    .as_str()
                    .expect("status")
                    .to_string(),
            )
        })
        .collect()
}

/// The markdown report's lines between its title and the "As of" line: what it says first.
fn first_lines(md: &str) -> Vec<String> {
    let mut lines = md.lines();
    assert_eq!(lines.next(), Some("# Readiness report"), "{md}");
    lines
        .take_while(|l| !l.starts_with("As of "))
        .filter(|l| !l.is_empty())
        .map(|l| l.replace('\\', ""))
        .collect()
}

/// The `- ` items of a markdown section, unescaped.
fn items_under(md: &str, heading: &str) -> Vec<String> {
    let section = md
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {heading}:\n{md}"));
    section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("- "))
        .map(|l| l.replace('\\', ""))
        .collect()
}

/// A markdown table's rows under `heading`, cells unescaped.
fn rows_under(md: &str, heading: &str) -> Vec<Vec<String>> {
    let section = md
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {heading}:\n{md}"));
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().replace('\\', ""))
                .collect()
        })
        .collect()
}

/// sealed: dns met (2026-05-27), sealed by the auditor. unsealed: dns and db missed
/// (2026-04-22). forged-stale: the failed drill sealed by the auditor, then forged (its seal
/// left beside it). forged-stranger: the failed drill forged, then sealed by a stranger.
/// forged: the failed drill forged and left unsealed.
struct Set {
    sealed: PathBuf,
    unsealed: PathBuf,
    stale: PathBuf,
    stranger: PathBuf,
    forged: PathBuf,
}

fn set(rig: &Rig) -> Set {
    let s = Set {
        sealed: rig.path("sealed.jsonl"),
        unsealed: rig.path("unsealed.jsonl"),
        stale: rig.path("forged-stale.jsonl"),
        stranger: rig.path("forged-stranger.jsonl"),
        forged: rig.path("forged.jsonl"),
    };
    drill_of(&s.sealed, time("2026-05-27T12:00:00Z"), &[("dns", 200.0)]);
    seal(&s.sealed, &rig.key);
    drill_of(
        &s.unsealed,
        time("2026-04-22T12:00:00Z"),
        &[("dns", 400.0), ("db", 700.0)],
    );
    failed_drill(&s.stale);
    seal(&s.stale, &rig.key);
    forge(&s.stale);
    failed_drill(&s.stranger);
    forge(&s.stranger);
    seal(&s.stranger, &rig.stranger);
    failed_drill(&s.forged);
    forge(&s.forged);
    s
}

#[test]
fn a_forged_and_rechained_drill_verifies_alone_and_scores_as_if_it_passed_without_signers() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let s = set(&rig);
    // The forgery holds up as far as the chain goes.
    let v = bringup()
        .arg("verify")
        .arg(&s.forged)
        .output()
        .expect("runs");
    assert_eq!(v.status.code(), Some(0), "the rechained journal verifies");
    let doc = rig.json(&[&s.unsealed, &s.forged], false);
    // db's last drill is the forged one, which now "met" the RTO.
    assert_eq!(service(&doc, "db")["last_drill"], "met");
    assert_eq!(service(&doc, "db")["score"], 100.0);
    // So the report says both are claims, first thing.
    assert_eq!(doc["unsealed"], 2);
    let (_, md) = rig.report(&[&s.unsealed, &s.forged], "markdown", false);
    assert_eq!(
        first_lines(&md),
        [
            "**Unsealed: 2 of 2 counted journals are unsealed: their results are claims, not evidence. Seal journals with `bringup seal` and pass `--allowed-signers FILE` to count only sealed and verified ones.**"
        ]
    );
}

#[test]
fn with_allowed_signers_only_sealed_and_verified_journals_count_and_the_rest_say_why() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let s = set(&rig);
    let all = [&s.sealed, &s.unsealed, &s.stale, &s.stranger, &s.forged];
    let all: Vec<&Path> = all.iter().map(|p| p.as_path()).collect();
    let doc = rig.json(&all, true);
    assert_eq!(
        counted(&doc),
        [("sealed.jsonl".to_string(), "sealed_verified".to_string())]
    );
    assert_eq!(doc["journals"][0]["evidence"]["signer"], "auditor@example");
    let not = not_counted(&doc);
    let reasons: Vec<(&str, &str)> = not
        .iter()
        .map(|(p, r, _)| (p.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("unsealed.jsonl", "unsealed"),
            ("forged-stale.jsonl", "seal_refuted"),
            ("forged-stranger.jsonl", "seal_refuted"),
            ("forged.jsonl", "unsealed"),
        ]
    );
    assert!(
        not[1].2.contains("the hash at seq")
            && not[1]
                .2
                .contains("the journal was rewritten after it was sealed"),
        "{}",
        not[1].2
    );
    assert!(
        not[2]
            .2
            .contains("the signature is not valid for any signer in"),
        "{}",
        not[2].2
    );
    assert!(
        not[0].2.starts_with("unsealed: it has no signature"),
        "{}",
        not[0].2
    );
    // Nothing forged reached the scores: db was never drilled in what counts.
    assert_eq!(service(&doc, "db")["last_drill"], Value::Null);
    assert_eq!(service(&doc, "db")["score"], 0.0);
    assert_eq!(service(&doc, "dns")["score"], 100.0);

    let (code, md) = rig.report(&all, "markdown", true);
    assert_eq!(code, Some(0));
    let first = first_lines(&md);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0].starts_with(&format!(
            "**Evidence: only journals sealed and verified against the allowed signers '{}' are counted (1 counted); 4 journals not counted",
            rig.signers.display()
        )),
        "{}",
        first[0]
    );
    let items = items_under(&md, "## Not counted");
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(
        items[1].starts_with(&format!("'{}': its seal does not hold:", s.stale.display())),
        "{}",
        items[1]
    );
    let journals = rows_under(&md, "## Journals counted");
    assert_eq!(journals.len(), 1);
    assert_eq!(journals[0][3], s.sealed.display().to_string());
    assert_eq!(
        journals[0][4],
        format!(
            "sealed and verified ('auditor@example', seq {})",
            sealed_seq(&s.sealed)
        )
    );
}

fn sealed_seq(journal: &Path) -> u64 {
    let text = std::fs::read_to_string(journal).expect("journal");
    let last: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("json");
    last["seq"].as_u64().expect("seq")
}

#[test]
fn without_signers_the_first_lines_count_the_unsealed_and_the_unchecked_seals() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let s = set(&rig);
    let (code, md) = rig.report(&[&s.sealed, &s.unsealed, &s.stale], "markdown", false);
    assert_eq!(code, Some(0));
    assert_eq!(
        first_lines(&md),
        [
            "**Unsealed: 1 of 2 counted journals are unsealed: their results are claims, not evidence. Seal journals with `bringup seal` and pass `--allowed-signers FILE` to count only sealed and verified ones.**",
            "**Not checked: 1 counted journal sealed, its signature not checked (no `--allowed-signers FILE`).**",
        ]
    );
    // A seal that no longer matches its journal is refuted even unchecked.
    let items = items_under(&md, "## Not counted");
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        items[0].starts_with(&format!("'{}': its seal does not hold:", s.stale.display())),
        "{}",
        items[0]
    );
    // The html page opens the same way.
    let (_, html) = rig.report(&[&s.sealed, &s.unsealed, &s.stale], "html", false);
    let opening: Vec<&str> = html
        .lines()
        .skip_while(|l| *l != "<h1>Readiness report</h1>")
        .skip(1)
        .take(3)
        .collect();
    assert!(
        opening[0].starts_with("<p class=\"evidence\"><strong>Unsealed: 1 of 2 counted journals are unsealed: their results are claims, not evidence.")
            && opening[1].starts_with("<p class=\"evidence\"><strong>Not checked: 1 counted journal sealed")
            && opening[2].starts_with("<p>As of "),
        "{opening:?}"
    );
    let evidence: Vec<String> = rows_under(&md, "## Journals counted")
        .into_iter()
        .map(|r| r[4].clone())
        .collect();
    assert_eq!(
        evidence,
        [
            "unsealed".to_string(),
            format!("sealed, not checked (seq {})", sealed_seq(&s.sealed)),
        ]
    );
}

#[test]
fn a_copy_of_a_run_under_another_name_counts_once_and_is_named() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let s = set(&rig);
    let copy = rig.path("april-copy.jsonl");
    std::fs::copy(&s.unsealed, &copy).expect("copy");
    // The sealed run copied without its seal, given first: the sealed one counts.
    let bare = rig.path("may-bare.jsonl");
    std::fs::copy(&s.sealed, &bare).expect("copy");
    let doc = rig.json(&[&bare, &s.unsealed, &copy, &s.sealed], false);
    assert_eq!(
        counted(&doc),
        [
            ("unsealed.jsonl".to_string(), "unsealed".to_string()),
            ("sealed.jsonl".to_string(), "sealed_not_checked".to_string()),
        ]
    );
    let dupes: Vec<(&str, &str)> = doc["not_counted"]
        .as_array()
        .expect("not_counted")
        .iter()
        .map(|n| {
            assert_eq!(n["reason"], "duplicate");
            (
                n["path"].as_str().expect("path"),
                n["duplicate_of"].as_str().expect("of"),
            )
        })
        .collect();
    let why = not_counted(&doc);
    assert!(
        why[0].2.starts_with(&format!(
            "a copy of the run in '{}' (the same run_started hash), which is counted instead",
            s.unsealed.display()
        )),
        "{}",
        why[0].2
    );
    let shown = |p: &Path| p.display().to_string();
    assert_eq!(
        dupes,
        [
            (shown(&copy).as_str(), shown(&s.unsealed).as_str()),
            (shown(&bare).as_str(), shown(&s.sealed).as_str()),
        ]
    );
    // dns counted once per run: met in May, missed in April.
    assert_eq!(service(&doc, "dns")["rto_met"], 1);
    assert_eq!(service(&doc, "dns")["rto_missed"], 1);
    assert_eq!(
        service(&doc, "dns")["history"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_journal_dated_in_the_future_is_not_counted_and_does_not_freeze_days_since() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let s = set(&rig);
    let ahead = rig.path("ahead.jsonl");
    drill_of(&ahead, time("2026-09-04T12:00:00Z"), &[("dns", 100.0)]);
    // Events up to 112 s past the as-of: within the 5 minutes a clock may drift.
    let just = rig.path("just-now.jsonl");
    drill_of(&just, time("2026-06-01T11:58:20Z"), &[("db", 200.0)]);
    let doc = rig.json(&[&s.sealed, &ahead, &just], false);
    let not = not_counted(&doc);
    assert_eq!(not.len(), 1, "{not:?}");
    assert_eq!(
        (not[0].0.as_str(), not[0].1.as_str()),
        ("ahead.jsonl", "dated_in_the_future")
    );
    assert!(
        not[0]
            .2
            .starts_with("dated in the future: an event at 2026-09-04T12:"),
        "{}",
        not[0].2
    );
    let dns = service(&doc, "dns");
    assert_eq!(dns["last_drilled"], "2026-05-27T12:00:00.000Z");
    assert_eq!(dns["days_since"], 5);
    assert_eq!(
        service(&doc, "db")["last_drilled"],
        "2026-06-01T11:58:20.000Z"
    );
}

/// An incident of 'pangyo' at `t0` in which dns was found down and restored `ttr` seconds
/// after the run's start (RTO 300 s).
fn incident(path: &Path, t0: &str, ttr: f64) {
    let mut s = Script::start(
        path,
        time(t0),
        "pangyo",
        None,
        vec![
            svc("dns", 1, 300, &[]),
            svc("db", 2, 600, &["dns"]),
            svc("mail", 2, 600, &[]),
        ],
        &[("dns", 30), ("db", 30), ("mail", 90)],
    );
    s.state(1.0, "dns", S::Unknown, S::Checking);
    s.restore(2.0, 3.0, ttr, "dns");
    s.run_finished(ttr + 1.0);
}

#[test]
fn a_failed_incident_after_a_passing_drill_scores_as_a_failed_drill_until_the_next_drill() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let s = set(&rig);
    // sealed's drill ends at 12:03:32; a minute later dns goes down for 15 minutes.
    let bad = rig.path("incident-bad.jsonl");
    incident(&bad, "2026-05-27T12:04:32Z", 900.0);
    let doc = rig.json(&[&s.sealed, &bad], false);
    let dns = service(&doc, "dns");
    assert_eq!(dns["last_drill"], "met");
    assert_eq!(dns["base_score"], 50);
    // 50 × 0.75^⌊5/30⌋: decaying from the incident, 5 days before the as-of.
    assert_eq!(dns["score"], 50.0);
    assert_eq!(dns["lowered_by"]["journal"], bad.display().to_string());
    assert_eq!(dns["lowered_by"]["rto"], "missed");
    assert_eq!(
        dns["lowered_by"]["outage_started"],
        "2026-05-27T12:04:32.000Z"
    );
    let (_, md) = rig.report(&[&s.sealed, &bad], "markdown", false);
    let rows = rows_under(&md, "## Services");
    let dns_row = rows
        .iter()
        .find(|r| r[1] == "dns")
        .unwrap_or_else(|| panic!("{md}"));
    // Runbook | Service | Last drilled | Last drill | Days since | Score | Lowered by | …
    assert_eq!(dns_row[5], "50.0");
    assert_eq!(
        dns_row[6],
        format!("incident '{}' of 2026-05-27 (RTO missed)", bad.display())
    );

    // An incident that met the RTO lowers nothing.
    let good = rig.path("incident-good.jsonl");
    incident(&good, "2026-05-27T12:04:32Z", 120.0);
    let doc = rig.json(&[&s.sealed, &good], false);
    assert_eq!(service(&doc, "dns")["score"], 100.0);
    assert_eq!(service(&doc, "dns")["lowered_by"], Value::Null);

    // Drilled again after the incident, and passed: 100 again.
    let again = rig.path("again.jsonl");
    drill_of(&again, time("2026-05-29T12:00:00Z"), &[("dns", 100.0)]);
    let doc = rig.json(&[&s.sealed, &bad, &again], false);
    assert_eq!(service(&doc, "dns")["score"], 100.0);
    assert_eq!(service(&doc, "dns")["lowered_by"], Value::Null);
}

/// The scorecard's `- **Evidence:** …` line.
fn evidence_line(md: &str) -> String {
    md.lines()
        .find_map(|l| l.strip_prefix("- **Evidence:** "))
        .unwrap_or_else(|| panic!("no evidence line:\n{md}"))
        .replace('\\', "")
}

fn scorecard(rig: &Rig, journal: &Path, format: &str, signed: bool) -> String {
    let mut cmd = bringup();
    cmd.arg("export").arg(journal).args(["--format", format]);
    if signed {
        cmd.arg("--allowed-signers").arg(&rig.signers);
    }
    let out = cmd.output().expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn the_scorecard_says_whether_its_journal_is_sealed_and_verified() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let s = set(&rig);
    let seq = sealed_seq(&s.sealed);
    assert_eq!(
        evidence_line(&scorecard(&rig, &s.sealed, "scorecard", true)),
        format!("sealed and verified (signed by 'auditor@example' at seq {seq})")
    );
    assert_eq!(
        evidence_line(&scorecard(&rig, &s.sealed, "scorecard", false)),
        format!("sealed at seq {seq}, signature not checked (no --allowed-signers)")
    );
    assert_eq!(
        evidence_line(&scorecard(&rig, &s.forged, "scorecard", true)),
        "unsealed: its results are a claim, not evidence"
    );
    let stale = evidence_line(&scorecard(&rig, &s.stale, "scorecard", false));
    assert!(
        stale.starts_with("not evidence: its seal does not hold: the hash at seq"),
        "{stale}"
    );
    let stranger = evidence_line(&scorecard(&rig, &s.stranger, "scorecard", true));
    assert!(
        stranger.contains("the signature is not valid for any signer"),
        "{stranger}"
    );
    let doc: Value = serde_json::from_str(&scorecard(&rig, &s.sealed, "json", true)).expect("json");
    let e = &doc["scorecard"]["evidence"];
    assert_eq!(e["status"], "sealed_verified");
    assert_eq!(e["signer"], "auditor@example");
    assert_eq!(e["sealed_seq"], seq);
}
