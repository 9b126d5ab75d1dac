//! `bringup validate` and `bringup plan`: load a runbook, print its plan or its problems.
//! Exit 0 when valid, 2 with diagnostics on stderr otherwise. Runs nothing.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::{PlanArgs, PlanFormat, ValidateArgs};
use crate::runbook::model::StepAction;
use crate::runbook::{self, Diagnostics, Plan, Runbook};

use super::{EXIT_BAD_INPUT, EXIT_OK};

pub fn validate(args: &ValidateArgs) -> ExitCode {
    let vars = match super::session::var_values(&args.vars) {
        Ok(vars) => vars,
        Err(code) => return code,
    };
    match runbook::load(&args.runbook, &vars) {
        Ok(rb) => {
            let plan = Plan::build(&rb);
            let mut out = summary(&rb, &args.runbook.display().to_string());
            out.push_str(&plan.render_text(&rb));
            out.push_str(
                "Checks run first on every service at once; then tiers restore in ascending order, each wave's services in parallel.\n",
            );
            out.push_str(&drills_text(&rb));
            emit(&out)
        }
        Err(d) => report(&d, &args.runbook.display().to_string()),
    }
}

pub fn plan(args: &PlanArgs) -> ExitCode {
    let vars = match super::session::var_values(&args.vars) {
        Ok(vars) => vars,
        Err(code) => return code,
    };
    match runbook::load(&args.runbook, &vars) {
        Ok(rb) => {
            let plan = Plan::build(&rb);
            let out = match args.format {
                PlanFormat::Text => plan.render_text(&rb),
                PlanFormat::Mermaid => plan.render_mermaid(&rb),
                PlanFormat::Dot => plan.render_dot(&rb),
            };
            emit(&out)
        }
        Err(d) => report(&d, &args.runbook.display().to_string()),
    }
}

/// Print to stdout in one write. A closed pipe (`| head`) is the reader's choice, not an error.
fn emit(text: &str) -> ExitCode {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("error: cannot write the plan: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn report(d: &Diagnostics, path: &str) -> ExitCode {
    use std::io::Write as _;
    let mut text = d.to_string();
    let n = d.0.len();
    // A file that cannot be read or a bad --var is one self-explaining line; no tally needed.
    if !d.0.iter().all(|m| m.starts_with("error:")) {
        let _ = writeln!(
            text,
            "\n{path}: {n} {} found; fix {} and run `bringup validate` again.",
            if n == 1 { "problem" } else { "problems" },
            if n == 1 { "it" } else { "them" },
        );
    }
    // Nothing sensible is left to do if stderr itself is closed.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    ExitCode::from(EXIT_BAD_INPUT)
}

/// The headline of `validate`: what the runbook is and what it will ask of the operator.
fn summary(rb: &Runbook, path: &str) -> String {
    let steps = || {
        rb.services
            .iter()
            .flat_map(|s| s.checks.iter().chain(&s.restores))
    };
    let confirm = steps().filter(|s| s.confirm.asks()).count();
    let manual = steps()
        .filter(|s| matches!(s.action, StepAction::Manual(_)))
        .count();
    let injects: usize = rb.services.iter().map(|s| s.injects.len()).sum();
    let tiers: std::collections::BTreeSet<u32> = rb.services.iter().map(|s| s.tier).collect();
    let mut out = format!("✓ {path} is valid: {}\n", rb.name);
    if !rb.description.is_empty() {
        let _ = writeln!(out, "  {}", rb.description.trim());
    }
    let _ = writeln!(
        out,
        "  {} · {} · {} · {} to confirm · {} · {}",
        count(rb.services.len(), "service", "services"),
        count(tiers.len(), "tier", "tiers"),
        count(rb.hosts.len(), "host", "hosts"),
        count(confirm, "step", "steps"),
        count(manual, "manual step", "manual steps"),
        count(injects, "drill inject", "drill injects"),
    );
    if !rb.vars.is_empty() || !rb.secret_vars.is_empty() {
        let mut shown: Vec<String> = rb
            .vars
            .iter()
            .map(|(k, v)| {
                if rb.secret_vars.contains(k) {
                    format!("{k}=***")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        shown.extend(
            rb.secret_vars
                .iter()
                .filter(|k| !rb.vars.contains_key(*k))
                .map(|k| format!("{k}=(secret, not set)")),
        );
        let _ = writeln!(out, "  vars: {}", shown.join(", "));
    }
    let unset = rb.unset_secrets();
    if !unset.is_empty() {
        let _ = writeln!(
            out,
            "  note: pass {} (or --var-file KEY=PATH) to `bringup run` and `open`: a secret stays out of your shell history and `ps`, and is shown as *** everywhere; `bringup preflight` runs without it",
            unset
                .iter()
                .map(|k| format!("--var-env {k}={}", k.to_ascii_uppercase()))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    out.push('\n');
    out
}

/// The scenarios (services by tier, in plan order) and guards, after the plan; empty when the
/// runbook has neither.
fn drills_text(rb: &Runbook) -> String {
    let drills = &rb.drills;
    let mut out = String::new();
    if !drills.scenarios.is_empty() {
        let _ = writeln!(
            out,
            "\nDrill scenarios (bringup drill RUNBOOK --scenario ID, or run --drill --scenario ID):"
        );
        for sc in &drills.scenarios {
            let _ = writeln!(
                out,
                "  {} · {} · {}",
                sc.id,
                sc.name,
                count(sc.services.len(), "service", "services")
            );
            if !sc.description.is_empty() {
                let _ = writeln!(out, "    {}", sc.description.trim());
            }
            let mut by_tier: std::collections::BTreeMap<u32, Vec<&str>> =
                std::collections::BTreeMap::new();
            for id in &sc.services {
                if let Some(s) = rb.services.iter().find(|s| &s.id == id) {
                    by_tier.entry(s.tier).or_default().push(id.as_str());
                }
            }
            for (tier, ids) in by_tier {
                let _ = writeln!(out, "    tier {tier}: {}", ids.join(", "));
            }
        }
    }
    if !drills.guards.is_empty() {
        let _ = writeln!(out, "\nGuards (checked before and during a drill):");
        for g in &drills.guards {
            let hosts: Vec<&str> = g
                .step
                .hosts
                .iter()
                .map(crate::runbook::HostId::as_str)
                .collect();
            let _ = writeln!(
                out,
                "  {} · on {} · every {}",
                g.step.name,
                hosts.join(", "),
                every_text(g.every)
            );
        }
    }
    if drills.every.is_some() || !drills.service_every.is_empty() {
        let own: Vec<String> = drills
            .service_every
            .iter()
            .map(|(id, d)| format!("{id}: {}", every_text(*d)))
            .collect();
        let base = drills.every.map_or_else(
            || "Drill these services at least every".to_string(),
            |d| format!("Drill each service at least every {}", every_text(d)),
        );
        let _ = writeln!(
            out,
            "\n{base}{}.",
            if own.is_empty() {
                String::new()
            } else if drills.every.is_some() {
                format!(" ({})", own.join(", "))
            } else {
                format!(": {}", own.join(", "))
            }
        );
    }
    out
}

/// "90d", "12h", "10s": the largest whole unit, as a runbook would write it.
fn every_text(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s if d.subsec_millis() == 0 => format!("{s}s"),
        _ => format!("{}ms", d.as_millis()),
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
