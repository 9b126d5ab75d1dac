//! Raw runbook → validated [`Runbook`]: resolves defaults, variables, hosts and groups, checks
//! every reference, and reports every problem at once. Pure: no IO, no TOML parsing.
//!
//! Decisions beyond SPEC, kept here so they are found:
//! - A step's `hosts` may name any known host or `@group`, not only its service's hosts, so a
//!   check can probe from the operator's machine or a restore can act on a load balancer.
//! - A `run` step must end up with at least one host; a `manual` step needs none.
//! - Names in `secret_vars` count as declared even without a value, so a runbook validates
//!   before the secret is passed with `--var`; an unset secret is left out of `vars`.
//! - `[vars]` may not define the built-ins `host`, `address`, `service`.
//! - Step names are unique within a service's checks, restores and injects: the journal names
//!   steps by them.

mod drill;
mod fleet;
mod graph;
mod hosts;
mod notify;
mod policy;
mod sites;
mod witness;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use super::diag::{Diag, closest};
use super::duration;
use super::model::{
    Confirm, Defaults, Host, HostId, Operators, Runbook, Service, ServiceId, Step, StepAction,
    Template, TemplatePart,
};
use super::raw::{RawConfirm, RawRunbook, RawService, RawStep, S};

/// More retries than this is a typo; a step that must wait long raises `retry_delay` instead.
pub const MAX_RETRIES: u32 = 10_000;
/// The shortest `timeout` a step may have: below it a check cannot even start on a host.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// The shortest `connect_timeout`: a TCP connect and an SSH handshake need round trips.
pub const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// `drill_every` shorter than an hour is a typo (drills are days or months apart).
pub const MIN_DRILL_EVERY: Duration = Duration::from_secs(3600);
/// `notice_after` shorter than a minute is a typo: every outage would need a notice at once.
pub const MIN_NOTICE_AFTER: Duration = Duration::from_secs(60);

/// Variables every command may use without declaring them.
pub const BUILTIN_VARS: &[&str] = &["host", "address", "service"];

/// What `validate` needs besides the raw document.
pub struct Context<'a> {
    pub src: &'a str,
    pub path: PathBuf,
    pub sha256: String,
    /// `--var` overrides, already split into key and value.
    pub overrides: &'a [(String, String)],
    /// Reads a file the runbook names (`[runbook] operators`) and says what is wrong with
    /// it; `None` when files are not to be read (a runbook kept in a shared run).
    pub check_file: Option<FileCheck<'a>>,
}

/// Reads a file a runbook names and says what is wrong with it.
pub type FileCheck<'a> = &'a dyn Fn(&std::path::Path) -> Result<(), String>;

pub fn validate(raw: RawRunbook, cx: &Context<'_>) -> Result<Runbook, Vec<Diag>> {
    let mut v = Validator {
        src: cx.src,
        diags: Vec::new(),
        regexes: HashMap::new(),
    };
    let runbook = v.runbook(raw, cx);
    if v.diags.is_empty() {
        Ok(runbook)
    } else {
        Err(v.diags)
    }
}

struct Validator<'a> {
    src: &'a str,
    diags: Vec<Diag>,
    /// Compiled `expect_output` patterns: generated runbooks repeat the same few, and compiling
    /// a regex costs more than everything else done for a step.
    regexes: HashMap<String, regex::Regex>,
}

/// A service's ids and spans, kept for the graph checks after the model is built.
pub(crate) struct ServiceRefs {
    pub id_span: Range<usize>,
    pub deps: Vec<(usize, Range<usize>)>,
}

