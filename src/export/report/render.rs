//! The history report as markdown, as one self-contained html page (inline CSS and SVG: no
//! scripts, no network reference) and as json. Only renders a [`History`]; every journal text
//! is escaped for its format. Each opens with what its numbers rest on: how many journals
//! are unsealed claims, or which signers the counted ones were verified against.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{History, LastDrill, Lowered, RULE, Row, ServiceHistory, Used};
use crate::export::describe::mode_word;
use crate::export::html::{esc, html_table, list};
use crate::export::markdown::{cell, md_table};
use crate::export::metrics::{Rto, full_time, human_ms};
use crate::export::scorecard::render::{EvidenceOut, evidence_out};
use crate::journal::record::format_ts;

fn dash() -> String {
    "—".to_string()
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn every(ms: Option<u64>) -> String {
    ms.map_or_else(dash, |ms| {
        let days = ms / 86_400_000;
        if days * 86_400_000 == ms {
            format!("{days}d")
        } else {
            human_ms(i64::try_from(ms).unwrap_or(i64::MAX))
        }
    })
}

fn rate(s: &ServiceHistory) -> String {
    s.met_rate().map_or_else(dash, |r| {
        format!("{}/{} ({:.0} %)", s.met, s.met + s.missed, r * 100.0)
    })
}

fn last_word(s: &ServiceHistory) -> &'static str {
    match s.last_drill {
        Some(LastDrill::Met) => "met",
        Some(LastDrill::Missed) => "missed",
        None => "never drilled",
    }
}

/// One line per service past its `drill_every`.
pub fn overdue_lines(h: &History) -> Vec<String> {
    h.services
        .iter()
        .filter(|s| s.overdue)
        .map(|s| {
            let when = match (s.last_drilled, s.days_since) {
                (Some(t), Some(d)) => format!("last drilled {} ({d} days ago)", day(t)),
                _ => "never drilled".to_string(),
            };
            format!(
                "{} / {}: {when}; drill_every {}",
                s.runbook,
                s.id,
                every(s.drill_every_ms)
            )
        })
        .collect()
}

pub fn skipped_lines(h: &History) -> Vec<String> {
    h.skipped
        .iter()
        .map(|s| format!("'{}': {}", s.path, s.why.line(h.as_of)))
        .collect()
}

fn plural(count: usize, word: &str) -> String {
    format!("{count} {word}{}", if count == 1 { "" } else { "s" })
}

/// The first lines: what the counted journals prove.
pub fn evidence_lines(h: &History) -> Vec<String> {
    if let Some(signers) = &h.signers {
        return vec![format!(
            "Evidence: only journals sealed and verified against the allowed signers '{signers}' are counted ({} counted); {} not counted, each with why under \"Not counted\".",
            h.used.len(),
            plural(h.skipped.len(), "journal")
        )];
    }
    let (unsealed, unchecked) = (h.unsealed(), h.not_checked());
    let mut out = Vec::new();
    if unsealed > 0 {
        out.push(format!(
            "Unsealed: {unsealed} of {} counted journals are unsealed: their results are claims, not evidence. Seal journals with `bringup seal` and pass `--allowed-signers FILE` to count only sealed and verified ones.",
            h.used.len()
        ));
    }
    if unchecked > 0 {
        out.push(format!(
            "Not checked: {} sealed, {} not checked (no `--allowed-signers FILE`).",
            plural(unchecked, "counted journal"),
            if unchecked == 1 {
                "its signature"
            } else {
                "their signatures"
            }
        ));
    }
    out
}

pub const JOURNAL_HEADER: [&str; 5] = ["Started", "Mode", "Runbook", "Journal", "Evidence"];

pub fn journal_rows(h: &History) -> Vec<[String; 5]> {
    h.used
        .iter()
        .map(|u: &Used| {
            [
                u.started.format("%Y-%m-%d %H:%M").to_string(),
                mode_word(u.mode).to_string(),
                u.runbook.clone(),
                u.path.clone(),
                u.evidence.word(),
            ]
        })
        .collect()
}

fn lowered_word(l: &Lowered) -> String {
    let what = match l.rto {
        Rto::NotApplicable => "not restored".to_string(),
        r => format!("RTO {}", r.as_str()),
    };
    format!("incident '{}' of {} ({what})", l.path, day(l.started))
}

