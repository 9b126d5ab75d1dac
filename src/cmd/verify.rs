//! `bringup verify`: check a journal's hash chain and its seal, and say so. Logic lives in
//! `journal::verify` and `journal::seal`.

mod witnesses;

use std::process::ExitCode;

use crate::cli::VerifyArgs;
use crate::cmd::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP};
use crate::journal::etcd::{self, Access, EtcdStore, RunUrl};
use crate::journal::seal::{self, Seal, SealError};
use crate::journal::verify::{Report, verify as check, verify_to};

pub fn verify(args: &VerifyArgs) -> ExitCode {
    if let Some(url) = args.journal.to_str().filter(|j| RunUrl::is_etcd(j)) {
        return verify_shared(url, args);
    }
    let path = args.journal.display();
    if let Some(signers) = &args.allowed_signers
        && let Err(e) = std::fs::File::open(signers)
    {
        eprintln!(
            "bringup: cannot read the allowed signers file '{}': {e}; it holds lines of 'PRINCIPAL KEYTYPE BASE64'",
            signers.display()
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let sealed = seal::read(&args.journal);
    let checked = match &sealed {
        Ok(Some(s)) => verify_to(&args.journal, s.head.seq),
        _ => check(&args.journal).map(|r| (r, None)),
    };
    let (report, at_head) = match checked {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    for w in report.warnings() {
        eprintln!("bringup: warning: journal '{path}': {w}");
    }
    let seal_ok = match sealed {
        Ok(Some(s)) => check_seal(args, &s, &report, at_head.as_deref()),
        Ok(None) => unsealed(args),
        Err(e) => {
            eprintln!("bringup: journal '{path}': {e}");
            false
        }
    };
    if let Some(code) = broken(&format!("journal '{path}'"), &report) {
        return code;
    }
    if !args.witness.is_empty() {
        match witnesses::check(args) {
            Ok(true) => {}
            Ok(false) => {
                println!("FAILED: the witnesses do not hold this journal");
                return ExitCode::from(EXIT_NOT_ALL_UP);
            }
            Err(code) => return code,
        }
    }
    if !seal_ok {
        println!("FAILED: the seal does not hold");
        return ExitCode::from(EXIT_NOT_ALL_UP);
    }
    println!("OK: journal '{path}' verifies");
    summary(&report);
    ExitCode::SUCCESS
}

/// A shared run in etcd: the same line checks, plus its head key against its last event.
fn verify_shared(url: &str, args: &VerifyArgs) -> ExitCode {
    let url = match RunUrl::parse(url) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if !args.witness.is_empty() {
        eprintln!(
            "bringup: --witness checks a journal file; `bringup pull {url} -o RUN.jsonl`, then `bringup verify RUN.jsonl --witness …`"
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if args.allowed_signers.is_some() {
        eprintln!(
            "bringup: shared runs are not sealed yet, so --allowed-signers does not apply to '{url}'; `bringup pull` it and seal the file"
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let access = Access::from_args(&args.etcd);
    let scanned = crate::cmd::shared::edge_runtime().and_then(|rt| {
        rt.block_on(async {
            let mut store = EtcdStore::open_with(&url, &access).await?;
            etcd::scan_run(&mut store, |_| {}).await
        })
        .map_err(crate::cmd::shared::Failure::input)
    });
    let report = match scanned {
        Ok(r) => r,
        Err(f) => {
            eprintln!("bringup: {}", f.message);
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Some(code) = broken(&format!("shared run '{url}'"), &report) {
        return code;
    }
    println!("OK: shared run '{url}' verifies");
    summary(&report);
    ExitCode::SUCCESS
}

/// Say where the chain breaks, if it does: exit 1 naming the first bad seq.
fn broken(what: &str, report: &Report) -> Option<ExitCode> {
    let p = report.first_problem()?;
    eprintln!("bringup: {what} is broken at {p}");
    let more = report.problems.len() as u64 - 1 + report.more_problems;
    if more > 0 {
        eprintln!("bringup: {more} more problem(s) after it");
    }
    println!("FAILED: first bad seq {}", p.seq);
    Some(ExitCode::from(EXIT_NOT_ALL_UP))
}

fn summary(report: &Report) {
    println!("events: {}", report.events);
    println!(
        "last hash: {}",
        report
            .last_hash
            .as_deref()
            .unwrap_or("(none: empty journal)")
    );
    match (&report.first_ts, &report.last_ts) {
        (Some(a), Some(b)) => println!("time span: {a} → {b}"),
        _ => println!("time span: (none)"),
    }
}

/// No seal: said on stdout; a failure only when signers were given (a seal was asked for).
fn unsealed(args: &VerifyArgs) -> bool {
    let sig = seal::sig_path(&args.journal);
    let note = format!(
        "unsealed: no signature ('{}'), so a cut tail cannot be detected; seal journals with `bringup seal` or `--seal`",
        sig.display()
    );
    if args.allowed_signers.is_some() {
        eprintln!("bringup: journal '{}' is {note}", args.journal.display());
        false
    } else {
        println!("{note}");
        true
    }
}

/// The signature (with signers) and the signed head against the chain; `false` when either
/// fails. Events after the signed head are reported as unsigned, not as a failure.
fn check_seal(args: &VerifyArgs, s: &Seal, report: &Report, at_head: Option<&str>) -> bool {
    let head = &s.head;
    let mut ok = true;
    match &args.allowed_signers {
        Some(signers) => match seal::check_signature(s, signers) {
            Ok(principal) => println!(
                "signature: good, by '{principal}' (allowed signers '{}'), over seq {} hash {}",
                signers.display(),
                head.seq,
                head.hash
            ),
            Err(e @ SealError::NoKeygen(_)) => {
                eprintln!("bringup: {e}");
                ok = false;
            }
            Err(e) => {
                eprintln!("bringup: journal '{}': {e}", args.journal.display());
                ok = false;
            }
        },
        None => println!(
            "sealed at seq {} (hash {}); signature not checked: pass --allowed-signers FILE",
            head.seq, head.hash
        ),
    }
    match at_head {
        None => {
            eprintln!(
                "bringup: the signed head seq {} is missing: the journal was cut (it ends at seq {})",
                head.seq, report.last_seq
            );
            ok = false;
        }
        Some(h) if h != head.hash => {
            eprintln!(
                "bringup: hash at seq {} differs from the signed one (signed {}, the journal holds {h}): the journal was rewritten",
                head.seq, head.hash
            );
            ok = false;
        }
        Some(_) if report.last_seq > head.seq => println!(
            "unsigned: {} event(s) after the signed seq {} (seq {}–{}) are not covered by the seal",
            report.last_seq - head.seq,
            head.seq,
            head.seq + 1,
            report.last_seq
        ),
        Some(_) => println!("signed head: seq {} is the journal's last event", head.seq),
    }
    ok
}
