//! The driver's one API, driven by a fake third front end (an operator attached from
//! elsewhere): no App, no terminal, only `input_by`, `Inbox::next` + `on_messages`,
//! `stop_and_wait` and `end`. Real local commands, a real journal read back after.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::driver::testkit;
use crate::engine::{Decision, Phase};
use crate::journal::read_journal;

const REMOTE: &str = "remote-operator";

/// db (confirm restore) and, with `slow`, a service whose check sleeps for 30 s.
fn runbook(dir: &Path, slow: bool) -> PathBuf {
    let text = format!(
        r#"
[runbook]
name = "driver api"

[hosts.box]
transport = "local"
{}"#,
        testkit::db_service(&dir.display().to_string())
    );
    testkit::write_runbook(dir, "api.toml", text, slow)
}

fn open(dir: &Path, slow: bool) -> (Driver, Inbox, PathBuf) {
    let path = runbook(dir, slow);
    let opened = testkit::open_session(dir, &path, "local-operator", Vec::new());
    (opened.driver, opened.messages, opened.journal)
}

/// Receive in batches and carry them out until `done` holds on what was shown; the notices
/// seen are returned. Panics after 20 s.
async fn pump(
    driver: &mut Driver,
    inbox: &mut Inbox,
    done: impl Fn(&Driver, &[Notice]) -> bool,
) -> Vec<Notice> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(driver, &seen) {
        let batch = tokio::time::timeout_at(deadline, inbox.next())
            .await
            .expect("the run moved on within 20 s")
            .expect("the driver's tasks are alive");
        seen.extend(driver.on_messages(batch).expect("journal writable"));
    }
    seen
}

/// `stop_and_wait` up to `grace`, with no second request to leave and nothing shown.
async fn stop_within(driver: &mut Driver, inbox: &mut Inbox, grace: Duration) -> Stopped {
    driver
        .stop_and_wait(inbox, grace, std::future::pending(), drop)
        .await
}

fn events(journal: &Path) -> Vec<Event> {
    let read = read_journal(journal).expect("journal reads");
    assert!(read.report.is_intact(), "{:?}", read.report);
    read.records.into_iter().map(|r| r.event).collect()
}

fn asked(notices: &[Notice]) -> Option<StepRef> {
    notices.iter().find_map(|n| match n {
        Notice::AskApproval { step, .. } => Some(step.clone()),
        _ => None,
    })
}

#[tokio::test]
async fn a_third_front_end_approves_and_notes_and_the_journal_signs_them_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, journal) = open(dir.path(), false);
    let mut seen = driver.input(Input::RunPlan).expect("plan starts");
    seen.extend(pump(&mut driver, &mut inbox, |_, n| asked(n).is_some()).await);
    let step = asked(&seen).expect("the confirm step asks");

    driver
        .input_by(REMOTE, Request::Note("netops paged".into()))
        .expect("note journaled");
    driver
        .input_by(
            REMOTE,
            Input::Approval {
                step,
                decision: Decision::Approved,
            },
        )
        .expect("approval journaled");
    pump(&mut driver, &mut inbox, |d, _| {
        d.finished().is_some() && !d.busy()
    })
    .await;
    let ended = driver.end(Ending::Idle).expect("end journaled");
    assert_eq!(
        (ended.outcome, ended.exit),
        (RunOutcome::Restored, Exit::AllUp)
    );

    let events = events(&journal);
    let approval = events
        .iter()
        .position(|e| {
            matches!(e, Event::Approval { operator, decision: Decision::Approved, step, .. }
                if operator == REMOTE && step == "start db")
        })
        .expect("the approval is journaled with the remote operator's name");
    let restore = events
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::StepStarted {
                    phase: Phase::Restore,
                    ..
                }
            )
        })
        .expect("the restore ran");
    assert!(
        approval < restore,
        "approval is on disk before the step starts"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Note { operator, text, .. } if operator == REMOTE && text == "netops paged"
    )));
    assert!(matches!(
        events.last(),
        Some(Event::RunFinished { outcome, .. }) if outcome == "restored"
    ));
}

