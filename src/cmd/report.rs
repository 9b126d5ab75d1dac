//! `bringup report`: stream each journal through its chain checks and the run fold, judge its
//! seal (against `--allowed-signers` when given), leave out the ones that do not verify
//! (saying why), and write the history: to stdout made terminal-safe, or with `-o` atomically
//! to a file that is none of the journals.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::cli::{ReportArgs, ReportFormat};
use crate::cmd::EXIT_BAD_INPUT;
use crate::cmd::export::{check_target, write_atomically};
use crate::export::report::{self, Read, Skipped, Why, render};
use crate::export::scorecard::Fold;
use crate::journal::verify::scan;
use crate::journal::{record, seal};

pub fn report(args: &ReportArgs) -> ExitCode {
    let as_of = match args.as_of.as_deref().map(parse_as_of).transpose() {
        Ok(t) => t.unwrap_or_else(Utc::now),
        Err(why) => {
            eprintln!("bringup: {why}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Some(out) = &args.output {
        for input in &args.journals {
            if let Err(why) = check_target(out, input) {
                eprintln!("bringup: {why}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    let signers = args.allowed_signers.as_deref();
    if let Err(code) = readable_signers(signers) {
        return code;
    }
    let mut reads = Vec::new();
    let mut skipped = Vec::new();
    for path in &args.journals {
        let shown = path.display().to_string();
        match read(path, signers) {
            Ok(r) => reads.push(r),
            Err(Unusable::Skipped(why)) => skipped.push(Skipped {
                path: shown,
                why: Why::Unusable(why),
            }),
            Err(Unusable::Refused(why)) => {
                eprintln!("bringup: journal '{}' {why}", crate::text::visible(&shown));
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    let mut history = report::history(
        reads,
        skipped,
        as_of,
        signers.map(|s| s.display().to_string()),
    );
    history.lost_sites = match lost_sites(&args.runbooks) {
        Ok(checks) => checks,
        Err(code) => return code,
    };
    for s in render::skipped_lines(&history) {
        eprintln!("bringup: not counted: {}", crate::text::visible(&s));
    }
    if history.used.is_empty() {
        let what = if signers.is_some() {
            "sealed by an allowed signer and "
        } else {
            ""
        };
        eprintln!(
            "bringup: no journal could be counted; pass journals that `bringup run`, `open` or `drill` wrote, {what}that `bringup verify` accepts"
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let text = match args.format {
        ReportFormat::Markdown => Ok(render::markdown(&history)),
        ReportFormat::Html => Ok(render::html(&history)),
        ReportFormat::Json => render::json(&history),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bringup: cannot write json: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let written = if let Some(out) = &args.output {
        write_atomically(out, |w| w.write_all(text.as_bytes())).map_err(|e| {
            format!(
                "cannot write '{}': {e}; check the folder exists and is writable",
                out.display()
            )
        })
    } else {
        let shown = match args.format {
            ReportFormat::Json => crate::text::json_escape_controls(&text),
            ReportFormat::Markdown | ReportFormat::Html => crate::text::visible(&text),
        };
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(shown.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bringup: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn parse_as_of(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!(
                "--as-of '{text}' is not an RFC 3339 time ({e}); write it as 2026-11-22T08:00:00Z"
            )
        })
}

/// Why a journal is not in the report.
enum Unusable {
    /// Left out, saying why in one line; the others are reported.
    Skipped(String),
    /// What is at a side file's place is no side file (a link, a FIFO, a device): the
    /// report stops there, as every reader does.
    Refused(String),
}

/// One journal folded as it streams past, its seal judged; `Err` says in one line why it
/// cannot be used.
fn read(path: &Path, signers: Option<&Path>) -> Result<Read, Unusable> {
    let sealed = seal::read(path);
    let head_seq = sealed
        .as_ref()
        .ok()
        .and_then(|s| s.as_ref().map(|s| s.head.seq));
    let mut fold = Fold::default();
    let mut events = 0u64;
    let mut run_hash = None;
    let mut latest: Option<DateTime<Utc>> = None;
    let mut at_head = None;
    let checked = scan(path, |bytes, env| {
        let Some(env) = env else {
            return;
        };
        latest = latest.max(Some(env.ts));
        if Some(env.seq) == head_seq && at_head.is_none() {
            at_head = Some(env.hash.clone());
        }
        if let Ok(r) = record::parse_with(bytes, env) {
            events += 1;
            if run_hash.is_none() && matches!(r.event, crate::journal::Event::RunStarted { .. }) {
                run_hash = Some(r.hash.clone());
            }
            fold.push(&r);
        }
    })
    .map_err(|e| Unusable::Skipped(e.to_string()))?;
    if let Some(p) = checked.refused_side() {
        return Err(Unusable::Refused(format!(
            "is refused at {p}; run `bringup verify` on it"
        )));
    }
    if let Some(p) = checked.first_problem() {
        return Err(Unusable::Skipped(format!(
            "does not verify ({p}); run `bringup verify` on it"
        )));
    }
    if events == 0 {
        return Err(Unusable::Skipped(
            "not a bringup journal: no event line could be read".into(),
        ));
    }
    Ok(Read {
        path: path.display().to_string(),
        run: fold.finish(),
        evidence: seal::evidence(sealed, signers, &checked, at_head.as_deref()),
        run_hash,
        last_seq: checked.last_seq,
        last_hash: checked.last_hash,
        latest,
    })
}

/// Each `--runbook` checked against the loss of its `[runbook] lost_site`: its structure only
/// (jump hosts, step hosts, webhooks). The machine making the report is not the operators':
/// their resolvers, mounts and journals are `preflight --lost-site`'s to check.
fn lost_sites(paths: &[std::path::PathBuf]) -> Result<Vec<report::LostSiteCheck>, ExitCode> {
    let env = crate::sites::environment::Environment::default();
    paths
        .iter()
        .map(|path| {
            let runbook = crate::runbook::load(path, &[]).map_err(|d| {
                eprint!("{d}");
                ExitCode::from(EXIT_BAD_INPUT)
            })?;
            let findings = crate::sites::structural(&runbook, &env);
            Ok(report::LostSiteCheck {
                runbook: runbook.name.clone(),
                path: path.display().to_string(),
                lost_site: findings.as_ref().map(|f| f.lost_site.clone()),
                dependencies: findings
                    .map(|f| f.dependencies.into_iter().map(|d| d.text).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The allowed signers file, when given, can be read; otherwise it is said (exit 2).
fn readable_signers(signers: Option<&Path>) -> Result<(), ExitCode> {
    if let Some(signers) = signers
        && let Err(e) = std::fs::File::open(signers)
    {
        eprintln!(
            "bringup: cannot read the allowed signers file '{}': {e}; it holds lines of 'PRINCIPAL KEYTYPE BASE64'",
            signers.display()
        );
        return Err(ExitCode::from(EXIT_BAD_INPUT));
    }
    Ok(())
}
