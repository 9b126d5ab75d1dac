//! The drill sections as written: `[[scenario]]` and `[[guard]]`, read like the rest of the
//! runbook (unknown keys reported with a suggestion, one bad table not hiding the others).
//! Meaning (which services, which hosts, durations) is `validate/drill.rs`'s job.

use serde::Deserialize;
use toml::de::DeValue;

use super::{Diag, RawRunbook, S, read, remove_unknown_keys};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub id: S<String>,
    pub name: Option<S<String>>,
    pub description: Option<S<String>>,
    pub inject: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    pub name: S<String>,
    pub run: Option<S<String>>,
    pub hosts: Option<Vec<S<String>>>,
    pub every: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub expect_exit: Option<S<i32>>,
    pub expect_output: Option<S<String>>,
}

pub const SCENARIO_KEYS: &[&str] = &["id", "name", "description", "inject"];
pub const GUARD_KEYS: &[&str] = &[
    "name",
    "run",
    "hosts",
    "every",
    "timeout",
    "expect_exit",
    "expect_output",
];

/// `[[scenario]]` tables into `raw.scenarios`, each read on its own.
pub fn read_scenarios(v: S<DeValue<'_>>, raw: &mut RawRunbook, diags: &mut Vec<Diag>) {
    for table in tables(v, "scenario", diags) {
        raw.scenarios.extend(read::<S<RawScenario>>(table, diags));
    }
}

/// `[[guard]]` tables into `raw.guards`, each read on its own.
pub fn read_guards(v: S<DeValue<'_>>, raw: &mut RawRunbook, diags: &mut Vec<Diag>) {
    for table in tables(v, "guard", diags) {
        raw.guards.extend(read::<S<RawGuard>>(table, diags));
    }
}

/// The tables of an array of tables, unknown keys already reported and removed.
fn tables<'de>(v: S<DeValue<'de>>, key: &str, diags: &mut Vec<Diag>) -> Vec<S<DeValue<'de>>> {
    let known = if key == "scenario" {
        SCENARIO_KEYS
    } else {
        GUARD_KEYS
    };
    let span = v.span();
    let DeValue::Array(items) = v.into_inner() else {
        diags.push(
            Diag::new(span, format!("'{key}' must be an array of tables"))
                .help(format!("write each one as [[{key}]]")),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for mut item in items {
        let span = item.span();
        let DeValue::Table(t) = item.get_mut() else {
            diags.push(Diag::new(
                span,
                format!("each '{key}' must be a table; write [[{key}]]"),
            ));
            continue;
        };
        let what = t
            .get("id")
            .or_else(|| t.get("name"))
            .and_then(|v| v.get_ref().as_str())
            .map_or_else(|| format!("[[{key}]]"), |n| format!("[[{key}]] '{n}'"));
        remove_unknown_keys(t, known, &what, diags);
        out.push(item);
    }
    out
}
