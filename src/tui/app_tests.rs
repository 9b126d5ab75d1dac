//! App behaviour: actions in, state and commands out, with no engine and no terminal.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::engine::state::{Mode, Phase, ServiceState, StepRef, Waiting};
use crate::tui::keymap::Keymap;
use crate::tui::testkit::{self, sref};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    let action = Keymap::default()
        .action(app.context(), KeyEvent::new(code, KeyModifiers::NONE))
        .expect("bound key");
    app.on_action(action)
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn selected_id(app: &App) -> String {
    app.selected_service().expect("selection").id.to_string()
}

/// The fixture opens the approval dialog for talk-messaging at once; set it aside.
fn idle_app() -> App {
    let mut app = testkit::app(Mode::Incident);
    assert_eq!(
        app.overlay(),
        Some(&Overlay::Approval(sref(
            "talk-messaging",
            Phase::Restore,
            0
        )))
    );
    app.on_action(Action::Cancel);
    assert_eq!(app.overlay(), None);
    app
}

#[test]
fn j_and_k_move_through_services_in_tier_order_skipping_headings() {
    let mut app = idle_app();
    assert_eq!(selected_id(&app), "auth");
    let order: Vec<String> = (0..4)
        .map(|_| {
            key(&mut app, KeyCode::Char('j'));
            selected_id(&app)
        })
        .collect();
    assert_eq!(order, ["talk-messaging", "media", "mail", "mail"]);
    key(&mut app, KeyCode::Up);
    assert_eq!(selected_id(&app), "media");
}

#[test]
fn tab_moves_focus_and_j_then_moves_the_step_selection() {
    let mut app = idle_app();
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus(), Focus::Steps);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected_step_row(), 1);
    assert_eq!(
        app.output_target(),
        Some((sref("auth", Phase::Check, 0), HostId::new("auth-1")))
    );
    assert_eq!(selected_id(&app), "auth");
}

#[test]
fn filter_narrows_the_list_live_by_id_name_or_state() {
    let mut app = idle_app();
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "down");
    // Live: before Enter, only the down service is listed.
    let listed: Vec<_> = app
        .rows()
        .iter()
        .filter_map(|r| match r {
            Row::Service(i) => Some(app.runbook().services[*i].id.to_string()),
            Row::Tier(_) => None,
        })
        .collect();
    assert_eq!(listed, ["mail"]);
    assert_eq!(selected_id(&app), "mail");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.filter(), "down");
    assert_eq!(app.overlay(), None);
    key(&mut app, KeyCode::Char('/'));
    for _ in 0..4 {
        key(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "photo");
    assert_eq!(selected_id(&app), "media");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.filter(), "");
    assert_eq!(app.rows().len(), 7);
}

#[test]
fn skip_asks_for_a_reason_and_refuses_an_empty_one() {
    let mut app = idle_app();
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.context(), crate::tui::keymap::Context::TextInput);
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let Some(Overlay::Input(input)) = app.overlay() else {
        panic!("the skip dialog stays open");
    };
    assert!(input.error.is_some());
    typed(&mut app, "not needed for the notice");
    let out = key(&mut app, KeyCode::Enter);
    assert_eq!(
        out,
        vec![Command::input(Input::Skip {
            service: ServiceId::new("media"),
            reason: "not needed for the notice".into(),
        })]
    );
    assert_eq!(app.overlay(), None);
}

#[test]
fn y_in_the_confirm_dialog_approves_the_waiting_step() {
    let mut app = testkit::app(Mode::Incident);
    let out = key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        out,
        vec![Command::input(Input::Approval {
            step: sref("talk-messaging", Phase::Restore, 0),
            decision: Decision::Approved,
        })]
    );
    assert_eq!(app.overlay(), None, "answered: not asked again");
}

#[test]
fn n_in_the_confirm_dialog_asks_once_more_naming_the_dependents_and_capital_n_declines() {
    let mut app = testkit::app(Mode::Incident);
    assert!(
        key(&mut app, KeyCode::Char('n')).is_empty(),
        "not declined yet"
    );
    let Some(Overlay::Ask(ask)) = app.overlay() else {
        panic!("declining asks again: {:?}", app.overlay());
    };
    let said = ask.lines.join(" ");
    assert!(said.contains("fails 'talk-messaging'"), "{said}");
    assert!(said.contains("no other service depends on it"), "{said}");
    assert_eq!(
        app.dependents(&ServiceId::new("auth")),
        vec![ServiceId::new("talk-messaging")]
    );
    // A second lowercase n is a no, not a decline: two taps cannot fail a service.
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert_eq!(app.overlay(), None);
    app.select_service(&ServiceId::new("talk-messaging"));
    app.on_action(Action::RunNext);
    assert!(
        matches!(app.overlay(), Some(Overlay::Approval(_))),
        "Enter asks again"
    );
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(
        key(&mut app, KeyCode::Char('N')),
        vec![Command::input(Input::Approval {
            step: sref("talk-messaging", Phase::Restore, 0),
            decision: Decision::Declined,
        })]
    );
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert!(matches!(
        app.overlay(),
        Some(Overlay::Input(TextInput {
            purpose: InputPurpose::Note,
            ..
        }))
    ));
}

