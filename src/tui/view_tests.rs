//! Snapshots of every pane and overlay at 60×15, 80×24 and 120×40, drawn with the NO_COLOR theme on
//! a `TestBackend` from fabricated runbooks and engine views.

use chrono::{DateTime, Utc};

use crate::engine::state::{Mode, Phase, ServiceState, Waiting};
use crate::journal::Event;
use crate::runbook::model::{HostId, ServiceId};
use crate::tui::action::{Action, Focus};
use crate::tui::app::{App, HostKeyPrompt};
use crate::tui::testkit::{self, sref};

const SIZES: [(u16, u16); 3] = [(60, 15), (80, 24), (120, 40)];

fn snap(name: &str, make: impl Fn() -> App) {
    for (w, h) in SIZES {
        let mut app = make();
        let text = testkit::render(&mut app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    }
}

/// The fixture with its approval dialog set aside: the plain main view.
fn main_view() -> App {
    let mut app = testkit::app(Mode::Incident);
    app.on_action(Action::Cancel);
    app
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

#[test]
fn main_view_lists_services_by_tier_with_steps_of_the_selection() {
    snap("main", main_view);
}

#[test]
fn steps_pane_shows_each_host_result_of_a_partial_service() {
    snap("steps_partial_service", || {
        let mut app = main_view();
        app.on_action(Action::Down);
        app.on_action(Action::NextPane);
        // Selecting a partial service lands on the host that went wrong: msg-gw-2.
        app
    });
}

#[test]
fn output_pane_shows_the_tail_of_the_selected_host_output() {
    snap("output_follow", || {
        let mut app = main_view();
        let step = sref("auth", Phase::Restore, 0);
        for i in 1..=200 {
            app.on_output(
                &step,
                &HostId::new("auth-1"),
                &format!("auth[{i}]: replaying token store segment {i}/200\n"),
            );
        }
        app.on_action(Action::NextPane);
        for _ in 0..3 {
            app.on_action(Action::Down);
        }
        app
    });
}

#[test]
fn output_pane_scrolled_back_shows_its_position() {
    snap("output_scrolled", || {
        let mut app = main_view();
        let step = sref("auth", Phase::Check, 0);
        for i in 1..=200 {
            app.on_output(&step, &HostId::new("auth-1"), &format!("probe {i}: 503\n"));
        }
        app.focus = Focus::Bottom;
        app.on_action(Action::Home);
        app.on_action(Action::Down);
        app
    });
}

#[test]
fn timeline_pane_lists_time_who_what() {
    snap("timeline", || {
        let mut app = main_view();
        let events = [
            (
                "2026-11-22T08:14:00Z",
                Event::Note {
                    operator: "alice".into(),
                    text: "secondary site power confirmed".into(),
                    provenance: crate::journal::event::Provenance::default(),
                },
            ),
            (
                "2026-11-22T08:14:03Z",
                Event::ServiceState {
                    service: ServiceId::new("mail"),
                    from: ServiceState::Checking,
                    to: ServiceState::Down,
                    reason: Some("check 'health' failed on mail-1".into()),
                },
            ),
            (
                "2026-11-22T08:15:10Z",
                Event::StepFinished {
                    service: ServiceId::new("auth"),
                    phase: crate::engine::Phase::Restore,
                    step: "restart auth".into(),
                    host: HostId::new("auth-1"),
                    attempt: 1,
                    outcome: crate::engine::StepOutcome::Ok,
                    exit_code: Some(0),
                    duration_ms: 1840,
                    error: None,
                },
            ),
        ];
        for (t, e) in &events {
            app.on_journal(ts(t), e);
        }
        app.on_action(Action::Timeline);
        app
    });
}

#[test]
fn drill_mode_shows_inject_steps_and_the_drill_header() {
    snap("drill", || {
        let mut app = testkit::app(Mode::Drill);
        app.on_action(Action::Cancel);
        app.on_action(Action::Down);
        app
    });
}

/// The fixture with `notice_after = "2h"`, `elapsed` into the incident.
fn with_notice_rule(elapsed: std::time::Duration) -> App {
    let mut rb = testkit::runbook();
    rb.notice.after = Some(std::time::Duration::from_secs(2 * 3600));
    let views = testkit::views(&rb);
    let mut app = App::new(std::sync::Arc::new(rb), testkit::info(Mode::Incident));
    testkit::journal_of_views(&mut app, Mode::Incident);
    app.tick(elapsed);
    app.sync_services(&views);
    app.on_action(Action::Cancel);
    app
}

#[test]
fn the_header_counts_down_to_the_user_notice_then_says_it_is_due() {
    let header = |app: &mut App| {
        testkit::render(app, 120, 40)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mut early = with_notice_rule(std::time::Duration::from_secs(40 * 60));
    assert!(
        header(&mut early).contains("00:40:00 · notice in 1h20m · by"),
        "{}",
        header(&mut early)
    );
    let mut late = with_notice_rule(std::time::Duration::from_secs(2 * 3600 + 60));
    let line = header(&mut late);
    assert!(line.contains("· NOTICE DUE (2h00m) · by"), "{line}");
    // Without the rule, no countdown.
    assert!(!header(&mut main_view()).contains("notice"));
    snap("notice_due", || {
        with_notice_rule(std::time::Duration::from_secs(2 * 3600 + 60))
    });
}

#[test]
fn filter_is_typed_in_the_footer_over_a_live_list() {
    snap("filter", || {
        let mut app = main_view();
        app.on_action(Action::Filter);
        for c in "m".chars() {
            app.on_action(Action::Type(c));
        }
        app
    });
}

#[test]
fn help_overlay_lists_every_key() {
    snap("help", || {
        let mut app = main_view();
        app.on_action(Action::Help);
        app
    });
}

#[test]
fn confirm_dialog_shows_a_command_once_for_the_hosts_that_run_it() {
    snap("confirm", || testkit::app(Mode::Incident));
}

#[test]
fn manual_dialog_shows_the_instruction() {
    snap("manual", || {
        let mut app = main_view();
        let mut views = testkit::views(app.runbook());
        let talk = views.get_mut("talk-messaging").expect("talk");
        talk.state = ServiceState::Restoring;
        talk.waiting = Some(Waiting::Manual {
            step: sref("talk-messaging", Phase::Restore, 1),
            instruction: "Ask netops to move the VIP to gasan; mark done when they confirm.".into(),
        });
        app.sync_services(&views);
        app
    });
}

#[test]
fn skip_dialog_asks_for_a_reason() {
    snap("skip", || {
        let mut app = main_view();
        app.on_action(Action::Skip);
        app.on_action(Action::Submit);
        app
    });
}

#[test]
fn note_dialog_takes_text() {
    snap("note", || {
        let mut app = main_view();
        app.on_action(Action::Note);
        for c in "netops on the bridge".chars() {
            app.on_action(Action::Type(c));
        }
        app
    });
}

#[test]
fn quit_confirmation_while_steps_run() {
    snap("quit", || {
        let mut app = main_view();
        app.on_action(Action::Quit);
        app
    });
}

#[test]
fn host_key_prompt_shows_the_fingerprint() {
    snap("host_key", || {
        let mut app = main_view();
        app.on_host_key(HostKeyPrompt {
            host: HostId::new("msg-gw-2"),
            address: "10.20.0.12".into(),
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8".into(),
        });
        app
    });
}

#[test]
fn help_shows_every_binding_of_the_keymap() {
    let mut app = main_view();
    app.on_action(Action::Help);
    let text = testkit::render(&mut app, 120, 40);
    for b in crate::tui::keymap::Keymap::default().bindings() {
        assert!(
            text.contains(b.help),
            "help lacks '{}' ({})",
            b.help,
            b.label
        );
    }
}

#[test]
fn over_rto_is_red_with_color_and_marked_with_a_bang_without() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Color;
    let mut app = main_view();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("backend");
    let theme = crate::tui::theme::Theme::new(false);
    let km = crate::tui::keymap::Keymap::default();
    terminal
        .draw(|f| {
            let hits = crate::tui::view::draw(&app, &theme, &km, f);
            app.set_hits(hits);
        })
        .expect("draw");
    let buf = terminal.backend().buffer();
    // auth's row: "40m/15m!" at the right edge of the services pane.
    let y = (0..24)
        .find(|&y| {
            (0..40)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .contains("auth")
        })
        .expect("auth row");
    let row: String = (0..40).map(|x| buf[(x, y)].symbol()).collect();
    assert!(row.contains("40m/15m!"), "{row}");
    let bang = (0..40)
        .find(|&x| buf[(x, y)].symbol() == "!")
        .expect("bang");
    assert_eq!(buf[(bang, y)].fg, Color::Red);
}

#[test]
fn a_long_service_list_shows_the_window_around_the_selection() {
    snap("services_scrolled", || {
        let mut app = testkit::many(60);
        // As in the real loop, a first frame tells the App how tall the list is.
        testkit::render(&mut app, 80, 24);
        for _ in 0..45 {
            app.on_action(Action::Down);
        }
        app
    });
}

#[test]
fn a_marked_manual_step_says_who_marked_it_not_an_exit_code() {
    let mut app = main_view();
    let mut views = testkit::views(app.runbook());
    let talk = views.get_mut("talk-messaging").expect("talk");
    talk.waiting = None;
    talk.steps.insert(
        sref("talk-messaging", Phase::Restore, 1),
        [(
            HostId::new("msg-gw-1"),
            crate::engine::state::HostStatus::Finished {
                outcome: crate::engine::state::StepOutcome::Ok,
                exit_code: None,
                attempt: 1,
                duration: std::time::Duration::ZERO,
            },
        )]
        .into_iter()
        .collect(),
    );
    app.sync_services(&views);
    app.on_journal(
        ts("2026-11-22T08:50:00Z"),
        &Event::Manual {
            service: ServiceId::new("talk-messaging"),
            step: "move the VIP".into(),
            outcome: crate::engine::ManualOutcome::Done,
            operator: "kim".into(),
            provenance: crate::journal::event::Provenance::default(),
        },
    );
    app.on_action(Action::Down);
    let text = testkit::render(&mut app, 120, 40);
    assert!(text.contains("manual · done by kim"), "{text}");
    assert!(!text.contains("no exit"), "{text}");
}

#[test]
fn the_quit_dialog_names_a_waiting_question_not_running_steps() {
    let mut app = main_view();
    let mut views = testkit::views(app.runbook());
    let media = views.get_mut("media").expect("media");
    media.state = ServiceState::Down;
    media.steps.clear();
    views.get_mut("talk-messaging").expect("talk").state = ServiceState::Restoring;
    app.sync_services(&views);
    app.on_action(Action::Cancel);
    app.on_action(Action::Quit);
    let text = testkit::render(&mut app, 120, 40);
    assert!(
        text.contains("'talk-messaging' waits for your approval."),
        "{text}"
    );
    assert!(!text.contains("running"), "{text}");
}

#[test]
fn the_footer_fits_its_width_and_always_shows_question_mark() {
    for width in [60, 80, 120] {
        let mut app = main_view();
        app.message = None;
        let text = testkit::render(&mut app, width, 24);
        let footer = text.lines().last().expect("footer").trim_matches('"');
        assert!(
            footer.trim_end().ends_with("? help") || footer.trim_end().ends_with("? more keys"),
            "{width}: {footer}"
        );
        // Whole entries only: no word cut at the edge.
        assert!(!footer.contains("timelin "), "{width}: {footer}");
        assert!(footer.contains("Enter next step"), "{width}: {footer}");
    }
}

#[test]
fn the_header_keeps_the_journal_file_name_or_leaves_the_path_out() {
    let mut app = main_view();
    app.info.journal =
        "/var/lib/bringup/incidents/2026/journal/pangyo-20261122T081400Z.jsonl".into();
    let wide = testkit::render(&mut app, 120, 40);
    let header = wide.lines().next().expect("header");
    assert!(
        header.contains("· …/pangyo-20261122T081400Z.jsonl"),
        "{header}"
    );
    let narrow = testkit::render(&mut app, 80, 24);
    let header = narrow.lines().next().expect("header");
    assert!(!header.contains("jsonl"), "{header}");
    assert!(header.contains("by alice · auto off"), "{header}");
}

#[test]
fn inject_asks_first_with_the_commands_per_host() {
    snap("ask_inject", || {
        let mut app = testkit::app(Mode::Drill);
        app.on_action(Action::Cancel);
        app.select_service(&ServiceId::new("talk-messaging"));
        app.on_action(Action::Inject);
        app
    });
}

#[test]
fn declining_a_confirm_step_asks_once_more_and_says_what_it_does() {
    snap("ask_decline", || {
        let mut app = testkit::app(Mode::Incident);
        app.on_action(Action::Decline);
        app
    });
}

#[test]
fn every_service_id_is_readable_on_small_terminals() {
    for (w, h) in [(60, 15), (80, 24)] {
        let mut app = main_view();
        let text = testkit::render(&mut app, w, h);
        for id in ["auth", "talk-messaging", "media"] {
            assert!(text.contains(id), "'{id}' is cut at {w}x{h}:\n{text}");
        }
    }
}

/// The timeline with a note too long for the pane, and `w` pressed: it wraps, read whole.
fn wrapped_timeline() -> App {
    let mut app = main_view();
    app.on_journal(
        ts("2026-11-22T08:14:00Z"),
        &Event::Note {
            operator: "alice".into(),
            text: "secondary site power confirmed by facilities; generator B carries the west hall until the utility feed is back, expected around 11:00".into(),
            provenance: crate::journal::event::Provenance::default(),
        },
    );
    app.on_journal(
        ts("2026-11-22T08:14:03Z"),
        &Event::ServiceState {
            service: ServiceId::new("mail"),
            from: ServiceState::Checking,
            to: ServiceState::Down,
            reason: Some("check 'health' failed on mail-1".into()),
        },
    );
    app.on_action(Action::Timeline);
    app.on_action(Action::Wrap);
    app
}

#[test]
fn w_wraps_the_timeline_so_a_long_line_reads_whole_at_80x24() {
    let mut app = wrapped_timeline();
    let text = testkit::render(&mut app, 80, 24);
    insta::assert_snapshot!("timeline_wrapped_80x24", text);
    let joined: String = text
        .lines()
        .map(|l| {
            l.trim_matches(|c: char| c == '│' || c == '"' || c.is_whitespace())
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        joined.contains("expected around 11:00"),
        "the end of the long note is on screen:\n{text}"
    );
    assert!(text.contains("wrap"), "the pane says it wraps:\n{text}");
    app.on_action(Action::Wrap);
    let cut = testkit::render(&mut app, 80, 24);
    assert!(!cut.contains("around 11:00"), "w again cuts lines:\n{cut}");
}

#[test]
fn a_scenario_drill_shows_its_phase_in_the_header_then_how_it_ended() {
    use crate::journal::event::{DrillOutcome, DrillPhase};
    let mut app = testkit::app(Mode::Drill);
    app.on_action(Action::Cancel);
    let phase = |phase, outcome| Event::DrillPhase {
        scenario: "dc-loss".into(),
        phase,
        outcome,
        reason: None,
    };
    let header = |app: &mut App| {
        testkit::render(app, 120, 40)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        header(&mut app).contains("· DRILL ·"),
        "{}",
        header(&mut app)
    );
    app.on_journal(ts("2026-11-22T08:00:00Z"), &phase(DrillPhase::Inject, None));
    assert!(
        header(&mut app).contains("DRILL: inject"),
        "{}",
        header(&mut app)
    );
    app.on_journal(
        ts("2026-11-22T08:00:05Z"),
        &phase(DrillPhase::Restore, None),
    );
    assert!(
        header(&mut app).contains("DRILL: restore"),
        "{}",
        header(&mut app)
    );
    app.on_journal(
        ts("2026-11-22T08:01:00Z"),
        &phase(DrillPhase::Finished, Some(DrillOutcome::Passed)),
    );
    assert!(
        header(&mut app).contains("DRILL PASSED"),
        "{}",
        header(&mut app)
    );
}

#[test]
fn the_confirm_dialog_says_why_a_step_that_ran_ok_before_asks_again() {
    let rb = std::sync::Arc::new(testkit::runbook());
    let mut views = testkit::views(&rb);
    let talk = views
        .get_mut(&ServiceId::new("talk-messaging"))
        .expect("talk");
    if let Some(Waiting::Approval { reason, .. }) = &mut talk.waiting {
        *reason = Some("it ran ok before the run stopped; the service is down again".into());
    }
    let mut app = App::new(rb, testkit::info(Mode::Incident));
    app.sync_services(&views);
    let text = testkit::render(&mut app, 120, 40);
    assert!(
        text.contains("Asked because it ran ok before the run stopped"),
        "{text}"
    );
    // A plain confirm step says nothing of the kind.
    let mut plain = testkit::app(Mode::Incident);
    let text = testkit::render(&mut plain, 120, 40);
    assert!(text.contains("Approve this step?") && !text.contains("Asked because"));
}
