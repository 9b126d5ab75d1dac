//! Shared runs against SPEC "Shared runs (etcd)", on a real 3-member etcd cluster on
//! loopback, with real `bringup` processes: operators on other machines approving and noting,
//! a `kill -9` of the executing process and a take-over, members lost, and two processes
//! racing for one run.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::etcd::{Cluster, events};
use crate::support::run::{bringup_cmd, stderr, stdout};
use crate::support::wait::{wait_exit, wait_for};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A run a test may wait for, at most.
const RUN_LIMIT: Duration = Duration::from_secs(90);

fn bringup_bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin!("bringup").to_path_buf()
}

/// A runbook of one local service `msg`: checked by `up` (the file `DIR/up`), restored by
/// `restores` (name, command), in order; `confirm` on the last one.
fn runbook(dir: &Path, restores: &[(&str, String)], confirm_last: bool) -> std::path::PathBuf {
    let d = dir.display();
    let mut text = format!(
        r#"[runbook]
name = "shared run"

[defaults]
timeout = "90s"

[hosts.h1]
transport = "local"

[[service]]
id = "msg"
name = "Messaging"
tier = 1
hosts = ["h1"]

[[service.check]]
name = "up"
run = "test -f {d}/up"
"#
    );
    for (i, (name, run)) in restores.iter().enumerate() {
        let _ = write!(
            text,
            "\n[[service.restore]]\nname = \"{name}\"\nrun = '''{run}'''\n"
        );
        if confirm_last && i + 1 == restores.len() {
            text.push_str("confirm = true\n");
        }
    }
    let path = dir.join("rb.toml");
    std::fs::write(&path, text).expect("write runbook");
    path
}

