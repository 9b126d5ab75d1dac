//! `bringup export --format scorecard` (and the scorecard in json and html) of a scripted
//! three-tier scenario drill: times to detect and restore from each inject, RTO met or
//! missed by how much, guards tripped, the outcome, and the critical path through a
//! dependency chain; a journal that is no scenario drill is refused with exit 2.

use std::path::Path;

use crate::support::drill::{Script, svc, time};
use assert_cmd::Command;
use bringup::engine::state::ServiceState as S;
use bringup::journal::{DrillOutcome, DrillPhase, Event};
use bringup::runbook::model::HostId;

fn bringup() -> Command {
    Command::cargo_bin("bringup").expect("the bringup binary is built")
}

/// Scenario 'dc-loss' from 09:00:00:
///   dns   tier 1, RTO 300 s: injected 10, down 30, restoring 50..130   → detect 20 s, restore 120 s, met by 180 s
///   db    tier 2, needs dns, RTO 600 s: injected 12, down 32, restoring 135..400 → 20 s, 388 s, met by 212 s
///   cache tier 2, RTO 120 s: injected 14, down 35, restoring 135..200 → 21 s, 186 s, missed by 66 s
///   web   tier 3, needs db, RTO 300 s: injected 16, down 40, restoring 405..500 → 24 s, 484 s, missed by 184 s
///   mail  tier 3, not injected: not on the scorecard.
/// Guard 'api up' trips at 300 s on 'operator' (exit 22). The drill fails.
/// Critical path: web (last up, 500) waited for db (depends_on, up 400 ≤ its start 405; cache
/// was up earlier at 200), db for dns (depends_on, up 130 ≤ 135), dns from its inject at 10:
/// links 10→130 (120 s), 130→400 (270 s), 400→500 (100 s); total 500 − 10 = 490 s.
fn write_drill(path: &Path) {
    let sc = "dc-loss";
    let mut s = Script::start(
        path,
        time("2026-05-10T09:00:00Z"),
        "pangyo",
        Some(sc),
        vec![
            svc("dns", 1, 300, &[]),
            svc("db", 2, 600, &["dns"]),
            svc("cache", 2, 120, &[]),
            svc("web", 3, 300, &["db"]),
            svc("mail", 3, 300, &[]),
        ],
        &[],
    );
    s.phase(1.0, sc, DrillPhase::Baseline);
    for id in ["dns", "db", "cache", "web", "mail"] {
        s.healthy(2.0, id);
    }
    s.phase(10.0, sc, DrillPhase::Inject);
    for (at, id) in [(10.0, "dns"), (12.0, "db"), (14.0, "cache"), (16.0, "web")] {
        s.inject(at, id, &format!("{id}-1"));
    }
    s.phase(20.0, sc, DrillPhase::Detect);
    for id in ["dns", "db", "cache", "web"] {
        s.state(21.0, id, S::Healthy, S::Checking);
    }
    s.state(30.0, "dns", S::Checking, S::Down);
    s.state(32.0, "db", S::Checking, S::Down);
    s.state(35.0, "cache", S::Checking, S::Down);
    s.state(40.0, "web", S::Checking, S::Down);
    s.phase(45.0, sc, DrillPhase::Restore);
    s.state(50.0, "dns", S::Down, S::Restoring);
    s.state(130.0, "dns", S::Restoring, S::Restored);
    s.state(135.0, "db", S::Down, S::Restoring);
    s.state(135.0, "cache", S::Down, S::Restoring);
    s.state(200.0, "cache", S::Restoring, S::Restored);
    s.at(
        300.0,
        Event::GuardTripped {
            guard: "api up".into(),
            host: HostId::new("operator"),
            exit_code: Some(22),
            error: None,
        },
    );
    s.state(400.0, "db", S::Restoring, S::Restored);
    s.state(405.0, "web", S::Down, S::Restoring);
    s.state(500.0, "web", S::Restoring, S::Restored);
    s.phase(510.0, sc, DrillPhase::Cleanup);
    s.finished(
        520.0,
        sc,
        DrillOutcome::Failed,
        Some("guard 'api up' tripped"),
    );
    s.run_finished(521.0);
}

fn export(path: &Path, format: &str) -> String {
    let out = bringup()
        .args(["export", "--format", format])
        .arg(path)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The cells of the markdown table row whose first cell is `first`, under `heading`.
fn row(md: &str, heading: &str, first: &str) -> Vec<String> {
    let section = md.split(heading).nth(1).expect("the section");
    let section = section.split("\n## ").next().expect("its body");
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().replace('\\', ""))
                .collect::<Vec<_>>()
        })
        .find(|cells| cells[0] == first)
        .unwrap_or_else(|| panic!("no row '{first}' under {heading}:\n{md}"))
}

