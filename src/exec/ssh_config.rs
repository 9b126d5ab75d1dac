//! Where an SSH host really is: runbook host fields, then `~/.ssh/config` (Host aliases,
//! HostName, User, Port, IdentityFile, ProxyJump), then defaults. Pure resolution: it reads
//! the config file once and never opens a connection.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ssh2_config::{ParseRule, SshConfig};

use super::ExecError;
use crate::runbook::model::{HostId, Runbook};

/// Jump chains longer than this are refused (they are almost surely a loop).
const MAX_JUMPS: usize = 8;

/// One SSH endpoint after resolution, with the chain of jump hosts in front of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What messages call it: the runbook host id, or the ProxyJump spec.
    pub label: String,
    /// Where to connect (and the name looked up in known_hosts).
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// The runbook's `identity`, then the config's IdentityFile entries, in order.
    pub identities: Vec<PathBuf>,
    pub jump: Option<Box<Target>>,
}

impl Target {
    /// `user@hostname:port`, as error messages show it.
    pub fn address(&self) -> String {
        format!("{}@{}:{}", self.user, self.hostname, self.port)
    }
}

/// Read an ssh_config file. `None` reads `~/.ssh/config`; a missing default file is no config.
pub fn load(path: Option<&Path>) -> Result<SshConfig, String> {
    let (path, required) = match path {
        Some(path) => (path.to_path_buf(), true),
        None => match home() {
            Some(home) => (home.join(".ssh/config"), false),
            None => return Ok(SshConfig::default()),
        },
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if !required && err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SshConfig::default());
        }
        Err(err) => return Err(format!("cannot read '{}': {err}", path.display())),
    };
    let config = match home() {
        Some(home) => SshConfig::default().home_dir(home),
        None => SshConfig::default(),
    };
    config
        .parse(
            &mut BufReader::new(file),
            ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .map_err(|err| format!("cannot parse '{}': {err}; fix the file", path.display()))
}

/// Resolve a runbook host (which must use the `ssh` transport).
pub fn resolve(runbook: &Runbook, id: &HostId, config: &SshConfig) -> Result<Target, ExecError> {
    resolve_depth(runbook, id, config, 0)
}

fn resolve_depth(
    runbook: &Runbook,
    id: &HostId,
    config: &SshConfig,
    depth: usize,
) -> Result<Target, ExecError> {
    let host = runbook
        .hosts
        .get(id)
        .ok_or_else(|| ExecError::UnknownHost {
            host: id.to_string(),
        })?;
    if depth > MAX_JUMPS {
        return Err(ExecError::Other {
            host: id.to_string(),
            reason: format!("more than {MAX_JUMPS} jump hosts in a chain; check `jump` for a loop"),
        });
    }
    let params = config.query(&host.address);
    let mut identities: Vec<PathBuf> = host.identity.iter().map(|p| expand_tilde(p)).collect();
    identities.extend(params.identity_file.clone().unwrap_or_default());
    let user = host
        .user
        .clone()
        .or_else(|| runbook.defaults.user.clone())
        .or(params.user.clone())
        .unwrap_or_else(local_user);
    let jump = match &host.jump {
        Some(jump) => Some(Box::new(resolve_depth(runbook, jump, config, depth + 1)?)),
        None => config_jump(params.proxy_jump.as_deref(), config, &id.to_string(), depth)?,
    };
    Ok(Target {
        label: id.to_string(),
        hostname: params
            .host_name
            .clone()
            .unwrap_or_else(|| host.address.clone()),
        port: host.port.or(params.port).unwrap_or(22),
        user,
        identities,
        jump,
    })
}

/// A ProxyJump list `a,b` means: reach `b` through `a`, then the target through `b`.
fn config_jump(
    hops: Option<&[String]>,
    config: &SshConfig,
    label: &str,
    depth: usize,
) -> Result<Option<Box<Target>>, ExecError> {
    let Some(hops) = hops else { return Ok(None) };
    if hops.is_empty() || hops.iter().any(|hop| hop.eq_ignore_ascii_case("none")) {
        return Ok(None);
    }
    if depth + hops.len() > MAX_JUMPS {
        return Err(ExecError::Other {
            host: label.to_string(),
            reason: format!(
                "more than {MAX_JUMPS} jump hosts in a chain; check ProxyJump for a loop"
            ),
        });
    }
    let mut previous: Option<Box<Target>> = None;
    for hop in hops {
        let mut target = spec_target(hop, config, label)?;
        if previous.is_some() {
            target.jump = previous;
        } else if target.jump.is_none() {
            let params = config.query(hop_host(hop).0);
            target.jump = config_jump(params.proxy_jump.as_deref(), config, label, depth + 1)?;
        }
        previous = Some(Box::new(target));
    }
    Ok(previous)
}

/// `[user@]host[:port]` → (host, user, port).
fn hop_host(spec: &str) -> (&str, Option<&str>, Option<&str>) {
    let (user, rest) = match spec.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, spec),
    };
    if let Some(inner) = rest.strip_prefix('[')
        && let Some((host, port)) = inner.split_once("]:")
    {
        return (host, user, Some(port));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, user, Some(port)),
        _ => (rest, user, None),
    }
}

