//! The operator flow on screen (SPEC "Operator flow"), on `runbooks/demo.toml` itself and on
//! the fixture, at 60×15, 80×24 and 120×40: the failure the run stopped on, every demo
//! service at 80×24, the help scrolled to its end, a long command's confirm dialog with its
//! keys, a retry's attempt heading, the palette.

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use crate::engine::state::{HostStatus, Mode, Phase, ServiceState, ServiceView, StepOutcome};
use crate::journal::Event;
use crate::runbook::model::{HostId, ServiceId};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::testkit::{self, finished, sref};

const SIZES: [(u16, u16); 3] = [(60, 15), (80, 24), (120, 40)];

fn demo_runbook() -> crate::runbook::model::Runbook {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/demo.toml");
    crate::runbook::load(&path, &[]).expect("the demo runbook is valid")
}

/// The demo as auto mode leaves it: every service up but mail-imap, whose storage volume
/// refused its mount (exit 32) after printing why; the operator was looking at dns.
fn demo_stopped_on_mail_imap() -> App {
    let rb = Arc::new(demo_runbook());
    let mut app = App::new(rb.clone(), testkit::info(Mode::Incident));
    let ts = testkit::began();
    let imap = ServiceId::new("mail-imap");
    let host = HostId::new("mail-1");
    let step = "mount the mail storage volume";
    app.on_journal(
        ts,
        &Event::StepStarted {
            service: imap.clone(),
            phase: Phase::Restore,
            step: step.into(),
            host: host.clone(),
            attempt: 1,
            command: "mount".into(),
        },
    );
    app.on_output(
        &sref("mail-imap", Phase::Restore, 0),
        &host,
        "mount: /srv/mail: volume 'mailstore-07' is degraded (3 of 12 disks rebuilding, 41%); refusing a read-write mount\n",
    );
    app.on_journal(
        ts,
        &Event::StepFinished {
            service: imap.clone(),
            phase: Phase::Restore,
            step: step.into(),
            host: host.clone(),
            attempt: 1,
            outcome: StepOutcome::Failed,
            exit_code: Some(32),
            duration_ms: 1500,
            error: None,
        },
    );
    app.on_journal(
        ts,
        &Event::ServiceState {
            service: imap.clone(),
            from: ServiceState::Restoring,
            to: ServiceState::Failed,
            reason: Some(format!("restore '{step}' failed on mail-1 (exit 32)")),
        },
    );
    app.tick(Duration::from_secs(95));
    let mut views: IndexMap<ServiceId, ServiceView> = IndexMap::new();
    for s in &rb.services {
        let mut v = ServiceView::default();
        if s.id == imap {
            v.state = ServiceState::Failed;
            v.reason = Some(format!("restore '{step}' failed on mail-1 (exit 32)"));
            v.steps.insert(
                sref("mail-imap", Phase::Restore, 0),
                [(host.clone(), finished(StepOutcome::Failed, 32, 1, 1500))]
                    .into_iter()
                    .collect(),
            );
        } else {
            v.state = if s.tier % 2 == 0 {
                ServiceState::Restored
            } else {
                ServiceState::Healthy
            };
        }
        views.insert(s.id.clone(), v);
    }
    app.sync_services(&views);
    app
}

#[test]
fn the_demo_stopped_on_mail_imap_shows_the_failure_first_at_every_size() {
    for (w, h) in SIZES {
        let mut app = demo_stopped_on_mail_imap();
        let text = testkit::render(&mut app, w, h);
        assert_eq!(
            app.selected_service().map(|s| s.id.as_str()),
            Some("mail-imap")
        );
        assert!(text.contains("'mail-imap' failed"), "{text}");
        assert!(text.contains("exit 32"), "{text}");
        assert!(text.contains("volume 'mailstore-07' is degraded"), "{text}");
        insta::assert_snapshot!(format!("demo_failure_first_{w}x{h}"), text);
    }
}

