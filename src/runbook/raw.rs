//! The runbook as written: serde structs mirroring the TOML (`deny_unknown_fields`, every
//! value `Spanned`), read section by section so that one bad value does not hide the others.
//! Checks only shape and types; meaning (references, cycles, durations) is `validate`'s job.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diag::{Diag, closest};

mod drill;
mod fleet;
pub use drill::{RawGuard, RawNotify, RawScenario, RawWitness};
pub use fleet::RawCount;

/// A value with where it was written, for diagnostics. Read as `toml::Spanned`; its JSON
/// Schema is the inner value's, since the span is not written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S<T>(Spanned<T>);

impl<T> S<T> {
    /// A value found at `span` (a part of a value that was read whole).
    pub fn at(span: Range<usize>, value: T) -> S<T> {
        S(Spanned::new(span, value))
    }
    pub fn span(&self) -> Range<usize> {
        self.0.span()
    }
    pub fn get_ref(&self) -> &T {
        self.0.get_ref()
    }
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for S<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Spanned::<T>::deserialize(deserializer).map(S)
    }
}

impl<T: JsonSchema> JsonSchema for S<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A duration as runbooks write it (schema only: it is read as text and parsed by
/// `duration::parse`, which gives the precise error).
pub struct DurationText;

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": super::duration::PATTERN,
            "description": "A duration: whole numbers with the units ms, s, m, h and d, like '500ms', '30s', '5m', '1h30m' or '2d' (at most '365d').",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMeta {
    /// The runbook's title, shown in the TUI header and on reports.
    pub name: Option<S<String>>,
    /// What the runbook restores and in what order (never shown to users as the cause).
    pub description: Option<S<String>>,
    /// The outage's cause as users should read it in the notice (`export --format notice`);
    /// operators' notes that start with `cause:` add to it.
    pub cause: Option<S<String>>,
    /// Variables whose values are masked as *** in the journal and on screen.
    pub secret_vars: Option<Vec<S<String>>>,
    /// Who users can reach about the outage (a phone number, an address, a page), for notices.
    pub contact: Option<S<String>>,
    /// Outages this long or longer must be notified to users (Korea: "2h"); off when unset.
    #[schemars(with = "Option<DurationText>")]
    pub notice_after: Option<S<String>>,
    /// How often the runbook should be drilled (e.g. "90d"); reports flag services past it.
    #[schemars(with = "Option<DurationText>")]
    pub drill_every: Option<S<String>>,
    /// An OpenSSH allowed_signers file (relative to the runbook's folder): requests from other
    /// processes must be signed by a key it lists for the operator they name.
    pub operators: Option<S<String>>,
    /// Principals who may watch a shared run and never act on it.
    pub observers: Option<Vec<S<String>>>,
    /// The `[sites]` entry whose loss this runbook recovers from: `preflight` and `report`
    /// check that nothing the run needs is there.
    pub lost_site: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// One attempt of one step on one host (default 30s).
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<S<String>>,
    /// Extra attempts after a failed one (default 0).
    pub retries: Option<S<u32>>,
    /// The wait between attempts (default 5s).
    #[schemars(with = "Option<DurationText>")]
    pub retry_delay: Option<S<String>>,
    /// The SSH user of hosts that set none.
    pub user: Option<S<String>>,
    /// Hosts in flight at once, across the whole run (default 32).
    pub concurrency: Option<S<u32>>,
    /// How long connecting, the SSH handshake and authentication may take together.
    #[schemars(with = "Option<DurationText>")]
    pub connect_timeout: Option<S<String>>,
    /// What a service whose restore fails does first (default "stop").
    #[schemars(with = "Option<OnFailText>")]
    pub on_fail: Option<S<String>>,
    /// How long a confirm step waits for an answer before it is declined (default: forever).
    #[schemars(with = "Option<DurationText>")]
    pub confirm_timeout: Option<S<String>>,
}

/// `confirm` as written: `true`/`false`, or how many people approve (1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawConfirm {
    Bool(bool),
    People(u8),
}