fn spec_target(spec: &str, config: &SshConfig, label: &str) -> Result<Target, ExecError> {
    let (host, user, port) = hop_host(spec);
    let params = config.query(host);
    let port = match port {
        Some(port) => port.parse::<u16>().map_err(|_| ExecError::Other {
            host: label.to_string(),
            reason: format!("ProxyJump '{spec}' has a bad port; write it as user@host:port"),
        })?,
        None => params.port.unwrap_or(22),
    };
    Ok(Target {
        label: spec.to_string(),
        hostname: params.host_name.clone().unwrap_or_else(|| host.to_string()),
        port,
        user: user
            .map(str::to_string)
            .or(params.user.clone())
            .unwrap_or_else(local_user),
        identities: params.identity_file.clone().unwrap_or_default(),
        jump: None,
    })
}

pub(crate) fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

fn expand_tilde(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), home()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

fn local_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|user| !user.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
        .unwrap_or_else(|| "root".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::model::{Defaults, Host, Transport};

    fn config(text: &str) -> SshConfig {
        SshConfig::default()
            .parse(&mut text.as_bytes(), ParseRule::ALLOW_UNKNOWN_FIELDS)
            .expect("test config parses")
    }

    fn runbook(hosts: Vec<Host>, user: Option<&str>) -> Runbook {
        Runbook {
            notice: crate::runbook::model::Notice::default(),
            notify: Vec::new(),
            name: "t".into(),
            description: String::new(),
            path: PathBuf::from("t.toml"),
            sha256: String::new(),
            defaults: Defaults {
                user: user.map(str::to_string),
                ..Defaults::default()
            },
            vars: indexmap::IndexMap::new(),
            secret_vars: std::collections::BTreeSet::new(),
            hosts: hosts.into_iter().map(|h| (h.id.clone(), h)).collect(),
            groups: indexmap::IndexMap::new(),
            services: Vec::new(),
            drills: crate::runbook::drill::Drills::default(),
            sites: crate::runbook::sites::Sites::default(),
            operators: crate::runbook::model::Operators::default(),
            witnesses: Vec::new(),
        }
    }

    fn host(id: &str, address: &str) -> Host {
        Host {
            id: HostId::new(id),
            transport: Transport::Ssh,
            address: address.into(),
            port: None,
            user: None,
            identity: None,
            jump: None,
            tags: Vec::new(),
        }
    }

    #[test]
    fn config_alias_supplies_hostname_port_user_and_identity() {
        let cfg =
            config("Host gw\n  HostName 10.0.0.7\n  Port 2222\n  User ops\n  IdentityFile /k/gw\n");
        let rb = runbook(vec![host("msg-gw-1", "gw")], None);
        let t = resolve(&rb, &HostId::new("msg-gw-1"), &cfg).expect("resolves");
        assert_eq!(
            (t.hostname.as_str(), t.port, t.user.as_str()),
            ("10.0.0.7", 2222, "ops")
        );
        assert_eq!(t.identities, [PathBuf::from("/k/gw")]);
    }

    #[test]
    fn runbook_fields_win_over_the_config_and_defaults_user_over_config_user() {
        let cfg = config("Host gw\n  Port 2222\n  User ops\n");
        let mut h = host("a", "gw");
        h.port = Some(22);
        h.identity = Some(PathBuf::from("/k/runbook"));
        let rb = runbook(vec![h], Some("sre"));
        let t = resolve(&rb, &HostId::new("a"), &cfg).expect("resolves");
        assert_eq!((t.port, t.user.as_str()), (22, "sre"));
        assert_eq!(t.identities[0], PathBuf::from("/k/runbook"));
    }

    #[test]
    fn runbook_jump_resolves_the_bastion_as_a_host() {
        let mut inner = host("db", "10.1.0.5");
        inner.jump = Some(HostId::new("bastion"));
        let rb = runbook(vec![inner, host("bastion", "bastion.example")], None);
        let t = resolve(&rb, &HostId::new("db"), &SshConfig::default()).expect("resolves");
        assert_eq!(t.jump.expect("has a jump").hostname, "bastion.example");
    }

    #[test]
    fn jump_loops_are_refused() {
        let mut a = host("a", "a");
        a.jump = Some(HostId::new("b"));
        let mut b = host("b", "b");
        b.jump = Some(HostId::new("a"));
        let rb = runbook(vec![a, b], None);
        let err = resolve(&rb, &HostId::new("a"), &SshConfig::default()).expect_err("loop");
        assert!(err.to_string().contains("loop"), "{err}");
    }

    #[test]
    fn proxyjump_chain_from_config_reaches_the_last_hop_through_the_first() {
        let cfg = config("Host inner\n  ProxyJump ops@first:2200,second\n");
        let rb = runbook(vec![host("x", "inner")], None);
        let t = resolve(&rb, &HostId::new("x"), &cfg).expect("resolves");
        let second = t.jump.expect("second hop");
        assert_eq!(second.hostname, "second");
        let first = second.jump.expect("first hop");
        assert_eq!(
            (first.hostname.as_str(), first.port, first.user.as_str()),
            ("first", 2200, "ops")
        );
    }

    #[test]
    fn hop_specs_parse_user_host_and_port() {
        assert_eq!(hop_host("u@h:22"), ("h", Some("u"), Some("22")));
        assert_eq!(hop_host("h"), ("h", None, None));
        assert_eq!(hop_host("[::1]:2200"), ("::1", None, Some("2200")));
    }
}
