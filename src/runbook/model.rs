//! The validated runbook: what the rest of bringup works from. Built only by `validate`;
//! nothing here parses TOML or touches the filesystem.

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_newtype!(
    /// The `id` of a `[[service]]`.
    ServiceId
);
id_newtype!(
    /// The key of a `[hosts.<id>]` table.
    HostId
);

/// A runbook that passed validation. Variables are resolved (`[vars]` overridden by `--var`);
/// commands are kept as templates and expanded per host by [`Runbook::expand`].
/// Its `Debug` shows secret variables' values as `***`.
#[derive(Clone)]
pub struct Runbook {
    pub name: String,
    pub description: String,
    /// The file it was loaded from and the SHA-256 of its bytes (lowercase hex).
    pub path: PathBuf,
    pub sha256: String,
    pub defaults: Defaults,
    /// Every variable after `--var` overrides, in file order.
    pub vars: IndexMap<String, String>,
    /// Names of variables whose values are shown as `***` everywhere.
    pub secret_vars: BTreeSet<String>,
    pub hosts: IndexMap<HostId, Host>,
    /// `[sites]`, each host's site and `[runbook] lost_site` (SPEC "Sites and witnesses").
    pub sites: super::sites::Sites,
    pub groups: IndexMap<String, Vec<HostId>>,
    /// Services in file order.
    pub services: Vec<Service>,
    /// Scenarios, guards and `drill_every` (SPEC "Drills").
    pub drills: super::drill::Drills,
    /// What user notices need: `[runbook] contact` and `notice_after`.
    pub notice: Notice,
    /// `[[notify]]` webhooks, in file order (their index is how the journal names them).
    pub notify: Vec<Notify>,
    /// `[runbook] operators` and `observers`: who may act on a run from another process.
    pub operators: Operators,
    /// `[[witness]]`: where the journal's head is kept outside the operator's reach.
    pub witnesses: Vec<crate::witness::Target>,
}

/// `[runbook] operators` (an OpenSSH allowed_signers file) and `observers`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators {
    /// The allowed signers file, relative paths resolved against the runbook's folder.
    pub signers: Option<PathBuf>,
    /// Principals who may watch and never act.
    pub observers: Vec<String>,
}

/// How many people approve a step before it runs (`confirm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Confirm {
    /// It runs without asking.
    #[default]
    No,
    /// One operator approves (`confirm = true` or `1`).
    One,
    /// Two different verified people approve (`confirm = 2`); one decline declines.
    Two,
}

impl Confirm {
    /// Whether the step asks before it runs.
    pub fn asks(self) -> bool {
        self != Confirm::No
    }

    /// How many distinct approvals it takes.
    pub fn approvals(self) -> usize {
        match self {
            Confirm::No => 0,
            Confirm::One => 1,
            Confirm::Two => 2,
        }
    }
}

impl fmt::Debug for Runbook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vars: IndexMap<&str, &str> = self
            .vars
            .iter()
            .map(|(k, v)| {
                let shown = if self.secret_vars.contains(k) {
                    SECRET_MASK
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("Runbook")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("defaults", &self.defaults)
            .field("vars", &vars)
            .field("secret_vars", &self.secret_vars)
            .field("hosts", &self.hosts)
            .field("sites", &self.sites)
            .field("groups", &self.groups)
            .field("services", &self.services)
            .field("drills", &self.drills)
            .field("notice", &self.notice)
            .field("notify", &self.notify)
            .field("operators", &self.operators)
            .field("witnesses", &self.witnesses)
            .finish()
    }
}

/// A `[[notify]]` webhook, validated. The URL and header are secrets: only their templates
/// are kept, and [`Runbook::fill`] makes them at delivery time. Its `Debug` shows neither
/// (a template may hold the secret as written): the URL and the header's value are `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Notify {
    pub url: Template,
    pub format: NotifyFormat,
    pub on: Vec<NotifyOn>,
    /// Header name and value template.
    pub secret_header: Option<(String, Template)>,
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("url", &format_args!("{SECRET_MASK}"))
            .field("format", &self.format)
            .field("on", &self.on)
            .field(
                "secret_header",
                &self
                    .secret_header
                    .as_ref()
                    .map(|(name, _)| format!("{name}: {SECRET_MASK}")),
            )
            .finish()
    }
}

