//! Continuing an interrupted drill through the real binary on the local transport (SPEC
//! "Drills", "Resume"): the command printed when a drill is stopped, pasted as is, goes on
//! with the same drill (its scenario, phases and verdict), and an inject already started is
//! not started again; a drill killed outright goes on as a drill too; a resume that asks for
//! another run than the journal records is refused with the command that continues it; a
//! shared drill (etcd) goes on as its drill, and a resume as another run is refused there too.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::Duration;

use crate::support::etcd::{Cluster, events};
use crate::support::local::{bringup, finish, output};
use crate::support::run::{read_journal, stderr, stdout};
use crate::support::wait::{gate, wait_for};
use serde_json::Value;

/// How many inject steps `db` has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DbInjects {
    /// `stop db`.
    One,
    /// `stop db`, then `poison db`, which leaves `<dir>/db.poisoned`.
    Two,
}

/// Three services in three tiers (`dns` ← `db` ← `web`), each up while `<dir>/<id>.up`
/// exists; an inject removes the file, then waits while `<dir>/inject-<id>` exists.
/// Scenarios `all` (every tier) and `dns`.
fn runbook(dir: &Path, db_injects: DbInjects) -> PathBuf {
    let d = dir.display();
    let mut text =
        String::from("[runbook]\nname = \"resumes\"\n\n[hosts.box]\ntransport = \"local\"\n");
    for (id, tier, deps) in [("dns", 1, ""), ("db", 2, "\"dns\""), ("web", 3, "\"db\"")] {
        let inject = gate(dir, &format!("inject-{id}"));
        let _ = write!(
            text,
            r#"
[[service]]
id = "{id}"
name = "{id}"
tier = {tier}
hosts = ["box"]
depends_on = [{deps}]
  [[service.check]]
  name = "up"
  run = "test -f {d}/{id}.up"
  timeout = "5s"
  [[service.restore]]
  name = "start {id}"
  run = "touch {d}/{id}.up"
  [[service.inject]]
  name = "stop {id}"
  run = "rm -f {d}/{id}.up; {inject}"
"#
        );
        if id == "db" && db_injects == DbInjects::Two {
            let _ = write!(
                text,
                "  [[service.inject]]\n  name = \"poison db\"\n  run = \"touch {d}/db.poisoned\"\n"
            );
        }
    }
    text += "\n[[scenario]]\nid = \"all\"\ninject = [\"@tier:1\", \"@tier:2\", \"@tier:3\"]\n";
    text += "\n[[scenario]]\nid = \"dns\"\ninject = [\"dns\"]\n";
    let path = dir.join("rb.toml");
    fs::write(&path, text).expect("write runbook");
    path
}

struct Rig {
    dir: tempfile::TempDir,
    runbook: PathBuf,
    journal: PathBuf,
}

impl Rig {
    /// Every service up, `gates` closed.
    fn new(gates: &[&str]) -> Rig {
        Rig::with(gates, DbInjects::One)
    }

    /// Every service up, `gates` closed, `db` with `db_injects`.
    fn with(gates: &[&str], db_injects: DbInjects) -> Rig {
        let dir = tempfile::tempdir().expect("temp dir");
        for id in ["dns", "db", "web"] {
            fs::write(dir.path().join(format!("{id}.up")), "").expect("up");
        }
        for g in gates {
            fs::write(dir.path().join(g), "").expect("gate");
        }
        let runbook = runbook(dir.path(), db_injects);
        let journal = dir.path().join("journal/drill.jsonl");
        Rig {
            dir,
            runbook,
            journal,
        }
    }

    /// `bringup run --drill --scenario all`, started.
    fn drill(&self) -> Child {
        bringup(self.dir.path())
            .args(["run", "--drill", "--scenario", "all", "--journal"])
            .arg(&self.journal)
            .arg(&self.runbook)
            .spawn()
            .expect("spawn bringup")
    }

    /// Wait until `service`'s inject step started and removed its file.
    fn wait_injecting(&self, service: &str) {
        wait_for(
            &format!("{service}'s inject"),
            Duration::from_secs(30),
            || {
                lossy(&self.journal).iter().any(|e| {
                    e["kind"] == "step_started" && e["service"] == service && e["phase"] == "inject"
                }) && !self.dir.path().join(format!("{service}.up")).exists()
            },
        );
    }

    fn open(&self, gate: &str) {
        fs::remove_file(self.dir.path().join(gate)).expect("open the gate");
    }

