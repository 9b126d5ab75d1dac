//! Variable values from the command line (`--var`, `--var-env`, `--var-file`), and the
//! command that continues a run with them.

use std::path::Path;

use super::SessionError;
use crate::cli::VarArgs;

/// Largest `--var-file` read: a secret, a key or a certificate chain, not a data set.
const VAR_FILE_LIMIT: u64 = 1024 * 1024;

/// [`var_sources`] as a session error.
pub fn var_values(sources: &VarArgs) -> Result<Vec<String>, SessionError> {
    var_sources(sources).map_err(SessionError::Vars)
}

/// The command that continues a run: `base` (the front end and its runbook, e.g. `bringup
/// open rb.toml`), the variables as they were given, and `--resume JOURNAL`. A secret given
/// with `--var` is never printed: it becomes `--var-env KEY=BRINGUP_VAR_KEY`, and the names
/// of such environment variables are returned for the operator to set first.
pub fn continue_command(
    base: &str,
    vars: &VarArgs,
    secrets: &std::collections::BTreeSet<String>,
    journal: &Path,
) -> (String, Vec<String>) {
    let quote = |s: &str| {
        shlex::try_quote(s).map_or_else(|_| format!("'{s}'"), std::borrow::Cow::into_owned)
    };
    let mut words = vec![base.to_string()];
    let mut to_set = Vec::new();
    for spec in &vars.vars {
        let key = spec.split_once('=').map_or(spec.as_str(), |(k, _)| k);
        if secrets.contains(key) {
            let env = format!(
                "BRINGUP_VAR_{}",
                key.to_uppercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            );
            words.extend(["--var-env".to_string(), quote(&format!("{key}={env}"))]);
            to_set.push(env);
        } else {
            words.extend(["--var".to_string(), quote(spec)]);
        }
    }
    for spec in &vars.var_env {
        words.extend(["--var-env".to_string(), quote(spec)]);
    }
    for spec in &vars.var_file {
        words.extend(["--var-file".to_string(), quote(spec)]);
    }
    words.extend([
        "--resume".to_string(),
        quote(&journal.display().to_string()),
    ]);
    (words.join(" "), to_set)
}

/// `--var` values, then those of `--var-env` and `--var-file`, as `KEY=VALUE` overrides in that
/// order (a later one for the same key wins). The values stay in memory only.
pub fn var_sources(sources: &VarArgs) -> Result<Vec<String>, String> {
    let mut out = sources.vars.clone();
    for spec in &sources.var_env {
        let (key, name) = split_source(spec, "--var-env", "KEY=ENVNAME", "token=OPS_TOKEN")?;
        match std::env::var(name) {
            Ok(value) => out.push(format!("{key}={value}")),
            Err(std::env::VarError::NotPresent) => {
                return Err(format!(
                    "--var-env '{spec}': environment variable '{name}' is not set; export it first (read -rs {name}; export {name}) or use --var-file {key}=PATH"
                ));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(format!(
                    "--var-env '{spec}': environment variable '{name}' is not UTF-8 text; set it to text or use --var-file {key}=PATH"
                ));
            }
        }
    }
    for spec in &sources.var_file {
        let (key, path) = split_source(spec, "--var-file", "KEY=PATH", "key=/run/secrets/key")?;
        let value = read_var_file(Path::new(path))
            .map_err(|why| format!("--var-file '{spec}': cannot use '{path}': {why}"))?;
        out.push(format!("{key}={value}"));
    }
    Ok(out)
}

fn split_source<'a>(
    spec: &'a str,
    flag: &str,
    shape: &str,
    example: &str,
) -> Result<(&'a str, &'a str), String> {
    match spec.split_once('=') {
        Some((key, rest)) if !key.is_empty() && !rest.is_empty() => Ok((key, rest)),
        _ => Err(format!(
            "{flag} '{spec}' is not {shape}; write it as {flag} {example}"
        )),
    }
}

/// A file's contents as a value: UTF-8 text with one trailing newline (`\n` or `\r\n`) removed.
fn read_var_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("{e}; check the path and its permissions"))?;
    let mut bytes = Vec::new();
    file.take(VAR_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{e}; check that it is a readable file"))?;
    if bytes.len() as u64 > VAR_FILE_LIMIT {
        return Err(format!(
            "it is larger than {} KiB; a variable holds a secret or a short value, not a data set",
            VAR_FILE_LIMIT / 1024
        ));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| {
        "it is not UTF-8 text; store the value as text (base64 for binary)".to_string()
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod var_source_tests {
    use super::*;

    #[test]
    fn a_var_file_loses_one_trailing_newline_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v");
        std::fs::write(&path, "line one\nline two\n\n").expect("write");
        assert_eq!(read_var_file(&path).as_deref(), Ok("line one\nline two\n"));
        std::fs::write(&path, "tok\r\n").expect("write");
        assert_eq!(read_var_file(&path).as_deref(), Ok("tok"));
        std::fs::write(&path, " tok ").expect("write");
        assert_eq!(read_var_file(&path).as_deref(), Ok(" tok "));
    }

    fn sources(env: &[&str], files: &[&str]) -> VarArgs {
        VarArgs {
            vars: Vec::new(),
            var_env: env.iter().map(ToString::to_string).collect(),
            var_file: files.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn bad_sources_are_named_with_what_to_do() {
        let e = var_sources(&sources(&["token"], &[])).expect_err("no =");
        assert!(
            e.contains("'token'") && e.contains("--var-env token=OPS_TOKEN"),
            "{e}"
        );
        let e =
            var_sources(&sources(&["t=BRINGUP_TEST_SURELY_UNSET_VAR"], &[])).expect_err("unset");
        assert!(
            e.contains("'BRINGUP_TEST_SURELY_UNSET_VAR' is not set"),
            "{e}"
        );
        let e = var_sources(&sources(&[], &["k=/nonexistent/secret"])).expect_err("missing");
        assert!(
            e.contains("'/nonexistent/secret'") && e.contains("check the path"),
            "{e}"
        );
    }
}