#[test]
fn the_json_scorecard_has_detect_and_restore_times_from_each_inject_and_rto_margins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("drill.jsonl");
    write_drill(&path);
    let doc: serde_json::Value = serde_json::from_str(&export(&path, "json")).expect("json");
    let sc = &doc["scorecard"];
    assert_eq!(sc["scenario"], "dc-loss");
    assert_eq!(sc["outcome"], "failed");
    assert_eq!(sc["reason"], "guard 'api up' tripped");
    let services = sc["services"].as_array().expect("services");
    let ids: Vec<&str> = services
        .iter()
        .map(|s| s["service"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["dns", "db", "cache", "web"], "mail was not injected");
    // (service, injected at, time to detect, time to restore, rto, margin), by hand above.
    let expected = [
        (
            "dns",
            "2026-05-10T09:00:10.000Z",
            20_000,
            120_000,
            "met",
            180_000,
        ),
        (
            "db",
            "2026-05-10T09:00:12.000Z",
            20_000,
            388_000,
            "met",
            212_000,
        ),
        (
            "cache",
            "2026-05-10T09:00:14.000Z",
            21_000,
            186_000,
            "missed",
            -66_000,
        ),
        (
            "web",
            "2026-05-10T09:00:16.000Z",
            24_000,
            484_000,
            "missed",
            -184_000,
        ),
    ];
    for (s, (id, injected, ttd, ttr, rto, margin)) in services.iter().zip(expected) {
        assert_eq!(s["service"], id);
        assert_eq!(s["injected_at"], injected, "{id}");
        assert_eq!(s["time_to_detect_ms"], ttd, "{id}");
        assert_eq!(s["time_to_restore_ms"], ttr, "{id}");
        assert_eq!(s["rto"], rto, "{id}");
        assert_eq!(s["rto_margin_ms"], margin, "{id}");
    }
    assert_eq!(sc["rto_met"], 2);
    assert_eq!(sc["rto_missed"], 2);
    let guards = sc["guards_tripped"].as_array().expect("guards");
    assert_eq!(guards.len(), 1);
    assert_eq!(guards[0]["guard"], "api up");
    assert_eq!(guards[0]["host"], "operator");
    assert_eq!(guards[0]["exit_code"], 22);
}

#[test]
fn the_critical_path_runs_through_the_dependency_chain_back_to_the_first_inject() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("drill.jsonl");
    write_drill(&path);
    let doc: serde_json::Value = serde_json::from_str(&export(&path, "json")).expect("json");
    let sc = &doc["scorecard"];
    let path_links: Vec<(&str, &str, i64)> = sc["critical_path"]
        .as_array()
        .expect("path")
        .iter()
        .map(|l| {
            (
                l["service"].as_str().expect("service"),
                l["via"].as_str().expect("via"),
                l["ms"].as_i64().expect("ms"),
            )
        })
        .collect();
    assert_eq!(
        path_links,
        [
            ("dns", "inject", 120_000),
            ("db", "depends_on", 270_000),
            ("web", "depends_on", 100_000)
        ]
    );
    assert_eq!(sc["first_inject"], "2026-05-10T09:00:10.000Z");
    assert_eq!(sc["last_restored"], "2026-05-10T09:08:20.000Z");
    assert_eq!(sc["total_ms"], 490_000);
    assert_eq!(
        120_000 + 270_000 + 100_000,
        490_000,
        "the links add up to the total"
    );
}

#[test]
fn the_markdown_scorecard_rows_say_met_or_missed_by_how_much_and_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("drill.jsonl");
    write_drill(&path);
    let md = export(&path, "scorecard");
    assert!(
        md.starts_with("# Drill scorecard: pangyo — scenario dc-loss"),
        "{md}"
    );
    assert!(
        md.contains("**Outcome:** failed: guard 'api up' tripped"),
        "{md}"
    );
    assert!(
        md.contains("**RTO:** 2 met, 2 missed of 4 injected"),
        "{md}"
    );
    assert!(
        md.contains("09:05:00 'api up' on operator: exit 22"),
        "{md}"
    );
    // Service | Tier | Injected at | Detected at | Time to detect | Restored at | Time to restore | RTO | Result | Depends on
    assert_eq!(
        row(&md, "## Injected services", "dns"),
        [
            "dns",
            "1",
            "09:00:10",
            "09:00:30",
            "20.0 s",
            "09:02:10",
            "2m 00s",
            "5m 00s",
            "met (3m 00s to spare)",
            "—"
        ]
    );
    assert_eq!(
        row(&md, "## Injected services", "cache")[8],
        "missed by 1m 06s"
    );
    let web = row(&md, "## Injected services", "web");
    assert_eq!(web[6], "8m 04s");
    assert_eq!(web[8], "missed by 3m 04s");
    assert_eq!(web[9], "db");
    assert!(
        !md.contains("| mail |"),
        "a service not injected is not on the scorecard"
    );
    // # | Service | Tier | Waited for | From | To | Time
    assert_eq!(
        row(&md, "## Critical path", "2"),
        [
            "2",
            "db",
            "2",
            "dns (dependency)",
            "09:02:10",
            "09:06:40",
            "4m 30s"
        ]
    );
    assert_eq!(row(&md, "## Critical path", "1")[3], "— (from its inject)");
    assert_eq!(row(&md, "## Critical path", "3")[1], "web");
    assert!(md.contains("Total 8m 10s: from the first inject"), "{md}");
    assert!(md.contains("set by dns → db → web."), "{md}");
}

#[test]
fn the_html_export_of_a_drill_carries_the_scorecard_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("drill.jsonl");
    write_drill(&path);
    let html = export(&path, "html");
    let section = html
        .split("<h2 id=\"scorecard\">")
        .nth(1)
        .expect("a scorecard section");
    assert!(section.contains("<td>missed by 3m 04s</td>"), "{section}");
    assert!(section.contains("<td>dns (dependency)</td>"), "{section}");
    assert!(
        section.contains("guard &#39;api up&#39; tripped"),
        "{section}"
    );
}

#[test]
fn a_journal_that_is_no_scenario_drill_is_refused_with_exit_2_and_no_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("incident.jsonl");
    let mut s = Script::start(
        &path,
        time("2026-05-10T09:00:00Z"),
        "pangyo",
        None,
        vec![svc("dns", 1, 300, &[])],
        &[],
    );
    s.restore(5.0, 6.0, 60.0, "dns");
    s.run_finished(61.0);
    drop(s);
    let out = bringup()
        .args(["export", "--format", "scorecard"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no report on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a scenario drill"), "{err}");
    // Its json has no scorecard object; it still exports.
    let doc: serde_json::Value = serde_json::from_str(&export(&path, "json")).expect("json");
    assert!(doc.get("scorecard").is_none());
}