    /// `command` as an operator pastes it into a shell in the rig's folder, `bringup` on
    /// the PATH.
    fn paste(&self, command: &str) -> Output {
        let bin = assert_cmd::cargo::cargo_bin("bringup");
        let path = format!(
            "{}:{}",
            bin.parent().expect("the binary's folder").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = std::process::Command::new("sh");
        cmd.current_dir(self.dir.path())
            .env("USER", "tester")
            .env("XDG_STATE_HOME", self.dir.path())
            .env("PATH", path)
            .args(["-c", command])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        output(&mut cmd)
    }
}

/// The journal as far as it is written (a torn last line is left out).
fn lossy(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// How many times the inject step `step` of `service` started.
fn inject_started(journal: &[Value], service: &str, step: &str) -> usize {
    journal
        .iter()
        .filter(|e| {
            e["kind"] == "step_started"
                && e["service"] == service
                && e["phase"] == "inject"
                && e["step"] == step
        })
        .count()
}

fn injects(journal: &[Value], service: &str) -> usize {
    journal
        .iter()
        .filter(|e| {
            e["kind"] == "step_started" && e["service"] == service && e["phase"] == "inject"
        })
        .count()
}

/// The drill's phases journaled after the last `resumed`.
fn phases_after_resume(journal: &[Value]) -> Vec<&Value> {
    let resumed = journal
        .iter()
        .rposition(|e| e["kind"] == "resumed")
        .expect("a resumed event");
    journal[resumed..]
        .iter()
        .filter(|e| e["kind"] == "drill_phase")
        .collect()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// The drill, continued, ran its remaining phases and ended with a verdict of its own: it
/// passed, every service injected once and back.
#[track_caller]
fn assert_continued_drill_passed(rig: &Rig, journal: &[Value], continued_in: &str) {
    let phases = phases_after_resume(journal);
    let first = phases.first().expect("a phase after the resume");
    assert_eq!(first["phase"], continued_in, "{first}");
    assert_eq!(first["scenario"], "all");
    assert!(
        first["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("continued after a resume")),
        "{first}"
    );
    let words: Vec<&str> = phases.iter().filter_map(|p| p["phase"].as_str()).collect();
    assert!(
        words.ends_with(&["detect", "restore", "cleanup", "finished"]),
        "{words:?}"
    );
    let verdict = phases.last().expect("a verdict");
    assert_eq!(verdict["outcome"], "passed", "{verdict}");
    for id in ["dns", "db", "web"] {
        assert_eq!(injects(journal, id), 1, "{id} injected once in all");
        assert!(rig.dir.path().join(format!("{id}.up")).exists(), "{id} up");
    }
    let last = journal.last().expect("events");
    assert_eq!(last["kind"], "run_finished");
    assert_eq!(last["outcome"], "restored");
}

#[test]
fn a_drill_stopped_mid_inject_prints_the_command_that_continues_that_drill() {
    let rig = Rig::new(&["inject-db"]);
    let child = rig.drill();
    rig.wait_injecting("db");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = finish(child);
    assert_exit(&out, 3);
    let err = stderr(&out);
    let hint = err
        .lines()
        .find_map(|l| l.strip_prefix("continue: "))
        .unwrap_or_else(|| panic!("a continue hint:\n{err}"));
    assert_eq!(
        hint,
        format!(
            "bringup run {} --drill --scenario all --resume {}",
            rig.runbook.display(),
            rig.journal.display()
        )
    );
    // The inject stopped mid-way is not run again: were it, the open gate lets it end.
    rig.open("inject-db");
    let out = rig.paste(hint);
    assert_exit(&out, 0);
    let journal = read_journal(&rig.journal);
    assert_continued_drill_passed(&rig, &journal, "inject");
    let first = phases_after_resume(&journal)[0];
    assert_eq!(
        first["reason"],
        "continued after a resume, in the inject phase; injected before: dns, db"
    );
}

#[test]
fn a_drill_killed_mid_inject_goes_on_as_the_drill_its_journal_records() {
    let rig = Rig::new(&["inject-web"]);
    let mut child = rig.drill();
    rig.wait_injecting("web");
    child.kill().expect("kill -9");
    let _ = child.wait();
    rig.open("inject-web");
    // Checking only goes on with no phase of the drill: nothing is injected.
    let checked = output(
        bringup(rig.dir.path())
            .args(["run", "--check-only", "--resume"])
            .arg(&rig.journal)
            .arg(&rig.runbook),
    );
    assert_exit(&checked, 1);
    let journal = read_journal(&rig.journal);
    assert!(phases_after_resume(&journal).is_empty());
    assert_eq!(injects(&journal, "web"), 1);
    // No --drill, no --scenario: the journal says what run this is.
    let out = output(
        bringup(rig.dir.path())
            .args(["run", "--resume"])
            .arg(&rig.journal)
            .arg(&rig.runbook),
    );
    assert_exit(&out, 0);
    let journal = read_journal(&rig.journal);
    assert_continued_drill_passed(&rig, &journal, "inject");
    let first = phases_after_resume(&journal)[0];
    assert_eq!(
        first["reason"],
        "continued after a resume, in the inject phase; injected before: dns, db, web"
    );
}

#[test]
fn a_drill_killed_between_two_inject_steps_of_a_service_runs_the_second_once_when_resumed() {
    let rig = Rig::with(&["inject-db"], DbInjects::Two);
    let mut child = rig.drill();
    // Killed in db's first inject step, its second not started yet.
    rig.wait_injecting("db");
    child.kill().expect("kill -9");
    let _ = child.wait();
    let journal = read_journal(&rig.journal);
    assert_eq!(inject_started(&journal, "db", "poison db"), 0);
    rig.open("inject-db");
    let out = output(
        bringup(rig.dir.path())
            .args(["run", "--resume"])
            .arg(&rig.journal)
            .arg(&rig.runbook),
    );
    assert_exit(&out, 0);
    let journal = read_journal(&rig.journal);
    // The step already started is not started again; the one that never started runs once.
    assert_eq!(inject_started(&journal, "db", "stop db"), 1);
    assert_eq!(inject_started(&journal, "db", "poison db"), 1);
    assert!(rig.dir.path().join("db.poisoned").exists());
    let resumed = journal
        .iter()
        .position(|e| e["kind"] == "resumed")
        .expect("resumed");
    assert!(
        journal[resumed..]
            .iter()
            .any(|e| e["kind"] == "step_started" && e["step"] == "poison db"),
        "the second inject step runs after the resume"
    );
    assert_eq!(injects(&journal, "dns"), 1);
    assert_eq!(injects(&journal, "web"), 1);
    let first = phases_after_resume(&journal)[0];
    assert_eq!(
        first["reason"],
        "continued after a resume, in the inject phase; injected before: dns, db"
    );
    let verdict = phases_after_resume(&journal)
        .last()
        .copied()
        .expect("a verdict");
    assert_eq!(verdict["phase"], "finished");
    assert_eq!(verdict["outcome"], "passed", "{verdict}");
    for id in ["dns", "db", "web"] {
        assert!(rig.dir.path().join(format!("{id}.up")).exists(), "{id} up");
    }
}

#[test]
fn resuming_a_journal_as_another_run_than_it_records_is_refused_with_the_command_to_use() {
    let rig = Rig::new(&[]);
    let out = finish(rig.drill());
    assert_exit(&out, 0);
    let before = fs::read(&rig.journal).expect("journal");
    let (rb, j) = (rig.runbook.display(), rig.journal.display());

    let other = output(
        bringup(rig.dir.path())
            .args(["run", "--drill", "--scenario", "dns", "--yes", "--resume"])
            .arg(&rig.journal)
            .arg(&rig.runbook),
    );
    assert_exit(&other, 2);
    let err = stderr(&other);
    assert!(
        err.contains(&format!(
            "bringup: cannot resume '{j}' as a drill of scenario 'dns': it records a drill of scenario 'all'"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "continue it with: bringup run {rb} --drill --scenario all --yes --resume {j}"
        )),
        "{err}"
    );

    // The TUI's drill is refused alike, before it needs a terminal.
    let tui = output(
        bringup(rig.dir.path())
            .args(["drill", "--scenario", "dns", "--resume"])
            .arg(&rig.journal)
            .arg(&rig.runbook),
    );
    assert_exit(&tui, 2);
    assert!(
        stderr(&tui).contains(&format!(
            "continue it with: bringup drill {rb} --scenario all --resume {j}"
        )),
        "{}",
        stderr(&tui)
    );

    let only = output(
        bringup(rig.dir.path())
            .args(["run", "--only", "web", "--resume"])
            .arg(&rig.journal)
            .arg(&rig.runbook),
    );
    assert_exit(&only, 2);
    assert!(
        stderr(&only).contains("with --only: it records a drill of scenario 'all'"),
        "{}",
        stderr(&only)
    );
    assert_eq!(
        fs::read(&rig.journal).expect("journal"),
        before,
        "nothing appended"
    );

    // An incident's journal is not continued as a drill.
    let incident = rig.dir.path().join("journal/incident.jsonl");
    let out = output(
        bringup(rig.dir.path())
            .arg("run")
            .arg("--journal")
            .arg(&incident)
            .arg(&rig.runbook),
    );
    assert_exit(&out, 0);
    let drill = output(
        bringup(rig.dir.path())
            .args(["run", "--drill", "--scenario", "all", "--resume"])
            .arg(&incident)
            .arg(&rig.runbook),
    );
    assert_exit(&drill, 2);
    let err = stderr(&drill);
    assert!(
        err.contains("it records an incident run, not a drill")
            && err.contains(&format!(
                "continue it with: bringup run {rb} --resume {}",
                incident.display()
            )),
        "{err}"
    );
}

#[test]
fn a_drill_that_ended_keeps_its_verdict_when_its_journal_is_resumed() {
    let rig = Rig::new(&[]);
    let out = finish(rig.drill());
    assert_exit(&out, 0);
    // Resumed twice: the second resume follows a run that ended without a drill phase.
    for _ in 0..2 {
        let out = output(
            bringup(rig.dir.path())
                .args(["run", "--resume"])
                .arg(&rig.journal)
                .arg(&rig.runbook),
        );
        assert_exit(&out, 0);
        let journal = read_journal(&rig.journal);
        assert!(
            phases_after_resume(&journal).is_empty(),
            "no phase run again"
        );
        for id in ["dns", "db", "web"] {
            assert_eq!(injects(&journal, id), 1, "{id} injected once");
        }
        let verdict = journal
            .iter()
            .rev()
            .find(|e| e["kind"] == "drill_phase")
            .expect("the verdict");
        assert_eq!(verdict["phase"], "finished");
        assert_eq!(verdict["outcome"], "passed");
    }
}

/// Wait (bounded) until `file` holds an exit code.
fn exit_code(file: &Path) -> i32 {
    let mut code = None;
    wait_for("bringup to exit", Duration::from_secs(60), || {
        code = fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        code.is_some()
    });
    code.unwrap_or_default()
}

#[test]
fn a_drill_stopped_in_the_tui_is_continued_by_the_command_it_prints() {
    crate::require!(Tmux);
    let rig = Rig::new(&["inject-db"]);
    let d = rig.dir.path();
    let bin = assert_cmd::cargo::cargo_bin("bringup");
    let shell = |command: &str, n: u8| {
        format!(
            "cd '{}' && PATH='{}':\"$PATH\" {command} 2> err{n}; echo $? > exit{n}; sleep 60",
            d.display(),
            bin.parent().expect("the binary's folder").display()
        )
    };
    let first = crate::support::tmux::Tmux::start(
        "drill-resume",
        &shell(
            "bringup drill rb.toml --scenario all --journal journal/drill.jsonl",
            1,
        ),
    );
    rig.wait_injecting("db");
    let pid = fs::read_to_string(d.join("journal/drill.jsonl.lock")).expect("the lock's pid");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    assert_eq!(exit_code(&d.join("exit1")), 3);
    drop(first);
    let err = fs::read_to_string(d.join("err1")).expect("stderr");
    let hint = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("continue:"))
        .map_or_else(|| panic!("a continue hint:\n{err}"), str::trim);
    assert_eq!(
        hint,
        "bringup drill rb.toml --scenario all --resume journal/drill.jsonl"
    );
    rig.open("inject-db");
    let second = crate::support::tmux::Tmux::start("drill-resumed", &shell(hint, 2));
    wait_for(
        "the continued drill's verdict",
        Duration::from_secs(60),
        || {
            let journal = lossy(&rig.journal);
            journal.iter().any(|e| e["kind"] == "resumed")
                && phases_after_resume(&journal)
                    .last()
                    .is_some_and(|p| p["phase"] == "finished")
        },
    );
    second.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if second.screen().contains("Quit?") {
        second.keys("y");
    }
    assert_eq!(exit_code(&d.join("exit2")), 0, "{}", second.screen());
    let journal = read_journal(&rig.journal);
    assert_continued_drill_passed(&rig, &journal, "inject");
}

/// The rig's drill on a shared run: `bringup run --drill --scenario all --journal URL`.
fn shared_drill(rig: &Rig, url: &str) -> Child {
    bringup(rig.dir.path())
        .args(["run", "--drill", "--scenario", "all", "--journal", url])
        .arg(&rig.runbook)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn bringup")
}

#[test]
fn a_shared_drill_killed_mid_inject_is_continued_as_that_drill_and_not_as_an_incident() {
    crate::require!(Etcd);
    let cluster = Cluster::start();
    let url = cluster.url("drill");
    let rig = Rig::new(&["inject-db"]);
    let mut child = shared_drill(&rig, &url);
    wait_for("db's inject", Duration::from_secs(60), || {
        events(&url)
            .iter()
            .any(|e| e["kind"] == "step_started" && e["service"] == "db" && e["phase"] == "inject")
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    rig.open("inject-db");
    let before = events(&url).len();

    // Resumed as another drill: refused before the run is touched (nothing journaled, the
    // dead executor still its last holder), with the command that continues it.
    let out = output(
        bringup(rig.dir.path())
            .args(["run", "--drill", "--scenario", "dns", "--resume", &url])
            .arg(&rig.runbook),
    );
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cannot resume '{url}' as a drill of scenario 'dns': it records a drill of scenario 'all'"
        )),
        "{err}"
    );
    // The URL names three members, with commas: quoted for the shell.
    assert!(
        err.contains(&format!(
            "continue it with: bringup run {} --drill --scenario all --resume '{url}'",
            rig.runbook.display()
        )),
        "{err}"
    );
    assert_eq!(
        events(&url).len(),
        before,
        "a refused resume journals nothing"
    );

    // With no word of the drill, as with a file journal, the run goes on as the drill it
    // is: from its inject phase, injecting nothing again, to a verdict.
    let out = output(
        bringup(rig.dir.path())
            .args(["run", "--resume", &url])
            .arg(&rig.runbook),
    );
    assert_exit(&out, 0);
    let journal = events(&url);
    assert_continued_drill_passed(&rig, &journal, "inject");
    let resumed = journal
        .iter()
        .find(|e| e["kind"] == "resumed")
        .expect("resumed");
    assert_eq!(
        resumed["previous"]["pid"],
        child.id(),
        "the killed executor is the one taken over from: {resumed}"
    );
}

#[test]
fn a_shared_drill_taken_over_with_capital_t_goes_on_as_that_drill() {
    crate::require!(Etcd, Tmux);
    let cluster = Cluster::start();
    let url = cluster.url("drill-t");
    let rig = Rig::new(&["inject-db"]);
    let mut child = shared_drill(&rig, &url);
    wait_for("db's inject", Duration::from_secs(60), || {
        events(&url)
            .iter()
            .any(|e| e["kind"] == "step_started" && e["service"] == "db" && e["phase"] == "inject")
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    rig.open("inject-db");
    let d = rig.dir.path();
    let tmux = crate::support::tmux::Tmux::start(
        "drill-capital-t",
        &format!(
            "cd '{d}' && XDG_STATE_HOME='{d}' '{}' attach '{url}' --operator lee; echo $? > exit; sleep 60",
            assert_cmd::cargo::cargo_bin("bringup").display(),
            d = d.display(),
        ),
    );
    // The dead executor's lease (10 s) runs out; T continues the run on this terminal. The
    // screen may say so a moment before etcd lets the lease go (T then says to wait): as an
    // operator would, press it again until the run is taken over.
    tmux.wait_for("NO EXECUTOR", 40);
    let taken = (0..20).any(|_| {
        tmux.keys("T");
        std::thread::sleep(Duration::from_millis(1500));
        events(&url).iter().any(|e| e["kind"] == "resumed")
    });
    assert!(taken, "T never took the run over:\n{}", tmux.screen());
    wait_for(
        "the drill taken over to its verdict",
        Duration::from_secs(90),
        || {
            let journal = events(&url);
            journal.iter().any(|e| e["kind"] == "resumed")
                && phases_after_resume(&journal)
                    .last()
                    .is_some_and(|p| p["phase"] == "finished")
        },
    );
    tmux.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if tmux.screen().contains("Quit?") {
        tmux.keys("y");
    }
    assert_eq!(exit_code(&d.join("exit")), 0, "{}", tmux.screen());
    let journal = events(&url);
    let resumed = journal
        .iter()
        .find(|e| e["kind"] == "resumed")
        .expect("resumed");
    assert_eq!(resumed["operator"], "lee");
    assert_eq!(resumed["reason"], "take_over", "{resumed}");
    assert_continued_drill_passed(&rig, &journal, "inject");
}