/// The body a webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFormat {
    /// `{"text": "…"}`, one readable line.
    Slack,
    /// bringup's own object (README "Notifications").
    Json,
}

/// What a webhook is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotifyOn {
    ServiceState,
    RunFinished,
    Notice,
}

impl NotifyOn {
    pub const WORDS: &[(&str, NotifyOn)] = &[
        ("service_state", NotifyOn::ServiceState),
        ("run_finished", NotifyOn::RunFinished),
        ("notice", NotifyOn::Notice),
    ];
}

/// `[runbook] contact`, `cause` and `notice_after`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    pub contact: Option<String>,
    /// The outage's cause for users, as the runbook states it.
    pub cause: Option<String>,
    /// Outages this long or longer must be notified to users; `None`: no such rule.
    pub after: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    pub timeout: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
    pub user: Option<String>,
    pub concurrency: usize,
    /// TCP connect, SSH handshake and authentication to one host, together.
    pub connect_timeout: Duration,
    /// `on_fail` of services that set none.
    pub on_fail: OnFail,
    /// `confirm_timeout` of steps that set none (`None`: a question waits for its answer).
    pub confirm_timeout: Option<Duration>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retries: 0,
            retry_delay: Duration::from_secs(5),
            user: None,
            concurrency: 32,
            connect_timeout: Duration::from_secs(10),
            on_fail: OnFail::Stop,
            confirm_timeout: None,
        }
    }
}

/// What a service whose restore fails does before it is marked failed (`on_fail`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnFail {
    /// Nothing: it is marked failed, what was done stays done.
    #[default]
    Stop,
    /// The undo of its restore steps already done runs first, newest first.
    Undo,
}

/// The mode a step runs in alone (`only`); in the other it is skipped and journaled so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Incident,
    Drill,
}

impl Only {
    pub fn as_str(self) -> &'static str {
        match self {
            Only::Incident => "incident",
            Only::Drill => "drill",
        }
    }
}

/// What a step may do beside running (SPEC "Undo and policies"); nothing by default.
#[derive(Debug, Clone, Default)]
pub struct StepPolicy {
    /// Restore steps: the command that takes the step back, under the same rules as `run`.
    pub undo: Option<StepAction>,
    /// Run in this mode only.
    pub only: Option<Only>,
    /// A confirm step not answered in this long is declined.
    pub confirm_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Ssh,
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: HostId,
    pub transport: Transport,
    /// For `ssh`: the address to connect to (may be an `~/.ssh/config` Host alias). Defaults to the id.
    pub address: String,
    /// `None`: `~/.ssh/config`'s Port, then 22.
    pub port: Option<u16>,
    /// `None`: `[defaults].user`, then `~/.ssh/config`, then `$USER` (resolved by the transport).
    pub user: Option<String>,
    pub identity: Option<PathBuf>,
    pub jump: Option<HostId>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub tier: u32,
    pub rto: Option<Duration>,
    /// Expanded from host ids and `@group`s, duplicates removed, in order of first mention.
    pub hosts: Vec<HostId>,
    pub depends_on: Vec<ServiceId>,
    pub checks: Vec<Step>,
    pub restores: Vec<Step>,
    pub injects: Vec<Step>,
    /// Hosts that must pass every check for the service to be up (`None`: every host).
    pub min_healthy: Option<super::fleet::HostCount>,
    /// What a failed restore does first.
    pub on_fail: OnFail,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub action: StepAction,
    /// The hosts this step runs on: its own `hosts`, or its service's.
    pub hosts: Vec<HostId>,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
    pub expect_exit: i32,
    pub expect_output: Option<regex::Regex>,
    pub confirm: Confirm,
    /// Customer-facing function this check stands for (status notice).
    pub feature: Option<String>,
    /// Restore and inject steps: `batch`, `canary`, `max_fail` (SPEC "Fleets").
    pub fleet: super::fleet::Fleet,
    /// `undo`, `only`, `confirm_timeout`.
    pub policy: StepPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// A shell command run on each host.
    Run(Template),
    /// An instruction an operator marks done or failed.
    Manual(Template),
}

/// A string with `{{name}}` placeholders, checked at validation so that every name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub source: String,
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Var(String),
}