#[test]
fn a_deferred_approval_reopens_with_enter_on_its_service() {
    let mut app = idle_app();
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(selected_id(&app), "talk-messaging");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(matches!(app.overlay(), Some(Overlay::Approval(_))));
}

#[test]
fn enter_on_a_service_with_nothing_waiting_runs_its_next_step() {
    let mut app = idle_app();
    let out = key(&mut app, KeyCode::Enter);
    assert_eq!(
        out,
        vec![Command::input(Input::NextStep(ServiceId::new("auth")))]
    );
}

#[test]
fn a_note_becomes_a_journal_note_by_the_operator_with_secrets_masked() {
    let mut app = idle_app();
    key(&mut app, KeyCode::Char('n'));
    typed(&mut app, "token s3cr3t-t0ken rotated");
    let out = key(&mut app, KeyCode::Enter);
    assert_eq!(
        out,
        vec![Command::Request(Request::Note("token *** rotated".into()))]
    );
}

#[test]
fn quit_asks_while_something_runs_and_stops_the_engine_on_yes() {
    let mut app = idle_app();
    assert!(app.busy(), "media is checking");
    assert!(key(&mut app, KeyCode::Char('q')).is_empty());
    assert_eq!(app.overlay(), Some(&Overlay::QuitConfirm));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.overlay(), None);
    key(&mut app, KeyCode::Char('q'));
    let out = key(&mut app, KeyCode::Char('y'));
    assert_eq!(out, vec![Command::input(Input::Stop), Command::Quit]);
    // Ctrl-C twice also quits.
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let km = Keymap::default();
    let first = km.action(app.context(), ctrl_c).expect("bound");
    assert!(app.on_action(first).is_empty());
    let second = km.action(app.context(), ctrl_c).expect("bound");
    assert_eq!(
        app.on_action(second),
        vec![Command::input(Input::Stop), Command::Quit]
    );
}

#[test]
fn help_opens_with_question_mark_and_closes_with_esc_or_question_mark() {
    let mut app = idle_app();
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay(), Some(&Overlay::Help));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay(), None);
    key(&mut app, KeyCode::Char('?'));
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay(), None);
}

#[test]
fn quit_is_immediate_when_nothing_runs() {
    let rb = std::sync::Arc::new(testkit::runbook());
    let mut app = App::new(rb, testkit::info(Mode::Incident));
    assert!(!app.busy());
    assert_eq!(key(&mut app, KeyCode::Char('q')), vec![Command::Quit]);
}

#[test]
fn check_restore_and_auto_send_engine_inputs_for_the_selected_service() {
    let mut app = idle_app();
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(
        key(&mut app, KeyCode::Char('c')),
        vec![Command::input(Input::Check(ServiceId::new("mail")))]
    );
    assert_eq!(
        key(&mut app, KeyCode::Char('r')),
        vec![Command::input(Input::Restore {
            service: ServiceId::new("mail"),
            by_hand: true
        })]
    );
    assert_eq!(
        key(&mut app, KeyCode::Char('a')),
        vec![Command::input(Input::SetAuto(true))]
    );
    // The run's mode changes when the journal says so (the driver records `auto_on`).
    assert!(!app.auto(), "not on before the journal records it");
    app.on_journal(
        testkit::began(),
        &Event::OperatorAction {
            operator: "alice".into(),
            service: None,
            action: crate::journal::event::OperatorActionKind::AutoOn,
            reason: None,
            provenance: crate::journal::event::Provenance::default(),
        },
    );
    assert!(app.auto());
    assert_eq!(
        key(&mut app, KeyCode::Char('a')),
        vec![Command::input(Input::SetAuto(false))]
    );
}

#[test]
fn inject_is_refused_outside_drills() {
    let mut app = idle_app();
    assert!(key(&mut app, KeyCode::Char('i')).is_empty());
    assert!(app.message.is_some());
}

#[test]
fn inject_always_asks_showing_the_commands_and_esc_or_n_runs_nothing() {
    let mut drill = testkit::app(Mode::Drill);
    drill.on_action(Action::Cancel);
    drill.select_service(&ServiceId::new("talk-messaging"));
    for no in [KeyCode::Esc, KeyCode::Char('n'), KeyCode::Char('N')] {
        assert!(key(&mut drill, KeyCode::Char('i')).is_empty(), "asks first");
        let Some(Overlay::Ask(ask)) = drill.overlay() else {
            panic!("inject asks: {:?}", drill.overlay());
        };
        assert!(
            ask.lines.iter().any(|l| l.contains("msg-gw-1: ")),
            "{:?}",
            ask.lines
        );
        assert!(key(&mut drill, no).is_empty(), "{no:?} runs nothing");
        assert_eq!(drill.overlay(), None);
    }
    key(&mut drill, KeyCode::Char('i'));
    assert!(
        key(&mut drill, KeyCode::Char('j')).is_empty(),
        "other keys do not answer"
    );
    assert_eq!(
        key(&mut drill, KeyCode::Char('y')),
        vec![Command::input(Input::Inject(ServiceId::new(
            "talk-messaging"
        )))]
    );
}

