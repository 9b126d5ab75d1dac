//! The 3 a.m. flow, end to end: the real binary's TUI in a private tmux server, driven with
//! keys as an operator would (SPEC "Operator flow"). At 80×24 every demo service shows; when
//! auto mode stops on mail-imap's failure, it is selected and the hint names its step, exit
//! code and last output line; `r` retries it as attempt #2 under an attempt heading; the `:`
//! palette runs a restore; the help scrolls to its last key at 60×15; a long command's
//! confirm dialog keeps its keys at 80×24; a declined approval shows first, naming the step
//! and who declined it; `--plain` tells the run in lines of words.

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

use crate::support::events::read_written as events;
use crate::support::tmux::{Tmux, wait_for_exit};

struct Paths {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    journal: PathBuf,
    exit: PathBuf,
}

fn paths() -> Paths {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    Paths {
        journal: root.join("journal").join("run.jsonl"),
        exit: root.join("exit-code"),
        root,
        _tmp: tmp,
    }
}

/// `bringup demo` with `extra` options, its exit code written to a file.
fn demo(p: &Paths, extra: &str) -> String {
    format!(
        "'{}' demo --dir '{}' --journal '{}' --operator e2e {extra}; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        p.root.join("dc").display(),
        p.journal.display(),
        p.exit.display()
    )
}

/// Restore steps of `service` started in the journal.
fn restores_started(journal: &Path, service: &str, step: &str) -> usize {
    events(journal)
        .iter()
        .filter(|e| {
            e["kind"] == "step_started"
                && e["service"] == service
                && e["phase"] == "restore"
                && e["step"] == step
        })
        .count()
}

const DEMO_SERVICES: [&str; 10] = [
    "dns",
    "database",
    "auth",
    "talk-messaging",
    "media-transfer",
    "pc-login",
    "talk-channel",
    "push-notifications",
    "mail-smtp",
    "mail-imap",
];

/// The services pane's rows: the left part of the screen's lines that name a service.
fn service_row<'a>(screen: &'a str, id: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        let left: String = l.chars().take(40).collect();
        left.split_whitespace().any(|w| w == id)
    })
}

const MOUNT: &str = "mount the mail storage volume";

#[test]
fn at_80x24_the_demo_shows_every_service_then_its_failure_first_a_retry_and_the_palette() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start_sized("failure", &demo(&p, ""), (80, 24));
    let screen = tmux.wait_for("a: restore all in plan order", 30);
    for id in DEMO_SERVICES {
        let row = service_row(&screen, id)
            .unwrap_or_else(|| panic!("'{id}' is not on the 80×24 screen:\n{screen}"));
        assert!(
            ["healthy", "down", "failed", "restored"]
                .iter()
                .any(|w| row.contains(w)),
            "'{id}' keeps its state word: {row}"
        );
    }

    // Auto mode runs the plan; the operator approves and marks the manual step, then looks
    // at dns while the rest runs.
    tmux.keys("a");
    tmux.wait_for("Approve this step?", 30);
    tmux.answer("y");
    tmux.wait_for("Manual step", 60);
    tmux.answer("d");
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..9 {
        tmux.keys("k");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !service_row(&tmux.screen(), "dns").is_some_and(|r| r.contains('›')) {
        assert!(Instant::now() < deadline, "k moves the selection to dns");
        std::thread::sleep(Duration::from_millis(100));
    }

    // It stops on mail-imap: selected, and the hint says why and what to press.
    let screen = tmux.wait_for("'mail-imap' failed", 90);
    let row = service_row(&screen, "mail-imap").expect("mail-imap row");
    assert!(
        row.contains('›') && row.contains("failed"),
        "mail-imap is selected: {row}\n{screen}"
    );
    let hint = screen
        .lines()
        .find(|l| l.contains("'mail-imap' failed"))
        .expect("the hint");
    assert!(
        hint.contains("exit 32") && hint.contains("r retry") && hint.contains("s skip"),
        "{hint}"
    );
    assert!(
        screen.contains("mail-1: mount: /srv/mail: volume 'mailstore-07' is degraded"),
        "the last line it printed:\n{screen}"
    );

    // r: a second attempt, set apart in the output and counted #2 in the steps pane.
    tmux.keys("r");
    tmux.keys("t");
    let screen = tmux.wait_for("── attempt 2", 30);
    tmux.wait_for("exit 32  #2", 30);
    assert!(screen.contains("Output · restore"), "{screen}");
    assert_eq!(restores_started(&p.journal, "mail-imap", MOUNT), 2);

    // The palette: a few letters of the action and of the service, then Enter.
    tmux.wait_for("'mail-imap' failed", 30);
    tmux.keys(":");
    tmux.keys("rest mail");
    let screen = tmux.wait_for("restore mail-imap", 10);
    assert!(screen.contains(":rest mail"), "{screen}");
    tmux.keys("Enter");
    tmux.wait_for("exit 32  #3", 30);
    assert_eq!(restores_started(&p.journal, "mail-imap", MOUNT), 3);
    let by_hand = events(&p.journal)
        .iter()
        .filter(|e| {
            e["kind"] == "operator_action"
                && e["service"] == "mail-imap"
                && e["action"] == "by_hand_restore"
        })
        .count();
    assert_eq!(
        by_hand, 2,
        "r and the palette's restore are journaled as by hand"
    );

    tmux.wait_for("'mail-imap' failed", 30);
    tmux.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if tmux.screen().contains("Quit?") {
        tmux.keys("y");
    }
    assert_eq!(wait_for_exit(&p.exit, 30), 1);
}

