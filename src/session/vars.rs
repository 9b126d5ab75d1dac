//! Variable values from the command line (`--var`, `--var-env`, `--var-file`), and the
//! command that continues a run with them.

use std::path::Path;

use super::SessionError;
use crate::cli::{EtcdArgs, VarArgs};

/// Largest `--var-file` read: a secret, a key or a certificate chain, not a data set.
const VAR_FILE_LIMIT: u64 = 1024 * 1024;

/// [`var_sources`] as a session error.
pub fn var_values(sources: &VarArgs) -> Result<Vec<String>, SessionError> {
    var_sources(sources).map_err(SessionError::Vars)
}

/// The front end a run is continued with (SPEC "Command line").
#[derive(Debug, Clone, Copy)]
pub enum ContinueWith<'a> {
    /// `bringup run RUNBOOK` (`--yes` kept).
    Run { runbook: &'a Path, yes: bool },
    /// The TUI: `bringup open RUNBOOK`, or `bringup drill RUNBOOK --scenario ID` for a drill.
    Tui { runbook: &'a Path },
    /// `bringup demo --dir DIR`.
    Demo { dir: &'a Path },
    /// A shared run whose runbook is the one it keeps (taken over from `bringup attach`):
    /// attach again, then take over.
    Attach,
}

/// The one command that continues a run, whatever front end prints it: the front end and
/// its runbook, the run as its journal records it (a drill goes on as `run --drill
/// --scenario ID` or `drill RUNBOOK --scenario ID`), the variables as they were given, and
/// `--resume JOURNAL` (with the etcd options a shared run is reached with). A shared run
/// whose runbook is the one it keeps is continued through `bringup attach URL`, then `T`. A
/// secret given with `--var` is never printed: it becomes `--var-env KEY=BRINGUP_VAR_KEY`,
/// and the names of such environment variables are returned for the operator to set first.
pub fn continue_command(
    with: ContinueWith<'_>,
    run: &super::RecordedRun,
    vars: &VarArgs,
    secrets: &std::collections::BTreeSet<String>,
    journal: &Path,
    etcd: &EtcdArgs,
) -> (String, Vec<String>) {
    let quote = |s: &str| {
        shlex::try_quote(s).map_or_else(|_| format!("'{s}'"), std::borrow::Cow::into_owned)
    };
    let path = |p: &Path| quote(&p.display().to_string());
    let journal = journal.display().to_string();
    let shared = journal.starts_with("etcd://");
    let scenario = run.scenario().map(|id| format!("--scenario {}", quote(id)));
    let drill = matches!(run, super::RecordedRun::Drill { .. });
    let mut words: Vec<String> = match with {
        ContinueWith::Run { runbook, yes } => {
            let mut w = vec!["bringup run".to_string(), path(runbook)];
            if drill {
                w.push("--drill".to_string());
            }
            w.extend(scenario);
            if yes {
                w.push("--yes".to_string());
            }
            w
        }
        ContinueWith::Tui { runbook } => match scenario {
            Some(scenario) => vec!["bringup drill".to_string(), path(runbook), scenario],
            None if drill => vec!["bringup open".to_string(), path(runbook), "--drill".into()],
            None => vec!["bringup open".to_string(), path(runbook)],
        },
        ContinueWith::Demo { dir } => {
            let mut w = vec!["bringup demo --dir".to_string(), path(dir)];
            if drill {
                w.push("--drill".to_string());
            }
            w.extend(scenario);
            w
        }
        ContinueWith::Attach => vec!["bringup attach".to_string(), quote(&journal)],
    };
    let base = !matches!(with, ContinueWith::Attach);
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
    if shared {
        let files = [
            ("--etcd-ca", &etcd.etcd_ca),
            ("--etcd-cert", &etcd.etcd_cert),
            ("--etcd-key", &etcd.etcd_key),
        ];
        for (flag, file) in files {
            if let Some(file) = file {
                words.extend([flag.to_string(), quote(&file.display().to_string())]);
            }
        }
        if let Some(user) = &etcd.etcd_user {
            words.extend(["--etcd-user".to_string(), quote(user)]);
        }
    }
    if base {
        words.extend(["--resume".to_string(), quote(&journal)]);
    } else {
        words.push("# then T, once no process executes it".to_string());
    }
    (words.join(" "), to_set)
}

/// Whether `runbook` is the text a shared run keeps (named `URL (runbook)` when taken over
/// from `bringup attach`), not a file a command line can name.
pub fn kept_runbook(runbook: &Path) -> bool {
    runbook.to_string_lossy().starts_with("etcd://") && !runbook.is_file()
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

/// The variables a run continued elsewhere goes on with: those it recorded, and this
/// command's own on top. A secret was recorded masked: that is no value, and it must come
/// from this command (or the run stops, naming it), never run as the mask itself. Which
/// variables are secret, `runbook` (the run's runbook text) says: a variable that is not
/// secret keeps its recorded value, even one that reads like the mask. When the text says
/// nothing readable, every masked value is left out.
pub fn continued_vars(runbook: &str, recorded: Vec<String>, own: Vec<String>) -> Vec<String> {
    let mask = crate::runbook::model::SECRET_MASK;
    let secret = secret_var_names(runbook);
    recorded
        .into_iter()
        .filter(|kv| match kv.split_once('=') {
            Some((name, value)) if value == mask => secret
                .as_ref()
                .is_some_and(|s| !s.iter().any(|n| n == name)),
            _ => true,
        })
        .chain(own)
        .collect()
}

/// `[runbook] secret_vars` of a runbook's text; `None` when it cannot be read.
fn secret_var_names(runbook: &str) -> Option<Vec<String>> {
    let table: toml::Table = toml::from_str(runbook).ok()?;
    let names = match table.get("runbook")?.get("secret_vars") {
        None => return Some(Vec::new()),
        Some(list) => list.as_array()?,
    };
    names
        .iter()
        .map(|n| n.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod var_source_tests {
    use super::*;

    #[test]
    fn a_continued_run_drops_masked_secrets_and_keeps_a_plain_value_that_reads_like_the_mask() {
        let runbook = "[runbook]\nname = \"t\"\nsecret_vars = [\"token\"]\n";
        let recorded = vec![
            "token=***".to_string(),
            "banner=***".to_string(),
            "site=gasan".to_string(),
        ];
        assert_eq!(
            continued_vars(runbook, recorded.clone(), vec!["token=s3cret".into()]),
            ["banner=***", "site=gasan", "token=s3cret"]
        );
        // Without a readable runbook nobody can tell: no masked value is run as a value.
        assert_eq!(
            continued_vars("not toml [", recorded, Vec::new()),
            ["site=gasan"]
        );
    }

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

#[cfg(test)]
mod continue_tests {
    use super::*;
    use crate::session::RecordedRun;

    fn secret_vars() -> std::collections::BTreeSet<String> {
        ["token".to_string()].into()
    }

    fn vars() -> VarArgs {
        VarArgs {
            vars: vec!["site=pangyo".into(), "token=s3cret".into()],
            ..VarArgs::default()
        }
    }

    #[test]
    fn a_file_journal_continues_with_its_runbook_and_resume() {
        let (cmd, to_set) = continue_command(
            ContinueWith::Run {
                runbook: Path::new("rb.toml"),
                yes: true,
            },
            &RecordedRun::Incident,
            &vars(),
            &secret_vars(),
            Path::new("journal/run.jsonl"),
            &EtcdArgs::default(),
        );
        assert_eq!(
            cmd,
            "bringup run rb.toml --yes --var 'site=pangyo' --var-env 'token=BRINGUP_VAR_TOKEN' --resume journal/run.jsonl"
        );
        assert_eq!(to_set, ["BRINGUP_VAR_TOKEN"]);
    }

    #[test]
    fn a_shared_run_continues_with_its_etcd_options_or_through_attach() {
        let etcd = EtcdArgs {
            etcd_ca: Some("/etc/bringup/ca.pem".into()),
            etcd_user: Some("ops".into()),
            ..EtcdArgs::default()
        };
        let url = Path::new("etcd://10.0.0.1:2379/pangyo");
        let (cmd, _) = continue_command(
            ContinueWith::Run {
                runbook: Path::new("rb.toml"),
                yes: false,
            },
            &RecordedRun::Incident,
            &VarArgs::default(),
            &secret_vars(),
            url,
            &etcd,
        );
        assert_eq!(
            cmd,
            "bringup run rb.toml --etcd-ca /etc/bringup/ca.pem --etcd-user ops --resume etcd://10.0.0.1:2379/pangyo"
        );
        // Taken over from attach: no runbook file to name, so attach again and take over.
        let (cmd, to_set) = continue_command(
            ContinueWith::Attach,
            &RecordedRun::Incident,
            &vars(),
            &secret_vars(),
            url,
            &etcd,
        );
        assert_eq!(
            cmd,
            "bringup attach etcd://10.0.0.1:2379/pangyo --var 'site=pangyo' --var-env 'token=BRINGUP_VAR_TOKEN' --etcd-ca /etc/bringup/ca.pem --etcd-user ops # then T, once no process executes it"
        );
        assert_eq!(to_set, ["BRINGUP_VAR_TOKEN"]);
        assert!(!cmd.contains("(runbook)") && !cmd.contains("--resume"));
        assert!(kept_runbook(Path::new(
            "etcd://10.0.0.1:2379/pangyo (runbook)"
        )));
        assert!(!kept_runbook(Path::new("rb.toml")));
    }

    #[test]
    fn a_drill_continues_as_the_same_drill_in_each_front_end() {
        let drill = RecordedRun::Drill {
            scenario: Some("dc-loss".into()),
        };
        let none = std::collections::BTreeSet::new();
        let j = Path::new("journal/d.jsonl");
        let etcd = EtcdArgs::default();
        let rb = Path::new("rb.toml");
        let run = ContinueWith::Run {
            runbook: rb,
            yes: true,
        };
        let (cmd, _) = continue_command(run, &drill, &VarArgs::default(), &none, j, &etcd);
        assert_eq!(
            cmd,
            "bringup run rb.toml --drill --scenario dc-loss --yes --resume journal/d.jsonl"
        );
        let tui = ContinueWith::Tui { runbook: rb };
        let (cmd, _) = continue_command(tui, &drill, &VarArgs::default(), &none, j, &etcd);
        assert_eq!(
            cmd,
            "bringup drill rb.toml --scenario dc-loss --resume journal/d.jsonl"
        );
        let demo = ContinueWith::Demo {
            dir: Path::new("/tmp/demo x"),
        };
        let (cmd, _) = continue_command(demo, &drill, &VarArgs::default(), &none, j, &etcd);
        assert_eq!(
            cmd,
            "bringup demo --dir '/tmp/demo x' --drill --scenario dc-loss --resume journal/d.jsonl"
        );
    }
}