fn manual_views(app: &App) -> IndexMap<ServiceId, ServiceView> {
    let mut views = testkit::views(app.runbook());
    let talk = views.get_mut("talk-messaging").expect("talk");
    talk.state = ServiceState::Restoring;
    talk.waiting = Some(Waiting::Manual {
        step: sref("talk-messaging", Phase::Restore, 1),
        instruction: "Ask netops to move the VIP to gasan; mark done when they confirm.".into(),
    });
    views
}

#[test]
fn manual_dialog_d_marks_done_and_f_marks_failed() {
    let mut app = idle_app();
    let views = manual_views(&app);
    app.sync_services(&views);
    let step = sref("talk-messaging", Phase::Restore, 1);
    assert_eq!(app.overlay(), Some(&Overlay::Manual(step.clone())));
    assert_eq!(
        key(&mut app, KeyCode::Char('d')),
        vec![Command::input(Input::Manual {
            step: step.clone(),
            outcome: ManualOutcome::Done
        })]
    );
    assert_eq!(app.overlay(), None);
    // From the main view, on the selected service, `f` asks why, then fails it.
    let mut app = idle_app();
    app.sync_services(&views);
    app.on_action(Action::Cancel);
    key(&mut app, KeyCode::Char('j'));
    assert!(
        key(&mut app, KeyCode::Char('f')).is_empty(),
        "asks for a reason"
    );
    assert!(
        key(&mut app, KeyCode::Enter).is_empty(),
        "a reason is required"
    );
    typed(&mut app, "netops unreachable");
    let out = key(&mut app, KeyCode::Enter);
    assert_eq!(
        out.last(),
        Some(&Command::input(Input::Manual {
            step,
            outcome: ManualOutcome::Failed
        }))
    );
    assert!(matches!(
        &out[0],
        Command::Request(Request::Note(n)) if n.contains("netops unreachable")
    ));
}

#[test]
fn an_approval_dialog_closes_when_the_engine_stops_waiting() {
    let mut app = testkit::app(Mode::Incident);
    assert!(matches!(app.overlay(), Some(Overlay::Approval(_))));
    let mut views = testkit::views(app.runbook());
    views.get_mut("talk-messaging").expect("talk").waiting = None;
    app.sync_services(&views);
    assert_eq!(app.overlay(), None);
}

#[test]
fn the_decline_question_goes_when_its_step_is_answered_elsewhere() {
    let mut app = testkit::app(Mode::Incident);
    assert!(matches!(app.overlay(), Some(Overlay::Approval(_))));
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert!(
        matches!(app.overlay(), Some(Overlay::Ask(_))),
        "asked once more"
    );
    let mut views = testkit::views(app.runbook());
    views.get_mut("talk-messaging").expect("talk").waiting = None;
    app.sync_services(&views);
    assert_eq!(app.overlay(), None);
    assert!(
        app.message
            .as_deref()
            .is_some_and(|m| m.contains("nothing to decline")),
        "{:?}",
        app.message
    );
    assert!(
        app.on_action(Action::Type('N')).is_empty(),
        "N declines nothing now"
    );
}

#[test]
fn host_key_prompt_comes_first_and_answers_accept_or_refuse() {
    let mut app = testkit::app(Mode::Incident);
    app.on_action(Action::Cancel);
    let prompt = |h: &str| HostKeyPrompt {
        host: HostId::new(h),
        address: "10.0.0.8".into(),
        key_type: "ed25519".into(),
        fingerprint: "SHA256:abc".into(),
    };
    app.on_host_key(prompt("msg-gw-1"));
    app.on_host_key(prompt("msg-gw-2"));
    assert_eq!(app.overlay(), Some(&Overlay::HostKey));
    // `a` (the README's first key) and `y` are not answers here.
    assert!(key(&mut app, KeyCode::Char('a')).is_empty());
    assert!(key(&mut app, KeyCode::Char('y')).is_empty());
    assert_eq!(app.overlay(), Some(&Overlay::HostKey));
    assert_eq!(
        key(&mut app, KeyCode::Char('Y')),
        vec![Command::Request(Request::AcceptHostKey {
            host: HostId::new("msg-gw-1"),
            fingerprint: "SHA256:abc".into()
        })]
    );
    assert_eq!(
        app.overlay(),
        Some(&Overlay::HostKey),
        "the next key is asked"
    );
    // Esc is "not now": the key still waits, and Enter brings it back.
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.overlay(), None);
    app.on_action(Action::RunNext);
    assert_eq!(app.overlay(), Some(&Overlay::HostKey));
    assert_eq!(
        key(&mut app, KeyCode::Char('N')),
        vec![Command::Request(Request::RefuseHostKey {
            host: HostId::new("msg-gw-2")
        })]
    );
}

