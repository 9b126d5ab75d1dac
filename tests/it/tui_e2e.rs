//! End to end: the real binary's TUI in a private tmux server at 120×40. `bringup demo` is
//! driven with keys the way an operator would (auto on, approve, mark the manual step done,
//! quit), and what it leaves behind is checked: the exit code, the journal's chain, and every
//! service but mail-imap (designed to stay down) up. A SIGTERM restores the terminal and ends
//! the journal with `interrupted`. Needs tmux (`scripts/test` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

use crate::support::events::read_journal as events;
use crate::support::tmux::Tmux;
use crate::support::tmux::wait_for_exit;

/// The shell line tmux runs: the demo, then its exit code into a file.
fn demo_command(dir: &Path, journal: &Path, exit_file: &Path) -> String {
    format!(
        "'{}' demo --dir '{}' --journal '{}' --operator e2e; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        dir.display(),
        journal.display(),
        exit_file.display()
    )
}

fn verify(journal: &Path) {
    let out = Command::new(cargo_bin("bringup"))
        .arg("verify")
        .arg(journal)
        .output()
        .expect("bringup verify runs");
    assert!(
        out.status.success(),
        "bringup verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The pid of the bringup process whose command line names `journal` (unique per test).
fn bringup_pid(journal: &Path) -> Option<i32> {
    let needle = journal.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_bringup = args.first().is_some_and(|a| a.ends_with("bringup"));
            (is_bringup && args.contains(&needle) && args.iter().any(|a| a == "demo"))
                .then_some(pid)
        })
}

/// Simulated services still running out of the demo folder `dir`.
fn demo_services(dir: &Path) -> usize {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| {
                let text = String::from_utf8_lossy(&c);
                text.contains("__demo-svc") && text.contains(&needle)
            })
        })
        .count()
}

/// Poll until `done` holds; false after `secs`.
fn eventually(secs: u64, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

struct Paths {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    journal: PathBuf,
    exit: PathBuf,
}

fn paths() -> Paths {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    Paths {
        dir: root.join("dc"),
        journal: root.join("journal").join("demo.jsonl"),
        exit: root.join("exit-code"),
        _tmp: tmp,
    }
}

#[test]
fn an_operator_restores_the_demo_with_keys_alone_and_the_journal_shows_it() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start("restore", &demo_command(&p.dir, &p.journal, &p.exit));

    // Within seconds: every service checked, nothing restored, the next key named.
    let screen = tmux.wait_for("press a to restore in plan order", 30);
    assert!(screen.contains("auto off"), "{screen}");
    let footer = screen.trim_end().lines().last().unwrap_or_default();
    assert!(
        footer.contains("a auto on")
            && (footer.trim_end().ends_with("? help")
                || footer.trim_end().ends_with("? more keys")),
        "the footer names the keys valid now and ends with help:\n{footer}"
    );
    assert!(screen.contains("mail-imap"), "{screen}");
    assert!(
        !screen.contains("restored"),
        "nothing restored unasked:\n{screen}"
    );

    tmux.keys("a");
    let screen = tmux.wait_for("Approve this step?", 30);
    assert!(
        screen.contains("promote the replica to primary"),
        "{screen}"
    );
    tmux.answer("y");
    let screen = tmux.wait_for("Manual step", 60);
    assert!(screen.contains("move the VIP"), "{screen}");
    tmux.answer("d");
    tmux.wait_for("manual · done by e2e", 30);
    // Every service settled: the hint names the failure the run stopped on.
    let screen = tmux.wait_for("'mail-imap' failed", 90);
    assert!(screen.contains("exit 32"), "{screen}");

    tmux.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if tmux.screen().contains("Quit?") {
        tmux.keys("y");
    }
    // Exit code 1: mail-imap is not up.
    assert_eq!(wait_for_exit(&p.exit, 30), 1);
    let screen = tmux.screen();
    assert!(
        screen.contains(&format!("journal: {}", p.journal.display())),
        "the journal path is printed on exit:\n{screen}"
    );

    verify(&p.journal);
    let events = events(&p.journal);
    let finished = events.last().expect("events");
    assert_eq!(finished["kind"], "run_finished");
    let services = finished["services"].as_object().expect("services map");
    assert_eq!(services.len(), 10);
    for (id, state) in services {
        if id == "mail-imap" {
            assert_eq!(state, "failed", "mail-imap is designed to stay down");
        } else {
            assert!(
                state == "healthy" || state == "restored",
                "{id} ended {state}"
            );
        }
    }
    assert!(
        events.iter().any(|e| e["kind"] == "approval"
            && e["decision"] == "approved"
            && e["operator"] == "e2e")
    );
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "manual" && e["outcome"] == "done")
    );
}

#[test]
fn sigterm_restores_the_terminal_and_ends_the_journal_as_interrupted() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start("sigterm", &demo_command(&p.dir, &p.journal, &p.exit));
    tmux.wait_for("press a to restore in plan order", 30);
    tmux.keys("a");
    tmux.wait_for("Approve this step?", 30);

    let pid = bringup_pid(&p.journal).expect("bringup is running");
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(killed.success());

    assert_eq!(wait_for_exit(&p.exit, 30), 3);
    // Off the alternate screen: the summary is what shows now.
    let screen = tmux.screen();
    assert!(!screen.contains("Approve this step?"), "{screen}");
    assert!(screen.contains("journal: "), "{screen}");
    verify(&p.journal);
    let events = events(&p.journal);
    let last = events.last().expect("events");
    assert_eq!(last["kind"], "run_finished");
    assert_eq!(last["outcome"], "interrupted");
    assert!(
        eventually(10, || demo_services(&p.dir) == 0),
        "the demo's services were stopped"
    );
}

#[test]
fn a_hangup_mid_restore_stops_the_demo_and_ends_the_journal_as_interrupted() {
    crate::require!(Tmux);
    let p = paths();
    // The shell ignores the hangup so it outlives bringup and records its exit code.
    let command = format!("trap '' HUP; {}", demo_command(&p.dir, &p.journal, &p.exit));
    let tmux = Tmux::start("hangup", &command);
    tmux.wait_for("press a to restore in plan order", 30);
    tmux.keys("a");
    tmux.wait_for("Approve this step?", 30);
    tmux.answer("y");
    // database, then auth on two hosts: the restore is well under way.
    assert!(
        eventually(30, || demo_services(&p.dir) >= 3),
        "simulated services started"
    );
    // The terminal goes away (an SSH session dropped): tmux hangs up on bringup.
    drop(tmux);
    let ended = || {
        std::fs::read_to_string(&p.journal).is_ok_and(|t| {
            t.lines()
                .last()
                .is_some_and(|l| l.contains("\"run_finished\""))
        })
    };
    assert!(eventually(30, ended), "run_finished was journaled");
    assert!(
        eventually(30, || demo_services(&p.dir) == 0),
        "the demo's services were stopped"
    );
    assert_eq!(wait_for_exit(&p.exit, 30), 3, "interrupted, not a panic");
    verify(&p.journal);
    let events = events(&p.journal);
    assert_eq!(events.last().expect("events")["outcome"], "interrupted");
}

