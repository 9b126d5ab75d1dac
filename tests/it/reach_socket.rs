//! SPEC "One picture of the run": a file-journal run listens on `<journal>.sock`, so
//! `done`, `approve` and `note` reach a headless `run` as they reach a shared one; the
//! socket is 0600, goes away at the end, is never taken by a second process the journal's
//! lock refuses, and a dead run's socket is replaced by the run that resumes it.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use crate::support::local::{bringup, finish, folder, output};
use crate::support::run::{read_journal, stderr, stdout};
use crate::support::tmux::Tmux;
use crate::support::wait::wait_for;

fn socket(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().expect("name").to_os_string();
    name.push(".sock");
    journal.with_file_name(name)
}

/// A service whose restore is a manual step (its check passes once `state` exists), and
/// one whose restore is a `confirm` step that makes `gate`.
fn runbook(state: &Path, gate: &Path) -> String {
    format!(
        r#"[runbook]
name = "reach"

[hosts.box]
transport = "local"

[[service]]
id = "vip"
name = "VIP"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f {state}"
  [[service.restore]]
  name = "move the VIP"
  manual = "Move the VIP to the standby router."

[[service]]
id = "gated"
name = "Gated"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f {gate}"
  [[service.restore]]
  name = "open the gate"
  run = "touch {gate}"
  confirm = true
"#,
        state = state.display(),
        gate = gate.display()
    )
}

struct Rig {
    dir: tempfile::TempDir,
    runbook: PathBuf,
    journal: PathBuf,
    state: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        let (dir, runbook, journal) = folder("");
        let (state, gate) = (dir.path().join("vip.up"), dir.path().join("gate.up"));
        std::fs::write(&runbook, self::runbook(&state, &gate)).expect("runbook");
        Rig {
            dir,
            runbook,
            journal,
            state,
        }
    }

    /// `bringup run --wait-for-operators` on the rig's journal, headless (stdin closed).
    fn start(&self, extra: &[&str]) -> Child {
        bringup(self.dir.path())
            .arg("run")
            .args(extra)
            .arg("--wait-for-operators")
            .arg("--journal")
            .arg(&self.journal)
            .arg(&self.runbook)
            .spawn()
            .expect("spawn run")
    }

    /// Another bringup command as `operator`, to the end (bounded).
    /// `bringup done J --service vip --step 'move the VIP'` as `operator`.
    fn done_vip(&self, operator: &str) -> Output {
        self.edge(
            &[
                "done",
                self.j(),
                "--service",
                "vip",
                "--step",
                "move the VIP",
            ],
            operator,
        )
    }

    fn edge(&self, args: &[&str], operator: &str) -> Output {
        let mut cmd = bringup(self.dir.path());
        cmd.args(args).args(["--operator", operator]);
        output(&mut cmd)
    }

    fn j(&self) -> &str {
        self.journal.to_str().expect("utf-8 path")
    }

    /// Wait until the journal has asked the question of `kind` (approval|manual).
    fn wait_asked(&self, kind: &str) {
        wait_for(&format!("an asked {kind}"), Duration::from_secs(30), || {
            self.journal.exists()
                && read_journal(&self.journal)
                    .iter()
                    .any(|e| e["kind"] == "asked" && e["question"] == kind)
        });
        wait_for("the socket", Duration::from_secs(10), || {
            socket(&self.journal).exists()
        });
    }
}

fn events(journal: &Path, kind: &str) -> Vec<serde_json::Value> {
    read_journal(journal)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

#[test]
fn done_finishes_a_manual_step_of_a_headless_file_journal_run_under_the_operators_name() {
    let rig = Rig::new();
    let run = rig.start(&["--yes"]);
    rig.wait_asked("manual");
    let sock = socket(&rig.journal);
    let meta = std::fs::symlink_metadata(&sock).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "the socket is 0600"
    );

    std::fs::write(&rig.state, "").expect("the VIP moved");
    let done = rig.done_vip("alice");
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert!(stdout(&done).contains("marked 'move the VIP' of vip done as alice"));

    let out = finish(run);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let manual = events(&rig.journal, "manual");
    assert_eq!(manual.len(), 1, "{manual:?}");
    assert_eq!(manual[0]["operator"], "alice");
    assert_eq!(manual[0]["outcome"], "done");
    let finished = events(&rig.journal, "run_finished");
    assert_eq!(finished[0]["services"]["vip"], "restored");
    assert!(!sock.exists(), "the socket goes away at the end");
}