/// A command or instruction expanded for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    /// What is executed. For a `run` command: a script that binds every value to a shell
    /// variable (`__bu_site='gasan'`) and then runs the command with each placeholder replaced
    /// by a reference to its variable, so no value is ever parsed as shell. For a `manual`
    /// step: the instruction with the values in place.
    pub text: String,
    /// The command as its author wrote it, with the values in place and every secret value
    /// replaced by `***`: the only form that may be shown or journaled. It is for reading,
    /// not for running (the values are not quoted).
    pub shown: String,
}

impl Template {
    /// Split `{{name}}` placeholders out of `source`. Names are trimmed; `{{` without a closing
    /// `}}` is kept as text (validation reports it).
    pub fn parse(source: &str) -> Template {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open + 2..].find("}}") else {
                break;
            };
            if open > 0 {
                parts.push(TemplatePart::Text(rest[..open].to_string()));
            }
            parts.push(TemplatePart::Var(
                rest[open + 2..open + 2 + close].trim().to_string(),
            ));
            rest = &rest[open + 2 + close + 2..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_string()));
        }
        Template {
            source: source.to_string(),
            parts,
        }
    }

    /// Names of the variables used, in order of appearance.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Var(v) => Some(v.as_str()),
            TemplatePart::Text(_) => None,
        })
    }
}

/// The mask shown in place of a secret value.
pub const SECRET_MASK: &str = "***";

impl Runbook {
    /// The value of a variable for one host of one service: `[vars]`/`--var`, or the built-ins
    /// `host`, `address`, `service`. `None` for an unknown name (validation prevents it).
    pub fn var(&self, name: &str, service: &ServiceId, host: &HostId) -> Option<String> {
        match name {
            "host" => Some(host.0.clone()),
            "address" => self.hosts.get(host).map(|h| h.address.clone()),
            "service" => Some(service.0.clone()),
            _ => self.vars.get(name).cloned(),
        }
    }

    /// Expand a step's `run` or `manual` text for one host. A `run` command becomes a script
    /// whose values are bound as shell variables (see [`Expanded::text`]); a `manual`
    /// instruction gets its values in place. In the shown form secret values are `***`.
    pub fn expand(&self, action: &StepAction, service: &ServiceId, host: &HostId) -> Expanded {
        let template = match action {
            StepAction::Run(t) | StepAction::Manual(t) => t,
        };
        let mut shown = String::new();
        for part in &template.parts {
            match part {
                TemplatePart::Text(t) => shown.push_str(t),
                TemplatePart::Var(name) if self.secret_vars.contains(name) => {
                    shown.push_str(SECRET_MASK);
                }
                TemplatePart::Var(name) => {
                    shown.push_str(&self.var(name, service, host).unwrap_or_default());
                }
            }
        }
        let text = match action {
            StepAction::Manual(t) => t
                .parts
                .iter()
                .map(|part| match part {
                    TemplatePart::Text(t) => t.clone(),
                    TemplatePart::Var(name) => self.var(name, service, host).unwrap_or_default(),
                })
                .collect(),
            StepAction::Run(t) => self.script(t, service, host),
        };
        Expanded { text, shown }
    }

    /// The script for a `run` command: one assignment per variable used, then the command with
    /// references in place of placeholders, each in the form its quoting context needs.
    fn script(&self, template: &Template, service: &ServiceId, host: &HostId) -> String {
        let contexts = super::shell::contexts(&template.parts);
        let mut bindings = String::new();
        let mut bound = BTreeSet::new();
        let mut exported = BTreeSet::new();
        let mut body = String::new();
        let mut contexts = contexts.iter();
        for part in &template.parts {
            match part {
                TemplatePart::Text(t) => body.push_str(t),
                TemplatePart::Var(name) => {
                    let var = super::shell::shell_var(name);
                    let context = contexts.next().unwrap_or(&super::shell::Context::Bare);
                    body.push_str(&context.reference(&var));
                    if bound.insert(var.clone()) {
                        let value = self.var(name, service, host).unwrap_or_default();
                        let _ = writeln!(bindings, "{var}={}", shell_quote(&value));
                    }
                    if context.needs_export() && exported.insert(var.clone()) {
                        let _ = writeln!(bindings, "export {var}");
                    }
                }
            }
        }
        bindings.push_str(&body);
        bindings
    }

