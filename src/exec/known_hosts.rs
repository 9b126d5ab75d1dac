//! Host keys: which keys known_hosts files hold for a host (plain, `[host]:port` and hashed
//! `|1|` entries, matched by libssh2), the verdict on an offered key, and appending an accepted
//! key to bringup's own file. It never accepts a key by itself; the caller decides.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, Session};

/// A key a known_hosts file holds for the host being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    pub file: PathBuf,
    pub key_type: String,
    pub blob: Vec<u8>,
}

/// The key a server offered, with what is needed to record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedKey {
    pub hostname: String,
    pub port: u16,
    pub key_type: String,
    pub blob: Vec<u8>,
}

impl OfferedKey {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.blob)
    }

    /// The known_hosts line recording this key (`[host]:port` form off port 22).
    pub fn line(&self) -> String {
        format!(
            "{} {} {}",
            host_pattern(&self.hostname, self.port),
            self.key_type,
            STANDARD.encode(&self.blob)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    /// No key of the offered type is known for the host.
    Unknown,
    /// A different key of the same type is known: refuse, whatever the options say.
    Changed {
        known: KnownKey,
    },
}

/// OpenSSH's fingerprint form: `SHA256:` and unpadded base64 of the key blob's SHA-256.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

pub fn host_pattern(hostname: &str, port: u16) -> String {
    if port == 22 {
        hostname.to_string()
    } else {
        format!("[{hostname}]:{port}")
    }
}

/// The wire name of a host key type, as known_hosts writes it.
pub fn key_type_name(kind: HostKeyType) -> &'static str {
    match kind {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// Every key the files hold for `hostname:port`. Missing files hold nothing; lines libssh2
/// cannot read and marker lines (`@cert-authority`, `@revoked`) are skipped.
pub fn known_keys(
    session: &Session,
    files: &[PathBuf],
    hostname: &str,
    port: u16,
) -> Vec<KnownKey> {
    let mut keys = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
            let mut fields = line.split_whitespace().skip(1);
            let (Some(key_type), Some(encoded)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(blob) = STANDARD.decode(encoded) else {
                continue;
            };
            let Ok(mut one) = session.known_hosts() else {
                continue;
            };
            if one.read_str(line, KnownHostFileKind::OpenSSH).is_err() {
                continue;
            }
            // A name match against a key that cannot be right says "this line is for the
            // host" without libssh2 telling us which line matched; it also handles hashed names.
            if matches!(
                one.check_port(hostname, port, &[0]),
                CheckResult::Mismatch | CheckResult::Match
            ) {
                keys.push(KnownKey {
                    file: file.clone(),
                    key_type: key_type.to_string(),
                    blob,
                });
            }
        }
    }
    keys
}

/// Judge an offered key against the keys known for the host.
pub fn verdict(known: &[KnownKey], offered: &OfferedKey) -> Verdict {
    if known.iter().any(|k| k.blob == offered.blob) {
        return Verdict::Known;
    }
    match known.iter().find(|k| k.key_type == offered.key_type) {
        Some(k) => Verdict::Changed { known: k.clone() },
        None => Verdict::Unknown,
    }
}

/// Host key algorithms with those already known for the host first, so that a server with
/// several keys offers the one we can check (what OpenSSH does too).
pub fn preferred_algorithms(known: &[KnownKey], supported: &[&str]) -> Option<String> {
    if known.is_empty() {
        return None;
    }
    let wanted = |alg: &str| {
        known
            .iter()
            .any(|k| k.key_type == alg || (k.key_type == "ssh-rsa" && alg.starts_with("rsa-sha2-")))
    };
    let mut order: Vec<&str> = supported.iter().copied().filter(|a| wanted(a)).collect();
    order.extend(supported.iter().copied().filter(|a| !wanted(a)));
    Some(order.join(","))
}

/// Append an accepted key to bringup's known_hosts, creating the file and its directory.
pub fn append(file: &Path, key: &OfferedKey) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = OpenOptions::new().create(true).append(true).open(file)?;
    out.write_all(format!("{}\n", key.line()).as_bytes())?;
    out.sync_all()
}

/// `$XDG_DATA_HOME/bringup/known_hosts`, else `~/.local/share/bringup/known_hosts`.
pub fn default_bringup_file() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| super::ssh_config::home().map(|h| h.join(".local/share")))?;
    Some(data.join("bringup/known_hosts"))
}

pub fn default_user_file() -> Option<PathBuf> {
    super::ssh_config::home().map(|h| h.join(".ssh/known_hosts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_openssh_form() {
        // `ssh-keygen -lf` prints SHA256 of the decoded blob, unpadded base64.
        let fp = fingerprint(b"abc");
        assert_eq!(fp, "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
    }

    #[test]
    fn lines_use_bracketed_form_off_port_22() {
        let key = OfferedKey {
            hostname: "127.0.0.1".into(),
            port: 2222,
            key_type: "ssh-ed25519".into(),
            blob: vec![1, 2, 3],
        };
        assert_eq!(key.line(), "[127.0.0.1]:2222 ssh-ed25519 AQID");
        assert_eq!(host_pattern("h", 22), "h");
    }

    fn known(key_type: &str, blob: &[u8]) -> KnownKey {
        KnownKey {
            file: PathBuf::from("kh"),
            key_type: key_type.into(),
            blob: blob.to_vec(),
        }
    }

    fn offered(key_type: &str, blob: &[u8]) -> OfferedKey {
        OfferedKey {
            hostname: "h".into(),
            port: 22,
            key_type: key_type.into(),
            blob: blob.to_vec(),
        }
    }

    #[test]
    fn same_type_different_key_is_changed_other_type_is_unknown() {
        let keys = [known("ssh-ed25519", b"a")];
        assert_eq!(
            verdict(&keys, &offered("ssh-ed25519", b"a")),
            Verdict::Known
        );
        assert!(matches!(
            verdict(&keys, &offered("ssh-ed25519", b"b")),
            Verdict::Changed { .. }
        ));
        assert_eq!(verdict(&keys, &offered("ssh-rsa", b"c")), Verdict::Unknown);
        assert_eq!(verdict(&[], &offered("ssh-rsa", b"c")), Verdict::Unknown);
    }

    #[test]
    fn known_key_types_are_preferred() {
        let keys = [known("ssh-rsa", b"a")];
        let order = preferred_algorithms(&keys, &["ssh-ed25519", "rsa-sha2-256", "ssh-rsa"]);
        assert_eq!(order.as_deref(), Some("rsa-sha2-256,ssh-rsa,ssh-ed25519"));
        assert_eq!(preferred_algorithms(&[], &["ssh-ed25519"]), None);
    }
}
