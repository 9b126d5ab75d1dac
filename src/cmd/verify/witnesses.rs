//! `bringup verify JOURNAL --witness DIR|URL`: every head a witness holds for the journal's
//! run (named by its `run_started` hash) must be in the journal's chain, with the same
//! hash at the same seq. A cut tail, a rewrite with the chain recomputed, and either one
//! sealed again with any key, all fail here: the witness saw the original.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use crate::cli::VerifyArgs;
use crate::cmd::EXIT_BAD_INPUT;
use crate::journal::etcd::Access;
use crate::witness::{self, Held, Target};

/// The first line's `hash`: the run's identity as witnesses know it.
fn run_of(journal: &std::path::Path) -> Option<String> {
    crate::journal::first_record(journal)
        .ok()
        .filter(|r| r.seq == 1)
        .map(|r| r.hash)
}

/// Check the journal against each `--witness`: `Ok(true)` when every one holds heads of
/// this run and each is in the chain; `Err` for a witness that cannot even be named.
pub(super) fn check(args: &VerifyArgs) -> Result<bool, ExitCode> {
    let mut targets = Vec::new();
    for text in &args.witness {
        match Target::parse(text, None) {
            Ok(t) => targets.push(t),
            Err(why) => {
                eprintln!("bringup: --witness '{text}': {why}");
                return Err(ExitCode::from(EXIT_BAD_INPUT));
            }
        }
    }
    let path = &args.journal;
    let Some(run) = run_of(path) else {
        eprintln!(
            "bringup: journal '{}' has no readable first event, so no witness can know its run",
            path.display()
        );
        return Ok(false);
    };
    let access = Access::from_args(&args.etcd);
    let mut held: Vec<(Target, Held)> = Vec::new();
    let mut ok = true;
    for target in targets {
        // A directory is read at once; an etcd witness on a one-thread runtime.
        let read = crate::cmd::shared::edge_runtime()
            .map_err(|f| f.message)
            .and_then(|rt| {
                rt.block_on(witness::read(&target, &run, &access))
                    .map_err(|e| e.to_string())
            });
        match read {
            Ok(h) => held.push((target, h)),
            Err(e) => {
                eprintln!("bringup: {e}");
                ok = false;
            }
        }
    }
    let wanted: BTreeSet<u64> = held
        .iter()
        .flat_map(|(_, h)| h.heads.iter().map(|x| x.seq))
        .collect();
    let mut found: BTreeMap<u64, String> = BTreeMap::new();
    let mut failed: Vec<Failed> = Vec::new();
    let report = match crate::journal::verify::scan(path, |line, env| {
        let Some(env) = env else { return };
        if wanted.contains(&env.seq) {
            found.entry(env.seq).or_insert_with(|| env.hash.clone());
        }
        if env.kind == "witness_failed"
            && let Ok(f) = serde_json::from_slice::<Failed>(line)
        {
            failed.push(f);
        }
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bringup: {e}");
            return Err(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let short = run.get(..16).unwrap_or(&run);
    for (target, h) in &held {
        let failed: Vec<&Failed> = failed.iter().filter(|f| f.names(target)).collect();
        ok &= judge(args, target, h, short, &found, report.last_seq, &failed);
    }
    Ok(ok)
}

/// A `witness_failed` the journal records: an attempt to write a head that did not succeed.
#[derive(serde::Deserialize)]
struct Failed {
    target: String,
    of_seq: u64,
    error: String,
}

impl Failed {
    /// Whether it is about `target` (a directory however it was spelled).
    fn names(&self, target: &Target) -> bool {
        match target {
            Target::Dir(dir) => {
                let recorded = std::path::Path::new(&self.target);
                recorded == dir
                    || matches!(
                        (recorded.canonicalize(), dir.canonicalize()),
                        (Ok(a), Ok(b)) if a == b
                    )
            }
            Target::Etcd(url) => self.target == url.to_string(),
        }
    }
}

/// What the journal says of a witness's failures after `seq`, if anything: how many, and
/// the last one's head and error.
fn failures_after(failed: &[&Failed], seq: u64) -> Option<String> {
    let after: Vec<&&Failed> = failed.iter().filter(|f| f.of_seq > seq).collect();
    let last = after.last()?;
    Some(format!(
        "the journal records that it could not be written ({} failed attempt(s); the last, for the head at seq {}: {})",
        after.len(),
        last.of_seq,
        last.error
    ))
}

/// One witness's heads against the journal, said on stdout (good) and stderr (bad).
fn judge(
    args: &VerifyArgs,
    target: &Target,
    held: &Held,
    run: &str,
    found: &BTreeMap<u64, String>,
    last_seq: u64,
    failed: &[&Failed],
) -> bool {
    let mut ok = true;
    for (at, what) in &held.bad {
        eprintln!("bringup: witness '{target}': {at}: {what}; a witness holds heads only");
        ok = false;
    }
    let Some(latest) = held.heads.iter().max_by_key(|h| h.seq) else {
        let why = failures_after(failed, 0).unwrap_or_else(|| {
            "the run never reached it, or the journal's first event was rewritten".to_string()
        });
        eprintln!("bringup: witness '{target}' holds no head of this run ({run}…): {why}");
        return false;
    };
    let findings = witness::compare(
        &held.heads,
        |seq| found.get(&seq).map(String::as_str),
        last_seq,
    );
    for f in &findings {
        eprintln!("bringup: witness '{target}': {f}");
    }
    if !findings.is_empty() {
        return false;
    }
    println!(
        "witness '{target}': {} head(s) of run {run}…, the last at seq {}: all in the chain",
        held.heads.len(),
        latest.seq
    );
    if last_seq > latest.seq {
        let why = failures_after(failed, latest.seq)
            .map(|why| format!(": {why}"))
            .unwrap_or_default();
        println!(
            "unwitnessed: {} event(s) after seq {} (seq {}–{last_seq}) were not given to witness '{target}'{why}",
            last_seq - latest.seq,
            latest.seq,
            latest.seq + 1
        );
    }
    ok & signatures(args, target, &held.heads)
}

/// Signed heads: checked against `--allowed-signers` when given (a bad one fails), else
/// said to be unchecked.
fn signatures(args: &VerifyArgs, target: &Target, heads: &[witness::WitnessedHead]) -> bool {
    let signed: Vec<_> = heads.iter().filter(|h| h.sig.is_some()).collect();
    if signed.is_empty() {
        println!("witness '{target}': its heads are not signed");
        return true;
    }
    let Some(signers) = &args.allowed_signers else {
        println!(
            "witness '{target}': {} of {} head(s) signed; signatures not checked: pass --allowed-signers FILE",
            signed.len(),
            heads.len()
        );
        return true;
    };
    let mut ok = true;
    let mut by = BTreeSet::new();
    for head in signed {
        match witness::check_signature(head, signers) {
            Ok(principal) => {
                by.insert(principal);
            }
            Err(why) => {
                eprintln!(
                    "bringup: witness '{target}': the head at seq {} has a bad signature: {why}",
                    head.seq
                );
                ok = false;
            }
        }
    }
    if ok {
        println!(
            "witness '{target}': head signatures good, by {}",
            by.into_iter()
                .map(|p| format!("'{p}'"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    ok
}
