//! What a run would need from a lost site (SPEC "Sites and witnesses"): a static pass over
//! the runbook, the operator's SSH settings and machine (its resolver and network mounts),
//! and the journal's location. Each place a dependency can hide is one [`Source`] in
//! [`SOURCES`]; adding one is adding a function there. Reads no network; `environment.rs`
//! reads the machine's files, `fence.rs` is the guard of `preflight --simulate`.
//!
//! Decisions beyond SPEC:
//! - A service whose hosts are all in the lost site is "lost with the site": listed, not
//!   counted (the runbook recovers from that loss; it cannot restore there). Any other
//!   service whose check or restore runs on a host in the lost site depends on it.
//! - A shared journal whose `--journal` names a majority of its etcd members in the lost
//!   site loses its quorum: said once more on its own.
//! - Every nameserver in the lost site counts when the run resolves any name (the resolver
//!   tries it first, or at all).
//! - Addresses in no site are listed as unplaced: nothing can be said of them.

pub mod environment;
pub mod fence;

use std::collections::BTreeMap;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;

use crate::exec::ssh_config::Target;
use crate::runbook::model::{HostId, Runbook, Service, ServiceId, Transport};
use crate::runbook::sites::{Site, ip_of};
use crate::session::JournalLocation;
use environment::Environment;

/// What the pass looks at.
pub struct Inputs<'a> {
    pub runbook: &'a Runbook,
    pub lost: &'a Site,
    /// The services the run would restore (`--only` and what they depend on).
    pub services: Vec<&'a Service>,
    /// Each SSH host of those services as the transport reaches it (HostName, jump chain
    /// with ProxyJump, identity files); a host missing here is judged by the runbook alone.
    pub targets: IndexMap<HostId, Target>,
    pub env: &'a Environment,
    pub journal: Option<&'a JournalLocation>,
    /// Files of the operator's machine the run reads besides the runbook's (ssh_config,
    /// known_hosts), with what they are.
    pub files: Vec<(String, PathBuf)>,
}

/// Where a dependency was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    JumpHost,
    StepHost,
    JournalMember,
    JournalQuorum,
    Webhook,
    /// A `[[witness]]`: an etcd member, or a directory on a mount served from the site.
    Witness,
    File,
    Resolver,
}

/// One thing the run needs from the lost site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub kind: Kind,
    /// The address in the lost site (a host, a member, a server, a nameserver).
    pub address: String,
    /// The site's entry that holds it.
    pub entry: String,
    /// The whole finding, in words (after `DEPENDS ON LOST SITE: `).
    pub text: String,
}

/// Everything the pass found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    pub lost_site: String,
    pub dependencies: Vec<Dependency>,
    /// Services whose every host is in the lost site.
    pub lost_with_site: Vec<String>,
    /// Hosts of the selected services that are in the lost site.
    pub lost_hosts: Vec<String>,
    /// Addresses the run contacts that are in no site: `what ('address')`.
    pub unplaced: Vec<String>,
    /// What could not be read of the machine.
    pub unread: Vec<String>,
}

impl Findings {
    pub fn depends(&self) -> bool {
        !self.dependencies.is_empty()
    }
}

