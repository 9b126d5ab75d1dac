//! The demo's simulated services through the binary: staging, `__demo-svc` start/probe/stop,
//! detachment from the caller, and every way a daemon is bounded (stop-all, folder removed,
//! lifetime, teardown of `Staged`). Each test owns its folder and stops what it started.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use assert_cmd::prelude::*;
use predicates::prelude::*;

use bringup::demo::daemon::{is_alive, read_pid};
use bringup::demo::{Layout, stage_with};

fn bringup() -> Command {
    let mut cmd = Command::new(cargo_bin!("bringup"));
    cmd.arg("__demo-svc");
    cmd
}

/// A staged demo folder whose services are stopped when the test ends, pass or fail.
struct Demo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Demo {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("demo");
        bringup()
            .args(["stage", "--dir"])
            .arg(&dir)
            .assert()
            .success();
        Demo { _tmp: tmp, dir }
    }

    fn svc(&self, verb: &str, name: &str) -> Command {
        let mut cmd = bringup();
        cmd.args([verb, name, "--dir"]).arg(&self.dir);
        cmd
    }

    fn pid(&self, name: &str) -> i32 {
        read_pid(&Layout::new(&self.dir).pid_file(name)).expect("a pidfile for a started service")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = bringup()
            .args(["stop-all", "--dir"])
            .arg(&self.dir)
            .output();
    }
}

/// Wait up to `limit` for `pid` to be gone.
fn gone_within(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while is_alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn probe_port(port: u16) -> bool {
    bringup()
        .args(["probe", "--port", &port.to_string()])
        .output()
        .expect("run probe")
        .status
        .success()
}

#[test]
fn stage_creates_the_folder_and_runbook_with_nothing_running() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("new").join("demo");
    bringup()
        .args(["stage", "--dir"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("demo.toml"));
    assert!(dir.join("demo.toml").is_file());
    assert!(dir.join(".bringup-demo").is_file());
    let running: Vec<_> = std::fs::read_dir(dir.join("run"))
        .expect("run folder")
        .collect();
    assert!(running.is_empty(), "staging started something: {running:?}");
    let staged = std::fs::read_to_string(dir.join("demo.toml")).expect("read runbook");
    let canonical = dir.canonicalize().expect("canonical");
    let want = format!("demo_dir = \"{}\"", canonical.display());
    assert!(staged.contains(&want), "no '{want}' in the staged runbook");
}

#[test]
fn the_staged_runbooks_schema_line_points_at_the_schema() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    bringup()
        .args(["stage", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    let staged = std::fs::read_to_string(dir.join("demo.toml")).expect("read runbook");
    let first = staged.lines().next().expect("a first line");
    let target = first
        .strip_prefix("#:schema ")
        .unwrap_or_else(|| panic!("no #:schema line first: '{first}'"));
    let schema = std::fs::read_to_string(dir.join(target)).expect("the schema it names");
    let printed = Command::new(cargo_bin!("bringup"))
        .arg("schema")
        .output()
        .expect("bringup schema");
    assert_eq!(schema.as_bytes(), printed.stdout.as_slice());
}

#[test]
fn stage_api_returns_folder_runbook_and_var_overrides() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exe = cargo_bin!("bringup");
    let staged = stage_with(Some(&tmp.path().join("d")), exe).expect("stage");
    assert_eq!(staged.runbook, staged.dir.join("demo.toml"));
    assert!(staged.runbook.is_file());
    assert_eq!(
        staged.vars,
        vec![
            format!("demo_dir={}", staged.dir.display()),
            format!("bringup={}", exe.display()),
        ]
    );
}

#[test]
fn stage_without_dir_makes_a_fresh_folder_under_the_temp_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // std::env::temp_dir honours TMPDIR: point the child at a folder this test owns.
    let out = bringup()
        .arg("stage")
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run stage");
    assert!(out.status.success());
    let made: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read tmp")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].starts_with("bringup-demo-"), "{made:?}");
    assert!(tmp.path().join(&made[0]).join("demo.toml").is_file());
}

