//! `preflight --lost-site`: which site is lost, the static pass over the runbook and this
//! machine (`crate::sites`), the guard installed for `--simulate`, and the findings in words.
//!
//! Decisions beyond SPEC:
//! - `--lost-site` without `--simulate` connects nowhere (a static pass only); with
//!   `--simulate` the hosts are probed too, those in the lost site shown as lost, not probed.
//! - A runbook with `[runbook] lost_site` gets the static pass on every preflight, beside
//!   the usual probes (without the guard).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::SiteArgs;
use crate::cmd::EXIT_BAD_INPUT;
use crate::exec::ssh_config::Target;
use crate::exec::{known_hosts, ssh_config};
use crate::runbook::model::{HostId, Runbook, Service, Transport};
use crate::session::{JournalLocation, Selection};
use crate::sites::environment::Environment;
use crate::sites::fence::{self, Fence};
use crate::sites::{Findings, Inputs};
use indexmap::IndexMap;

/// How the lost site is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `--lost-site` alone: nothing probed.
    Static,
    /// `--simulate`: probed with every connection to the site refused.
    Simulated,
    /// `[runbook] lost_site` on a plain preflight: probed as usual, beside the static pass.
    Declared,
}

/// The lost site's part of the report.
#[derive(Debug, Serialize)]
pub struct SiteReport {
    pub mode: Mode,
    pub addresses: Vec<String>,
    #[serde(flatten)]
    pub findings: Findings,
    /// `--simulate` with a shared `--journal`: whether its etcd still answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_probe: Option<JournalProbe>,
    #[serde(skip)]
    journal: Option<JournalLocation>,
}

/// A shared journal's etcd reached (or not) with the lost site refused.
#[derive(Debug, Serialize)]
pub struct JournalProbe {
    pub reachable: bool,
    /// Where it answered, or why it did not.
    pub detail: String,
}

