//! The scorecard as markdown (`export --format scorecard`), as a section of the html export
//! and as the json export's `scorecard` object. Only renders a [`Scorecard`]; every journal
//! text is escaped for its format.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{Injected, Link, Scorecard, Via};
use crate::export::html::{esc, html_table};
use crate::export::markdown::{cell, clock, md_table};
use crate::export::metrics::{Rto, full_time, human_ms};
use crate::journal::event::DrillOutcome;
use crate::journal::record::format_ts;
use crate::journal::seal::Evidence;
use crate::runbook::model::ServiceId;

pub const SERVICES_HEADER: [&str; 10] = [
    "Service",
    "Tier",
    "Injected at",
    "Detected at",
    "Time to detect",
    "Restored at",
    "Time to restore",
    "RTO",
    "Result",
    "Depends on",
];

pub const TIME_HEADER: [&str; 5] = [
    "Service",
    "Time to restore",
    "Waiting for approval",
    "Running commands",
    "Other (dependencies, retry delays, manual steps)",
];

/// Where each restored service's time to restore went, plain text: waiting for an
/// approval is people, running commands is the runbook, the rest is the plan's order.
pub fn time_rows(sc: &Scorecard) -> Vec<[String; 5]> {
    sc.services
        .iter()
        .filter_map(|s| {
            let total = s.time_to_restore_ms?;
            let spent = s.spent;
            let other = (total - spent.waiting_for_approval_ms - spent.running_commands_ms).max(0);
            Some([
                s.id.to_string(),
                human_ms(total),
                human_ms(spent.waiting_for_approval_ms),
                human_ms(spent.running_commands_ms),
                human_ms(other),
            ])
        })
        .collect()
}

pub const PATH_HEADER: [&str; 7] = ["#", "Service", "Tier", "Waited for", "From", "To", "Time"];

fn dash() -> String {
    "—".to_string()
}

fn dur(v: Option<i64>) -> String {
    v.map_or_else(dash, human_ms)
}

fn at(t: Option<DateTime<Utc>>, day0: Option<NaiveDate>) -> String {
    t.map_or_else(dash, |t| clock(t, day0))
}

/// "met (1m 00s to spare)", "missed by 30.0 s", "not restored", "n/a (no RTO)".
pub fn result(s: &Injected) -> String {
    match (s.rto, s.rto_margin_ms) {
        (Rto::Met, Some(m)) => format!("met ({} to spare)", human_ms(m)),
        (Rto::Missed, Some(m)) => format!("missed by {}", human_ms(-m)),
        (Rto::NotApplicable, _) if s.rto_ms.is_none() => "n/a (no RTO)".to_string(),
        (Rto::NotApplicable, _) => "not detected (the inject broke nothing)".to_string(),
        (r, _) => r.as_str().to_string(),
    }
}

/// "passed", "failed: cleanup found 'db' down", "not finished".
pub fn outcome_line(sc: &Scorecard) -> String {
    match (sc.outcome, &sc.reason) {
        (Some(DrillOutcome::Passed), _) => "passed".to_string(),
        (Some(DrillOutcome::Failed), Some(r)) => format!("failed: {r}"),
        (Some(DrillOutcome::Failed), None) => "failed".to_string(),
        (None, _) => "not finished (no drill_phase 'finished' in the journal)".to_string(),
    }
}

fn day0(sc: &Scorecard) -> Option<NaiveDate> {
    sc.started.or(sc.first_inject).map(|t| t.date_naive())
}

/// The services table's cells, plain text (renderers escape them).
pub fn service_rows(sc: &Scorecard) -> Vec<[String; 10]> {
    let day0 = day0(sc);
    sc.services
        .iter()
        .map(|s| {
            let deps: Vec<&str> = s.depends_on.iter().map(ServiceId::as_str).collect();
            [
                s.id.to_string(),
                s.tier.to_string(),
                clock(s.injected_at, day0),
                at(s.detected_at, day0),
                dur(s.time_to_detect_ms),
                at(s.restored_at, day0),
                dur(s.time_to_restore_ms),
                s.rto_ms
                    .and_then(|r| i64::try_from(r).ok())
                    .map_or_else(dash, human_ms),
                result(s),
                if deps.is_empty() {
                    dash()
                } else {
                    deps.join(", ")
                },
            ]
        })
        .collect()
}