#[test]
fn without_a_terminal_open_refuses_before_journaling_anything() {
    crate::require!(Tmux);
    let tmp = tempfile::tempdir().expect("tempdir");
    let runbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/demo.toml");
    let out = Command::new(cargo_bin("bringup"))
        .arg("open")
        .arg(&runbook)
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bringup runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a terminal"), "{stderr}");
    assert!(
        stderr.contains("bringup run"),
        "points at the headless run: {stderr}"
    );
    assert!(
        !tmp.path().join("journal").exists(),
        "no journal for a run that never started"
    );
}

#[test]
fn a_resumed_run_shows_the_recorded_timeline_and_goes_on_in_the_same_journal() {
    crate::require!(Tmux);
    let p = paths();
    let first = Tmux::start("first", &demo_command(&p.dir, &p.journal, &p.exit));
    first.wait_for("press a to restore in plan order", 30);
    first.keys("a");
    first.wait_for("Approve this step?", 30);
    first.answer("y");
    first.wait_for("Manual step", 60);
    // Leave with the manual step unanswered: Ctrl-C, then confirm.
    first.answer("C-c");
    first.wait_for("Quit?", 10);
    first.keys("y");
    assert_eq!(wait_for_exit(&p.exit, 30), 1);
    drop(first);
    std::fs::remove_file(&p.exit).expect("exit file");

    let resume = format!(
        "'{}' demo --dir '{}' --resume '{}' --operator e2e; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        p.dir.display(),
        p.journal.display(),
        p.exit.display()
    );
    let second = Tmux::start("second", &resume);
    // The manual step left unanswered is asked again by the resumed session (SPEC "A take-over
    // is a hand-over"); "not now" leaves it waiting.
    let asked = second.wait_for("Manual step", 30);
    assert!(asked.contains("move the VIP"), "{asked}");
    // Past the 300 ms guard of a dialog that opened by itself.
    std::thread::sleep(Duration::from_millis(500));
    second.keys("Escape");
    assert!(
        eventually(10, || !second.screen().contains("┌ Manual step")),
        "Esc puts the question off:\n{}",
        second.screen()
    );
    // The recorded history is in the timeline: from its top, page down to where it resumed.
    second.keys("Tab");
    second.keys("Tab");
    std::thread::sleep(Duration::from_millis(300));
    // The step asked again is selected, so the bottom pane may show its output: `t` turns
    // it to the timeline.
    if !second.screen().contains("┌ Timeline") {
        second.keys("t");
        second.wait_for("┌ Timeline", 10);
    }
    second.keys("Home");
    let top = second.wait_for("· scrolled", 10);
    assert!(
        top.contains("Run started (incident)"),
        "the first session's start heads the timeline:\n{top}"
    );
    let mut screen = top;
    for _ in 0..40 {
        if screen.contains("took over from") {
            break;
        }
        second.keys("PageDown");
        std::thread::sleep(Duration::from_millis(150));
        screen = second.screen();
    }
    assert!(
        screen.contains("took over from") && screen.contains("Run finished: incomplete"),
        "the first session's end and the resume are in the timeline:\n{screen}"
    );
    second.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if second.screen().contains("Quit?") {
        second.keys("y");
    }
    wait_for_exit(&p.exit, 30);
    verify(&p.journal);
    let events = events(&p.journal);
    let starts = events.iter().filter(|e| e["kind"] == "run_started").count();
    let resumed = events.iter().filter(|e| e["kind"] == "resumed").count();
    assert_eq!((starts, resumed), (1, 1), "one run, resumed once");
    // The approved promotion is recorded once: a resumed run never re-runs a recorded success.
    let promotions = events
        .iter()
        .filter(|e| e["kind"] == "step_started" && e["step"] == "promote the replica to primary")
        .count();
    assert_eq!(promotions, 1);
}

#[test]
fn at_80_by_24_the_header_footer_and_hint_fit_whole() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start_sized(
        "small",
        &demo_command(&p.dir, &p.journal, &p.exit),
        (80, 24),
    );
    let screen = tmux.wait_for("a: restore all in plan order", 30);
    let lines: Vec<&str> = screen.lines().collect();
    let header = lines.first().copied().unwrap_or_default();
    assert!(
        header.contains("INCIDENT") && header.trim_end().ends_with("by e2e · auto off"),
        "mode, operator and auto mode show whole; no stub of the journal path:\n{header}"
    );
    let footer = screen
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .trim_end();
    assert!(
        footer.ends_with("? more keys") && footer.contains("a auto on"),
        "the footer keeps whole entries and '?':\n{footer}"
    );
    // Nothing runs once the checks are done: q quits at once.
    tmux.keys("q");
    assert_eq!(wait_for_exit(&p.exit, 30), 1);
    verify(&p.journal);
}

/// The demo in drill mode (inject steps available), or not.
fn demo_args_command(dir: &Path, journal: &Path, exit_file: &Path, extra: &str) -> String {
    format!(
        "'{}' demo --dir '{}' --journal '{}' --operator e2e {extra}; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        dir.display(),
        journal.display(),
        exit_file.display()
    )
}

fn kinds_of(journal: &Path, kind: &str) -> Vec<Value> {
    events(journal)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

#[test]
fn i_asks_first_and_esc_or_capital_n_leaves_nothing_run() {
    crate::require!(Tmux);
    let p = paths();
    // Drill mode on the staged demo without a scenario: nothing is injected unless asked.
    let bringup = cargo_bin("bringup");
    let command = format!(
        "'{b}' __demo-svc stage --dir '{d}' > /dev/null && '{b}' open --drill --journal '{j}' --operator e2e '{d}/demo.toml'; echo $? > '{e}'; sleep 60",
        b = bringup.display(),
        d = p.dir.display(),
        j = p.journal.display(),
        e = p.exit.display()
    );
    let tmux = Tmux::start("inject", &command);
    tmux.wait_for("press a to restore in plan order", 30);
    for no in ["Escape", "N"] {
        tmux.keys("i");
        let screen = tmux.wait_for("Inject into", 10);
        assert!(
            screen.contains("on purpose"),
            "says what it does:\n{screen}"
        );
        tmux.keys(no);
        tmux.wait_for("nothing was run", 10);
    }
    std::thread::sleep(Duration::from_millis(500));
    let injects: Vec<Value> = kinds_of(&p.journal, "step_started")
        .into_iter()
        .filter(|e| e["phase"] == "inject")
        .collect();
    assert!(injects.is_empty(), "no inject ran: {injects:?}");
    tmux.keys("q");
    wait_for_exit(&p.exit, 30);
    verify(&p.journal);
}

#[test]
fn demo_drill_runs_the_whole_datacenter_lost_drill_with_its_phase_in_the_header() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start(
        "drill",
        &demo_args_command(&p.dir, &p.journal, &p.exit, "--drill"),
    );
    // The datacenter is brought up first, so the baseline passes and the injects begin.
    tmux.wait_for("DRILL: inject", 60);
    let screen = tmux.wait_for("Approve this step?", 90);
    assert!(
        screen.contains("promote the replica to primary"),
        "{screen}"
    );
    assert!(screen.contains("DRILL: restore"), "{screen}");
    tmux.answer("y");
    let screen = tmux.wait_for("Manual step", 90);
    assert!(screen.contains("move the VIP"), "{screen}");
    tmux.answer("d");
    tmux.wait_for("DRILL PASSED", 120);
    tmux.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if tmux.screen().contains("Quit?") {
        tmux.keys("y");
    }
    assert_eq!(wait_for_exit(&p.exit, 30), 0, "a passed drill exits 0");
    verify(&p.journal);
    let events = events(&p.journal);
    assert_eq!(events[0]["mode"], "drill");
    assert_eq!(events[0]["scenario"], "dc-loss");
    let phases: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "drill_phase")
        .filter_map(|e| e["phase"].as_str())
        .collect();
    assert_eq!(
        phases,
        [
            "baseline", "inject", "detect", "restore", "cleanup", "finished"
        ]
    );
    let finished = events
        .iter()
        .find(|e| e["kind"] == "drill_phase" && e["phase"] == "finished")
        .expect("finished");
    assert_eq!(finished["outcome"], "passed", "{finished}");
}

