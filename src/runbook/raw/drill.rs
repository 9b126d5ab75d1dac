//! The drill sections as written: `[[scenario]]` and `[[guard]]` (and `[[notify]]`, read the
//! same way), read like the rest of the
//! runbook (unknown keys reported with a suggestion, one bad table not hiding the others).
//! Meaning (which services, which hosts, durations) is `validate/drill.rs`'s job.

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::{Diag, DurationText, RawRunbook, S, read, remove_unknown_keys};

/// A drill scenario: which services a drill breaks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// The scenario's id, unique in the runbook: `bringup drill RUNBOOK --scenario ID`.
    pub id: S<String>,
    /// What the scenario is called on reports.
    pub name: Option<S<String>>,
    /// What the scenario rehearses.
    pub description: Option<S<String>>,
    /// Services to break by their inject steps: service ids, or "@tier:N" for every service of a tier.
    pub inject: Option<S<Vec<S<String>>>>,
}

/// A stop condition checked before and during a drill: when it fails, the drill stops
/// injecting and restores what it broke.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    /// What the guard watches, in words.
    pub name: S<String>,
    /// A read-only shell command; it passes like a check.
    pub run: Option<S<String>>,
    /// Host ids or @group where it runs.
    pub hosts: Option<Vec<S<String>>>,
    /// How often it runs during a drill (default 10s, at least 1s).
    #[schemars(with = "Option<DurationText>")]
    pub every: Option<S<String>>,
    /// One attempt's timeout.
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<S<String>>,
    /// The exit code that passes (default 0).
    pub expect_exit: Option<S<i32>>,
    /// A regex the output must match to pass.
    pub expect_output: Option<S<String>>,
}

/// A webhook told of what happens in a run (SPEC "Notifications"). Its `Debug` shows
/// neither the URL nor the header's value: either may be a secret as written.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// The webhook's http:// or https:// URL; {{var}} placeholders let a secret URL come
    /// from --var-env or --var-file. Never journaled or shown.
    pub url: S<String>,
    /// "slack" ({"text": ...}) or "json" (bringup's own object, see the README).
    pub format: Option<S<String>>,
    /// What is sent: any of "service_state", "run_finished", "notice" (default all).
    pub on: Option<Vec<S<String>>>,
    /// An extra header sent with each request, e.g. "Authorization: Bearer {{hook_token}}".
    /// Never journaled or shown.
    pub secret_header: Option<S<String>>,
}

impl std::fmt::Debug for RawNotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawNotify")
            .field("url", &format_args!("***"))
            .field("format", &self.format)
            .field("on", &self.on)
            .field(
                "secret_header",
                &self.secret_header.as_ref().map(|_| format_args!("***")),
            )
            .finish()
    }
}

/// A witness (SPEC "Sites and witnesses"): somewhere outside the operator's reach that keeps
/// the journal's head every 50 events and at the end, so a cut or rewritten journal is
/// caught by `bringup verify --witness`. Exactly one of `path` and `url`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWitness {
    /// A directory (relative to the runbook's folder), e.g. a share mounted from another
    /// team's host: one file of heads per run. It must exist; bringup never creates it.
    pub path: Option<S<String>>,
    /// An etcd cluster: etcd://HOST:PORT[,HOST:PORT…]/NAME; heads go under
    /// bringup/witness/NAME/.
    pub url: Option<S<String>>,
}

pub const WITNESS_KEYS: &[&str] = &["path", "url"];
pub const SCENARIO_KEYS: &[&str] = &["id", "name", "description", "inject"];
pub const NOTIFY_KEYS: &[&str] = &["url", "format", "on", "secret_header"];
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
pub fn read_scenarios(v: Spanned<DeValue<'_>>, raw: &mut RawRunbook, diags: &mut Vec<Diag>) {
    for table in tables(v, "scenario", diags) {
        raw.scenarios.extend(read::<S<RawScenario>>(table, diags));
    }
}

/// `[[guard]]` tables into `raw.guards`, each read on its own.
pub fn read_guards(v: Spanned<DeValue<'_>>, raw: &mut RawRunbook, diags: &mut Vec<Diag>) {
    for table in tables(v, "guard", diags) {
        raw.guards.extend(read::<S<RawGuard>>(table, diags));
    }
}

/// `[[notify]]` tables into `raw.notify`, each read on its own.
pub fn read_notify(v: Spanned<DeValue<'_>>, raw: &mut RawRunbook, diags: &mut Vec<Diag>) {
    for table in tables(v, "notify", diags) {
        raw.notify.extend(read::<S<RawNotify>>(table, diags));
    }
}

/// `[[witness]]` tables into `raw.witness`, each read on its own.
pub fn read_witnesses(v: Spanned<DeValue<'_>>, raw: &mut RawRunbook, diags: &mut Vec<Diag>) {
    for table in tables(v, "witness", diags) {
        raw.witness.extend(read::<S<RawWitness>>(table, diags));
    }
}

/// The tables of an array of tables, unknown keys already reported and removed.
fn tables<'de>(
    v: Spanned<DeValue<'de>>,
    key: &str,
    diags: &mut Vec<Diag>,
) -> Vec<Spanned<DeValue<'de>>> {
    let known = match key {
        "scenario" => SCENARIO_KEYS,
        "notify" => NOTIFY_KEYS,
        "witness" => WITNESS_KEYS,
        _ => GUARD_KEYS,
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
            .filter(|_| key != "notify")
            .and_then(|v| v.get_ref().as_str())
            .map_or_else(|| format!("[[{key}]]"), |n| format!("[[{key}]] '{n}'"));
        remove_unknown_keys(t, known, &what, diags);
        out.push(item);
    }
    out
}
