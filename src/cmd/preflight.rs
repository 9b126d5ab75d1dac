//! `bringup preflight`: readiness without changing anything. For every host the selected
//! services (and the guards) use: reachable, host key known, authentication, each `run`
//! step's first command present (`command -v`), `sudo -n true` where steps use sudo; with
//! `--checks`, the checks too. Connects through the same [`Executor`] as `run` (its `probe`
//! is the dry run's), never accepts a host key, never runs a restore or inject step.
//!
//! Decisions beyond SPEC:
//! - Exit 1 when any host has a problem, and with `--checks` also when any selected service
//!   is not healthy (a drill's baseline would refuse it).
//! - A check passes when it exits with its `expect_exit` and, if it has one, its output
//!   matches `expect_output`: the engine's rule, applied to one attempt without retries.
//! - The first command of a step is found as `words.rs` describes.
//! - Secrets are not needed: without a value, a step that uses one is probed as far as it can
//!   be (its host reached, its first command found, sudo), and the report names it. A check
//!   that uses one is not run (`--checks`): its service is `not checked`, which neither makes
//!   the run ready nor not.

mod site;
mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::session;
use super::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP, EXIT_OK};
use crate::cli::{OpenArgs, PreflightArgs, RunFormat};
use crate::engine::attempt_failure;
use crate::engine::state::StepOutcome;
use crate::exec::{ExecError, Executor, StepResult};
use crate::runbook::model::{HostId, Runbook, ServiceId, Step, StepAction, shell_quote};
use crate::session::{NewHostKeys, Scope, Selection};
use crate::text::visible;

/// Most output lines kept from one preflight command: enough for every marker line.
const OUTPUT_LINES: usize = 256;

