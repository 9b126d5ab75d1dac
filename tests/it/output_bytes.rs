//! Output is journaled in chunks and kept exactly (SPEC "Journal additions"): what a step
//! printed comes back byte for byte from `bringup output`, whatever it was (random bytes,
//! UTF-8 cut between chunks, a flood of short lines), and a flood costs a journal about its
//! own size, not one event per line. On the local transport (real `sh`); tests/run_ssh.rs
//! does the same over sshd.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::local::{bringup, folder, output};
use crate::support::run::{read_journal, stderr};

const LOCAL: &str = "[runbook]\nname = \"bytes\"\n\n[defaults]\ntimeout = \"60s\"\n\n\
[vars]\nstate = \"/nonexistent\"\n\n[hosts.op]\ntransport = \"local\"\n\n";

/// One service whose check runs `check` (and passes).
fn runbook(check: &str) -> String {
    format!(
        "{LOCAL}[[service]]\nid = \"noisy\"\nname = \"Noisy\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"print\"\nrun = \"{check}\"\n"
    )
}

/// `run --check-only` of `toml` with `state` set to `dir/state`; returns the journal.
fn run_check(toml: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, rb, journal) = folder(toml);
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state");
    let out = output(
        bringup(dir.path())
            .args(["run", "--check-only", "--var"])
            .arg(format!("state={}", state.display()))
            .arg("--journal")
            .arg(&journal)
            .arg(&rb)
            // Progress shows every line; nobody reads it here.
            .stdout(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (dir, journal)
}

/// `bringup output JOURNAL ARGS -o FILE`, its bytes.
fn output_bytes(dir: &Path, journal: &Path, args: &[&str]) -> Vec<u8> {
    let file = dir.join("out.bin");
    let _ = std::fs::remove_file(&file);
    let out = output(
        bringup(dir)
            .arg("output")
            .arg(journal)
            .args(args)
            .arg("-o")
            .arg(&file),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::read(&file).expect("output written")
}

/// The journal's bytes with its side files.
fn recorded_bytes(journal: &Path) -> u64 {
    let side = bringup::journal::side_dir(journal);
    let side_bytes: u64 = std::fs::read_dir(&side).map_or(0, |d| {
        d.map(|e| e.expect("entry").metadata().expect("meta").len())
            .sum()
    });
    std::fs::metadata(journal).expect("journal").len() + side_bytes
}

#[test]
fn random_bytes_and_utf8_cut_between_chunks_come_back_exactly() {
    // 200,000 random bytes, then 'é' split by a pause longer than a chunk's 100 ms.
    let (dir, journal) = run_check(&runbook(
        "head -c 200000 /dev/urandom > {{state}}/sent.bin; cat {{state}}/sent.bin; \
         printf 'caf\\\\303'; sleep 0.3; printf '\\\\251 done\\\\n'",
    ));
    let mut sent = std::fs::read(dir.path().join("state/sent.bin")).expect("sent");
    sent.extend_from_slice("café done\n".as_bytes());
    let back = output_bytes(dir.path(), &journal, &["--service", "noisy"]);
    assert_eq!(back.len(), sent.len(), "as many bytes as printed");
    assert!(back == sent, "byte for byte");
    // Kept in side files, not inflated by replacement characters.
    let events = read_journal(&journal);
    let chunks: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "step_output")
        .collect();
    assert!(
        chunks.iter().any(|e| e["raw"].is_string()),
        "side files used"
    );
    assert!(chunks.iter().all(|e| e["size"].as_u64().is_some()));
    let recorded = recorded_bytes(&journal);
    assert!(
        recorded * 2 <= sent.len() as u64 * 3,
        "{recorded} bytes recorded for {} printed",
        sent.len()
    );
    // A side file changed after the run is refused, not passed off as the output.
    let side = chunks
        .iter()
        .find_map(|e| e["raw"].as_str())
        .expect("a side file");
    let side = journal.parent().expect("dir").join(side);
    std::fs::write(&side, b"forged").expect("forge");
    let out = output(bringup(dir.path()).arg("output").arg(&journal));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not what the journal records"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_flood_of_short_lines_costs_a_journal_about_its_own_size() {
    const BYTES: usize = 5_000_000;
    let (dir, journal) = run_check(&runbook(&format!("yes | head -c {BYTES}")));
    let events = read_journal(&journal);
    let chunks = events.iter().filter(|e| e["kind"] == "step_output").count();
    // 2,500,000 lines, in chunks of up to 64 KiB: about 77, more if the pipe was slow.
    assert!(chunks <= BYTES / 4096, "{chunks} step_output events");
    let recorded = recorded_bytes(&journal);
    assert!(
        recorded * 2 <= BYTES as u64 * 3,
        "{recorded} bytes recorded for {BYTES} printed"
    );
    let back = output_bytes(dir.path(), &journal, &["--step", "print", "--host", "op"]);
    assert_eq!(back.len(), BYTES);
    assert!(back.chunks(2).all(|p| p == b"y\n"), "every line as printed");
}

#[test]
fn output_of_nothing_selected_says_so() {
    let (dir, journal) = run_check(&runbook("echo hello"));
    let out = output(
        bringup(dir.path())
            .arg("output")
            .arg(&journal)
            .args(["--service", "nosuch"]),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("holds no output for service 'nosuch'"),
        "{}",
        stderr(&out)
    );
    // Piped stdout gets the exact bytes.
    let piped = Command::new(assert_cmd::cargo::cargo_bin("bringup"))
        .arg("output")
        .arg(&journal)
        .output()
        .expect("runs");
    assert_eq!(piped.stdout, b"hello\n");
}