#[test]
fn stage_refuses_a_non_empty_folder_that_is_not_a_demo() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("precious.txt"), "keep me").expect("write");
    bringup()
        .args(["stage", "--dir"])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds no bringup demo"));
    assert!(!tmp.path().join("demo.toml").exists());
}

#[test]
fn restaging_a_demo_folder_stops_its_services_and_resets_state() {
    let demo = Demo::new();
    demo.svc("start", "auth@auth-1").assert().success();
    let pid = demo.pid("auth@auth-1");
    std::fs::write(demo.dir.join("state").join("x.attempts"), "5").expect("write");
    bringup()
        .args(["stage", "--dir"])
        .arg(&demo.dir)
        .assert()
        .success();
    assert!(gone_within(pid, Duration::from_secs(5)));
    assert!(!demo.dir.join("state").join("x.attempts").exists());
}

#[test]
fn a_started_service_answers_probe_and_stop_takes_it_down() {
    let demo = Demo::new();
    demo.svc("probe", "talk-messaging@msg-gw-1")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not running"));
    demo.svc("start", "talk-messaging@msg-gw-1")
        .assert()
        .success()
        .stdout(predicate::str::contains("started on 127.0.0.1:"));
    demo.svc("probe", "talk-messaging@msg-gw-1")
        .assert()
        .success()
        .stdout("ok talk-messaging@msg-gw-1\n");
    let pid = demo.pid("talk-messaging@msg-gw-1");
    demo.svc("stop", "talk-messaging@msg-gw-1")
        .assert()
        .success()
        .stdout(predicate::str::contains("stopped"));
    assert!(!is_alive(pid), "stop returned before the daemon was gone");
    demo.svc("probe", "talk-messaging@msg-gw-1")
        .assert()
        .code(1);
    demo.svc("stop", "talk-messaging@msg-gw-1")
        .assert()
        .success()
        .stdout(predicate::str::contains("was not running"));
}

#[test]
fn probe_by_port_reads_the_health_line_and_fails_once_stopped() {
    let demo = Demo::new();
    demo.svc("start", "pc-login@pc-gw-1").assert().success();
    let port = bringup::demo::daemon::read_port(&Layout::new(&demo.dir), "pc-login@pc-gw-1")
        .expect("port file");
    bringup()
        .args(["probe", "--port", &port.to_string()])
        .assert()
        .success()
        .stdout("ok pc-login@pc-gw-1\n");
    demo.svc("stop", "pc-login@pc-gw-1").assert().success();
    assert!(!probe_port(port));
}

#[test]
fn start_returns_promptly_and_the_service_lives_in_its_own_session() {
    let demo = Demo::new();
    // Through `sh -c` with captured pipes, as a step runs: if the daemon held the pipes the
    // output would never end and this would hit the timeout.
    let script = format!(
        "{} __demo-svc start media@media-1 --dir '{}'",
        cargo_bin!("bringup").display(),
        demo.dir.display()
    );
    assert_cmd::Command::new("sh")
        .args(["-c", &script])
        .timeout(Duration::from_secs(20))
        .assert()
        .success();
    let pid = demo.pid("media@media-1");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat has a command")
        .1
        .split_whitespace()
        .collect();
    let session: i32 = fields[3].parse().expect("session id");
    let ours = nix::unistd::getsid(None).expect("own session").as_raw();
    assert_eq!(session, pid, "the daemon should lead its own session");
    assert_ne!(session, ours);
    demo.svc("probe", "media@media-1").assert().success();
}