impl Validator<'_> {
    fn error(&mut self, diag: Diag) {
        self.diags.push(diag);
    }

    fn runbook(&mut self, mut raw: RawRunbook, cx: &Context<'_>) -> Runbook {
        let name = raw.meta.name.as_ref().map_or_else(
            || {
                cx.path
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
            },
            |n| n.get_ref().clone(),
        );
        let description = raw
            .meta
            .description
            .as_ref()
            .map_or_else(String::new, |d| d.get_ref().clone());
        let defaults = self.defaults(&raw);
        let (vars, secret_vars) = self.vars(&raw, cx.overrides);
        let hosts = self.hosts(&raw.hosts);
        let groups = self.groups(&raw.groups, &hosts);
        let sites = self.sites(&raw.sites, &raw.hosts, &hosts, &raw.meta);
        let mut known_vars: BTreeSet<String> = vars.keys().cloned().collect();
        known_vars.extend(secret_vars.iter().cloned());
        known_vars.extend(BUILTIN_VARS.iter().map(|s| (*s).to_string()));
        let scope = Scope {
            hosts: &hosts,
            groups: &groups,
            vars: &known_vars,
            defaults: &defaults,
        };
        if raw.services.is_empty() && raw.broken_services.is_empty() {
            // Most likely the wrong file: a run of it would do nothing and report success.
            self.error(
                Diag::new(0..0, "the runbook has no [[service]]").help(
                    "add a [[service]] with an id, hosts and a [[service.check]]; or check the file name",
                ),
            );
        }
        let drill_input = drill::DrillInput {
            every: raw.meta.drill_every.clone(),
            service_every: raw
                .services
                .iter()
                .filter_map(|s| {
                    let e = s.drill_every.clone()?;
                    Some((ServiceId::new(s.id.get_ref().clone()), e))
                })
                .collect(),
            scenarios: std::mem::take(&mut raw.scenarios),
            broken: raw
                .broken_services
                .iter()
                .filter_map(|b| b.id.clone())
                .collect(),
        };
        let guards = self.guards(std::mem::take(&mut raw.guards), &scope);
        let services = self.services(raw.services, &raw.broken_services, &scope);
        let notify = self.notify(std::mem::take(&mut raw.notify), &scope, &vars);
        let witnesses = self.witnesses(std::mem::take(&mut raw.witness), cx.path.parent());
        let mut runbook = Runbook {
            name,
            description,
            path: cx.path.clone(),
            sha256: cx.sha256.clone(),
            defaults,
            vars,
            secret_vars,
            hosts,
            sites,
            groups: groups.into_iter().map(|(k, v)| (k, v.0)).collect(),
            services,
            notice: self.notice(&raw.meta),
            notify,
            drills: super::drill::Drills::default(),
            operators: self.operators(&raw.meta, cx),
            witnesses,
        };
        let plan = super::plan::Plan::build(&runbook);
        runbook.drills = self.drills(drill_input, guards, &runbook.services, &plan);
        runbook
    }

    /// `[runbook] operators` names a file (its existence is checked where files are read,
    /// `runbook::load`); `observers` are principal names, each once.
    fn operators(&mut self, meta: &super::raw::RawMeta, cx: &Context<'_>) -> Operators {
        let signers = meta.operators.as_ref().and_then(|p| {
            let text = p.get_ref().trim();
            if text.is_empty() {
                self.error(
                    Diag::new(p.span(), "operators '' names no file").help(
                        "give an OpenSSH allowed_signers file, relative to the runbook's folder, like 'operators.allowed_signers', or remove the key",
                    ),
                );
                return None;
            }
            let path = PathBuf::from(text);
            let path = if path.is_absolute() {
                path
            } else {
                cx.path
                    .parent()
                    .map_or_else(|| path.clone(), |dir| dir.join(&path))
            };
            if let Some(check) = cx.check_file
                && let Err(why) = check(&path)
            {
                self.error(Diag::new(p.span(), why).help(
                    "operators is an OpenSSH allowed_signers file ('alice ssh-ed25519 AAAA…' per line), relative to the runbook's folder",
                ));
            }
            Some(path)
        });
        let mut observers: Vec<String> = Vec::new();
        for o in meta.observers.iter().flatten() {
            let name = o.get_ref();
            if name.is_empty()
                || name.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || matches!(c, ',' | '"' | '*' | '?' | '!')
                })
            {
                self.error(
                    Diag::new(o.span(), format!("observer '{}' is not a principal name", crate::text::visible(name)))
                        .help("write the name as it stands in the allowed signers file: no spaces, commas, quotes or patterns"),
                );
            } else if observers.contains(name) {
                self.error(
                    Diag::new(o.span(), format!("observer '{name}' is listed twice"))
                        .help("remove one"),
                );
            } else {
                observers.push(name.clone());
            }
        }
        Operators { signers, observers }
    }

    /// `[runbook] contact` and `cause` must say something; `notice_after` is a duration of at
    /// least a minute (shorter is a typo: every outage would need a notice at once).
    fn notice(&mut self, meta: &super::raw::RawMeta) -> super::model::Notice {
        let contact = self.said(
            meta.contact.as_ref(),
            "contact",
            "write who users can reach, like 'help@example.com, +82 2 1234 5678', or remove the key",
        );
        let cause = self.said(
            meta.cause.as_ref(),
            "cause",
            "write what caused the outage as users should read it, like 'a fire in our Pangyo datacenter', or remove the key",
        );
        let after = meta.notice_after.as_ref().and_then(|v| {
            let minute = MIN_NOTICE_AFTER;
            let d = self.duration_at_least(Some(v), Duration::ZERO, minute, "notice_after");
            (d >= minute).then_some(d)
        });
        super::model::Notice {
            contact,
            cause,
            after,
        }
    }

    /// A text key that must not be blank, trimmed.
    fn said(&mut self, value: Option<&S<String>>, key: &str, help: &str) -> Option<String> {
        let value = value?;
        let text = value.get_ref().trim();
        if text.is_empty() {
            self.error(Diag::new(value.span(), format!("{key} '' is empty")).help(help));
            return None;
        }
        Some(text.to_string())
    }

    fn duration(&mut self, value: Option<&S<String>>, default: Duration) -> Duration {
        let Some(value) = value else { return default };
        match duration::parse(value.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                self.error(Diag::new(value.span(), e.message).help(e.help));
                default
            }
        }
    }

    /// A duration that must be at least `min` (`key` names it in the error): a `timeout` of
    /// zero would end every step at once and count as a verification that passed.
    fn duration_at_least(
        &mut self,
        value: Option<&S<String>>,
        default: Duration,
        min: Duration,
        key: &str,
    ) -> Duration {
        let d = self.duration(value, default);
        if let Some(value) = value
            && d < min
            && duration::parse(value.get_ref()).is_ok()
        {
            let min_text = if min < Duration::from_secs(1) {
                format!("{}ms", min.as_millis())
            } else if min.as_secs().is_multiple_of(3600) {
                format!("{}h", min.as_secs() / 3600)
            } else {
                format!("{}s", min.as_secs())
            };
            self.error(
                Diag::new(
                    value.span(),
                    format!("{key} '{}' is too short", value.get_ref()),
                )
                .help(format!("the minimum is '{min_text}'")),
            );
            return default;
        }
        d
    }

    fn retries(&mut self, value: Option<&S<u32>>, default: u32) -> u32 {
        let Some(value) = value else { return default };
        let n = *value.get_ref();
        if n > MAX_RETRIES {
            self.error(
                Diag::new(value.span(), format!("retries '{n}' is too many")).help(format!(
                    "at most {MAX_RETRIES}; to wait longer, raise retry_delay"
                )),
            );
            return default;
        }
        n
    }

    /// A process exits with 0 to 255; any other expected code could never be met.
    fn expect_exit(&mut self, value: Option<&S<i32>>) -> i32 {
        let Some(value) = value else { return 0 };
        let code = *value.get_ref();
        if !(0..=255).contains(&code) {
            self.error(
                Diag::new(value.span(), format!("expect_exit '{code}' is not an exit code"))
                    .help("exit codes run from 0 to 255; a shell reports a command killed by signal N as 128+N"),
            );
            return 0;
        }
        code
    }

    fn defaults(&mut self, raw: &RawRunbook) -> Defaults {
        let base = Defaults::default();
        let d = &raw.defaults;
        let concurrency = match &d.concurrency {
            Some(c) if *c.get_ref() == 0 => {
                self.error(
                    Diag::new(c.span(), "concurrency '0' would never run anything")
                        .help("set it to 1 or more"),
                );
                base.concurrency
            }
            Some(c) => usize::try_from(*c.get_ref()).unwrap_or(usize::MAX),
            None => base.concurrency,
        };
        Defaults {
            timeout: self.duration_at_least(
                d.timeout.as_ref(),
                base.timeout,
                MIN_TIMEOUT,
                "timeout",
            ),
            retries: self.retries(d.retries.as_ref(), base.retries),
            retry_delay: self.duration(d.retry_delay.as_ref(), base.retry_delay),
            user: d.user.as_ref().map(|u| u.get_ref().clone()),
            concurrency,
            connect_timeout: self.duration_at_least(
                d.connect_timeout.as_ref(),
                base.connect_timeout,
                MIN_CONNECT_TIMEOUT,
                "connect_timeout",
            ),
            on_fail: self.on_fail(d.on_fail.as_ref(), base.on_fail),
            confirm_timeout: self.confirm_timeout(d.confirm_timeout.as_ref(), None),
        }
    }

    fn var_name_ok(&mut self, name: &str, span: Range<usize>, what: &str) -> bool {
        if BUILTIN_VARS.contains(&name) {
            self.error(
                Diag::new(
                    span,
                    format!("{what} '{name}' would hide the built-in variable"),
                )
                .help("choose another name; host, address and service are set for each host"),
            );
            return false;
        }
        if !is_var_name(name) {
            self.error(
                Diag::new(
                    span,
                    format!("{what} '{name}' is not a valid variable name"),
                )
                .help("use letters, digits, '_' and '-', starting with a letter or '_'"),
            );
            return false;
        }
        true
    }

    fn vars(
        &mut self,
        raw: &RawRunbook,
        overrides: &[(String, String)],
    ) -> (IndexMap<String, String>, BTreeSet<String>) {
        let mut vars = IndexMap::new();
        for (name, (span, value)) in &raw.vars {
            if self.var_name_ok(name, span.clone(), "variable") {
                vars.insert(name.clone(), value.get_ref().text());
            }
        }
        // --var overrides, and defines keys the file does not have (checked by the caller).
        for (k, val) in overrides {
            vars.insert(k.clone(), val.clone());
        }
        let mut secrets = BTreeSet::new();
        for s in raw.meta.secret_vars.iter().flatten() {
            if self.var_name_ok(s.get_ref(), s.span(), "secret variable") {
                secrets.insert(s.get_ref().clone());
            }
        }
        (vars, secrets)
    }

    fn services(
        &mut self,
        raw: Vec<RawService>,
        broken: &[super::raw::BrokenService],
        scope: &Scope<'_>,
    ) -> Vec<Service> {
        // Ids first, so that references to any service (even a later one) resolve.
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut first_span: HashMap<String, Range<usize>> = HashMap::new();
        for (i, s) in raw.iter().enumerate() {
            let id = s.id.get_ref();
            if !is_id(id) {
                self.error(
                    Diag::new(
                        s.id.span(),
                        format!("service id '{id}' has characters ids may not have"),
                    )
                    .help("use letters, digits, '.', '_' and '-'"),
                );
            }
            if let Some(first) = first_span.get(id) {
                let line = line_of(self.src, first.start);
                self.error(
                    Diag::new(s.id.span(), format!("duplicate service id '{id}'")).help(format!(
                        "it is first defined on line {line}; give each service its own id"
                    )),
                );
            } else {
                first_span.insert(id.clone(), s.id.span());
                index.insert(id.clone(), i);
            }
        }
        let broken_ids: HashSet<&str> = broken.iter().filter_map(|b| b.id.as_deref()).collect();
        let all_ids: Vec<&str> = index
            .keys()
            .map(String::as_str)
            .chain(broken_ids.iter().copied())
            .collect();

        let mut services = Vec::with_capacity(raw.len());
        let mut refs = Vec::with_capacity(raw.len());
        for s in raw {
            let mut deps = Vec::new();
            let mut dep_ids = Vec::new();
            for d in s.depends_on.iter().flatten() {
                let name = d.get_ref();
                if name == s.id.get_ref() {
                    self.error(Diag::new(
                        d.span(),
                        format!("service '{name}' depends on itself"),
                    ));
                } else if let Some(&j) = index.get(name.as_str()) {
                    if !dep_ids.iter().any(|x: &ServiceId| x.as_str() == name) {
                        dep_ids.push(ServiceId::new(name.clone()));
                        deps.push((j, d.span()));
                    }
                } else if !broken_ids.contains(name.as_str()) {
                    self.error(
                        Diag::new(
                            d.span(),
                            format!(
                                "service '{}' depends on unknown service '{name}'",
                                s.id.get_ref()
                            ),
                        )
                        .suggest(closest(name, all_ids.iter().copied()))
                        .help_if_none("add a [[service]] with that id, or remove the dependency"),
                    );
                }
            }
            refs.push(ServiceRefs {
                id_span: s.id.span(),
                deps,
            });
            services.push(self.service(s, dep_ids, scope));
        }
        graph::check(self, &services, &refs);
        services
    }

    fn service(&mut self, s: RawService, depends_on: Vec<ServiceId>, scope: &Scope<'_>) -> Service {
        let id = s.id.get_ref().clone();
        let hosts = self.host_list(s.hosts.as_deref().unwrap_or_default(), scope);
        if s.check.is_empty() && s.unreadable_checks == 0 {
            self.error(
                Diag::new(s.id.span(), format!("service '{id}' has no check"))
                    .help("add a [[service.check]]: bringup needs a way to see whether it is up"),
            );
        }
        let sid = ServiceId::new(id.clone());
        let cx = StepCx {
            service: &id,
            hosts: &hosts,
            hosts_written: s.hosts.as_ref().is_some_and(|h| !h.is_empty()),
            scope,
        };
        let checks = self.steps(s.check, "check", &cx);
        let restores = self.steps(s.restore, "restore", &cx);
        let injects = self.steps(s.inject, "inject", &cx);
        let min_healthy = self.min_healthy(s.min_healthy.as_ref(), &id, hosts.len());
        Service {
            id: sid,
            name: s.name.map_or_else(|| id.clone(), S::into_inner),
            tier: s.tier.map_or(1, S::into_inner),
            rto: s
                .rto
                .as_ref()
                .map(|r| self.duration(Some(r), Duration::ZERO)),
            hosts,
            depends_on,
            checks,
            restores,
            injects,
            min_healthy,
            on_fail: self.on_fail(s.on_fail.as_ref(), scope.defaults.on_fail),
        }
    }

    fn steps(&mut self, raw: Vec<S<RawStep>>, phase: &str, cx: &StepCx<'_>) -> Vec<Step> {
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for step in raw {
            let span = step.span();
            let step = step.into_inner();
            let name = step.name.get_ref().clone();
            if name.trim().is_empty() {
                self.error(Diag::new(
                    step.name.span(),
                    format!("a {phase} step of '{}' has an empty name", cx.service),
                ));
            } else if let Some(&first) = names.get(&name) {
                let line = line_of(self.src, first);
                self.error(
                    Diag::new(step.name.span(), format!("duplicate {phase} step name '{name}' in service '{}'", cx.service))
                        .help(format!("the first is on line {line}; the journal names steps, so each needs its own name")),
                );
            } else {
                // The line is worked out only if a duplicate turns up: counting lines per step is quadratic.
                names.insert(name.clone(), step.name.span().start);
            }
            if let Some(s) = self.step(step, span, phase, cx) {
                out.push(s);
            }
        }
        out
    }

    fn step(
        &mut self,
        step: RawStep,
        span: Range<usize>,
        phase: &str,
        cx: &StepCx<'_>,
    ) -> Option<Step> {
        let name = step.name.get_ref().clone();
        let defaults = cx.scope.defaults;
        let action = match (&step.run, &step.manual) {
            (Some(run), None) => {
                let template = self.template(run, cx.scope);
                self.quoting(run, &template);
                Some(StepAction::Run(template))
            }
            (None, Some(manual)) => Some(StepAction::Manual(self.template(manual, cx.scope))),
            (Some(_), Some(manual)) => {
                self.error(
                    Diag::new(manual.span(), format!("{phase} step '{name}' of '{}' has both 'run' and 'manual'", cx.service))
                        .help("a step is either a command (run) or an instruction to a person (manual); split it in two"),
                );
                None
            }
            (None, None) => {
                self.error(
                    Diag::new(
                        step.name.span(),
                        format!(
                            "{phase} step '{name}' of '{}' has neither 'run' nor 'manual'",
                            cx.service
                        ),
                    )
                    .help("add run = \"<command>\" or manual = \"<instruction>\""),
                );
                None
            }
        };
        let hosts = match &step.hosts {
            Some(list) => self.host_list(list, cx.scope),
            None => cx.hosts.to_vec(),
        };
        if matches!(action, Some(StepAction::Run(_)))
            && hosts.is_empty()
            && match &step.hosts {
                Some(list) => list.is_empty(),
                None => !cx.hosts_written,
            }
        {
            self.error(
                Diag::new(
                    span.start..span.start + 1,
                    format!(
                        "{phase} step '{name}' of '{}' has no host to run on",
                        cx.service
                    ),
                )
                .help("give the service hosts = [...], or the step its own hosts"),
            );
        }
        let expect_output = step.expect_output.as_ref().and_then(|re| self.regex(re));
        let timeout = self.duration_at_least(
            step.timeout.as_ref(),
            defaults.timeout,
            MIN_TIMEOUT,
            "timeout",
        );
        let retry_delay = self.duration(step.retry_delay.as_ref(), defaults.retry_delay);
        let fleet = self.fleet(
            &step,
            &fleet::FleetCx {
                phase,
                step: &name,
                service: cx.service,
                hosts: hosts.len(),
                manual: matches!(action, Some(StepAction::Manual(_))),
            },
        );
        let confirm = match step.confirm.as_ref().map(S::get_ref) {
            None | Some(RawConfirm::Bool(false)) => Confirm::No,
            Some(RawConfirm::Bool(true) | RawConfirm::People(1)) => Confirm::One,
            Some(RawConfirm::People(_)) => Confirm::Two,
        };
        let policy = self.step_policy(&step, phase, confirm, cx);
        Some(Step {
            name,
            action: action?,
            hosts,
            timeout,
            retries: self.retries(step.retries.as_ref(), defaults.retries),
            retry_delay,
            expect_exit: self.expect_exit(step.expect_exit.as_ref()),
            expect_output,
            confirm,
            feature: step.feature.map(S::into_inner),
            fleet,
            policy,
        })
    }

    fn regex(&mut self, re: &S<String>) -> Option<regex::Regex> {
        if let Some(r) = self.regexes.get(re.get_ref()) {
            return Some(r.clone());
        }
        match regex::Regex::new(re.get_ref()) {
            Ok(r) => {
                self.regexes.insert(re.get_ref().clone(), r.clone());
                Some(r)
            }
            Err(e) => {
                let detail = e.to_string();
                let last = detail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                self.error(
                    Diag::new(
                        re.span(),
                        format!("bad regex '{}' in expect_output: {last}", re.get_ref()),
                    )
                    .help("expect_output is a regular expression; escape special characters with a backslash"),
                );
                None
            }
        }
    }

    /// Parse `{{name}}` placeholders and check each name is known.
    fn template(&mut self, text: &S<String>, scope: &Scope<'_>) -> Template {
        let t = Template::parse(text.get_ref());
        let mut reported = HashSet::new();
        for part in &t.parts {
            match part {
                TemplatePart::Var(name)
                    if !scope.vars.contains(name) && reported.insert(name.clone()) =>
                {
                    let span = placeholder_span(self.src, text.span(), name);
                    let diag = if name.is_empty() {
                        Diag::new(span, "empty placeholder '{{}}'".to_string())
                    } else {
                        Diag::new(span, format!("unknown variable '{name}'"))
                            .suggest(closest(name, scope.vars.iter().map(String::as_str)))
                            .help_if_none("define it under [vars] or pass --var NAME=VALUE")
                    };
                    self.error(diag);
                }
                TemplatePart::Text(s) if s.contains("{{") => {
                    self.error(
                        Diag::new(text.span(), "'{{' is not closed by '}}'".to_string())
                            .help("close the placeholder as {{name}}"),
                    );
                }
                _ => {}
            }
        }
        t
    }
}

