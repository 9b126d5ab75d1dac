//! `export --format notice`: a draft of the notice users must get after a long outage (the
//! Korean rule for outages of 2 hours or more asks for the fact, the cause, the actions taken
//! and a contact). Drawn from the journal alone: `run_started` carries the runbook's cause,
//! contact and `notice_after`; operators' notes that start with `cause:` add to the cause.
//! Users read functions, never internal services: only checks' `feature`s are named.
//! Only renders an `Analysis`; an editor finishes it.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::export::metrics::Analysis;
use crate::export::status_json::{ComponentStatus, components};
use crate::journal::event::RunbookAbout;

/// The parts the notice must have, as its headings.
pub const FACT: &str = "## What happened";
pub const CAUSE: &str = "## Cause";
pub const ACTIONS: &str = "## What we have done";
pub const STILL_AFFECTED: &str = "## Still affected";
pub const CONTACT: &str = "## Contact";

fn about(a: &Analysis) -> &RunbookAbout {
    &a.run.about
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "2 h 05 min" — a notice speaks to people, not to a parser.
fn span(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m:02} min"),
    }
}

pub fn render(a: &Analysis) -> String {
    let about = about(a);
    let end = a
        .metrics
        .time_to_all_restored_ms
        .and(a.services.iter().filter_map(|s| s.restored_at).max());
    let mut out = String::new();
    let _ = writeln!(out, "# Service disruption notice — {}\n", a.run.runbook);
    let _ = writeln!(
        out,
        "Draft made by bringup from the incident's journal, as of {}. Check every line before publishing.\n",
        a.as_of.map_or_else(|| "—".to_string(), time)
    );

    fact(a, about, end, &mut out);
    cause(a, &mut out);
    actions(a, &mut out);
    still_affected(a, &mut out);
    out.push('\n');
    out.push_str(CONTACT);
    out.push_str("\n\n");
    match about.contact.as_deref() {
        Some(c) => {
            let _ = writeln!(out, "Questions and reports of damage: {c}");
        }
        None => out
            .push_str("[add who users can reach: set `contact` under [runbook] in the runbook]\n"),
    }
    out
}

/// Which functions were unavailable, from when, and for how long.
fn fact(a: &Analysis, about: &RunbookAbout, end: Option<DateTime<Utc>>, out: &mut String) {
    // The incident's start when it was given: users were cut off from then, not from when
    // bringup was opened.
    let started = a.run.outage_origin();
    let affected: Vec<&str> = a
        .services
        .iter()
        .filter(|s| s.found_down_at.is_some())
        .flat_map(|s| s.info.checks.iter().filter_map(|c| c.feature.as_deref()))
        .fold(Vec::new(), |mut v, f| {
            if !v.contains(&f) {
                v.push(f);
            }
            v
        });
    out.push_str(FACT);
    out.push_str("\n\n");
    match (started, end) {
        (Some(from), Some(to)) => {
            let _ = writeln!(
                out,
                "From {} to {} ({}), these functions of our service were unavailable or impaired:\n",
                time(from),
                time(to),
                span((to - from).num_milliseconds())
            );
        }
        (Some(from), None) => {
            let so_far = a.as_of.map_or(0, |t| (t - from).num_milliseconds());
            let _ = writeln!(
                out,
                "Since {} ({} so far), these functions of our service have been unavailable or impaired:\n",
                time(from),
                span(so_far)
            );
        }
        _ => out.push_str("These functions of our service were unavailable or impaired:\n\n"),
    }
    if affected.is_empty() {
        out.push_str("- [name the functions users could not use]\n");
    }
    for f in &affected {
        let _ = writeln!(out, "- {f}");
    }
    if let (Some(ms), Some(from)) = (about.notice_after_ms, started) {
        let lasted = end.or(a.as_of).map_or(0, |t| (t - from).num_milliseconds());
        let rule = i64::try_from(ms).unwrap_or(i64::MAX);
        let verdict = if lasted >= rule {
            "it has lasted that long, so users must be notified"
        } else {
            "it has not lasted that long yet"
        };
        let _ = writeln!(
            out,
            "\nOutages of {} or more must be notified to users; {verdict}.",
            span(rule)
        );
    }
}

/// The cause as known: `[runbook] cause` and the operators' `cause:` notes. Not the
/// runbook's description (a restore plan) nor the other notes (internal words).
fn cause(a: &Analysis, out: &mut String) {
    out.push('\n');
    out.push_str(CAUSE);
    out.push_str("\n\n");
    match a.run.causes().as_slice() {
        [] => out.push_str(
            "As known so far: [describe the cause: set `cause` under [runbook], or add a note that starts with 'cause:']\n",
        ),
        [one] => {
            let _ = writeln!(out, "As known so far: {one}");
        }
        many => {
            out.push_str("As known so far:\n\n");
            for c in many {
                let _ = writeln!(out, "- {c}");
            }
        }
    }
}

/// The actions taken: each function brought back, when. A service without a `feature` is
/// internal: its restore is not news to users and its name stays out.
fn actions(a: &Analysis, out: &mut String) {
    out.push('\n');
    out.push_str(ACTIONS);
    out.push_str("\n\n");
    let mut restored: Vec<_> = a
        .services
        .iter()
        .filter_map(|s| s.restored_at.map(|t| (t, s)))
        .collect();
    restored.sort_by_key(|(t, _)| *t);
    let mut said: Vec<&str> = Vec::new();
    let mut lines = Vec::new();
    for (t, s) in restored {
        let features: Vec<&str> = s
            .info
            .checks
            .iter()
            .filter_map(|c| c.feature.as_deref())
            .filter(|f| !said.contains(f))
            .fold(Vec::new(), |mut v, f| {
                if !v.contains(&f) {
                    v.push(f);
                }
                v
            });
        if features.is_empty() {
            continue;
        }
        said.extend(&features);
        lines.push(format!("- {}: restored {}.", time(t), features.join(", ")));
    }
    if lines.is_empty() {
        out.push_str("- We are working to restore the affected functions.\n");
    }
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
}

fn still_affected(a: &Analysis, out: &mut String) {
    out.push('\n');
    out.push_str(STILL_AFFECTED);
    out.push_str("\n\n");
    let still: Vec<String> = components(a)
        .iter()
        .filter_map(|(name, status, _)| match status {
            Some(ComponentStatus::Operational) => None,
            Some(s) => Some(format!("- {name} ({})", s.as_str().replace('_', " "))),
            None => Some(format!("- {name} (not yet checked)")),
        })
        .collect();
    if still.is_empty() {
        out.push_str("- Nothing: every function is back.\n");
    }
    for line in still {
        let _ = writeln!(out, "{line}");
    }
}
