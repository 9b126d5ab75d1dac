//! What the operator's machine depends on outside the runbook: the nameservers of its
//! resolver (`/etc/resolv.conf`) and the network filesystems it mounts (`/proc/mounts`).

use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

/// Where the machine's resolver and mounts are read from by default.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
pub const MOUNTS: &str = "/proc/mounts";

/// Filesystem types whose files live on another machine.
const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "lustre",
    "afs",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// The resolver file read, as shown in findings.
    pub resolv_conf: PathBuf,
    pub nameservers: Vec<IpAddr>,
    /// Network filesystems only.
    pub mounts: Vec<Mount>,
    /// What could not be read (said, not fatal: a machine without /proc/mounts has none).
    pub unread: Vec<String>,
}

/// A network filesystem mounted on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub point: PathBuf,
    pub fstype: String,
    /// The source as the mount table has it (`10.20.0.9:/export`).
    pub source: String,
    /// The machines that serve it: names or addresses.
    pub servers: Vec<String>,
}

impl Environment {
    /// Read the resolver file and the mount table; a file that cannot be read is noted.
    pub fn read(resolv_conf: &Path, mounts: &Path) -> Environment {
        let mut env = Environment {
            resolv_conf: resolv_conf.to_path_buf(),
            ..Environment::default()
        };
        match std::fs::read_to_string(resolv_conf) {
            Ok(text) => env.nameservers = nameservers(&text),
            Err(e) => env
                .unread
                .push(format!("cannot read '{}': {e}", resolv_conf.display())),
        }
        match std::fs::read_to_string(mounts) {
            Ok(text) => env.mounts = network_mounts(&text),
            Err(e) => env
                .unread
                .push(format!("cannot read '{}': {e}", mounts.display())),
        }
        env
    }

    /// The network filesystem `path` is on (the deepest mount point above it).
    pub fn mount_of(&self, path: &Path) -> Option<&Mount> {
        let path = absolute(path);
        self.mounts
            .iter()
            .filter(|m| path.starts_with(&m.point))
            .max_by_key(|m| m.point.components().count())
    }
}

/// `nameserver ADDRESS` lines, in order (a zone index like `%eth0` dropped).
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|a| a.split('%').next()?.parse().ok())
        .collect()
}

/// The network filesystems of a `/proc/mounts` text.
pub fn network_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (source, point, fstype) = (*f.first()?, *f.get(1)?, *f.get(2)?);
            if !NETWORK_FS.contains(&fstype) {
                return None;
            }
            let mut servers = servers(fstype, &unescape(source));
            // The kernel writes the address it really uses as `addr=` (nfs, cifs).
            for option in f.get(3).copied().unwrap_or_default().split(',') {
                if let Some(a) = option.strip_prefix("addr=")
                    && !servers.iter().any(|s| s == a)
                {
                    servers.push(a.to_string());
                }
            }
            Some(Mount {
                point: PathBuf::from(unescape(point)),
                fstype: fstype.to_string(),
                source: unescape(source),
                servers,
            })
        })
        .collect()
}

/// The servers named in a mount's source: `server:/export`, `//server/share`,
/// `user@server:/path`, `mon1:6789,mon2:6789:/`, `10.0.0.1@tcp:/fs`.
fn servers(fstype: &str, source: &str) -> Vec<String> {
    if let Some(rest) = source.strip_prefix("//") {
        return vec![rest.split('/').next().unwrap_or_default().to_string()];
    }
    let head = source.split(":/").next().unwrap_or(source);
    let head = if fstype == "fuse.sshfs" {
        head.rsplit('@').next().unwrap_or(head)
    } else {
        head
    };
    head.split(',')
        .map(|s| {
            let s = s.split('@').next().unwrap_or(s);
            if let Some(inner) = s.strip_prefix('[') {
                inner.split(']').next().unwrap_or(inner).to_string()
            } else if s.matches(':').count() == 1 {
                s.split(':').next().unwrap_or(s).to_string()
            } else {
                s.to_string()
            }
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// `/proc/mounts` writes a space as `\040` (and tab, newline, backslash alike).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4);
        if let Some(b) = code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            out.push(char::from(b));
            rest = &rest[i + 4..];
        } else {
            out.push('\\');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// `path` made absolute without touching the disk when it does not exist; `..` taken away
/// lexically.
fn absolute(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_are_read_in_order_and_comments_skipped() {
        let text = "# from dhcp\nsearch pangyo.example\nnameserver 10.20.0.53\nnameserver fe80::1%eth0\n;nameserver 9.9.9.9\nnameserver\n";
        assert_eq!(
            nameservers(text),
            [
                "10.20.0.53".parse::<IpAddr>().expect("ip"),
                "fe80::1".parse().expect("ip")
            ]
        );
    }

    #[test]
    fn network_mounts_name_their_servers() {
        let text = "\
/dev/sda1 / ext4 rw 0 0
10.20.0.9:/export/keys /mnt/team\\040keys nfs4 rw,vers=4.2,addr=10.20.0.9,clientaddr=10.30.0.4 0 0
//files.pangyo.example/ops /mnt/ops cifs rw,addr=10.20.0.10 0 0
ops@jump.pangyo.example:/home/ops /mnt/sshfs fuse.sshfs rw 0 0
10.20.1.1:6789,10.20.1.2:6789:/ /mnt/ceph ceph rw 0 0
[fd00::9]:/export /mnt/v6 nfs rw 0 0
tmpfs /tmp tmpfs rw 0 0
";
        let mounts = network_mounts(text);
        let got: Vec<(&str, Vec<&str>)> = mounts
            .iter()
            .map(|m| {
                (
                    m.point.to_str().expect("utf-8"),
                    m.servers.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/mnt/team keys", vec!["10.20.0.9"]),
                ("/mnt/ops", vec!["files.pangyo.example", "10.20.0.10"]),
                ("/mnt/sshfs", vec!["jump.pangyo.example"]),
                ("/mnt/ceph", vec!["10.20.1.1", "10.20.1.2"]),
                ("/mnt/v6", vec!["fd00::9"]),
            ]
        );
        let env = Environment {
            mounts,
            ..Environment::default()
        };
        assert_eq!(
            env.mount_of(Path::new("/mnt/team keys/alice/id_ed25519"))
                .map(|m| m.fstype.as_str()),
            Some("nfs4")
        );
        assert!(env.mount_of(Path::new("/mnt/teamkeys/x")).is_none());
    }
}