/// One place dependencies can hide.
pub type Source = fn(&Inputs<'_>, &mut Vec<Dependency>);

/// Every source, in the order findings are listed.
pub const SOURCES: &[Source] = &[
    step_hosts,
    jump_chains,
    journal,
    webhooks,
    witnesses,
    files,
    resolver,
];

/// Run every source over `inputs`.
pub fn dependencies(inputs: &Inputs<'_>) -> Findings {
    let mut dependencies = Vec::new();
    for source in SOURCES {
        source(inputs, &mut dependencies);
    }
    let mut seen = std::collections::HashSet::new();
    dependencies.retain(|d| seen.insert(d.text.clone()));
    let lost_with_site = inputs
        .services
        .iter()
        .filter(|s| lost_service(inputs, s))
        .map(|s| s.id.to_string())
        .collect();
    let lost_hosts = used_hosts(inputs)
        .keys()
        .filter(|h| host_in_lost(inputs, Some(h), &host_address(inputs, h)).is_some())
        .map(ToString::to_string)
        .collect();
    let sites = &inputs.runbook.sites;
    let mut unplaced = Vec::new();
    for (what, address) in contacted(inputs) {
        let placed = match &what {
            Contact::Host(id) => sites.hosts.contains_key(id),
            Contact::Other(_) => false,
        } || !sites.holding(&address).is_empty();
        let line = format!("{what} ('{address}')");
        if !placed && !unplaced.contains(&line) {
            unplaced.push(line);
        }
    }
    Findings {
        lost_site: inputs.lost.name.clone(),
        dependencies,
        lost_with_site,
        lost_hosts,
        unplaced,
        unread: inputs.env.unread.clone(),
    }
}

/// The runbook's structure alone against the loss of its `[runbook] lost_site`: every
/// service, jump chains as the runbook writes them, webhooks, and the runbook's files on the
/// mounts of `env`. `None` when it declares no lost site. What `report --runbook` goes by.
pub fn structural(runbook: &Runbook, env: &Environment) -> Option<Findings> {
    let lost = runbook.sites.sites.get(runbook.sites.lost.as_ref()?)?;
    Some(dependencies(&Inputs {
        runbook,
        lost,
        services: runbook.services.iter().collect(),
        targets: IndexMap::new(),
        env,
        journal: None,
        files: Vec::new(),
    }))
}

/// Who an address belongs to, for messages.
enum Contact {
    Host(HostId),
    Other(String),
}

impl std::fmt::Display for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contact::Host(id) => write!(f, "host '{id}'"),
            Contact::Other(what) => f.write_str(what),
        }
    }
}

/// Every address the run would connect to: SSH hosts and their jump hops, etcd members,
/// webhooks. A new kind of connection adds its addresses here (the resolver needs them).
fn contacted(inputs: &Inputs<'_>) -> Vec<(Contact, String)> {
    let mut out = Vec::new();
    for host in used_hosts(inputs).keys() {
        let Some(h) = inputs.runbook.hosts.get(host) else {
            continue;
        };
        if h.transport == Transport::Local {
            continue;
        }
        match inputs.targets.get(host) {
            Some(t) => {
                out.push((Contact::Host(host.clone()), t.hostname.clone()));
                let mut hop = t.jump.as_deref();
                while let Some(j) = hop {
                    let who = if inputs.runbook.hosts.contains_key(j.label.as_str()) {
                        Contact::Host(HostId::new(j.label.clone()))
                    } else {
                        Contact::Other(format!("jump host '{}'", j.label))
                    };
                    out.push((who, j.hostname.clone()));
                    hop = j.jump.as_deref();
                }
            }
            None => out.push((Contact::Host(host.clone()), h.address.clone())),
        }
    }
    for member in journal_members(inputs) {
        out.push((
            Contact::Other(format!("etcd member '{member}'")),
            host_part(&member),
        ));
    }
    for (index, host) in webhook_hosts(inputs) {
        out.push((Contact::Other(format!("[[notify]] #{index}")), host));
    }
    for (index, member) in witness_members(inputs) {
        out.push((
            Contact::Other(format!("[[witness]] #{index}'s etcd member '{member}'")),
            host_part(&member),
        ));
    }
    out
}

/// The etcd members of each `[[witness]]` that is a cluster (1-based index).
fn witness_members(inputs: &Inputs<'_>) -> Vec<(usize, String)> {
    inputs
        .runbook
        .witnesses
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match w {
            crate::witness::Target::Etcd(url) => Some((i + 1, url.endpoints.clone())),
            crate::witness::Target::Dir(_) => None,
        })
        .flat_map(|(i, members)| members.into_iter().map(move |m| (i, m)))
        .collect()
}

