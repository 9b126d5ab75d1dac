//! The attached screen fed as the etcd threads feed it: event lines as a shared run stores
//! them and the executor's `live` view; keys become requests on the channel.

use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::engine::state::{Decision, Mode, Phase, ServiceState, StepOutcome};
use crate::journal::GENESIS;
use crate::tui::screen::DIALOG_GUARD;
use crate::tui::testkit::{self, render, sref};

const URL: &str = "etcd://127.0.0.1:2379/pangyo";

fn ts(s: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + chrono::TimeDelta::seconds(1_790_000_000 + s)
}

/// Journal lines for `events`, seq from 1, chained as a run stores them.
fn lines(events: &[Event]) -> Vec<Vec<u8>> {
    let mut prev = GENESIS.to_string();
    events
        .iter()
        .zip(1u64..)
        .map(|(e, seq)| {
            let line = record::encode(seq, ts(i64::try_from(seq).unwrap_or(0)), e, &prev)
                .expect("encodes");
            prev = record::parse(line.as_bytes()).expect("parses").hash;
            line.into_bytes()
        })
        .collect()
}

fn history() -> Vec<Event> {
    let svc = |s: &str| ServiceId::new(s);
    vec![
        Event::ServiceState {
            service: svc("auth"),
            from: ServiceState::Unknown,
            to: ServiceState::Checking,
            reason: None,
        },
        Event::StepStarted {
            service: svc("auth"),
            phase: Phase::Check,
            step: "health".into(),
            host: HostId::new("auth-1"),
            attempt: 1,
            command: "curl -fsS http://127.0.0.1:8080/health".into(),
        },
        Event::output_text(
            svc("auth"),
            "health".into(),
            HostId::new("auth-1"),
            "connecting to auth\nrefused".into(),
        ),
        Event::StepFinished {
            service: svc("auth"),
            phase: Phase::Check,
            step: "health".into(),
            host: HostId::new("auth-1"),
            attempt: 1,
            outcome: StepOutcome::Failed,
            exit_code: Some(7),
            duration_ms: 310,
            error: None,
        },
        Event::Note {
            operator: "kim".into(),
            text: "gateway vendor on the phone".into(),
            provenance: crate::journal::event::Provenance::default(),
        },
    ]
}

fn attach() -> (Attach, tokio::sync::mpsc::UnboundedReceiver<driver::Ask>) {
    let rb = Arc::new(testkit::runbook());
    let mut info = testkit::info(Mode::Incident);
    info.operator = "lee".into();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (Attach::new(App::new(rb, info), URL, Seat::Operator, tx), rx)
}

fn live() -> LiveView {
    let rb = testkit::runbook();
    LiveView::of("kim", 5, false, &testkit::views(&rb))
}

#[test]
fn event_lines_and_the_live_view_show_states_timeline_and_output_as_the_local_tui_does() {
    let (mut front, _asks) = attach();
    front.lines(&lines(&history()));
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    assert_eq!(front.seq(), 5);

    let screen = render(&mut front.app, 120, 40);
    assert!(
        screen.contains("lee attached to kim on dc2-ops"),
        "header names who asks and who executes:\n{screen}"
    );
    assert!(
        screen.contains("…/pangyo"),
        "header names the run:\n{screen}"
    );
    let wide = render(&mut front.app, 200, 40);
    assert!(wide.contains(URL), "a wide header shows the URL:\n{wide}");
    // The services as the executor's engine holds them.
    for (id, state) in [
        ("auth", "restored"),
        ("talk-messaging", "partial"),
        ("media", "checking"),
        ("mail", "down"),
    ] {
        let row = screen
            .lines()
            .find(|l| l.contains(id) && !l.contains("attached"))
            .unwrap_or_else(|| panic!("a row for {id}:\n{screen}"));
        assert!(row.contains(state), "{id} shows {state}: '{row}'");
    }
    // The timeline, from the run's events, by who did them.
    assert!(
        screen.contains("gateway vendor on the phone"),
        "the note is on the timeline:\n{screen}"
    );
    // The output pane's lines, split as the driver splits them: the last line (no newline)
    // comes with the step's end.
    let buffer = front
        .app
        .output
        .get(&sref("auth", Phase::Check, 0), &HostId::new("auth-1"))
        .expect("auth's check has output");
    let shown: Vec<&str> = buffer.lines(0, 10).collect();
    assert_eq!(shown, ["connecting to auth", "refused"]);
    // The waiting approval opened by itself, on its service.
    assert_eq!(
        front.app.overlay(),
        Some(&crate::tui::app::Overlay::Approval(sref(
            "talk-messaging",
            Phase::Restore,
            0
        )))
    );
}

