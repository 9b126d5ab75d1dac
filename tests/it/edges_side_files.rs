//! Side files are read as they are written (SPEC "Edges"): a step's side file is
//! `<journal>.d/<seq>.out` for its event's seq, opened without following links and without
//! blocking, and taken only as a regular file of the recorded size. A link, a FIFO, a device
//! or a path named elsewhere fails `verify`, `output`, `export` and `report` at once naming
//! the seq, and no message tells about what was found. A journal renamed or copied with its
//! `.d` folder verifies and resumes. On the local transport (real `sh`), the real binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::local::{bringup, folder, output};
use crate::support::run::{read_journal, stderr, stdout};

/// One service whose check prints bytes that are not UTF-8 (kept in a side file) and passes.
const RUNBOOK: &str = r#"[runbook]
name = "sides"

[hosts.op]
transport = "local"

[[service]]
id = "noisy"
name = "Noisy"
tier = 1
hosts = ["op"]

  [[service.check]]
  name = "print"
  run = 'printf "\377\376binary banner\n"'
"#;

/// A finished run of [`RUNBOOK`]: its folder, runbook and journal.
struct Ran {
    dir: tempfile::TempDir,
    runbook: PathBuf,
    journal: PathBuf,
}

impl Ran {
    fn new() -> Ran {
        let (dir, runbook, journal) = folder(RUNBOOK);
        let out = output(
            bringup(dir.path())
                .arg("run")
                .arg(&runbook)
                .arg("--journal")
                .arg(&journal),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        Ran {
            dir,
            runbook,
            journal,
        }
    }

    /// The seq of the one `step_output` kept in a side file.
    fn side_seq(&self) -> u64 {
        side_seq(&self.journal)
    }

    fn side(&self) -> PathBuf {
        bringup::journal::side_dir(&self.journal).join(format!("{}.out", self.side_seq()))
    }

    fn run(&self, args: &[&str]) -> Output {
        output(bringup(self.dir.path()).args(args).arg(&self.journal))
    }
}

fn side_seq(journal: &Path) -> u64 {
    read_journal(journal)
        .iter()
        .find(|e| e["raw"].is_string())
        .and_then(|e| e["seq"].as_u64())
        .expect("a step_output kept in a side file")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[track_caller]
fn assert_fails_naming(out: &Output, seq: u64, what: &str) {
    assert_ne!(out.status.code(), Some(0), "{what}: {}", stderr(out));
    assert!(
        stderr(out).contains(&format!("seq {seq}")),
        "{what} names seq {seq}: {}",
        stderr(out)
    );
}

#[test]
fn a_side_file_swapped_for_a_link_to_the_same_bytes_fails_verify_and_output_shows_none_of_it() {
    let ran = Ran::new();
    let seq = ran.side_seq();
    let side = ran.side();
    let bytes = std::fs::read(&side).expect("side file");
    // A file of the same size and hash elsewhere, and the side file made a link to it.
    let target = ran.dir.path().join("elsewhere.bin");
    std::fs::write(&target, &bytes).expect("target");
    std::fs::remove_file(&side).expect("remove side");
    std::os::unix::fs::symlink(&target, &side).expect("link");

    let out = ran.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("FAILED: first bad seq {seq}")),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));

    let out = ran.run(&["output"]);
    assert_fails_naming(&out, seq, "output");
    assert!(
        !out.stdout
            .windows(b"binary banner".len())
            .any(|w| w == b"binary banner"),
        "output printed the link's target: {}",
        stdout(&out)
    );
    let file = ran.dir.path().join("out.bin");
    let out = output(
        bringup(ran.dir.path())
            .arg("output")
            .arg(&ran.journal)
            .arg("-o")
            .arg(&file),
    );
    assert_fails_naming(&out, seq, "output -o");
    assert!(!file.exists(), "nothing written through -o");
}