#[test]
fn at_60x15_the_help_scrolls_to_its_last_key() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start_sized("help", &demo(&p, ""), (60, 15));
    tmux.wait_for("a: restore all", 30);
    tmux.keys("?");
    let screen = tmux.wait_for("Keys (Esc or ? to close)", 10);
    assert!(screen.contains("more: j/PgDn/End"), "{screen}");
    assert!(!screen.contains("Quit?"), "{screen}");
    tmux.keys("End");
    let screen = tmux.wait_for("end · k/PgUp/Home", 10);
    let lines: Vec<&str> = screen.trim_end().lines().collect();
    let last_key = lines[lines.len() - 3];
    assert!(
        screen.contains("Quit?") && last_key.contains("Esc   close / not now"),
        "the quit dialog's keys, the help's last, show:\n{screen}"
    );
    tmux.keys("Escape");
    // Apart from Esc, or the terminal reads the two as Alt-q.
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("q");
    assert_eq!(wait_for_exit(&p.exit, 30), 1);
}

#[test]
fn at_80x24_a_long_commands_confirm_dialog_shows_its_keys() {
    crate::require!(Tmux);
    let p = paths();
    let shards: Vec<String> = (1..=60).map(|i| format!("shard-{i:02}")).collect();
    let runbook = p.root.join("long.toml");
    std::fs::write(
        &runbook,
        format!(
            r#"[runbook]
name = "long confirm"

[hosts.local]
transport = "local"

[[service]]
id = "gateway"
name = "Gateway"
tier = 1
hosts = ["local"]

  [[service.check]]
  name = "up"
  run = "test -f '{marker}'"

  [[service.restore]]
  name = "start every shard"
  run = "echo starting {shards} && touch '{marker}'"
  confirm = true
"#,
            marker = p.root.join("up").display(),
            shards = shards.join(" "),
        ),
    )
    .expect("runbook written");
    let command = format!(
        "'{}' open '{}' --journal '{}' --operator e2e; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        runbook.display(),
        p.journal.display(),
        p.exit.display()
    );
    let tmux = Tmux::start_sized("confirm", &command, (80, 24));
    tmux.wait_for("a: restore all", 30);
    tmux.keys("a");
    let screen = tmux.wait_for("Approve this step?", 30);
    assert!(screen.contains("shard-01"), "{screen}");
    let dialog_keys = screen
        .lines()
        .find(|l| l.contains("y approve   n decline"))
        .unwrap_or_else(|| panic!("the dialog's own keys are in view:\n{screen}"));
    assert!(dialog_keys.contains("Esc not now"), "{dialog_keys}");
    tmux.answer("y");
    tmux.wait_for("every service is up", 30);
    tmux.keys("q");
    assert_eq!(wait_for_exit(&p.exit, 30), 0);
}