impl<'de> Deserialize<'de> for RawConfirm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawConfirm;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false, 1 or 2")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawConfirm, E> {
                Ok(RawConfirm::Bool(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawConfirm, E> {
                match v {
                    1 | 2 => Ok(RawConfirm::People(u8::try_from(v).unwrap_or(1))),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawConfirm, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `confirm`'s schema: a boolean, or 1 or 2 people.
pub struct ConfirmText;

impl JsonSchema for ConfirmText {
    fn schema_name() -> Cow<'static, str> {
        "Confirm".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                { "type": "boolean" },
                { "type": "integer", "enum": [1, 2] }
            ],
            "description": "true (or 1): an operator approves before the step runs; 2: two different verified people approve."
        })
    }
}

/// `on_fail`'s schema.
pub struct OnFailText;

impl JsonSchema for OnFailText {
    fn schema_name() -> Cow<'static, str> {
        "OnFail".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "enum": ["stop", "undo"],
            "description": "stop: the service is marked failed; undo: the undo of its restore steps already done runs first, newest first."
        })
    }
}

/// `only`'s schema.
pub struct OnlyText;

impl JsonSchema for OnlyText {
    fn schema_name() -> Cow<'static, str> {
        "Only".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "enum": ["incident", "drill"],
            "description": "The step runs in that mode only; in the other it is skipped and journaled as skipped."
        })
    }
}