#[test]
fn a_key_typed_as_auto_mode_opens_a_dialog_is_not_taken_by_it() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start("guard", &demo_command(&p.dir, &p.journal, &p.exit));
    tmux.wait_for("press a to restore in plan order", 30);
    // `a` and, 100 ms later, a `y` meant for the screen as it was.
    tmux.keys("a");
    std::thread::sleep(Duration::from_millis(100));
    tmux.keys("y");
    tmux.wait_for("Approve this step?", 30);
    std::thread::sleep(Duration::from_secs(1));
    let screen = tmux.screen();
    assert!(
        screen.contains("Approve this step?"),
        "the question is still open:\n{screen}"
    );
    assert!(
        kinds_of(&p.journal, "approval").is_empty(),
        "the early y approved nothing"
    );
    tmux.keys("y");
    tmux.wait_for("Manual step", 60);
    assert_eq!(kinds_of(&p.journal, "approval").len(), 1);
}

#[test]
fn declining_a_confirm_step_names_its_dependents_and_asks_again() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start("decline", &demo_command(&p.dir, &p.journal, &p.exit));
    tmux.wait_for("press a to restore in plan order", 30);
    tmux.keys("a");
    tmux.wait_for("Approve this step?", 30);
    tmux.answer("n");
    let screen = tmux.wait_for("Decline '", 10);
    assert!(
        screen.contains("fails 'database'") && screen.contains("dependents"),
        "says what declining does:\n{screen}"
    );
    assert!(screen.contains("auth"), "names the dependents:\n{screen}");
    tmux.keys("n");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        kinds_of(&p.journal, "approval").is_empty(),
        "a second lowercase n declines nothing"
    );
    tmux.keys("Enter");
    tmux.wait_for("Approve this step?", 10);
    tmux.keys("n");
    tmux.wait_for("Decline '", 10);
    tmux.keys("N");
    let declined = || {
        kinds_of(&p.journal, "approval")
            .iter()
            .any(|e| e["decision"] == "declined")
    };
    assert!(eventually(10, declined), "N declines");
}

/// A runbook of one local service whose check takes 30 s.
fn slow_runbook(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("slow.toml");
    std::fs::write(
        &path,
        "[runbook]\nname = \"slow\"\n\n[hosts.box]\ntransport = \"local\"\n\n\
         [[service]]\nid = \"slow\"\nname = \"Slow\"\ntier = 1\nhosts = [\"box\"]\n  \
         [[service.check]]\n  name = \"hangs\"\n  run = \"sleep 30\"\n  timeout = \"60s\"\n",
    )
    .expect("write runbook");
    path
}

#[test]
fn quitting_while_a_step_runs_exits_3_with_the_journal_intact() {
    crate::require!(Tmux);
    let p = paths();
    let runbook = slow_runbook(&p.dir);
    let command = format!(
        "'{}' open '{}' --journal '{}' --operator e2e; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        runbook.display(),
        p.journal.display(),
        p.exit.display()
    );
    let tmux = Tmux::start("quitmid", &command);
    tmux.wait_for("⧗ checking", 30);
    tmux.keys("q");
    tmux.wait_for("Quit?", 10);
    tmux.keys("y");
    assert_eq!(wait_for_exit(&p.exit, 30), 3, "interrupted, as SPEC says");
    verify(&p.journal);
    assert_eq!(
        events(&p.journal).last().expect("events")["outcome"],
        "interrupted"
    );
}

#[test]
fn at_60_by_15_every_service_id_shown_is_whole_and_distinct() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start_sized("tiny", &demo_command(&p.dir, &p.journal, &p.exit), (60, 15));
    tmux.wait_for("dns", 30);
    std::thread::sleep(Duration::from_secs(2));
    let screen = tmux.screen();
    for id in ["dns", "database", "auth"] {
        assert!(screen.contains(id), "'{id}' is whole at 60x15:\n{screen}");
    }
    assert!(
        !screen.contains("d…") && !screen.contains("a…"),
        "no id cut to one letter:\n{screen}"
    );
    assert!(
        screen.contains("more below"),
        "the list says it scrolls:\n{screen}"
    );
    tmux.keys("q");
    wait_for_exit(&p.exit, 30);
}

/// A runbook of one service `web` checked over SSH on a loopback sshd whose key is unknown,
/// and the shell line that opens it in the TUI with HOME in the lab (no agent).
fn host_key_command(
    lab: &crate::support::sshd::Lab,
    port: u16,
    journal: &Path,
    exit: &Path,
) -> String {
    std::fs::create_dir_all(lab.path(".ssh")).expect("create ~/.ssh");
    std::fs::write(lab.path(".ssh/known_hosts"), "").expect("write known_hosts");
    std::fs::write(lab.path(".ssh/config"), "").expect("write ssh config");
    let runbook = lab.path("web.toml");
    std::fs::write(
        &runbook,
        format!(
            "[runbook]\nname = \"host key\"\n\n[hosts.web-1]\naddress = \"127.0.0.1\"\n\
             port = {port}\nuser = \"{}\"\nidentity = \"{}\"\n\n[[service]]\nid = \"web\"\n\
             name = \"Web\"\ntier = 1\nhosts = [\"web-1\"]\n  [[service.check]]\n  \
             name = \"answers\"\n  run = \"echo ok\"\n",
            crate::support::sshd::current_user(),
            lab.client_key.display()
        ),
    )
    .expect("write runbook");
    format!(
        "env -u SSH_AUTH_SOCK -u XDG_DATA_HOME HOME='{}' '{}' open '{}' --journal '{}' --operator e2e; echo $? > '{}'; sleep 60",
        lab.dir.path().display(),
        cargo_bin("bringup").display(),
        runbook.display(),
        journal.display(),
        exit.display()
    )
}