pub fn preflight(args: &PreflightArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bringup: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let code = runtime.block_on(preflight_async(args));
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn preflight_async(args: &PreflightArgs) -> ExitCode {
    let open = OpenArgs {
        vars: args.vars.clone(),
        only: args.only.clone(),
        ..OpenArgs::default()
    };
    let runbook = match session::load_runbook_without_secrets(&args.runbook, &open) {
        Ok(rb) => rb,
        Err(code) => return code,
    };
    let exec = crate::session::executor(&runbook, NewHostKeys::Ask);
    // The hosts the run would contact: the services --only names and what they depend on.
    let only: Vec<ServiceId> = args.only.iter().map(ServiceId::new).collect();
    let selection = Selection::new(&runbook, &only, Scope::Restore);
    let mut site = match site::pass(&args.sites, &runbook, &selection) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(site) = &mut site {
        let access = crate::journal::etcd::Access::from_args(&args.sites.etcd);
        site::probe_journal(site, &access).await;
    }
    let mut needs = needs(&runbook, &selection);
    let without = without_secrets(&runbook, &selection);
    if site.as_ref().is_some_and(|s| s.mode == site::Mode::Static) {
        needs.clear();
    }
    let lost: BTreeSet<String> = site
        .as_ref()
        .filter(|s| s.mode == site::Mode::Simulated)
        .map(|s| s.findings.lost_hosts.iter().cloned().collect())
        .unwrap_or_default();
    let mut hosts = futures::future::join_all(needs.iter().map(|(host, need)| async {
        if lost.contains(host.as_str()) {
            lost_host(host)
        } else {
            host_report(&exec, &runbook, host, need).await
        }
    }))
    .await;
    let services = if args.checks && site.as_ref().is_none_or(|s| s.mode != site::Mode::Static) {
        let usable: BTreeSet<&str> = hosts
            .iter()
            .filter(|h| h.connected)
            .map(|h| h.host.as_str())
            .collect();
        let (mut services, tally) = checks(&exec, &runbook, &selection, &usable).await;
        // Under --simulate a service whose every host is in the lost site is lost with it.
        let lost_with: &[String] = site
            .as_ref()
            .filter(|s| s.mode == site::Mode::Simulated)
            .map_or(&[], |s| &s.findings.lost_with_site);
        for s in services
            .iter_mut()
            .filter(|s| lost_with.contains(&s.service))
        {
            s.state = "lost site";
            s.reason = "every host is in the lost site".to_string();
        }
        for h in &mut hosts {
            h.checks = Some(tally.get(h.host.as_str()).copied().unwrap_or((0, 0)));
        }
        Some(services)
    } else {
        None
    };
    exec.shutdown().await;
    let report = Report::new(&runbook, hosts, services, without, site);
    let out = match args.format {
        RunFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("bringup: cannot write the report: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
        RunFormat::Text => report.text(),
    };
    print!("{out}");
    ExitCode::from(if report.ready {
        EXIT_OK
    } else {
        EXIT_NOT_ALL_UP
    })
}

/// What preflight must look for on one host: each first command with the step that needs it
/// first, and whether any step there uses sudo.
#[derive(Default)]
struct Need {
    commands: BTreeMap<String, String>,
    sudo: bool,
}

fn needs(runbook: &Runbook, selection: &Selection) -> BTreeMap<HostId, Need> {
    fn add(out: &mut BTreeMap<HostId, Need>, step: &Step, what: &str) {
        for host in &step.hosts {
            let need = out.entry(host.clone()).or_default();
            if let StepAction::Run(t) = &step.action {
                if let Some(word) = words::first_command(&t.source) {
                    need.commands
                        .entry(word)
                        .or_insert_with(|| what.to_string());
                }
                need.sudo |= words::uses_sudo(&t.source);
            }
        }
    }
    let mut out: BTreeMap<HostId, Need> = BTreeMap::new();
    for s in selection.services(runbook) {
        for (phase, steps) in [
            ("check", &s.checks),
            ("restore", &s.restores),
            ("inject", &s.injects),
        ] {
            for step in steps {
                add(
                    &mut out,
                    step,
                    &format!("{phase} '{}' of '{}'", step.name, s.id),
                );
            }
        }
        for host in &s.hosts {
            out.entry(host.clone()).or_default();
        }
    }
    for g in &runbook.drills.guards {
        add(&mut out, &g.step, &format!("guard '{}'", g.step.name));
    }
    out
}

#[derive(Debug, Serialize)]
struct HostReport {
    host: String,
    transport: &'static str,
    /// `yes`, `no` or `local`.
    reachable: &'static str,
    /// `known`, `unknown`, `changed`, `revoked`, `-` (not reached) or `local`.
    host_key: &'static str,
    /// `ok`, `failed`, `-` or `local`.
    auth: &'static str,
    commands_checked: Vec<String>,
    commands_missing: Vec<String>,
    /// `ok`, `failed`, `not needed` or `-`.
    sudo: &'static str,
    /// With `--checks`: checks that passed and that ran on this host.
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<(usize, usize)>,
    problems: Vec<String>,
    #[serde(skip)]
    connected: bool,
}

/// A host in the lost site under `--simulate`: not probed, and no problem of the run.
fn lost_host(host: &HostId) -> HostReport {
    HostReport {
        host: host.to_string(),
        transport: "ssh",
        reachable: "lost site",
        host_key: "-",
        auth: "-",
        commands_checked: Vec::new(),
        commands_missing: Vec::new(),
        sudo: "-",
        checks: None,
        problems: Vec::new(),
        connected: false,
    }
}

async fn host_report(exec: &Executor, runbook: &Runbook, host: &HostId, need: &Need) -> HostReport {
    let local = runbook
        .hosts
        .get(host)
        .is_some_and(|h| h.transport == crate::runbook::model::Transport::Local);
    let mut r = HostReport {
        host: host.to_string(),
        transport: if local { "local" } else { "ssh" },
        reachable: if local { "local" } else { "yes" },
        host_key: if local { "local" } else { "known" },
        auth: if local { "local" } else { "ok" },
        commands_checked: need.commands.keys().cloned().collect(),
        commands_missing: Vec::new(),
        sudo: if need.sudo { "-" } else { "not needed" },
        checks: None,
        problems: Vec::new(),
        connected: false,
    };
    if let Err(e) = exec.probe(host).await {
        (r.reachable, r.host_key, r.auth) = match &e {
            ExecError::UnknownHostKey { .. } => ("yes", "unknown", "-"),
            ExecError::ChangedHostKey { .. } => ("yes", "changed", "-"),
            ExecError::RevokedHostKey { .. } => ("yes", "revoked", "-"),
            ExecError::Auth { .. } | ExecError::KeyNeedsPassphrase { .. } => {
                ("yes", "known", "failed")
            }
            _ => ("no", "-", "-"),
        };
        r.problems.push(visible(&e.to_string()).into_owned());
        return r;
    }
    r.connected = true;
    let mut script = String::new();
    for word in need.commands.keys() {
        let _ = writeln!(
            script,
            "command -v {q} >/dev/null 2>&1 || printf 'bringup-missing:%s\\n' {q}",
            q = shell_quote(word)
        );
    }
    if need.sudo {
        script.push_str(
            "if sudo -n true >/dev/null 2>&1; then echo bringup-sudo:ok; else echo bringup-sudo:failed; fi\n",
        );
    }
    if script.is_empty() {
        return r;
    }
    let (result, lines) = run_collect(exec, host, &script, runbook.defaults.timeout).await;
    if result.outcome != StepOutcome::Ok {
        r.problems.push(format!(
            "host '{host}': the command probe could not run: {}",
            result.error.unwrap_or_default()
        ));
        r.connected = false;
        return r;
    }
    for line in &lines {
        if let Some(word) = line.strip_prefix("bringup-missing:") {
            r.commands_missing.push(word.to_string());
            let used = need.commands.get(word).map_or("", String::as_str);
            r.problems.push(format!(
                "host '{host}': command '{word}' not found (first command of {used}); install it or fix the step"
            ));
        } else if line == "bringup-sudo:ok" {
            r.sudo = "ok";
        } else if line == "bringup-sudo:failed" {
            r.sudo = "failed";
            r.problems.push(format!(
                "host '{host}': 'sudo -n true' failed, but steps there use sudo; allow the user passwordless sudo for those commands (or install sudo)"
            ));
        }
    }
    r
}

/// A secret given no value, and the steps that use it: probed without running them.
#[derive(Debug, Serialize)]
struct WithoutSecret {
    secret: String,
    steps: Vec<String>,
}

/// The unset secrets the selected steps use (and the guards), each with those steps.
fn without_secrets(runbook: &Runbook, selection: &Selection) -> Vec<WithoutSecret> {
    let unset = runbook.unset_secrets();
    let mut out: Vec<WithoutSecret> = unset
        .iter()
        .map(|k| WithoutSecret {
            secret: (*k).to_string(),
            steps: Vec::new(),
        })
        .collect();
    let mut note = |step: &Step, what: String| {
        for w in &mut out {
            if secrets_of(step, &[w.secret.as_str()]).next().is_some() {
                w.steps.push(what.clone());
            }
        }
    };
    for s in selection.services(runbook) {
        for (phase, steps) in [
            ("check", &s.checks),
            ("restore", &s.restores),
            ("inject", &s.injects),
        ] {
            for step in steps {
                note(step, format!("{phase} '{}' of '{}'", step.name, s.id));
            }
        }
    }
    for g in &runbook.drills.guards {
        note(&g.step, format!("guard '{}'", g.step.name));
    }
    out.retain(|w| !w.steps.is_empty());
    out
}

/// The names among `unset` that a `run` step's command uses.
fn secrets_of<'a>(step: &'a Step, unset: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
    let vars: Vec<&str> = match &step.action {
        StepAction::Run(t) => t.vars().collect(),
        StepAction::Manual(_) => Vec::new(),
    };
    unset.iter().copied().filter(move |k| vars.contains(k))
}

/// Run one command through the executor, keeping its output lines.
async fn run_collect(
    exec: &Executor,
    host: &HostId,
    command: &str,
    timeout: Duration,
) -> (StepResult, Vec<String>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let run = exec.run(host, command, timeout, tx, CancellationToken::new());
    let collect = async {
        let mut lines = Vec::new();
        let mut split = crate::exec::lines::DisplayLines::default();
        let mut keep = |line: &str| {
            if lines.len() < OUTPUT_LINES {
                lines.push(line.to_string());
            }
        };
        while let Some(chunk) = rx.recv().await {
            split.push(&String::from_utf8_lossy(&chunk), &mut keep);
        }
        split.finish(&mut keep);
        lines
    };
    tokio::join!(run, collect)
}

#[derive(Debug, Serialize)]
struct ServiceReport {
    service: String,
    tier: u32,
    /// `healthy`, `down`, `partial`, `unreachable`, `not checked` (a check needs a secret
    /// that was not given) or (`--simulate`) `lost site`.
    state: &'static str,
    reason: String,
}

/// Every check of every selected service on each of its hosts, once; hosts that could not be
/// reached are not tried again.
async fn checks(
    exec: &Executor,
    runbook: &Runbook,
    selection: &Selection,
    usable: &BTreeSet<&str>,
) -> (Vec<ServiceReport>, BTreeMap<String, (usize, usize)>) {
    let mut out = Vec::new();
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let unset = runbook.unset_secrets();
    for s in selection.services(runbook) {
        // A check whose command needs a secret not given is not run: the shell would get an
        // empty value, and its verdict would say nothing.
        let needs_secret: Vec<String> = s
            .checks
            .iter()
            .filter_map(|step| {
                let names: Vec<&str> = secrets_of(step, &unset).collect();
                (!names.is_empty()).then(|| {
                    let quoted: Vec<String> = names.iter().map(|k| format!("'{k}'")).collect();
                    let flags: Vec<String> = names
                        .iter()
                        .map(|k| format!("--var-env {k}=ENVNAME"))
                        .collect();
                    format!(
                        "check '{}' needs the secret {}: not run; pass {} to run it",
                        step.name,
                        quoted.join(", "),
                        flags.join(" ")
                    )
                })
            })
            .collect();
        let runnable = s
            .checks
            .iter()
            .filter(|step| secrets_of(step, &unset).next().is_none());
        let runs = runnable.flat_map(|step| {
            step.hosts.iter().map(move |h| async move {
                if !usable.contains(h.as_str()) {
                    return (step, h, None);
                }
                let StepAction::Run(_) = &step.action else {
                    return (step, h, Some(Ok(())));
                };
                let text = runbook.expand(&step.action, &s.id, h).text;
                let (result, lines) = run_collect(exec, h, &text, step.timeout).await;
                (step, h, Some(judge(step, &result, &lines)))
            })
        });
        let results = futures::future::join_all(runs).await;
        for (_, h, r) in &results {
            if let Some(r) = r {
                let t = tally.entry(h.to_string()).or_default();
                t.0 += usize::from(r.is_ok());
                t.1 += 1;
            }
        }
        let unreachable = results.iter().filter(|r| r.2.is_none()).count();
        let failures: Vec<String> = results
            .iter()
            .filter_map(|(step, h, r)| match r {
                Some(Err(why)) => Some(format!("check '{}' failed on '{h}': {why}", step.name)),
                _ => None,
            })
            .collect();
        let passed = results.len() - unreachable - failures.len();
        let (state, reason) = if unreachable > 0 {
            let host = results
                .iter()
                .find(|r| r.2.is_none())
                .map_or(String::new(), |r| r.1.to_string());
            ("unreachable", format!("host '{host}' could not be reached"))
        } else if failures.is_empty() && !needs_secret.is_empty() {
            ("not checked", needs_secret[0].clone())
        } else if failures.is_empty() {
            ("healthy", String::new())
        } else if passed == 0 {
            ("down", failures[0].clone())
        } else {
            ("partial", failures[0].clone())
        };
        out.push(ServiceReport {
            service: s.id.to_string(),
            tier: s.tier,
            state,
            reason: visible(&reason).into_owned(),
        });
    }
    (out, tally)
}

/// The engine's rule for one attempt ([`attempt_failure`]), the pattern matched against the
/// output as collected here.
fn judge(step: &Step, result: &StepResult, lines: &[String]) -> Result<(), String> {
    let matched = step
        .expect_output
        .as_ref()
        .map(|re| re.is_match(&lines.join("\n")));
    match attempt_failure(step, result.outcome, result.exit_code, matched) {
        None => Ok(()),
        Some(what) if result.outcome == StepOutcome::Error => Err(format!(
            "{what}: {}",
            result.error.clone().unwrap_or_default()
        )),
        Some(what) => Err(what),
    }
}

#[derive(Debug, Serialize)]
struct Report {
    runbook: String,
    path: String,
    ready: bool,
    summary: String,
    hosts: Vec<HostReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    services: Option<Vec<ServiceReport>>,
    /// Secrets not given and the steps that use them, probed without running them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    without_secrets: Vec<WithoutSecret>,
    /// With a lost site: what the run needs from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    lost_site: Option<site::SiteReport>,
}

impl Report {
    fn new(
        runbook: &Runbook,
        hosts: Vec<HostReport>,
        services: Option<Vec<ServiceReport>>,
        without_secrets: Vec<WithoutSecret>,
        site: Option<site::SiteReport>,
    ) -> Report {
        let bad_hosts = hosts.iter().filter(|h| !h.problems.is_empty()).count();
        let not_healthy = services
            .iter()
            .flatten()
            .filter(|s| !matches!(s.state, "healthy" | "not checked" | "lost site"))
            .count();
        let not_checked = services
            .iter()
            .flatten()
            .filter(|s| s.state == "not checked")
            .count();
        let site_verdict = site.as_ref().and_then(site::SiteReport::verdict);
        let ready = bad_hosts == 0 && not_healthy == 0 && site_verdict.is_none();
        let mut summary = if bad_hosts == 0 {
            format!(
                "{} ready: reachable, host keys known, authenticated, every command found{}",
                count(hosts.len(), "host", "hosts"),
                if hosts.iter().any(|h| h.sudo == "ok") {
                    ", sudo allowed"
                } else {
                    ""
                }
            )
        } else {
            format!(
                "{} of {} not ready",
                bad_hosts,
                count(hosts.len(), "host", "hosts")
            )
        };
        if let Some(services) = &services {
            let _ = write!(
                summary,
                "; {} of {} healthy",
                services.len() - not_healthy - not_checked,
                count(services.len(), "service", "services")
            );
            if not_checked > 0 {
                let _ = write!(
                    summary,
                    ", {not_checked} not checked (a secret was not given)"
                );
            }
        }
        if site.as_ref().is_some_and(|s| s.mode == site::Mode::Static) {
            summary = site.as_ref().map_or_else(String::new, |s| {
                format!(
                    "nothing the run needs is in the lost site '{}' (static pass; add --simulate to probe what still works)",
                    s.findings.lost_site
                )
            });
        }
        if let Some(v) = site_verdict {
            summary = if bad_hosts == 0 && not_healthy == 0 {
                v
            } else {
                format!("{v}; {summary}")
            };
        }
        summary = if ready {
            format!("READY: {summary}. Nothing was changed.")
        } else {
            format!("NOT READY: {summary}. Nothing was changed.")
        };
        Report {
            runbook: runbook.name.clone(),
            path: runbook.path.display().to_string(),
            ready,
            summary,
            hosts,
            services,
            without_secrets,
            lost_site: site,
        }
    }

    fn text(&self) -> String {
        let mut out = format!("Preflight of '{}' ({})\n\n", self.runbook, self.path);
        if let Some(site) = &self.lost_site {
            out.push_str(&site.text());
            if site.mode == site::Mode::Static {
                let _ = writeln!(out, "\n{}", self.summary);
                return out;
            }
            out.push('\n');
        }
        let checks = self.services.is_some();
        let mut rows = vec![vec![
            "HOST".to_string(),
            "REACHABLE".into(),
            "HOST KEY".into(),
            "AUTH".into(),
            "COMMANDS MISSING".into(),
            "SUDO".into(),
        ]];
        if checks {
            rows[0].push("CHECKS".into());
        }
        for h in &self.hosts {
            let missing = if h.connected || !h.commands_missing.is_empty() {
                if h.commands_missing.is_empty() {
                    format!("none of {}", h.commands_checked.len())
                } else {
                    h.commands_missing.join(", ")
                }
            } else {
                "-".to_string()
            };
            let mut row = vec![
                h.host.clone(),
                h.reachable.to_string(),
                h.host_key.to_string(),
                h.auth.to_string(),
                missing,
                h.sudo.to_string(),
            ];
            if checks {
                row.push(
                    h.checks
                        .map_or("-".into(), |(p, r)| format!("{p}/{r} pass")),
                );
            }
            rows.push(row);
        }
        table(&mut out, &rows);
        let problems: Vec<&String> = self.hosts.iter().flat_map(|h| &h.problems).collect();
        if !problems.is_empty() {
            out.push_str("\nProblems:\n");
            for p in problems {
                let _ = writeln!(out, "  ✗ {p}");
            }
        }
        if let Some(services) = &self.services {
            out.push('\n');
            let mut rows = vec![vec![
                "SERVICE".to_string(),
                "TIER".into(),
                "STATE".into(),
                "REASON".into(),
            ]];
            for s in services {
                rows.push(vec![
                    s.service.clone(),
                    s.tier.to_string(),
                    s.state.to_string(),
                    s.reason.clone(),
                ]);
            }
            table(&mut out, &rows);
        }
        for w in &self.without_secrets {
            let _ = writeln!(
                out,
                "\nWithout the secret '{k}' (not given), what uses it was probed as far as it can be without it (host reached, first command found, sudo) and not run: {steps}. Pass --var-env {k}=ENVNAME to run such checks with --checks.",
                k = w.secret,
                steps = w.steps.join(", ")
            );
        }
        let _ = writeln!(out, "\n{}", self.summary);
        out
    }
}

fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let _ = write!(line, "{:<w$}  ", visible(cell), w = widths[c]);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