/// A `[vars]` value: strings, and numbers or booleans taken as their text.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawVar {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl RawVar {
    pub fn text(&self) -> String {
        match self {
            RawVar::Text(s) => s.clone(),
            RawVar::Integer(i) => i.to_string(),
            RawVar::Float(f) => f.to_string(),
            RawVar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    /// Name or IP address to connect to (SSH hosts).
    pub address: Option<S<String>>,
    /// SSH port (default 22).
    #[schemars(range(min = 1))]
    pub port: Option<S<u16>>,
    /// SSH user (default: [defaults].user, then ~/.ssh/config, then $USER).
    pub user: Option<S<String>>,
    /// A private key file; the ssh-agent is tried first.
    pub identity: Option<S<String>>,
    /// Another [hosts] entry used as a jump host.
    pub jump: Option<S<String>>,
    /// Labels, for your own grouping.
    pub tags: Option<Vec<S<String>>>,
    /// "ssh" (default) or "local": run on the operator's own machine.
    #[schemars(extend("enum" = ["ssh", "local"]))]
    pub transport: Option<S<String>>,
    /// The [sites] entry the host is in (default: the site its address falls in).
    pub site: Option<S<String>>,
}

/// One `[sites.NAME]`: the addresses of a datacenter (or any place that can be lost whole).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    /// Networks in CIDR form ("10.20.0.0/16"), single IP addresses, and DNS suffixes
    /// ("pangyo.example": the name and every name under it).
    pub addresses: Vec<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// The service's id, unique in the runbook; `depends_on` names it.
    pub id: S<String>,
    /// A name for people (default: the id).
    pub name: Option<S<String>>,
    /// Restore order: lower tiers first.
    pub tier: Option<S<u32>>,
    /// Recovery time objective, shown against the time since the incident began.
    #[schemars(with = "Option<DurationText>")]
    pub rto: Option<S<String>>,
    /// Hosts, or [groups] as "@group", the service runs on.
    pub hosts: Option<Vec<S<String>>>,
    /// Services that must be up before this one is restored.
    pub depends_on: Option<Vec<S<String>>>,
    /// Steps that tell whether the service is up (at least one).
    #[serde(default)]
    pub check: Vec<S<RawStep>>,
    /// Steps that bring it back, in order.
    #[serde(default)]
    pub restore: Vec<S<RawStep>>,
    /// Drills only: steps that break the service.
    #[serde(default)]
    pub inject: Vec<S<RawStep>>,
    /// How often this service should be drilled (overrides `[runbook] drill_every`).
    #[schemars(with = "Option<DurationText>")]
    pub drill_every: Option<S<String>>,
    /// Hosts that must pass every check for the service to be up: a number or "P%"
    /// (default: every host). The others are shown as degraded hosts.
    pub min_healthy: Option<S<RawCount>>,
    /// When a restore step fails: "stop" (default: [defaults].on_fail), or "undo" what was done.
    #[schemars(with = "Option<OnFailText>")]
    pub on_fail: Option<S<String>>,
    /// Checks that could not be read (already reported); they still count as written, so a
    /// service whose only check is ill-typed is not also told it has no check.
    #[serde(skip)]
    pub unreadable_checks: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// The step's name, unique within its service and phase.
    pub name: S<String>,
    /// Checks: the customer-facing function this check stands for, for status notices.
    pub feature: Option<S<String>>,
    /// A shell command run on each of the step's hosts (or write `manual`).
    pub run: Option<S<String>>,
    /// An instruction an operator marks done or failed (or write `run`).
    pub manual: Option<S<String>>,
    /// Run on fewer hosts than the service's.
    pub hosts: Option<Vec<S<String>>>,
    /// The exit code that counts as success (default 0).
    #[schemars(range(min = 0, max = 255))]
    pub expect_exit: Option<S<i32>>,
    /// A regular expression the step's output must match.
    pub expect_output: Option<S<String>>,
    /// One attempt on one host (default: [defaults].timeout).
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<S<String>>,
    /// Extra attempts after a failed one (default: [defaults].retries).
    pub retries: Option<S<u32>>,
    /// The wait between attempts (default: [defaults].retry_delay).
    #[schemars(with = "Option<DurationText>")]
    pub retry_delay: Option<S<String>>,
    /// An operator approves before it runs (true or 1); 2: two different people do.
    #[schemars(with = "Option<ConfirmText>")]
    pub confirm: Option<S<RawConfirm>>,
    /// Restore and inject steps: hosts at a time, a number or "P%", in the order of the
    /// service's hosts (default: all at once).
    pub batch: Option<S<RawCount>>,
    /// Restore and inject steps: run on this many hosts first, then ask before the rest.
    #[schemars(range(min = 1))]
    pub canary: Option<S<u32>>,
    /// Restore and inject steps: failed hosts tolerated, a number or "P%" (default 0); once
    /// more have failed no new batch starts and the service fails.
    pub max_fail: Option<S<RawCount>>,
    /// Restore steps: the command that takes this step back (`bringup undo`, `u`, on_fail).
    pub undo: Option<S<String>>,
    /// Restore steps: run in this mode only ("incident" or "drill").
    #[schemars(with = "Option<OnlyText>")]
    pub only: Option<S<String>>,
    /// A confirm step not answered in this long is declined (default: [defaults].confirm_timeout).
    #[schemars(with = "Option<DurationText>")]
    pub confirm_timeout: Option<S<String>>,
}

/// A bringup runbook (TOML): hosts, services and the steps that check and restore them.
/// Schema only: `parse` reads these sections one by one, with the same types.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RawDocument {
    /// About the runbook.
    runbook: Option<RawMeta>,
    /// Defaults for every host and step.
    defaults: Option<RawDefaults>,
    /// Values for {{name}} in commands; `--var name=value` overrides.
    vars: Option<BTreeMap<String, RawVar>>,
    /// The machines steps run on, by id.
    hosts: Option<BTreeMap<String, RawHost>>,
    /// Named lists of hosts, usable wherever hosts are listed.
    groups: Option<BTreeMap<String, Vec<String>>>,
    /// Sites (datacenters) by name, and the addresses in each.
    sites: Option<BTreeMap<String, RawSite>>,
    /// The services, each with its checks, restores and drill injects.
    service: Option<Vec<RawService>>,
    /// Drill scenarios: which services a drill breaks.
    scenario: Option<Vec<RawScenario>>,
    /// Stop conditions checked before and during a drill.
    guard: Option<Vec<RawGuard>>,
    /// Webhooks told of state changes, the run's end and the user-notice deadline.
    notify: Option<Vec<RawNotify>>,
    /// Places outside the operator's reach that keep the journal's head.
    witness: Option<Vec<RawWitness>>,
}

