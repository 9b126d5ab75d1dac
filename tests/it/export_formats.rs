//! Every export of the fixed Pangyo journal (SPEC "Exports"): snapshots, plus structural
//! checks that would catch a broken format whatever the snapshot says.

use crate::pangyo;

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::run::{assert_exits_2_naming, bringup_cmd};
use bringup::cli::ExportFormat;
use bringup::journal;
use insta::assert_snapshot;
use predicates::prelude::PredicateBooleanExt as _;
use pulldown_cmark::{Event as Md, HeadingLevel, Parser, Tag, TagEnd};

fn fixture(dir: &Path) -> PathBuf {
    let path = dir.join("pangyo.jsonl");
    pangyo::write(&path);
    path
}

fn export(format: ExportFormat) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = journal::read_journal(&fixture(dir.path())).expect("readable");
    bringup::export::render(&j, format).expect("renders")
}

fn bringup() -> assert_cmd::Command {
    bringup_cmd()
}

#[test]
fn markdown_snapshot() {
    assert_snapshot!(export(ExportFormat::Markdown));
}

#[test]
fn status_snapshot() {
    assert_snapshot!(export(ExportFormat::Status));
}

#[test]
fn html_snapshot() {
    assert_snapshot!(export(ExportFormat::Html));
}

#[test]
fn json_snapshot() {
    assert_snapshot!(export(ExportFormat::Json));
}

#[test]
fn csv_snapshot() {
    assert_snapshot!(export(ExportFormat::Csv));
}

/// Headings (level, text) and tables (rows of cell texts) of a Markdown document.
type Table = Vec<Vec<String>>;

fn markdown_structure(md: &str) -> (Vec<(HeadingLevel, String)>, Vec<Table>) {
    let mut headings = Vec::new();
    let mut tables: Vec<Table> = Vec::new();
    let mut heading: Option<(HeadingLevel, String)> = None;
    let mut cell: Option<String> = None;
    for ev in Parser::new_ext(md, pulldown_cmark::Options::ENABLE_TABLES) {
        match ev {
            Md::Start(Tag::Heading { level, .. }) => heading = Some((level, String::new())),
            Md::End(TagEnd::Heading(_)) => headings.extend(heading.take()),
            Md::Start(Tag::Table(_)) => tables.push(Vec::new()),
            Md::Start(Tag::TableHead | Tag::TableRow) => {
                tables.last_mut().expect("in a table").push(Vec::new());
            }
            Md::Start(Tag::TableCell) => cell = Some(String::new()),
            Md::End(TagEnd::TableCell) => {
                let row = tables
                    .last_mut()
                    .and_then(|t| t.last_mut())
                    .expect("in a row");
                row.push(cell.take().unwrap_or_default());
            }
            Md::Text(t) | Md::Code(t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&t);
                } else if let Some((_, h)) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            _ => {}
        }
    }
    (headings, tables)
}

