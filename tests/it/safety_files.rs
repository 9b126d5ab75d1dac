//! SPEC "Safety rules", through the real binary: what a step printed reaches no terminal raw
//! (`run`'s text output, `export` to stdout) while the journal keeps the bytes; one writer per
//! journal (a second `run`/`--resume` exits 2 naming the holder's pid, and a `kill -9`ed
//! holder's lock is gone); owner-only modes under umask 000; no symbolic link followed beside
//! a journal; `export -o` never overwrites a journal, its side folder or its input.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use crate::support::local::{finish, output};
use crate::support::rig::{Resume, Rig};
use crate::support::run::{read_journal, stderr, stdout};
use sha2::{Digest as _, Sha256};

#[track_caller]
fn assert_code(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("readable")))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

/// Raw bytes that act on a terminal: ESC, BEL, C1 CSI (U+009B) and a bidi override (U+202E).
fn raw_controls(bytes: &[u8]) -> Vec<&'static str> {
    let text = String::from_utf8_lossy(bytes);
    [
        ("ESC", '\u{1b}'),
        ("BEL", '\u{7}'),
        ("CSI", '\u{9b}'),
        ("RLO", '\u{202e}'),
    ]
    .into_iter()
    .filter(|(_, c)| text.contains(*c))
    .map(|(name, _)| name)
    .collect()
}

const LOCAL: &str = "[hosts.op]\ntransport = \"local\"\n\n";

/// A runbook whose check prints a window title and a clipboard write (OSC 0 and 52), colours,
/// a C1 CSI and a bidi override, and whose names carry escapes too (as TOML `\u` escapes),
/// so every report has some to show.
fn hostile() -> String {
    format!(
        "[runbook]\nname = \"esc \\u001b]0;rb\\u0007 drill\"\n\n{LOCAL}\
[[service]]\nid = \"web\"\nname = \"Web \\u001b]0;svc\\u0007 \\u009b31m \\u202eedoc\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up \\u001b[2J\"\nfeature = \"Pages \\u001b]52;c;cHduZWQ=\\u0007 load \\u009b2J\"\n\
run = '''printf '\\033]0;pwned\\007\\033]52;c;cHduZWQ=\\007 \\033[31mred\\033[0m \\302\\2332J \\342\\200\\256txt.exe\\n'; exit 1'''\n\n\
[[service.restore]]\nname = \"start\"\nrun = \"exit 1\"\n\n"
    )
}

#[test]
fn escape_sequences_a_step_prints_reach_run_stdout_as_visible_text_and_the_journal_raw() {
    let rig = Rig::local(&hostile());
    let run = output(&mut rig.run(Resume::No));
    assert_code(&run, 1);
    assert_eq!(
        raw_controls(&run.stdout),
        Vec::<&str>::new(),
        "{}",
        stdout(&run)
    );
    let text = stdout(&run);
    for shown in [
        "\\x1b]0;pwned\\x07",
        "\\x1b]52;c;cHduZWQ=\\x07",
        "\\x1b[31mred\\x1b[0m",
        "\\u{9b}2J",
        "\\u{202e}txt.exe",
    ] {
        assert!(text.contains(shown), "'{shown}' not in: {text}");
    }
    // The table's names and the progress lines' step names are shown the same way.
    assert!(text.contains("up \\x1b[2J"), "{text}");

    let outputs: String = read_journal(&rig.journal)
        .iter()
        .filter(|e| e["kind"] == "step_output")
        .filter_map(|e| e["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        outputs.contains(
            "\u{1b}]0;pwned\u{7}\u{1b}]52;c;cHduZWQ=\u{7} \u{1b}[31mred\u{1b}[0m \u{9b}2J \u{202e}txt.exe"
        ),
        "the journal keeps the bytes: {outputs:?}"
    );

    // JSON lines piped are the journal's own lines; serde wrote ESC and BEL as escapes.
    std::fs::remove_file(&rig.journal).expect("remove journal");
    let json = output(rig.run(Resume::No).args(["--format", "json"]));
    assert_code(&json, 1);
    assert!(!json.stdout.contains(&0x1b) && !json.stdout.contains(&0x07));
    let journal = std::fs::read_to_string(&rig.journal).expect("journal");
    assert_eq!(
        stdout(&json),
        journal,
        "one journal line per line, as written"
    );
}