/// The keys `parse` accepts, per section: a key not listed here is reported as unknown.
pub const ACCEPTED_KEYS: &[(&str, &[&str])] = &[
    ("", ROOT_KEYS),
    ("runbook", META_KEYS),
    ("defaults", DEFAULTS_KEYS),
    ("hosts.*", HOST_KEYS),
    ("sites.*", SITE_KEYS),
    ("service", SERVICE_KEYS),
    ("service.check", STEP_KEYS),
    ("service.restore", STEP_KEYS),
    ("service.inject", STEP_KEYS),
    ("scenario", drill::SCENARIO_KEYS),
    ("guard", drill::GUARD_KEYS),
    ("notify", drill::NOTIFY_KEYS),
    ("witness", drill::WITNESS_KEYS),
];

/// A `[[service]]` whose table could not be read; its id (when readable) is still known, so
/// that services depending on it are not also reported.
#[derive(Debug)]
pub struct BrokenService {
    pub id: Option<String>,
}

/// The whole document, each section read on its own.
#[derive(Debug, Default)]
pub struct RawRunbook {
    pub meta: RawMeta,
    pub meta_span: Option<Range<usize>>,
    pub defaults: RawDefaults,
    pub vars: IndexMap<String, (Range<usize>, S<RawVar>)>,
    pub hosts: IndexMap<String, (Range<usize>, RawHost)>,
    pub groups: IndexMap<String, (Range<usize>, Vec<S<String>>)>,
    pub sites: IndexMap<String, (Range<usize>, RawSite)>,
    pub services: Vec<RawService>,
    pub broken_services: Vec<BrokenService>,
    pub scenarios: Vec<S<RawScenario>>,
    pub guards: Vec<S<RawGuard>>,
    pub notify: Vec<S<RawNotify>>,
    pub witness: Vec<S<RawWitness>>,
}

const ROOT_KEYS: &[&str] = &[
    "runbook", "defaults", "vars", "hosts", "groups", "service", "scenario", "guard", "notify",
    "sites", "witness",
];
const META_KEYS: &[&str] = &[
    "name",
    "description",
    "cause",
    "secret_vars",
    "contact",
    "notice_after",
    "drill_every",
    "operators",
    "observers",
    "lost_site",
];
const DEFAULTS_KEYS: &[&str] = &[
    "timeout",
    "retries",
    "retry_delay",
    "user",
    "concurrency",
    "connect_timeout",
    "on_fail",
    "confirm_timeout",
];
const HOST_KEYS: &[&str] = &[
    "address",
    "port",
    "user",
    "identity",
    "jump",
    "tags",
    "transport",
    "site",
];
const SITE_KEYS: &[&str] = &["addresses"];
const SERVICE_KEYS: &[&str] = &[
    "id",
    "name",
    "tier",
    "rto",
    "hosts",
    "depends_on",
    "check",
    "restore",
    "inject",
    "drill_every",
    "min_healthy",
    "on_fail",
];
const STEP_KEYS: &[&str] = &[
    "name",
    "feature",
    "run",
    "manual",
    "hosts",
    "expect_exit",
    "expect_output",
    "timeout",
    "retries",
    "retry_delay",
    "confirm",
    "batch",
    "canary",
    "max_fail",
    "undo",
    "only",
    "confirm_timeout",
];
const PHASES: &[&str] = &["check", "restore", "inject"];