#[test]
fn markdown_has_the_sre_post_mortem_sections_and_impact_table() {
    let md = export(ExportFormat::Markdown);
    let (headings, tables) = markdown_structure(&md);
    assert_eq!(
        headings,
        vec![
            (
                HeadingLevel::H1,
                "Post-mortem: Pangyo DC fire — restore on the secondary site".to_string()
            ),
            (HeadingLevel::H2, "Summary".to_string()),
            (HeadingLevel::H2, "Impact".to_string()),
            (HeadingLevel::H3, "Outages".to_string()),
            (HeadingLevel::H2, "Root causes".to_string()),
            (HeadingLevel::H2, "Trigger".to_string()),
            (HeadingLevel::H2, "Resolution".to_string()),
            (HeadingLevel::H2, "Detection".to_string()),
            (HeadingLevel::H2, "What failed".to_string()),
            (
                HeadingLevel::H3,
                "Restore step 'restart dovecot' of mail on mail-1: failed (exit 89: dovecot: Fatal: mail storage not mounted)".to_string()
            ),
            (HeadingLevel::H2, "Timeline".to_string()),
            (HeadingLevel::H2, "Action items".to_string()),
            (HeadingLevel::H2, "Lessons learned".to_string()),
            (HeadingLevel::H3, "What went well".to_string()),
            (HeadingLevel::H3, "What went wrong".to_string()),
            (HeadingLevel::H3, "Where we got lucky".to_string()),
            (HeadingLevel::H2, "Supporting information".to_string()),
        ]
    );
    assert!(md.contains("**Date:** 2026-11-22"));
    assert!(md.contains("**Status:** Draft — run finished (incomplete)"));
    let impact = &tables[0];
    assert_eq!(impact[0][0], "Service");
    assert_eq!(impact[0][7], "RTO met");
    assert_eq!(impact.len(), 1 + 6, "a row per service");
    let row = |id: &str| {
        impact
            .iter()
            .find(|r| r[0].contains(&format!("({id})")))
            .unwrap_or_else(|| panic!("row for {id}"))
    };
    assert_eq!(row("talk-messaging")[4], "08:22:03");
    assert_eq!(row("talk-messaging")[7], "met");
    assert_eq!(row("pc-login")[7], "missed");
    assert_eq!(row("mail")[2], "failed");
    assert_eq!(row("auth")[7], "n/a");

    // One row per outage, each measured from its own start.
    let outages = &tables[1];
    assert_eq!(outages[0][1], "Outage");
    assert_eq!(outages.len(), 1 + 5, "a row per outage: {outages:?}");
    assert!(
        outages
            .iter()
            .any(|r| r[0] == "pc-login" && r[8] == "missed")
    );
    let timeline = &tables[2];
    assert_eq!(timeline[0], vec!["Time", "Who", "What"]);
    // The pipe in the operator's note stays inside its cell.
    assert!(
        timeline
            .iter()
            .any(|r| r.len() == 3 && r[1] == "lee" && r[2].ends_with("| ticket NET-4411"))
    );
    assert!(
        timeline
            .iter()
            .any(|r| r[1] == "kim" && r[2] == "talk-messaging: approved 'start gateway'")
    );

    let actions = &tables[3];
    let items: Vec<&str> = actions.iter().skip(1).map(|r| r[0].as_str()).collect();
    assert!(
        items
            .iter()
            .any(|i| i.contains("'restart dovecot'") && i.contains("failed"))
    );
    assert!(
        items
            .iter()
            .any(|i| i.contains("'mail-archive' was skipped"))
    );

    let j = journal::read_journal(&fixture(tempfile::tempdir().expect("tempdir").path()))
        .expect("readable");
    assert!(md.contains(&format!("Runbook sha256: `{}`", pangyo::RUNBOOK_SHA)));
    assert!(md.contains(&format!(
        "Journal final hash: `{}`",
        j.report.last_hash.expect("hash")
    )));
    assert!(md.contains("Operators: kim, lee"));
}

#[test]
fn status_lists_imap_as_still_recovering_and_messaging_as_available() {
    let status = export(ExportFormat::Status);
    let (up, rest) = status
        .split_once("## Still recovering")
        .expect("both sections");
    let up = up
        .split_once("## Available now")
        .expect("available section")
        .1;
    assert!(up.contains("- Send and receive messages"));
    assert!(up.contains("- Send and receive mail"));
    assert!(!up.contains("IMAP"));
    assert!(rest.contains("- Read mail in IMAP clients (IMAP)"));
    assert!(rest.contains("- Download large attachments"));
    assert!(!rest.contains("Send and receive messages"));
    assert!(status.contains("As of 2026-11-22 10:00 UTC."));
}