fn waited(path: &[Link], i: usize) -> String {
    let l = &path[i];
    match (l.via, i.checked_sub(1).map(|p| &path[p])) {
        (Via::DependsOn, Some(p)) => format!("{} (dependency)", p.service),
        (Via::Tier, Some(p)) => format!("{} (lower tier {})", p.service, p.tier),
        _ => "— (from its inject)".to_string(),
    }
}

/// The critical path's cells, plain text.
pub fn path_rows(sc: &Scorecard) -> Vec<[String; 7]> {
    let day0 = day0(sc);
    (0..sc.critical_path.len())
        .map(|i| {
            let l = &sc.critical_path[i];
            [
                (i + 1).to_string(),
                l.service.to_string(),
                l.tier.to_string(),
                waited(&sc.critical_path, i),
                clock(l.from, day0),
                clock(l.to, day0),
                human_ms(l.ms),
            ]
        })
        .collect()
}

/// The one-line statement of the total and its path.
pub fn path_line(sc: &Scorecard) -> String {
    let chain: Vec<&str> = sc
        .critical_path
        .iter()
        .map(|l| l.service.as_str())
        .collect();
    match (sc.total_ms, sc.first_inject, sc.last_restored) {
        (Some(total), Some(a), Some(b)) => format!(
            "Total {}: from the first inject ({}) to the last restore ({}), set by {}.",
            human_ms(total),
            full_time(a),
            full_time(b),
            chain.join(" → ")
        ),
        _ if chain.is_empty() => "No injected service was restored: there is no path.".into(),
        _ => format!(
            "Not every injected service was restored; the path so far: {}.",
            chain.join(" → ")
        ),
    }
}

pub fn guard_lines(sc: &Scorecard) -> Vec<String> {
    let day0 = day0(sc);
    sc.guards
        .iter()
        .map(|g| {
            let why = match (&g.error, g.exit_code) {
                (Some(e), _) => e.clone(),
                (None, Some(c)) => format!("exit {c}"),
                (None, None) => "failed".into(),
            };
            format!("{} '{}' on {}: {why}", clock(g.at, day0), g.guard, g.host)
        })
        .collect()
}

/// `export --format scorecard`.
pub fn markdown(sc: &Scorecard) -> String {
    let mut out = String::with_capacity(2048);
    let _ = writeln!(
        out,
        "# Drill scorecard: {} — scenario {}\n",
        cell(&sc.runbook),
        cell(&sc.scenario)
    );
    if let Some(e) = &sc.evidence {
        let _ = writeln!(out, "- **Evidence:** {}", cell(&e.describe()));
    }
    let _ = writeln!(out, "- **Outcome:** {}", cell(&outcome_line(sc)));
    if !sc.left_down.is_empty() {
        let _ = writeln!(
            out,
            "- **Left down:** {} (injected and not seen healthy again)",
            cell(&crate::export::describe::service_list(&sc.left_down))
        );
    }
    let _ = writeln!(
        out,
        "- **Started:** {} · **Finished:** {}",
        sc.started.map_or_else(dash, full_time),
        sc.finished.map_or_else(dash, full_time)
    );
    let _ = writeln!(out, "- **Operator:** {}", cell(&sc.operator));
    let _ = writeln!(
        out,
        "- **RTO:** {} met, {} missed of {} injected",
        sc.met(),
        sc.missed(),
        sc.services.len()
    );
    for r in &sc.rollbacks {
        let _ = writeln!(
            out,
            "- **Restore needed an undo:** rolled back {}",
            cell(&crate::export::rollback::words(r))
        );
    }
    let guards = guard_lines(sc);
    if guards.is_empty() {
        out.push_str("- **Guards tripped:** none\n");
    } else {
        let _ = writeln!(out, "- **Guards tripped:** {}", guards.len());
        for g in &guards {
            let _ = writeln!(out, "  - {}", cell(g));
        }
    }
    out.push_str("\n## Injected services\n\nTimes UTC; time to detect and to restore are measured from each service's inject.\n\n");
    if sc.services.is_empty() {
        out.push_str("No service was injected.\n");
    } else {
        md_table(&mut out, &SERVICES_HEADER, &service_rows(sc));
    }
    let time = time_rows(sc);
    if !time.is_empty() {
        out.push_str("\n## Where the time went\n\nOf each time to restore: waiting for an operator's approval, and running restore and verify commands (an attempt on several hosts counts as its slowest host).\n\n");
        md_table(&mut out, &TIME_HEADER, &time);
    }
    let _ = writeln!(out, "\n## Critical path\n\n{}\n", cell(&path_line(sc)));
    if !sc.critical_path.is_empty() {
        md_table(&mut out, &PATH_HEADER, &path_rows(sc));
    }
    if !sc.phases.is_empty() {
        out.push_str("\n## Phases\n\n| Phase | Started |\n| --- | --- |\n");
        for (p, t) in &sc.phases {
            let _ = writeln!(
                out,
                "| {} | {} |",
                crate::export::describe::drill_phase_word(*p),
                full_time(*t)
            );
        }
    }
    out
}

