//! Journals made by `bringup run` itself (local transport), taken through the binary:
//! `--resume` semantics (a changed runbook, `--force`, `resumed {from_seq}`, re-checking what
//! was in flight, a torn last line), the status notice of a run whose IMAP restore failed, and
//! `verify` naming the seq of any tampered line.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::events::kind;
use crate::support::local::output;
use crate::support::run::{stderr, stdout};
use serde_json::Value;

crate::file_rig!(
    /// The shared local rig (a runbook whose steps keep their state in `state/`) with this file's
    /// runs: `TMPDIR` in the rig, the state folder passed as `--var state=…`.
    Rig
);

impl Rig {
    fn new(toml: &str) -> Rig {
        Rig(crate::support::rig::Rig::local(toml))
    }

    /// The binary, with `TMPDIR` in the rig so the commands' markers can be looked at.
    fn bringup(&self) -> Command {
        let mut cmd = crate::support::local::bringup(self.dir());
        cmd.env("TMPDIR", self.tmp());
        cmd
    }

    fn tmp(&self) -> PathBuf {
        let tmp = self.dir().join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp dir");
        tmp
    }

    /// `${TMPDIR}/bringup-$UID/`, where markers live.
    fn markers(&self) -> PathBuf {
        self.tmp()
            .join(format!("bringup-{}", nix::unistd::Uid::current()))
    }

