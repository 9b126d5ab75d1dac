//! The html export: one self-contained page (inline CSS and SVG, no scripts, no network
//! reference of any kind) with the post-mortem and a swimlane chart of service states.
//! Only renders an `Analysis`; every journal text is escaped.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::engine::state::ServiceState;
use crate::export::markdown::{
    IMPACT_HEADER, NOTHING_RESTORED, OUTAGE_HEADER, TO_WRITE_LUCKY, TO_WRITE_ROOT_CAUSES,
    TO_WRITE_TRIGGER, authors, clock, detection, failure_heading, failure_intro, impact_cells,
    lessons, origin_line, outage_rows, resolution, root_causes, status_line, summary,
};
use crate::export::metrics::{Analysis, full_time, human_ms, mode_str};
use crate::export::scorecard::Scorecard;
use crate::export::scorecard::render::html_section as scorecard_section;

/// Escape text for HTML element content and double-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The chart's color for a state (also used by the legend).
pub fn state_color(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Unknown => "#9e9e9e",
        ServiceState::Checking => "#64b5f6",
        ServiceState::Healthy => "#2e7d32",
        ServiceState::Down => "#c62828",
        ServiceState::Partial => "#ef6c00",
        ServiceState::Restoring => "#fbc02d",
        ServiceState::Verifying => "#7e57c2",
        ServiceState::Restored => "#66bb6a",
        ServiceState::Failed => "#6d0000",
        ServiceState::Blocked => "#795548",
        ServiceState::Skipped => "#bdbdbd",
        ServiceState::Unreachable => "#455a64",
        ServiceState::Removed => "#e0e0e0",
        ServiceState::Undone => "#8d6e63",
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.7rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}code{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
.meta td:first-child{font-weight:600;width:12rem}.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:.5rem 1rem}
svg text{font-family:system-ui,sans-serif;font-size:12px}.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
pre.output{background:#f6f6f6;border:1px solid #ddd;padding:.5rem;overflow-x:auto;font-size:.85em;white-space:pre-wrap;word-break:break-all}";

/// One row per outage of each service.
fn outages(out: &mut String, a: &Analysis, day0: Option<chrono::NaiveDate>) {
    out.push_str("<h3>Outages</h3>\n");
    let rows = outage_rows(a, day0);
    if rows.is_empty() {
        out.push_str("<p>No service was down in this run.</p>\n");
    } else {
        table(out, &OUTAGE_HEADER, rows.into_iter().map(|r| r.to_vec()));
    }
}

fn table(out: &mut String, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    out.push_str("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            let _ = write!(out, "<td>{}</td>", esc(&c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// Why things failed: each failed step with the end of its output, escaped, controls shown as
/// visible text.
fn what_failed(out: &mut String, a: &Analysis, day0: Option<chrono::NaiveDate>) {
    if a.failures.is_empty() {
        return;
    }
    out.push_str("<h2>What failed</h2>\n");
    for g in crate::export::failures::folded(&a.failures) {
        let _ = writeln!(out, "<h3>{}</h3>", esc(&failure_heading(&g)));
        let _ = writeln!(out, "<p>{}</p>", esc(&failure_intro(&g, day0)));
        let f = g.first;
        if f.tail.is_empty() {
            continue;
        }
        out.push_str("<pre class=\"output\">");
        for l in &f.tail {
            let _ = writeln!(out, "{}", esc(&crate::text::visible_line(l)));
        }
        out.push_str("</pre>\n");
    }
}

/// An html list of escaped items, or `none` when there are none.
pub(crate) fn list(out: &mut String, items: &[String], none: &str) {
    if items.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", esc(none));
        return;
    }
    out.push_str("<ul>\n");
    for i in items {
        let _ = writeln!(out, "<li>{}</li>", esc(i));
    }
    out.push_str("</ul>\n");
}

/// An html table of fixed-width rows, every cell escaped.
pub(crate) fn html_table<const N: usize>(
    out: &mut String,
    header: &[&str; N],
    rows: &[[String; N]],
) {
    out.push_str("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

pub fn render(a: &Analysis) -> String {
    render_with(a, None)
}

/// The page, with a scenario drill's scorecard after the impact.
// The report's sections in order: splitting it would only scatter them.
#[allow(clippy::too_many_lines)]
pub fn render_with(a: &Analysis, scorecard: Option<&Scorecard>) -> String {
    let mut out = String::with_capacity(4096 + a.timeline.len() * 160);
    let day0 = a.run.started.map(|t| t.date_naive());
    let title = if a.run.runbook.is_empty() {
        "(unknown runbook)"
    } else {
        &a.run.runbook
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Post-mortem: {}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n",
        esc(title)
    );
    let _ = writeln!(out, "<h1>Post-mortem: {}</h1>", esc(title));
    let date = a
        .run
        .started
        .map_or_else(|| "—".to_string(), |t| t.format("%Y-%m-%d").to_string());
    out.push_str("<table class=\"meta\"><tbody>\n");
    for (k, v) in [
        ("Date", date),
        ("Status", status_line(a)),
        ("Mode", mode_str(a.run.mode).to_string()),
        ("Authors", authors(a)),
    ] {
        let _ = writeln!(out, "<tr><td>{k}</td><td>{}</td></tr>", esc(&v));
    }
    out.push_str("</tbody></table>\n");
    if !a.intact {
        out.push_str("<p class=\"warn\">This journal does not verify; run <code>bringup verify</code> on it.</p>\n");
    }

    let _ = writeln!(out, "<h2>Summary</h2>\n<p>{}</p>", esc(&summary(a)));

    let _ = writeln!(
        out,
        "<h2>Impact</h2>\n<p>{} All times UTC.</p>",
        esc(&origin_line(a).replace('`', ""))
    );
    table(
        &mut out,
        &IMPACT_HEADER,
        a.services.iter().map(|s| impact_cells(s, day0).to_vec()),
    );
    let d = |v: Option<i64>| v.map_or_else(|| "—".to_string(), human_ms);
    let _ = writeln!(
        out,
        "<ul><li>Time to first restored service: {}</li><li>Time to all restored: {}</li><li>Run duration: {}</li></ul>",
        d(a.metrics.time_to_first_restored_ms),
        d(a.metrics.time_to_all_restored_ms),
        d(a.metrics.duration_ms)
    );
    outages(&mut out, a, day0);
    out.push_str(&scorecard.map(scorecard_section).unwrap_or_default());

    out.push_str("<h2>Service states over time</h2>\n");
    chart(&mut out, a);

    causes_to_detection(&mut out, a);
    what_failed(&mut out, a, day0);

    out.push_str("<h2>Timeline</h2>\n<p>All times UTC.</p>\n");
    table(
        &mut out,
        &["Time", "Who", "What"],
        a.timeline
            .iter()
            .map(|e| vec![clock(e.ts, day0), e.who.clone(), e.what.clone()]),
    );

    out.push_str("<h2>Action items</h2>\n");
    if a.actions.is_empty() {
        out.push_str("<p>Nothing failed or was skipped. Add follow-ups here.</p>\n");
    } else {
        table(
            &mut out,
            &["Action item", "Service", "Owner", "From seq"],
            a.actions.iter().map(|i| {
                vec![
                    i.what.clone(),
                    i.service
                        .as_ref()
                        .map_or_else(|| "—".to_string(), ToString::to_string),
                    "TBD".to_string(),
                    i.seq.to_string(),
                ]
            }),
        );
    }

    lessons_learned(&mut out, a);

    out.push_str("<h2>Supporting information</h2>\n<ul>\n");
    let _ = writeln!(out, "<li>Runbook: {}</li>", esc(title));
    let _ = writeln!(
        out,
        "<li>Runbook sha256: <code>{}</code></li>",
        esc(&a.run.runbook_sha256)
    );
    let _ = writeln!(
        out,
        "<li>Journal final hash: <code>{}</code> ({} events)</li>",
        esc(a.final_hash.as_deref().unwrap_or("—")),
        a.events
    );
    let _ = writeln!(out, "<li>Operators: {}</li>", esc(&authors(a)));
    let _ = writeln!(
        out,
        "<li>Identities: {}</li>",
        esc(&a.identities.sentence())
    );
    let _ = writeln!(out, "<li>bringup version: {}</li>", esc(&a.run.version));
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}

const LABEL_W: f64 = 220.0;
const PLOT_W: f64 = 720.0;
const LANE_H: f64 = 26.0;
const TOP: f64 = 10.0;
const AXIS_H: f64 = 34.0;

/// A swimlane per service, colored by state, over a time axis from run start to the last event.
fn chart(out: &mut String, a: &Analysis) {
    let (Some(start), Some(end)) = (a.run.started.or(a.first_ts), a.as_of) else {
        out.push_str("<p>No events to chart.</p>\n");
        return;
    };
    #[allow(clippy::cast_precision_loss)]
    let span = ((end - start).num_milliseconds().max(1)) as f64;
    #[allow(clippy::cast_precision_loss)]
    let x = |t: DateTime<Utc>| {
        LABEL_W + PLOT_W * ((t - start).num_milliseconds() as f64 / span).clamp(0.0, 1.0)
    };
    #[allow(clippy::cast_precision_loss)]
    let height = TOP + LANE_H * a.services.len() as f64 + AXIS_H;
    let width = LABEL_W + PLOT_W + 20.0;
    let _ = writeln!(
        out,
        "<svg role=\"img\" aria-label=\"Service states over time\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    for (i, s) in a.services.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = TOP + LANE_H * i as f64;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 8.0,
            y + LANE_H * 0.65,
            esc(&format!("T{} {}", s.info.tier, s.info.id))
        );
        let _ = writeln!(
            out,
            "<rect x=\"{LABEL_W}\" y=\"{:.1}\" width=\"{PLOT_W}\" height=\"{:.1}\" fill=\"#f4f4f4\"/>",
            y + 3.0,
            LANE_H - 6.0
        );
        for iv in &s.intervals {
            let x0 = x(iv.from);
            let x1 = x(iv.to.unwrap_or(end));
            let w = (x1 - x0).max(1.0);
            let until = iv.to.map_or_else(
                || format!("{} (end of the journal)", full_time(end)),
                full_time,
            );
            let _ = writeln!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>",
                y + 3.0,
                LANE_H - 6.0,
                state_color(iv.state),
                esc(&format!(
                    "{}: {} from {} until {until}",
                    s.info.id,
                    iv.state,
                    full_time(iv.from)
                ))
            );
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let axis_y = TOP + LANE_H * a.services.len() as f64 + 4.0;
    let _ = writeln!(
        out,
        "<line x1=\"{LABEL_W}\" y1=\"{axis_y:.1}\" x2=\"{}\" y2=\"{axis_y:.1}\" stroke=\"#555\"/>",
        LABEL_W + PLOT_W
    );
    for k in 0..=6u32 {
        let frac = f64::from(k) / 6.0;
        #[allow(clippy::cast_possible_truncation)]
        let t = start + chrono::TimeDelta::milliseconds((span * frac) as i64);
        let tx = LABEL_W + PLOT_W * frac;
        let label = if span > 86_400_000.0 {
            t.format("%m-%d %H:%M").to_string()
        } else {
            t.format("%H:%M:%S").to_string()
        };
        let _ = writeln!(
            out,
            "<line x1=\"{tx:.1}\" y1=\"{axis_y:.1}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#555\"/><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            axis_y + 5.0,
            axis_y + 19.0
        );
    }
    out.push_str("</svg>\n<p class=\"legend\">");
    // The states a span can have: `removed` is only ever said in `run_finished`.
    for state in ServiceState::ALL
        .into_iter()
        .filter(|s| *s != ServiceState::Removed)
    {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span>",
            state_color(state),
            state
        );
    }
    let _ = writeln!(
        out,
        "</p>\n<p>Axis: UTC, from {} to {}.</p>",
        full_time(start),
        full_time(end)
    );
}

/// Root causes and trigger (left to people), resolution and detection (from the journal).
fn causes_to_detection(out: &mut String, a: &Analysis) {
    out.push_str("<h2>Root causes</h2>\n");
    let causes = root_causes(a);
    if causes.is_empty() {
        let _ = writeln!(out, "<p><em>{TO_WRITE_ROOT_CAUSES}</em></p>");
    } else {
        list(out, &causes, "");
    }
    let _ = writeln!(
        out,
        "<h2>Trigger</h2>\n<p><em>{TO_WRITE_TRIGGER}</em></p>\n<h2>Resolution</h2>"
    );
    list(out, &resolution(a), NOTHING_RESTORED);
    let _ = writeln!(out, "<h2>Detection</h2>\n<p>{}</p>", esc(&detection(a)));
}

/// What went well and wrong (prefilled), where we got lucky (left to people).
fn lessons_learned(out: &mut String, a: &Analysis) {
    let (well, wrong) = lessons(a);
    out.push_str("<h2>Lessons learned</h2>\n<h3>What went well</h3>\n");
    list(out, &well, "To be written.");
    out.push_str("<h3>What went wrong</h3>\n");
    list(out, &wrong, "To be written.");
    let _ = writeln!(
        out,
        "<h3>Where we got lucky</h3>\n<p><em>{TO_WRITE_LUCKY}</em></p>"
    );
}