/// Parse the TOML text. Syntax errors stop here (all of them reported); otherwise every unknown
/// key and every ill-typed value is reported and the rest is read.
pub fn parse(src: &str, diags: &mut Vec<Diag>) -> Option<RawRunbook> {
    let (doc, errors) = DeTable::parse_recoverable(src);
    if !errors.is_empty() {
        for e in errors {
            diags.push(toml_error(&e, 0..0));
        }
        return None;
    }
    let mut root = doc.into_inner();
    remove_unknown_keys(&mut root, ROOT_KEYS, "the top level", diags);
    let mut raw = RawRunbook::default();

    if let Some((_, v)) = root.remove_entry("runbook") {
        raw.meta_span = Some(v.span());
        let v = strip_table(v, META_KEYS, "[runbook]", diags);
        raw.meta = read(v, diags).unwrap_or_default();
    }
    if let Some(v) = root.remove("defaults") {
        let v = strip_table(v, DEFAULTS_KEYS, "[defaults]", diags);
        raw.defaults = read(v, diags).unwrap_or_default();
    }
    if let Some(v) = root.remove("vars") {
        for (k, v) in entries(v, "[vars]", diags) {
            if let DeValue::Array(_) | DeValue::Table(_) | DeValue::Datetime(_) = v.get_ref() {
                diags.push(
                    Diag::new(
                        v.span(),
                        format!(
                            "variable '{}' is {}; a variable is text, a number or true/false",
                            k.get_ref(),
                            v.get_ref().type_str()
                        ),
                    )
                    .help("quote the value to use it as text"),
                );
                continue;
            }
            if let Some(value) = read::<S<RawVar>>(v, diags) {
                raw.vars.insert(k.get_ref().to_string(), (k.span(), value));
            }
        }
    }
    if let Some(v) = root.remove("hosts") {
        for (k, v) in entries(v, "[hosts]", diags) {
            let what = format!("[hosts.{}]", k.get_ref());
            let span = k.span();
            let v = strip_table(v, HOST_KEYS, &what, diags);
            if let Some(host) = read::<RawHost>(v, diags) {
                raw.hosts.insert(k.into_inner().into_owned(), (span, host));
            }
        }
    }
    if let Some(v) = root.remove("groups") {
        for (k, v) in entries(v, "[groups]", diags) {
            if let Some(members) = read::<Vec<S<String>>>(v, diags) {
                raw.groups
                    .insert(k.get_ref().to_string(), (k.span(), members));
            }
        }
    }
    if let Some(v) = root.remove("sites") {
        for (k, v) in entries(v, "[sites]", diags) {
            let what = format!("[sites.{}]", k.get_ref());
            let span = k.span();
            let v = strip_table(v, SITE_KEYS, &what, diags);
            if let Some(site) = read::<RawSite>(v, diags) {
                raw.sites.insert(k.into_inner().into_owned(), (span, site));
            }
        }
    }
    if let Some(v) = root.remove("service") {
        read_services(v, &mut raw, diags);
    }
    if let Some(v) = root.remove("scenario") {
        drill::read_scenarios(v, &mut raw, diags);
    }
    if let Some(v) = root.remove("guard") {
        drill::read_guards(v, &mut raw, diags);
    }
    if let Some(v) = root.remove("notify") {
        drill::read_notify(v, &mut raw, diags);
    }
    if let Some(v) = root.remove("witness") {
        drill::read_witnesses(v, &mut raw, diags);
    }
    Some(raw)
}