/// A fresh 3-member cluster, a folder, the shared run's URL on it (named `name`) and a
/// runbook there whose restores `restores(folder)` gives.
fn setup(
    name: &str,
    confirm_last: bool,
    restores: impl FnOnce(&str) -> Vec<(&'static str, String)>,
) -> (Cluster, tempfile::TempDir, String, String) {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let rb = runbook(dir.path(), &restores(&d), confirm_last);
    let url = cluster.url(name);
    (cluster, dir, url, rb.display().to_string())
}

/// `bringup ARGS` started in `dir` (its log lands there), stdin closed, stdout and stderr
/// into files there (a pipe nobody reads while it runs could fill and stop it).
fn spawn(dir: &Path, args: &[&str]) -> Run {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out = dir.join(format!("run-{n}.out"));
    let err = dir.join(format!("run-{n}.err"));
    let child = Command::new(bringup_bin())
        .args(args)
        .current_dir(dir)
        .env("XDG_STATE_HOME", dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("start bringup");
    Run { child, out, err }
}

struct Run {
    child: Child,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

fn started(events: &[Value], step: &str) -> bool {
    events
        .iter()
        .any(|e| e["kind"] == "step_started" && e["step"] == step)
}

fn ts(e: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(e["ts"].as_str().expect("ts"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

fn finish(run: &mut Run, what: &str) -> (i32, String, String) {
    let status = wait_exit(&mut run.child, RUN_LIMIT).unwrap_or_else(|| {
        let _ = run.child.kill();
        panic!(
            "{what} did not end within {RUN_LIMIT:?}: {}",
            std::fs::read_to_string(&run.err).unwrap_or_default()
        )
    });
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (status.code().unwrap_or(-1), read(&run.out), read(&run.err))
}

fn verify_and_pull(url: &str, dir: &Path) {
    let v = bringup_cmd()
        .args(["verify", url])
        .output()
        .expect("verify");
    assert_eq!(v.status.code(), Some(0), "verify URL: {}", stderr(&v));
    let file = dir.join("pulled.jsonl");
    let p = bringup_cmd()
        .args(["pull", url, "-o"])
        .arg(&file)
        .output()
        .expect("pull");
    assert_eq!(p.status.code(), Some(0), "pull: {}", stderr(&p));
    let v = bringup_cmd()
        .arg("verify")
        .arg(&file)
        .output()
        .expect("verify file");
    assert_eq!(
        v.status.code(),
        Some(0),
        "the pulled file verifies on its own: {}",
        stdout(&v)
    );
}

/// `bringup approve URL --service msg --step STEP` as `operator`.
fn approve(url: &str, step: &str, operator: &str) -> std::process::Output {
    bringup_cmd()
        .args(["approve", url, "--service", "msg", "--step", step])
        .args(["--operator", operator])
        .output()
        .expect("approve")
}

#[test]
fn operators_elsewhere_note_and_approve_and_the_journal_names_each() {
    crate::require!(Etcd);
    let (_cluster, dir, url, rb_s) = setup("approve", true, |d| {
        vec![("start gateway", format!("touch {d}/up"))]
    });
    // No --yes and no terminal: the executor waits for an attached operator's approval.
    let mut exec = spawn(
        dir.path(),
        &["run", &rb_s, "--journal", &url, "--operator", "kim"],
    );
    wait_for("the restore to wait for an approval", RUN_LIMIT, || {
        events(&url)
            .iter()
            .any(|e| e["kind"] == "service_state" && e["to"] == "restoring")
    });
    // A wrong step name is refused, naming what waits; nothing is journaled.
    let wrong = approve(&url, "drop tables", "lee");
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("waits for an approval of 'start gateway', not of 'drop tables'"),
        "{}",
        stderr(&wrong)
    );
    let note = bringup_cmd()
        .args([
            "note",
            &url,
            "DBA paged, replica healthy",
            "--operator",
            "lee",
        ])
        .output()
        .expect("note");
    assert_eq!(note.status.code(), Some(0), "{}", stderr(&note));
    let ok = approve(&url, "start gateway", "park");
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("approved 'start gateway' of msg as park"));
    let (code, _, err) = finish(&mut exec, "the executing run");
    assert_eq!(code, 0, "the run restores once approved: {err}");

    let ev = events(&url);
    let by = |kind: &str| -> Vec<&Value> { ev.iter().filter(|e| e["kind"] == kind).collect() };
    assert_eq!(by("run_started")[0]["operator"], "kim");
    let notes = by("note");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["operator"], "lee");
    assert_eq!(notes[0]["text"], "DBA paged, replica healthy");
    let approvals = by("approval");
    assert_eq!(approvals.len(), 1, "only the right step was approved");
    assert_eq!(approvals[0]["operator"], "park");
    assert_eq!(approvals[0]["decision"], "approved");
    // The approval is committed before the approved command is sent.
    let approved_at = approvals[0]["seq"].as_u64().expect("seq");
    let sent_at = ev
        .iter()
        .find(|e| e["kind"] == "step_started" && e["step"] == "start gateway")
        .and_then(|e| e["seq"].as_u64())
        .expect("the approved step ran");
    assert!(approved_at < sent_at);
    verify_and_pull(&url, dir.path());
}

#[test]
fn kill_9_of_the_executor_mid_restore_and_another_process_takes_over_without_repeating_what_was_ok()
{
    crate::require!(Etcd);
    let (_cluster, dir, url, rb_s) = setup("takeover", false, |d| {
        vec![
            ("prepare", format!("echo once >> {d}/prepare.count")),
            (
                "start",
                format!("echo run >> {d}/start.count; sleep 4; touch {d}/up"),
            ),
        ]
    });
    let mut exec = spawn(
        dir.path(),
        &[
            "run",
            &rb_s,
            "--journal",
            &url,
            "--yes",
            "--operator",
            "kim",
        ],
    );
    wait_for("the restore 'start' to be sent", RUN_LIMIT, || {
        started(&events(&url), "start")
    });
    exec.child.kill().expect("kill -9 the executor");
    let killed = Utc::now();
    let _ = exec.child.wait();

    // While the dead executor's lease lasts, a new run on the URL is refused, naming it.
    let refused = bringup_cmd()
        .args(["run", &rb_s, "--journal", &url, "--yes"])
        .current_dir(dir.path())
        .env("XDG_STATE_HOME", dir.path())
        .output()
        .expect("run");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("is executed by kim on"),
        "{}",
        stderr(&refused)
    );

    let mut next = spawn(
        dir.path(),
        &["run", &rb_s, "--resume", &url, "--yes", "--operator", "kai"],
    );
    let (code, _, err) = finish(&mut next, "the take-over");
    assert_eq!(code, 0, "the run taken over finishes restored: {err}");
    assert!(err.contains("waiting up to"), "it said it waits: {err}");

    let ev = events(&url);
    let resumed = ev
        .iter()
        .find(|e| e["kind"] == "resumed")
        .expect("a resumed event");
    let took = ts(resumed) - killed;
    assert!(
        took <= chrono::TimeDelta::seconds(15),
        "taken over {took} after the kill"
    );
    // A hand-over: who took over, from whom (the dead holder's record) and why.
    assert_eq!(resumed["operator"], "kai", "{resumed}");
    assert_eq!(resumed["identity"], "local", "{resumed}");
    assert_eq!(resumed["reason"], "lease_lost", "{resumed}");
    assert_eq!(resumed["previous"]["operator"], "kim", "{resumed}");
    assert_eq!(
        resumed["previous"]["pid"],
        Value::from(exec.child.id()),
        "the killed executor's pid: {resumed}"
    );
    assert!(
        resumed["previous"]["host"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{resumed}"
    );
    let prepare_ok = ev
        .iter()
        .filter(|e| e["kind"] == "step_finished" && e["step"] == "prepare" && e["outcome"] == "ok")
        .count();
    assert_eq!(prepare_ok, 1, "the restore recorded ok is not run again");
    let count = std::fs::read_to_string(dir.path().join("prepare.count")).expect("count");
    assert_eq!(count.lines().count(), 1, "'prepare' ran once on the host");
    let last = ev.last().expect("events");
    assert_eq!(last["kind"], "run_finished");
    assert_eq!(last["outcome"], "restored");
    assert!(
        ev.iter()
            .any(|e| e["kind"] == "run_started" && e["operator"] == "kim")
    );
    verify_and_pull(&url, dir.path());
}

/// A run whose one restore takes `seconds`, with the member bringup talks to first put out
/// by `out` once the restore is sent: a majority answers, so the run goes on and finishes.
fn one_member_out_mid_run(name: &str, seconds: u32, out: impl FnOnce(&mut Cluster)) {
    let (mut cluster, dir, url, rb_s) = setup(name, false, |d| {
        vec![("start", format!("sleep {seconds}; touch {d}/up"))]
    });
    let mut exec = spawn(
        dir.path(),
        &[
            "run",
            &rb_s,
            "--journal",
            &url,
            "--yes",
            "--operator",
            "kim",
        ],
    );
    wait_for("the restore to be sent", RUN_LIMIT, || {
        started(&events(&url), "start")
    });
    out(&mut cluster);
    let (code, _, err) = finish(&mut exec, "the run");
    cluster.thaw_all();
    assert_eq!(code, 0, "a majority answers, so the run goes on: {err}");
    let ev = events(&url);
    assert_eq!(ev.last().expect("events")["outcome"], "restored");
    verify_and_pull(&url, dir.path());
}

#[test]
fn one_member_lost_mid_run_and_the_run_goes_on() {
    crate::require!(Etcd);
    one_member_out_mid_run("one-down", 2, |cluster| cluster.stop(0));
}

#[test]
fn one_member_hung_mid_run_and_the_run_goes_on_past_the_lease() {
    crate::require!(Etcd);
    // The restore outlasts the lease: renewals must leave the hung member in time. It hangs:
    // connections stay open, nothing answers.
    one_member_out_mid_run("one-hung", 14, |cluster| cluster.freeze(0));
}

#[test]
fn two_members_lost_and_the_executor_stops_acting_within_the_lease_then_resumes() {
    crate::require!(Etcd);
    let (mut cluster, dir, url, rb_s) = setup("majority-lost", false, |d| {
        vec![
            (
                "long",
                format!("test -f {d}/second && exit 0; sleep 120 & echo $! > {d}/long.pid; wait"),
            ),
            ("after", format!("touch {d}/after-ran {d}/up")),
        ]
    });
    let mut exec = spawn(
        dir.path(),
        &[
            "run",
            &rb_s,
            "--journal",
            &url,
            "--yes",
            "--operator",
            "kim",
        ],
    );
    let pid_file = dir.path().join("long.pid");
    wait_for("the long restore to run", RUN_LIMIT, || pid_file.exists());
    std::thread::sleep(Duration::from_millis(200));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    cluster.stop_for_restart(0);
    cluster.stop_for_restart(1);
    let lost = Instant::now();
    // Within the lease's TTL the running command is stopped on its host.
    let alive = |pid: i32| Path::new(&format!("/proc/{pid}")).exists();
    wait_for(
        "the running command to be stopped",
        Duration::from_secs(11),
        || !alive(pid),
    );
    let stopped_after = lost.elapsed();
    let (code, _, err) = finish(&mut exec, "the executor");
    assert_eq!(code, 3, "it stops, interrupted: {err}");
    assert!(err.contains("no longer executes it"), "{err}");
    assert!(
        !err.contains("journal cannot be written"),
        "a lost lease is not a broken journal: {err}"
    );
    assert!(
        !dir.path().join("after-ran").exists(),
        "no new command was sent"
    );
    eprintln!("running command stopped {stopped_after:?} after the majority was lost");

    cluster.restart(0);
    cluster.restart(1);
    std::fs::write(dir.path().join("second"), "").expect("second");
    let mut next = spawn(
        dir.path(),
        &["run", &rb_s, "--resume", &url, "--yes", "--operator", "kai"],
    );
    let (code, _, err) = finish(&mut next, "the resumed run");
    assert_eq!(code, 0, "resumed once the members are back: {err}");
    assert!(dir.path().join("after-ran").exists());
    verify_and_pull(&url, dir.path());
}

#[test]
fn two_processes_racing_for_one_run_and_exactly_one_executes_it() {
    crate::require!(Etcd);
    let (_cluster, dir, url, rb_s) = setup("race", false, |d| {
        vec![("start", format!("sleep 2; touch {d}/up"))]
    });
    let mut a = spawn(
        dir.path(),
        &[
            "run",
            &rb_s,
            "--journal",
            &url,
            "--yes",
            "--operator",
            "kim",
        ],
    );
    let mut b = spawn(
        dir.path(),
        &[
            "run",
            &rb_s,
            "--journal",
            &url,
            "--yes",
            "--operator",
            "lee",
        ],
    );
    let ra = finish(&mut a, "run a");
    let rb_ = finish(&mut b, "run b");
    let mut codes = [ra.0, rb_.0];
    codes.sort_unstable();
    assert_eq!(
        codes,
        [0, 2],
        "one executes, one is refused: {ra:?} {rb_:?}"
    );
    let loser = if ra.0 == 2 { &ra.2 } else { &rb_.2 };
    assert!(
        loser.contains("is executed by") || loser.contains("already exists"),
        "{loser}"
    );
    let ev = events(&url);
    assert_eq!(
        ev.iter().filter(|e| e["kind"] == "run_started").count(),
        1,
        "one run in the chain"
    );
    verify_and_pull(&url, dir.path());
}

#[test]
fn a_shared_runs_output_goes_to_etcd_and_comes_back_byte_for_byte() {
    crate::require!(Etcd);
    let (_cluster, dir, url, rb_s) = setup("bytes", false, |d| {
        vec![(
            "start",
            format!("head -c 300000 /dev/urandom > {d}/printed; cat {d}/printed; touch {d}/up"),
        )]
    });
    let mut exec = spawn(
        dir.path(),
        &[
            "run",
            &rb_s,
            "--journal",
            &url,
            "--yes",
            "--operator",
            "kim",
        ],
    );
    let (code, _, err) = finish(&mut exec, "the run");
    assert_eq!(code, 0, "{err}");
    let ev = events(&url);
    assert!(
        ev.iter()
            .any(|e| e["kind"] == "step_output" && e["raw"].is_string()),
        "binary output is kept in side files"
    );
    verify_and_pull(&url, dir.path());
    let back = dir.path().join("back.bin");
    let out = bringup_cmd()
        .args(["output"])
        .arg(dir.path().join("pulled.jsonl"))
        .args(["--service", "msg", "--step", "start", "-o"])
        .arg(&back)
        .output()
        .expect("output");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&back).expect("back"),
        std::fs::read(dir.path().join("printed")).expect("printed"),
        "the bytes the step printed"
    );
}

/// A runbook of one local service `msg` whose two restore steps, 'start gateway' and 'open
/// doors', each ask for approval.
fn two_gates(dir: &Path) -> std::path::PathBuf {
    let d = dir.display();
    let rb = dir.join("two-gates.toml");
    std::fs::write(
        &rb,
        format!(
            r#"[runbook]
name = "two gates"

[hosts.h1]
transport = "local"

[[service]]
id = "msg"
name = "Messaging"
tier = 1
hosts = ["h1"]

[[service.check]]
name = "up"
run = "test -f {d}/up"

[[service.restore]]
name = "start gateway"
run = "touch {d}/gateway"
confirm = true

[[service.restore]]
name = "open doors"
run = "touch {d}/up"
confirm = true
"#
        ),
    )
    .expect("write runbook");
    rb
}

#[test]
fn a_question_on_the_executors_terminal_answered_from_elsewhere_is_withdrawn_and_the_next_one_asked()
 {
    crate::require!(Etcd);
    let (_cluster, dir, url, _) = setup("withdrawn", false, |_| Vec::new());
    let rb = two_gates(dir.path());
    // kim executes on a terminal (through `script`), so the run asks there.
    let screen = dir.path().join("kim.screen");
    let command = format!(
        "'{}' run '{}' --journal '{url}' --operator kim",
        bringup_bin().display(),
        rb.display()
    );
    let mut kim = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env("XDG_STATE_HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&screen).expect("screen file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("script starts");
    let shown =
        || String::from_utf8_lossy(&std::fs::read(&screen).unwrap_or_default()).into_owned();
    wait_for(
        "kim's terminal to ask about 'start gateway'",
        RUN_LIMIT,
        || shown().contains("APPROVAL NEEDED  msg · 'start gateway'"),
    );
    // lee answers it from elsewhere while kim's terminal still asks.
    let ok = approve(&url, "start gateway", "lee");
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    // kim's question is withdrawn, and the next one asked, without kim typing anything.
    wait_for(
        "kim's terminal to ask about 'open doors'",
        RUN_LIMIT,
        || shown().contains("APPROVAL NEEDED  msg · 'open doors'"),
    );
    let text = shown();
    let withdrawn = text
        .find("msg · 'start gateway' was answered elsewhere; nothing to answer here")
        .unwrap_or_else(|| panic!("the first question is withdrawn:\n{text}"));
    assert!(
        withdrawn < text.find("'open doors'").expect("asked"),
        "{text}"
    );
    let mut stdin = kim.stdin.take().expect("stdin");
    stdin.write_all(b"y\n").expect("answer");
    let status = wait_exit(&mut kim, RUN_LIMIT).expect("kim's run ends");
    drop(stdin);
    assert_eq!(status.code(), Some(0), "{}", shown());

    let ev = events(&url);
    let approvals: Vec<(&str, &str, &str)> = ev
        .iter()
        .filter(|e| e["kind"] == "approval")
        .map(|e| {
            (
                e["step"].as_str().unwrap_or_default(),
                e["operator"].as_str().unwrap_or_default(),
                e["decision"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        approvals,
        [
            ("start gateway", "lee", "approved"),
            ("open doors", "kim", "approved")
        ],
        "each step approved once, by whoever answered it"
    );
    for step in ["start gateway", "open doors"] {
        let runs = ev
            .iter()
            .filter(|e| e["kind"] == "step_started" && e["step"] == step)
            .count();
        assert_eq!(runs, 1, "{step}");
    }
}
