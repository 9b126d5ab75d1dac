//! The post-mortem draft in the Google SRE layout, as Markdown. Only renders an `Analysis`;
//! computes nothing itself.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};

use crate::export::failures::FailureGroup;
use crate::export::metrics::{
    Analysis, Rto, ServiceReport, capital, full_time, human_ms, mode_str,
};

/// A table cell: one line, pipes and markup characters escaped so the text shows as written.
/// A markdown table of fixed-width rows, each cell made safe for a table.
pub(crate) fn md_table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[String; N]]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(N));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '|' | '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A time in the timeline: `08:14:03`, with the date when it is not the run's first day.
pub fn clock(t: DateTime<Utc>, day0: Option<NaiveDate>) -> String {
    if day0 == Some(t.date_naive()) {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// The status line: draft, and how the run ended.
pub fn status_line(a: &Analysis) -> String {
    match &a.run.outcome {
        Some(o) => format!("Draft — run finished ({o})"),
        None => "Draft — run in progress or interrupted (no run_finished)".to_string(),
    }
}

/// The operators who acted, or a dash when the journal names none.
pub fn authors(a: &Analysis) -> String {
    if a.operators.is_empty() {
        "—".to_string()
    } else {
        a.operators.join(", ")
    }
}

/// One paragraph saying what happened, in numbers.
pub fn summary(a: &Analysis) -> String {
    let mut s = String::new();
    let name = if a.run.runbook.is_empty() {
        "(unknown runbook)"
    } else {
        &a.run.runbook
    };
    let article = match a.run.mode {
        crate::engine::state::Mode::Incident => "An",
        crate::engine::state::Mode::Drill => "A",
    };
    let _ = write!(s, "{article} {} run of '{name}'", mode_str(a.run.mode));
    if let (Some(start), Some(end)) = (a.run.started, a.as_of) {
        let _ = write!(
            s,
            " from {} to {} ({})",
            full_time(start),
            full_time(end),
            human_ms((end - start).num_milliseconds())
        );
    }
    if a.operators.is_empty() {
        s.push('.');
    } else {
        let _ = write!(s, ", by {}.", a.operators.join(", "));
    }
    let m = &a.metrics;
    let _ = write!(
        s,
        " {} of {} services were found down or partial; {} restored.",
        m.services_down,
        a.services.len(),
        m.services_restored
    );
    if let Some(first) = m.time_to_first_restored_ms {
        let _ = write!(
            s,
            " The first service was back {} after the start",
            human_ms(first)
        );
        match m.time_to_all_restored_ms {
            Some(all) => {
                let _ = write!(s, ", all of them {} after it.", human_ms(all));
            }
            None => s.push_str("; not all were restored."),
        }
    }
    let missed: Vec<&str> = a
        .services
        .iter()
        .filter(|x| x.rto == Rto::Missed)
        .map(|x| x.info.id.as_str())
        .collect();
    if !missed.is_empty() {
        let _ = write!(s, " RTO missed: {}.", missed.join(", "));
    }
    s
}

/// Found down / restored / time to restore / RTO cells for one service.
pub fn impact_cells(s: &ServiceReport, day0: Option<NaiveDate>) -> [String; 9] {
    let t = |v: Option<DateTime<Utc>>| v.map_or_else(|| "—".to_string(), |t| clock(t, day0));
    let d = |v: Option<i64>| v.map_or_else(|| "—".to_string(), human_ms);
    let rto = s.info.rto_ms.map_or_else(
        || "—".to_string(),
        |r| human_ms(i64::try_from(r).unwrap_or(i64::MAX)),
    );
    [
        format!("{} ({})", s.info.name, s.info.id),
        s.info.tier.to_string(),
        s.state.to_string(),
        t(s.found_down_at),
        t(s.restored_at),
        d(s.time_to_restore_ms),
        rto,
        s.rto.as_str().to_string(),
        s.restore_attempts.to_string(),
    ]
}

/// Where outages and RTO are measured from, as one sentence.
pub fn origin_line(a: &Analysis) -> String {
    match (a.run.incident_start, a.run.started) {
        (Some(at), _) => format!(
            "The incident began at {} (given with `--incident-start`); an outage found in the opening checks is measured from then, a regression from its first failed check, a drill's from its inject. RTO is measured per outage.",
            full_time(at)
        ),
        (None, _) => "The incident's real start was not given (`--incident-start`), so outages found in the opening checks are measured from the start of the run; a regression from its first failed check, a drill's from its inject. RTO is measured per outage.".to_string(),
    }
}

pub const OUTAGE_HEADER: [&str; 9] = [
    "Service",
    "Outage",
    "Started",
    "Detected",
    "Up again",
    "Time to detect",
    "Time to restore",
    "RTO",
    "RTO met",
];

/// One row per outage of each service.
pub fn outage_rows(a: &Analysis, day0: Option<NaiveDate>) -> Vec<[String; 9]> {
    let t = |v: Option<DateTime<Utc>>| v.map_or_else(|| "—".to_string(), |t| clock(t, day0));
    let d = |v: Option<i64>| v.map_or_else(|| "—".to_string(), human_ms);
    let mut rows = Vec::new();
    for s in &a.services {
        let rto = s.info.rto_ms.map_or_else(
            || "—".to_string(),
            |r| human_ms(i64::try_from(r).unwrap_or(i64::MAX)),
        );
        for o in &s.outages {
            let up = match o.ended {
                Some(at) if o.restored => format!("{} (restored)", clock(at, day0)),
                Some(at) => format!("{} (healthy)", clock(at, day0)),
                None => "—".to_string(),
            };
            rows.push([
                s.info.id.to_string(),
                o.cause.as_str().to_string(),
                t(Some(o.started)),
                t(o.detected),
                up,
                d(o.time_to_detect_ms),
                d(o.time_to_restore_ms),
                rto.clone(),
                o.rto.as_str().to_string(),
            ]);
        }
    }
    rows
}

fn outages(out: &mut String, a: &Analysis, day0: Option<NaiveDate>) {
    out.push_str("### Outages\n\n");
    let rows = outage_rows(a, day0);
    if rows.is_empty() {
        out.push_str("No service was down in this run.\n\n");
        return;
    }
    let _ = writeln!(out, "| {} |", OUTAGE_HEADER.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(OUTAGE_HEADER.len()));
    for row in rows {
        let cells = row.map(|c| cell(&c));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// Sections of the Google SRE template a journal cannot write; left for people to fill in.
pub const TO_WRITE_ROOT_CAUSES: &str =
    "To be written: what broke, and why it took the services down.";
pub const TO_WRITE_TRIGGER: &str = "To be written: what set it off, and when.";
pub const TO_WRITE_LUCKY: &str = "To be written.";

/// Detection: when bringup first found services down, as far as the journal tells.
pub fn detection(a: &Analysis) -> String {
    let found: Vec<&ServiceReport> = a
        .services
        .iter()
        .filter(|s| s.found_down_at.is_some())
        .collect();
    let Some(first) = found.iter().min_by_key(|s| s.found_down_at) else {
        return "No service was found down or partial in this run.".to_string();
    };
    let at = first.found_down_at.map_or_else(String::new, full_time);
    format!(
        "bringup's checks found {} of {} services down or partial; the first, '{}', at {at}. \
         Add how the outage itself was noticed (alerts, users, monitoring).",
        found.len(),
        a.services.len(),
        first.info.id
    )
}

/// Root causes as far as the journal knows them: `[runbook] cause` and the operators' notes
/// that start with `cause:`; empty when nobody said.
pub fn root_causes(a: &Analysis) -> Vec<String> {
    a.run.causes()
}

/// The services not up when the journal ends (never checked ones aside), each with its
/// state: "mail-imap (failed), web (down)". `None` when every checked service is up.
pub fn still_down(a: &Analysis) -> Option<String> {
    use crate::engine::state::ServiceState as S;
    let down: Vec<String> = a
        .services
        .iter()
        .filter(|s| !s.state.is_up() && !matches!(s.state, S::Unknown | S::Removed))
        .map(|s| format!("{} ({})", s.info.id, s.state))
        .collect();
    (!down.is_empty()).then(|| down.join(", "))
}

/// Resolution: each restored service in the order it came back, then what is still down.
pub fn resolution(a: &Analysis) -> Vec<String> {
    let mut back: Vec<&ServiceReport> = a
        .services
        .iter()
        .filter(|s| s.restored_at.is_some())
        .collect();
    back.sort_by_key(|s| s.restored_at);
    let rolled = a
        .rollbacks
        .iter()
        .map(|r| format!("Rolled back: {}.", crate::export::rollback::words(r)));
    let mut lines: Vec<String> = back
        .iter()
        .map(|s| {
            let at = s.restored_at.map_or_else(String::new, full_time);
            let took = s
                .time_to_restore_ms
                .map(|ms| format!(", {} after its outage began", human_ms(ms)))
                .unwrap_or_default();
            let hand = if s.by_hand { ", started by hand" } else { "" };
            format!(
                "{} ({}) restored at {at}{took}{hand}.{}",
                s.info.name,
                s.info.id,
                degraded_note(s)
            )
        })
        .chain(
            a.services
                .iter()
                .filter(|s| s.restored_at.is_none() && s.state.is_up())
                .filter(|s| !degraded_note(s).is_empty())
                .map(|s| format!("{} ({}) is up.{}", s.info.name, s.info.id, degraded_note(s))),
        )
        .chain(rolled)
        .collect();
    if let Some(down) = still_down(a) {
        if lines.is_empty() {
            lines.push(NOTHING_RESTORED.to_string());
        }
        let when = if a.run.finished.is_some() {
            "when the run ended"
        } else {
            "as of the journal's last event"
        };
        lines.push(format!("Still down {when}: {down}."));
    }
    lines
}

/// The resolution when nothing came back.
pub const NOTHING_RESTORED: &str = "No service was restored in this run.";

/// " Up with degraded hosts: …" for a service up without some hosts (SPEC "Fleets"), from
/// the reason its last state carries.
fn degraded_note(s: &ServiceReport) -> String {
    match s.reason.as_deref() {
        Some(reason) if s.state.is_up() && reason.contains("degraded: ") => {
            let at = reason.find("degraded: ").unwrap_or(0);
            format!(" Up with {}.", &reason[at..])
        }
        _ => String::new(),
    }
}

/// Lessons learned, prefilled: (what went well, what went wrong).
pub fn lessons(a: &Analysis) -> (Vec<String>, Vec<String>) {
    let ids = |pred: &dyn Fn(&ServiceReport) -> bool| -> Vec<String> {
        a.services
            .iter()
            .filter(|s| pred(s))
            .map(|s| s.info.id.to_string())
            .collect()
    };
    let mut well = Vec::new();
    let met = ids(&|s| s.rto == Rto::Met);
    if !met.is_empty() {
        well.push(format!("Restored within their RTO: {}.", met.join(", ")));
    }
    let mut wrong = Vec::new();
    for (what, list) in [
        ("RTO missed", ids(&|s| s.rto == Rto::Missed)),
        (
            "Failed",
            ids(&|s| s.state == crate::engine::state::ServiceState::Failed),
        ),
        (
            "Blocked",
            ids(&|s| s.state == crate::engine::state::ServiceState::Blocked),
        ),
        (
            "Skipped",
            ids(&|s| s.state == crate::engine::state::ServiceState::Skipped),
        ),
        (
            "Unreachable (its checks could not run, so nothing is known of it)",
            ids(&|s| s.state == crate::engine::state::ServiceState::Unreachable),
        ),
    ] {
        if !list.is_empty() {
            wrong.push(format!("{what}: {}.", list.join(", ")));
        }
    }
    (well, wrong)
}

fn bullets(out: &mut String, items: &[String], none: &str) {
    if items.is_empty() {
        let _ = writeln!(out, "- {none}");
    }
    for i in items {
        let _ = writeln!(out, "- {}", cell(i));
    }
    out.push('\n');
}

pub const IMPACT_HEADER: [&str; 9] = [
    "Service",
    "Tier",
    "State",
    "Found down",
    "Restored",
    "Time to restore",
    "RTO",
    "RTO met",
    "Restore attempts",
];

pub fn render(a: &Analysis) -> String {
    let mut out = String::with_capacity(256 + a.timeline.len() * 96);
    let day0 = a.run.started.map(|t| t.date_naive());
    let title = if a.run.runbook.is_empty() {
        "(unknown runbook)"
    } else {
        &a.run.runbook
    };
    let _ = writeln!(out, "# Post-mortem: {}\n", cell(title));
    let date = a
        .run
        .started
        .map_or_else(|| "—".to_string(), |t| t.format("%Y-%m-%d").to_string());
    let _ = writeln!(out, "**Date:** {date}  ");
    let _ = writeln!(out, "**Status:** {}  ", status_line(a));
    let _ = writeln!(out, "**Mode:** {}  ", mode_str(a.run.mode));
    let _ = writeln!(out, "**Authors:** {}\n", cell(&authors(a)));
    if !a.intact {
        out.push_str(
            "> **Warning:** this journal does not verify; run `bringup verify` on it.\n\n",
        );
    }

    out.push_str("## Summary\n\n");
    let _ = writeln!(out, "{}\n", cell(&summary(a)));

    out.push_str("## Impact\n\n");
    let _ = writeln!(out, "{} All times UTC.\n", origin_line(a));
    let _ = writeln!(out, "| {} |", IMPACT_HEADER.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(IMPACT_HEADER.len()));
    for s in &a.services {
        let cells = impact_cells(s, day0).map(|c| cell(&c));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    let m = &a.metrics;
    let d = |v: Option<i64>| v.map_or_else(|| "—".to_string(), human_ms);
    let _ = writeln!(
        out,
        "- Time to first restored service: {}",
        d(m.time_to_first_restored_ms)
    );
    let _ = writeln!(
        out,
        "- Time to all restored: {}",
        d(m.time_to_all_restored_ms)
    );
    let _ = writeln!(out, "- Run duration: {}\n", d(m.duration_ms));
    outages(&mut out, a, day0);

    causes_to_detection(&mut out, a);
    what_failed(&mut out, a, day0);

    out.push_str("## Timeline\n\n");
    out.push_str("All times UTC.\n\n| Time | Who | What |\n| --- | --- | --- |\n");
    for e in &a.timeline {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            clock(e.ts, day0),
            cell(&e.who),
            cell(&e.what)
        );
    }
    out.push('\n');

    out.push_str("## Action items\n\n");
    if a.actions.is_empty() {
        out.push_str("Nothing failed or was skipped. Add follow-ups here.\n\n");
    } else {
        out.push_str("| Action item | Service | Owner | From seq |\n| --- | --- | --- | --- |\n");
        for item in &a.actions {
            let service = item.service.as_ref().map_or("—", |s| s.as_str());
            let _ = writeln!(
                out,
                "| {} | {} | TBD | {} |",
                cell(&item.what),
                cell(service),
                item.seq
            );
        }
        out.push('\n');
    }

    lessons_learned(&mut out, a);

    out.push_str("## Supporting information\n\n");
    let _ = writeln!(out, "- Runbook: {}", cell(title));
    let _ = writeln!(out, "- Runbook sha256: `{}`", a.run.runbook_sha256);
    let _ = writeln!(
        out,
        "- Journal final hash: `{}` ({} events)",
        a.final_hash.as_deref().unwrap_or("—"),
        a.events
    );
    let _ = writeln!(out, "- Operators: {}", cell(&authors(a)));
    let _ = writeln!(out, "- Identities: {}", cell(&a.identities.sentence()));
    let _ = writeln!(out, "- bringup version: {}", cell(&a.run.version));
    if a.run.resumed > 0 {
        let _ = writeln!(out, "- Resumed {} time(s)", a.run.resumed);
    }
    out
}

/// Root causes (the runbook's and the operators' `cause:` notes, else left to people),
/// trigger (left to people), resolution and detection (from the journal).
fn causes_to_detection(out: &mut String, a: &Analysis) {
    out.push_str("## Root causes\n\n");
    let causes = root_causes(a);
    if causes.is_empty() {
        let _ = writeln!(out, "_{TO_WRITE_ROOT_CAUSES}_\n");
    } else {
        bullets(out, &causes, "");
    }
    let _ = writeln!(out, "## Trigger\n\n_{TO_WRITE_TRIGGER}_\n");
    out.push_str("## Resolution\n\n");
    bullets(out, &resolution(a), NOTHING_RESTORED);
    let _ = writeln!(out, "## Detection\n\n{}\n", cell(&detection(a)));
}

/// The heading and the sentence before a failed step's output (hosts that failed alike
/// and printed the same told once); the same words in html.
pub fn failure_heading(g: &FailureGroup<'_>) -> String {
    let f = g.first;
    format!(
        "{} step '{}' of {} on {}: {}",
        capital(f.phase.as_str()),
        f.step,
        f.service,
        g.hosts_heading(),
        f.detail
    )
}

pub fn failure_intro(g: &FailureGroup<'_>, day0: Option<NaiveDate>) -> String {
    let f = g.first;
    let alike = match g.hosts.len() {
        1 => String::new(),
        n => format!(" (the first of {n} hosts that failed alike, printing the same)"),
    };
    let when = format!(
        "At {} (seq {}), attempt {}{alike}.",
        clock(f.ts, day0),
        f.seq,
        f.attempt
    );
    match (f.tail.len() as u64, f.lines) {
        (_, 0) => format!("{when} It printed nothing."),
        (shown, all) if shown == all => format!("{when} Its output:"),
        (shown, all) => format!(
            "{when} The last {shown} of its {all} lines of output (the journal holds them all):"
        ),
    }
}

/// Why things failed: each failed step with the end of its output, in a code block whose
/// fence is longer than any run of backticks inside it, controls shown as visible text.
fn what_failed(out: &mut String, a: &Analysis, day0: Option<NaiveDate>) {
    if a.failures.is_empty() {
        return;
    }
    out.push_str("## What failed\n\n");
    for g in crate::export::failures::folded(&a.failures) {
        let _ = writeln!(out, "### {}\n", cell(&failure_heading(&g)));
        let _ = writeln!(out, "{}\n", cell(&failure_intro(&g, day0)));
        let f = g.first;
        if f.tail.is_empty() {
            continue;
        }
        let lines: Vec<String> = f
            .tail
            .iter()
            .map(|l| crate::text::visible_line(l).into_owned())
            .collect();
        let longest = lines.iter().map(|l| backtick_run(l)).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        let _ = writeln!(out, "{fence}text");
        for l in &lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out, "{fence}\n");
    }
}

fn backtick_run(line: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in line.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// What went well and wrong (prefilled), where we got lucky (left to people).
fn lessons_learned(out: &mut String, a: &Analysis) {
    let (well, wrong) = lessons(a);
    out.push_str("## Lessons learned\n\n### What went well\n\n");
    bullets(out, &well, "To be written.");
    out.push_str("### What went wrong\n\n");
    bullets(out, &wrong, "To be written.");
    let _ = writeln!(out, "### Where we got lucky\n\n_{TO_WRITE_LUCKY}_\n");
}