#[test]
fn html_is_self_contained_with_no_network_reference() {
    let html = export(ExportFormat::Html);
    let lower = html.to_lowercase();
    let attr = regex::Regex::new(r"(?i)\s(src|href|xlink:href|srcset|action|poster|data)\s*=")
        .expect("regex");
    assert!(!attr.is_match(&html), "no src/href-like attribute at all");
    for bad in [
        "@import", "url(", "<script", "<link", "<iframe", "<object", "<embed",
    ] {
        assert!(!lower.contains(bad), "found {bad}");
    }
    // Any http(s) text is journal content shown as text, never inside a tag.
    let in_tag = regex::Regex::new(r"<[^>]*(https?:)?//[^>]*>").expect("regex");
    assert!(!in_tag.is_match(&html), "a URL inside a tag");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn html_charts_a_swimlane_per_service_colored_by_state() {
    let html = export(ExportFormat::Html);
    let svg = &html[html.find("<svg").expect("svg")..html.find("</svg>").expect("end")];
    for id in [
        "auth",
        "talk-messaging",
        "media",
        "pc-login",
        "mail",
        "mail-archive",
    ] {
        assert!(
            svg.contains(&format!(" {id}</text>")),
            "lane label for {id}"
        );
    }
    let restored = bringup::export::html::state_color(bringup::engine::ServiceState::Restored);
    assert!(svg.contains(&format!(
        "fill=\"{restored}\"><title>talk-messaging: restored"
    )));
    for h in [
        "Summary",
        "Impact",
        "Root causes",
        "Trigger",
        "Resolution",
        "Detection",
        "Timeline",
        "Action items",
        "Lessons learned",
        "Supporting information",
    ] {
        assert!(html.contains(&format!("<h2>{h}</h2>")));
    }
}

#[test]
fn csv_has_one_row_per_event_and_round_trips_fields() {
    let csv_text = export(ExportFormat::Csv);
    let dir = tempfile::tempdir().expect("tempdir");
    let j = journal::read_journal(&fixture(dir.path())).expect("readable");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    assert_eq!(&headers[0], "seq");
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("valid csv");
    assert_eq!(rows.len(), j.records.len());
    for (row, rec) in rows.iter().zip(&j.records) {
        assert_eq!(row[0].parse::<u64>().expect("seq"), rec.seq);
        assert_eq!(&row[2], rec.event.kind());
        assert_eq!(&row[17], rec.hash);
    }
    // Quoting: the multi-line, comma-bearing output survives.
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    assert!(
        rows.iter()
            .any(|r| &r[col("text")] == "Job for msg-gateway.service failed.\n")
    );
    assert!(
        rows.iter()
            .any(|r| r[col("text")].contains("NO [AUTHENTICATIONFAILED] for admin:***"))
    );
}

#[test]
fn json_is_one_document_with_run_services_metrics_and_events() {
    let json = export(ExportFormat::Json);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("valid json");
    assert_eq!(doc["run"]["runbook_sha256"], pangyo::RUNBOOK_SHA);
    assert_eq!(doc["run"]["mode"], "incident");
    assert_eq!(doc["verification"]["intact"], true);
    let events = doc["events"].as_array().expect("events");
    assert_eq!(events.len(), 84);
    assert_eq!(events[0]["kind"], "run_started");
    assert_eq!(events[1]["prev"], events[0]["hash"]);
    let services = doc["services"].as_array().expect("services");
    let msg = services
        .iter()
        .find(|s| s["id"] == "talk-messaging")
        .expect("messaging");
    assert_eq!(msg["rto"], "met");
    // From the outage's start (the run's, as no incident start was given), not detection.
    assert_eq!(msg["time_to_restore_ms"], 1_323_000);
    let states: Vec<&str> = msg["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .map(|i| i["state"].as_str().expect("state"))
        .collect();
    assert_eq!(
        states,
        ["checking", "down", "restoring", "verifying", "restored"]
    );
    assert_eq!(doc["metrics"]["time_to_first_restored_ms"], 1_323_000);
    let items = doc["action_items"].as_array().expect("action items");
    assert!(
        items.iter().any(|i| i["service"] == "mail-archive"
            && i["what"].as_str().is_some_and(|w| w.contains("skipped"))),
        "{items:?}"
    );
    assert!(doc["metrics"]["time_to_all_restored_ms"].is_null());
}

#[test]
fn export_binary_writes_each_format_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    for (format, needle) in [
        ("markdown", "## Timeline"),
        ("status", "## Still recovering"),
        ("html", "<svg"),
        ("json", "\"events\""),
        ("csv", "seq,ts,kind"),
    ] {
        let out = dir.path().join(format!("out.{format}"));
        bringup()
            .args(["export", "--format", format, "-o"])
            .arg(&out)
            .arg(&path)
            .assert()
            .code(0);
        assert!(
            fs::read_to_string(&out).expect("written").contains(needle),
            "{format}"
        );
    }
}

#[test]
fn export_binary_exits_2_on_an_unreadable_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("gone.jsonl");
    assert_exits_2_naming(
        bringup()
            .args(["export", "--format", "markdown"])
            .arg(&missing),
        &missing,
    );
}

#[test]
fn a_journal_that_fails_verification_still_exports_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixture(dir.path());
    let text = fs::read_to_string(&path).expect("read").replacen(
        "netops on the bridge",
        "netops in the bridge",
        1,
    );
    fs::write(&path, text).expect("write");
    bringup()
        .args(["export", "--format", "markdown"])
        .arg(&path)
        .assert()
        .code(0)
        .stdout(predicates::str::contains("does not verify"))
        .stderr(
            predicates::str::contains("warning").and(predicates::str::contains("hash mismatch")),
        );
}

#[test]
fn csv_turns_formula_looking_cells_into_text() {
    use bringup::journal::{Event, JournalWriter};
    use bringup::runbook::{HostId, ServiceId};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("evil.jsonl");
    let mut w = JournalWriter::create(&path, &[]).expect("create");
    let evil = "=HYPERLINK(\"http://attacker.example\",\"click\")";
    w.append_output(
        &ServiceId::new("mail"),
        "probe",
        &HostId::new("mail-1"),
        evil.as_bytes(),
    )
    .expect("output");
    w.append(&Event::Note {
        operator: "@ops".into(),
        text: "+1 restored".into(),
        provenance: bringup::journal::event::Provenance::default(),
    })
    .expect("note");
    drop(w);
    let j = journal::read_journal(&path).expect("readable");
    let csv_text = bringup::export::render(&j, ExportFormat::Csv).expect("renders");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("valid csv");
    assert_eq!(&rows[0][col("text")], format!("'{evil}"));
    assert_eq!(&rows[1][col("operator")], "'@ops");
    assert_eq!(&rows[1][col("text")], "'+1 restored");
    assert!(
        rows.iter()
            .all(|r| !r.iter().any(|c| c.starts_with(['=', '+', '@'])))
    );
}
