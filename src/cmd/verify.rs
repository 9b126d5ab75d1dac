//! `bringup verify`: check a journal's hash chain and say so. Logic lives in `journal::verify`.

use std::process::ExitCode;

use crate::cli::VerifyArgs;
use crate::cmd::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP};
use crate::journal::verify::verify as check;

pub fn verify(args: &VerifyArgs) -> ExitCode {
    let report = match check(&args.journal) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let path = args.journal.display();
    for w in report.warnings() {
        eprintln!("bringup: warning: journal '{path}': {w}");
    }
    if let Some(p) = report.first_problem() {
        eprintln!("bringup: journal '{path}' is broken at {p}");
        let more = report.problems.len() as u64 - 1 + report.more_problems;
        if more > 0 {
            eprintln!("bringup: {more} more problem(s) after it");
        }
        println!("FAILED: first bad seq {}", p.seq);
        return ExitCode::from(EXIT_NOT_ALL_UP);
    }
    println!("OK: journal '{path}' verifies");
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
    ExitCode::SUCCESS
}
