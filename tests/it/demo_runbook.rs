//! The demo runbook: that it keeps to SPEC's runbook format, and that its commands, expanded
//! the way bringup expands them (`Runbook::expand`) and run through `sh -c` as the local
//! transport does, really play out the scenario: the sweep finds a mix, restores bring
//! services back, the gateway start fails once then succeeds, IMAP stays down, injects break.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin;
use indexmap::IndexMap;
use serde::Deserialize;

use bringup::demo::{RUNBOOK, Staged, stage_with};
use bringup::runbook::model::{Defaults, StepAction, Template};
use bringup::runbook::{HostId, Runbook, ServiceId};

// ── A strict mirror of SPEC's runbook format: any key SPEC does not name fails to parse. ──

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    runbook: Meta,
    defaults: Option<DefaultsRaw>,
    #[serde(default)]
    vars: IndexMap<String, String>,
    #[serde(default)]
    hosts: IndexMap<String, HostRaw>,
    #[serde(default)]
    groups: IndexMap<String, Vec<String>>,
    #[serde(default)]
    service: Vec<ServiceRaw>,
    #[serde(default)]
    scenario: Vec<ScenarioRaw>,
    #[serde(default)]
    guard: Vec<GuardRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ScenarioRaw {
    id: String,
    name: String,
    description: Option<String>,
    inject: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GuardRaw {
    name: String,
    run: String,
    hosts: Vec<String>,
    every: Option<String>,
    timeout: Option<String>,
    expect_exit: Option<i32>,
    expect_output: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    description: Option<String>,
    #[allow(dead_code)]
    cause: Option<String>,
    #[allow(dead_code)]
    secret_vars: Option<Vec<String>>,
    #[allow(dead_code)]
    drill_every: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DefaultsRaw {
    timeout: Option<String>,
    retries: Option<u32>,
    retry_delay: Option<String>,
    user: Option<String>,
    concurrency: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct HostRaw {
    address: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    identity: Option<String>,
    jump: Option<String>,
    tags: Option<Vec<String>>,
    transport: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceRaw {
    id: String,
    name: Option<String>,
    tier: u32,
    rto: Option<String>,
    hosts: Vec<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(default)]
    check: Vec<StepRaw>,
    #[serde(default)]
    restore: Vec<StepRaw>,
    #[serde(default)]
    inject: Vec<StepRaw>,
    #[allow(dead_code)]
    drill_every: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepRaw {
    name: String,
    feature: Option<String>,
    run: Option<String>,
    manual: Option<String>,
    hosts: Option<Vec<String>>,
    expect_exit: Option<i32>,
    expect_output: Option<String>,
    timeout: Option<String>,
    retries: Option<u32>,
    retry_delay: Option<String>,
    confirm: Option<bool>,
}

fn doc_of(text: &str) -> Doc {
    toml::from_str(text).unwrap_or_else(|e| panic!("the demo runbook is off-format: {e}"))
}

const BUILTINS: [&str; 3] = ["host", "address", "service"];

fn all_steps(s: &ServiceRaw) -> impl Iterator<Item = &StepRaw> {
    s.check.iter().chain(&s.restore).chain(&s.inject)
}

fn service_hosts(doc: &Doc, s: &ServiceRaw) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in &s.hosts {
        let expanded = match h.strip_prefix('@') {
            Some(g) => doc.groups.get(g).cloned().unwrap_or_default(),
            None => vec![h.clone()],
        };
        for e in expanded {
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out
}

// ── Static checks: what the loader will hold the runbook to. ──

#[test]
fn the_demo_runbook_uses_only_keys_of_the_runbook_format() {
    let doc = doc_of(RUNBOOK);
    assert!(!doc.runbook.name.is_empty());
    assert!(doc.runbook.description.is_some());
    assert!(doc.defaults.is_some());
}

#[test]
fn every_reference_in_the_demo_runbook_resolves() {
    let doc = doc_of(RUNBOOK);
    let mut problems = Vec::new();
    for (id, h) in &doc.hosts {
        if h.transport.as_deref() != Some("local") {
            problems.push(format!("host '{id}' is not local"));
        }
    }
    for (g, members) in &doc.groups {
        for m in members {
            if !doc.hosts.contains_key(m) {
                problems.push(format!("group '{g}' names unknown host '{m}'"));
            }
        }
    }
    let tiers: BTreeMap<&str, u32> = doc
        .service
        .iter()
        .map(|s| (s.id.as_str(), s.tier))
        .collect();
    assert_eq!(tiers.len(), doc.service.len(), "duplicate service ids");
    for s in &doc.service {
        if s.check.is_empty() {
            problems.push(format!("'{}' has no check", s.id));
        }
        for h in &s.hosts {
            let known = match h.strip_prefix('@') {
                Some(g) => doc.groups.contains_key(g),
                None => doc.hosts.contains_key(h),
            };
            if !known {
                problems.push(format!("'{}' names unknown host '{h}'", s.id));
            }
        }
        for d in &s.depends_on {
            match tiers.get(d.as_str()) {
                None => problems.push(format!("'{}' depends on unknown '{d}'", s.id)),
                Some(t) if *t > s.tier => {
                    problems.push(format!("'{}' depends on later-tier '{d}'", s.id));
                }
                Some(_) => {}
            }
        }
        let hosts = service_hosts(&doc, s);
        if let Some(d) = &s.rto
            && humantime::parse_duration(d).is_err()
        {
            problems.push(format!("'{}' has bad rto '{d}'", s.id));
        }
        for step in all_steps(s) {
            if step.run.is_some() == step.manual.is_some() {
                problems.push(format!(
                    "step '{}' needs exactly one of run/manual",
                    step.name
                ));
            }
            for d in [&step.timeout, &step.retry_delay].into_iter().flatten() {
                if humantime::parse_duration(d).is_err() {
                    problems.push(format!("step '{}' has bad duration '{d}'", step.name));
                }
            }
            if let Some(re) = &step.expect_output
                && regex::Regex::new(re).is_err()
            {
                problems.push(format!("step '{}' has bad regex '{re}'", step.name));
            }
            for h in step.hosts.iter().flatten() {
                if !hosts.contains(h) {
                    problems.push(format!(
                        "step '{}' runs on '{h}', not a host of '{}'",
                        step.name, s.id
                    ));
                }
            }
            let text = step.run.as_deref().or(step.manual.as_deref()).unwrap_or("");
            for v in Template::parse(text).vars() {
                if !doc.vars.contains_key(v) && !BUILTINS.contains(&v) {
                    problems.push(format!("step '{}' uses unknown variable '{v}'", step.name));
                }
            }
        }
    }
    if let Some(d) = &doc.defaults {
        for v in [&d.timeout, &d.retry_delay].into_iter().flatten() {
            assert!(humantime::parse_duration(v).is_ok(), "{v}");
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_demo_runbook_has_the_scenario_the_demo_needs() {
    let doc = doc_of(RUNBOOK);
    assert!((8..=10).contains(&doc.service.len()));
    let tiers: BTreeSet<u32> = doc.service.iter().map(|s| s.tier).collect();
    assert_eq!(tiers, (1..=5).collect());
    let steps: Vec<&StepRaw> = doc.service.iter().flat_map(all_steps).collect();
    assert_eq!(steps.iter().filter(|s| s.confirm == Some(true)).count(), 1);
    assert_eq!(steps.iter().filter(|s| s.manual.is_some()).count(), 1);
    assert!(steps.iter().any(|s| s.retries.unwrap_or(0) >= 1));
    assert!(
        doc.service
            .iter()
            .all(|s| s.rto.is_some() && s.name.is_some())
    );
    let features: Vec<&str> = steps.iter().filter_map(|s| s.feature.as_deref()).collect();
    for f in ["SMTP", "IMAP", "POP3"] {
        assert!(
            features.iter().any(|x| x.contains(f))
                || doc
                    .service
                    .iter()
                    .any(|s| s.name.as_deref().is_some_and(|n| n.contains(f))),
            "nothing about {f}"
        );
    }
    assert!(features.iter().any(|f| f.contains("IMAP")));
    assert!(doc.vars.contains_key("demo_dir") && doc.vars.contains_key("bringup"));
    let scenarios: Vec<&str> = doc.scenario.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(scenarios, ["Messaging outage", "Whole datacenter lost"]);
    assert!(!doc.guard.is_empty());
    for g in &doc.guard {
        for h in &g.hosts {
            assert_eq!(
                doc.hosts[h].transport.as_deref(),
                Some("local"),
                "guard '{}' runs on the simulated datacenter",
                g.name
            );
        }
    }
}

// ── Playing the scenario: commands expanded by `Runbook::expand`, run through `sh -c`. ──

struct Play {
    staged: Staged,
    doc: Doc,
    runbook: Runbook,
}

impl Play {
    fn new() -> (tempfile::TempDir, Play) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let staged =
            stage_with(Some(&tmp.path().join("demo")), cargo_bin!("bringup")).expect("stage");
        let text = std::fs::read_to_string(&staged.runbook).expect("staged runbook");
        let doc = doc_of(&text);
        // Only what `expand` reads: the variables (hosts are local, `address` is unused).
        let runbook = Runbook {
            notice: bringup::runbook::model::Notice::default(),
            notify: Vec::new(),
            name: doc.runbook.name.clone(),
            description: String::new(),
            path: staged.runbook.clone(),
            sha256: String::new(),
            defaults: Defaults::default(),
            vars: doc.vars.clone(),
            secret_vars: BTreeSet::new(),
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
            services: Vec::new(),
            drills: bringup::runbook::drill::Drills::default(),
            sites: bringup::runbook::sites::Sites::default(),
            operators: bringup::runbook::model::Operators::default(),
            witnesses: Vec::new(),
        };
        (
            tmp,
            Play {
                staged,
                doc,
                runbook,
            },
        )
    }

    fn service(&self, id: &str) -> &ServiceRaw {
        self.doc
            .service
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no service '{id}'"))
    }

    fn step<'a>(steps: &'a [StepRaw], name: &str) -> &'a StepRaw {
        steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step '{name}'"))
    }

    fn hosts_of(&self, service: &ServiceRaw, step: &StepRaw) -> Vec<String> {
        step.hosts
            .clone()
            .unwrap_or_else(|| service_hosts(&self.doc, service))
    }

    /// The command bringup would send for this step on this host.
    fn command(&self, service: &str, step: &StepRaw, host: &str) -> String {
        let run = step.run.as_deref().expect("a run step");
        self.runbook
            .expand(
                &StepAction::Run(Template::parse(run)),
                &ServiceId::new(service),
                &HostId::new(host),
            )
            .text
    }

    /// Run one attempt of `step` on each host at once; outputs in host order.
    fn attempt(&self, service: &ServiceRaw, step: &StepRaw) -> Vec<(String, Output)> {
        let children: Vec<_> = self
            .hosts_of(service, step)
            .into_iter()
            .map(|h| {
                let child = Command::new("sh")
                    .args(["-c", &self.command(&service.id, step, &h)])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn sh");
                (h, child)
            })
            .collect();
        children
            .into_iter()
            .map(|(h, c)| (h, c.wait_with_output().expect("wait for step")))
            .collect()
    }

    /// Whether every check of the service passes on every host.
    fn healthy(&self, id: &str) -> bool {
        let s = self.service(id);
        s.check
            .iter()
            .all(|c| self.attempt(s, c).iter().all(|(_, o)| passes(c, o)))
    }
}

fn passes(step: &StepRaw, out: &Output) -> bool {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.code() == Some(step.expect_exit.unwrap_or(0))
        && step
            .expect_output
            .as_deref()
            .is_none_or(|re| regex::Regex::new(re).expect("regex").is_match(&text))
}

fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_first_sweep_finds_dns_and_push_healthy_and_the_rest_down() {
    let (_tmp, play) = Play::new();
    let ids: Vec<String> = play.doc.service.iter().map(|s| s.id.clone()).collect();
    let verdicts: Vec<(String, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| scope.spawn(|| (id.clone(), play.healthy(id))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("check thread"))
            .collect()
    });
    let healthy: BTreeSet<&str> = verdicts
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(healthy, BTreeSet::from(["dns", "push-notifications"]));
}

#[test]
fn a_restore_brings_its_service_back_and_an_inject_takes_it_down() {
    let (_tmp, play) = Play::new();
    let auth = play.service("auth");
    assert!(!play.healthy("auth"));
    for step in &auth.restore {
        for (host, out) in play.attempt(auth, step) {
            assert!(
                out.status.success(),
                "{} on {host}: {}",
                step.name,
                text_of(&out)
            );
        }
    }
    assert!(play.healthy("auth"));
    let inject = Play::step(&auth.inject, "kill token service");
    for (_, out) in play.attempt(auth, inject) {
        assert!(out.status.success(), "{}", text_of(&out));
    }
    assert!(!play.healthy("auth"));
}

#[test]
fn the_gateway_start_fails_its_first_attempt_on_each_host_and_succeeds_on_retry() {
    let (_tmp, play) = Play::new();
    let msg = play.service("talk-messaging");
    let start = Play::step(&msg.restore, "start gateway");
    assert_eq!(start.retries, Some(1), "the retry must be in the runbook");
    let first = play.attempt(msg, start);
    assert_eq!(first.len(), 2);
    for (host, out) in &first {
        assert_eq!(out.status.code(), Some(1), "{host}");
        assert!(
            text_of(out).contains("consumer lag"),
            "{host}: {}",
            text_of(out)
        );
    }
    assert!(!play.healthy("talk-messaging"));
    for (host, out) in play.attempt(msg, start) {
        assert!(out.status.success(), "{host}: {}", text_of(&out));
    }
    assert!(play.healthy("talk-messaging"));
}

#[test]
fn the_imap_restore_fails_every_time_with_the_storage_message() {
    let (_tmp, play) = Play::new();
    let imap = play.service("mail-imap");
    let mount = &imap.restore[0];
    for _ in 0..2 {
        for (_, out) in play.attempt(imap, mount) {
            assert!(!out.status.success());
            let text = text_of(&out);
            assert!(
                text.contains("mailstore-07") && text.contains("degraded"),
                "{text}"
            );
        }
    }
    assert!(!play.healthy("mail-imap"));
}

/// The whole plan as the engine orders it: tiers ascending, restores in order with retries,
/// manual steps marked done, verification by the checks.
#[test]
fn restoring_in_tier_order_brings_back_everything_but_imap() {
    let (_tmp, play) = Play::new();
    let mut order: Vec<&ServiceRaw> = play.doc.service.iter().collect();
    order.sort_by_key(|s| s.tier);
    let mut outcome: BTreeMap<&str, &str> = BTreeMap::new();
    for s in order {
        if play.healthy(&s.id) {
            outcome.insert(&s.id, "healthy");
            continue;
        }
        let mut failed = false;
        'steps: for step in &s.restore {
            if step.manual.is_some() {
                continue;
            }
            let retries = step.retries.unwrap_or(0);
            for attempt in 0..=retries {
                if play
                    .attempt(s, step)
                    .iter()
                    .all(|(_, o)| o.status.success())
                {
                    continue 'steps;
                }
                if attempt < retries {
                    let delay = step
                        .retry_delay
                        .as_deref()
                        .map_or(Duration::from_secs(1), |d| {
                            humantime::parse_duration(d).expect("delay")
                        });
                    std::thread::sleep(delay);
                }
            }
            failed = true;
            break;
        }
        let state = if failed {
            "failed"
        } else if play.healthy(&s.id) {
            "restored"
        } else {
            "failed"
        };
        outcome.insert(&s.id, state);
    }
    let want: BTreeMap<&str, &str> = BTreeMap::from([
        ("dns", "healthy"),
        ("database", "restored"),
        ("auth", "restored"),
        ("talk-messaging", "restored"),
        ("media-transfer", "restored"),
        ("pc-login", "restored"),
        ("talk-channel", "restored"),
        ("push-notifications", "healthy"),
        ("mail-smtp", "restored"),
        ("mail-imap", "failed"),
    ]);
    assert_eq!(outcome, want);
    assert_eq!(
        play.staged.teardown().expect("teardown"),
        9,
        "one daemon per restored host"
    );
}