/// The html export's scorecard section.
pub fn html_section(sc: &Scorecard) -> String {
    let mut out = String::with_capacity(2048);
    let _ = writeln!(
        out,
        "<h2 id=\"scorecard\">Drill scorecard: scenario {}</h2>",
        esc(&sc.scenario)
    );
    let _ = writeln!(
        out,
        "<p><strong>Outcome:</strong> {} · RTO {} met, {} missed of {} injected.</p>",
        esc(&outcome_line(sc)),
        sc.met(),
        sc.missed(),
        sc.services.len()
    );
    if let Some(e) = &sc.evidence {
        let _ = writeln!(
            out,
            "<p><strong>Evidence:</strong> {}.</p>",
            esc(&e.describe())
        );
    }
    let guards = guard_lines(sc);
    if guards.is_empty() {
        out.push_str("<p>Guards tripped: none.</p>\n");
    } else {
        out.push_str("<p>Guards tripped:</p>\n<ul>\n");
        for g in &guards {
            let _ = writeln!(out, "<li>{}</li>", esc(g));
        }
        out.push_str("</ul>\n");
    }
    html_table(&mut out, &SERVICES_HEADER, &service_rows(sc));
    let time = time_rows(sc);
    if !time.is_empty() {
        out.push_str("<h3>Where the time went</h3>\n");
        html_table(&mut out, &TIME_HEADER, &time);
    }
    let _ = writeln!(
        out,
        "<h3>Critical path</h3>\n<p>{}</p>",
        esc(&path_line(sc))
    );
    if !sc.critical_path.is_empty() {
        html_table(&mut out, &PATH_HEADER, &path_rows(sc));
    }
    out
}

#[derive(Serialize)]
pub struct ScorecardOut<'a> {
    scenario: &'a str,
    /// What the journal's seal proves (absent when not checked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<EvidenceOut<'a>>,
    outcome: Option<&'static str>,
    reason: Option<&'a str>,
    /// Services injected and not seen healthy again when the run ended.
    left_down: Vec<&'a str>,
    started: Option<String>,
    finished: Option<String>,
    first_inject: Option<String>,
    last_restored: Option<String>,
    total_ms: Option<i64>,
    rto_met: usize,
    rto_missed: usize,
    phases: Vec<PhaseOut>,
    guards_tripped: Vec<GuardOut<'a>>,
    services: Vec<InjectedOut<'a>>,
    critical_path: Vec<LinkOut<'a>>,
}

#[derive(Serialize)]
pub struct EvidenceOut<'a> {
    /// sealed_verified, sealed_not_checked, unsealed or seal_refuted.
    status: &'static str,
    signer: Option<&'a str>,
    sealed_seq: Option<u64>,
    /// Why a seal does not hold.
    why: Option<&'a str>,
}