#[test]
fn lines_already_shown_are_not_shown_twice() {
    let all = lines(&history());
    let (mut once, _asks) = attach();
    once.lines(&all);
    let (mut front, _asks) = attach();
    front.lines(&all[..3]);
    front.lines(&all[1..]);
    let buffer = front
        .app
        .output
        .get(&sref("auth", Phase::Check, 0), &HostId::new("auth-1"))
        .expect("output");
    assert_eq!(buffer.lines(0, 10).count(), 2);
    assert_eq!(front.app.timeline.len(), once.app.timeline.len());
    assert_eq!(front.seq(), 5);
}

#[test]
fn approving_a_waiting_step_sends_an_approval_request_and_quitting_only_detaches() {
    let (mut front, mut asks) = attach();
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    let y = KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE);
    // Too soon after the dialog opened by itself: dropped, nothing asked.
    front.key_at(y, Instant::now());
    assert!(asks.try_recv().is_err());
    front.key_at(y, Instant::now() + DIALOG_GUARD + Duration::from_millis(50));
    assert_eq!(
        asks.try_recv().expect("a request"),
        driver::Ask::Approval {
            step: sref("talk-messaging", Phase::Restore, 0),
            decision: Decision::Approved,
        }
    );
    // Something runs (media's check), yet q leaves at once and asks the run for nothing.
    assert!(front.app.busy());
    front.key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE));
    assert!(front.quitting());
    assert!(asks.try_recv().is_err());
}