/// `q`, and `y` if it asks (it asks only while something would be left undone).
fn quit(tmux: &Tmux) {
    tmux.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if tmux.screen().contains("Quit?") {
        tmux.keys("y");
    }
}

/// Whether the journal has `web`'s check finished with `ok`.
fn web_checked(journal: &Path) -> bool {
    kinds_of(journal, "step_finished")
        .iter()
        .any(|e| e["service"] == "web" && e["phase"] == "check" && e["outcome"] == "ok")
}

#[test]
fn the_host_key_prompt_takes_only_capital_y_esc_leaves_it_waiting_and_capital_n_refuses() {
    crate::require!(Sshd, Tmux);
    let lab = crate::support::sshd::Lab::new();
    let sshd = lab.sshd(1);
    let port = sshd.ports[0];

    // First run: a, y and Esc do not accept; Y does, and web is checked over the trusted key.
    let p = paths();
    let tmux = Tmux::start(
        "hostkey-yes",
        &host_key_command(&lab, port, &p.journal, &p.exit),
    );
    tmux.wait_for("Unknown host key", 30);
    tmux.answer("a");
    tmux.keys("y");
    std::thread::sleep(Duration::from_millis(500));
    let screen = tmux.screen();
    assert!(
        screen.contains("Unknown host key"),
        "a and y leave the prompt open:\n{screen}"
    );
    assert!(
        kinds_of(&p.journal, "host_key_accepted").is_empty(),
        "a and y accept nothing"
    );
    tmux.keys("Escape");
    let screen = tmux.wait_for("still waiting", 10);
    assert!(
        !screen.contains("Unknown host key"),
        "Esc closes the prompt:\n{screen}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        kinds_of(&p.journal, "host_key_accepted").is_empty() && !web_checked(&p.journal),
        "after Esc the key is still unanswered and nothing ran on the host"
    );
    tmux.keys("Enter");
    tmux.wait_for("Unknown host key", 10);
    tmux.keys("Y");
    assert!(
        eventually(10, || !kinds_of(&p.journal, "host_key_accepted").is_empty()),
        "Y accepts and the journal records it"
    );
    let accepted = kinds_of(&p.journal, "host_key_accepted");
    assert_eq!(accepted[0]["host"], "web-1");
    assert_eq!(accepted[0]["fingerprint"], sshd.fingerprint().as_str());
    assert!(
        eventually(30, || web_checked(&p.journal)),
        "web is checked behind the key"
    );
    quit(&tmux);
    wait_for_exit(&p.exit, 30);
    verify(&p.journal);
    drop(tmux);

    // Second run, against a new key (the old one is remembered now): N refuses it.
    let other = lab.sshd(1);
    let p = paths();
    let tmux = Tmux::start(
        "hostkey-no",
        &host_key_command(&lab, other.ports[0], &p.journal, &p.exit),
    );
    tmux.wait_for("Unknown host key", 30);
    tmux.answer("N");
    tmux.wait_for("refused", 10);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        kinds_of(&p.journal, "host_key_accepted").is_empty(),
        "N accepts nothing"
    );
    assert!(!web_checked(&p.journal), "nothing ran on the refused host");
    quit(&tmux);
    wait_for_exit(&p.exit, 30);
    verify(&p.journal);
}

#[test]
fn resumed_in_the_tui_an_operator_may_wait_for_a_command_still_running_since_the_crash() {
    crate::require!(Tmux);
    let p = paths();
    std::fs::create_dir_all(&p.dir).expect("dir");
    let state = p.dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    let runbook = p.dir.join("slow-restore.toml");
    let s = state.display();
    std::fs::write(
        &runbook,
        format!(
            "[runbook]\nname = \"slow restore\"\n\n[hosts.box]\ntransport = \"local\"\n\n\
             [[service]]\nid = \"slow\"\nname = \"Slow\"\ntier = 1\nhosts = [\"box\"]\n  \
             [[service.check]]\n  name = \"up\"\n  run = \"test -f {s}/up\"\n  \
             [[service.restore]]\n  name = \"start slowly\"\n  \
             run = \"echo r-start $$ >> {s}/log; sleep 4; echo r-end $$ >> {s}/log; touch {s}/up\"\n  timeout = \"30s\"\n"
        ),
    )
    .expect("runbook");
    // A headless run killed with SIGKILL mid-restore leaves the restore running.
    std::fs::create_dir_all(p.journal.parent().expect("dir")).expect("journal dir");
    let mut first = Command::new(cargo_bin("bringup"))
        .args(["run", "--yes", "--journal"])
        .arg(&p.journal)
        .arg(&runbook)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run");
    assert!(
        eventually(30, || std::fs::read_to_string(state.join("log"))
            .is_ok_and(|l| l.contains("r-start"))),
        "the restore started"
    );
    first.kill().expect("SIGKILL");
    first.wait().expect("reap");

    let command = format!(
        "'{}' open '{}' --resume '{}' --operator e2e; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        runbook.display(),
        p.journal.display(),
        p.exit.display()
    );
    let tmux = Tmux::start("orphanwait", &command);
    tmux.wait_for("stop or wait? [s/w]", 30);
    tmux.keys("w");
    tmux.keys("Enter");
    // It finishes on its own; the resumed run checks the service and finds it up (restored:
    // the restore that brought it back is the one it waited for).
    tmux.wait_for("✓ restored  slow", 30);
    tmux.keys("q");
    let code = wait_for_exit(&p.exit, 30);
    assert_eq!(code, 0, "all up: {}", tmux.screen());
    let log = std::fs::read_to_string(state.join("log")).expect("log");
    assert_eq!(
        (log.matches("r-start").count(), log.matches("r-end").count()),
        (1, 1),
        "one copy, left to finish, and no second one:\n{log}"
    );
    verify(&p.journal);
    let orphan = events(&p.journal)
        .into_iter()
        .find(|e| e["kind"] == "step_finished" && e["step"] == "start slowly")
        .expect("the orphan is journaled");
    assert_eq!(orphan["outcome"], "unknown", "{orphan}");
    assert!(
        orphan["error"]
            .as_str()
            .is_some_and(|e| e.contains("chose to wait") && e.contains("finished on its own")),
        "{orphan}"
    );
}