/// Run `args JOURNAL` and require it to end within a second, failing and naming `seq`.
#[track_caller]
fn ends_at_once_naming(dir: &Path, args: &[&str], journal: &Path, seq: u64) {
    let started = Instant::now();
    let child: Child = bringup(dir)
        .args(args)
        .arg(journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = bounded(child, Duration::from_secs(10));
    let took = started.elapsed();
    assert_fails_naming(&out, seq, &args.join(" "));
    assert!(
        took < Duration::from_secs(1),
        "{args:?} took {took:?}: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(!err.contains("bytes,"), "no size of what was found: {err}");
}

/// Wait for `child` at most `limit`, killing it (and failing) past that.
fn bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("poll").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

const READERS: [&[&str]; 4] = [
    &["verify"],
    &["output"],
    &["export", "--format", "markdown"],
    &["report"],
];

#[test]
fn a_side_file_that_is_a_link_to_dev_zero_fails_every_reader_at_once() {
    let ran = Ran::new();
    let seq = ran.side_seq();
    let side = ran.side();
    std::fs::remove_file(&side).expect("remove side");
    std::os::unix::fs::symlink("/dev/zero", &side).expect("link");
    for args in READERS {
        ends_at_once_naming(ran.dir.path(), args, &ran.journal, seq);
    }
}

#[test]
fn a_side_file_that_is_a_fifo_fails_every_reader_at_once() {
    let ran = Ran::new();
    let seq = ran.side_seq();
    let side = ran.side();
    std::fs::remove_file(&side).expect("remove side");
    nix::unistd::mkfifo(&side, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
    for args in READERS {
        ends_at_once_naming(ran.dir.path(), args, &ran.journal, seq);
    }
    let out = output(
        bringup(ran.dir.path())
            .arg("export")
            .arg(&ran.journal)
            .args(["--format", "json"]),
    );
    assert_ne!(out.status.code(), Some(0), "export json refuses too");
}

/// `journal`'s lines with `edit` applied to the line of `seq`, the chain's `prev` and `hash`
/// computed again after it (what someone rewriting an unsealed journal can do).
fn rewrite(journal: &Path, seq: u64, edit: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(journal).expect("journal");
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).expect("json");
        let line = if value["seq"].as_u64() == Some(seq) {
            edit(line)
        } else {
            line.to_string()
        };
        let cut = line.rfind(",\"hash\":").expect("hash member");
        let body = &line[..cut];
        let at = body.rfind(",\"prev\":\"").expect("prev member");
        let body = format!("{},\"prev\":\"{prev}\"", &body[..at]);
        let hash = sha256_hex(format!("{body}}}").as_bytes());
        out.push_str(&body);
        out.push_str(",\"hash\":\"");
        out.push_str(&hash);
        out.push_str("\"}\n");
        prev = hash;
    }
    std::fs::write(journal, out).expect("write journal");
}

#[test]
fn an_event_whose_raw_path_names_another_file_is_refused_and_that_file_never_read() {
    let ran = Ran::new();
    let seq = ran.side_seq();
    let event = read_journal(&ran.journal)
        .into_iter()
        .find(|e| e["seq"].as_u64() == Some(seq))
        .expect("the event");
    let (raw, size, sha) = (
        event["raw"].as_str().expect("raw").to_string(),
        event["size"].as_u64().expect("size"),
        event["sha256"].as_str().expect("sha256").to_string(),
    );
    // A file beside the journal, and the event pointed at it with its size and hash.
    let secret = b"TOP SECRET: the root password\n";
    std::fs::write(ran.journal.with_file_name("secret.txt"), secret).expect("secret");
    rewrite(&ran.journal, seq, |line| {
        line.replace(&format!("\"raw\":\"{raw}\""), "\"raw\":\"secret.txt\"")
            .replace(
                &format!("\"size\":{size}"),
                &format!("\"size\":{}", secret.len()),
            )
            .replace(&sha, &sha256_hex(secret))
    });
    assert!(
        read_journal(&ran.journal)
            .iter()
            .any(|e| e["raw"] == "secret.txt"),
        "the event now names the other file"
    );

    let out = ran.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("FAILED: first bad seq {seq}")),
        "{}",
        stdout(&out)
    );
    for args in READERS {
        let out = ran.run(args);
        assert_fails_naming(&out, seq, &args.join(" "));
        assert!(
            !stdout(&out).contains("TOP SECRET"),
            "{args:?} read the other file: {}",
            stdout(&out)
        );
    }
}

#[test]
fn a_journal_renamed_or_copied_with_its_side_folder_verifies_and_resumes() {
    let ran = Ran::new();
    let seq = ran.side_seq();
    let bytes = std::fs::read(ran.side()).expect("side file");

    // Renamed, its folder renamed to match.
    let renamed = ran.journal.with_file_name("renamed.jsonl");
    std::fs::rename(&ran.journal, &renamed).expect("rename journal");
    std::fs::rename(
        bringup::journal::side_dir(&ran.journal),
        bringup::journal::side_dir(&renamed),
    )
    .expect("rename side folder");
    let out = output(bringup(ran.dir.path()).arg("verify").arg(&renamed));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = output(
        bringup(ran.dir.path())
            .arg("run")
            .arg(&ran.runbook)
            .arg("--resume")
            .arg(&renamed),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_journal(&renamed);
    assert!(events.iter().any(|e| e["kind"] == "resumed"), "resumed");
    let out = output(bringup(ran.dir.path()).arg("verify").arg(&renamed));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Copied into another folder, under another name.
    let copy_dir = ran.dir.path().join("copy");
    std::fs::create_dir(&copy_dir).expect("copy folder");
    let copy = copy_dir.join("evidence.jsonl");
    std::fs::copy(&renamed, &copy).expect("copy journal");
    let sides = bringup::journal::side_dir(&copy);
    std::fs::create_dir(&sides).expect("copy side folder");
    for entry in std::fs::read_dir(bringup::journal::side_dir(&renamed)).expect("sides") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), sides.join(entry.file_name())).expect("copy side");
    }
    let out = output(bringup(ran.dir.path()).arg("verify").arg(&copy));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file = ran.dir.path().join("out.bin");
    let out = output(
        bringup(ran.dir.path())
            .arg("output")
            .arg(&copy)
            .args(["--service", "noisy", "-o"])
            .arg(&file),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let back = std::fs::read(&file).expect("output");
    assert!(
        back.windows(bytes.len()).any(|w| w == bytes.as_slice()),
        "seq {seq}'s bytes come back from the copy"
    );
}

#[test]
fn a_report_over_several_journals_stops_at_one_whose_side_file_is_a_fifo() {
    let good = Ran::new();
    let bad = Ran::new();
    let seq = bad.side_seq();
    let side = bad.side();
    std::fs::remove_file(&side).expect("remove side");
    nix::unistd::mkfifo(&side, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
    let out = output(
        bringup(good.dir.path())
            .arg("report")
            .arg(&good.journal)
            .arg(&bad.journal),
    );
    assert_fails_naming(&out, seq, "report");
    assert!(stdout(&out).is_empty(), "no report: {}", stdout(&out));
}