#[test]
fn a_note_typed_on_the_attached_screen_becomes_a_note_request() {
    let (mut front, mut asks) = attach();
    for c in "nleft the DC".chars() {
        front.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    front.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(
        asks.try_recv().expect("a request"),
        driver::Ask::Note {
            text: "left the DC".into()
        }
    );
}

#[test]
fn a_refused_request_shows_why_in_the_footer() {
    let (mut front, _asks) = attach();
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    front.app.on_action(Action::Cancel);
    front.update(Update::Answered(Some(
        "service 'talk-messaging' is not waiting for an approval".into(),
    )));
    let screen = render(&mut front.app, 120, 40);
    assert!(
        screen.contains("is not waiting for an approval"),
        "the refusal is on screen:\n{screen}"
    );
}

#[test]
fn with_nobody_executing_the_screen_says_so_and_how_to_take_over() {
    let (mut front, _asks) = attach();
    front.lines(&lines(&history()));
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    front.live(None, None);
    let screen = render(&mut front.app, 120, 40);
    assert!(screen.contains("NO EXECUTOR"), "{screen}");
    assert!(
        screen.contains("no executor: T takes the run over here"),
        "the hint says it plainly:\n{screen}"
    );
    let wide = render(&mut front.app, 250, 40);
    assert!(
        wide.contains("no process executes this run now (its lease ended): T takes it over here"),
        "{wide}"
    );
    assert!(
        wide.contains(&format!("bringup run RUNBOOK --resume {URL}")),
        "the hint tells how to take over from elsewhere:\n{wide}"
    );
    // The last known states stay on screen.
    assert!(screen.contains("restored"), "{screen}");
    // The executor is back: attached again.
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    let screen = render(&mut front.app, 120, 40);
    assert!(!screen.contains("NO EXECUTOR"), "{screen}");
    assert!(screen.contains("attached to kim on dc2-ops"), "{screen}");
}

#[test]
fn capital_t_takes_the_run_over_only_once_nobody_executes_it() {
    let (mut front, mut asks) = attach();
    front.lines(&lines(&history()));
    let t = KeyEvent::new(KeyCode::Char('T'), KeyModifiers::SHIFT);
    // An executor holds the run: T says who, and the screen stays attached.
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    front.app.on_action(Action::Cancel);
    front.key_at(t, Instant::now() + DIALOG_GUARD + Duration::from_millis(50));
    assert!(!front.taking_over() && !front.quitting());
    let screen = render(&mut front.app, 160, 40);
    assert!(
        screen.contains("kim on dc2-ops executes this run; it can be taken over once"),
        "{screen}"
    );
    // etcd unreachable: who executes is not known, so no take-over either.
    front.update(Update::Unreachable("connection refused".into()));
    front.key_at(t, Instant::now() + DIALOG_GUARD + Duration::from_millis(50));
    assert!(!front.taking_over());
    // Its lease ended: T leaves the screen to take the run over, asking the run for nothing.
    front.live(None, None);
    front.key_at(t, Instant::now() + DIALOG_GUARD + Duration::from_millis(50));
    assert!(front.taking_over() && front.quitting());
    assert!(asks.try_recv().is_err());
}

#[test]
fn an_unreachable_etcd_is_said_in_the_header_and_the_hint() {
    let (mut front, _asks) = attach();
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    front.update(Update::Unreachable("connection refused".into()));
    let screen = render(&mut front.app, 120, 40);
    assert!(screen.contains("ETCD UNREACHABLE"), "{screen}");
    assert!(
        screen.contains("etcd unreachable (connection refused); retrying"),
        "{screen}"
    );
}

#[test]
fn the_end_the_run_recorded_replaces_a_stale_view_of_its_services() {
    let (mut front, _asks) = attach();
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    let mut events = history();
    let states: IndexMap<ServiceId, ServiceState> = [
        ("auth", ServiceState::Restored),
        ("talk-messaging", ServiceState::Restored),
        ("media", ServiceState::Healthy),
        ("mail", ServiceState::Failed),
    ]
    .into_iter()
    .map(|(id, s)| (ServiceId::new(id), s))
    .collect();
    events.push(Event::RunFinished {
        outcome: "not_all_up".into(),
        services: states.clone(),
        left_down: None,
    });
    // The executor ended and took its view with it before publishing its last one.
    front.live(None, None);
    front.lines(&lines(&events));
    // A view it published before the end, read after it (its key not yet gone with the
    // lease), is older than the recorded end and changes nothing.
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    for (id, state) in &states {
        let view = front.app.view_of(id).expect("a view");
        assert_eq!(view.state, *state, "{id}");
        assert!(view.waiting.is_none(), "{id} waits for nothing");
    }
    assert_eq!(front.app.overlay(), None, "no question is left open");
    let screen = render(&mut front.app, 120, 40);
    assert!(
        screen.contains("the run has ended (not_all_up)"),
        "{screen}"
    );
}

/// Journal lines for `(seconds, event)`, seq from 1, chained as a run stores them.
fn lines_at(events: &[(i64, Event)]) -> Vec<Vec<u8>> {
    let mut prev = GENESIS.to_string();
    events
        .iter()
        .zip(1u64..)
        .map(|((at, e), seq)| {
            let line = record::encode(seq, ts(*at), e, &prev).expect("encodes");
            prev = record::parse(line.as_bytes()).expect("parses").hash;
            line.into_bytes()
        })
        .collect()
}

#[test]
fn after_a_take_over_the_attached_screen_shows_each_outage_and_the_runs_auto_mode_from_the_journal()
{
    let state = |s: &str, to| Event::ServiceState {
        service: ServiceId::new(s),
        from: ServiceState::Unknown,
        to,
        reason: None,
    };
    let events = vec![
        (
            0,
            Event::RunStarted {
                executor: None,
                runbook: "pangyo".into(),
                runbook_sha256: String::new(),
                operator: "kim".into(),
                vars: IndexMap::new(),
                version: "0".into(),
                mode: Mode::Incident,
                services: Vec::new(),
                about: Box::default(),
                incident_start: None,
                scenario: None,
            },
        ),
        (60, state("auth", ServiceState::Down)),
        (240, state("auth", ServiceState::Restored)),
        (61, state("talk-messaging", ServiceState::Healthy)),
        // kim's executor was killed; lee took over and checked everything again.
        (
            600,
            Event::Resumed {
                key: None,
                from_seq: 4,
                forced: false,
                runbook_sha256: None,
                operator: None,
                identity: None,
                previous: None,
                reason: None,
            },
        ),
        (601, state("auth", ServiceState::Healthy)),
        (601, state("talk-messaging", ServiceState::Healthy)),
        (
            603,
            Event::OperatorAction {
                operator: "lee".into(),
                service: None,
                action: crate::journal::event::OperatorActionKind::AutoOn,
                reason: None,
                provenance: crate::journal::event::Provenance::default(),
            },
        ),
    ];
    let (mut front, _asks) = attach();
    front.lines(&lines_at(&events));
    front.live(Some(&live()), Some("lee on dc2-ops".into()));
    // The screen's clock is the wall clock, long after the run's start.
    front.tick();
    let screen = render(&mut front.app, 120, 40);
    let row = |id: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {id} ")) && l.contains('/'))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("auth").contains("4m/15m"),
        "auth's outage took 4m:\n{screen}"
    );
    assert!(
        row("talk-messaging").contains("0s/30m"),
        "talk-messaging was never down:\n{screen}"
    );
    assert!(screen.contains("auto on"), "the run's mode:\n{screen}");
}

