//! `[sites.NAME]` and `[hosts.X] site`, validated: which addresses belong to which site, and
//! where each host is (SPEC "Sites and witnesses"). Pure: matching an address is text and
//! arithmetic, never a lookup.

use std::fmt;
use std::net::IpAddr;

use indexmap::IndexMap;
use ipnet::IpNet;

use super::model::HostId;

/// The runbook's sites, each host's site, and the site the runbook recovers from losing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sites {
    /// In file order.
    pub sites: IndexMap<String, Site>,
    /// Each host placed in a site: declared with `site`, or derived from its address.
    pub hosts: IndexMap<HostId, Placement>,
    /// `[runbook] lost_site`: the site whose loss the runbook is written for.
    pub lost: Option<String>,
}

/// One `[sites.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub addresses: Vec<SiteAddress>,
}

/// One entry of a site's `addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteAddress {
    /// A network (`10.20.0.0/16`; a single address is its /32 or /128).
    Net(IpNet),
    /// A DNS suffix (`pangyo.example`): the name itself and every name under it.
    Suffix(String),
}

/// Where a host is, and how that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub site: String,
    pub how: Placed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// `[hosts.X] site = "NAME"`.
    Declared,
    /// Its `address` falls in one of the site's addresses.
    Derived,
}

impl fmt::Display for SiteAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteAddress::Net(net) => write!(f, "{net}"),
            SiteAddress::Suffix(s) => f.write_str(s),
        }
    }
}

/// An address as a name or an IP: brackets of `[::1]` and a final `.` removed, lowercase.
fn normal(address: &str) -> String {
    let a = address.trim();
    let a = a
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(a);
    a.trim_end_matches('.').to_ascii_lowercase()
}

/// The IP an address is written as, if it is one.
pub fn ip_of(address: &str) -> Option<IpAddr> {
    normal(address).parse().ok()
}

impl SiteAddress {
    /// Read one `addresses` entry: a CIDR, an IP address or a DNS suffix; `Err` says why not.
    pub fn parse(text: &str) -> Result<SiteAddress, String> {
        let t = text.trim();
        if t.contains('/') {
            let net: IpNet = t
                .parse()
                .map_err(|_| format!("'{text}' is not a network in CIDR form"))?;
            if net.trunc() != net {
                return Err(format!(
                    "'{text}' has host bits set; the network is '{}'",
                    net.trunc()
                ));
            }
            return Ok(SiteAddress::Net(net));
        }
        if let Some(ip) = ip_of(t) {
            return Ok(SiteAddress::Net(IpNet::from(ip)));
        }
        let name = normal(t);
        let name = name.strip_prefix('.').unwrap_or(&name).to_string();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.is_empty() || !name.split('.').all(label_ok) {
            return Err(format!(
                "'{text}' is neither a network (10.20.0.0/16), an IP address nor a DNS suffix (pangyo.example)"
            ));
        }
        Ok(SiteAddress::Suffix(name))
    }

    /// Whether `address` (an IP or a name, as written) is in this network or under this suffix.
    pub fn holds(&self, address: &str) -> bool {
        let a = normal(address);
        match self {
            SiteAddress::Net(net) => a.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip)),
            SiteAddress::Suffix(s) => {
                a.parse::<IpAddr>().is_err()
                    && (a == *s || a.strip_suffix(s.as_str()).is_some_and(|p| p.ends_with('.')))
            }
        }
    }

    /// Whether some address could be in both.
    pub fn overlaps(&self, other: &SiteAddress) -> bool {
        match (self, other) {
            (SiteAddress::Net(a), SiteAddress::Net(b)) => a.contains(b) || b.contains(a),
            (SiteAddress::Suffix(a), SiteAddress::Suffix(b)) => self.holds(b) || other.holds(a),
            _ => false,
        }
    }
}

impl Sites {
    /// The sites holding `address`, with the entry that holds it.
    pub fn holding(&self, address: &str) -> Vec<(&Site, &SiteAddress)> {
        self.sites
            .values()
            .filter_map(|s| s.holding(address).map(|a| (s, a)))
            .collect()
    }

    /// The site of a host: declared, or derived from its address.
    pub fn of_host(&self, host: &HostId) -> Option<&Site> {
        self.hosts.get(host).and_then(|p| self.sites.get(&p.site))
    }
}

impl Site {
    /// The entry of this site that holds `address`, if any.
    pub fn holding(&self, address: &str) -> Option<&SiteAddress> {
        self.addresses.iter().find(|a| a.holds(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SiteAddress {
        SiteAddress::parse(s).expect("valid")
    }

    #[test]
    fn networks_addresses_and_suffixes_hold_what_they_should() {
        let net = addr("10.20.0.0/16");
        assert!(net.holds("10.20.3.4"));
        assert!(!net.holds("10.21.0.1"));
        assert!(!net.holds("pangyo.example"));
        assert!(addr("127.0.0.2").holds("127.0.0.2"));
        assert!(!addr("127.0.0.2").holds("127.0.0.1"));
        assert!(addr("fd00::/8").holds("[fd00::1]"));
        let dns = addr(".Pangyo.example.");
        assert_eq!(dns, SiteAddress::Suffix("pangyo.example".into()));
        assert!(dns.holds("db1.pangyo.example"));
        assert!(dns.holds("PANGYO.example."));
        assert!(!dns.holds("notpangyo.example"));
        assert!(!dns.holds("pangyo.example.com"));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        assert!(
            SiteAddress::parse("10.20.0.5/16")
                .expect_err("host bits")
                .contains("'10.20.0.0/16'")
        );
        assert!(SiteAddress::parse("10.20.0.0/40").is_err());
        assert!(SiteAddress::parse("pan gyo").is_err());
        assert!(SiteAddress::parse("").is_err());
    }

    #[test]
    fn overlaps_are_found_both_ways() {
        assert!(addr("10.0.0.0/8").overlaps(&addr("10.20.0.0/16")));
        assert!(addr("10.20.0.0/16").overlaps(&addr("10.0.0.0/8")));
        assert!(!addr("10.20.0.0/16").overlaps(&addr("10.30.0.0/16")));
        assert!(addr("example").overlaps(&addr("pangyo.example")));
        assert!(addr("pangyo.example").overlaps(&addr("example")));
        assert!(!addr("pangyo.example").overlaps(&addr("gasan.example")));
        assert!(!addr("10.0.0.0/8").overlaps(&addr("example")));
    }
}