#[test]
fn at_80x24_a_declined_approval_shows_first_with_the_step_and_who_declined_it() {
    crate::require!(Tmux);
    let p = paths();
    let runbook = p.root.join("decline.toml");
    std::fs::write(
        &runbook,
        format!(
            r#"[runbook]
name = "decline"

[hosts.local]
transport = "local"

[[service]]
id = "gateway"
name = "Gateway"
tier = 1
hosts = ["local"]

  [[service.check]]
  name = "up"
  run = "test -f '{marker}'"

  [[service.restore]]
  name = "start the gateway"
  run = "touch '{marker}'"
  confirm = true
"#,
            marker = p.root.join("up").display(),
        ),
    )
    .expect("runbook written");
    let command = format!(
        "'{}' open '{}' --journal '{}' --operator e2e; echo $? > '{}'; sleep 60",
        cargo_bin("bringup").display(),
        runbook.display(),
        p.journal.display(),
        p.exit.display()
    );
    let tmux = Tmux::start_sized("decline", &command, (80, 24));
    tmux.wait_for("a: restore all", 30);
    tmux.keys("a");
    tmux.wait_for("Approve this step?", 30);
    tmux.answer("n");
    tmux.wait_for("Decline 'start the gateway'?", 10);
    tmux.answer("N");

    // The run stopped on the decline: the hint names the service, who declined and the step.
    let screen = tmux.wait_for("'gateway' failed", 30);
    let hint = screen
        .lines()
        .find(|l| l.contains("'gateway' failed"))
        .expect("the hint");
    assert!(
        hint.contains("e2e declined 'start the gateway'") && hint.contains("r retry"),
        "{hint}\n{screen}"
    );
    assert!(
        screen.contains("e2e declined restore 'start the gateway' at "),
        "the detail line:\n{screen}"
    );
    let row = service_row(&screen, "gateway").expect("gateway row");
    assert!(
        row.contains('›') && row.contains("failed"),
        "gateway is selected: {row}"
    );
    let declined = events(&p.journal)
        .iter()
        .any(|e| e["kind"] == "approval" && e["decision"] == "declined" && e["operator"] == "e2e");
    assert!(declined, "the decline is journaled with the operator");
    tmux.keys("q");
    std::thread::sleep(Duration::from_millis(500));
    if tmux.screen().contains("Quit?") {
        tmux.keys("y");
    }
    assert_eq!(wait_for_exit(&p.exit, 30), 1);
}

#[test]
fn plain_tells_the_demo_in_lines_of_words_and_takes_answers_as_lines() {
    crate::require!(Tmux);
    let p = paths();
    let tmux = Tmux::start_sized("plain", &demo(&p, "--plain"), (200, 50));
    tmux.wait_printed("next: 8 not up", 30);
    tmux.keys("a");
    tmux.keys("Enter");
    tmux.wait_printed(
        "question: approve restore 1 'promote the replica to primary' of database on db-replica?",
        30,
    );
    tmux.answer("y");
    tmux.keys("Enter");
    tmux.wait_printed("question: manual step 'move the VIP' of talk-messaging", 60);
    tmux.answer("d");
    tmux.keys("Enter");
    tmux.wait_printed("next: 'mail-imap' failed at restore", 90);
    tmux.keys("status");
    tmux.keys("Enter");
    let text = tmux.wait_printed("tier 5 mail-imap: failed", 10);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();

    // Line by line: no box drawing, no escape sequences, every state a word.
    for l in &lines {
        assert!(
            !l.chars()
                .any(|c| ('\u{2500}'..='\u{257f}').contains(&c) || c == '\u{1b}'),
            "plain text only: {l}"
        );
    }
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(has("answer: y approves, n declines"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("bringup: problem: mail-imap: restoring to failed")),
        "each event on its line, the state a word:\n{text}"
    );
    assert!(
        has("last output: mail-1: mount: /srv/mail: volume 'mailstore-07' is degraded"),
        "{text}"
    );
    for id in DEMO_SERVICES {
        assert!(
            lines.iter().any(|l| l.contains(&format!(" {id}: "))
                && ["healthy", "restored", "failed"]
                    .iter()
                    .any(|w| l.contains(w))),
            "status says {id}'s state:\n{text}"
        );
    }
    let answered = events(&p.journal)
        .iter()
        .any(|e| e["kind"] == "approval" && e["decision"] == "approved" && e["operator"] == "e2e");
    assert!(answered, "the typed y approved the step");

    // A palette command typed as a line restores mail-imap again.
    tmux.keys("restore mail-imap");
    tmux.keys("Enter");
    let deadline = Instant::now() + Duration::from_secs(30);
    while restores_started(&p.journal, "mail-imap", MOUNT) < 2 {
        assert!(
            Instant::now() < deadline,
            "the typed command restored nothing"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    tmux.wait_printed("message: restore of 'mail-imap' started by hand", 10);
    std::thread::sleep(Duration::from_secs(3));
    tmux.keys("q");
    tmux.keys("Enter");
    std::thread::sleep(Duration::from_millis(500));
    if tmux.history().contains("question: quit") {
        tmux.keys("y");
        tmux.keys("Enter");
    }
    assert_eq!(wait_for_exit(&p.exit, 30), 1);
}
