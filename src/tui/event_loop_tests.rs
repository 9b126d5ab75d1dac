//! The App and the real driver together: keys in, engine, local commands and journal out.
//! No terminal: the loop's select is replaced by pumping the driver's messages.

use std::path::Path;
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::driver::testkit;
use crate::engine::StepRef;
use crate::engine::state::Mode;
use crate::journal::Event;
use crate::runbook::model::HostId;
use crate::tui::app::{Overlay, RunInfo};
use front_support::{press, pump_within};

/// db (tier 1, confirm restore), web (tier 2, after db: a manual step then a command), dns
/// (tier 1, healthy), and optionally slow (a check that takes 30 s).
fn runbook(dir: &Path, slow: bool) -> std::path::PathBuf {
    let mut text = String::from(
        r#"
[runbook]
name = "loop test"

[vars]
dir = "/nonexistent"

[hosts.box]
transport = "local"

[[service]]
id = "dns"
name = "DNS"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "answers"
  run = "echo serving; echo zone loaded"
"#,
    );
    text.push_str(&testkit::db_service("{{dir}}"));
    text.push_str(
        r#"
[[service]]
id = "web"
name = "Web"
tier = 2
hosts = ["box"]
depends_on = ["db"]
  [[service.check]]
  name = "up"
  run = "test -f {{dir}}/web.up"
  [[service.restore]]
  name = "move the VIP"
  manual = "Ask netops to move the VIP."
  [[service.restore]]
  name = "start web"
  run = "touch {{dir}}/web.up"
"#,
    );
    testkit::write_runbook(dir, "loop.toml", text, slow)
}

fn open(dir: &Path, slow: bool) -> (Front, Inbox, std::path::PathBuf) {
    let path = runbook(dir, slow);
    let testkit::Opened {
        driver,
        messages,
        runbook,
        start_notices,
        journal,
    } = testkit::open_session(dir, &path, "tester", vec![format!("dir={}", dir.display())]);
    let info = RunInfo {
        mode: Mode::Incident,
        operator: "tester".into(),
        journal: journal.clone(),
    };
    let mut front = Front::new(App::new(runbook, info), driver, Duration::ZERO);
    front.history(start_notices);
    (front, messages, journal)
}

#[path = "../../tests/support/front.rs"]
mod front_support;

/// Feed the driver's messages until `done` holds; false after 20 s.
async fn pump(front: &mut Front, rx: &mut Inbox, done: impl Fn(&Front) -> bool) -> bool {
    pump_within(front, rx, Duration::from_secs(20), done).await
}

fn state(front: &Front, id: &str) -> ServiceState {
    front
        .app
        .view_of(&ServiceId::new(id))
        .map(|v| v.state)
        .unwrap_or_default()
}

fn swept(front: &Front) -> bool {
    ["dns", "db", "web"].iter().all(|id| {
        !matches!(
            state(front, id),
            ServiceState::Unknown | ServiceState::Checking
        )
    })
}

fn kinds(journal: &Path) -> Vec<Event> {
    crate::journal::read_journal(journal)
        .expect("journal reads")
        .records
        .into_iter()
        .map(|r| r.event)
        .collect()
}

#[tokio::test]
async fn opening_checks_every_service_at_once_and_restores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut front, mut rx, journal) = open(dir.path(), false);
    front.start().expect("start");
    assert!(pump(&mut front, &mut rx, swept).await, "the sweep ended");
    // Give a restore that should not start every chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    pump_within(&mut front, &mut rx, Duration::from_millis(50), |_| false).await;

    assert_eq!(state(&front, "dns"), ServiceState::Healthy);
    assert_eq!(state(&front, "db"), ServiceState::Down);
    assert_eq!(state(&front, "web"), ServiceState::Down);
    assert!(!front.app.auto());
    assert!(
        !kinds(&journal).iter().any(|e| matches!(
            e,
            Event::StepStarted { phase, .. } if *phase != crate::engine::state::Phase::Check
        )),
        "nothing but checks ran"
    );
    let dns_check = StepRef {
        service: ServiceId::new("dns"),
        phase: crate::engine::state::Phase::Check,
        index: 0,
    };
    let shown: Vec<String> = front
        .app
        .output
        .get(&dns_check, &HostId::new("box"))
        .map(|b| b.lines(0, b.len()).map(str::to_string).collect())
        .unwrap_or_default();
    assert_eq!(
        shown,
        ["serving", "zone loaded"],
        "each output line on its own row"
    );
    let hint = crate::tui::hint::next_step(&front.app).expect("a hint");
    assert!(hint.contains("press a"), "{hint}");
}