#[test]
fn a_dead_executors_manual_dialog_closes_at_no_executor_and_t_takes_over_at_once() {
    let (mut front, mut asks) = attach();
    front.lines(&lines(&history()));
    let rb = testkit::runbook();
    let mut views = testkit::views(&rb);
    let talk = views.get_mut("talk-messaging").expect("talk");
    talk.waiting = Some(crate::engine::Waiting::Manual {
        step: sref("talk-messaging", Phase::Restore, 0),
        instruction: "move the VIP".into(),
    });
    front.live(
        Some(&LiveView::of("kim", 5, false, &views)),
        Some("kim on dc2-ops".into()),
    );
    assert_eq!(
        front.app.overlay(),
        Some(&crate::tui::app::Overlay::Manual(sref(
            "talk-messaging",
            Phase::Restore,
            0
        ))),
        "the executor's manual step is asked here"
    );
    // The executor died: its dialog closes by itself, and stays closed.
    front.live(None, None);
    assert_eq!(
        front.app.overlay(),
        None,
        "the dead executor's dialog closed"
    );
    front.tick();
    assert_eq!(front.app.overlay(), None, "and does not open again");
    let screen = render(&mut front.app, 160, 40);
    assert!(screen.contains("NO EXECUTOR"), "{screen}");
    // T, pressed at once, takes the run over: no dialog swallows it.
    let t = KeyEvent::new(KeyCode::Char('T'), KeyModifiers::SHIFT);
    front.key_at(t, Instant::now());
    assert!(front.taking_over() && front.quitting());
    assert!(
        asks.try_recv().is_err(),
        "nothing was answered for the dead executor"
    );
}