#[test]
fn approve_and_note_reach_a_headless_file_journal_run() {
    let rig = Rig::new();
    std::fs::write(&rig.state, "").expect("vip is up");
    let run = rig.start(&[]);
    rig.wait_asked("approval");
    let note = rig.edge(&["note", rig.j(), "the gate is ours"], "bob");
    assert_eq!(note.status.code(), Some(0), "{}", stderr(&note));
    let approve = rig.edge(
        &[
            "approve",
            rig.j(),
            "--service",
            "gated",
            "--step",
            "open the gate",
        ],
        "carol",
    );
    assert_eq!(approve.status.code(), Some(0), "{}", stderr(&approve));
    let out = finish(run);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let notes = events(&rig.journal, "note");
    assert_eq!(
        (notes[0]["operator"].as_str(), notes[0]["text"].as_str()),
        (Some("bob"), Some("the gate is ours"))
    );
    let approvals = events(&rig.journal, "approval");
    assert_eq!(approvals[0]["operator"], "carol");
    assert_eq!(approvals[0]["decision"], "approved");
    assert!(!socket(&rig.journal).exists());
}

#[test]
fn a_second_process_on_the_journal_is_refused_and_does_not_take_the_socket() {
    let rig = Rig::new();
    let run = rig.start(&["--yes"]);
    rig.wait_asked("manual");
    let before = std::fs::symlink_metadata(socket(&rig.journal))
        .expect("socket")
        .ino();
    let mut second = bringup(rig.dir.path());
    second
        .args(["run", "--wait-for-operators", "--resume"])
        .arg(&rig.journal)
        .arg(&rig.runbook);
    let second = output(&mut second);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let after = std::fs::symlink_metadata(socket(&rig.journal))
        .expect("the socket is still there")
        .ino();
    assert_eq!(before, after, "the refused process replaced the socket");

    // The run that holds the lock still answers on it.
    std::fs::write(&rig.state, "").expect("the VIP moved");
    let done = rig.done_vip("alice");
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert_eq!(finish(run).status.code(), Some(0));
}

#[test]
fn a_killed_runs_socket_is_replaced_by_the_run_that_resumes_the_journal() {
    let rig = Rig::new();
    let mut run = rig.start(&["--yes"]);
    rig.wait_asked("manual");
    run.kill().expect("kill -9");
    let _ = run.wait();
    assert!(
        socket(&rig.journal).exists(),
        "a killed run leaves its socket"
    );
    let dead = rig.done_vip("alice");
    assert_eq!(dead.status.code(), Some(1), "{}", stderr(&dead));

    let mut resumed = bringup(rig.dir.path());
    let resumed = resumed
        .args(["run", "--yes", "--wait-for-operators", "--resume"])
        .arg(&rig.journal)
        .arg(&rig.runbook)
        .spawn()
        .expect("resume");
    wait_for("the question asked again", Duration::from_secs(30), || {
        events(&rig.journal, "asked")
            .iter()
            .filter(|e| e["question"] == "manual")
            .count()
            == 2
    });
    std::fs::write(&rig.state, "").expect("the VIP moved");
    let done = rig.done_vip("alice");
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert_eq!(finish(resumed).status.code(), Some(0));
}