#[tokio::test]
async fn auto_then_y_and_d_restore_in_order_and_a_clean_quit_journals_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut front, mut rx, journal) = open(dir.path(), false);
    front.start().expect("start");
    assert!(pump(&mut front, &mut rx, swept).await);

    press(&mut front, 'a');
    assert!(front.app.auto());
    let db_asks = |f: &Front| matches!(f.app.overlay(), Some(Overlay::Approval(s)) if s.service.as_str() == "db");
    assert!(
        pump(&mut front, &mut rx, db_asks).await,
        "db asks for approval"
    );
    assert_eq!(
        front.app.selected_service().map(|s| s.id.as_str()),
        Some("db"),
        "the question brings its service into view"
    );
    tokio::time::sleep(DIALOG_GUARD).await;
    press(&mut front, 'y');
    let web_asks = |f: &Front| matches!(f.app.overlay(), Some(Overlay::Manual(s)) if s.service.as_str() == "web");
    assert!(
        pump(&mut front, &mut rx, web_asks).await,
        "web asks for the manual step"
    );
    assert_eq!(state(&front, "db"), ServiceState::Restored, "tier 1 first");
    tokio::time::sleep(DIALOG_GUARD).await;
    press(&mut front, 'd');
    assert!(
        pump(&mut front, &mut rx, |f| state(f, "web")
            == ServiceState::Restored)
        .await,
        "web restored"
    );

    press(&mut front, 'q');
    assert!(front.quitting(), "nothing runs: q quits without asking");
    front.wind_down(&mut rx, std::future::pending()).await;
    assert_eq!(front.finish(End::Quit).expect("journal"), 0);

    let events = kinds(&journal);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Approval { service, operator, decision: crate::engine::Decision::Approved, .. }
            if service.as_str() == "db" && operator == "tester"
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Manual { service, outcome: crate::engine::ManualOutcome::Done, .. } if service.as_str() == "web"
    )));
    assert!(matches!(
        events.last(),
        Some(Event::RunFinished { outcome, .. }) if outcome == "restored"
    ));
    assert!(
        crate::journal::verify(&journal)
            .expect("readable")
            .is_intact()
    );
}

#[tokio::test]
async fn a_key_typed_as_auto_mode_opens_a_dialog_is_not_taken_as_its_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut front, mut rx, journal) = open(dir.path(), false);
    front.start().expect("start");
    assert!(pump(&mut front, &mut rx, swept).await);
    press(&mut front, 'a');
    let db_asks = |f: &Front| matches!(f.app.overlay(), Some(Overlay::Approval(s)) if s.service.as_str() == "db");
    assert!(pump(&mut front, &mut rx, db_asks).await);
    // Typed for the main screen just as the dialog came up: not an answer.
    press(&mut front, 'y');
    assert!(db_asks(&front), "the question is still open");
    assert!(
        !kinds(&journal)
            .iter()
            .any(|e| matches!(e, Event::Approval { .. })),
        "nothing approved"
    );
    tokio::time::sleep(DIALOG_GUARD).await;
    press(&mut front, 'y');
    assert!(
        kinds(&journal)
            .iter()
            .any(|e| matches!(e, Event::Approval { .. }))
    );
    front.wind_down(&mut rx, std::future::pending()).await;
}

#[tokio::test]
async fn quitting_while_a_check_runs_asks_then_stops_it_records_how_it_ended_and_exits_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut front, mut rx, journal) = open(dir.path(), true);
    front.start().expect("start");
    assert!(pump(&mut front, &mut rx, swept).await);
    assert_eq!(state(&front, "slow"), ServiceState::Checking);

    press(&mut front, 'q');
    assert_eq!(front.app.overlay(), Some(&Overlay::QuitConfirm));
    assert!(!front.quitting());
    press(&mut front, 'y');
    assert!(front.quitting());

    let started = std::time::Instant::now();
    front.wind_down(&mut rx, std::future::pending()).await;
    assert!(!front.driver.busy(), "the hung check was stopped");
    assert!(started.elapsed() < Duration::from_secs(20));
    // A quit, not a signal: still an interruption, because a step was running.
    assert_eq!(front.finish(End::Quit).expect("journal"), 3);

    let events = kinds(&journal);
    testkit::assert_slow_stopped_and_interrupted(&events);
}

#[tokio::test]
async fn a_note_typed_in_the_tui_lands_in_the_journal_with_its_operator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut front, mut rx, journal) = open(dir.path(), false);
    front.start().expect("start");
    assert!(pump(&mut front, &mut rx, swept).await);
    press(&mut front, 'n');
    for c in "netops paged".chars() {
        press(&mut front, c);
    }
    front
        .key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
        .expect("journal");
    assert!(kinds(&journal).iter().any(|e| matches!(
        e,
        Event::Note { operator, text, .. } if operator == "tester" && text == "netops paged"
    )));
}

