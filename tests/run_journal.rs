//! Journals made by `bringup run` itself (local transport), taken through the binary:
//! `--resume` semantics (a changed runbook, `--force`, `resumed {from_seq}`, re-checking what
//! was in flight, a torn last line), the status notice of a run whose IMAP restore failed, and
//! `verify` naming the seq of any tampered line.

mod support;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::local::output;
use support::run::{read_journal, stderr, stdout};

/// A runbook on the local transport whose steps keep their state in `state/`.
struct Rig {
    dir: tempfile::TempDir,
    runbook: PathBuf,
    state: PathBuf,
    journal: PathBuf,
}

impl Rig {
    fn new(toml: &str) -> Rig {
        let (dir, runbook, journal) = support::local::folder(toml);
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        Rig {
            dir,
            runbook,
            state,
            journal,
        }
    }

    fn bringup(&self) -> Command {
        support::local::bringup(self.dir.path())
    }

    /// `bringup run --yes`, new journal or `--resume`, plus `extra` arguments.
    fn run(&self, resume: bool, extra: &[&str]) -> Command {
        let mut cmd = self.bringup();
        cmd.arg("run").arg(&self.runbook).arg("--yes").arg("--var");
        cmd.arg(format!("state={}", self.state.display()));
        cmd.arg(if resume { "--resume" } else { "--journal" })
            .arg(&self.journal);
        cmd.args(extra);
        cmd
    }

    fn verify(&self) -> Output {
        output(self.bringup().arg("verify").arg(&self.journal))
    }