#[test]
fn output_on_a_terminal_shows_escape_sequences_as_text_and_piped_gives_the_bytes() {
    crate::require!(Tmux);
    let p = paths();
    std::fs::create_dir_all(&p.dir).expect("dir");
    let runbook = p.dir.join("esc.toml");
    std::fs::write(
        &runbook,
        "[runbook]\nname = \"esc\"\n\n[hosts.box]\ntransport = \"local\"\n\n\
         [[service]]\nid = \"e\"\nname = \"E\"\ntier = 1\nhosts = [\"box\"]\n  \
         [[service.check]]\n  name = \"print\"\n  \
         run = \"printf 'before \\\\033[2J\\\\033]0;pwned\\\\007 after\\\\n'\"\n",
    )
    .expect("runbook");
    let ran = Command::new(cargo_bin("bringup"))
        .args(["run", "--check-only", "--journal"])
        .arg(&p.journal)
        .arg(&runbook)
        .output()
        .expect("run");
    assert_eq!(ran.status.code(), Some(0));
    let command = format!(
        "'{}' output '{}'; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        p.journal.display(),
        p.exit.display()
    );
    let tmux = Tmux::start("outputesc", &command);
    let screen = tmux.wait_for("after", 30);
    assert_eq!(wait_for_exit(&p.exit, 30), 0);
    assert!(
        screen.contains(r"before \x1b[2J\x1b]0;pwned\x07 after"),
        "the terminal is not driven by the step's bytes:\n{screen}"
    );
    let piped = Command::new(cargo_bin("bringup"))
        .arg("output")
        .arg(&p.journal)
        .output()
        .expect("output");
    assert_eq!(piped.stdout, b"before \x1b[2J\x1b]0;pwned\x07 after\n");
}

/// A runbook on the local transport: `db` is down until its `confirm` restore runs.
fn shared_runbook(dir: &Path) -> PathBuf {
    let path = dir.join("shared.toml");
    let text = format!(
        r#"
[runbook]
name = "shared e2e"

[hosts.box]
transport = "local"

[[service]]
id = "db"
name = "Database"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f '{dir}/db.up'"
  [[service.restore]]
  name = "start db"
  run = "echo starting db; touch '{dir}/db.up'"
  confirm = true
"#,
        dir = dir.display()
    );
    std::fs::write(&path, text).expect("runbook written");
    path
}

