//! An OpenSSH `allowed_signers` file, read for what `ssh-keygen` does not say: which
//! principals are observers (`namespaces="bringup-observe"`) and which keys a line lists.
//! Whether a signature is valid is always `ssh-keygen -Y verify`'s answer, never this file's.
//!
//! A line: `principals [options] keytype base64-key [comment]`; `#` comments, blank lines.
//! Principals are comma-separated patterns (`*`, `?`, `!` negation), as OpenSSH reads them.

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// The namespace that marks an observer's line.
pub const OBSERVE: &str = "bringup-observe";

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub principals: Vec<String>,
    /// `namespaces="…"`, when given (any namespace otherwise).
    pub namespaces: Option<Vec<String>>,
    pub cert_authority: bool,
    /// The public key blob.
    pub key: Vec<u8>,
}

impl SignerLine {
    /// Whether this line names `principal`.
    pub fn names(&self, principal: &str) -> bool {
        pattern_list_matches(&self.principals, principal)
    }

    /// Whether the line makes its principals observers.
    pub fn observes(&self) -> bool {
        self.namespaces
            .as_ref()
            .is_some_and(|ns| ns.iter().any(|n| n == OBSERVE))
    }
}

/// The allowed signers, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signers {
    pub path: PathBuf,
    pub lines: Vec<SignerLine>,
}

/// Why the file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SignersError {
    #[error("cannot read the allowed signers file '{path}': {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl Signers {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<Signers, SignersError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignersError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Signers::parse(path, &text)
    }

    /// Parse the text of an allowed signers file read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Signers, SignersError> {
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let line = parse_line(trimmed, i + 1).map_err(|message| SignersError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message,
            })?;
            lines.push(line);
        }
        Ok(Signers {
            path: path.to_path_buf(),
            lines,
        })
    }

    /// Whether `principal` is an observer: a line naming it carries `namespaces="bringup-observe"`.
    pub fn is_observer(&self, principal: &str) -> bool {
        self.lines
            .iter()
            .any(|l| l.observes() && l.names(principal))
    }

    /// Whether a line names `principal` with this key (in any namespace).
    pub fn lists(&self, key: &[u8], principal: &str) -> bool {
        self.lines
            .iter()
            .any(|l| l.key == key && l.names(principal))
    }

    /// Principals the file names literally (no patterns), in file order.
    pub fn principals(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for l in &self.lines {
            for p in &l.principals {
                if !p.contains(['*', '?', '!']) && !out.contains(&p.as_str()) {
                    out.push(p);
                }
            }
        }
        out
    }
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-") || word.starts_with("sk-")
}

fn parse_line(line: &str, number: usize) -> Result<SignerLine, String> {
    let words = split_words(line)?;
    let mut words = words.into_iter();
    let principals = words.next().ok_or_else(|| "no principals".to_string())?;
    let principals: Vec<String> = principals
        .split(',')
        .map(str::to_string)
        .filter(|p| !p.is_empty())
        .collect();
    if principals.is_empty() {
        return Err("no principals before the key".to_string());
    }
    let mut next = words
        .next()
        .ok_or_else(|| "no key after the principals".to_string())?;
    let mut namespaces = None;
    let mut cert_authority = false;
    if !is_key_type(&next) {
        for option in split_options(&next) {
            let (name, value) = option
                .split_once('=')
                .map_or((option.as_str(), None), |(n, v)| (n, Some(v)));
            match (name.to_ascii_lowercase().as_str(), value) {
                ("cert-authority", None) => cert_authority = true,
                ("namespaces", Some(v)) => {
                    let v = v.trim_matches('"');
                    namespaces = Some(v.split(',').map(str::to_string).collect());
                }
                ("valid-after" | "valid-before", Some(_)) => {}
                _ => return Err(format!("unknown option '{option}'")),
            }
        }
        next = words
            .next()
            .ok_or_else(|| "no key after the options".to_string())?;
    }
    if !is_key_type(&next) {
        return Err(format!(
            "'{next}' is not a key type (like ssh-ed25519); write principals, options, then the key as ssh-keygen prints it"
        ));
    }
    let blob = words
        .next()
        .ok_or_else(|| format!("no key after '{next}'"))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(&blob)
        .map_err(|_| format!("the key after '{next}' is not base64"))?;
    Ok(SignerLine {
        line: number,
        principals,
        namespaces,
        cert_authority,
        key,
    })
}

/// Whitespace-separated words, a double-quoted part kept whole (quotes kept).
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".to_string());
    }
    if !word.is_empty() {
        words.push(word);
    }
    // Principals may be quoted as a whole.
    if let Some(first) = words.first_mut()
        && first.len() >= 2
        && first.starts_with('"')
        && first.ends_with('"')
    {
        *first = first[1..first.len() - 1].to_string();
    }
    Ok(words)
}

/// Comma-separated options, commas inside quotes kept.
fn split_options(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|o| !o.is_empty()).collect()
}

/// OpenSSH's pattern lists: a negated pattern that matches wins; else any positive match.
fn pattern_list_matches(patterns: &[String], name: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(p.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIK0dSPF1ydBNl0OZzZvvAFSqC9U5tZVcEcHrc1xjeQyB";

    #[test]
    fn lines_give_principals_namespaces_and_keys_and_observers_are_named_by_namespace() {
        let text = format!(
            "# operators\nalice ssh-ed25519 {KEY} alice@laptop\n\nbob,carol namespaces=\"bringup-observe\" ssh-ed25519 {KEY}\n\"dave\" cert-authority,namespaces=\"bringup-request,git\" ssh-ed25519 {KEY}\n"
        );
        let s = Signers::parse(Path::new("ops"), &text).expect("parses");
        assert_eq!(s.lines.len(), 3);
        assert_eq!(s.lines[0].line, 2);
        assert_eq!(s.lines[1].principals, ["bob", "carol"]);
        assert!(s.lines[2].cert_authority);
        assert_eq!(
            s.lines[2].namespaces.as_deref(),
            Some(&["bringup-request".to_string(), "git".to_string()][..])
        );
        assert!(s.is_observer("carol"));
        assert!(!s.is_observer("alice"));
        assert!(!s.is_observer("dave"));
        assert_eq!(s.principals(), ["alice", "bob", "carol", "dave"]);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let err = Signers::parse(Path::new("ops"), "alice ssh-ed25519 AAAA\nbob nonsense\n")
            .expect_err("line 2 is bad");
        assert!(
            err.to_string()
                .starts_with("ops:2: unknown option 'nonsense'"),
            "{err}"
        );
        let err = Signers::parse(Path::new("ops"), "alice ssh-ed25519 !!!\n").expect_err("bad");
        assert!(err.to_string().contains("not base64"), "{err}");
    }

    #[test]
    fn principal_patterns_match_as_openssh_reads_them() {
        let p = |list: &[&str], name| {
            pattern_list_matches(
                &list.iter().map(|s| (*s).to_string()).collect::<Vec<_>>(),
                name,
            )
        };
        assert!(p(&["alice"], "alice"));
        assert!(!p(&["alice"], "alicia"));
        assert!(p(&["ali*"], "alicia"));
        assert!(p(&["b?b"], "bob"));
        assert!(!p(&["*", "!mallory"], "mallory"));
        assert!(p(&["*", "!mallory"], "kim"));
    }
}