/// The lost site named by `--lost-site` or `[runbook] lost_site`, its findings, and the
/// guard installed when `--simulate`. `Ok(None)`: no lost site to look at.
pub fn pass(
    args: &SiteArgs,
    runbook: &Runbook,
    selection: &Selection,
) -> Result<Option<SiteReport>, ExitCode> {
    let Some(name) = args.lost_site.as_ref().or(runbook.sites.lost.as_ref()) else {
        if args.simulate {
            eprintln!(
                "bringup: --simulate needs a lost site: give --lost-site SITE, or set [runbook] lost_site"
            );
            return Err(ExitCode::from(EXIT_BAD_INPUT));
        }
        return Ok(None);
    };
    let Some(site) = runbook.sites.sites.get(name) else {
        let known: Vec<String> = runbook
            .sites
            .sites
            .keys()
            .map(|k| format!("'{k}'"))
            .collect();
        let help = match crate::runbook::suggest(name, runbook.sites.sites.keys().map(String::as_str)) {
            Some(s) => format!("did you mean '{s}'?"),
            None if known.is_empty() => {
                "the runbook declares no site; add [sites.NAME] addresses = [\"10.20.0.0/16\", \"pangyo.example\"]".to_string()
            }
            None => format!("its sites are {}", known.join(", ")),
        };
        eprintln!(
            "bringup: unknown site '{}' (--lost-site); {help}",
            crate::text::visible(name)
        );
        return Err(ExitCode::from(EXIT_BAD_INPUT));
    };
    let journal = match args
        .journal
        .as_deref()
        .map(JournalLocation::parse)
        .transpose()
    {
        Ok(j) => j,
        Err(e) => {
            eprintln!("bringup: {e}");
            return Err(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let env = Environment::read(&args.resolv_conf, &args.mounts);
    let services: Vec<_> = selection.services(runbook).collect();
    let (targets, unread) = targets(runbook, &services);
    let mut findings = crate::sites::dependencies(&Inputs {
        runbook,
        lost: site,
        targets,
        services,
        env: &env,
        journal: journal.as_ref(),
        files: machine_files(),
    });
    findings.unread.extend(unread);
    let mode = if args.simulate {
        let every_ns = !env.nameservers.is_empty()
            && env
                .nameservers
                .iter()
                .all(|ns| site.holding(&ns.to_string()).is_some());
        fence::install(Fence {
            site: site.clone(),
            resolver_lost: every_ns.then(|| env.nameservers[0]),
        });
        Mode::Simulated
    } else if args.lost_site.is_some() {
        Mode::Static
    } else {
        Mode::Declared
    };
    Ok(Some(SiteReport {
        mode,
        addresses: site.addresses.iter().map(ToString::to_string).collect(),
        findings,
        journal_probe: None,
        journal,
    }))
}

/// Under `--simulate`, a shared `--journal`'s etcd asked for its status through the guard:
/// the members left outside the lost site must still answer.
pub async fn probe_journal(report: &mut SiteReport, access: &crate::journal::etcd::Access) {
    if report.mode != Mode::Simulated {
        return;
    }
    let Some(url) = report.journal.as_ref().and_then(JournalLocation::shared) else {
        return;
    };
    report.journal_probe = Some(
        match crate::journal::etcd::Etcd::connect_with(&url.endpoints, access).await {
            Ok(etcd) => JournalProbe {
                reachable: true,
                detail: format!("answers at '{}'", etcd.endpoint()),
            },
            Err(e) => JournalProbe {
                reachable: false,
                detail: crate::text::visible(&e.to_string()).into_owned(),
            },
        },
    );
}

/// Each SSH host of `services` as the transport will reach it (through ~/.ssh/config), and
/// why that file could not be read.
fn targets(runbook: &Runbook, services: &[&Service]) -> (IndexMap<HostId, Target>, Option<String>) {
    let mut targets = IndexMap::new();
    match ssh_config::load(None) {
        Ok(config) => {
            for s in services {
                let steps = s.checks.iter().chain(&s.restores);
                for host in s.hosts.iter().chain(steps.flat_map(|st| &st.hosts)) {
                    let ssh = runbook
                        .hosts
                        .get(host)
                        .is_some_and(|h| h.transport == Transport::Ssh);
                    if ssh
                        && !targets.contains_key(host)
                        && let Ok(t) = ssh_config::resolve(runbook, host, &config)
                    {
                        targets.insert(host.clone(), t);
                    }
                }
            }
        }
        Err(why) => {
            return (
                targets,
                Some(format!(
                    "{why}; jump hosts and identity files judged by the runbook alone"
                )),
            );
        }
    }
    (targets, None)
}

/// The files of this machine a run reads besides the runbook's.
fn machine_files() -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    if let Some(home) = ssh_config::home() {
        files.push(("~/.ssh/config".into(), home.join(".ssh/config")));
    }
    files.extend(
        known_hosts::default_user_file().map(|p| ("the user's known_hosts".to_string(), p)),
    );
    files.extend(
        known_hosts::default_bringup_file().map(|p| ("bringup's known_hosts".to_string(), p)),
    );
    files
}

impl SiteReport {
    /// The findings in words, for the text report.
    pub fn text(&self) -> String {
        let f = &self.findings;
        let mut out = format!(
            "Lost site '{}' ({}){}\n",
            f.lost_site,
            self.addresses.join(", "),
            match self.mode {
                Mode::Static => ": static pass, nothing contacted",
                Mode::Simulated =>
                    ": simulated, every connection to its addresses refused inside bringup",
                Mode::Declared => " ([runbook] lost_site)",
            }
        );
        if f.dependencies.is_empty() {
            out.push_str("  Nothing the run needs was found in it.\n");
        }
        for d in &f.dependencies {
            let _ = writeln!(out, "DEPENDS ON LOST SITE: {}", d.text);
        }
        if !f.lost_with_site.is_empty() {
            let _ = writeln!(
                out,
                "Lost with the site (not counted; restored elsewhere or when it is back): {}",
                quoted(&f.lost_with_site)
            );
        }
        if !f.unplaced.is_empty() {
            let _ = writeln!(
                out,
                "In no site (cannot be judged; add them to [sites]): {}",
                f.unplaced.join(", ")
            );
        }
        for u in &f.unread {
            let _ = writeln!(out, "Not checked: {u}");
        }
        if let Some(p) = &self.journal_probe {
            let _ = writeln!(
                out,
                "Shared journal, with the lost site refused: {}{}",
                if p.reachable {
                    ""
                } else {
                    "cannot be reached: "
                },
                p.detail
            );
        }
        out
    }

    /// The summary's words for the lost site, `None` when nothing depends on it.
    pub fn verdict(&self) -> Option<String> {
        let n = self.findings.dependencies.len()
            + usize::from(self.journal_probe.as_ref().is_some_and(|p| !p.reachable));
        (n > 0).then(|| {
            format!(
                "the run depends on the lost site '{}' ({n} finding{})",
                self.findings.lost_site,
                if n == 1 { "" } else { "s" }
            )
        })
    }
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