/// Witnesses kept in the lost site: an etcd member there, or a directory on a mount served
/// from it. The run does not wait for them, but the record loses its outside checkpoint.
fn witnesses(inputs: &Inputs<'_>, out: &mut Vec<Dependency>) {
    for (index, member) in witness_members(inputs) {
        let host = host_part(&member);
        if let Some(entry) = inputs.lost.holding(&host) {
            out.push(Dependency {
                kind: Kind::Witness,
                text: format!(
                    "[[witness]] #{index}'s etcd member '{member}' is in the lost site '{}' ({entry}): the journal's heads would not leave it",
                    inputs.lost.name
                ),
                address: host,
                entry: entry.to_string(),
            });
        }
    }
    for (i, w) in inputs.runbook.witnesses.iter().enumerate() {
        if let crate::witness::Target::Dir(dir) = w {
            let what = format!("[[witness]] #{}'s directory '{}'", i + 1, dir.display());
            file_on_lost_mount(inputs, &what, dir, out);
        }
    }
}

/// The hosts the selected services' checks and restores run on, each with those services.
fn used_hosts(inputs: &Inputs<'_>) -> BTreeMap<HostId, Vec<ServiceId>> {
    let mut out: BTreeMap<HostId, Vec<ServiceId>> = BTreeMap::new();
    for s in &inputs.services {
        let steps = s.checks.iter().chain(&s.restores);
        for host in s.hosts.iter().chain(steps.flat_map(|st| &st.hosts)) {
            let services = out.entry(host.clone()).or_default();
            if !services.contains(&s.id) {
                services.push(s.id.clone());
            }
        }
    }
    out
}

/// Whether a runbook host (by id, or by the address it is reached at) is in the lost site:
/// the entry that puts it there (`site = "…"` when declared).
fn host_in_lost(inputs: &Inputs<'_>, id: Option<&HostId>, address: &str) -> Option<String> {
    if let Some(p) = id.and_then(|id| inputs.runbook.sites.hosts.get(id)) {
        return (p.site == inputs.lost.name).then(|| {
            inputs
                .lost
                .holding(address)
                .map_or_else(|| format!("site = \"{}\"", p.site), ToString::to_string)
        });
    }
    inputs.lost.holding(address).map(ToString::to_string)
}

fn host_address(inputs: &Inputs<'_>, id: &HostId) -> String {
    inputs.targets.get(id).map_or_else(
        || {
            inputs
                .runbook
                .hosts
                .get(id)
                .map_or_else(String::new, |h| h.address.clone())
        },
        |t| t.hostname.clone(),
    )
}

fn lost_service(inputs: &Inputs<'_>, s: &Service) -> bool {
    !s.hosts.is_empty()
        && s.hosts
            .iter()
            .all(|h| host_in_lost(inputs, Some(h), &host_address(inputs, h)).is_some())
}

