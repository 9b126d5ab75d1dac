//! Tamper evidence: any changed byte on any line of a journal makes `verify` fail, naming
//! that line's seq (or its line number when the line no longer parses).

use crate::pangyo;

use std::fs;
use std::path::Path;

use bringup::journal::{self, ProblemKind};

/// xorshift64*: a fixed-seed generator, so a failure names a reproducible flip.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("fits")
    }
}

const FLIPS_PER_LINE: usize = 6;

/// Byte ranges (start, end without the newline) of each line.
fn lines(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    out
}

fn write_fixture(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("pangyo.jsonl");
    pangyo::write(&path);
    path
}

#[test]
fn every_flipped_byte_on_every_line_is_found_at_that_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_fixture(dir.path());
    let original = fs::read(&path).expect("read");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    for (n, (start, end)) in lines(&original).into_iter().enumerate() {
        let line_no = n as u64 + 1;
        for _ in 0..FLIPS_PER_LINE {
            let pos = start + rng.below(end - start);
            let mask = u8::try_from(1 + rng.below(255)).expect("fits");
            let mut bytes = original.clone();
            bytes[pos] ^= mask;
            fs::write(&path, &bytes).expect("write");
            let report = journal::verify(&path).expect("readable");
            let p = report.first_problem().unwrap_or_else(|| {
                panic!("flip at byte {pos} (line {line_no}, xor {mask:#04x}) went unnoticed")
            });
            assert_eq!(p.line, line_no, "flip at byte {pos} xor {mask:#04x}: {p}");
            if !matches!(p.kind, ProblemKind::Unparsable(_)) {
                assert_eq!(p.seq, line_no, "flip at byte {pos} xor {mask:#04x}: {p}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 84 * FLIPS_PER_LINE);
}

#[test]
fn verify_binary_exits_1_naming_the_tampered_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_fixture(dir.path());
    let original = fs::read(&path).expect("read");
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for (n, (start, end)) in lines(&original).into_iter().enumerate() {
        let line_no = n + 1;
        let pos = start + rng.below(end - start);
        let mut bytes = original.clone();
        bytes[pos] ^= u8::try_from(1 + rng.below(255)).expect("fits");
        fs::write(&path, &bytes).expect("write");
        let out = assert_cmd::cargo::cargo_bin_cmd!("bringup")
            .arg("verify")
            .arg(&path)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "line {line_no}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("seq {line_no} (line {line_no})"))
                || stderr.contains(&format!("line {line_no}: unparsable")),
            "line {line_no}: {stderr}"
        );
    }
}

#[test]
fn removed_and_swapped_lines_are_seq_gaps_and_prev_mismatches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_fixture(dir.path());
    let text = fs::read_to_string(&path).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(9);
    fs::write(&path, lines.join("\n") + "\n").expect("write");
    let report = journal::verify(&path).expect("readable");
    let p = report.first_problem().expect("problem");
    assert_eq!((p.line, p.seq), (10, 10));
    assert!(
        matches!(
            p.kind,
            ProblemKind::SeqGap {
                expected: 10,
                found: 11
            }
        ),
        "{p}"
    );
    assert!(
        report
            .problems
            .iter()
            .any(|q| matches!(q.kind, ProblemKind::PrevMismatch { .. }))
    );

    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(20, 21);
    fs::write(&path, lines.join("\n") + "\n").expect("write");
    let p = journal::verify(&path).expect("readable").problems[0].clone();
    assert_eq!(p.seq, 21, "{p}");
}

#[test]
fn a_whole_rewritten_chain_still_fails_against_its_recorded_hashes() {
    // Editing a line and fixing its own hash breaks the next line's prev.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_fixture(dir.path());
    let text = fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("netops"))
        .expect("the note");
    let target = &lines[at];
    let cut = target.rfind(",\"hash\":").expect("hash");
    let body = target[..cut].replace("netops", "NETOPS");
    let hash = bringup::journal::record::sha256_hex(format!("{body}}}").as_bytes());
    lines[at] = format!("{body},\"hash\":\"{hash}\"}}");
    fs::write(&path, lines.join("\n") + "\n").expect("write");
    let p = journal::verify(&path).expect("readable").problems[0].clone();
    assert_eq!(p.seq, at as u64 + 2);
    assert!(matches!(p.kind, ProblemKind::PrevMismatch { .. }), "{p}");
}