#[test]
fn done_with_no_run_listening_says_so_and_a_missing_journal_is_bad_input() {
    let rig = Rig::new();
    std::fs::write(&rig.state, "").expect("vip is up");
    let out = output(
        bringup(rig.dir.path())
            .args(["run", "--yes", "--journal"])
            .arg(&rig.journal)
            .arg(&rig.runbook),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let done = rig.done_vip("alice");
    assert_eq!(done.status.code(), Some(1), "{}", stderr(&done));
    assert!(
        stderr(&done).contains(&format!("no run is listening on '{}'", rig.j())),
        "{}",
        stderr(&done)
    );
    let missing = rig.dir.path().join("nope.jsonl");
    let done = rig.edge(
        &[
            "done",
            missing.to_str().expect("utf-8"),
            "--service",
            "vip",
            "--step",
            "move the VIP",
        ],
        "alice",
    );
    assert_eq!(done.status.code(), Some(2), "{}", stderr(&done));
    assert!(stderr(&done).contains(&format!("no journal '{}'", missing.display())));
}

#[test]
fn done_refuses_a_step_that_is_not_waiting() {
    let rig = Rig::new();
    let run = rig.start(&[]);
    rig.wait_asked("approval");
    let wrong = rig.edge(
        &[
            "done",
            rig.j(),
            "--service",
            "gated",
            "--step",
            "open the gate",
        ],
        "alice",
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("service 'gated' is not waiting for a manual step"),
        "{}",
        stderr(&wrong)
    );
    let _ = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status();
    let out = finish(run);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn attach_on_a_file_journal_shows_the_run_and_marks_its_manual_step_as_the_attached_operator() {
    let rig = Rig::new();
    let run = rig.start(&["--yes", "--operator", "kim"]);
    rig.wait_asked("manual");
    let exit = rig.dir.path().join("attach.exit");
    let tmux = Tmux::start(
        "reach",
        &format!(
            "'{}' attach '{}' --operator lee; echo $? > '{}'; sleep 60",
            assert_cmd::cargo::cargo_bin("bringup").display(),
            rig.j(),
            exit.display()
        ),
    );
    tmux.wait_for("lee attached to kim", 30);
    // The manual step's question opens by itself on the attached screen.
    let screen = tmux.wait_for("Move the VIP to the standby router.", 30);
    assert!(screen.contains("vip"), "{screen}");
    std::fs::write(&rig.state, "").expect("the VIP moved");
    std::thread::sleep(Duration::from_millis(400));
    tmux.keys("d");
    let out = finish(run);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    tmux.wait_for("run has ended", 30);
    tmux.keys("q");
    wait_for("attach to end", Duration::from_secs(10), || exit.exists());
    assert_eq!(
        std::fs::read_to_string(&exit).expect("exit").trim(),
        "0",
        "q detaches with 0"
    );
    let manual = events(&rig.journal, "manual");
    assert_eq!(manual[0]["operator"], "lee", "{manual:?}");
    assert_eq!(manual[0]["outcome"], "done");
}

#[test]
fn attach_read_only_on_a_file_journal_watches_and_sends_nothing() {
    crate::require!(Tmux);
    let rig = Rig::new();
    let run = rig.start(&["--yes", "--operator", "kim"]);
    rig.wait_asked("manual");
    let tmux = Tmux::start(
        "reach",
        &format!(
            "'{}' attach '{}' --read-only --operator audit; sleep 60",
            assert_cmd::cargo::cargo_bin("bringup").display(),
            rig.j(),
        ),
    );
    let screen = tmux.wait_for("audit watching (read-only) kim", 30);
    assert!(
        !screen.contains("Move the VIP to the standby router."),
        "no question opens on a read-only screen:\n{screen}"
    );
    std::thread::sleep(Duration::from_millis(400));
    // Every key that acts on a run: mark the manual step, a note, auto mode, a take-over.
    for keys in ["d", "n", "a", "T"] {
        tmux.keys(keys);
    }
    tmux.keys("left the DC");
    tmux.keys("Enter");
    tmux.wait_for("read-only: this screen sends nothing", 30);
    std::fs::write(&rig.state, "").expect("the VIP moved");
    let done = rig.done_vip("kim");
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let out = finish(run);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    tmux.wait_for("run has ended", 30);
    let journal = read_journal(&rig.journal);
    let by_audit: Vec<_> = journal
        .iter()
        .filter(|e| e["operator"] == "audit")
        .collect();
    assert!(by_audit.is_empty(), "the watcher acted: {by_audit:?}");
    assert_eq!(events(&rig.journal, "manual")[0]["operator"], "kim");
    assert!(events(&rig.journal, "note").is_empty());
    assert!(events(&rig.journal, "request_refused").is_empty());
}
