//! The customer-facing status notice: functions available now and still recovering, as of
//! the journal's last event. Only renders an `Analysis`.

use std::fmt::Write as _;

use crate::export::metrics::{Analysis, Feature};

/// Features split into (available now, still recovering), in runbook order, names deduplicated.
pub fn split<'a>(a: &'a Analysis) -> (Vec<&'a Feature>, Vec<&'a Feature>) {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&Feature> = a
        .features()
        .filter(|f| seen.insert(f.name.as_str()))
        .collect();
    unique.into_iter().partition(|f| {
        // A function offered by several services is available only if all of them pass.
        a.features()
            .filter(|g| g.name == f.name)
            .all(|g| g.available)
    })
}

pub fn render(a: &Analysis) -> String {
    let (up, recovering) = split(a);
    let as_of = a.as_of.map_or_else(
        || "—".to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    let mut out = String::new();
    let _ = writeln!(out, "# Service status\n");
    let _ = writeln!(out, "As of {as_of}.\n");
    out.push_str("## Available now\n\n");
    if up.is_empty() {
        out.push_str("- None yet.\n");
    }
    for f in &up {
        let _ = writeln!(out, "- {}", f.name);
    }
    out.push_str("\n## Still recovering\n\n");
    let checked_any = !up.is_empty() || !recovering.is_empty();
    if !checked_any {
        // A journal with no service in it says nothing about any function: claim nothing.
        out.push_str("- Not known yet: no function has been checked.\n\nWe will update this notice as soon as we know more.\n");
        return out;
    }
    if recovering.is_empty() {
        out.push_str("- Nothing: every function is back.\n");
    }
    for f in &recovering {
        let _ = writeln!(out, "- {}", f.name);
    }
    out.push('\n');
    if recovering.is_empty() {
        out.push_str("All functions have been restored. Thank you for your patience.\n");
    } else {
        out.push_str(
            "We are restoring the remaining functions and will update this notice as each comes back.\n",
        );
    }
    out
}