#[test]
fn typing_yes_accepts_a_host_key() {
    let mut app = testkit::app(Mode::Incident);
    app.on_action(Action::Cancel);
    app.on_host_key(HostKeyPrompt {
        host: HostId::new("msg-gw-1"),
        address: "10.0.0.8".into(),
        key_type: "ed25519".into(),
        fingerprint: "SHA256:abc".into(),
    });
    assert!(key(&mut app, KeyCode::Char('y')).is_empty());
    assert!(key(&mut app, KeyCode::Char('e')).is_empty());
    assert_eq!(
        key(&mut app, KeyCode::Char('s')),
        vec![Command::Request(Request::AcceptHostKey {
            host: HostId::new("msg-gw-1"),
            fingerprint: "SHA256:abc".into()
        })]
    );
}

#[test]
fn r_on_a_service_that_is_up_asks_and_says_why_instead_of_restoring() {
    let mut app = idle_app();
    let mut views = testkit::views(app.runbook());
    for v in views.values_mut() {
        v.waiting = None;
    }
    views.get_mut("auth").expect("auth").state = ServiceState::Restored;
    app.sync_services(&views);
    app.select_service(&ServiceId::new("auth"));
    assert!(key(&mut app, KeyCode::Char('r')).is_empty());
    let Some(Overlay::Ask(ask)) = app.overlay() else {
        panic!("asks: {:?}", app.overlay());
    };
    assert!(
        ask.lines.join(" ").contains("restore never runs"),
        "{:?}",
        ask.lines
    );
    assert_eq!(
        key(&mut app, KeyCode::Char('y')),
        vec![Command::input(Input::Check(ServiceId::new("auth")))]
    );
}

fn fill_output(app: &mut App, lines: usize) -> StepRef {
    let step = sref("auth", Phase::Check, 0);
    for i in 0..lines {
        app.on_output(&step, &HostId::new("auth-1"), &format!("line {i}\n"));
    }
    step
}

#[test]
fn follow_keeps_the_end_in_view_and_scrolling_up_stops_it() {
    let mut app = idle_app();
    fill_output(&mut app, 100);
    testkit::render(&mut app, 80, 24);
    let h = usize::from(app.hits.bottom.height);
    assert!(h > 0);
    assert_eq!(app.bottom_len(), 100);
    assert!(app.output_scroll().follow);
    app.focus = Focus::Bottom;
    key(&mut app, KeyCode::PageUp);
    assert!(!app.output_scroll().follow);
    assert_eq!(app.output_scroll().top_for(100, h), 100 - 2 * h);
    key(&mut app, KeyCode::Home);
    assert_eq!(app.output_scroll().top_for(100, h), 0);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.output_scroll().top_for(100, h), 1);
    // New lines do not move a scrolled view.
    fill_output(&mut app, 10);
    assert_eq!(app.output_scroll().top_for(110, h), 1);
    key(&mut app, KeyCode::End);
    assert!(app.output_scroll().follow);
    app.on_action(Action::Follow);
    assert!(!app.output_scroll().follow);
    app.on_action(Action::Follow);
    assert!(app.output_scroll().follow);
}

#[test]
fn paging_down_to_the_end_resumes_following() {
    let mut app = idle_app();
    fill_output(&mut app, 50);
    testkit::render(&mut app, 80, 24);
    app.focus = Focus::Bottom;
    key(&mut app, KeyCode::Home);
    for _ in 0..20 {
        key(&mut app, KeyCode::PageDown);
    }
    assert!(app.output_scroll().follow);
}

#[test]
fn clicks_select_services_and_steps_and_the_wheel_scrolls() {
    let mut app = idle_app();
    testkit::render(&mut app, 120, 40);
    let s = app.hits.services;
    // Rows: tier 1, auth, talk-messaging, tier 2, media, ...
    app.on_action(Action::Click {
        column: s.x + 2,
        row: s.y + 4,
    });
    assert_eq!(selected_id(&app), "media");
    assert_eq!(app.focus(), Focus::Services);
    let st = app.hits.steps;
    app.on_action(Action::Click {
        column: st.x + 2,
        row: st.y + 1,
    });
    assert_eq!(app.focus(), Focus::Steps);
    assert_eq!(app.selected_step_row(), 1);
    app.on_action(Action::Scroll {
        column: s.x + 1,
        row: s.y + 1,
        down: true,
    });
    assert_eq!(selected_id(&app), "mail");
    assert_eq!(app.focus(), Focus::Steps, "the wheel does not take focus");
}