#[test]
fn every_export_format_to_stdout_shows_escapes_as_text_while_a_file_keeps_its_own_escaping() {
    let rig = Rig::local(&hostile());
    assert_code(&output(&mut rig.run(Resume::No)), 1);
    for format in ["csv", "markdown", "status", "html", "json"] {
        let out = output(&mut rig.export(format));
        assert_code(&out, 0);
        assert_eq!(
            raw_controls(&out.stdout),
            Vec::<&str>::new(),
            "{format}: {}",
            stdout(&out)
        );

        // The same report to a file is the format's own bytes: the controls are there, so
        // stdout had something to make safe.
        let file = rig.path(&format!("report.{format}"));
        let to_file = output(rig.export(format).arg("-o").arg(&file));
        assert_code(&to_file, 0);
        let written = std::fs::read(&file).expect("report written");
        assert!(
            !raw_controls(&written).is_empty(),
            "{format}: the report holds no controls to begin with"
        );
        if format == "json" {
            // serde escapes C0 itself; what it leaves raw (C1, bidi) becomes `\u` escapes
            // on stdout, and the document means the same.
            assert_eq!(raw_controls(&written), ["CSI", "RLO"]);
            let a: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            let b: serde_json::Value = serde_json::from_slice(&written).expect("JSON");
            assert_eq!(a, b);
        } else {
            assert!(
                stdout(&out).contains("\\x1b") && stdout(&out).contains("\\x07"),
                "{format}: {}",
                stdout(&out)
            );
        }
    }
}

/// One service whose check takes a while, unless `fast` exists beside the runbook.
fn slow(seconds: u32) -> String {
    format!(
        "{LOCAL}[[service]]\nid = \"db\"\nname = \"DB\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f fast || sleep {seconds}\"\n\n"
    )
}