#[test]
fn a_read_only_screen_opens_no_question_and_sends_nothing_whatever_is_pressed() {
    let rb = Arc::new(testkit::runbook());
    let mut info = testkit::info(Mode::Incident);
    info.operator = "audit".into();
    let (tx, mut asks) = tokio::sync::mpsc::unbounded_channel();
    let mut front = Attach::new(App::new(rb, info), URL, Seat::ReadOnly, tx);
    front.lines(&lines(&history()));
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    // talk-messaging waits for an approval: an operator's screen opens it, this one does not.
    assert_eq!(front.app.overlay(), None);
    let screen = render(&mut front.app, 120, 40);
    assert!(
        screen.contains("audit watching (read-only) kim on dc2-ops"),
        "the header says the screen only watches:\n{screen}"
    );
    let later = Instant::now() + DIALOG_GUARD + Duration::from_millis(50);
    for key in ['y', 'n', 'a', 'r', 'c', 's', 'd', 'T', 'x', '\n'] {
        let code = if key == '\n' {
            KeyCode::Enter
        } else {
            KeyCode::Char(key)
        };
        front.key_at(KeyEvent::new(code, KeyModifiers::NONE), later);
        for c in "typed".chars() {
            front.key_at(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE), later);
        }
        front.key_at(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), later);
    }
    assert!(
        asks.try_recv().is_err(),
        "a read-only screen sent a request"
    );
    // Not even a take-over once the executor is gone.
    front.live(None, None);
    front.key_at(KeyEvent::new(KeyCode::Char('T'), KeyModifiers::NONE), later);
    assert!(!front.taking_over());
    assert!(!front.quitting());
    let screen = render(&mut front.app, 160, 40);
    assert!(
        screen.contains("read-only"),
        "the screen says why nothing happened:\n{screen}"
    );
    assert!(asks.try_recv().is_err());
}

#[test]
fn an_attached_screen_shows_first_the_approval_declined_elsewhere_as_the_journal_tells_it() {
    let (mut front, _asks) = attach();
    front.live(Some(&live()), Some("kim on dc2-ops".into()));
    let talk = ServiceId::new("talk-messaging");
    let mut events = history();
    events.push(Event::Approval {
        service: talk.clone(),
        step: "start gateway".into(),
        phase: None,
        decision: Decision::Declined,
        operator: "kim".into(),
        provenance: crate::journal::event::Provenance::default(),
    });
    events.push(Event::ServiceState {
        service: talk.clone(),
        from: ServiceState::Partial,
        to: ServiceState::Failed,
        reason: Some("restore 'start gateway' declined by operator".into()),
    });
    let states: IndexMap<ServiceId, ServiceState> = [
        ("auth", ServiceState::Restored),
        ("talk-messaging", ServiceState::Failed),
        ("media", ServiceState::Healthy),
        ("mail", ServiceState::Restored),
    ]
    .into_iter()
    .map(|(id, s)| (ServiceId::new(id), s))
    .collect();
    events.push(Event::RunFinished {
        outcome: "not_all_up".into(),
        services: states,
        left_down: None,
    });
    front.live(None, None);
    let written = lines(&events);
    front.lines(&written);
    // The same failure as a report's fold of the journal.
    let records: Vec<_> = written
        .iter()
        .map(|l| record::parse(l).expect("parses"))
        .collect();
    let reported = crate::fold::RunFold::of(&records);
    assert_eq!(front.app.fold().stopped_on(), reported.stopped_on());
    let stopped = reported.stopped_on().expect("stopped on a failure");
    assert_eq!(
        stopped.failure.cause,
        crate::fold::FailureCause::Declined { by: "kim".into() }
    );
    let hint = crate::tui::hint::next_step(&front.app);
    assert_eq!(
        front.app.selected_service().map(|s| s.id.as_str()),
        Some("talk-messaging"),
        "{hint:?}"
    );
    assert!(
        front
            .app
            .stopped_on()
            .is_some_and(|f| f.step == "start gateway"),
        "{hint:?}"
    );
}