impl Validator<'_> {
    /// A `run` command's placeholders must sit where a shell variable can stand in for them:
    /// not inside single quotes, `$'…'` or a quoted here-document.
    fn quoting(&mut self, text: &S<String>, template: &Template) {
        let contexts = super::shell::contexts(&template.parts);
        let names = template.vars();
        for (n, (context, name)) in contexts.iter().zip(names).enumerate() {
            if let Some((message, help)) = context.rejection() {
                let span = nth_placeholder_span(self.src, text.span(), n);
                self.error(Diag::new(span, format!("{message}: '{{{{{name}}}}}'")).help(help));
            }
        }
    }
}

struct Scope<'a> {
    hosts: &'a IndexMap<HostId, Host>,
    groups: &'a IndexMap<String, (Vec<HostId>, Range<usize>)>,
    vars: &'a BTreeSet<String>,
    defaults: &'a Defaults,
}

struct StepCx<'a> {
    service: &'a str,
    hosts: &'a [HostId],
    /// The service named hosts (even unknown ones, already reported).
    hosts_written: bool,
    scope: &'a Scope<'a>,
}

trait HelpIfNone {
    fn help_if_none(self, help: &str) -> Self;
}

impl HelpIfNone for Diag {
    fn help_if_none(self, help: &str) -> Self {
        if self.help.is_some() {
            self
        } else {
            self.help(help)
        }
    }
}