#[test]
fn a_flaky_start_fails_its_first_attempt_and_succeeds_on_the_next() {
    let demo = Demo::new();
    let flaky = |d: &Demo| {
        let mut c = d.svc("start", "talk@gw");
        c.args(["--flaky", "1", "--why", "consumer lag too high"]);
        c
    };
    flaky(&demo)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "consumer lag too high (attempt 1)",
        ));
    demo.svc("probe", "talk@gw").assert().code(1);
    flaky(&demo).assert().success();
    demo.svc("probe", "talk@gw").assert().success();
}

#[test]
fn stop_all_stops_every_service_of_the_folder() {
    let demo = Demo::new();
    let names = ["a@h1", "a@h2", "b@h3"];
    for n in names {
        demo.svc("start", n).assert().success();
    }
    let pids: Vec<i32> = names.iter().map(|n| demo.pid(n)).collect();
    bringup()
        .args(["stop-all", "--dir"])
        .arg(&demo.dir)
        .assert()
        .success()
        .stdout("stopped 3 simulated service(s)\n");
    for (n, pid) in names.iter().zip(pids) {
        assert!(!is_alive(pid), "{n} still alive");
        demo.svc("probe", n).assert().code(1);
    }
}

#[test]
fn services_exit_by_themselves_when_the_demo_folder_is_removed() {
    let demo = Demo::new();
    demo.svc("start", "mail-smtp@mail-1").assert().success();
    let pid = demo.pid("mail-smtp@mail-1");
    let port = bringup::demo::daemon::read_port(&Layout::new(&demo.dir), "mail-smtp@mail-1")
        .expect("port");
    std::fs::remove_dir_all(&demo.dir).expect("remove the demo folder");
    assert!(
        gone_within(pid, Duration::from_secs(10)),
        "the service outlived its folder"
    );
    assert!(!probe_port(port));
}

#[test]
fn services_exit_by_themselves_after_their_lifetime() {
    let demo = Demo::new();
    demo.svc("start", "short@h")
        .args(["--lifetime", "1s"])
        .assert()
        .success();
    let pid = demo.pid("short@h");
    assert!(gone_within(pid, Duration::from_secs(10)));
    assert!(!Layout::new(&demo.dir).pid_file("short@h").exists());
}

#[test]
fn dropping_a_staged_demo_stops_its_services() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let staged = stage_with(Some(&tmp.path().join("d")), cargo_bin!("bringup")).expect("stage");
    bringup()
        .args(["start", "auth@auth-2", "--dir"])
        .arg(&staged.dir)
        .assert()
        .success();
    let pid = read_pid(&Layout::new(&staged.dir).pid_file("auth@auth-2")).expect("pid");
    drop(staged);
    assert!(!is_alive(pid));
}

#[test]
fn names_that_are_not_file_safe_are_bad_input() {
    let demo = Demo::new();
    demo.svc("start", "../escape").assert().code(2);
    assert!(!Path::new(&demo.dir).join("../escape.pid").exists());
}

#[test]
fn a_service_killed_outright_is_down_and_start_brings_it_back_over_its_stale_files() {
    let demo = Demo::new();
    demo.svc("start", "pc-login@pc-gw-1").assert().success();
    let pid = demo.pid("pc-login@pc-gw-1");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    assert!(gone_within(pid, Duration::from_secs(5)));
    // SIGKILL leaves the pid and port files behind.
    assert!(
        Layout::new(&demo.dir)
            .port_file("pc-login@pc-gw-1")
            .exists()
    );
    demo.svc("probe", "pc-login@pc-gw-1").assert().code(1);
    demo.svc("start", "pc-login@pc-gw-1")
        .assert()
        .success()
        .stdout(predicate::str::contains("started on"));
    assert_ne!(demo.pid("pc-login@pc-gw-1"), pid);
    demo.svc("probe", "pc-login@pc-gw-1").assert().success();
}

#[test]
fn a_hangup_does_not_stop_a_service() {
    let demo = Demo::new();
    demo.svc("start", "push@push-1").assert().success();
    let pid = demo.pid("push@push-1");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("hup");
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_alive(pid));
    demo.svc("probe", "push@push-1").assert().success();
}
