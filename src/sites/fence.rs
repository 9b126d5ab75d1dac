//! The guard of `preflight --simulate`: once installed, every connection bringup makes (SSH
//! dials and jump hops, etcd, webhooks) is refused inside bringup when its address is in the
//! lost site, and names are not resolved when every nameserver is there. One per process,
//! installed before anything connects; without it every check passes.

use std::net::IpAddr;
use std::sync::OnceLock;

use crate::runbook::sites::{Site, ip_of};

static FENCE: OnceLock<Fence> = OnceLock::new();

/// The lost site, and whether the machine's resolver is lost with it.
#[derive(Debug, Clone)]
pub struct Fence {
    pub site: Site,
    /// Set when every nameserver of the resolver is in the site: the first of them.
    pub resolver_lost: Option<IpAddr>,
}

/// A connection bringup refused to make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("refused by --simulate: '{address}' is in the lost site '{site}' ({entry})")]
    InSite {
        address: String,
        site: String,
        entry: String,
    },
    #[error(
        "refused by --simulate: '{name}' cannot be resolved, every nameserver (first {nameserver}) is in the lost site '{site}'"
    )]
    NoResolver {
        name: String,
        nameserver: IpAddr,
        site: String,
    },
}

/// Install the guard for the rest of the process; `false` when one already was.
pub fn install(fence: Fence) -> bool {
    FENCE.set(fence).is_ok()
}

/// Whether connecting to `address` (a name or an IP as written) is allowed.
pub fn check(address: &str) -> Result<(), Refused> {
    FENCE.get().map_or(Ok(()), |f| f.check(address))
}

/// Whether connecting to a resolved address is allowed.
pub fn check_ip(ip: IpAddr) -> Result<(), Refused> {
    check(&ip.to_string())
}

/// Whether a request to `url` is allowed (its host checked; an unreadable URL is left to
/// the client to refuse).
pub fn check_url(url: &str) -> Result<(), Refused> {
    match reqwest::Url::parse(url) {
        Ok(u) => u.host_str().map_or(Ok(()), check),
        Err(_) => Ok(()),
    }
}

impl Fence {
    pub fn check(&self, address: &str) -> Result<(), Refused> {
        if let Some(entry) = self.site.holding(address) {
            return Err(Refused::InSite {
                address: address.to_string(),
                site: self.site.name.clone(),
                entry: entry.to_string(),
            });
        }
        if let Some(nameserver) = self.resolver_lost
            && ip_of(address).is_none()
            && !address.eq_ignore_ascii_case("localhost")
        {
            return Err(Refused::NoResolver {
                name: address.to_string(),
                nameserver,
                site: self.site.name.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::sites::SiteAddress;

    /// The guard installed for this test binary fences TEST-NET-1 (192.0.2.0/24), which no
    /// other test connects to: every connect point refuses it before touching the network.
    #[tokio::test]
    async fn every_connect_point_refuses_the_fenced_site_without_a_packet() {
        let site = Site {
            name: "lost".into(),
            addresses: vec![SiteAddress::parse("192.0.2.0/24").expect("ok")],
        };
        install(Fence {
            site,
            resolver_lost: None,
        });
        let started = std::time::Instant::now();
        let etcd = crate::journal::etcd::Etcd::connect(&["192.0.2.1:2379".to_string()])
            .await
            .expect_err("refused");
        assert!(
            etcd.to_string()
                .contains("refused by --simulate: '192.0.2.1' is in the lost site 'lost'"),
            "{etcd}"
        );
        let target = crate::exec::ssh_config::Target {
            label: "db".into(),
            hostname: "192.0.2.7".into(),
            port: 22,
            user: "sre".into(),
            identities: Vec::new(),
            jump: None,
        };
        let settings = crate::exec::ssh::Settings {
            connect_timeout: std::time::Duration::from_secs(5),
            keepalive: std::time::Duration::from_secs(5),
            keepalive_max: 3,
            use_agent: false,
            accept_new_host_keys: false,
            known_hosts: Vec::new(),
            bringup_known_hosts: None,
        };
        let cancel = tokio_util::sync::CancellationToken::new();
        let Err(ssh) = crate::exec::ssh::connect(&target, &settings, &cancel) else {
            panic!("connected to a fenced address");
        };
        assert!(
            ssh.error
                .to_string()
                .contains("refused by --simulate: '192.0.2.7' is in the lost site 'lost'"),
            "{}",
            ssh.error
        );
        assert!(check_url("https://192.0.2.9/hook").is_err());
        assert!(check_url("https://198.51.100.9/hook").is_ok());
        // Refused at once: a real attempt at TEST-NET would wait out its timeouts.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn addresses_in_the_site_are_refused_and_others_pass() {
        let site = Site {
            name: "pangyo".into(),
            addresses: vec![
                SiteAddress::parse("127.0.0.2").expect("ok"),
                SiteAddress::parse("pangyo.example").expect("ok"),
            ],
        };
        let fence = Fence {
            site: site.clone(),
            resolver_lost: None,
        };
        assert!(fence.check("127.0.0.1").is_ok());
        assert!(fence.check("db.gasan.example").is_ok());
        let refused = fence.check("127.0.0.2").expect_err("in the site");
        assert_eq!(
            refused.to_string(),
            "refused by --simulate: '127.0.0.2' is in the lost site 'pangyo' (127.0.0.2/32)"
        );
        assert!(fence.check("db.pangyo.example").is_err());
        let blind = Fence {
            site,
            resolver_lost: Some("127.0.0.2".parse().expect("ip")),
        };
        assert!(blind.check("db.gasan.example").is_err());
        assert!(blind.check("127.0.0.1").is_ok());
        assert!(blind.check("localhost").is_ok());
    }
}