fn push_unique(out: &mut Vec<HostId>, items: impl IntoIterator<Item = HostId>) {
    for h in items {
        if !out.contains(&h) {
            out.push(h);
        }
    }
}

/// `'a' → 'b' → 'a'`: the members of a loop, back to the first.
pub(crate) fn cycle_text<'s>(members: impl IntoIterator<Item = &'s str>) -> String {
    let members: Vec<&str> = members.into_iter().collect();
    let mut parts: Vec<String> = members.iter().map(|m| format!("'{m}'")).collect();
    if let Some(first) = members.first() {
        parts.push(format!("'{first}'"));
    }
    parts.join(" → ")
}

fn line_of(src: &str, offset: usize) -> usize {
    let before = src.get(..offset).unwrap_or(src);
    before.matches('\n').count() + 1
}

/// The span of `{{name}}` inside a string literal's span, or the literal's span.
fn placeholder_span(src: &str, literal: Range<usize>, name: &str) -> Range<usize> {
    let Some(text) = src.get(literal.clone()) else {
        return literal;
    };
    let mut from = 0;
    while let Some(open) = text[from..].find("{{") {
        let start = from + open;
        if let Some(close) = text[start + 2..].find("}}") {
            let end = start + 2 + close + 2;
            if text[start + 2..start + 2 + close].trim() == name {
                return literal.start + start..literal.start + end;
            }
            from = end;
        } else {
            break;
        }
    }
    literal
}

/// The span of the `n`th `{{…}}` (from 0) inside a string literal's span, or the literal's.
fn nth_placeholder_span(src: &str, literal: Range<usize>, n: usize) -> Range<usize> {
    let Some(text) = src.get(literal.clone()) else {
        return literal;
    };
    let mut from = 0;
    let mut seen = 0;
    while let Some(open) = text[from..].find("{{") {
        let start = from + open;
        let Some(close) = text[start + 2..].find("}}") else {
            break;
        };
        let end = start + 2 + close + 2;
        if seen == n {
            return literal.start + start..literal.start + end;
        }
        seen += 1;
        from = end;
    }
    literal
}

/// Ids of hosts and services: what can be typed on a command line and read in a journal.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(crate) fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