#[test]
fn time_against_rto_stops_when_a_service_comes_up() {
    let mut app = idle_app();
    app.tick(Duration::from_secs(90 * 60));
    let auth = app.runbook().services[0].clone();
    let media = app.runbook().services[2].clone();
    // auth came up at 40m (when the views were first synced), over its 15m RTO.
    assert_eq!(
        crate::tui::view::services::rto_text(&app, &auth),
        ("40m/15m!".to_string(), true)
    );
    assert_eq!(
        crate::tui::view::services::rto_text(&app, &media),
        ("1h30m/1h00m!".to_string(), true)
    );
}

#[test]
fn the_timeline_takes_journal_events() {
    let mut app = idle_app();
    let ts: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T08:20:00Z")
        .expect("time")
        .with_timezone(&Utc);
    app.on_journal(
        ts,
        &Event::Note {
            operator: "bob".into(),
            text: "called netops".into(),
            provenance: crate::journal::event::Provenance::default(),
        },
    );
    assert_eq!(app.timeline.len(), 1);
    key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.bottom_mode(), BottomMode::Timeline);
    assert_eq!(app.bottom_len(), 1);
}

#[test]
fn output_is_masked_before_it_is_kept() {
    let mut app = idle_app();
    let step = sref("mail", Phase::Restore, 0);
    let host = HostId::new("mail-1");
    app.on_output(&step, &host, "using s3cr3t-t0ken\n");
    let kept: Vec<_> = app
        .output
        .get(&step, &host)
        .expect("buffer")
        .lines(0, 10)
        .map(str::to_string)
        .collect();
    assert_eq!(kept, ["using ***"]);
}

#[test]
fn a_long_list_scrolls_with_the_selection_and_clicks_hit_the_row_drawn() {
    let mut app = testkit::many(60);
    testkit::render(&mut app, 80, 24);
    for _ in 0..40 {
        key(&mut app, KeyCode::Char('j'));
    }
    let text = testkit::render(&mut app, 80, 24);
    let selected = selected_id(&app);
    assert!(text.contains(&format!("›? unknown   {selected}")), "{text}");
    assert!(app.hits.services_top > 0, "the list scrolled");
    // Click the first row drawn; if it is a heading, the one below.
    let s = app.hits.services;
    let row = if matches!(app.rows()[app.hits.services_top], Row::Tier(_)) {
        s.y + 1
    } else {
        s.y
    };
    let drawn: String = text
        .lines()
        .nth(usize::from(row))
        .expect("row")
        .chars()
        .skip(usize::from(s.x))
        .collect();
    app.on_action(Action::Click {
        column: s.x + 3,
        row,
    });
    assert!(
        drawn.contains(&selected_id(&app)),
        "clicked '{drawn}', selected {}",
        selected_id(&app)
    );
}

#[test]
fn q_in_a_question_dialog_answers_later_and_enter_reopens_it() {
    let mut app = testkit::app(Mode::Incident);
    let step = sref("talk-messaging", Phase::Restore, 0);
    assert_eq!(app.overlay(), Some(&Overlay::Approval(step.clone())));
    assert!(key(&mut app, KeyCode::Char('q')).is_empty());
    assert_eq!(app.overlay(), None, "q leaves the dialog, it does not quit");
    app.select_service(&ServiceId::new("talk-messaging"));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.overlay(), Some(&Overlay::Approval(step)));
}

#[test]
fn help_over_a_question_returns_to_the_question_when_closed() {
    let mut app = testkit::app(Mode::Incident);
    let step = sref("talk-messaging", Phase::Restore, 0);
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay(), Some(&Overlay::Help));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay(), Some(&Overlay::Approval(step)));
}

/// Every service of the fixture with a state, as after the opening sweep.
fn swept_views(rb: &Runbook) -> IndexMap<ServiceId, ServiceView> {
    let mut views = testkit::views(rb);
    for view in views.values_mut() {
        view.waiting = None;
        if matches!(view.state, ServiceState::Unknown | ServiceState::Checking) {
            view.state = ServiceState::Healthy;
        }
    }
    views
}

#[test]
fn after_the_opening_sweep_the_first_service_not_up_is_selected() {
    let rb = Arc::new(testkit::runbook());
    let mut app = App::new(rb.clone(), testkit::info(Mode::Incident));
    // While checks run, the selection stays where it opened.
    app.sync_services(&testkit::views(&rb));
    assert_eq!(selected_id(&app), "auth");
    app.sync_services(&swept_views(&rb));
    // auth is restored; talk-messaging (tier 2, partial) is the first not up in tier order.
    assert_eq!(selected_id(&app), "talk-messaging");
}

#[test]
fn an_operator_who_moved_keeps_their_selection_after_the_sweep() {
    let rb = Arc::new(testkit::runbook());
    let mut app = App::new(rb.clone(), testkit::info(Mode::Incident));
    app.sync_services(&testkit::views(&rb));
    app.on_action(Action::Cancel);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    let chosen = selected_id(&app);
    app.sync_services(&swept_views(&rb));
    assert_eq!(selected_id(&app), chosen);
}