#[test]
fn an_operator_attached_from_elsewhere_approves_and_notes_and_the_executor_journals_it_as_theirs() {
    crate::require!(Etcd, Tmux);
    let cluster = crate::support::etcd::Cluster::start();
    let url = cluster.url("attach-e2e");
    let p = paths();
    std::fs::create_dir_all(&p.dir).expect("dir");
    let runbook = shared_runbook(&p.dir);
    // Headless, no --yes and no terminal: the confirm step waits for an attached approval.
    let log = std::fs::File::create(p.dir.join("run.err")).expect("log");
    let mut executor = Command::new(cargo_bin("bringup"))
        .env("XDG_STATE_HOME", &p.dir)
        .arg("run")
        .arg(&runbook)
        .args(["--journal", &url, "--operator", "kim"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("bringup run starts");
    let run_err = || std::fs::read_to_string(p.dir.join("run.err")).unwrap_or_default();
    assert!(
        eventually(30, || run_err().contains("needs approval")),
        "the run never asked for approval: {}",
        run_err()
    );

    let tmux = Tmux::start(
        "attach",
        &format!(
            "XDG_STATE_HOME='{}' '{}' attach '{url}' --operator lee; echo $? > '{}'; sleep 60",
            p.dir.display(),
            cargo_bin("bringup").display(),
            p.exit.display()
        ),
    );
    let screen = tmux.wait_for("lee attached to kim", 30);
    // The approval opens by itself: put it off, and note something first.
    tmux.wait_for("start db", 10);
    assert!(
        screen.contains("…/attach-e2e") || screen.contains(&url),
        "{screen}"
    );
    tmux.answer("Escape");
    tmux.wait_for("approval still waiting", 10);
    tmux.keys("n");
    tmux.wait_for("Note", 10);
    tmux.keys("lee took the pager");
    tmux.keys("Enter");
    tmux.wait_for("lee took the pager", 20);
    turn_auto_off_and_on(&tmux);
    // Enter on the waiting service brings the question back; y approves.
    tmux.keys("Enter");
    tmux.wait_for("approve", 10);
    tmux.keys("y");
    let status = crate::support::wait::wait_exit(&mut executor, Duration::from_secs(60));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the run ends restored: {}",
        run_err()
    );
    let screen = tmux.wait_for("run has ended", 20);
    // The services pane shows the state the run ended with, not a stale question.
    let row = screen
        .lines()
        .find(|l| l.contains(" db ") && !l.contains('·'))
        .unwrap_or_else(|| panic!("a row for db:\n{screen}"));
    assert!(row.contains("restored"), "'{row}' in:\n{screen}");
    assert!(!screen.contains("awaiting approval"), "{screen}");
    tmux.keys("q");
    assert_eq!(wait_for_exit(&p.exit, 10), 0, "q detaches with 0");

    let journal = pulled_events(&url, &p.dir);
    let of = |kind: &str| -> Vec<&Value> { journal.iter().filter(|e| e["kind"] == kind).collect() };
    let approvals = of("approval");
    assert_eq!(approvals.len(), 1, "{journal:#?}");
    assert_eq!(approvals[0]["operator"], "lee");
    assert_eq!(approvals[0]["decision"], "approved");
    assert_eq!(approvals[0]["step"], "start db");
    let notes = of("note");
    assert!(
        notes
            .iter()
            .any(|n| n["operator"] == "lee" && n["text"] == "lee took the pager"),
        "{notes:#?}"
    );
    assert_eq!(of("run_started")[0]["operator"], "kim");
    assert_eq!(
        auto_modes(&journal),
        [("kim", "auto_on"), ("lee", "auto_off"), ("lee", "auto_on")],
        "the headless run starts in auto mode; lee's two presses are lee's"
    );
    let finished = of("run_finished");
    assert_eq!(finished[0]["services"]["db"], "restored", "{finished:#?}");
    // The approval came before the step it approved was started.
    let seq = |e: &Value| e["seq"].as_u64().unwrap_or(0);
    let started = of("step_started")
        .into_iter()
        .find(|e| e["step"] == "start db")
        .expect("the restore ran");
    assert!(seq(approvals[0]) < seq(started));
}

/// A shared run's events, pulled into `dir` as a file that verifies.
fn pulled_events(url: &str, dir: &Path) -> Vec<Value> {
    let pulled = dir.join("pulled.jsonl");
    let out = Command::new(cargo_bin("bringup"))
        .args(["pull", url, "-o"])
        .arg(&pulled)
        .output()
        .expect("pull runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    verify(&pulled);
    events(&pulled)
}

/// The screen taken over shows `service`'s time as the json export of the same journal
/// measures its outage: one fold, whichever process shows it, across the take-over.
fn assert_shows_the_exports_time(screen: &str, journal: &Path, service: &str) {
    let out = Command::new(cargo_bin("bringup"))
        .arg("export")
        .arg(journal)
        .args(["--format", "json"])
        .output()
        .expect("export runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("a json export");
    let ttr = doc["services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["id"] == service))
        .and_then(|s| s["outages"].as_array()?.last()?["time_to_restore_ms"].as_u64())
        .unwrap_or_else(|| panic!("{service}'s time to restore in the export: {doc:#}"));
    let shown = bringup::tui::view::fmt_dur(Duration::from_millis(ttr));
    let row = restored_row(screen, service);
    assert!(
        row.contains(&format!(" {shown}")),
        "the screen shows '{row}', the export {ttr} ms ({shown})"
    );
}

/// Auto mode belongs to the run: an attached operator's `a` turns the executor's off, then
/// on again, each a request journaled under their name; the header shows the run's mode.
fn turn_auto_off_and_on(tmux: &Tmux) {
    // The header's word, not the timeline's: "kim turned auto on" stays on screen.
    let header_says = |word: &str| {
        assert!(
            eventually(20, || tmux
                .screen()
                .lines()
                .next()
                .is_some_and(|l| l.contains(word))),
            "the header never said '{word}':\n{}",
            tmux.screen()
        );
    };
    header_says("auto on");
    tmux.keys("a");
    header_says("auto off");
    tmux.keys("a");
    header_says("auto on");
}

/// Who turned the run's auto mode, and which way, in journal order.
fn auto_modes(journal: &[Value]) -> Vec<(&str, &str)> {
    journal
        .iter()
        .filter(|e| {
            e["kind"] == "operator_action"
                && (e["action"] == "auto_on" || e["action"] == "auto_off")
        })
        .map(|e| {
            (
                e["operator"].as_str().unwrap_or_default(),
                e["action"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// `bringup run` on a shared run, headless, its stderr into `err`.
fn shared_executor(runbook: &Path, args: &[&str], err: &Path) -> std::process::Child {
    Command::new(cargo_bin("bringup"))
        .env(
            "XDG_STATE_HOME",
            runbook.parent().expect("the runbook's folder"),
        )
        .arg("run")
        .arg(runbook)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(err).expect("log"))
        .spawn()
        .expect("bringup run starts")
}

/// A fresh 3-member cluster and, on a run named `name` there, kim's headless `run` of
/// [`shared_runbook`] waiting for an approval: the cluster, the run's URL, the paths, the
/// runbook and kim's process.
fn kim_waits_for_approval(
    name: &str,
) -> (
    crate::support::etcd::Cluster,
    String,
    Paths,
    PathBuf,
    std::process::Child,
) {
    let cluster = crate::support::etcd::Cluster::start();
    let url = cluster.url(name);
    let p = paths();
    std::fs::create_dir_all(&p.dir).expect("dir");
    let runbook = shared_runbook(&p.dir);
    let err = p.dir.join("run.err");
    let first = shared_executor(&runbook, &["--journal", &url, "--operator", "kim"], &err);
    assert!(
        eventually(30, || std::fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("needs approval")),
        "the run never asked for approval"
    );
    (cluster, url, p, runbook, first)
}

#[test]
fn an_attached_screen_says_when_the_executor_died_and_goes_on_when_another_takes_over() {
    crate::require!(Etcd, Tmux);
    let (_cluster, url, p, runbook, mut first) = kim_waits_for_approval("attach-takeover");
    let tmux = Tmux::start(
        "takeover",
        &format!(
            "XDG_STATE_HOME='{}' '{}' attach '{url}' --operator lee; echo $? > '{}'; sleep 60",
            p.dir.display(),
            cargo_bin("bringup").display(),
            p.exit.display()
        ),
    );
    tmux.wait_for("lee attached to kim", 30);
    // The executor dies without a word: its lease (10 s) runs out.
    let _ = first.kill();
    let _ = first.wait();
    let screen = tmux.wait_for("NO EXECUTOR", 30);
    assert!(
        screen.contains("T takes"),
        "the screen tells how to take over:\n{screen}"
    );
    // Another operator takes over; the attached screen follows and its approval is theirs.
    let err2 = p.dir.join("resume.err");
    let mut second = shared_executor(&runbook, &["--resume", &url, "--operator", "kai"], &err2);
    tmux.wait_for("lee attached to kai", 40);
    tmux.wait_for("awaiting approval", 20);
    tmux.keys("Escape");
    tmux.keys("Enter");
    tmux.wait_for("Approve this step?", 10);
    tmux.keys("y");
    let status = crate::support::wait::wait_exit(&mut second, Duration::from_secs(60));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the resumed run ends restored: {}",
        std::fs::read_to_string(&err2).unwrap_or_default()
    );
    tmux.wait_for("run has ended", 20);
    tmux.keys("q");
    assert_eq!(wait_for_exit(&p.exit, 10), 0);
}

#[test]
fn capital_t_on_an_attached_screen_takes_the_run_over_with_its_history_and_finishes_it() {
    crate::require!(Etcd, Tmux);
    let (_cluster, url, p, _, mut first) = kim_waits_for_approval("attach-capital-t");
    // From another folder: the runbook comes from the run, not from a file here.
    let elsewhere = p.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("dir");
    let tmux = Tmux::start(
        "capital-t",
        &format!(
            "cd '{}' && XDG_STATE_HOME='{}' '{}' attach '{url}' --operator lee; echo $? > '{}'; sleep 60",
            elsewhere.display(),
            p.dir.display(),
            cargo_bin("bringup").display(),
            p.exit.display()
        ),
    );
    tmux.wait_for("lee attached to kim", 30);
    tmux.wait_for("Approve this step?", 10);
    tmux.answer("Escape");
    tmux.wait_for("approval still waiting", 10);
    // While kim's process holds the run, T takes nothing over.
    tmux.keys("T");
    tmux.wait_for("executes this run; it can be taken over once", 10);
    // kim's question is open on this screen when kim's process dies.
    tmux.keys("Enter");
    tmux.wait_for("Approve this step?", 10);
    let _ = first.kill();
    let _ = first.wait();
    // The dead executor's dialog closes by itself: T, pressed at once, takes the run over.
    let screen = tmux.wait_for("NO EXECUTOR", 30);
    assert!(!screen.contains("Approve this step?"), "{screen}");
    tmux.keys("T");
    // The local TUI on the same terminal, executing as lee, with the run's recorded history;
    // the question pending at the take-over is asked again, with no key pressed for it.
    tmux.wait_for("by lee", 40);
    tmux.wait_for("Approve this step?", 30);
    tmux.answer("y");
    let restored = tmux.wait_for("restored", 30);
    tmux.keys("Tab");
    tmux.keys("Tab");
    if !tmux.screen().contains(" Timeline (") {
        tmux.keys("t");
        tmux.wait_for(" Timeline (", 10);
    }
    tmux.keys("Home");
    let top = tmux.wait_for("· scrolled", 10);
    assert!(
        top.contains("Run started (incident)"),
        "kim's start heads the timeline of the run taken over:\n{top}"
    );
    tmux.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if tmux.screen().contains("Quit?") {
        tmux.keys("y");
    }
    assert_eq!(
        wait_for_exit(&p.exit, 30),
        0,
        "the run taken over ends restored"
    );

    let pulled = p.dir.join("pulled.jsonl");
    let out = Command::new(cargo_bin("bringup"))
        .args(["pull", &url, "-o"])
        .arg(&pulled)
        .output()
        .expect("pull runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    verify(&pulled);
    assert_shows_the_exports_time(&restored, &pulled, "db");
    let journal = events(&pulled);
    let of = |kind: &str| -> Vec<&Value> { journal.iter().filter(|e| e["kind"] == kind).collect() };
    assert_eq!(of("run_started")[0]["operator"], "kim");
    assert_eq!(of("resumed").len(), 1, "{journal:#?}");
    let resumed = of("resumed")[0];
    assert_eq!(resumed["operator"], "lee", "{resumed}");
    assert_eq!(resumed["reason"], "take_over", "{resumed}");
    assert_eq!(resumed["previous"]["operator"], "kim", "{resumed}");
    assert_eq!(
        resumed["previous"]["pid"],
        Value::from(first.id()),
        "{resumed}"
    );
    let approvals = of("approval");
    assert_eq!(approvals.len(), 1, "{approvals:#?}");
    assert_eq!(approvals[0]["operator"], "lee");
    let starts = of("step_started")
        .into_iter()
        .filter(|e| e["step"] == "start db")
        .count();
    assert_eq!(starts, 1, "the restore ran once, after the take-over");
    assert_eq!(of("run_finished")[0]["services"]["db"], "restored");
}

#[test]
fn sigterm_mid_drill_in_the_tui_restores_what_was_injected_before_it_exits_3() {
    use std::fmt::Write as _;
    crate::require!(Tmux);
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let mut text =
        String::from("[runbook]\nname = \"tui drill\"\n[hosts.box]\ntransport = \"local\"\n");
    for (id, tier, deps, inject) in [("a", 1, "", ""), ("b", 2, "\"a\"", "; sleep 30")] {
        std::fs::write(d.join(format!("{id}.up")), "").expect("up");
        let _ = write!(
            text,
            "[[service]]\nid = \"{id}\"\nname = \"{id}\"\ntier = {tier}\nhosts = [\"box\"]\ndepends_on = [{deps}]\n\
             [[service.check]]\nname = \"up\"\nrun = \"test -f {p}/{id}.up\"\n\
             [[service.restore]]\nname = \"start {id}\"\nrun = \"touch {p}/{id}.up\"\n\
             [[service.inject]]\nname = \"stop {id}\"\nrun = \"rm -f {p}/{id}.up{inject}\"\n",
            p = d.display()
        );
    }
    text.push_str("[[scenario]]\nid = \"both\"\ninject = [\"a\", \"b\"]\n");
    let runbook = d.join("rb.toml");
    std::fs::write(&runbook, text).expect("runbook");
    let journal = d.join("journal").join("drill.jsonl");
    let exit = d.join("exit-code");
    let command = format!(
        "'{}' drill '{}' --scenario both --journal '{}' --operator e2e; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        runbook.display(),
        journal.display(),
        exit.display()
    );
    let tmux = Tmux::start("drill-term", &command);
    assert!(
        eventually(30, || std::fs::read_to_string(&journal)
            .is_ok_and(|t| t.contains(r#""phase":"inject","step":"stop b""#))
            && !d.join("b.up").exists()),
        "b's inject broke it"
    );
    let needle = journal.to_string_lossy().into_owned();
    let pid = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (args.first().is_some_and(|a| a.ends_with("bringup")) && args.contains(&needle))
                .then_some(pid)
        })
        .expect("bringup is running");
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(killed.success());
    assert_eq!(wait_for_exit(&exit, 30), 3);
    assert!(
        d.join("a.up").exists() && d.join("b.up").exists(),
        "restored"
    );
    let screen = tmux.screen();
    assert!(screen.contains("journal: "), "{screen}");
    assert!(!screen.contains("left down"), "{screen}");
    verify(&journal);
    let events = events(&journal);
    let last = events.last().expect("events");
    assert_eq!(last["kind"], "run_finished");
    assert_eq!(last["outcome"], "interrupted");
    assert_eq!(last["left_down"], serde_json::json!([]));
    assert_eq!(last["services"]["b"], "restored");
}

/// [`shared_runbook`] with a second service before `db`: `cache`, which restores by
/// itself and takes about two seconds (`db`'s restore still waits for an approval).
fn two_service_runbook(dir: &Path) -> PathBuf {
    let one = std::fs::read_to_string(shared_runbook(dir)).expect("runbook");
    let cache = format!(
        r#"[[service]]
id = "cache"
name = "Cache"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f '{dir}/cache.up'"
  [[service.restore]]
  name = "start cache"
  run = "sleep 2; touch '{dir}/cache.up'"

[[service]]
id = "db""#,
        dir = dir.display()
    );
    let text = one.replacen("[[service]]\nid = \"db\"", &cache, 1);
    let path = dir.join("two.toml");
    std::fs::write(&path, text).expect("runbook written");
    path
}

/// `service`'s row as a screen shows it once restored.
fn restored_row(screen: &str, service: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {service} ")) && l.contains("restored") && !l.contains('·'))
        .unwrap_or_else(|| panic!("{service}'s restored row:\n{screen}"))
        .to_string()
}

#[test]
fn a_services_time_is_the_same_on_the_executors_the_attached_and_the_taken_over_screen() {
    crate::require!(Etcd, Tmux);
    let cluster = crate::support::etcd::Cluster::start();
    let url = cluster.url("same-time");
    let p = paths();
    std::fs::create_dir_all(&p.dir).expect("dir");
    let runbook = two_service_runbook(&p.dir);
    let bin = cargo_bin("bringup");
    // kim executes in a TUI of their own, lee watches from another terminal.
    let kim = Tmux::start(
        "same-time-kim",
        &format!(
            "XDG_STATE_HOME='{}' '{}' open '{}' --journal '{url}' --operator kim; sleep 60",
            p.dir.display(),
            bin.display(),
            runbook.display()
        ),
    );
    kim.wait_for("by kim", 30);
    let lee = Tmux::start(
        "same-time-lee",
        &format!(
            "XDG_STATE_HOME='{}' '{}' attach '{url}' --operator lee; echo $? > '{}'; sleep 60",
            p.dir.display(),
            bin.display(),
            p.exit.display()
        ),
    );
    lee.wait_for("lee attached to kim", 30);
    kim.keys("a");
    // cache restores by itself (about 2 s); db then asks kim for an approval.
    kim.wait_for("Approve this step?", 30);
    let on_kims = restored_row(&kim.wait_for("restored", 10), "cache");
    let on_lees = restored_row(&lee.wait_for("restored", 30), "cache");

    // kim's process dies without a word; lee takes the run over on the same screen.
    let killed = Command::new("pkill")
        .args(["-KILL", "-f"])
        .arg(format!("open {}", runbook.display()))
        .status()
        .expect("pkill");
    assert!(killed.success(), "kim's bringup was found and killed");
    lee.wait_for("NO EXECUTOR", 30);
    lee.keys("T");
    lee.wait_for("by lee", 40);
    lee.wait_for("Approve this step?", 30);
    let after = restored_row(&lee.screen(), "cache");
    lee.answer("y");
    lee.wait_for(" db ", 10);
    assert!(
        eventually(30, || lee
            .screen()
            .lines()
            .filter(|l| l.contains("restored"))
            .count()
            >= 2),
        "db restored after the take-over:\n{}",
        lee.screen()
    );
    lee.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if lee.screen().contains("Quit?") {
        lee.keys("y");
    }
    assert_eq!(
        wait_for_exit(&p.exit, 30),
        0,
        "the run taken over ends restored"
    );

    let pulled = p.dir.join("pulled.jsonl");
    let out = Command::new(&bin)
        .args(["pull", &url, "-o"])
        .arg(&pulled)
        .output()
        .expect("pull runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    verify(&pulled);
    // Each screen — kim's executing, lee's attached, lee's after taking over — shows cache's
    // time as the export measures it from the journal.
    for (whose, row) in [
        ("kim's", &on_kims),
        ("lee's attached", &on_lees),
        ("lee's taken over", &after),
    ] {
        eprintln!("{whose}: {row}");
        assert_shows_the_exports_time(row, &pulled, "cache");
    }
}

/// A local runbook whose one service `vip` is down until restored; its restore step has an
/// undo that leaves `undone` behind.
fn undo_runbook(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let s = dir.display();
    let path = dir.join("undo.toml");
    std::fs::write(
        &path,
        format!(
            "[runbook]\nname = \"undo\"\n\n[hosts.operator]\ntransport = \"local\"\n\n\
[[service]]\nid = \"vip\"\nhosts = [\"operator\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {s}/up\"\n\n\
[[service.restore]]\nname = \"move the VIP\"\nrun = \"touch {s}/up\"\n\
undo = \"rm {s}/up && touch {s}/undone\"\n"
        ),
    )
    .expect("write runbook");
    path
}

#[test]
fn u_asks_first_showing_the_undo_per_host_and_esc_runs_nothing() {
    crate::require!(Tmux);
    let p = paths();
    let runbook = undo_runbook(&p.dir);
    let command = format!(
        "'{}' open --journal '{}' --operator e2e '{}'; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        p.journal.display(),
        runbook.display(),
        p.exit.display()
    );
    let tmux = Tmux::start("undo", &command);
    tmux.wait_for("press a to restore in plan order", 30);
    tmux.keys("a");
    assert!(
        eventually(30, || kinds_of(&p.journal, "service_state")
            .iter()
            .any(|e| e["to"] == "restored")),
        "vip restored"
    );
    let undos = |journal: &Path| -> usize {
        kinds_of(journal, "step_started")
            .iter()
            .filter(|e| e["phase"] == "undo")
            .count()
    };
    tmux.keys("u");
    let screen = tmux.wait_for("Undo vip?", 10);
    assert!(
        screen.contains(&format!("operator: rm {}/up", p.dir.display())),
        "shows the undo command per host:\n{screen}"
    );
    tmux.keys("Escape");
    tmux.wait_for("nothing was run", 10);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(undos(&p.journal), 0, "Esc ran nothing");
    assert!(!p.dir.join("undone").exists());

    // Asked again and answered: the undo runs, journaled as phase undo, and vip is checked.
    tmux.keys("u");
    tmux.wait_for("Undo vip?", 10);
    tmux.keys("y");
    assert!(eventually(30, || p.dir.join("undone").exists()), "undo ran");
    assert!(
        eventually(30, || kinds_of(&p.journal, "service_state")
            .iter()
            .any(|e| e["to"] == "undone")),
        "vip undone"
    );
    assert_eq!(undos(&p.journal), 1);
    quit(&tmux);
    verify(&p.journal);
}

/// One local service on h01…h32 whose check prints `all good` on 30 hosts, `disk full`
/// (exit 1) on h07 and `warming up` on h19.
fn fleet_runbook(dir: &Path) -> PathBuf {
    use std::fmt::Write as _;
    std::fs::create_dir_all(dir).expect("dir");
    let mut toml = String::from("[runbook]\nname = \"fleet\"\n\n");
    let hosts: Vec<String> = (1..=32).map(|i| format!("h{i:02}")).collect();
    for h in &hosts {
        let _ = writeln!(toml, "[hosts.{h}]\ntransport = \"local\"\n");
    }
    let list: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let _ = write!(
        toml,
        "[[service]]\nid = \"fleet\"\nname = \"A fleet\"\ntier = 1\nhosts = [{}]\n  \
         [[service.check]]\n  name = \"disk\"\n  run = '''\n\
         case \"{{{{host}}}}\" in\n  h07) echo \"disk full\"; exit 1 ;;\n  \
         h19) echo \"warming up\" ;;\n  *) echo \"all good\" ;;\nesac\n'''\n",
        list.join(", ")
    );
    let path = dir.join("fleet.toml");
    std::fs::write(&path, toml).expect("write runbook");
    path
}

#[test]
fn thirty_hosts_that_printed_the_same_share_one_row_and_g_unfolds_them() {
    crate::require!(Tmux);
    let p = paths();
    let runbook = fleet_runbook(&p.dir);
    let command = format!(
        "'{}' open '{}' --journal '{}' --operator e2e; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        runbook.display(),
        p.journal.display(),
        p.exit.display()
    );
    let tmux = Tmux::start("fold", &command);
    let group = "30 hosts: h[01-06,08-18,20-32]";
    let screen = tmux.wait_for(group, 30);
    // Rows of the top panes only (the timeline below names hosts too).
    let row = |screen: &str, text: &str| {
        screen
            .lines()
            .take_while(|l| !l.starts_with('└'))
            .filter(|l| l.contains(text))
            .count()
    };
    assert_eq!(row(&screen, group), 1, "one row for the 30:\n{screen}");
    assert!(
        row(&screen, "h07 ") == 1 && row(&screen, "h19 ") == 1,
        "{screen}"
    );
    assert_eq!(
        row(&screen, "h02 "),
        0,
        "h02 is inside the group:\n{screen}"
    );
    tmux.keys("g");
    let screen = tmux.wait_for("h02 ", 10);
    assert_eq!(row(&screen, "30 hosts:"), 0, "unfolded:\n{screen}");
    assert!(
        row(&screen, "h01 ") == 1 && row(&screen, "h03 ") == 1,
        "{screen}"
    );
    tmux.keys("g");
    let screen = tmux.wait_for(group, 10);
    assert_eq!(row(&screen, "h02 "), 0, "folded again:\n{screen}");
    quit(&tmux);
}
