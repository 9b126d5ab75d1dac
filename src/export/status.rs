//! The customer-facing status notice: functions available now, still recovering, and not
//! checked in this run, as of the journal's last event. Only renders an `Analysis`.

use std::fmt::Write as _;

use crate::engine::ServiceState;
use crate::export::metrics::{Analysis, Feature};

/// The functions of a notice, each in runbook order, names deduplicated.
#[derive(Debug, Default)]
pub struct Sections<'a> {
    /// Every service offering it passed its latest checks.
    pub available: Vec<&'a Feature>,
    /// A service offering it was checked (or worked on) in this run and is not back.
    pub recovering: Vec<&'a Feature>,
    /// Not failing, but some service offering it was never checked nor touched in this run
    /// (outside `--only`, or the run ended first) or is unreachable (its checks could not
    /// run): the notice cannot say either way.
    pub not_checked: Vec<&'a Feature>,
}

/// Sort each function into its section.
pub fn split(a: &Analysis) -> Sections<'_> {
    let state = |f: &Feature| {
        a.services
            .iter()
            .find(|s| s.info.id == f.service)
            .map(|s| s.state)
    };
    // An unreachable service's checks could not run: its functions are not known either way,
    // whatever an earlier check said.
    let unreachable = |f: &Feature| state(f) == Some(ServiceState::Unreachable);
    let untouched = |f: &Feature| {
        unreachable(f) || (f.checked_at.is_none() && state(f) == Some(ServiceState::Unknown))
    };
    let available = |f: &Feature| f.available && !unreachable(f);
    let mut seen = std::collections::HashSet::new();
    let mut sections = Sections::default();
    // Customers know functions, not the services behind them: a check without a `feature`
    // names an internal service, which a notice leaves out.
    let public = || a.features().filter(|f| f.customer_facing);
    for f in public().filter(|f| seen.insert(f.name.as_str())) {
        // A function offered by several services is available only if all of them pass.
        let offers: Vec<&Feature> = public().filter(|g| g.name == f.name).collect();
        if offers.iter().all(|g| available(g)) {
            sections.available.push(f);
        } else if offers.iter().all(|g| available(g) || untouched(g)) {
            sections.not_checked.push(f);
        } else {
            sections.recovering.push(f);
        }
    }
    sections
}

pub fn render(a: &Analysis) -> String {
    let Sections {
        available: up,
        recovering,
        not_checked,
    } = split(a);
    let as_of = a.as_of.map_or_else(
        || "—".to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    let mut out = String::new();
    let _ = writeln!(out, "# Service status\n");
    let _ = writeln!(out, "As of {as_of}.\n");
    if let Some(began) = a.run.incident_start {
        let _ = writeln!(
            out,
            "The disruption began at {}.\n",
            began.format("%Y-%m-%d %H:%M UTC")
        );
    }
    if !a.services.is_empty() && !a.features().any(|f| f.customer_facing) {
        out.push_str("This runbook names no customer-facing functions (`feature` on its checks), so this notice lists none.\n");
        return out;
    }
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
        // A journal with no service checked says nothing about any function: claim nothing.
        out.push_str("- Not known yet: no function has been checked.\n\nWe will update this notice as soon as we know more.\n");
        return out;
    }
    if recovering.is_empty() && not_checked.is_empty() {
        out.push_str("- Nothing: every function is back.\n");
    } else if recovering.is_empty() {
        out.push_str("- Nothing among the functions we checked.\n");
    }
    for f in &recovering {
        let _ = writeln!(out, "- {}", f.name);
    }
    if !not_checked.is_empty() {
        out.push_str("\n## Not checked in this run\n\n");
        for f in &not_checked {
            let _ = writeln!(out, "- {}", f.name);
        }
        out.push_str(
            "\nWe have not checked these functions yet, so this notice does not say whether they are working.\n",
        );
    }
    out.push('\n');
    if !recovering.is_empty() {
        out.push_str(
            "We are restoring the remaining functions and will update this notice as each comes back.\n",
        );
    } else if !not_checked.is_empty() {
        out.push_str(
            "Every function we checked has been restored. We will update this notice once we have checked the rest.\n",
        );
    } else {
        out.push_str("All functions have been restored. Thank you for your patience.\n");
    }
    out
}