#[tokio::test]
async fn a_stop_through_the_api_cancels_running_steps_and_the_run_ends_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, journal) = open(dir.path(), true);
    driver.input(Input::RunPlan).expect("plan starts");
    assert!(driver.busy(), "the slow check runs");
    let started = std::time::Instant::now();
    let stopped = stop_within(&mut driver, &mut inbox, Duration::from_secs(20)).await;
    assert_eq!(stopped, Stopped::All);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the 30 s check was cancelled, not waited for ({:?})",
        started.elapsed()
    );
    let ended = driver.end(Ending::Signal).expect("end journaled");
    assert_eq!(
        (ended.outcome, ended.exit.code()),
        (RunOutcome::Interrupted, 3)
    );

    let events = events(&journal);
    testkit::assert_slow_stopped_and_interrupted(&events);
}

#[tokio::test]
async fn ending_while_a_step_still_runs_is_an_interruption_even_without_a_signal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, _journal) = open(dir.path(), true);
    driver.input(Input::RunPlan).expect("plan starts");
    driver.input(Input::Stop).expect("stop journaled");
    assert!(driver.busy(), "the cancelled check has not reported yet");
    let ended = driver.end(Ending::Idle).expect("end journaled");
    assert_eq!(
        (ended.outcome, ended.exit),
        (RunOutcome::Interrupted, Exit::Interrupted)
    );
    stop_within(&mut driver, &mut inbox, Duration::from_secs(20)).await;
}

#[tokio::test]
async fn a_skip_through_the_api_is_journaled_as_the_operators_act_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, journal) = open(dir.path(), false);
    driver.input(Input::SetAuto(false)).expect("manual mode");
    driver
        .input_by(
            REMOTE,
            Input::Skip {
                service: ServiceId::new("db"),
                reason: "hardware gone".into(),
            },
        )
        .expect("skip journaled");
    assert_eq!(
        driver.states(),
        vec![(ServiceId::new("db"), ServiceState::Skipped)]
    );
    stop_within(&mut driver, &mut inbox, Duration::from_secs(5)).await;
    assert!(events(&journal).iter().any(|e| matches!(
        e,
        Event::OperatorAction { operator, action, reason: Some(r), .. }
            if operator == REMOTE && *action == OperatorActionKind::Skip && r == "hardware gone"
    )));
    let raw = std::fs::read_to_string(&journal).expect("journal text");
    assert!(raw.contains(r#""action":"skip""#), "{raw}");
}

#[tokio::test]
async fn a_check_by_hand_through_the_api_is_journaled_as_an_operator_action_before_it_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, journal) = open(dir.path(), false);
    driver.input(Input::SetAuto(false)).expect("manual mode");
    driver
        .input_by(REMOTE, Input::Check(ServiceId::new("db")))
        .expect("check journaled");
    let checked = vec![(ServiceId::new("db"), ServiceState::Down)];
    pump(&mut driver, &mut inbox, |d, _| {
        d.states() == checked && !d.busy()
    })
    .await;
    let events = events(&journal);
    let action = events
        .iter()
        .position(|e| {
            matches!(e, Event::OperatorAction { operator, action, service, reason: None, .. }
                if operator == REMOTE && *action == OperatorActionKind::ByHandCheck && service.as_ref().is_some_and(|s| s.as_str() == "db"))
        })
        .expect("the by-hand check is journaled as the operator's act");
    let started = events
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::StepStarted {
                    phase: Phase::Check,
                    ..
                }
            )
        })
        .expect("the check ran");
    assert!(action < started, "journaled before the check starts");
    let raw = std::fs::read_to_string(&journal).expect("journal text");
    assert!(raw.contains(r#""action":"by_hand_check""#), "{raw}");
}

fn withdrawn(notices: &[Notice]) -> Vec<StepRef> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Withdrawn { step } => Some(step.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_question_answered_by_another_operator_is_withdrawn_for_every_front_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, _journal) = open(dir.path(), false);
    let mut seen = driver.input(Input::RunPlan).expect("plan starts");
    seen.extend(pump(&mut driver, &mut inbox, |_, n| asked(n).is_some()).await);
    let step = asked(&seen).expect("the confirm step asks");
    assert!(driver.asks(&step));
    assert!(withdrawn(&seen).is_empty(), "nothing withdrawn yet");

    let answered = driver
        .input_by(
            REMOTE,
            Input::Approval {
                step: step.clone(),
                decision: Decision::Approved,
            },
        )
        .expect("approval journaled");
    assert_eq!(withdrawn(&answered), vec![step.clone()]);
    assert!(!driver.asks(&step));
    stop_within(&mut driver, &mut inbox, Duration::from_secs(20)).await;
}