#[test]
fn the_first_tier_heading_stays_in_view_when_the_app_opens_and_lands() {
    let rb = Arc::new(testkit::runbook());
    let mut app = App::new(rb.clone(), testkit::info(Mode::Incident));
    let opening: IndexMap<ServiceId, ServiceView> = rb
        .services
        .iter()
        .map(|s| (s.id.clone(), ServiceView::default()))
        .collect();
    // At 100×16 the tiers fold into the list: tier 1's number stands beside its first
    // service, so that row is what must stay in view.
    let first_tier = |screen: &str| {
        screen
            .lines()
            .any(|l| l.starts_with("\"│1 ") && l.contains("auth"))
    };
    app.sync_services(&opening);
    let screen = testkit::render(&mut app, 100, 16);
    assert!(first_tier(&screen), "{screen}");
    app.sync_services(&swept_views(&rb));
    let screen = testkit::render(&mut app, 100, 16);
    assert!(first_tier(&screen), "{screen}");
}

/// A `service_state` event for `service` at `minutes` after the fixture's start.
fn state_at(app: &mut App, minutes: i64, service: &str, to: ServiceState) {
    app.on_journal(
        testkit::began() + chrono::TimeDelta::minutes(minutes),
        &Event::ServiceState {
            service: ServiceId::new(service),
            from: ServiceState::Unknown,
            to,
            reason: None,
        },
    );
}

fn run_started(incident_start: Option<DateTime<Utc>>) -> Event {
    Event::RunStarted {
        executor: None,
        runbook: "r".into(),
        runbook_sha256: String::new(),
        operator: "o".into(),
        vars: IndexMap::new(),
        version: "0".into(),
        mode: Mode::Incident,
        services: Vec::new(),
        incident_start,
        scenario: None,
        about: Box::default(),
    }
}

#[test]
fn the_rto_column_times_each_outage_from_its_own_start() {
    let mut app = idle_app();
    let auth = app.runbook().services[0].clone();
    // auth is up; at 50m a check fails (a regression), at 55m it is restored: 5m, within 15m.
    state_at(&mut app, 50, "auth", ServiceState::Checking);
    state_at(&mut app, 50, "auth", ServiceState::Down);
    state_at(&mut app, 55, "auth", ServiceState::Restored);
    app.tick(Duration::from_secs(90 * 60));
    assert_eq!(
        crate::tui::view::services::rto_text(&app, &auth),
        ("5m/15m".to_string(), false)
    );
    // Checking it again keeps that outage's time.
    state_at(&mut app, 91, "auth", ServiceState::Checking);
    state_at(&mut app, 91, "auth", ServiceState::Restored);
    assert_eq!(
        crate::tui::view::services::rto_text(&app, &auth).0,
        "5m/15m"
    );
}

#[test]
fn a_service_found_healthy_shows_no_outage_time_whenever_the_screen_opened() {
    // The bug of a taken-over screen: `healthy dns 1m/2m` (time since the run's start).
    let mut app = App::new(
        std::sync::Arc::new(testkit::runbook()),
        testkit::info(Mode::Incident),
    );
    app.on_journal(testkit::began(), &run_started(None));
    state_at(&mut app, 1, "auth", ServiceState::Checking);
    state_at(&mut app, 1, "auth", ServiceState::Healthy);
    app.tick(Duration::from_secs(30 * 60));
    let auth = app.runbook().services[0].clone();
    assert_eq!(
        crate::tui::view::services::rto_text(&app, &auth),
        ("0s/15m".to_string(), false)
    );
}

#[test]
fn an_incident_start_before_the_run_counts_in_a_service_found_down() {
    let mut app = App::new(
        std::sync::Arc::new(testkit::runbook()),
        testkit::info(Mode::Incident),
    );
    let ts = testkit::began();
    app.on_journal(ts, &run_started(Some(ts - chrono::TimeDelta::minutes(90))));
    let media = app.runbook().services[2].clone();
    state_at(&mut app, 1, "media", ServiceState::Down);
    app.tick(Duration::from_secs(10 * 60));
    assert_eq!(
        crate::tui::view::services::rto_text(&app, &media),
        ("1h40m/1h00m!".to_string(), true)
    );
}

/// A real engine, auto off, over one service `vip` (down) whose restore is a command then a
/// manual step; every command it asks for is answered at once (checks fail, restores pass).
mod real_engine {
    use std::sync::Arc;

    use super::*;
    use crate::engine::{Effect, Engine, EngineOptions, Input};
    use crate::runbook::model::{StepAction, Template};

    pub fn runbook() -> crate::runbook::model::Runbook {
        let mut rb = testkit::runbook();
        let mut svc = testkit::service("vip", "Virtual IP", 1, None, &["msg-gw-1"]);
        let mut manual = testkit::step("move the VIP", "", &["msg-gw-1"]);
        manual.action = StepAction::Manual(Template::parse("Ask netops to move the VIP."));
        svc.restores = vec![testkit::step("prepare", "true", &["msg-gw-1"]), manual];
        rb.services = vec![svc];
        rb
    }

