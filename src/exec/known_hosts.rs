//! Host keys as OpenSSH reads them: which keys known_hosts files hold for a host (plain
//! patterns with `*`, `?` and `!`, `[host]:port`, and hashed `|1|` names, which libssh2
//! matches), which are `@revoked`, the verdict on an offered key, and appending an accepted key
//! to bringup's own file. It never accepts a key by itself; the caller decides.
//!
//! `@cert-authority` lines are read and set aside: libssh2 cannot verify host certificates,
//! so a host known only through a CA is unknown to bringup (noted in the log, once per
//! connection), never trusted on the CA's word.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, Session};

/// A key a known_hosts file holds for the host being checked, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    pub file: PathBuf,
    /// 1-based line number in `file`.
    pub line: usize,
    pub key_type: String,
    pub blob: Vec<u8>,
}

impl KnownKey {
    /// `file:line`, as an operator opens it in an editor.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// Everything the known_hosts files say about one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostKeys {
    /// Keys trusted for the host (lines without a marker).
    pub known: Vec<KnownKey>,
    /// `@revoked` keys: refused whatever the options say.
    pub revoked: Vec<KnownKey>,
    /// `@cert-authority` keys: not honoured (libssh2 cannot check host certificates).
    pub authorities: Vec<KnownKey>,
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
    /// No key at all is known for the host.
    Unknown,
    /// Another key is known for the host, of the offered type or not: refuse, whatever the
    /// options say (a server that suddenly offers another type is as suspect as a new key).
    Changed {
        known: KnownKey,
    },
    /// The offered key is listed `@revoked` for the host: refuse, whatever the options say.
    Revoked {
        entry: KnownKey,
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

/// A known_hosts line's marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// Everything the files hold for `hostname:port`. Missing files hold nothing; lines that
/// cannot be read and unknown markers are skipped.
pub fn lookup(session: &Session, files: &[PathBuf], hostname: &str, port: u16) -> HostKeys {
    let mut found = HostKeys::default();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (marker, rest) = match line.split_once(char::is_whitespace) {
                Some(("@revoked", rest)) => (Marker::Revoked, rest.trim_start()),
                Some(("@cert-authority", rest)) => (Marker::CertAuthority, rest.trim_start()),
                _ if line.starts_with('@') => continue,
                _ => (Marker::None, line),
            };
            let mut fields = rest.split_whitespace();
            let (Some(patterns), Some(key_type), Some(encoded)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(blob) = STANDARD.decode(encoded) else {
                continue;
            };
            if !names_host(session, patterns, key_type, encoded, hostname, port) {
                continue;
            }
            let key = KnownKey {
                file: file.clone(),
                line: index + 1,
                key_type: key_type.to_string(),
                blob,
            };
            match marker {
                Marker::None => found.known.push(key),
                Marker::Revoked => found.revoked.push(key),
                Marker::CertAuthority => found.authorities.push(key),
            }
        }
    }
    found
}

/// Whether a line's host patterns name `hostname:port`, the way OpenSSH matches them: the name
/// looked up is `host` on port 22 and `[host]:port` elsewhere; patterns are a comma list with
/// `*` and `?` wildcards, and a matching `!pattern` rules the line out.
fn names_host(
    session: &Session,
    patterns: &str,
    key_type: &str,
    encoded: &str,
    hostname: &str,
    port: u16,
) -> bool {
    if patterns.starts_with("|1|") {
        // Hashed (HMAC-SHA1 of the name under the line's salt): libssh2 computes it. A name
        // match against a key that cannot be right says "this line is for the host".
        let Ok(mut one) = session.known_hosts() else {
            return false;
        };
        let line = format!("{patterns} {key_type} {encoded}");
        if one.read_str(&line, KnownHostFileKind::OpenSSH).is_err() {
            return false;
        }
        return matches!(
            one.check_port(hostname, port, &[0]),
            CheckResult::Mismatch | CheckResult::Match
        );
    }
    let name = host_pattern(&hostname.to_ascii_lowercase(), port);
    let mut matched = false;
    for pattern in patterns.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if glob(&pattern.to_ascii_lowercase(), &name) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// `*` (any run) and `?` (one character) over the whole of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Judge an offered key against what the files say about the host. Revoked beats everything.
pub fn verdict(keys: &HostKeys, offered: &OfferedKey) -> Verdict {
    if let Some(entry) = keys.revoked.iter().find(|k| k.blob == offered.blob) {
        return Verdict::Revoked {
            entry: entry.clone(),
        };
    }
    if keys.known.iter().any(|k| k.blob == offered.blob) {
        return Verdict::Known;
    }
    let same_type = keys.known.iter().find(|k| k.key_type == offered.key_type);
    match same_type.or_else(|| keys.known.first()) {
        Some(k) => Verdict::Changed { known: k.clone() },
        None => Verdict::Unknown,
    }
}

/// Host key algorithms with the types already known for the host first, so that a server with
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
            line: 1,
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

    fn holding(known: Vec<KnownKey>, revoked: Vec<KnownKey>) -> HostKeys {
        HostKeys {
            known,
            revoked,
            authorities: Vec::new(),
        }
    }

    #[test]
    fn another_key_of_any_type_is_changed_and_only_no_key_is_unknown() {
        let keys = holding(vec![known("ssh-ed25519", b"a")], vec![]);
        assert_eq!(
            verdict(&keys, &offered("ssh-ed25519", b"a")),
            Verdict::Known
        );
        assert!(matches!(
            verdict(&keys, &offered("ssh-ed25519", b"b")),
            Verdict::Changed { .. }
        ));
        assert!(matches!(
            verdict(&keys, &offered("ssh-rsa", b"c")),
            Verdict::Changed { known } if known.key_type == "ssh-ed25519"
        ));
        assert_eq!(
            verdict(&HostKeys::default(), &offered("ssh-rsa", b"c")),
            Verdict::Unknown
        );
    }

    #[test]
    fn a_revoked_key_is_revoked_even_when_also_listed_as_known() {
        let keys = holding(
            vec![known("ssh-ed25519", b"a")],
            vec![known("ssh-ed25519", b"a")],
        );
        assert!(matches!(
            verdict(&keys, &offered("ssh-ed25519", b"a")),
            Verdict::Revoked { .. }
        ));
        let only_revoked = holding(vec![], vec![known("ssh-ed25519", b"a")]);
        assert!(matches!(
            verdict(&only_revoked, &offered("ssh-ed25519", b"a")),
            Verdict::Revoked { .. }
        ));
        // Another host's revoked key says nothing about this one.
        assert_eq!(
            verdict(&only_revoked, &offered("ssh-ed25519", b"z")),
            Verdict::Unknown
        );
    }

    #[test]
    fn host_patterns_match_like_openssh() {
        let session = Session::new().expect("session");
        let m = |patterns: &str, host: &str, port: u16| {
            names_host(&session, patterns, "ssh-ed25519", "AQID", host, port)
        };
        assert!(m("web-1", "web-1", 22));
        assert!(m("a,web-1,b", "WEB-1", 22));
        assert!(
            !m("web-1", "web-1", 2222),
            "off port 22 only [host]:port names it"
        );
        assert!(m("[web-1]:2222", "web-1", 2222));
        assert!(m("*", "web-1", 22));
        assert!(m("*", "web-1", 2222));
        assert!(m("web-?", "web-1", 22));
        assert!(m("*.example.com", "db.example.com", 22));
        assert!(!m("*.example.com", "example.com", 22));
        assert!(!m("*.example.com,!db.example.com", "db.example.com", 22));
        assert!(m("[127.0.0.1]:*", "127.0.0.1", 2200));
    }

    #[test]
    fn marker_lines_are_sorted_into_revoked_and_authorities() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("known_hosts");
        std::fs::write(
            &file,
            "# comment\n\
             web-1 ssh-ed25519 AQID\n\
             @revoked * ssh-ed25519 BAUG\n\
             @cert-authority *.example.com ssh-ed25519 BwgJ\n\
             @cert-authority web-1 ssh-ed25519 CgsM\n\
             @unknown-marker web-1 ssh-ed25519 DQ4P\n\
             other ssh-ed25519 EBES\n",
        )
        .expect("write");
        let session = Session::new().expect("session");
        let keys = lookup(&session, std::slice::from_ref(&file), "web-1", 22);
        assert_eq!(keys.known.len(), 1);
        assert_eq!(keys.known[0].blob, vec![1, 2, 3]);
        assert_eq!(keys.known[0].line, 2);
        assert_eq!(keys.revoked.len(), 1);
        assert_eq!(keys.revoked[0].blob, vec![4, 5, 6]);
        assert_eq!(keys.revoked[0].location(), format!("{}:3", file.display()));
        assert_eq!(keys.authorities.len(), 1);
        assert_eq!(keys.authorities[0].line, 5);
    }

    #[test]
    fn known_key_types_are_preferred() {
        let keys = [known("ssh-rsa", b"a")];
        let order = preferred_algorithms(&keys, &["ssh-ed25519", "rsa-sha2-256", "ssh-rsa"]);
        assert_eq!(order.as_deref(), Some("rsa-sha2-256,ssh-rsa,ssh-ed25519"));
        assert_eq!(preferred_algorithms(&[], &["ssh-ed25519"]), None);
    }
}