/// The opening line: as of when, journals counted and not.
pub fn summary_line(h: &History) -> String {
    let drills = h
        .used
        .iter()
        .filter(|u| u.mode == crate::engine::state::Mode::Drill)
        .count();
    format!(
        "As of {}. {} counted ({}, {}), {} not counted.",
        full_time(h.as_of),
        plural(h.used.len(), "journal"),
        plural(drills, "drill"),
        plural(h.used.len() - drills, "incident"),
        h.skipped.len()
    )
}

pub const RUNBOOK_HEADER: [&str; 4] = ["Runbook", "Score", "Services", "Past drill_every"];
pub const SERVICE_HEADER: [&str; 10] = [
    "Runbook",
    "Service",
    "Last drilled",
    "Last drill",
    "Days since",
    "Score",
    "Lowered by",
    "RTO met",
    "drill_every",
    "Past due",
];
pub const TREND_HEADER: [&str; 6] = [
    "Date",
    "Mode",
    "Scenario",
    "Time to restore",
    "RTO",
    "Journal",
];

/// What `--runbook` found of lost sites, for the report's first lines.
pub fn lost_site_lines(h: &History) -> Vec<String> {
    h.lost_sites
        .iter()
        .map(|c| match &c.lost_site {
            None => format!(
                "Runbook '{}' declares no lost_site: whether it survives the loss of a site was not checked.",
                c.runbook
            ),
            Some(site) if c.dependencies.is_empty() => format!(
                "Runbook '{}' needs nothing from its lost site '{site}' (its structure: jump hosts, step hosts, webhooks; run `bringup preflight --lost-site` on the operators' machines for their resolvers, mounts and journals).",
                c.runbook
            ),
            Some(site) => format!(
                "NOT READY: runbook '{}' depends on its lost site '{site}', whatever its drills say: {}.",
                c.runbook,
                c.dependencies
                    .iter()
                    .map(|d| format!("DEPENDS ON LOST SITE: {d}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        })
        .collect()
}

pub fn runbook_rows(h: &History) -> Vec<[String; 4]> {
    h.runbooks
        .iter()
        .map(|r| {
            [
                r.runbook.clone(),
                match h.depends_on_lost_site(&r.runbook) {
                    Some(c) => format!(
                        "{:.1}, NOT READY: depends on its lost site '{}'",
                        r.score,
                        c.lost_site.as_deref().unwrap_or_default()
                    ),
                    None => format!("{:.1}", r.score),
                },
                r.services.to_string(),
                r.overdue.to_string(),
            ]
        })
        .collect()
}

pub fn service_rows(h: &History) -> Vec<[String; 10]> {
    h.services
        .iter()
        .map(|s| {
            [
                s.runbook.clone(),
                s.id.to_string(),
                s.last_drilled.map_or_else(dash, day),
                last_word(s).to_string(),
                s.days_since.map_or_else(dash, |d| d.to_string()),
                format!("{:.1}", s.score),
                s.lowered_by.as_ref().map_or_else(dash, lowered_word),
                rate(s),
                every(s.drill_every_ms),
                if s.overdue { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect()
}

pub fn trend_rows(s: &ServiceHistory) -> Vec<[String; 6]> {
    s.rows
        .iter()
        .map(|r| {
            [
                r.started.format("%Y-%m-%d %H:%M").to_string(),
                mode_word(r.mode).to_string(),
                r.scenario.clone().unwrap_or_else(dash),
                r.time_to_restore_ms.map_or_else(dash, human_ms),
                r.rto.as_str().to_string(),
                r.path.clone(),
            ]
        })
        .collect()
}

fn trend_heading(s: &ServiceHistory) -> String {
    let rto = s
        .rto_ms
        .and_then(|r| i64::try_from(r).ok())
        .map_or_else(|| "no RTO".to_string(), |r| format!("RTO {}", human_ms(r)));
    format!("{} / {} ({rto})", s.runbook, s.id)
}

fn md_list(out: &mut String, items: &[String], none: &str) {
    if items.is_empty() {
        let _ = writeln!(out, "{none}");
    }
    for i in items {
        let _ = writeln!(out, "- {}", cell(i));
    }
}

pub fn markdown(h: &History) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("# Readiness report\n\n");
    for line in evidence_lines(h) {
        let _ = writeln!(out, "**{}**\n", cell(&line));
    }
    for line in lost_site_lines(h) {
        let _ = writeln!(out, "**{}**\n", cell(&line));
    }
    let _ = writeln!(out, "{}\n\n{RULE}\n", summary_line(h));
    out.push_str("## Runbooks\n\n");
    md_table(&mut out, &RUNBOOK_HEADER, &runbook_rows(h));
    out.push_str("\n## Services\n\n");
    md_table(&mut out, &SERVICE_HEADER, &service_rows(h));
    out.push_str("\n## Past drill_every\n\n");
    md_list(
        &mut out,
        &overdue_lines(h),
        "No service is past its drill_every.",
    );
    out.push_str("\n## Time to restore over time\n\nOne row per journal, oldest first; drills measure from the inject.\n");
    for s in &h.services {
        let _ = writeln!(out, "\n### {}\n", cell(&trend_heading(s)));
        if s.rows.is_empty() {
            out.push_str("Never down in these journals.\n");
        } else {
            md_table(&mut out, &TREND_HEADER, &trend_rows(s));
        }
    }
    out.push_str("\n## Journals counted\n\nOldest first.\n\n");
    md_table(&mut out, &JOURNAL_HEADER, &journal_rows(h));
    out.push_str("\n## Not counted\n\n");
    md_list(
        &mut out,
        &skipped_lines(h),
        "None: every journal given was counted.",
    );
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.7rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.rule{background:#f4f8ff;border-left:4px solid #1565c0;padding:.5rem 1rem}
.trend{display:flex;gap:1.5rem;align-items:flex-start;flex-wrap:wrap;margin-bottom:1rem}.trend table{width:auto;flex:1}
svg text{font-family:system-ui,sans-serif;font-size:11px}.due{color:#c62828;font-weight:600}
.evidence{background:#fff4e5;border-left:4px solid #e65100;padding:.5rem 1rem}";

const CHART_W: f64 = 360.0;
const CHART_H: f64 = 130.0;
const PAD_L: f64 = 52.0;
const PAD_R: f64 = 12.0;
const PAD_T: f64 = 10.0;
const PAD_B: f64 = 24.0;

fn color(rto: Rto) -> &'static str {
    match rto {
        Rto::Met => "#2e7d32",
        Rto::Missed | Rto::NotRestored => "#c62828",
        Rto::Pending | Rto::NotApplicable => "#757575",
    }
}

/// Time to restore per journal over the report's span, with the RTO as a dashed line.
#[allow(clippy::cast_precision_loss)]
pub fn chart(s: &ServiceHistory, span: (DateTime<Utc>, DateTime<Utc>)) -> String {
    let points: Vec<(&Row, i64)> = s
        .rows
        .iter()
        .filter_map(|r| Some((r, r.time_to_restore_ms?)))
        .collect();
    let rto = s.rto_ms.and_then(|r| i64::try_from(r).ok());
    let top_ms = points
        .iter()
        .map(|(_, v)| *v)
        .chain(rto)
        .max()
        .unwrap_or(1)
        .max(1)
        .saturating_mul(115)
        / 100;
    let top = top_ms.max(1) as f64;
    let (t0, t1) = span;
    let width = (t1 - t0).num_milliseconds().max(1) as f64;
    let plot_w = CHART_W - PAD_L - PAD_R;
    let plot_h = CHART_H - PAD_T - PAD_B;
    let x = |t: DateTime<Utc>| {
        if t1 == t0 {
            PAD_L + plot_w / 2.0
        } else {
            PAD_L + (t - t0).num_milliseconds() as f64 / width * plot_w
        }
    };
    let y = |v: i64| PAD_T + plot_h - v as f64 / top * plot_h;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg width=\"{CHART_W}\" height=\"{CHART_H}\" viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" aria-label=\"time to restore of {}\">",
        esc(s.id.as_str())
    );
    let base = PAD_T + plot_h;
    let _ = write!(
        out,
        "<line x1=\"{PAD_L}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#999\"/><line x1=\"{PAD_L}\" y1=\"{PAD_T}\" x2=\"{PAD_L}\" y2=\"{base}\" stroke=\"#999\"/>",
        CHART_W - PAD_R
    );
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>",
        PAD_L - 4.0,
        PAD_T + 8.0,
        esc(&human_ms(top_ms)),
        PAD_L - 4.0
    );
    if let Some(r) = rto {
        let ry = y(r);
        let _ = write!(
            out,
            "<line x1=\"{PAD_L}\" y1=\"{ry:.1}\" x2=\"{}\" y2=\"{ry:.1}\" stroke=\"#1565c0\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1565c0\">RTO</text>",
            CHART_W - PAD_R,
            CHART_W - PAD_R,
            ry - 3.0
        );
    }
    let _ = write!(
        out,
        "<text x=\"{PAD_L}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        CHART_H - 6.0,
        day(t0),
        CHART_W - PAD_R,
        CHART_H - 6.0,
        day(t1)
    );
    if points.len() > 1 {
        let path: Vec<String> = points
            .iter()
            .map(|(r, v)| format!("{:.1},{:.1}", x(r.started), y(*v)))
            .collect();
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#9e9e9e\"/>",
            path.join(" ")
        );
    }
    for (r, v) in &points {
        let _ = write!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\"><title>{} {}: {}</title></circle>",
            x(r.started),
            y(*v),
            color(r.rto),
            day(r.started),
            mode_word(r.mode),
            esc(&human_ms(*v))
        );
    }
    out.push_str("</svg>");
    out
}

pub fn html(h: &History) -> String {
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Readiness report</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<h1>Readiness report</h1>\n"
    );
    for line in evidence_lines(h) {
        let _ = writeln!(
            out,
            "<p class=\"evidence\"><strong>{}</strong></p>",
            esc(&line)
        );
    }
    for line in lost_site_lines(h) {
        let _ = writeln!(
            out,
            "<p class=\"evidence\"><strong>{}</strong></p>",
            esc(&line)
        );
    }
    let _ = writeln!(
        out,
        "<p>{}</p>\n<p class=\"rule\">{}</p>",
        esc(&summary_line(h)),
        esc(RULE)
    );
    out.push_str("<h2>Runbooks</h2>\n");
    html_table(&mut out, &RUNBOOK_HEADER, &runbook_rows(h));
    out.push_str("<h2>Services</h2>\n");
    html_table(&mut out, &SERVICE_HEADER, &service_rows(h));
    out.push_str("<h2>Past drill_every</h2>\n");
    list(
        &mut out,
        &overdue_lines(h),
        "No service is past its drill_every.",
    );
    out.push_str("<h2>Time to restore over time</h2>\n<p>One row per journal, oldest first; drills measure from the inject. Green: RTO met; red: missed; dashed: the RTO.</p>\n");
    let span = (
        h.used.first().map_or(h.as_of, |u| u.started),
        h.used.last().map_or(h.as_of, |u| u.started),
    );
    for s in &h.services {
        let _ = writeln!(out, "<h3>{}</h3>", esc(&trend_heading(s)));
        if s.rows.is_empty() {
            out.push_str("<p>Never down in these journals.</p>\n");
            continue;
        }
        out.push_str("<div class=\"trend\">");
        out.push_str(&chart(s, span));
        html_table(&mut out, &TREND_HEADER, &trend_rows(s));
        out.push_str("</div>\n");
    }
    out.push_str("<h2>Journals counted</h2>\n");
    html_table(&mut out, &JOURNAL_HEADER, &journal_rows(h));
    out.push_str("<h2>Not counted</h2>\n");
    list(
        &mut out,
        &skipped_lines(h),
        "None: every journal given was counted.",
    );
    out.push_str("</body>\n</html>\n");
    out
}

#[derive(Serialize)]
struct Doc<'a> {
    format: &'static str,
    format_version: u32,
    as_of: String,
    rule: &'static str,
    /// The allowed signers file, when only sealed and verified journals count.
    allowed_signers: Option<&'a str>,
    /// Counted journals with no seal: their results are claims.
    unsealed: usize,
    journals: Vec<UsedOut<'a>>,
    not_counted: Vec<SkippedOut<'a>>,
    runbooks: Vec<RunbookOut<'a>>,
    services: Vec<ServiceOut<'a>>,
    /// `--runbook`: each runbook checked against the loss of its `lost_site`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    lost_sites: Vec<LostSiteOut<'a>>,
}

#[derive(Serialize)]
struct LostSiteOut<'a> {
    runbook: &'a str,
    path: &'a str,
    lost_site: Option<&'a str>,
    ready: bool,
    dependencies: &'a [String],
}

#[derive(Serialize)]
struct UsedOut<'a> {
    path: &'a str,
    runbook: &'a str,
    mode: &'static str,
    scenario: Option<&'a str>,
    started: String,
    evidence: EvidenceOut<'a>,
}

#[derive(Serialize)]
struct SkippedOut<'a> {
    path: &'a str,
    /// unusable, no_run_started, unsealed, seal_refuted, duplicate, dated_in_the_future.
    reason: &'static str,
    /// For a duplicate: the journal counted instead.
    duplicate_of: Option<&'a str>,
    why: String,
}

#[derive(Serialize)]
struct LoweredOut<'a> {
    journal: &'a str,
    started: String,
    outage_started: String,
    rto: &'static str,
    days_since: i64,
}

#[derive(Serialize)]
struct RunbookOut<'a> {
    runbook: &'a str,
    score: f64,
    services: usize,
    past_drill_every: usize,
}