/// The demo with every service up but `failed`, which the journal's `events` failed after
/// its restore began, the steps pane showing `hosts` of its restore step `index`; the
/// operator was looking at dns.
fn demo_failed_by(
    failed: &str,
    index: usize,
    hosts: &[(&str, HostStatus)],
    events: &[Event],
    reason: &str,
) -> App {
    let rb = Arc::new(demo_runbook());
    let mut app = App::new(rb.clone(), testkit::info(Mode::Incident));
    let ts = testkit::began() + chrono::TimeDelta::seconds(75);
    let id = ServiceId::new(failed);
    let restoring = Event::ServiceState {
        service: id.clone(),
        from: ServiceState::Down,
        to: ServiceState::Restoring,
        reason: None,
    };
    app.on_journal(ts, &restoring);
    for e in events {
        app.on_journal(ts, e);
    }
    app.on_journal(
        ts,
        &Event::ServiceState {
            service: id.clone(),
            from: ServiceState::Restoring,
            to: ServiceState::Failed,
            reason: Some(reason.into()),
        },
    );
    app.tick(Duration::from_secs(95));
    let mut views: IndexMap<ServiceId, ServiceView> = IndexMap::new();
    for s in &rb.services {
        let mut v = ServiceView::default();
        if s.id == id {
            v.state = ServiceState::Failed;
            v.reason = Some(reason.into());
            v.steps.insert(
                sref(failed, Phase::Restore, index),
                hosts
                    .iter()
                    .map(|(h, st)| (HostId::new(*h), st.clone()))
                    .collect(),
            );
        } else {
            v.state = if s.tier % 2 == 0 {
                ServiceState::Restored
            } else {
                ServiceState::Healthy
            };
        }
        views.insert(s.id.clone(), v);
    }
    app.select_service(&ServiceId::new("dns"));
    app.sync_services(&views);
    app
}