fn quoted_list(items: &[ServiceId]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks and restores of services not lost with the site that run on a host in it.
fn step_hosts(inputs: &Inputs<'_>, out: &mut Vec<Dependency>) {
    for s in &inputs.services {
        if lost_service(inputs, s) {
            continue;
        }
        for (phase, steps) in [("check", &s.checks), ("restore", &s.restores)] {
            for step in steps {
                for host in &step.hosts {
                    let address = host_address(inputs, host);
                    if let Some(entry) = host_in_lost(inputs, Some(host), &address) {
                        out.push(Dependency {
                            kind: Kind::StepHost,
                            text: format!(
                                "{phase} '{}' of service '{}' runs on host '{host}' ({address}), in the lost site '{}' ({entry})",
                                step.name, s.id, inputs.lost.name
                            ),
                            address,
                            entry,
                        });
                    }
                }
            }
        }
    }
}

/// Hosts outside the lost site reached through a jump host in it.
fn jump_chains(inputs: &Inputs<'_>, out: &mut Vec<Dependency>) {
    for (host, services) in used_hosts(inputs) {
        let address = host_address(inputs, &host);
        if host_in_lost(inputs, Some(&host), &address).is_some() {
            continue;
        }
        let mut hops: Vec<(String, String, Option<HostId>)> = Vec::new();
        if let Some(t) = inputs.targets.get(&host) {
            let mut hop = t.jump.as_deref();
            while let Some(j) = hop {
                let id = inputs
                    .runbook
                    .hosts
                    .contains_key(j.label.as_str())
                    .then(|| HostId::new(j.label.clone()));
                hops.push((j.label.clone(), j.hostname.clone(), id));
                hop = j.jump.as_deref();
            }
        } else {
            let mut next = inputs.runbook.hosts.get(&host).and_then(|h| h.jump.clone());
            while let Some(j) = next {
                if hops.len() > 8 {
                    break;
                }
                let h = inputs.runbook.hosts.get(&j);
                hops.push((
                    j.to_string(),
                    h.map_or_else(String::new, |h| h.address.clone()),
                    Some(j.clone()),
                ));
                next = h.and_then(|h| h.jump.clone());
            }
        }
        for (label, hop_address, id) in hops {
            if let Some(entry) = host_in_lost(inputs, id.as_ref(), &hop_address) {
                out.push(Dependency {
                    kind: Kind::JumpHost,
                    text: format!(
                        "host '{host}' ({address}, service {}) is reached through jump host '{label}' ({hop_address}), in the lost site '{}' ({entry})",
                        quoted_list(&services),
                        inputs.lost.name
                    ),
                    address: hop_address,
                    entry,
                });
            }
        }
    }
}

/// `HOST` of `HOST:PORT` (or of `[V6]:PORT`).
fn host_part(endpoint: &str) -> String {
    let e = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .unwrap_or(endpoint);
    if let Some(rest) = e.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    e.rsplit_once(':').map_or(e, |(h, _)| h).to_string()
}

fn journal_members(inputs: &Inputs<'_>) -> Vec<String> {
    inputs
        .journal
        .and_then(JournalLocation::shared)
        .map(|u| u.endpoints.clone())
        .unwrap_or_default()
}

/// etcd members of a shared journal in the lost site, and the quorum they take with them.
fn journal(inputs: &Inputs<'_>, out: &mut Vec<Dependency>) {
    let members = journal_members(inputs);
    let mut lost = 0;
    for member in &members {
        let host = host_part(member);
        if let Some(entry) = inputs.lost.holding(&host) {
            lost += 1;
            out.push(Dependency {
                kind: Kind::JournalMember,
                text: format!(
                    "the shared journal's etcd member '{member}' (--journal) is in the lost site '{}' ({entry})",
                    inputs.lost.name
                ),
                address: host,
                entry: entry.to_string(),
            });
        }
    }
    if lost > 0 && (members.len() - lost) * 2 <= members.len() {
        out.push(Dependency {
            kind: Kind::JournalQuorum,
            text: format!(
                "the shared journal loses its quorum: {lost} of the {} etcd members --journal names are in the lost site '{}', so no event can be committed",
                members.len(),
                inputs.lost.name
            ),
            address: String::new(),
            entry: String::new(),
        });
    }
    if let Some(path) = inputs.journal.and_then(JournalLocation::file) {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
        file_on_lost_mount(
            inputs,
            &format!("the journal '{}'", path.display()),
            &dir,
            out,
        );
    }
}

/// The host of each `[[notify]]` URL (1-based index), secrets masked.
fn webhook_hosts(inputs: &Inputs<'_>) -> Vec<(usize, String)> {
    inputs
        .runbook
        .notify
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let url = reqwest::Url::parse(&inputs.runbook.fill(&n.url)).ok()?;
            Some((i + 1, url.host_str()?.to_string()))
        })
        .collect()
}

