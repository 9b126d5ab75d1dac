//! The plan as text for a person, as a Mermaid flowchart, and as a Graphviz DOT graph.
//! Edges point from a dependency to the service that waits for it ("restores before").
//! Pure string building; printing is the caller's.

use std::fmt::Write as _;
use std::time::Duration;

use super::Plan;
use crate::runbook::model::{Runbook, Service, ServiceId, StepAction};

impl Plan {
    /// Tier by tier, wave by wave: each service with its name, host count, RTO and what it
    /// waits for. Aligned in columns so it reads at a glance.
    pub fn render_text(&self, runbook: &Runbook) -> String {
        let services = lookup(runbook);
        let id_w = runbook
            .services
            .iter()
            .map(|s| s.id.as_str().chars().count())
            .max()
            .unwrap_or(0);
        let name_w = runbook
            .services
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(44);
        let mut out = String::new();
        for tier in &self.tiers {
            let count: usize = tier.waves.iter().map(Vec::len).sum();
            let _ = writeln!(
                out,
                "TIER {} — {} {}, {} {}",
                tier.tier,
                count,
                plural(count, "service", "services"),
                tier.waves.len(),
                plural(tier.waves.len(), "wave", "waves"),
            );
            for (w, wave) in tier.waves.iter().enumerate() {
                let together = if wave.len() > 1 {
                    "  (in parallel)"
                } else {
                    ""
                };
                let _ = writeln!(out, "  wave {}{together}", w + 1);
                for id in wave {
                    let Some(s) = services.get(id) else { continue };
                    let _ = writeln!(out, "    {}", service_line(s, id_w, name_w));
                }
            }
            out.push('\n');
        }
        out
    }

    /// A Mermaid flowchart with one subgraph per tier.
    pub fn render_mermaid(&self, runbook: &Runbook) -> String {
        let services = lookup(runbook);
        let node = node_ids(runbook);
        let mut out = String::from("flowchart LR\n");
        for tier in &self.tiers {
            let _ = writeln!(out, "  subgraph tier{}[\"Tier {}\"]", tier.tier, tier.tier);
            for id in tier.waves.iter().flatten() {
                let Some(s) = services.get(id) else { continue };
                let _ = writeln!(
                    out,
                    "    {}[\"{}<br/>{}<br/>{}\"]",
                    node[id],
                    mermaid_escape(id.as_str()),
                    mermaid_escape(&s.name),
                    mermaid_escape(&facts(s)),
                );
            }
            out.push_str("  end\n");
        }
        for s in &runbook.services {
            for d in &s.depends_on {
                if let (Some(from), Some(to)) = (node.get(d), node.get(&s.id)) {
                    let _ = writeln!(out, "  {from} --> {to}");
                }
            }
        }
        out
    }

    /// A Graphviz graph with one cluster per tier.
    pub fn render_dot(&self, runbook: &Runbook) -> String {
        let services = lookup(runbook);
        let mut out = String::from(
            "digraph bringup {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n",
        );
        let _ = writeln!(out, "  label=\"{}\";", dot_escape(&runbook.name));
        for tier in &self.tiers {
            let _ = writeln!(out, "  subgraph cluster_tier_{} {{", tier.tier);
            let _ = writeln!(out, "    label=\"Tier {}\";", tier.tier);
            for id in tier.waves.iter().flatten() {
                let Some(s) = services.get(id) else { continue };
                let _ = writeln!(
                    out,
                    "    \"{}\" [label=\"{}\\n{}\\n{}\"];",
                    dot_escape(id.as_str()),
                    dot_escape(id.as_str()),
                    dot_escape(&s.name),
                    dot_escape(&facts(s)),
                );
            }
            out.push_str("  }\n");
        }
        for s in &runbook.services {
            for d in &s.depends_on {
                let _ = writeln!(
                    out,
                    "  \"{}\" -> \"{}\";",
                    dot_escape(d.as_str()),
                    dot_escape(s.id.as_str())
                );
            }
        }
        out.push_str("}\n");
        out
    }
}

fn lookup(runbook: &Runbook) -> std::collections::HashMap<&ServiceId, &Service> {
    runbook.services.iter().map(|s| (&s.id, s)).collect()
}

/// Mermaid node ids must be plain words; service ids may hold '-' and '.'.
fn node_ids(runbook: &Runbook) -> std::collections::HashMap<&ServiceId, String> {
    runbook
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.id, format!("s{i}")))
        .collect()
}

fn service_line(s: &Service, id_w: usize, name_w: usize) -> String {
    let mut name: String = s.name.chars().take(name_w).collect();
    if s.name.chars().count() > name_w {
        name.pop();
        name.push('…');
    }
    let mut line = format!(
        "{:id_w$}  {:name_w$}  {:>9}  {:<11}",
        s.id.as_str(),
        name,
        hosts_text(s),
        s.rto.map_or_else(
            || "no RTO".to_string(),
            |r| format!("RTO {}", short_duration(r))
        ),
    );
    let manual = s
        .restores
        .iter()
        .filter(|st| matches!(st.action, StepAction::Manual(_)))
        .count();
    let confirm = s.restores.iter().filter(|st| st.confirm.asks()).count();
    let mut marks = Vec::new();
    if confirm > 0 {
        marks.push(format!("{confirm} to confirm"));
    }
    if manual > 0 {
        marks.push(format!("{manual} manual"));
    }
    if !marks.is_empty() {
        let _ = write!(line, "  [{}]", marks.join(", "));
    }
    if !s.depends_on.is_empty() {
        let deps: Vec<&str> = s.depends_on.iter().map(ServiceId::as_str).collect();
        let _ = write!(line, "  after {}", deps.join(", "));
    }
    line.trim_end().to_string()
}

fn hosts_text(s: &Service) -> String {
    let n = s.hosts.len();
    format!("{n} {}", plural(n, "host", "hosts"))
}

/// "3 hosts · RTO 30m" for graph labels.
fn facts(s: &Service) -> String {
    match s.rto {
        Some(r) => format!("{} · RTO {}", hosts_text(s), short_duration(r)),
        None => hosts_text(s),
    }
}

/// "1h30m", "72h", "45s", "500ms": the runbook's own way of writing durations (hours are not
/// folded into days: RTOs are read in hours).
pub(crate) fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let ms = d.subsec_millis();
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (u64::from(ms), "ms")] {
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