    fn events(&self) -> Vec<Value> {
        read_journal(&self.journal)
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

#[track_caller]
fn assert_code(out: &Output, expected: i32) {
    assert_eq!(code(out), Some(expected), "{}", stderr(out));
}

/// Exit 3, saying the journal cannot be written.
#[track_caller]
fn assert_journal_unwritable(out: &Output) {
    assert_code(out, 3);
    assert!(
        stderr(out).contains("journal cannot be written"),
        "{}",
        stderr(out)
    );
}

fn kind(e: &Value) -> &str {
    e["kind"].as_str().unwrap_or_default()
}

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_default()
}

const LOCAL: &str = "[runbook]\nname = \"local drill\"\n\n[defaults]\ntimeout = \"20s\"\n\n\
[vars]\nstate = \"/nonexistent\"\n\n[hosts.op]\ntransport = \"local\"\n\n";

/// `LOCAL` and one tier-1 service on `op`: a check named `up` running `check`, then
/// `restores` as (name, run) in order.
fn one_service(id: &str, name: &str, check: &str, restores: &[(&str, &str)]) -> String {
    let mut toml = format!(
        "{LOCAL}[[service]]\nid = \"{id}\"\nname = \"{name}\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"{check}\"\n\n"
    );
    for (step, run) in restores {
        let _ = write!(
            toml,
            "[[service.restore]]\nname = \"{step}\"\nrun = \"{run}\"\n\n"
        );
    }
    toml
}

/// Two services: `web` restores by touching its state file; `mail-imap` fails to restore
/// until `{{state}}/fixed` exists.
fn two_services() -> String {
    format!(
        "{LOCAL}[[service]]\nid = \"talk-messaging\"\nname = \"Messaging\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"gateway\"\nfeature = \"Send and receive messages\"\nrun = \"test -f {{{{state}}}}/msg.up\"\n\n\
[[service.restore]]\nname = \"start gateway\"\nrun = \"echo starting; touch {{{{state}}}}/msg.up\"\n\n\
[[service]]\nid = \"mail-imap\"\nname = \"Mail IMAP\"\ntier = 2\nhosts = [\"op\"]\ndepends_on = [\"talk-messaging\"]\n\n\
[[service.check]]\nname = \"imapd\"\nfeature = \"Read mail over IMAP\"\nrun = \"test -f {{{{state}}}}/imap.up\"\n\n\
[[service.restore]]\nname = \"start imapd\"\nrun = \"test -f {{{{state}}}}/fixed || {{ echo 'imapd: mail store not mounted' >&2; exit 1; }}; touch {{{{state}}}}/imap.up\"\n\n"
    )
}

#[test]
fn status_of_a_real_run_whose_imap_restore_failed_lists_imap_as_still_recovering() {
    let rig = Rig::new(&two_services());
    let run = output(&mut rig.run(false, &[]));
    assert_eq!(code(&run), Some(1), "imap fails: {}", stderr(&run));
    let events = rig.events();
    let last = events.last().expect("events");
    assert_eq!(kind(last), "run_finished");
    assert_eq!(last["services"]["talk-messaging"], "restored");
    assert_eq!(last["services"]["mail-imap"], "failed");

    let out = output(
        rig.bringup()
            .arg("export")
            .arg(&rig.journal)
            .args(["--format", "status"]),
    );
    assert_code(&out, 0);
    let text = stdout(&out);
    let (available, recovering) = text
        .split_once("## Still recovering")
        .expect("a 'Still recovering' section");
    let available = available
        .split_once("## Available now")
        .expect("an 'Available now' section")
        .1;
    assert!(available.contains("- Send and receive messages"), "{text}");
    assert!(!available.contains("IMAP"), "{text}");
    assert!(recovering.contains("- Read mail over IMAP"), "{text}");
    assert!(!recovering.contains("Send and receive"), "{text}");
}

#[test]
fn every_flipped_byte_of_a_real_run_journal_fails_verify_naming_its_seq() {
    let rig = Rig::new(&two_services());
    let run = output(&mut rig.run(false, &[]));
    assert_code(&run, 1);
    let intact = std::fs::read(&rig.journal).expect("journal");
    assert_eq!(code(&rig.verify()), Some(0));

    let mut rng = fastrand::Rng::with_seed(7);
    let mut start = 0;
    let mut seq = 0u64;
    let mut tried = 0;
    while start < intact.len() {
        let end = start
            + intact[start..]
                .iter()
                .position(|b| *b == b'\n')
                .expect("every line ends in a newline");
        seq += 1;
        // One byte somewhere in the line (never its newline), one bit changed.
        let at = rng.usize(start..end);
        let mut bad = intact.clone();
        bad[at] ^= 0x01;
        std::fs::write(&rig.journal, &bad).expect("write tampered journal");
        let out = rig.verify();
        assert_eq!(
            code(&out),
            Some(1),
            "byte {at} of seq {seq} flipped: {}",
            stdout(&out)
        );
        assert!(
            stdout(&out).contains(&format!("first bad seq {seq}\n")),
            "byte {at} of seq {seq} flipped; verify said: {}{}",
            stdout(&out),
            stderr(&out)
        );
        tried += 1;
        start = end + 1;
    }
    assert!(tried >= 10, "the run journaled {tried} events");
    std::fs::write(&rig.journal, &intact).expect("restore journal");
    assert_eq!(code(&rig.verify()), Some(0));
}

#[test]
fn resume_refuses_a_changed_runbook_unless_forced_and_records_the_force() {
    let rig = Rig::new(&two_services());
    let first = output(&mut rig.run(false, &[]));
    assert_code(&first, 1);
    let before = std::fs::read(&rig.journal).expect("journal");
    let last_seq = rig.events().last().expect("events")["seq"].as_u64();

    let mut changed = two_services();
    changed.push_str("# edited after the run began\n");
    std::fs::write(&rig.runbook, changed).expect("edit runbook");
    let refused = output(&mut rig.run(true, &[]));
    assert_code(&refused, 2);
    assert!(stderr(&refused).contains("changed"), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    assert_eq!(
        std::fs::read(&rig.journal).expect("journal"),
        before,
        "a refused resume writes nothing"
    );

    std::fs::write(rig.state.join("fixed"), "").expect("fix imap");
    let forced = output(&mut rig.run(true, &["--force"]));
    assert_ne!(code(&forced), Some(2), "{}", stderr(&forced));
    let events = rig.events();
    let resumed: Vec<&Value> = events.iter().filter(|e| kind(e) == "resumed").collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["forced"], true);
    assert_eq!(resumed[0]["from_seq"].as_u64(), last_seq);
    assert_eq!(code(&rig.verify()), Some(0));
}

#[test]
fn resume_of_an_unchanged_runbook_records_from_seq_without_force() {
    let rig = Rig::new(&two_services());
    assert_eq!(code(&output(&mut rig.run(false, &[]))), Some(1));
    let last_seq = rig.events().last().expect("events")["seq"].as_u64();
    let out = output(&mut rig.run(true, &[]));
    assert_ne!(code(&out), Some(2), "{}", stderr(&out));
    let events = rig.events();
    let resumed = events
        .iter()
        .find(|e| kind(e) == "resumed")
        .expect("a resumed event");
    assert_eq!(resumed["from_seq"].as_u64(), last_seq);
    assert_ne!(resumed["forced"], true, "nothing was forced: {resumed}");
    assert_eq!(resumed["seq"].as_u64(), last_seq.map(|s| s + 1));
}

#[test]
fn a_step_in_flight_at_a_crash_is_checked_again_then_restored_on_resume() {
    // The restore waits (bounded) for `go`; its shell's pid is left in `pid` so the test can
    // stop exactly that process group after killing bringup.
    let toml = one_service(
        "slow",
        "Slow",
        "test -f {{state}}/slow.up",
        &[(
            "wait for storage",
            "echo $$ > {{state}}/pid; for i in $(seq 1 100); do test -f {{state}}/go && break; sleep 0.1; done; test -f {{state}}/go && touch {{state}}/slow.up",
        )],
    );
    let rig = Rig::new(&toml);
    let mut child = rig
        .run(false, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let deadline = Instant::now() + Duration::from_secs(30);
    let in_flight = |rig: &Rig| {
        rig.journal.exists()
            && std::fs::read_to_string(&rig.journal)
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("\"kind\":\"step_started\"") && l.contains("wait for storage"))
            && rig.state.join("pid").exists()
    };
    while !in_flight(&rig) {
        assert!(Instant::now() < deadline, "the restore never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL bringup");
    child.wait().expect("reap");
    // The step's shell outlives bringup (own process group); stop it, by its id.
    let pid: i32 = std::fs::read_to_string(rig.state.join("pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let before = rig.events();
    let last = before
        .iter()
        .rev()
        .find(|e| kind(e) == "service_state")
        .expect("states");
    assert_eq!(field(last, "to"), "restoring");

    std::fs::write(rig.state.join("go"), "").expect("storage is back");
    let out = output(&mut rig.run(true, &[]));
    assert_code(&out, 0);
    let events = rig.events();
    let after = &events[before.len()..];
    assert_eq!(kind(&after[0]), "resumed");
    let steps: Vec<(&str, &str)> = after
        .iter()
        .filter(|e| kind(e) == "step_started")
        .map(|e| (field(e, "phase"), field(e, "step")))
        .collect();
    assert_eq!(
        steps.first(),
        Some(&("check", "up")),
        "the service in flight is checked first: {steps:?}"
    );
    assert!(
        steps.contains(&("restore", "wait for storage")),
        "the unfinished restore runs again: {steps:?}"
    );
    assert_eq!(
        events.last().expect("events")["services"]["slow"],
        "restored"
    );
    assert_eq!(code(&rig.verify()), Some(0));
}

#[test]
fn a_journal_with_a_torn_last_line_verifies_with_a_warning_and_resumes() {
    let rig = Rig::new(&two_services());
    assert_eq!(code(&output(&mut rig.run(false, &[]))), Some(1));
    let last_seq = rig.events().last().expect("events")["seq"]
        .as_u64()
        .expect("seq");
    let intact_len = std::fs::metadata(&rig.journal).expect("journal").len();
    let torn = format!("{{\"seq\":{},\"ts\":\"2026-11-22T08:", last_seq + 1);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&rig.journal)
        .expect("open journal");
    std::io::Write::write_all(&mut file, torn.as_bytes()).expect("tear");
    drop(file);

    let verify = rig.verify();
    assert_code(&verify, 0);
    assert!(stderr(&verify).contains("torn"), "{}", stderr(&verify));

    let out = output(&mut rig.run(true, &[]));
    assert_ne!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("torn"), "{}", stderr(&out));
    let text = std::fs::read_to_string(&rig.journal).expect("journal");
    assert!(
        !text.contains(&torn),
        "the torn bytes are cut away before appending"
    );
    let resumed = rig
        .events()
        .into_iter()
        .find(|e| kind(e) == "resumed")
        .expect("resumed");
    assert_eq!(resumed["from_seq"].as_u64(), Some(last_seq));
    assert_eq!(resumed["seq"].as_u64(), Some(last_seq + 1));
    assert!(std::fs::metadata(&rig.journal).expect("journal").len() > intact_len);
    let after = rig.verify();
    assert_code(&after, 0);
    assert!(!stderr(&after).contains("torn"), "{}", stderr(&after));
}

/// A restore's worth of output lines (about 100 bytes each) that floods a small journal.
const NOISY: &str = "for i in $(seq 1 400); do echo line $i of a noisy restore step padded out to a hundred bytes or so ..........; done";

/// `bringup run --yes` with its file size limited to `blocks` × 512 bytes and SIGXFSZ
/// ignored, so a journal append past the limit fails with EFBIG.
fn limited_run(rig: &Rig, blocks: u64) -> Command {
    limited(rig, blocks, "--journal")
}

/// `bringup run --yes --resume` of `rig`'s journal, its file size limited as in `limited_run`.
fn limited_resume(rig: &Rig, blocks: u64) -> Command {
    limited(rig, blocks, "--resume")
}

fn limited(rig: &Rig, blocks: u64, journal_flag: &str) -> Command {
    let mut sh = support::local::under_sh(
        rig.dir.path(),
        &format!("trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""),
    );
    sh.args(["run", "--yes", journal_flag])
        .arg(&rig.journal)
        .arg("--var")
        .arg(format!("state={}", rig.state.display()))
        .arg(&rig.runbook);
    sh
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_run_with_exit_3_and_runs_nothing_more() {
    // The first restore step floods the journal with output; the file-size limit (with
    // SIGXFSZ ignored, so writes fail with EFBIG) makes an append fail part-way through.
    let toml = one_service(
        "flood",
        "Flood",
        "test -f {{state}}/flood.up",
        &[
            ("noisy", NOISY),
            ("after", "touch {{state}}/after.ran {{state}}/flood.up"),
        ],
    );
    let rig = Rig::new(&toml);
    let out = output(&mut limited_run(&rig, 24));
    assert_journal_unwritable(&out);
    assert!(
        !rig.state.join("after.ran").exists(),
        "no step runs once the journal cannot record it"
    );
    let len = std::fs::metadata(&rig.journal).expect("journal").len();
    assert!(len <= 24 * 512, "the limit held: {len} bytes");
    let verify = rig.verify();
    assert_eq!(
        code(&verify),
        Some(0),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );
    assert!(
        rig.events().iter().any(|e| kind(e) == "step_output"),
        "the run got as far as the noisy step's output"
    );
}

#[test]
fn when_the_journal_fails_the_running_step_is_stopped_on_its_host() {
    // The step floods the journal, then a part of it in the background would touch `late`
    // two seconds on: stopping the run must stop the step's whole process group.
    let noisy = format!("(sleep 2; touch {{{{state}}}}/late) & {NOISY}; wait");
    let toml = one_service(
        "flood",
        "Flood",
        "test -f {{state}}/flood.up",
        &[("noisy", &noisy)],
    );
    let rig = Rig::new(&toml);
    let out = output(&mut limited_run(&rig, 24));
    assert_code(&out, 3);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !rig.state.join("late").exists(),
        "the step went on after the run stopped"
    );
}

#[test]
fn a_journal_that_cannot_be_written_on_resume_exits_3_runs_nothing_and_stays_intact() {
    let toml = one_service(
        "web",
        "Web",
        "touch {{state}}/checked; test -f {{state}}/web.up",
        &[("fix", "false")],
    );
    let rig = Rig::new(&toml);
    assert_eq!(code(&output(&mut rig.run(false, &[]))), Some(1));
    std::fs::remove_file(rig.state.join("checked")).expect("the first run checked");
    let before = std::fs::read(&rig.journal).expect("journal");
    // Below the journal's size: not one more byte can be appended.
    let blocks = before.len() as u64 / 512;
    let out = output(&mut limited_resume(&rig, blocks));
    assert_journal_unwritable(&out);
    assert!(
        !rig.state.join("checked").exists(),
        "nothing is re-checked once the journal cannot record it"
    );
    assert_eq!(std::fs::read(&rig.journal).expect("journal"), before);
    assert_eq!(code(&rig.verify()), Some(0));
}