#[tokio::test]
async fn a_quit_after_steps_were_stopped_mid_run_ends_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, journal) = open(dir.path(), true);
    driver.input(Input::RunPlan).expect("plan starts");
    assert!(driver.busy(), "the slow check runs");
    assert_eq!(
        stop_within(&mut driver, &mut inbox, Duration::from_secs(20)).await,
        Stopped::All
    );
    assert!(!driver.busy(), "nothing runs any more");
    let ended = driver.end(Ending::Quit).expect("end journaled");
    assert_eq!(
        (ended.outcome, ended.exit),
        (RunOutcome::Interrupted, Exit::Interrupted)
    );
    testkit::assert_slow_stopped_and_interrupted(&events(&journal));
}

#[tokio::test]
async fn a_quit_with_nothing_running_ends_by_the_states() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, journal) = open(dir.path(), false);
    let mut seen = driver.input(Input::RunPlan).expect("plan starts");
    seen.extend(pump(&mut driver, &mut inbox, |_, n| asked(n).is_some()).await);
    // Nothing was running when the operator quit: the stop cuts nothing short.
    assert_eq!(
        stop_within(&mut driver, &mut inbox, Duration::from_secs(5)).await,
        Stopped::All
    );
    let ended = driver.end(Ending::Quit).expect("end journaled");
    assert_eq!(
        (ended.outcome, ended.exit),
        (RunOutcome::Incomplete, Exit::NotAllUp)
    );
    assert!(matches!(
        events(&journal).last(),
        Some(Event::RunFinished { outcome, .. }) if outcome == "incomplete"
    ));
}

#[tokio::test]
async fn a_broken_journal_ends_every_front_end_the_same_way_without_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, journal) = open(dir.path(), true);
    driver.input(Input::RunPlan).expect("plan starts");
    let before = events(&journal).len();
    let failed = driver.on_messages([Message::LeaseLost("the store went away".into())]);
    assert!(failed.is_err());
    assert!(driver.is_broken());
    stop_within(&mut driver, &mut inbox, Duration::from_secs(20)).await;
    let e = driver
        .end(Ending::Quit)
        .expect_err("nothing more is journaled");
    assert!(matches!(e, EndError::Broken), "{e}");
    assert_eq!(e.exit(), Exit::Interrupted);
    assert_eq!(
        events(&journal).len(),
        before,
        "no run_finished after the failure"
    );
}

#[test]
fn a_step_is_found_by_its_journaled_name_in_one_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = runbook(dir.path(), false);
    let rb = crate::runbook::load(&path, &[]).expect("valid");
    let db = ServiceId::new("db");
    assert_eq!(
        StepRef::named(&rb, &db, Phase::Restore, "start db"),
        Some(StepRef {
            service: db.clone(),
            phase: Phase::Restore,
            index: 0
        })
    );
    assert_eq!(
        StepRef::named(&rb, &db, Phase::Verify, "up").map(|s| s.phase),
        Some(Phase::Verify),
        "verification names a check"
    );
    assert!(StepRef::named(&rb, &db, Phase::Restore, "nope").is_none());
    assert!(StepRef::named(&rb, &ServiceId::new("zz"), Phase::Check, "up").is_none());
}

#[tokio::test]
async fn auto_mode_belongs_to_the_run_each_change_journaled_under_who_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut driver, mut inbox, journal) = open(dir.path(), false);
    // Off already: nothing to record.
    driver.input(Input::SetAuto(false)).expect("manual mode");
    driver
        .input_by(REMOTE, Input::SetAuto(true))
        .expect("auto on journaled");
    driver
        .input(Input::SetAuto(false))
        .expect("auto off journaled");
    stop_within(&mut driver, &mut inbox, Duration::from_secs(10)).await;
    let changes: Vec<(String, OperatorActionKind, bool)> = events(&journal)
        .into_iter()
        .filter_map(|e| match e {
            Event::OperatorAction {
                operator,
                action: action @ (OperatorActionKind::AutoOn | OperatorActionKind::AutoOff),
                service,
                ..
            } => Some((operator, action, service.is_none())),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (REMOTE.to_string(), OperatorActionKind::AutoOn, true),
            (
                driver.operator().to_string(),
                OperatorActionKind::AutoOff,
                true
            ),
        ]
    );
    let records = crate::journal::read_journal(&journal)
        .expect("read back")
        .records;
    assert_eq!(
        crate::fold::RunFold::of(&records).auto,
        crate::fold::Auto::Off
    );
}