#[derive(Serialize)]
struct ServiceOut<'a> {
    runbook: &'a str,
    service: &'a str,
    name: &'a str,
    rto_ms: Option<u64>,
    last_drilled: Option<String>,
    last_drill: Option<&'static str>,
    days_since: Option<i64>,
    /// The failed incident after the last passing drill that set the score, if any.
    lowered_by: Option<LoweredOut<'a>>,
    base_score: u32,
    score: f64,
    rto_met: usize,
    rto_missed: usize,
    rto_met_rate: Option<f64>,
    drill_every_ms: Option<u64>,
    past_drill_every: bool,
    /// Oldest first.
    history: Vec<RowOut<'a>>,
}

#[derive(Serialize)]
struct RowOut<'a> {
    journal: &'a str,
    started: String,
    mode: &'static str,
    scenario: Option<&'a str>,
    time_to_restore_ms: Option<i64>,
    rto: &'static str,
}

pub fn json(h: &History) -> Result<String, serde_json::Error> {
    let doc = Doc {
        format: "bringup-report",
        format_version: 2,
        as_of: format_ts(h.as_of),
        rule: RULE,
        allowed_signers: h.signers.as_deref(),
        unsealed: h.unsealed(),
        journals: h
            .used
            .iter()
            .map(|u| UsedOut {
                path: &u.path,
                runbook: &u.runbook,
                mode: mode_word(u.mode),
                scenario: u.scenario.as_deref(),
                started: format_ts(u.started),
                evidence: evidence_out(&u.evidence),
            })
            .collect(),
        not_counted: h
            .skipped
            .iter()
            .map(|s| SkippedOut {
                path: &s.path,
                reason: s.why.code(),
                duplicate_of: match &s.why {
                    super::Why::Duplicate { of, .. } => Some(of),
                    _ => None,
                },
                why: s.why.line(h.as_of),
            })
            .collect(),
        runbooks: h
            .runbooks
            .iter()
            .map(|r| RunbookOut {
                runbook: &r.runbook,
                score: r.score,
                services: r.services,
                past_drill_every: r.overdue,
            })
            .collect(),
        lost_sites: h
            .lost_sites
            .iter()
            .map(|c| LostSiteOut {
                runbook: &c.runbook,
                path: &c.path,
                lost_site: c.lost_site.as_deref(),
                ready: c.ready(),
                dependencies: &c.dependencies,
            })
            .collect(),
        services: h
            .services
            .iter()
            .map(|s| ServiceOut {
                runbook: &s.runbook,
                service: s.id.as_str(),
                name: &s.name,
                rto_ms: s.rto_ms,
                last_drilled: s.last_drilled.map(format_ts),
                last_drill: s.last_drill.map(|_| last_word(s)),
                days_since: s.days_since,
                lowered_by: s.lowered_by.as_ref().map(|l| LoweredOut {
                    journal: &l.path,
                    started: format_ts(l.started),
                    outage_started: format_ts(l.outage_started),
                    rto: l.rto.as_str(),
                    days_since: l.days_since,
                }),
                base_score: s.base,
                score: s.score,
                rto_met: s.met,
                rto_missed: s.missed,
                rto_met_rate: s.met_rate(),
                drill_every_ms: s.drill_every_ms,
                past_drill_every: s.overdue,
                history: s
                    .rows
                    .iter()
                    .map(|r| RowOut {
                        journal: &r.path,
                        started: format_ts(r.started),
                        mode: mode_word(r.mode),
                        scenario: r.scenario.as_deref(),
                        time_to_restore_ms: r.time_to_restore_ms,
                        rto: r.rto.as_str(),
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut out = serde_json::to_string_pretty(&doc)?;
    out.push('\n');
    Ok(out)
}
