//! `[sites.NAME] addresses`, `[hosts.X] site` and `[runbook] lost_site`: every entry readable,
//! no address in two sites, every site named known, and a host's declared site the one its
//! address is in.

use std::ops::Range;

use indexmap::IndexMap;

use super::{HelpIfNone, Validator, is_id};
use crate::runbook::diag::{Diag, closest};
use crate::runbook::model::{Host, HostId, Transport};
use crate::runbook::raw::{RawHost, RawMeta, RawSite, S};
use crate::runbook::sites::{Placed, Placement, Site, SiteAddress, Sites};

impl Validator<'_> {
    pub(super) fn sites(
        &mut self,
        raw: &IndexMap<String, (Range<usize>, RawSite)>,
        raw_hosts: &IndexMap<String, (Range<usize>, RawHost)>,
        hosts: &IndexMap<HostId, Host>,
        meta: &RawMeta,
    ) -> Sites {
        let mut sites = Sites::default();
        // Every entry read so far, with its site and span, to find overlaps.
        let mut seen: Vec<(String, SiteAddress, Range<usize>)> = Vec::new();
        for (name, (span, site)) in raw {
            if !is_id(name) {
                self.error(
                    Diag::new(
                        span.clone(),
                        format!("site name '{name}' has characters names may not have"),
                    )
                    .help("use letters, digits, '.', '_' and '-'"),
                );
            }
            if site.addresses.is_empty() {
                self.error(
                    Diag::new(span.clone(), format!("site '{name}' has no addresses")).help(
                        "list its networks and DNS suffixes: addresses = [\"10.20.0.0/16\", \"pangyo.example\"]",
                    ),
                );
            }
            let mut addresses = Vec::new();
            for entry in &site.addresses {
                match SiteAddress::parse(entry.get_ref()) {
                    Ok(a) => {
                        if let Some((other, theirs, _)) =
                            seen.iter().find(|(o, b, _)| o != name && a.overlaps(b))
                        {
                            self.error(
                                Diag::new(
                                    entry.span(),
                                    format!(
                                        "address '{}' of site '{name}' overlaps '{theirs}' of site '{other}'",
                                        entry.get_ref()
                                    ),
                                )
                                .help("an address belongs to one site; narrow one of the two entries"),
                            );
                        }
                        seen.push((name.clone(), a.clone(), entry.span()));
                        addresses.push(a);
                    }
                    Err(why) => self.error(Diag::new(entry.span(), why).help(
                        "write a network as '10.20.0.0/16', an address as '10.20.0.5', a DNS suffix as 'pangyo.example'",
                    )),
                }
            }
            sites.sites.insert(
                name.clone(),
                Site {
                    name: name.clone(),
                    addresses,
                },
            );
        }
        for (id, host) in hosts {
            let Some((_, raw_host)) = raw_hosts.get(id.as_str()) else {
                continue;
            };
            if let Some(p) = self.place(id, host, raw_host, &sites) {
                sites.hosts.insert(id.clone(), p);
            }
        }
        sites.lost = meta.lost_site.as_ref().and_then(|l| {
            self.known_site(l, &sites, "lost_site")
                .then(|| l.get_ref().clone())
        });
        sites
    }

    /// Where a host is: its declared site (which must agree with its address) or the one
    /// site its address falls in.
    fn place(
        &mut self,
        id: &HostId,
        host: &Host,
        raw: &RawHost,
        sites: &Sites,
    ) -> Option<Placement> {
        let holding = if host.transport == Transport::Ssh {
            sites.holding(&host.address)
        } else {
            Vec::new()
        };
        let address_span = raw.address.as_ref().map_or(0..0, S::span);
        if holding.len() > 1 {
            let names: Vec<String> = holding
                .iter()
                .map(|(s, a)| format!("'{}' ({a})", s.name))
                .collect();
            self.error(
                Diag::new(
                    address_span.clone(),
                    format!(
                        "address '{}' of host '{id}' falls in {} sites: {}",
                        host.address,
                        holding.len(),
                        names.join(", ")
                    ),
                )
                .help("an address belongs to one site; narrow the sites' addresses"),
            );
        }
        let derived = (holding.len() == 1).then(|| holding[0]);
        match &raw.site {
            Some(declared) => {
                if !self.known_site(declared, sites, &format!("site of host '{id}'")) {
                    return None;
                }
                let name = declared.get_ref();
                if let Some((site, entry)) = derived
                    && site.name != *name
                {
                    self.error(
                        Diag::new(
                            declared.span(),
                            format!(
                                "host '{id}' is declared in site '{name}', but its address '{}' is in site '{}' ('{entry}')",
                                host.address, site.name
                            ),
                        )
                        .help(format!(
                            "write site = \"{}\", or correct the address or the sites' addresses",
                            site.name
                        )),
                    );
                }
                Some(Placement {
                    site: name.clone(),
                    how: Placed::Declared,
                })
            }
            None => derived.map(|(site, _)| Placement {
                site: site.name.clone(),
                how: Placed::Derived,
            }),
        }
    }

    /// Whether `name` is a `[sites]` entry; reports it when not.
    fn known_site(&mut self, name: &S<String>, sites: &Sites, what: &str) -> bool {
        let n = name.get_ref();
        if sites.sites.contains_key(n.as_str()) {
            return true;
        }
        self.error(
            Diag::new(name.span(), format!("unknown site '{n}' ({what})"))
                .suggest(closest(n, sites.sites.keys().map(String::as_str)))
                .help_if_none("declare it as [sites.NAME] with its addresses"),
        );
        false
    }
}
