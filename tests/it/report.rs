//! `bringup report` over three scripted drills (100, 40 and 5 days before `--as-of`) and an
//! incident: the time-to-restore rows oldest first, RTO met rates, last drilled, readiness
//! scores by Gremlin's rule (the arithmetic written out below), services past drill_every;
//! a tampered journal is left out with its reason, and no usable journal exits 2.

use std::path::{Path, PathBuf};

use crate::support::drill::{Script, drill_of, svc, time};
use assert_cmd::Command;
use bringup::engine::state::ServiceState as S;

const AS_OF: &str = "2026-06-01T12:00:00Z";

fn bringup() -> Command {
    Command::cargo_bin("bringup").expect("the bringup binary is built")
}

struct Journals {
    _dir: tempfile::TempDir,
    d100: PathBuf,
    d40: PathBuf,
    d5: PathBuf,
    incident: PathBuf,
    tampered: PathBuf,
}

/// d100 (2026-02-21): dns restored in 120 s (RTO 300: met), db in 500 s (RTO 600: met).
/// d40 (2026-04-22): dns 400 s (missed), db 700 s (missed).
/// d5 (2026-05-27): dns 200 s (met); db not injected.
/// incident (2026-05-30): db found down, restored 900 s after the run's start (missed).
/// tampered: d5 with one line's host changed after the fact.
fn journals() -> Journals {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| dir.path().join(n);
    let (d100, d40, d5, incident, tampered) = (
        p("d100.jsonl"),
        p("d40.jsonl"),
        p("d5.jsonl"),
        p("incident.jsonl"),
        p("tampered.jsonl"),
    );
    drill_of(
        &d100,
        time("2026-02-21T12:00:00Z"),
        &[("dns", 120.0), ("db", 500.0)],
    );
    drill_of(
        &d40,
        time("2026-04-22T12:00:00Z"),
        &[("dns", 400.0), ("db", 700.0)],
    );
    drill_of(&d5, time("2026-05-27T12:00:00Z"), &[("dns", 200.0)]);
    let mut s = Script::start(
        &incident,
        time("2026-05-30T03:00:00Z"),
        "pangyo",
        None,
        vec![
            svc("dns", 1, 300, &[]),
            svc("db", 2, 600, &["dns"]),
            svc("mail", 2, 600, &[]),
        ],
        &[("dns", 30), ("db", 30), ("mail", 90)],
    );
    s.state(1.0, "db", S::Unknown, S::Checking);
    s.restore(5.0, 6.0, 900.0, "db");
    s.run_finished(901.0);
    drop(s);
    let text = std::fs::read_to_string(&d5).expect("d5");
    std::fs::write(
        &tampered,
        text.replacen("\"host\":\"h1\"", "\"host\":\"h9\"", 1),
    )
    .expect("tampered");
    Journals {
        _dir: dir,
        d100,
        d40,
        d5,
        incident,
        tampered,
    }
}