    /// Carry out what the engine asks: each run finishes at once.
    pub fn feed(engine: &mut Engine, input: Input) {
        let mut queue = vec![input];
        while let Some(input) = queue.pop() {
            for effect in engine.handle(input) {
                if let Effect::Run { launch, .. } = effect {
                    let ok = launch.step.phase != Phase::Check;
                    queue.push(Input::StepFinished {
                        attempt: launch.attempt_id,
                        outcome: if ok {
                            crate::engine::StepOutcome::Ok
                        } else {
                            crate::engine::StepOutcome::Failed
                        },
                        exit_code: Some(i32::from(!ok)),
                        duration: Duration::from_millis(5),
                        error: None,
                        output_matched: None,
                        refused: false,
                    });
                }
            }
        }
    }

    pub fn open() -> (App, Engine) {
        open_with(|_| {})
    }

    /// [`open`] with the runbook changed first.
    pub fn open_with(change: impl FnOnce(&mut crate::runbook::model::Runbook)) -> (App, Engine) {
        let mut rb = runbook();
        change(&mut rb);
        let rb = Arc::new(rb);
        let mut engine = Engine::new(rb.clone(), EngineOptions::default());
        feed(&mut engine, Input::SetAuto(false));
        feed(&mut engine, Input::Check(ServiceId::new("vip")));
        let mut app = App::new(rb, testkit::info(Mode::Incident));
        app.sync_services(engine.services());
        (app, engine)
    }
}

#[test]
fn with_auto_off_a_service_paused_before_a_command_step_is_not_called_busy() {
    let (mut app, mut engine) = real_engine::open_with(|rb| {
        let second = testkit::step("start", "true", &["msg-gw-1"]);
        rb.services[0].restores[1] = second;
    });
    let vip = ServiceId::new("vip");
    app.select_service(&vip);
    for c in key(&mut app, KeyCode::Enter) {
        if let Command::Request(crate::driver::Request::Input(i)) = c {
            real_engine::feed(&mut engine, i);
        }
    }
    app.sync_services(engine.services());
    assert_eq!(app.paused_at(&vip), Some(sref("vip", Phase::Restore, 1)));
    let hint = crate::tui::hint::next_step(&app).expect("a hint");
    assert!(
        hint.contains("paused before 'start'") && hint.contains("Enter") && !hint.contains("busy"),
        "the hint says what waits and what to press: {hint}"
    );
}

#[test]
fn with_auto_off_d_on_the_manual_step_the_screen_shows_next_answers_it_at_once() {
    let (mut app, mut engine) = real_engine::open();
    let vip = ServiceId::new("vip");
    app.select_service(&vip);
    // Enter runs the next step (the command), then the service pauses before the manual one.
    for c in key(&mut app, KeyCode::Enter) {
        if let Command::Request(crate::driver::Request::Input(i)) = c {
            real_engine::feed(&mut engine, i);
        }
    }
    app.sync_services(engine.services());
    let manual = sref("vip", Phase::Restore, 1);
    assert_eq!(
        app.paused_manual(&vip),
        Some(manual.clone()),
        "the screen shows it next"
    );
    let hint = crate::tui::hint::next_step(&app).expect("a hint");
    assert!(
        hint.contains("'move the VIP'") && hint.contains("press d") && !hint.contains("busy"),
        "the hint says the operator is waited on, and what to press: {hint}"
    );
    let out = key(&mut app, KeyCode::Char('d'));
    assert_eq!(app.message, None, "no 'nothing is waiting'");
    assert!(!out.is_empty(), "d is taken at once");
    for c in out {
        if let Command::Request(crate::driver::Request::Input(i)) = c {
            real_engine::feed(&mut engine, i);
        }
    }
    let view = engine.service(&vip).expect("vip");
    assert_eq!(
        view.steps.get(&manual).and_then(|h| h.values().next()),
        Some(&crate::engine::state::HostStatus::Finished {
            outcome: crate::engine::StepOutcome::Ok,
            exit_code: None,
            attempt: 1,
            duration: Duration::ZERO,
        }),
        "the manual step is marked done: {view:?}"
    );
}

#[test]
fn with_auto_off_f_on_the_manual_step_the_screen_shows_next_asks_why_then_fails_it() {
    let (mut app, mut engine) = real_engine::open();
    let vip = ServiceId::new("vip");
    app.select_service(&vip);
    for c in key(&mut app, KeyCode::Enter) {
        if let Command::Request(crate::driver::Request::Input(i)) = c {
            real_engine::feed(&mut engine, i);
        }
    }
    app.sync_services(engine.services());
    assert!(key(&mut app, KeyCode::Char('f')).is_empty());
    assert!(matches!(app.overlay(), Some(Overlay::Input(_))), "asks why");
    typed(&mut app, "netops unreachable");
    for c in key(&mut app, KeyCode::Enter) {
        if let Command::Request(crate::driver::Request::Input(i)) = c {
            real_engine::feed(&mut engine, i);
        }
    }
    assert_eq!(
        engine.service(&vip).map(|v| v.state),
        Some(ServiceState::Failed)
    );
}

