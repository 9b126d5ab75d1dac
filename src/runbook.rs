//! Runbooks: TOML → raw serde structs (`raw`) → validated model (`validate`) → ordered plan
//! (`plan`). This file owns reading the file and turning problems into rendered diagnostics;
//! it runs nothing and knows nothing of hosts beyond what the runbook says.

mod diag;
pub mod drill;
pub mod duration;
pub mod fleet;
pub mod model;
pub mod plan;
mod raw;
pub mod schema;
pub mod shell;
pub mod sites;
mod validate;

pub use diag::closest as suggest;
pub use model::{HostId, Runbook, ServiceId};
pub use plan::Plan;
pub use validate::BUILTIN_VARS;

use std::path::Path;

use sha2::{Digest, Sha256};

use diag::SourceMap;

/// Every problem found in a runbook, each already formatted as `file:line:col: error: message
/// 'value'`, followed by the source line and, where one exists, `help: did you mean 'x'?`.
/// Displayed one after another, separated by blank lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<String>);

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Read, parse and validate a runbook; `vars` are `--var KEY=VALUE` overrides. A `--var` key
/// the file does not declare defines it; a `--var` without `=` or with a bad name is an error.
pub fn load(path: &Path, vars: &[String]) -> Result<Runbook, Diagnostics> {
    let bytes = read_capped(path).map_err(|e| {
        let help = if path.is_relative() {
            "check the path; it is relative to the current directory"
        } else {
            "check the path"
        };
        Diagnostics(vec![format!(
            "error: cannot read runbook '{}': {}\n  help: {help}",
            path.display(),
            io_reason(&e)
        )])
    })?;
    let name = path.display().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        // Everything before the bad byte is valid text: locate it as line and column.
        let good = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        let (line, col) = SourceMap::new(&name, &good).line_col(good.len());
        Diagnostics(vec![format!(
            "{name}:{line}:{col}: error: the runbook is not UTF-8 text (invalid byte at offset {})\n  help: save it as UTF-8",
            e.valid_up_to()
        )])
    })?;
    let overrides = parse_overrides(vars)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    load_str(text, path, &sha256, &overrides, Some(&check_signers))
}

/// `[runbook] operators`: a readable allowed_signers file, every line of it well formed.
fn check_signers(path: &Path) -> Result<(), String> {
    match crate::identity::Signers::load(path) {
        Ok(_) => Ok(()),
        Err(crate::identity::SignersError::Read { path, source }) => Err(format!(
            "operators '{}' cannot be read: {}",
            path.display(),
            io_reason(&source)
        )),
        Err(crate::identity::SignersError::Line {
            path,
            line,
            message,
        }) => Err(format!(
            "operators '{}' line {line}: {message}",
            path.display()
        )),
    }
}

/// Parse and validate runbook text kept elsewhere (a shared run keeps its runbook's text);
/// `name` names it in diagnostics.
pub fn load_text(text: &str, name: &Path, vars: &[String]) -> Result<Runbook, Diagnostics> {
    let overrides = parse_overrides(vars)?;
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    load_str(text, name, &sha256, &overrides, None)
}

/// Parse and validate runbook text (the part of [`load`] after reading the file).
fn load_str(
    text: &str,
    path: &Path,
    sha256: &str,
    overrides: &[(String, String)],
    check_file: Option<validate::FileCheck<'_>>,
) -> Result<Runbook, Diagnostics> {
    let name = path.display().to_string();
    let map = SourceMap::new(&name, text);
    let mut diags = Vec::new();
    let raw = raw::parse(text, &mut diags);
    let result = raw.map(|raw| {
        validate::validate(
            raw,
            &validate::Context {
                src: text,
                path: path.to_path_buf(),
                sha256: sha256.to_string(),
                overrides,
                check_file,
            },
        )
    });
    match result {
        Some(Ok(runbook)) if diags.is_empty() => Ok(runbook),
        Some(Err(more)) => {
            diags.extend(more);
            Err(render(&map, diags))
        }
        _ => Err(render(&map, diags)),
    }
}

fn render(map: &SourceMap<'_>, mut diags: Vec<diag::Diag>) -> Diagnostics {
    // In file order, so the operator can fix them top to bottom.
    diags.sort_by_key(|d| d.span.start);
    diags.dedup();
    Diagnostics(diags.iter().map(|d| map.render(d)).collect())
}

/// `--var KEY=VALUE` into pairs; every malformed one reported.
fn parse_overrides(vars: &[String]) -> Result<Vec<(String, String)>, Diagnostics> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for v in vars {
        match v.split_once('=') {
            Some((k, val)) if validate::is_var_name(k.trim()) => {
                if BUILTIN_VARS.contains(&k.trim()) {
                    errors.push(format!(
                        "error: --var '{}=…' would replace the built-in variable '{}'\n  help: host, address and service are set for each host; choose another name",
                        k.trim(),
                        k.trim()
                    ));
                } else {
                    out.push((k.trim().to_string(), val.to_string()));
                }
            }
            Some(_) => errors.push(format!(
                "error: --var '{}' has a bad name (the value is not shown: it may be a secret)\n  help: write it as --var KEY=VALUE; names use letters, digits, '_' and '-', starting with a letter or '_'",
                var_shown(v)
            )),
            None => errors.push(format!(
                "error: --var '{}' is not KEY=VALUE (the rest is not shown: it may be a secret)\n  help: write it as --var KEY=VALUE",
                var_shown(v)
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}

/// What an error may quote of a malformed `--var`, which may hold a secret: the part before
/// the first `=` or `:` (its name, most likely), or else a few leading characters.
fn var_shown(v: &str) -> String {
    const NAME_CHARS: usize = 32;
    const PREFIX_CHARS: usize = 4;
    let truncated = |s: &str, n: usize| {
        if s.chars().count() > n {
            format!("{}…", s.chars().take(n).collect::<String>())
        } else {
            s.to_string()
        }
    };
    match v.find(['=', ':']) {
        Some(i) => format!("{}{}…", truncated(&v[..i], NAME_CHARS), &v[i..=i]),
        None => truncated(v, PREFIX_CHARS),
    }
}

/// The largest runbook read: far above any real one (a 50,000-service runbook is 10 MB), low
/// enough that `/dev/zero` or a wrong multi-gigabyte file is refused instead of eating memory.
pub const MAX_RUNBOOK_BYTES: u64 = 64 * 1024 * 1024;

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_RUNBOOK_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MB; is it really a runbook?",
            MAX_RUNBOOK_BYTES / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// The OS reason without Rust's "(os error 2)" suffix.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;