pub fn evidence_out(e: &Evidence) -> EvidenceOut<'_> {
    EvidenceOut {
        status: e.code(),
        signer: match e {
            Evidence::Verified { principal, .. } => Some(principal),
            _ => None,
        },
        sealed_seq: match e {
            Evidence::Verified { seq, .. } | Evidence::NotChecked { seq } => Some(*seq),
            _ => None,
        },
        why: match e {
            Evidence::Refuted(why) => Some(why),
            _ => None,
        },
    }
}

#[derive(Serialize)]
struct PhaseOut {
    phase: &'static str,
    started: String,
}

#[derive(Serialize)]
struct GuardOut<'a> {
    at: String,
    guard: &'a str,
    host: &'a str,
    exit_code: Option<i32>,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct InjectedOut<'a> {
    service: &'a str,
    name: &'a str,
    tier: u32,
    depends_on: Vec<&'a str>,
    rto_ms: Option<u64>,
    injected_at: String,
    detected_at: Option<String>,
    time_to_detect_ms: Option<i64>,
    restore_started: Option<String>,
    restored_at: Option<String>,
    time_to_restore_ms: Option<i64>,
    rto: &'static str,
    /// RTO less time to restore: to spare (positive) or missed by (negative).
    rto_margin_ms: Option<i64>,
    /// Of the time to restore: waiting for an operator's approval.
    waiting_for_approval_ms: i64,
    /// Of the time to restore: running restore and verify commands.
    running_commands_ms: i64,
}

#[derive(Serialize)]
struct LinkOut<'a> {
    service: &'a str,
    tier: u32,
    via: &'static str,
    from: String,
    to: String,
    ms: i64,
}

/// The json export's `scorecard` object.
pub fn json(sc: &Scorecard) -> ScorecardOut<'_> {
    let ts = |t: Option<DateTime<Utc>>| t.map(format_ts);
    ScorecardOut {
        scenario: &sc.scenario,
        evidence: sc.evidence.as_ref().map(evidence_out),
        outcome: sc.outcome.map(|o| match o {
            DrillOutcome::Passed => "passed",
            DrillOutcome::Failed => "failed",
        }),
        reason: sc.reason.as_deref(),
        left_down: sc.left_down.iter().map(ServiceId::as_str).collect(),
        started: ts(sc.started),
        finished: ts(sc.finished),
        first_inject: ts(sc.first_inject),
        last_restored: ts(sc.last_restored),
        total_ms: sc.total_ms,
        rto_met: sc.met(),
        rto_missed: sc.missed(),
        phases: sc
            .phases
            .iter()
            .map(|(p, t)| PhaseOut {
                phase: crate::export::describe::drill_phase_word(*p),
                started: format_ts(*t),
            })
            .collect(),
        guards_tripped: sc
            .guards
            .iter()
            .map(|g| GuardOut {
                at: format_ts(g.at),
                guard: &g.guard,
                host: g.host.as_str(),
                exit_code: g.exit_code,
                error: g.error.as_deref(),
            })
            .collect(),
        services: sc
            .services
            .iter()
            .map(|s| InjectedOut {
                service: s.id.as_str(),
                name: &s.name,
                tier: s.tier,
                depends_on: s.depends_on.iter().map(ServiceId::as_str).collect(),
                rto_ms: s.rto_ms,
                injected_at: format_ts(s.injected_at),
                detected_at: ts(s.detected_at),
                time_to_detect_ms: s.time_to_detect_ms,
                restore_started: ts(s.restore_started),
                restored_at: ts(s.restored_at),
                time_to_restore_ms: s.time_to_restore_ms,
                rto: s.rto.as_str(),
                rto_margin_ms: s.rto_margin_ms,
                waiting_for_approval_ms: s.spent.waiting_for_approval_ms,
                running_commands_ms: s.spent.running_commands_ms,
            })
            .collect(),
        critical_path: sc
            .critical_path
            .iter()
            .map(|l| LinkOut {
                service: l.service.as_str(),
                tier: l.tier,
                via: l.via.as_str(),
                from: format_ts(l.from),
                to: format_ts(l.to),
                ms: l.ms,
            })
            .collect(),
    }
}