    /// `run --yes` in the background; returns once `ready` holds (bounded), to be killed.
    fn spawn_until(&self, what: &str, ready: impl Fn(&Rig) -> bool) -> std::process::Child {
        let mut child = self
            .run(false, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn run");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(self) {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child
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

/// A restore that logs `r-start PID` and `r-end PID` in `{{state}}/log` around `secs` of
/// sleep, and logs `overlap PID` first if another copy of it is still alive.
fn logged_restore(secs: u32) -> String {
    format!(
        "for p in $(cat {{{{state}}}}/pids 2>/dev/null); do kill -0 $p 2>/dev/null && echo overlap $p >> {{{{state}}}}/log; done; \
echo $$ >> {{{{state}}}}/pids; echo r-start $$ >> {{{{state}}}}/log; sleep {secs}; echo r-end $$ >> {{{{state}}}}/log; touch {{{{state}}}}/slow.up"
    )
}

/// The pids the logged restore recorded, once the first one is complete on disk.
fn first_pid(rig: &Rig) -> Option<i32> {
    let log = std::fs::read_to_string(rig.state.join("log")).ok()?;
    log.lines()
        .find_map(|l| l.strip_prefix("r-start "))
        .and_then(|p| p.trim().parse().ok())
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[test]
fn a_step_in_flight_at_a_crash_is_checked_again_then_restored_on_resume() {
    let toml = one_service(
        "slow",
        "Slow",
        "test -f {{state}}/slow.up",
        &[("wait for storage", &logged_restore(2))],
    );
    let rig = Rig::new(&toml);
    // Ready once the restore's own log names its shell: a line is written whole or not at all.
    let mut child = rig.spawn_until("the restore to start", |rig| first_pid(rig).is_some());
    child.kill().expect("SIGKILL bringup");
    child.wait().expect("reap");
    let first = first_pid(&rig).expect("first copy");
    let before = rig.events();
    let last = before
        .iter()
        .rev()
        .find(|e| kind(e) == "service_state")
        .expect("states");
    assert_eq!(field(last, "to"), "restoring");

    let out = output(&mut rig.run(true, &[]));
    assert_code(&out, 0);
    assert!(!alive(first), "the first copy is gone");
    let events = rig.events();
    let after = &events[before.len()..];
    assert_eq!(kind(&after[0]), "resumed");
    let settled = after
        .iter()
        .find(|e| kind(e) == "step_finished" && field(e, "step") == "wait for storage")
        .expect("the step in flight is settled");
    assert!(
        ["error", "unknown"].contains(&field(settled, "outcome")),
        "{settled}"
    );
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
fn kill_9_mid_restore_then_resume_at_once_stops_the_orphan_before_a_second_copy_starts() {
    let toml = one_service(
        "slow",
        "Slow",
        "test -f {{state}}/slow.up",
        &[("start slowly", &logged_restore(4))],
    );
    let rig = Rig::new(&toml);
    let mut child = rig.spawn_until("the restore to start", |rig| first_pid(rig).is_some());
    child.kill().expect("SIGKILL bringup");
    child.wait().expect("reap");
    let first = first_pid(&rig).expect("first copy");
    assert!(alive(first), "the restore outlives bringup");
    // Its marker holds its process group, named by the run and its step_started's seq.
    let started = rig
        .events()
        .into_iter()
        .find(|e| kind(e) == "step_started" && field(e, "step") == "start slowly")
        .expect("step_started");
    let run_id = rig.events()[0]["hash"].as_str().expect("hash")[..16].to_string();
    let marker = rig
        .markers()
        .join(format!("{run_id}-{}.pid", started["seq"]));
    assert_eq!(
        std::fs::read_to_string(&marker).expect("marker").trim(),
        first.to_string()
    );

    let out = output(&mut rig.run(true, &[]));
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("still running") && stderr(&out).contains("stopping it"),
        "the operator is told: {}",
        stderr(&out)
    );
    let log = std::fs::read_to_string(rig.state.join("log")).expect("log");
    assert!(!log.contains("overlap"), "two copies ran at once:\n{log}");
    let starts = log.lines().filter(|l| l.starts_with("r-start")).count();
    let ends: Vec<&str> = log.lines().filter(|l| l.starts_with("r-end")).collect();
    assert_eq!((starts, ends.len()), (2, 1), "{log}");
    assert!(
        !ends[0].contains(&first.to_string()),
        "the first copy was stopped:\n{log}"
    );
    let events = rig.events();
    let orphan = events
        .iter()
        .find(|e| kind(e) == "step_finished" && field(e, "step") == "start slowly")
        .expect("the orphan is journaled");
    assert_eq!(field(orphan, "outcome"), "error");
    assert!(
        field(orphan, "error").contains("still running when the run resumed")
            && field(orphan, "error").contains("stopped on resume"),
        "{orphan}"
    );
    let restarted = events
        .iter()
        .filter(|e| kind(e) == "step_started" && field(e, "step") == "start slowly")
        .nth(1)
        .expect("restored again");
    assert!(restarted["seq"].as_u64() > orphan["seq"].as_u64());
    assert!(!marker.exists(), "the stopped orphan's marker is removed");
}

#[test]
fn markers_live_in_a_0700_folder_and_are_removed_when_their_command_ends() {
    use std::os::unix::fs::PermissionsExt as _;
    let toml = one_service(
        "web",
        "Web",
        "test -f {{state}}/web.up",
        &[(
            "start",
            "ls ${TMPDIR}/bringup-$(id -u)/ > {{state}}/seen; cat ${TMPDIR}/bringup-$(id -u)/*.pid > {{state}}/held; echo $$ > {{state}}/me; exit 0; touch {{state}}/web.up",
        )],
    );
    let rig = Rig::new(&toml);
    let out = output(&mut rig.run(false, &[]));
    assert_code(&out, 1);
    let mode = std::fs::metadata(rig.markers())
        .expect("marker folder")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let seen = std::fs::read_to_string(rig.state.join("seen")).expect("seen");
    assert_eq!(seen.lines().count(), 1, "one marker while it ran: {seen}");
    assert_eq!(
        std::fs::read_to_string(rig.state.join("held"))
            .expect("held")
            .trim(),
        std::fs::read_to_string(rig.state.join("me"))
            .expect("me")
            .trim(),
        "the marker holds the command's process group"
    );
    let left: Vec<_> = std::fs::read_dir(rig.markers())
        .expect("read markers")
        .collect();
    assert!(left.is_empty(), "markers left behind: {left:?}");
}

#[test]
fn a_service_restored_before_a_kill_9_and_broken_since_is_checked_restored_again_with_approval() {
    // `web` restores at once; `slow` (tier 2) is mid-restore when bringup is killed.
    let toml = format!(
        "{LOCAL}[[service]]\nid = \"web\"\nname = \"Web\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {{{{state}}}}/web.up\"\n\n\
[[service.restore]]\nname = \"start web\"\nrun = \"echo web >> {{{{state}}}}/web.log; touch {{{{state}}}}/web.up\"\n\n\
[[service]]\nid = \"slow\"\nname = \"Slow\"\ntier = 2\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {{{{state}}}}/slow.up\"\n\n\
[[service.restore]]\nname = \"start slowly\"\nrun = \"{}\"\n\n",
        logged_restore(3)
    );
    let rig = Rig::new(&toml);
    let mut child = rig.spawn_until("slow's restore", |rig| first_pid(rig).is_some());
    child.kill().expect("SIGKILL bringup");
    child.wait().expect("reap");
    let before = rig.events();
    assert!(
        before.iter().any(|e| kind(e) == "service_state"
            && field(e, "service") == "web"
            && field(e, "to") == "restored"),
        "web was restored before the crash"
    );
    std::fs::remove_file(rig.state.join("web.up")).expect("break web");

    let out = output(&mut rig.run(true, &[]));
    assert_code(&out, 0);
    let events = rig.events();
    let after = &events[before.len()..];
    let web_check = after
        .iter()
        .position(|e| kind(e) == "step_started" && field(e, "service") == "web")
        .expect("web checked again");
    assert_eq!(field(&after[web_check], "phase"), "check");
    let approval = after
        .iter()
        .position(|e| kind(e) == "approval" && field(e, "step") == "start web")
        .expect("approval journaled");
    assert_eq!(field(&after[approval], "decision"), "approved");
    assert_eq!(field(&after[approval], "operator"), "tester");
    let rerun = after
        .iter()
        .position(|e| kind(e) == "step_started" && field(e, "step") == "start web")
        .expect("web's restore runs again");
    assert!(web_check < approval && approval < rerun);
    assert_eq!(
        std::fs::read_to_string(rig.state.join("web.log")).expect("web log"),
        "web\nweb\n"
    );
    assert_eq!(events.last().expect("end")["services"]["web"], "restored");

    let json = output(
        rig.bringup()
            .arg("export")
            .arg(&rig.journal)
            .args(["--format", "json"]),
    );
    assert_code(&json, 0);
    let doc: Value = serde_json::from_slice(&json.stdout).expect("json export");
    let web = doc["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["id"] == "web")
        .expect("web");
    let outages = web["outages"].as_array().expect("outages");
    assert_eq!(
        outages.len(),
        2,
        "found down, then down again after resume: {web}"
    );
    let markdown = output(
        rig.bringup()
            .arg("export")
            .arg(&rig.journal)
            .args(["--format", "markdown"]),
    );
    assert_code(&markdown, 0);
    assert_eq!(code(&rig.verify()), Some(0));
}

#[test]
fn without_yes_or_a_terminal_a_recorded_step_is_not_run_again_after_a_new_outage() {
    let toml = one_service(
        "web",
        "Web",
        "test -f {{state}}/web.up",
        &[(
            "start web",
            "echo web >> {{state}}/web.log; touch {{state}}/web.up",
        )],
    );
    let rig = Rig::new(&toml);
    assert_code(&output(&mut rig.run(false, &[])), 0);
    std::fs::remove_file(rig.state.join("web.up")).expect("break web");
    let mut resume = rig.bringup();
    resume
        .arg("run")
        .arg(&rig.runbook)
        .arg("--var")
        .arg(format!("state={}", rig.state.display()))
        .arg("--resume")
        .arg(&rig.journal);
    let out = output(&mut resume);
    assert_code(&out, 1);
    assert_eq!(
        std::fs::read_to_string(rig.state.join("web.log")).expect("web log"),
        "web\n",
        "not run again without approval"
    );
    let events = rig.events();
    assert!(
        events
            .iter()
            .any(|e| kind(e) == "approval" && field(e, "decision") == "declined"),
        "the refusal is journaled"
    );
    assert_eq!(events.last().expect("end")["services"]["web"], "failed");
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
/// About 40 KB of output in pieces of 1 KB a little over 100 ms apart: each piece is a
/// `step_output` chunk of its own, so the journal fills up part-way through the step.
const NOISY: &str = "for i in $(seq 1 40); do for j in 1 2 3 4 5 6 7 8 9 10; do echo line $i.$j of a noisy restore step padded out to a hundred bytes or so ........; done; sleep 0.12; done";

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
    let mut sh = crate::support::local::under_sh(
        rig.dir(),
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

#[test]
fn the_printed_continue_command_works_and_never_shows_a_secret() {
    const SECRET: &str = "hunter2-very-secret";
    let toml = format!(
        "[runbook]\nname = \"local drill\"\nsecret_vars = [\"token\"]\n\n[defaults]\ntimeout = \"20s\"\n\n\
[vars]\nstate = \"/nonexistent\"\n\n[hosts.op]\ntransport = \"local\"\n\n\
[[service]]\nid = \"vault\"\nname = \"Vault\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {{{{state}}}}/up\"\n\n\
[[service.restore]]\nname = \"unseal\"\nrun = \"test {{{{token}}}} = {SECRET} && test -f {{{{state}}}}/fixed && touch {{{{state}}}}/up\"\n"
    );
    let rig = Rig::new(&toml);
    let token = format!("token={SECRET}");
    let first = output(&mut rig.run(false, &["--var", &token]));
    assert_code(&first, 1);
    let err = stderr(&first);
    assert!(!err.contains(SECRET), "{err}");
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("continue: "))
        .unwrap_or_else(|| panic!("a continue line: {err}"));
    assert!(
        line.contains("--var-env 'token=BRINGUP_VAR_TOKEN'"),
        "{line}"
    );
    assert!(
        err.contains("set BRINGUP_VAR_TOKEN to the secret first"),
        "{err}"
    );
    // The printed command, run as printed (with the secret in the environment it names),
    // continues the run: the restore now succeeds.
    std::fs::write(rig.state.join("fixed"), "").expect("fix");
    let words = shlex::split(line).expect("a shell command");
    assert_eq!(words[0], "bringup");
    let mut again = rig.bringup();
    again.args(&words[1..]).env("BRINGUP_VAR_TOKEN", SECRET);
    let second = output(&mut again);
    assert_code(&second, 0);
    assert!(rig.state.join("up").exists());
    assert!(
        !std::fs::read_to_string(&rig.journal)
            .expect("journal")
            .contains(SECRET)
    );
}