fn report(paths: &[&Path], format: &str) -> (Option<i32>, String, String) {
    let out = bringup()
        .args(["report", "--as-of", AS_OF, "--format", format])
        .args(paths)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn all(j: &Journals) -> Vec<&Path> {
    // Not in time order: the report sorts them.
    vec![&j.d5, &j.incident, &j.d100, &j.tampered, &j.d40]
}

fn rows_under(md: &str, heading: &str) -> Vec<Vec<String>> {
    let section = md
        .split(&format!("{heading}\n"))
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

#[test]
fn scores_follow_the_rule_from_each_services_last_drill_as_of_the_given_time() {
    let j = journals();
    let (code, out, _) = report(&all(&j), "json");
    assert_eq!(code, Some(0));
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let service = |id: &str| {
        doc["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["service"] == id)
            .unwrap_or_else(|| panic!("{id}"))
            .clone()
    };
    // dns: last drill d5, 5 days before, met: 100 × 0.75^⌊5/30⌋ = 100 × 0.75^0 = 100.
    let dns = service("dns");
    assert_eq!(dns["last_drilled"], "2026-05-27T12:00:00.000Z");
    assert_eq!(dns["last_drill"], "met");
    assert_eq!(dns["days_since"], 5);
    assert_eq!(dns["score"], 100.0);
    // db: last drill d40 (d5 did not inject it; the incident is no drill), missed:
    // 50 × 0.75^⌊40/30⌋ = 50 × 0.75 = 37.5.
    let db = service("db");
    assert_eq!(db["last_drilled"], "2026-04-22T12:00:00.000Z");
    assert_eq!(db["last_drill"], "missed");
    assert_eq!(db["days_since"], 40);
    assert_eq!(db["base_score"], 50);
    assert_eq!(db["score"], 37.5);
    // mail: never drilled: 0.
    let mail = service("mail");
    assert_eq!(mail["last_drilled"], serde_json::Value::Null);
    assert_eq!(mail["score"], 0.0);
    // The runbook: (100 + 37.5 + 0) / 3.
    let rb = &doc["runbooks"][0];
    assert_eq!(rb["runbook"], "pangyo");
    let expected = (100.0 + 37.5 + 0.0) / 3.0;
    assert!(
        (rb["score"].as_f64().expect("score") - expected).abs() < 1e-9,
        "{rb}"
    );
    // Past drill_every: db (40 days > 30), mail (never; 90 days); dns (5 ≤ 30) is not.
    assert_eq!(dns["past_drill_every"], false);
    assert_eq!(db["past_drill_every"], true);
    assert_eq!(mail["past_drill_every"], true);
    assert_eq!(rb["past_drill_every"], 2);
}

#[test]
fn time_to_restore_is_a_row_per_journal_oldest_first_across_drills_and_incidents() {
    let j = journals();
    let (_, out, _) = report(&all(&j), "json");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let history = |id: &str| -> Vec<(String, String, i64, String)> {
        doc["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["service"] == id)
            .expect("service")["history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|r| {
                (
                    r["started"].as_str().expect("started")[..10].to_string(),
                    r["mode"].as_str().expect("mode").to_string(),
                    r["time_to_restore_ms"].as_i64().expect("ttr"),
                    r["rto"].as_str().expect("rto").to_string(),
                )
            })
            .collect()
    };
    let row = |d: &str, m: &str, ms: i64, r: &str| (d.into(), m.into(), ms, r.into());
    assert_eq!(
        history("dns"),
        [
            row("2026-02-21", "drill", 120_000, "met"),
            row("2026-04-22", "drill", 400_000, "missed"),
            row("2026-05-27", "drill", 200_000, "met"),
        ]
    );
    assert_eq!(
        history("db"),
        [
            row("2026-02-21", "drill", 500_000, "met"),
            row("2026-04-22", "drill", 700_000, "missed"),
            row("2026-05-30", "incident", 900_000, "missed"),
        ]
    );
    let db = &doc["services"][1];
    assert_eq!(db["rto_met"], 1);
    assert_eq!(db["rto_missed"], 2);
}

#[test]
fn the_markdown_report_states_the_rule_and_its_rows_match() {
    let j = journals();
    let (code, md, _) = report(&all(&j), "markdown");
    assert_eq!(code, Some(0));
    assert!(md.contains("Gremlin"), "{md}");
    assert!(md.contains("score × 0.75^⌊days/30⌋"), "{md}");
    assert!(
        md.contains("4 journals counted (3 drills, 1 incident), 1 not counted."),
        "{md}"
    );
    assert_eq!(
        rows_under(&md, "## Runbooks"),
        [["pangyo", "45.8", "3", "2"]]
    );
    let services = rows_under(&md, "## Services");
    // Runbook | Service | Last drilled | Last drill | Days since | Score | Lowered by | RTO met |
    // drill_every | Past due
    assert_eq!(
        services,
        [
            [
                "pangyo",
                "dns",
                "2026-05-27",
                "met",
                "5",
                "100.0",
                "—",
                "2/3 (67 %)",
                "30d",
                "no"
            ],
            [
                "pangyo",
                "db",
                "2026-04-22",
                "missed",
                "40",
                "37.5",
                "—",
                "1/3 (33 %)",
                "30d",
                "yes"
            ],
            [
                "pangyo",
                "mail",
                "—",
                "never drilled",
                "—",
                "0.0",
                "—",
                "—",
                "90d",
                "yes"
            ],
        ]
    );
    let dns = rows_under(&md, "### pangyo / dns (RTO 5m 00s)");
    let ttr: Vec<(&str, &str, &str)> = dns
        .iter()
        .map(|r| (&r[0][..10], r[3].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        ttr,
        [
            ("2026-02-21", "2m 00s", "met"),
            ("2026-04-22", "6m 40s", "missed"),
            ("2026-05-27", "3m 20s", "met")
        ]
    );
    assert!(
        md.contains("- pangyo / db: last drilled 2026-04-22 (40 days ago); drill\\_every 30d"),
        "{md}"
    );
    assert!(
        md.contains("- pangyo / mail: never drilled; drill\\_every 90d"),
        "{md}"
    );
}

#[test]
fn a_tampered_journal_is_left_out_and_the_report_says_which_and_why() {
    let j = journals();
    let (code, md, err) = report(&all(&j), "markdown");
    assert_eq!(code, Some(0));
    let skipped = md.split("## Not counted").nth(1).expect("section");
    let line = skipped
        .lines()
        .find(|l| l.contains("tampered.jsonl"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(line.contains("does not verify"), "{line}");
    assert!(line.contains("hash mismatch"), "{line}");
    assert_eq!(skipped.lines().filter(|l| l.starts_with("- ")).count(), 1);
    assert!(err.contains("tampered.jsonl"), "{err}");
    // Its drill (a copy of d5's) counts once, not twice.
    let (_, out, _) = report(&all(&j), "json");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["journals"].as_array().expect("journals").len(), 4);
    assert_eq!(
        doc["not_counted"][0]["path"],
        j.tampered.display().to_string()
    );
    assert_eq!(doc["not_counted"][0]["reason"], "unusable");
}

#[test]
fn the_html_report_draws_a_chart_per_service_with_no_script_or_network_reference() {
    let j = journals();
    let (code, html, _) = report(&all(&j), "html");
    assert_eq!(code, Some(0));
    // dns and db were down in these journals; mail never was.
    assert_eq!(html.matches("<svg ").count(), 2, "{html}");
    assert_eq!(html.matches("<circle ").count(), 6, "three points each");
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("http:") && !html.contains("https:"),
        "no network reference"
    );
    assert!(html.contains("Never down in these journals."), "mail");
}

#[test]
fn no_usable_journal_exits_2_and_a_bad_as_of_is_refused() {
    let j = journals();
    let (code, out, err) = report(&[&j.tampered], "markdown");
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(err.contains("no journal could be counted"), "{err}");
    let out = bringup()
        .args(["report", "--as-of", "last tuesday"])
        .arg(&j.d5)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--as-of 'last tuesday' is not an RFC 3339 time"),
        "{err}"
    );
}

/// A runbook named like the journals' ('pangyo') whose `db` host is reached through a jump
/// host in its lost site; `jump` false: the same runbook rebuilt to reach it directly.
fn site_runbook(dir: &Path, jump: bool) -> PathBuf {
    let path = dir.join(if jump { "through.toml" } else { "direct.toml" });
    std::fs::write(
        &path,
        format!(
            "[runbook]\nname = \"pangyo\"\nlost_site = \"pangyo\"\n\n[sites.pangyo]\naddresses = [\"10.10.0.0/16\"]\n\n[sites.gasan]\naddresses = [\"10.20.0.0/16\"]\n\n[hosts.bastion]\naddress = \"10.10.0.2\"\n\n[hosts.db]\naddress = \"10.20.1.1\"\n{}\n[[service]]\nid = \"db\"\nhosts = [\"db\"]\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n",
            if jump { "jump = \"bastion\"\n" } else { "" }
        ),
    )
    .expect("write runbook");
    path
}

#[test]
fn a_runbook_that_depends_on_its_lost_site_is_not_ready_whatever_its_drills_say() {
    let j = journals();
    let dir = tempfile::tempdir().expect("tempdir");
    let through = site_runbook(dir.path(), true);
    let run = |runbook: &Path, format: &str| {
        let out = bringup()
            .args(["report", "--as-of", AS_OF, "--format", format, "--runbook"])
            .arg(runbook)
            .args(all(&j))
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let md = run(&through, "markdown");
    assert!(
        md.contains("**NOT READY: runbook 'pangyo' depends on its lost site 'pangyo', whatever its drills say: DEPENDS ON LOST SITE: host 'db' (10.20.1.1, service 'db') is reached through jump host 'bastion' (10.10.0.2), in the lost site 'pangyo' (10.10.0.0/16).**"),
        "{md}"
    );
    assert_eq!(
        rows_under(&md, "## Runbooks"),
        [[
            "pangyo",
            "45.8, NOT READY: depends on its lost site 'pangyo'",
            "3",
            "2"
        ]]
    );
    let doc: serde_json::Value = serde_json::from_str(&run(&through, "json")).expect("json");
    assert_eq!(doc["lost_sites"][0]["ready"], false, "{doc}");
    assert_eq!(doc["lost_sites"][0]["lost_site"], "pangyo", "{doc}");

    let direct = site_runbook(dir.path(), false);
    let md = run(&direct, "markdown");
    assert!(
        md.contains("**Runbook 'pangyo' needs nothing from its lost site 'pangyo'"),
        "{md}"
    );
    assert_eq!(
        rows_under(&md, "## Runbooks"),
        [["pangyo", "45.8", "3", "2"]]
    );
}
