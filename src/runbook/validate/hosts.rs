//! Hosts, jump hosts and groups: resolving `[hosts]`, `[groups]` and the `hosts` lists of
//! services and steps (host ids or `@group`) into host ids, reporting unknown names.

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;

use indexmap::IndexMap;

use super::{HelpIfNone, Scope, Validator, cycle_text, is_id, push_unique};
use crate::runbook::diag::{Diag, closest};
use crate::runbook::model::{Host, HostId, Transport};
use crate::runbook::raw::{RawHost, S};

impl Validator<'_> {
    pub(super) fn hosts(
        &mut self,
        raw: &IndexMap<String, (Range<usize>, RawHost)>,
    ) -> IndexMap<HostId, Host> {
        let mut hosts = IndexMap::new();
        for (id, (span, h)) in raw {
            if !is_id(id) {
                self.error(
                    Diag::new(
                        span.clone(),
                        format!("host id '{id}' has characters ids may not have"),
                    )
                    .help("use letters, digits, '.', '_' and '-'"),
                );
            }
            let transport = match h
                .transport
                .as_ref()
                .map(|t| (t.get_ref().as_str(), t.span()))
            {
                None | Some(("ssh", _)) => Transport::Ssh,
                Some(("local", _)) => Transport::Local,
                Some((other, span)) => {
                    self.error(
                        Diag::new(span, format!("unknown transport '{other}'"))
                            .suggest(closest(other, ["ssh", "local"]))
                            .help_if_none("transport is 'ssh' (the default) or 'local'"),
                    );
                    Transport::Ssh
                }
            };
            let jump = self.jump(id, h, transport, raw);
            if let Some(port) = h.port.as_ref().filter(|p| *p.get_ref() == 0) {
                self.error(
                    Diag::new(
                        port.span(),
                        format!("port '0' of host '{id}' cannot be connected to"),
                    )
                    .help("leave 'port' out for 22 or ~/.ssh/config's Port"),
                );
            }
            let address = h.address.as_ref().map_or_else(
                || match transport {
                    Transport::Local => "localhost".to_string(),
                    Transport::Ssh => id.clone(),
                },
                |a| a.get_ref().clone(),
            );
            hosts.insert(
                HostId::new(id.clone()),
                Host {
                    id: HostId::new(id.clone()),
                    transport,
                    address,
                    port: h.port.as_ref().map(|p| *p.get_ref()),
                    user: h.user.as_ref().map(|u| u.get_ref().clone()),
                    identity: h.identity.as_ref().map(|i| PathBuf::from(i.get_ref())),
                    jump,
                    tags: h
                        .tags
                        .iter()
                        .flatten()
                        .map(|t| t.get_ref().clone())
                        .collect(),
                },
            );
        }
        self.jump_loops(raw, &hosts);
        hosts
    }

    /// The jump host `h` names, when it is one bringup can connect through.
    fn jump(
        &mut self,
        id: &str,
        h: &RawHost,
        transport: Transport,
        raw: &IndexMap<String, (Range<usize>, RawHost)>,
    ) -> Option<HostId> {
        h.jump.as_ref().and_then(|j| {
            let name = j.get_ref();
            if name == id {
                self.error(Diag::new(
                    j.span(),
                    format!("host '{id}' uses itself as jump host '{name}'"),
                ));
                None
            } else if !raw.contains_key(name.as_str()) {
                self.error(
                    Diag::new(j.span(), format!("jump host '{name}' is not a known host"))
                        .suggest(closest(name, raw.keys().map(String::as_str)))
                        .help_if_none("define it under [hosts] first"),
                );
                None
            } else if transport == Transport::Local {
                self.error(
                    Diag::new(
                        j.span(),
                        format!("host '{id}' runs locally; jump host '{name}' does not apply"),
                    )
                    .help("remove 'jump', or set transport = \"ssh\""),
                );
                None
            } else if raw[name.as_str()]
                .1
                .transport
                .as_ref()
                .is_some_and(|t| t.get_ref() == "local")
            {
                // A local host has no sshd to forward through; connecting would fail
                // on every host behind it, at run time instead of now.
                self.error(
                    Diag::new(
                        j.span(),
                        format!(
                            "jump host '{name}' of host '{id}' runs locally (transport = \"local\"); it cannot forward SSH"
                        ),
                    )
                    .help("name an SSH host as 'jump', or remove 'jump' to connect directly"),
                );
                None
            } else {
                Some(HostId::new(name.clone()))
            }
        })
    }

    /// Jump chains must end: a → b → a would never connect.
    pub(super) fn jump_loops(
        &mut self,
        raw: &IndexMap<String, (Range<usize>, RawHost)>,
        hosts: &IndexMap<HostId, Host>,
    ) {
        let mut reported: HashSet<&str> = HashSet::new();
        for (id, host) in hosts {
            let mut chain = vec![id.as_str()];
            let mut next = host.jump.as_ref();
            while let Some(j) = next {
                if let Some(pos) = chain.iter().position(|c| *c == j.as_str()) {
                    let members = &chain[pos..];
                    if members.iter().all(|m| !reported.contains(m)) && pos == 0 {
                        reported.extend(members.iter().copied());
                        let span = raw[id.as_str()].1.jump.as_ref().map_or(0..0, S::span);
                        self.error(
                            Diag::new(
                                span,
                                format!("jump hosts loop: {}", cycle_text(members.iter().copied())),
                            )
                            .help("one host of the chain must be reachable directly"),
                        );
                    }
                    break;
                }
                chain.push(j.as_str());
                next = hosts.get(j).and_then(|h| h.jump.as_ref());
            }
        }
    }

    /// Groups resolved to host ids; a member may be a host or another `@group`.
    pub(super) fn groups(
        &mut self,
        raw: &IndexMap<String, (Range<usize>, Vec<S<String>>)>,
        hosts: &IndexMap<HostId, Host>,
    ) -> IndexMap<String, (Vec<HostId>, Range<usize>)> {
        let mut done: IndexMap<String, (Vec<HostId>, Range<usize>)> = IndexMap::new();
        for (name, (span, _)) in raw {
            if !is_id(name) {
                self.error(
                    Diag::new(
                        span.clone(),
                        format!("group name '{name}' has characters names may not have"),
                    )
                    .help("use letters, digits, '.', '_' and '-', so that '@name' can refer to it"),
                );
            }
        }
        for name in raw.keys() {
            self.resolve_group(name, raw, hosts, &mut Vec::new(), &mut done);
        }
        // File order, whatever order nesting resolved them in.
        raw.keys()
            .filter_map(|k| done.swap_remove(k).map(|v| (k.clone(), v)))
            .collect()
    }

    pub(super) fn resolve_group(
        &mut self,
        name: &str,
        raw: &IndexMap<String, (Range<usize>, Vec<S<String>>)>,
        hosts: &IndexMap<HostId, Host>,
        stack: &mut Vec<String>,
        done: &mut IndexMap<String, (Vec<HostId>, Range<usize>)>,
    ) -> Vec<HostId> {
        if let Some((members, _)) = done.get(name) {
            return members.clone();
        }
        stack.push(name.to_string());
        let mut out: Vec<HostId> = Vec::new();
        for member in &raw[name].1 {
            let m = member.get_ref();
            if let Some(inner) = m.strip_prefix('@') {
                if let Some(pos) = stack.iter().position(|s| s == inner) {
                    // Each group resolves once, so each loop is found once, at its closing edge.
                    let members: Vec<String> =
                        stack[pos..].iter().map(|m| format!("@{m}")).collect();
                    self.error(
                        Diag::new(
                            member.span(),
                            format!(
                                "groups include each other: {}",
                                cycle_text(members.iter().map(String::as_str))
                            ),
                        )
                        .help("a group may include another group, but not in a loop"),
                    );
                } else if raw.contains_key(inner) {
                    let hs = self.resolve_group(inner, raw, hosts, stack, done);
                    push_unique(&mut out, hs);
                } else {
                    self.unknown_group(inner, member.span(), raw.keys().map(String::as_str));
                }
            } else if hosts.contains_key(m.as_str()) {
                push_unique(&mut out, [HostId::new(m.clone())]);
            } else {
                self.unknown_host(m, member.span(), hosts, raw.keys().map(String::as_str));
            }
        }
        stack.pop();
        done.insert(name.to_string(), (out.clone(), raw[name].0.clone()));
        out
    }

    pub(super) fn unknown_group<'k>(
        &mut self,
        name: &str,
        span: Range<usize>,
        groups: impl Iterator<Item = &'k str>,
    ) {
        let groups: Vec<&str> = groups.collect();
        self.error(
            Diag::new(span, format!("unknown group '@{name}'"))
                .suggest(
                    closest(name, groups.iter().copied())
                        .map(|g| format!("@{g}"))
                        .as_deref(),
                )
                .help_if_none("define it under [groups]"),
        );
    }

    pub(super) fn unknown_host<'k>(
        &mut self,
        name: &str,
        span: Range<usize>,
        hosts: &IndexMap<HostId, Host>,
        groups: impl Iterator<Item = &'k str>,
    ) {
        let groups: Vec<&str> = groups.collect();
        let diag = Diag::new(span, format!("unknown host '{name}'"));
        let diag = if groups.contains(&name) {
            diag.help(format!("'{name}' is a group; write '@{name}'"))
        } else {
            diag.suggest(closest(name, hosts.keys().map(HostId::as_str)))
                .help_if_none("define it under [hosts], or name a group as '@group'")
        };
        self.error(diag);
    }

    pub(super) fn host_list(&mut self, list: &[S<String>], scope: &Scope<'_>) -> Vec<HostId> {
        let mut out = Vec::new();
        for item in list {
            let name = item.get_ref();
            if let Some(group) = name.strip_prefix('@') {
                match scope.groups.get(group) {
                    Some((members, _)) => push_unique(&mut out, members.iter().cloned()),
                    None => self.unknown_group(
                        group,
                        item.span(),
                        scope.groups.keys().map(String::as_str),
                    ),
                }
            } else if scope.hosts.contains_key(name.as_str()) {
                push_unique(&mut out, [HostId::new(name.clone())]);
            } else {
                self.unknown_host(
                    name,
                    item.span(),
                    scope.hosts,
                    scope.groups.keys().map(String::as_str),
                );
            }
        }
        out
    }
}