#[test]
fn w_toggles_timeline_wrapping_only_where_the_timeline_shows_and_the_footer_offers_it() {
    let mut app = idle_app();
    assert!(!app.can(Action::Wrap), "no timeline shown: nothing to wrap");
    assert!(key(&mut app, KeyCode::Char('w')).is_empty());
    assert!(!app.timeline_wraps());
    assert!(app.message.clone().unwrap_or_default().contains("press t"));
    key(&mut app, KeyCode::Char('t'));
    key(&mut app, KeyCode::Char('w'));
    assert!(app.timeline_wraps());
    let keys = crate::tui::view::footer::entries(&app, &Keymap::default());
    assert!(
        keys.iter().any(|e| e.label == "w" && e.word == "cut lines"),
        "{keys:?}"
    );
    key(&mut app, KeyCode::Char('w'));
    assert!(!app.timeline_wraps());
}

#[test]
fn a_question_the_driver_withdraws_closes_its_dialog_before_the_views_catch_up() {
    let mut app = testkit::app(Mode::Incident);
    let Some(Overlay::Approval(step)) = app.overlay().cloned() else {
        panic!("an approval dialog opens");
    };
    // Another dialog's step: the open one stays.
    let other = StepRef {
        service: ServiceId::new("nowhere"),
        ..step.clone()
    };
    app.withdraw(&other);
    assert!(matches!(app.overlay(), Some(Overlay::Approval(_))));
    app.withdraw(&step);
    assert_eq!(app.overlay(), None, "the driver's word closes it");
    assert!(
        app.message
            .as_deref()
            .is_some_and(|m| m.contains("no longer asked")),
        "{:?}",
        app.message
    );
    // The decline question about a withdrawn step goes the same way.
    let mut app = testkit::app(Mode::Incident);
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert!(matches!(app.overlay(), Some(Overlay::Ask(_))));
    app.withdraw(&step);
    assert_eq!(app.overlay(), None);
}

/// The same journal, read by the json export and shown by the TUI: one fold, one number.
#[test]
fn the_json_exports_time_to_restore_is_the_time_the_tui_shows() {
    use crate::journal::{JournalWriter, ManualClock, read_journal};
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("run.jsonl");
    let clock = ManualClock::new(testkit::began());
    let mut writer =
        JournalWriter::create_with_clock(&path, &[], Box::new(clock.clone())).expect("journal");
    let mut write = |minutes: i64, secs: i64, event: Event| {
        clock.set(
            testkit::began()
                + chrono::TimeDelta::minutes(minutes)
                + chrono::TimeDelta::seconds(secs),
        );
        writer.append(&event).expect("appended");
    };
    let state = |service: &str, to| Event::ServiceState {
        service: ServiceId::new(service),
        from: ServiceState::Unknown,
        to,
        reason: None,
    };
    write(0, 0, run_started(None));
    write(1, 0, state("auth", ServiceState::Down));
    // The executor dies; another takes over and checks again.
    write(
        4,
        0,
        Event::Resumed {
            key: None,
            from_seq: 2,
            forced: false,
            runbook_sha256: None,
            operator: None,
            identity: None,
            previous: None,
            reason: None,
        },
    );
    write(4, 1, state("auth", ServiceState::Down));
    write(12, 30, state("auth", ServiceState::Restored));
    drop(writer);
    let journal = read_journal(&path).expect("read back");

    let json = crate::export::render(&journal, crate::cli::ExportFormat::Json).expect("json");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("a json document");
    let auth = doc["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "auth"))
        .expect("auth in the export");
    let ttr = auth["outages"][0]["time_to_restore_ms"]
        .as_i64()
        .expect("a time to restore");
    assert_eq!(
        ttr,
        12 * 60_000 + 30_000,
        "from the run's start, across the take-over"
    );

    // The taken-over screen: the journal folded first, its clock well past the restore.
    let mut app = App::new(
        std::sync::Arc::new(testkit::runbook()),
        testkit::info(Mode::Incident),
    );
    for r in &journal.records {
        app.on_entry(r.seq, r.ts, &r.event);
    }
    app.tick(Duration::from_secs(50 * 60));
    let shown = app
        .outage_time(&ServiceId::new("auth"))
        .expect("a time once the run's start is known");
    assert_eq!(i64::try_from(shown.as_millis()).expect("fits"), ttr);
    let screen = testkit::render(&mut app, 120, 40);
    let row = screen
        .lines()
        .find(|l| l.contains(" auth ") && l.contains("/15m"))
        .expect("auth's row with its time against its RTO");
    assert!(row.contains("12m/15m"), "{row}");
}