/// Webhooks served from the lost site.
fn webhooks(inputs: &Inputs<'_>, out: &mut Vec<Dependency>) {
    for (index, host) in webhook_hosts(inputs) {
        if let Some(entry) = inputs.lost.holding(&host) {
            let shown = inputs.runbook.redact(&host);
            out.push(Dependency {
                kind: Kind::Webhook,
                text: format!(
                    "[[notify]] #{index} posts to '{shown}', in the lost site '{}' ({entry})",
                    inputs.lost.name
                ),
                address: shown,
                entry: entry.to_string(),
            });
        }
    }
}

/// The runbook, `operators`, identity files and the machine's SSH files on a network
/// filesystem served from the lost site.
fn files(inputs: &Inputs<'_>, out: &mut Vec<Dependency>) {
    let rb = inputs.runbook;
    let mut files: Vec<(String, PathBuf)> = vec![("the runbook".into(), rb.path.clone())];
    if let Some(signers) = &rb.operators.signers {
        files.push(("[runbook] operators".into(), signers.clone()));
    }
    for host in used_hosts(inputs).keys() {
        let mut hop = inputs.targets.get(host);
        // Without a target (no ssh_config read), the runbook's own `identity`, `~` expanded.
        let own = hop
            .is_none()
            .then(|| rb.hosts.get(host).and_then(|h| h.identity.clone()))
            .flatten()
            .map(
                |p| match (p.strip_prefix("~"), crate::exec::ssh_config::home()) {
                    (Ok(rest), Some(home)) => home.join(rest),
                    _ => p,
                },
            );
        let mut ids: Vec<(String, PathBuf)> = own
            .into_iter()
            .map(|p| (format!("the identity file of host '{host}'"), p))
            .collect();
        while let Some(t) = hop {
            for p in &t.identities {
                ids.push((
                    format!("the identity file of host '{}'", t.label),
                    p.clone(),
                ));
            }
            hop = t.jump.as_deref();
        }
        files.extend(ids);
    }
    files.extend(inputs.files.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    for (what, path) in files {
        if seen.insert(path.clone()) {
            file_on_lost_mount(inputs, &format!("{what} '{}'", path.display()), &path, out);
        }
    }
}

fn file_on_lost_mount(
    inputs: &Inputs<'_>,
    what: &str,
    path: &std::path::Path,
    out: &mut Vec<Dependency>,
) {
    let Some(mount) = inputs.env.mount_of(path) else {
        return;
    };
    for server in &mount.servers {
        if let Some(entry) = inputs.lost.holding(server) {
            out.push(Dependency {
                kind: Kind::File,
                text: format!(
                    "{what} is on {} ({} {}), served from '{server}' in the lost site '{}' ({entry})",
                    mount.point.display(),
                    mount.fstype,
                    mount.source,
                    inputs.lost.name
                ),
                address: server.clone(),
                entry: entry.to_string(),
            });
            return;
        }
    }
}

/// Nameservers in the lost site, when the run resolves any name.
fn resolver(inputs: &Inputs<'_>, out: &mut Vec<Dependency>) {
    let mut names: Vec<String> = Vec::new();
    for (_, address) in contacted(inputs) {
        if ip_of(&address).is_none()
            && !address.eq_ignore_ascii_case("localhost")
            && !names.contains(&address)
        {
            names.push(address);
        }
    }
    if names.is_empty() {
        return;
    }
    let shown: Vec<String> = names.iter().take(3).map(|n| format!("'{n}'")).collect();
    let more = names.len().saturating_sub(3);
    let names_text = if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    };
    for ns in &inputs.env.nameservers {
        if let Some(entry) = inputs.lost.holding(&ns.to_string()) {
            out.push(Dependency {
                kind: Kind::Resolver,
                text: format!(
                    "nameserver {ns} ({}) is in the lost site '{}' ({entry}); the run resolves {names_text} through it",
                    inputs.env.resolv_conf.display(),
                    inputs.lost.name
                ),
                address: ns.to_string(),
                entry: entry.to_string(),
            });
        }
    }
}