/// The database's promotion declined by alice (its confirm dialog, `n` then `N`).
fn demo_declined() -> App {
    let step = "promote the replica to primary";
    demo_failed_by(
        "database",
        0,
        &[("db-replica", HostStatus::NotRun)],
        &[
            Event::Asked {
                service: ServiceId::new("database"),
                step: step.into(),
                phase: None,
                question: crate::journal::event::QuestionKind::Approval,
            },
            Event::Approval {
                service: ServiceId::new("database"),
                step: step.into(),
                phase: None,
                decision: crate::engine::Decision::Declined,
                operator: "alice".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
        ],
        &format!("restore '{step}' declined by operator"),
    )
}

/// talk-messaging's manual step (moving the VIP) marked failed by bob (`f`, with a reason).
fn demo_manual_failed() -> App {
    let step = "move the VIP";
    let failed = HostStatus::Finished {
        outcome: StepOutcome::Failed,
        exit_code: None,
        attempt: 1,
        duration: Duration::ZERO,
    };
    demo_failed_by(
        "talk-messaging",
        2,
        &[("msg-gw-1", failed.clone()), ("msg-gw-2", failed)],
        &[
            Event::Asked {
                service: ServiceId::new("talk-messaging"),
                step: step.into(),
                phase: None,
                question: crate::journal::event::QuestionKind::Manual,
            },
            Event::Manual {
                service: ServiceId::new("talk-messaging"),
                step: step.into(),
                outcome: crate::engine::ManualOutcome::Failed,
                operator: "bob".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
        ],
        &format!("manual restore '{step}' marked failed by operator"),
    )
}

#[test]
fn a_declined_approval_shows_first_with_who_declined_which_step() {
    for (w, h) in SIZES {
        let mut app = demo_declined();
        let text = testkit::render(&mut app, w, h);
        assert_eq!(
            app.selected_service().map(|s| s.id.as_str()),
            Some("database"),
            "the failed service is selected"
        );
        assert!(text.contains("'database' failed"), "{text}");
        assert!(
            text.contains("alice declined restore 'promote the replica to primary'"),
            "who declined which step:\n{text}"
        );
        assert!(
            text.contains("– not run"),
            "the step's host is in view:\n{text}"
        );
        insta::assert_snapshot!(format!("demo_declined_first_{w}x{h}"), text);
    }
}

#[test]
fn a_manual_step_marked_failed_shows_first_with_who_marked_it() {
    for (w, h) in SIZES {
        let mut app = demo_manual_failed();
        let text = testkit::render(&mut app, w, h);
        assert_eq!(
            app.selected_service().map(|s| s.id.as_str()),
            Some("talk-messaging"),
            "the failed service is selected"
        );
        assert!(text.contains("'talk-messaging' failed"), "{text}");
        assert!(
            text.contains("bob marked manual step 'move the VIP' failed"),
            "who marked which step:\n{text}"
        );
        insta::assert_snapshot!(format!("demo_manual_failed_first_{w}x{h}"), text);
    }
}

#[test]
fn at_80x24_every_demo_service_shows_with_its_state_word() {
    let mut app = demo_stopped_on_mail_imap();
    let text = testkit::render(&mut app, 80, 24);
    let services = demo_runbook().services;
    assert_eq!(services.len(), 10);
    for s in &services {
        let word = app.view_of(&s.id).expect("a view").state.as_str();
        assert!(
            text.lines().any(|l| l.contains(&format!("{word} {}", s.id))
                || l.contains(&format!("{word}  ")) && l.contains(s.id.as_str())),
            "'{}' with '{word}' not on screen:\n{text}",
            s.id
        );
    }
}

#[test]
fn at_60x15_the_list_keeps_the_failed_service_in_view() {
    let mut app = demo_stopped_on_mail_imap();
    let text = testkit::render(&mut app, 60, 15);
    assert!(
        text.lines()
            .any(|l| l.contains("failed") && l.contains("mail-imap")),
        "{text}"
    );
    // Looking elsewhere, the list's edge names it.
    app.on_action(Action::Home);
    for _ in 0..10 {
        app.on_action(Action::Up);
    }
    let text = testkit::render(&mut app, 60, 15);
    assert!(text.contains("↓ mail-imap failed"), "{text}");
}

#[test]
fn at_60x15_a_long_id_is_cut_before_its_state_word_goes() {
    let mut app = demo_stopped_on_mail_imap();
    let services = demo_runbook().services;
    // Every service in view in turn, each row with its state word.
    app.on_action(Action::Home);
    for n in 0..services.len() {
        let text = testkit::render(&mut app, 60, 15);
        for s in &services {
            let word = app.view_of(&s.id).expect("a view").state.as_str();
            let head: String = s.id.as_str().chars().take(7).collect();
            for row in text.lines().skip(2).take(4) {
                let left: String = row.chars().take(30).collect();
                if left.contains(&head) {
                    assert!(
                        left.contains(&format!(" {word} ")),
                        "'{}' without '{word}' (row {n}): {left}\n{text}",
                        s.id
                    );
                }
            }
        }
        app.on_action(Action::Down);
    }
    let text = testkit::render(&mut app, 60, 15);
    assert!(
        text.contains("✓ restored push-notifica…"),
        "the long id is cut, its state word kept:\n{text}"
    );
}

#[test]
fn the_help_scrolls_to_its_last_key_at_60x15() {
    let mut app = testkit::app(Mode::Incident);
    app.on_action(Action::Cancel);
    app.on_action(Action::Help);
    let first = testkit::render(&mut app, 60, 15);
    assert!(first.contains("more: j/PgDn/End"), "{first}");
    assert!(!first.contains("Quit?"), "{first}");
    app.on_action(Action::End);
    let text = testkit::render(&mut app, 60, 15);
    insta::assert_snapshot!("help_scrolled_to_end_60x15", text);
    // The last section (the quit question) and its last key, on the row above the border.
    let rows: Vec<&str> = text.lines().collect();
    assert!(text.contains("Quit?"), "{text}");
    assert!(
        rows[rows.len() - 3].contains("Esc   close / not now"),
        "the last key shows at the end:\n{text}"
    );
    assert!(rows[rows.len() - 2].contains("end · k/PgUp/Home"), "{text}");
    app.on_action(Action::Up);
    let up = testkit::render(&mut app, 60, 15);
    assert_ne!(up, text, "k scrolls back up from the end");
}

/// talk-messaging's approval with a command far longer than a screen is wide.
fn long_confirm() -> App {
    let mut app = testkit::app(Mode::Incident);
    let long = format!(
        "sudo systemctl start msg-gateway --site gasan {}",
        (1..=40)
            .map(|i| format!("--shard=talk-inbound-{i:02}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut views = testkit::views(app.runbook());
    if let Some(crate::engine::state::Waiting::Approval { commands, .. }) = views
        .get_mut("talk-messaging")
        .and_then(|v| v.waiting.as_mut())
    {
        // A different command per host: hosts running the same one would share a line.
        for (host, c) in commands.iter_mut() {
            *c = format!("{long} --node {host}");
        }
    }
    app.sync_services(&views);
    app
}

#[test]
fn a_long_commands_confirm_dialog_keeps_its_keys_in_view() {
    for (w, h) in SIZES {
        let mut app = long_confirm();
        let text = testkit::render(&mut app, w, h);
        assert!(text.contains("Approve this step?"), "{text}");
        assert!(
            text.contains("y approve") && text.contains("n decline"),
            "the dialog's keys at {w}x{h}:\n{text}"
        );
        if h < 40 {
            assert!(
                text.contains("more row(s)"),
                "says it cut the text:\n{text}"
            );
        }
        insta::assert_snapshot!(format!("confirm_long_{w}x{h}"), text);
    }
}

#[test]
fn a_retry_sets_its_output_apart_and_the_step_shows_attempt_2() {
    let mut app = demo_stopped_on_mail_imap();
    let host = HostId::new("mail-1");
    let step = sref("mail-imap", Phase::Restore, 0);
    app.on_journal(
        testkit::began(),
        &Event::StepStarted {
            service: ServiceId::new("mail-imap"),
            phase: Phase::Restore,
            step: "mount the mail storage volume".into(),
            host: host.clone(),
            attempt: 1,
            command: "mount".into(),
        },
    );
    app.on_output(&step, &host, "mount: still degraded (44%)\n");
    let mut views = app.services.clone();
    let v = views.get_mut("mail-imap").expect("mail-imap");
    v.state = ServiceState::Restoring;
    v.steps
        .get_mut(&step)
        .expect("the step")
        .insert(host.clone(), HostStatus::Running { attempt: 1 });
    app.sync_services(&views);
    let text = testkit::render(&mut app, 120, 40);
    assert!(text.contains("── attempt 2 · 07:34:00 ──"), "{text}");
    assert!(text.contains("running  #2"), "{text}");
    let out = app.output.get(&step, &host).expect("output");
    let lines: Vec<&str> = out.lines(0, 10).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains("41%") && lines[2].contains("44%"),
        "{lines:?}"
    );
}

#[test]
fn the_palette_lists_choices_and_enter_runs_the_first_through_the_keys_path() {
    for (w, h) in SIZES {
        let mut app = demo_stopped_on_mail_imap();
        app.on_action(Action::Up);
        app.on_action(Action::Palette);
        for c in "rest mail".chars() {
            app.on_action(Action::Type(c));
        }
        let text = testkit::render(&mut app, w, h);
        assert!(text.contains(":rest mail█"), "{text}");
        insta::assert_snapshot!(format!("palette_{w}x{h}"), text);
        let commands = app.on_action(Action::Submit);
        assert_eq!(
            app.selected_service().map(|s| s.id.as_str()),
            Some("mail-imap"),
            "the failed one of the two mail services first"
        );
        assert_eq!(
            commands,
            vec![crate::tui::action::Command::input(
                crate::engine::Input::Restore {
                    service: ServiceId::new("mail-imap"),
                    by_hand: true,
                }
            )]
        );
    }
}

#[test]
fn tab_in_a_note_offers_cause_as_its_prefix() {
    let mut app = testkit::app(Mode::Incident);
    app.on_action(Action::Cancel);
    app.on_action(Action::Note);
    let text = testkit::render(&mut app, 80, 24);
    assert!(text.contains("Tab starts it with 'cause:'"), "{text}");
    app.on_action(Action::Complete);
    for c in "fire in the UPS room".chars() {
        app.on_action(Action::Type(c));
    }
    let commands = app.on_action(Action::Submit);
    assert_eq!(
        commands,
        vec![crate::tui::action::Command::Request(
            crate::driver::Request::Note("cause: fire in the UPS room".into())
        )]
    );
}