fn read_services(v: Spanned<DeValue<'_>>, raw: &mut RawRunbook, diags: &mut Vec<Diag>) {
    let span = v.span();
    let DeValue::Array(items) = v.into_inner() else {
        diags.push(
            Diag::new(span, "'service' must be an array of tables")
                .help("write each service as [[service]]"),
        );
        return;
    };
    for item in items {
        let span = item.span();
        let DeValue::Table(mut table) = item.into_inner() else {
            diags.push(Diag::new(
                span,
                "each 'service' must be a table; write [[service]]",
            ));
            continue;
        };
        let id = table
            .get("id")
            .and_then(|v| v.get_ref().as_str())
            .map(str::to_string);
        let what = id.as_deref().map_or_else(
            || "[[service]]".to_string(),
            |id| format!("[[service]] '{id}'"),
        );
        remove_unknown_keys(&mut table, SERVICE_KEYS, &what, diags);
        // Steps are read one by one, so one bad step neither hides the others nor the service.
        let mut phases: Vec<Vec<S<RawStep>>> = Vec::new();
        let mut unreadable_checks = 0;
        for phase in PHASES {
            let Some(value) = table.remove(*phase) else {
                phases.push(Vec::new());
                continue;
            };
            let span = value.span();
            let DeValue::Array(items) = value.into_inner() else {
                diags.push(
                    Diag::new(span, format!("'{phase}' must be an array of tables"))
                        .help(format!("write each step as [[service.{phase}]]")),
                );
                unreadable_checks += usize::from(*phase == "check");
                phases.push(Vec::new());
                continue;
            };
            let step_what = format!("[[service.{phase}]] of {what}");
            let mut steps = Vec::new();
            for mut step in items {
                if let DeValue::Table(t) = step.get_mut() {
                    remove_unknown_keys(t, STEP_KEYS, &step_what, diags);
                }
                match read::<S<RawStep>>(step, diags) {
                    Some(s) => steps.push(s),
                    None => unreadable_checks += usize::from(*phase == "check"),
                }
            }
            phases.push(steps);
        }
        let value = Spanned::new(span, DeValue::Table(table));
        match read::<RawService>(value, diags) {
            Some(mut service) => {
                let mut phases = phases.into_iter();
                service.check = phases.next().unwrap_or_default();
                service.restore = phases.next().unwrap_or_default();
                service.inject = phases.next().unwrap_or_default();
                service.unreadable_checks = unreadable_checks;
                raw.services.push(service);
            }
            None => raw.broken_services.push(BrokenService { id }),
        }
    }
}

/// Deserialize one value, reporting a failure with the span of the offending part.
fn read<'de, T: Deserialize<'de>>(v: Spanned<DeValue<'de>>, diags: &mut Vec<Diag>) -> Option<T> {
    let span = v.span();
    match T::deserialize(ValueDeserializer::from(v)) {
        Ok(t) => Some(t),
        Err(e) => {
            diags.push(toml_error(&e, span));
            None
        }
    }
}

/// The entries of a table-valued section, or a diagnostic when it is not a table.
fn entries<'de>(
    v: Spanned<DeValue<'de>>,
    what: &str,
    diags: &mut Vec<Diag>,
) -> Vec<(Spanned<Cow<'de, str>>, Spanned<DeValue<'de>>)> {
    let span = v.span();
    match v.into_inner() {
        DeValue::Table(t) => t.into_iter().collect(),
        other => {
            diags.push(Diag::new(
                span,
                format!("{what} must be a table, not {}", other.type_str()),
            ));
            Vec::new()
        }
    }
}

fn strip_table<'de>(
    mut v: Spanned<DeValue<'de>>,
    known: &[&str],
    what: &str,
    diags: &mut Vec<Diag>,
) -> Spanned<DeValue<'de>> {
    if let DeValue::Table(t) = v.get_mut() {
        remove_unknown_keys(t, known, what, diags);
    }
    v
}

