//! `bringup seal` and `--seal` on `run`/`open`: sign a journal's head. The format and the
//! signing live in `journal::seal`; this says what happened and picks the exit code.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{OpenArgs, SealArgs};
use crate::cmd::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP};
use crate::journal::seal::{self, Head, SigningKey};
use crate::journal::{files, verify};

pub fn seal(args: &SealArgs) -> ExitCode {
    let path = &args.journal;
    if let Some(pid) = files::locked_by(path) {
        let who = pid.map_or_else(|| "another run".to_string(), |p| format!("pid {p}"));
        eprintln!(
            "bringup: journal '{}' is being written by {who}; seal it when that run ends (or run it with --seal)",
            path.display()
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let key = args
        .identity
        .clone()
        .map_or(SigningKey::Agent, SigningKey::File);
    match seal_journal(
        path,
        &key,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}

/// `--seal`: seal the journal of a run that has just ended. A failure is reported and leaves
/// the run's exit code alone: the run is what the code is about, and the journal is intact.
pub fn after_run(args: &OpenArgs, journal: &crate::session::JournalLocation) {
    if !args.seal {
        return;
    }
    let journal = match journal {
        crate::session::JournalLocation::File(path) => path.as_path(),
        crate::session::JournalLocation::Shared(url) => {
            eprintln!(
                "bringup: a shared run is sealed as a file: bringup pull {url} -o RUN.jsonl, then bringup seal RUN.jsonl"
            );
            return;
        }
    };
    let key = args
        .seal_key
        .clone()
        .map_or(SigningKey::Agent, SigningKey::File);
    // On stderr: stdout may carry `run --format json`'s event lines.
    let (mut out, mut err) = (std::io::stderr(), std::io::stderr());
    if seal_journal(journal, &key, &mut out, &mut err).is_err() {
        let _ = writeln!(
            err,
            "bringup: the journal is not sealed; seal it later with: bringup seal '{}'",
            journal.display()
        );
    }
}

/// Check the chain, then sign its head; problems on stderr, what was sealed on `out`.
fn seal_journal(
    path: &Path,
    key: &SigningKey,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), u8> {
    let shown = path.display();
    let existing = seal::read(path).map_err(|e| {
        let _ = writeln!(err, "bringup: {e}; remove both seal files to seal afresh");
        EXIT_NOT_ALL_UP
    })?;
    let (report, at_old_head) = match &existing {
        Some(s) => verify::verify_to(path, s.head.seq),
        None => verify::verify(path).map(|r| (r, None)),
    }
    .map_err(|e| {
        let _ = writeln!(err, "bringup: {e}");
        EXIT_BAD_INPUT
    })?;
    for w in report.warnings() {
        let _ = writeln!(
            err,
            "bringup: warning: journal '{shown}': {w}; the seal covers the complete lines"
        );
    }
    if let Some(p) = report.first_problem() {
        let _ = writeln!(
            err,
            "bringup: journal '{shown}' is broken at {p}; a seal would vouch for it, so it is not sealed"
        );
        return Err(EXIT_NOT_ALL_UP);
    }
    if let Some(old) = &existing
        && at_old_head.as_deref() != Some(old.head.hash.as_str())
    {
        let _ = writeln!(
            err,
            "bringup: journal '{shown}' no longer holds the head its seal signed (seq {}, hash {}): it was cut or rewritten since; not sealing over that (check it with: bringup verify '{shown}' --allowed-signers FILE)",
            old.head.seq, old.head.hash
        );
        return Err(EXIT_NOT_ALL_UP);
    }
    let Some(hash) = report.last_hash.clone() else {
        let _ = writeln!(
            err,
            "bringup: journal '{shown}' holds no event; there is nothing to seal"
        );
        return Err(EXIT_BAD_INPUT);
    };
    let head = Head {
        seq: report.last_seq,
        hash,
    };
    let signer = seal::seal(path, &head, key).map_err(|e| {
        let _ = writeln!(err, "bringup: journal '{shown}' is not sealed: {e}");
        EXIT_BAD_INPUT
    })?;
    let sig = seal::sig_path(path);
    let message = seal::message_path(path);
    let _ = writeln!(
        out,
        "sealed: journal '{shown}' at seq {} (hash {}) with {signer}",
        head.seq, head.hash
    );
    let _ = writeln!(
        out,
        "signature: '{}' over '{}' (namespace {})",
        sig.display(),
        message.display(),
        seal::NAMESPACE
    );
    let _ = writeln!(
        out,
        "check: bringup verify '{shown}' --allowed-signers FILE, or ssh-keygen -Y verify -f FILE -I PRINCIPAL -n {} -s '{}' < '{}'",
        seal::NAMESPACE,
        sig.display(),
        message.display()
    );
    Ok(())
}