    /// Secret variables with no value yet (declared in `secret_vars`, not given by `[vars]` or
    /// `--var`): a run should refuse to start until they are passed.
    pub fn unset_secrets(&self) -> Vec<&str> {
        self.secret_vars
            .iter()
            .filter(|k| !self.vars.contains_key(*k))
            .map(String::as_str)
            .collect()
    }

    /// The values of every secret variable, longest first, for masking output.
    pub fn secret_values(&self) -> Vec<String> {
        let mut values: Vec<String> = self
            .secret_vars
            .iter()
            .filter_map(|k| self.vars.get(k))
            .filter(|v| !v.is_empty())
            .cloned()
            .collect();
        // A webhook's URL and header are secrets whole, whatever their variables are.
        for notify in &self.notify {
            values.push(self.fill(&notify.url));
            if let Some((_, value)) = &notify.secret_header {
                values.push(self.fill(value));
            }
        }
        values.retain(|v| !v.is_empty());
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values
    }

    /// A template with every placeholder replaced by its value as it is (no quoting): for
    /// webhook URLs and headers, never for commands.
    pub fn fill(&self, template: &Template) -> String {
        template
            .parts
            .iter()
            .map(|part| match part {
                TemplatePart::Text(s) => s.as_str(),
                TemplatePart::Var(name) => self.vars.get(name).map_or("", String::as_str),
            })
            .collect()
    }

    /// `text` with every secret value, in every form a shell makes of it, replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        crate::journal::mask::Masker::new(&self.secret_values()).mask_str(text)
    }
}

/// POSIX shell quoting: the value arrives as one word whatever it contains.
pub fn shell_quote(value: &str) -> String {
    shlex::try_quote(value).map_or_else(
        // Only a NUL byte makes quoting impossible; no shell can receive one anyway.
        |_| format!("'{}'", value.replace('\0', "").replace('\'', r"'\''")),
        std::borrow::Cow::into_owned,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_masks_a_secret_as_a_shell_left_it() {
        let text = "[runbook]\nname = \"t\"\nsecret_vars = [\"token\"]\n\n[hosts.box]\ntransport = \"local\"\n\n[[service]]\nid = \"api\"\nhosts = [\"box\"]\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n";
        let runbook = crate::runbook::load_text(
            text,
            std::path::Path::new("t.toml"),
            &["token=\u{feff}hunter2-form\r\n".to_string()],
        )
        .expect("valid runbook");
        assert_eq!(
            runbook.redact("a=hunter2-form b=\u{feff}hunter2-form\r\n."),
            "a=*** b=***."
        );
    }

    #[test]
    fn debug_output_shows_secret_values_as_the_mask() {
        let text = r#"
[runbook]
name = "t"
secret_vars = ["token"]

[vars]
site = "pangyo"

[hosts.box]
transport = "local"

[[notify]]
url = "http://127.0.0.1:1/{{token}}"
secret_header = "X-Api-Key: literal-key-9931"

[[service]]
id = "api"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "echo {{token}}"
"#;
        let runbook = crate::runbook::load_text(
            text,
            std::path::Path::new("t.toml"),
            &["token=hunter2-var".to_string()],
        )
        .expect("valid runbook");
        let shown = format!("{runbook:?} {runbook:#?}");
        assert!(!shown.contains("hunter2-var"), "{shown}");
        assert!(!shown.contains("literal-key-9931"), "{shown}");
        assert!(shown.contains("X-Api-Key: ***"), "{shown}");
        assert!(shown.contains(r#""token": "***""#), "{shown}");
        assert!(shown.contains(r#""site": "pangyo""#), "{shown}");
    }

    #[test]
    fn template_splits_placeholders_and_keeps_text() {
        let t = Template::parse("echo {{ site }}-{{host}} done");
        assert_eq!(t.vars().collect::<Vec<_>>(), vec!["site", "host"]);
        assert_eq!(
            t.parts.first(),
            Some(&TemplatePart::Text("echo ".to_string()))
        );
    }

    #[test]
    fn quoting_keeps_any_value_one_word() {
        assert_eq!(shell_quote("a b; rm -rf /"), "'a b; rm -rf /'");
        assert_eq!(shell_quote("plain"), "plain");
    }
}