/// Report every key of `table` not in `known` (with the closest known key as a suggestion) and
/// drop it, so that the rest of the table can still be read.
fn remove_unknown_keys(table: &mut DeTable<'_>, known: &[&str], what: &str, diags: &mut Vec<Diag>) {
    let unknown: Vec<(String, Range<usize>)> = table
        .keys()
        .filter(|k| !known.contains(&k.get_ref().as_ref()))
        .map(|k| (k.get_ref().to_string(), k.span()))
        .collect();
    for (key, span) in unknown {
        table.remove(key.as_str());
        let diag = Diag::new(span, format!("unknown key '{key}' in {what}"));
        let diag = match closest(&key, known.iter().copied()) {
            Some(s) => diag.suggest(Some(s)),
            None => diag.help(format!("known keys here: {}", known.join(", "))),
        };
        diags.push(diag);
    }
}

/// A toml error as a diagnostic, in the words and quoting of our other messages.
fn toml_error(e: &toml::de::Error, fallback: Range<usize>) -> Diag {
    Diag::new(e.span().unwrap_or(fallback), humanize(e.message()))
}

/// serde says `invalid type: string "x", expected u32`; an operator reads
/// `invalid type: 'x' is a string, expected a whole number (0 or more)`.
fn humanize(message: &str) -> String {
    let mut m = message.trim().replace('`', "'");
    if let Some(rest) = m.strip_prefix("invalid type: string \"")
        && let Some((value, tail)) = rest.split_once("\", ")
    {
        m = if tail == "expected a sequence" {
            format!("invalid type: '{value}' is a string, expected a list; write [\"{value}\"]")
        } else {
            format!("invalid type: '{value}' is a string, {tail}")
        };
    }
    m = m.replace("expected a sequence", "expected a list like [\"a\", \"b\"]");
    if let Some(field) = m.strip_prefix("missing field '") {
        m = format!("missing key '{field}");
    }
    if let Some(at) = m.find("expected struct Raw") {
        m.truncate(at);
        m.push_str("expected a table");
    }
    for (from, to) in [
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u16", "expected a port number from 1 to 65535"),
        ("expected i32", "expected an exit code from 0 to 255"),
        ("expected a boolean", "expected true or false"),
    ] {
        m = m.replace(from, to);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> (Option<RawRunbook>, Vec<Diag>) {
        let mut diags = Vec::new();
        let raw = parse(src, &mut diags);
        (raw, diags)
    }

    #[test]
    fn every_schema_key_is_a_field_of_its_struct() {
        // The key lists drive unknown-key reports; the structs drive reading. They must agree.
        let src = r#"
[runbook]
name = "n"
description = "d"
secret_vars = ["t"]
drill_every = "90d"
[defaults]
timeout = "1s"
retries = 1
retry_delay = "1s"
user = "u"
concurrency = 4
[vars]
t = "x"
n = 3
[hosts.a]
address = "a"
port = 22
user = "u"
identity = "~/.ssh/id"
jump = "b"
tags = ["x"]
transport = "ssh"
site = "east"
[sites.east]
addresses = ["10.0.0.0/8", "east.example"]
[groups]
g = ["a"]
[[service]]
id = "s"
name = "S"
tier = 1
rto = "5m"
hosts = ["a"]
depends_on = []
drill_every = "30d"
[[service.check]]
name = "c"
feature = "f"
run = "true"
hosts = ["a"]
expect_exit = 0
expect_output = "ok"
timeout = "1s"
retries = 0
retry_delay = "1s"
confirm = false
[[service.restore]]
name = "r"
manual = "do it"
[[service.inject]]
name = "i"
run = "false"
[[scenario]]
id = "x"
name = "X"
description = "d"
inject = ["s"]
[[guard]]
name = "g"
run = "true"
hosts = ["a"]
every = "10s"
timeout = "1s"
expect_exit = 0
expect_output = "ok"
"#;
        let (raw, diags) = parse_ok(src);
        assert_eq!(diags, Vec::new());
        let raw = raw.expect("parsed");
        assert_eq!(raw.services.len(), 1);
        assert_eq!(raw.services[0].check.len(), 1);
        assert_eq!(raw.services[0].restore.len(), 1);
        assert_eq!(raw.services[0].inject.len(), 1);
        assert_eq!(raw.vars["n"].1.get_ref().text(), "3");
        assert_eq!((raw.scenarios.len(), raw.guards.len()), (1, 1));
        assert_eq!(raw.sites["east"].1.addresses.len(), 2);
        assert!(raw.hosts["a"].1.site.is_some());
    }

    #[test]
    fn every_unknown_key_is_reported_and_the_rest_still_read() {
        let src = "[defaults]\ntimout = \"1s\"\n[[service]]\nid = \"a\"\ndepnds_on = [\"b\"]\n[[service.check]]\nname = \"c\"\nrun = \"true\"\nexpect = 0\n";
        let (raw, diags) = parse_ok(src);
        let messages: Vec<_> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("'timout'"));
        assert_eq!(diags[0].help.as_deref(), Some("did you mean 'timeout'?"));
        assert_eq!(diags[1].help.as_deref(), Some("did you mean 'depends_on'?"));
        let raw = raw.expect("parsed");
        assert_eq!(raw.services.len(), 1, "the service is still read");
    }

    #[test]
    fn a_type_error_in_one_service_keeps_its_id_known() {
        let src = "[[service]]\nid = \"a\"\ntier = \"one\"\n[[service]]\nid = \"b\"\n";
        let (raw, diags) = parse_ok(src);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(diags[0].message.contains("invalid type"), "{diags:?}");
        let raw = raw.expect("parsed");
        assert_eq!(raw.services.len(), 1);
        assert_eq!(raw.broken_services[0].id.as_deref(), Some("a"));
        // The span points at the bad value.
        assert_eq!(&src[diags[0].span.clone()], "\"one\"");
    }

    #[test]
    fn a_bad_step_is_reported_without_hiding_its_service_or_other_steps() {
        let src = "[[service]]\nid = \"a\"\n[[service.check]]\nname = \"c\"\nrun = \"x\"\nconfirm = \"yes\"\n[[service.restore]]\nname = \"r\"\nrun = \"y\"\nretries = -1\n[[service.restore]]\nname = \"ok\"\nrun = \"z\"\n";
        let (raw, diags) = parse_ok(src);
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert!(
            diags[0].message.contains("expected true, false, 1 or 2"),
            "{diags:?}"
        );
        let raw = raw.expect("parsed");
        let service = &raw.services[0];
        assert_eq!(service.unreadable_checks, 1);
        assert_eq!(service.restore.len(), 1);
        assert_eq!(service.restore[0].get_ref().name.get_ref(), "ok");
    }

    #[test]
    fn a_list_or_table_in_vars_and_a_string_for_a_list_are_told_plainly() {
        let src = "[vars]\nx = [1]\ny = 2\n[groups]\ng = \"h\"\n";
        let (raw, diags) = parse_ok(src);
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert_eq!(
            diags[0].message,
            "variable 'x' is array; a variable is text, a number or true/false"
        );
        assert_eq!(
            diags[1].message,
            "invalid type: 'h' is a string, expected a list; write [\"h\"]"
        );
        assert!(raw.expect("parsed").vars.contains_key("y"));
    }

    #[test]
    fn out_of_range_numbers_name_the_range_they_must_be_in() {
        let src = "[hosts.h]\nport = 70000\n[[service]]\nid = \"a\"\ntier = 99999999999\n";
        let (_, diags) = parse_ok(src);
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "invalid value: integer '70000', expected a port number from 1 to 65535",
                "invalid value: integer '99999999999', expected a whole number from 0 to 4294967295",
            ]
        );
    }

    #[test]
    fn syntax_errors_are_reported_with_a_position() {
        let (raw, diags) = parse_ok("[runbook\nname = 1\n");
        assert!(raw.is_none());
        assert!(!diags.is_empty());
        assert!(diags[0].span.start <= 8, "{diags:?}");
    }
}