#[tokio::test]
async fn an_approval_given_by_another_operator_closes_the_dialog_through_the_drivers_word() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut front, mut rx, journal) = open(dir.path(), false);
    front.start().expect("start");
    assert!(pump(&mut front, &mut rx, swept).await);
    press(&mut front, 'a');
    let db_asks = |f: &Front| matches!(f.app.overlay(), Some(Overlay::Approval(s)) if s.service.as_str() == "db");
    assert!(pump(&mut front, &mut rx, db_asks).await, "db asks");
    let Some(Overlay::Approval(step)) = front.app.overlay().cloned() else {
        panic!("the approval dialog");
    };
    // Approved elsewhere (as an attached operator's request is carried out): the driver's
    // notices alone, before any sync of the engine's views, close the dialog.
    let notices = front
        .driver
        .input_by(
            "remote",
            Input::Approval {
                step: step.clone(),
                decision: crate::engine::Decision::Approved,
            },
        )
        .expect("approval journaled");
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::Withdrawn { step: s } if *s == step)),
        "{notices:?}"
    );
    front.history(notices);
    assert_eq!(front.app.overlay(), None);
    assert!(
        pump(&mut front, &mut rx, |f| state(f, "db")
            == ServiceState::Restored)
        .await,
        "the approved step ran"
    );
    assert!(kinds(&journal).iter().any(|e| matches!(
        e,
        Event::Approval { operator, .. } if operator == "remote"
    )));
    front.wind_down(&mut rx, std::future::pending()).await;
}

/// A drill over `a` (tier 1) and `b` (tier 2, after `a`), each up while `dir/<id>.up`
/// exists; injects remove it (`b`'s then sleeps 30 s), restores touch it.
fn drill_runbook(dir: &Path) -> std::path::PathBuf {
    use std::fmt::Write as _;
    let d = dir.display();
    let mut text =
        String::from("[runbook]\nname = \"drill loop\"\n\n[hosts.box]\ntransport = \"local\"\n");
    for (id, tier, deps, inject) in [("a", 1, "", ""), ("b", 2, "\"a\"", "; sleep 30")] {
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
  [[service.restore]]
  name = "start {id}"
  run = "touch {d}/{id}.up"
  [[service.inject]]
  name = "stop {id}"
  run = "rm -f {d}/{id}.up{inject}"
"#
        );
        std::fs::write(dir.join(format!("{id}.up")), "").expect("up");
    }
    text.push_str("\n[[scenario]]\nid = \"both\"\ninject = [\"a\", \"b\"]\n");
    testkit::write_runbook(dir, "drill.toml", text, false)
}

#[tokio::test]
async fn quitting_a_drill_mid_inject_restores_what_it_injected_as_a_signal_in_run_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = drill_runbook(dir.path());
    let testkit::Opened {
        driver,
        mut messages,
        runbook,
        start_notices,
        journal,
    } = testkit::open_session(dir.path(), &path, "tester", Vec::new());
    let info = RunInfo {
        mode: Mode::Drill,
        operator: "tester".into(),
        journal: journal.clone(),
    };
    let mut front = Front::new(App::new(runbook, info), driver, Duration::ZERO);
    front.history(start_notices);
    front.start_drill("both").expect("start");
    let b_injecting = |_: &Front| {
        kinds(&journal).iter().any(|e| {
            matches!(e, Event::StepStarted { service, phase: crate::engine::state::Phase::Inject, .. } if service.as_str() == "b")
        })
    };
    assert!(pump(&mut front, &mut messages, b_injecting).await);
    for _ in 0..200 {
        if !dir.path().join("b.up").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!dir.path().join("a.up").exists() && !dir.path().join("b.up").exists());

    press(&mut front, 'q');
    press(&mut front, 'y');
    assert!(front.quitting());
    front.wind_down(&mut messages, std::future::pending()).await;
    assert_eq!(front.finish(End::Quit).expect("journal"), 3);

    assert!(dir.path().join("a.up").exists() && dir.path().join("b.up").exists());
    assert_eq!(state(&front, "a"), ServiceState::Restored);
    assert_eq!(state(&front, "b"), ServiceState::Restored);
    let Some(Event::RunFinished {
        outcome, left_down, ..
    }) = kinds(&journal).pop()
    else {
        panic!("run_finished last");
    };
    assert_eq!(outcome, "interrupted");
    assert_eq!(left_down, Some(Vec::new()));
}