/// Start `bringup run` and wait until its slow check has started (so it holds the lock).
/// The caller waits for the child it gets back.
#[allow(clippy::zombie_processes)]
fn start_holder(rig: &Rig) -> Child {
    let mut child = rig.run(Resume::No).spawn().expect("spawn bringup");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started = std::fs::read_to_string(&rig.journal)
            .is_ok_and(|j| j.contains("\"kind\":\"step_started\""));
        if started {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the first run never started its check");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_writer_of_a_journal_exits_2_naming_the_first_runs_pid_and_readers_still_work() {
    let rig = Rig::local(&slow(4));
    let first = start_holder(&rig);
    let pid = first.id();

    for resume in [Resume::Yes, Resume::No] {
        let second = output(&mut rig.run(resume));
        assert_code(&second, 2);
        assert!(
            stderr(&second).contains(&format!("pid {pid}")),
            "{resume:?}: {}",
            stderr(&second)
        );
        assert!(
            stderr(&second).contains("being written by another bringup run"),
            "{}",
            stderr(&second)
        );
    }
    // Readers take no lock.
    assert_code(&rig.verify(), 0);
    assert_code(&output(&mut rig.export("status")), 0);

    let first = finish(first);
    assert_code(&first, 0);
    let verified = rig.verify();
    assert_code(&verified, 0);
    let events = read_journal(&rig.journal);
    assert_eq!(
        events.iter().filter(|e| e["kind"] == "run_started").count(),
        1,
        "nothing of the refused runs reached the journal"
    );
    assert!(
        !PathBuf::from(format!("{}.lock", rig.journal.display())).exists(),
        "the pid file goes with the lock"
    );
}

#[test]
fn after_the_holder_is_killed_with_sigkill_a_resume_takes_the_journal() {
    let rig = Rig::local(&slow(20));
    let mut first = start_holder(&rig);
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    std::fs::write(rig.path("fast"), "").expect("make the check quick");
    let resumed = output(&mut rig.run(Resume::Yes));
    assert_code(&resumed, 0);
    assert_code(&rig.verify(), 0);
    assert!(
        read_journal(&rig.journal)
            .iter()
            .any(|e| e["kind"] == "resumed")
    );
}

#[test]
fn journal_log_and_journal_folder_are_owner_only_under_umask_000() {
    let rig = Rig::local(&slow(0));
    let mut sh = crate::support::local::under_sh(rig.dir(), "umask 000; exec \"$0\" \"$@\"");
    sh.arg("run")
        .arg(&rig.runbook)
        .arg("--journal")
        .arg(&rig.journal);
    assert_code(&output(&mut sh), 0);
    let folder = rig.path("journal");
    assert_eq!(mode(&folder), 0o700, "journal folder");
    assert_eq!(mode(&rig.journal), 0o600, "journal");
    assert_eq!(mode(&folder.join("bringup.log")), 0o600, "log");
}

#[test]
fn side_folder_and_side_files_are_owner_only_under_umask_000() {
    // Only this test in this file sets the umask; the others do not depend on it.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("j.jsonl");
    let mut w = bringup::journal::JournalWriter::create(&path, &[]).expect("create");
    w.set_spill_bytes(4);
    w.append_output(
        &bringup::runbook::model::ServiceId::new("db"),
        "up",
        &bringup::runbook::model::HostId::new("op"),
        b"longer than four bytes",
    )
    .expect("spilled");
    drop(w);
    nix::sys::stat::umask(old);
    let side = bringup::journal::side_dir(&path);
    assert_eq!(mode(&side), 0o700, "side folder");
    let files: Vec<PathBuf> = std::fs::read_dir(&side)
        .expect("side folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600, "{}", files[0].display());
    assert_eq!(mode(&path), 0o600, "journal");
}

#[test]
fn a_side_folder_that_is_a_symbolic_link_is_refused_and_nothing_is_written_through_it() {
    let rig = Rig::local(&slow(0));
    let elsewhere = rig.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::create_dir_all(rig.path("journal")).expect("mkdir");
    let side = rig.path("journal/run.jsonl.d");
    std::os::unix::fs::symlink(&elsewhere, &side).expect("symlink");

    let fresh = output(&mut rig.run(Resume::No));
    assert_code(&fresh, 2);
    assert!(
        stderr(&fresh).contains(&format!("'{}' is a symbolic link", side.display())),
        "{}",
        stderr(&fresh)
    );
    assert!(!rig.journal.exists(), "no journal was started");

    // A journal made before the link appeared is not resumed through it either.
    std::fs::remove_file(&side).expect("unlink");
    assert_code(&output(&mut rig.run(Resume::No)), 0);
    std::os::unix::fs::symlink(&elsewhere, &side).expect("symlink");
    let before = sha256(&rig.journal);
    let resumed = output(&mut rig.run(Resume::Yes));
    assert_code(&resumed, 2);
    assert!(
        stderr(&resumed).contains("is a symbolic link"),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(sha256(&rig.journal), before);
    assert_eq!(std::fs::read_dir(&elsewhere).expect("read").count(), 0);
}

#[test]
fn a_log_or_a_resumed_journal_that_is_a_symbolic_link_is_not_written_through() {
    let rig = Rig::local(&slow(0));
    let target = rig.path("precious");
    std::fs::write(&target, "keep").expect("write");
    std::fs::create_dir_all(rig.path("journal")).expect("mkdir");
    std::os::unix::fs::symlink(&target, rig.path("journal/bringup.log")).expect("symlink");
    let run = output(&mut rig.run(Resume::No));
    assert_code(&run, 0);
    assert!(
        stderr(&run).contains("cannot open the log") && stderr(&run).contains("symbolic link"),
        "{}",
        stderr(&run)
    );
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");

    let moved = rig.path("real.jsonl");
    std::fs::rename(&rig.journal, &moved).expect("move journal");
    std::os::unix::fs::symlink(&moved, &rig.journal).expect("symlink");
    let before = sha256(&moved);
    let resumed = output(&mut rig.run(Resume::Yes));
    assert_code(&resumed, 2);
    assert!(
        stderr(&resumed).contains(&format!("'{}' is a symbolic link", rig.journal.display())),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(sha256(&moved), before);
}

#[test]
fn export_o_refuses_the_journal_itself_its_side_folder_and_another_journal() {
    let rig = Rig::local(&slow(0));
    assert_code(&output(&mut rig.run(Resume::No)), 0);
    let other = rig.path("other.jsonl");
    std::fs::copy(&rig.journal, &other).expect("a second journal");
    let side = rig.path("journal/run.jsonl.d");
    std::fs::create_dir_all(&side).expect("side folder");
    let link = rig.path("link.md");
    std::os::unix::fs::symlink(&rig.journal, &link).expect("symlink");
    let (journal_sha, other_sha) = (sha256(&rig.journal), sha256(&other));

    for (target, says) in [
        (rig.journal.clone(), "it is the journal being exported"),
        (
            PathBuf::from("./journal/../journal/run.jsonl"),
            "it is the journal being exported",
        ),
        (link.clone(), "it is the journal being exported"),
        (
            side.join("x.md"),
            "it is inside the side folder of the journal",
        ),
        (other.clone(), "it is a bringup journal"),
        (
            rig.path("journal/run.jsonl.sig"),
            "it is the signature of the journal",
        ),
        (
            rig.path("journal/run.jsonl.seal"),
            "it is the signed head of the journal",
        ),
        (
            rig.path("journal/run.jsonl.lock"),
            "it is the lock file of the journal",
        ),
    ] {
        let out = output(rig.export("markdown").arg("-o").arg(&target));
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains(&format!(
                "will not write the report to '{}': {says}",
                target.display()
            )),
            "{}: {}",
            target.display(),
            stderr(&out)
        );
    }
    assert_eq!(sha256(&rig.journal), journal_sha);
    assert_eq!(sha256(&other), other_sha);
    assert_eq!(std::fs::read_dir(&side).expect("read").count(), 0);
    assert_code(&rig.verify(), 0);

    // An ordinary file is written whole, with no temporary file left beside it.
    let report = rig.path("report.md");
    std::fs::write(&report, "old report").expect("write");
    assert_code(&output(rig.export("markdown").arg("-o").arg(&report)), 0);
    assert!(
        std::fs::read_to_string(&report)
            .expect("report")
            .contains("DB")
    );
    let names: Vec<String> = std::fs::read_dir(rig.dir())
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".report.md")),
        "{names:?}"
    );
}
