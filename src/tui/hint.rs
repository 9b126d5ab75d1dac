//! The footer's next-step hint: one sentence telling the operator what to press now, derived
//! from the App's state alone. Reads state; decides nothing and changes nothing.

use crate::engine::state::ServiceState;
use crate::fold::FailureCause;
use crate::tui::app::{App, Attachment, Link, Seat};

/// What the operator should do next, or `None` while a dialog speaks for itself.
pub fn next_step(app: &App) -> Option<String> {
    hint(app).map(|h| h.long)
}

/// The hint's second line, when it has one: the last line a failed step printed, or who
/// declined (or marked failed) the step a service stopped at, and when. What the view draws
/// (`next_step_for`), told apart for the tests.
#[cfg(test)]
fn detail(app: &App) -> Option<String> {
    hint(app).and_then(|h| h.detail).map(Detail::text)
}

/// The last line a failed step printed, when the hint's second line is that.
pub fn last_output(app: &App) -> Option<String> {
    match hint(app)?.detail? {
        Detail::Said(line) => Some(line),
        Detail::Note(_) => None,
    }
}

/// The hint as it fits in `width` cells (the long form when it fits, else the short one),
/// and its second line if any.
pub fn next_step_for(app: &App, width: u16) -> Option<(String, Option<String>)> {
    hint(app).map(|h| {
        let text = if h.long.chars().count() + 3 <= usize::from(width) {
            h.long
        } else {
            h.short
        };
        (text, h.detail.map(Detail::text))
    })
}

/// The run stopped on a failure: which service, at which step and why (on which host with
/// what exit code and what it printed last; or who declined it or marked it failed), and the
/// keys that act on it (it is selected).
fn failed(app: &App) -> Option<Hint> {
    let f = app.stopped_on()?;
    let id = &f.service;
    let step = &f.step;
    let phase = f.phase;
    let keys = "r restore again · c check · s skip · t timeline";
    let at = f.at.format("%H:%M:%S");
    let last_said = || {
        let host = f.host.as_ref()?;
        app.last_said(f)
            .map(|line| Detail::Said(format!("{host}: {}", crate::text::visible_line(line))))
    };
    let on_host = |code: String| {
        let host = f
            .host
            .as_ref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default();
        Hint {
            long: format!("✗ '{id}' failed at {phase} '{step}'{host}, {code} · {keys}"),
            short: format!("✗ '{id}' failed ({code}) · r retry · s skip · at '{step}'"),
            detail: last_said(),
        }
    };
    Some(match &f.cause {
        FailureCause::Failed { exit_code: Some(c) } => on_host(format!("exit {c}")),
        FailureCause::Failed { exit_code: None } => on_host("failed".into()),
        FailureCause::TimedOut => on_host("timed out".into()),
        FailureCause::Unreachable { error } => Hint {
            detail: last_said().or_else(|| {
                error
                    .as_ref()
                    .map(|e| Detail::Note(crate::text::visible_line(e).into_owned()))
            }),
            ..on_host("unreachable".into())
        },
        FailureCause::Unseen => on_host("ended unseen (bringup stopped)".into()),
        FailureCause::Declined { by } => Hint {
            long: format!("✗ '{id}' failed: {phase} '{step}' declined by {by} · {keys}"),
            short: format!("✗ '{id}' failed: {by} declined '{step}' · r retry · s skip"),
            detail: Some(Detail::Note(format!(
                "{by} declined {phase} '{step}' at {at}"
            ))),
        },
        FailureCause::ManualFailed { by } => Hint {
            long: format!("✗ '{id}' failed: manual step '{step}' marked failed by {by} · {keys}"),
            short: format!("✗ '{id}' failed: {by} marked manual '{step}' failed · r retry"),
            detail: Some(Detail::Note(format!(
                "{by} marked manual step '{step}' failed at {at}"
            ))),
        },
        FailureCause::BudgetExceeded { reason, not_run } => Hint {
            long: format!(
                "✗ '{id}' failed at {phase} '{step}': {reason}; not run on {not_run} host(s) · {keys}"
            ),
            short: format!("✗ '{id}' failed (failure budget) · r retry · s skip · at '{step}'"),
            detail: last_said(),
        },
        FailureCause::Other { reason } => {
            let why = reason.as_deref().unwrap_or("no reason journaled");
            Hint {
                long: format!("✗ '{id}' failed: {why} · {keys}"),
                short: format!("✗ '{id}' failed · r retry · s skip · t timeline"),
                detail: None,
            }
        }
    })
}

/// What an attached screen must say about its link to the run, if anything.
fn attached(a: &Attachment) -> Option<Hint> {
    let url = &a.url;
    if a.seat == Seat::ReadOnly {
        return match &a.link {
            Link::NoExecutor => Some(both(
                format!(
                    "no process executes this run now; this screen is read-only: `bringup attach {url}` (without --read-only) takes it over"
                ),
                "no executor; read-only: attach without --read-only to take over",
            )),
            Link::Executing { .. } => Some(one("read-only: watching the run; q leaves")),
            Link::Ended { .. } | Link::Unreachable { .. } => read_write(a),
        };
    }
    read_write(a)
}

fn read_write(a: &Attachment) -> Option<Hint> {
    let url = &a.url;
    match &a.link {
        Link::Executing { .. } => None,
        Link::NoExecutor => Some(both(
            format!(
                "no process executes this run now (its lease ended): T takes it over here, or `bringup run RUNBOOK --resume {url}` elsewhere"
            ),
            "no executor: T takes the run over here",
        )),
        Link::Ended { outcome } => Some(one(format!(
            "the run has ended ({outcome}); nothing executes it now: q leaves"
        ))),
        Link::Unreachable { why } => Some(both(
            format!("etcd unreachable ({why}); retrying: the screen shows the run as last seen"),
            "etcd unreachable; retrying: the screen shows the run as last seen",
        )),
    }
}

struct Hint {
    long: String,
    short: String,
    detail: Option<Detail>,
}

/// A hint's second line: what a failed step printed last, or a note on the failure.
enum Detail {
    Said(String),
    Note(String),
}

impl Detail {
    fn text(self) -> String {
        match self {
            Detail::Said(s) | Detail::Note(s) => s,
        }
    }
}

fn both(long: impl Into<String>, short: impl Into<String>) -> Hint {
    Hint {
        long: long.into(),
        short: short.into(),
        detail: None,
    }
}

fn one(text: impl Into<String>) -> Hint {
    let text = text.into();
    both(text.clone(), text)
}

fn hint(app: &App) -> Option<Hint> {
    // An attached screen whose run nobody executes, or that cannot reach etcd, says so
    // first, over any dialog: what it shows may be stale and what it asks may go unanswered.
    if let Some(h) = app.attachment().and_then(attached) {
        return Some(h);
    }
    if app.overlay().is_some() {
        return None;
    }
    let views = || app.services.values();
    let count = |f: &dyn Fn(ServiceState) -> bool| views().filter(|v| f(v.state)).count();
    let checking = count(&|s| s == ServiceState::Checking);
    let working = count(&|s| matches!(s, ServiceState::Restoring | ServiceState::Verifying));
    let down = count(&|s| {
        matches!(
            s,
            ServiceState::Down | ServiceState::Partial | ServiceState::Failed
        )
    });
    let known = count(&|s| s != ServiceState::Unknown);
    let up = count(&ServiceState::is_up);
    let skipped = count(&|s| s == ServiceState::Skipped);

    if let Some((id, _)) = app.services.iter().find(|(_, v)| v.waiting.is_some()) {
        return Some(both(
            format!("'{id}' waits for you: select it and press Enter"),
            format!("'{id}' waits: select it, Enter"),
        ));
    }
    if known == 0 {
        return Some(one("starting the checks…"));
    }
    // Failure first: once nothing runs, the failure the run stopped on is what to read.
    if checking + working == 0
        && let Some(h) = failed(app)
    {
        return Some(h);
    }
    if !app.auto() {
        if checking > 0 && working == 0 {
            return Some(both(
                format!("checking {checking} service(s)… nothing is restored until you say so"),
                format!("checking {checking} service(s)… nothing restored until you say so"),
            ));
        }
        if down > 0 && working == 0 {
            return Some(both(
                format!(
                    "{down} not up · press a to restore in plan order (asks before confirm and manual steps) · r restores the selected one"
                ),
                format!("{down} not up · a: restore all in plan order · r: the selected one"),
            ));
        }
    }
    if let Some(h) = paused(app, checking, working) {
        return Some(h);
    }
    if checking + working > 0 {
        let mode = if app.auto() {
            "auto: restoring in plan order · a pauses"
        } else {
            "working"
        };
        return Some(one(format!(
            "{mode} · {up} up, {down} not up, {} busy",
            checking + working
        )));
    }
    if up == known {
        return Some(one("every service is up · q quits and keeps the journal"));
    }
    if up + skipped == known {
        return Some(both(
            format!(
                "done: {up} up, {skipped} skipped (reasons are in the journal) · q quits and keeps the journal"
            ),
            format!("done: {up} up, {skipped} skipped · q quits, keeps the journal"),
        ));
    }
    let stuck: Vec<String> = app
        .services
        .iter()
        .filter(|(_, v)| {
            !v.state.is_up() && !matches!(v.state, ServiceState::Unknown | ServiceState::Skipped)
        })
        .map(|(id, v)| format!("{id} {}", v.state.as_str()))
        .collect();
    let shown = if stuck.len() > 3 {
        format!("{}, +{} more", stuck[..3].join(", "), stuck.len() - 3)
    } else {
        stuck.join(", ")
    };
    Some(both(
        format!(
            "nothing more starts by itself ({shown}) · select one: r restore, c check, s skip · q finishes"
        ),
        format!("stopped: {shown} · select it: r restore, s skip"),
    ))
}

/// Services stopped between steps with nothing running: they wait on the operator, not on a
/// host, so the hint says what to press instead of "busy".
fn paused(app: &App, checking: usize, working: usize) -> Option<Hint> {
    // Auto off, a service paused before a manual step waits on the operator, not on a host.
    if let Some((id, step)) = app
        .services
        .keys()
        .find_map(|id| app.paused_manual(id).map(|s| (id, s)))
    {
        let name = step.name(app.runbook());
        return Some(both(
            format!(
                "'{id}' waits for you at manual step '{name}': select it, press d when done or f if it failed"
            ),
            format!("'{id}' waits: manual '{name}', d done, f failed"),
        ));
    }
    // Auto off and nothing running: the services in the middle of a restore wait for Enter.
    let paused: Vec<_> = app
        .services
        .keys()
        .filter_map(|id| app.paused_at(id).map(|s| (id, s)))
        .collect();
    if !app.auto() && checking == 0 && working > 0 && paused.len() == working {
        let (id, step) = &paused[0];
        let name = step.name(app.runbook());
        return Some(both(
            format!(
                "'{id}' is paused before '{name}': select it and press Enter to run it, or a to restore in plan order"
            ),
            format!("'{id}' paused before '{name}': Enter runs it"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{Mode, StepOutcome};
    use crate::tui::action::Action;
    use crate::tui::testkit;

    fn settled(skip: &str) -> App {
        let mut app = testkit::app(Mode::Incident);
        app.on_action(Action::Cancel);
        let mut views = testkit::views(app.runbook());
        for (id, v) in &mut views {
            v.waiting = None;
            v.state = if id.as_str() == skip {
                ServiceState::Skipped
            } else {
                ServiceState::Restored
            };
        }
        app.sync_services(&views);
        app
    }

    #[test]
    fn a_skipped_service_counts_as_settled_not_stuck() {
        let hint = next_step(&settled("mail")).expect("a hint");
        assert!(hint.starts_with("done: 3 up, 1 skipped"), "{hint}");
        assert!(!hint.contains("nothing more starts"), "{hint}");
    }

    #[test]
    fn a_narrow_screen_gets_the_short_form_that_fits() {
        let mut app = testkit::app(Mode::Incident);
        app.on_action(Action::Cancel);
        let mut views = testkit::views(app.runbook());
        for v in views.values_mut() {
            v.waiting = None;
            v.state = ServiceState::Down;
        }
        app.sync_services(&views);
        let wide = next_step_for(&app, 200).expect("hint").0;
        let narrow = next_step_for(&app, 80).expect("hint").0;
        assert!(wide.contains("asks before confirm"), "{wide}");
        assert!(narrow.chars().count() + 3 <= 80, "{narrow}");
        assert!(narrow.contains("a: restore all"), "{narrow}");
    }

    /// mail's restore failed on mail-1 with exit 32 after printing why; every other service
    /// settled, the operator looking at auth.
    fn stopped_on_mail() -> App {
        use crate::engine::state::Phase;
        use crate::journal::Event;
        use crate::runbook::model::{HostId, ServiceId};
        let mut app = settled("none");
        app.select_service(&ServiceId::new("auth"));
        let ts = testkit::began();
        let step = testkit::sref("mail", Phase::Restore, 0);
        let host = HostId::new("mail-1");
        app.on_journal(
            ts,
            &Event::StepStarted {
                service: ServiceId::new("mail"),
                phase: Phase::Restore,
                step: "replay queue".into(),
                host: host.clone(),
                attempt: 1,
                command: "mailq-replay".into(),
            },
        );
        app.on_output(
            &step,
            &host,
            "replaying\nmount: volume 'mailstore-07' is degraded (41%)\n\n",
        );
        app.on_journal(
            ts,
            &Event::StepFinished {
                service: ServiceId::new("mail"),
                phase: Phase::Restore,
                step: "replay queue".into(),
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
                service: ServiceId::new("mail"),
                from: ServiceState::Restoring,
                to: ServiceState::Failed,
                reason: None,
            },
        );
        let mut views = testkit::views(app.runbook());
        for (id, v) in &mut views {
            v.waiting = None;
            v.steps.clear();
            v.state = if id.as_str() == "mail" {
                ServiceState::Failed
            } else {
                ServiceState::Restored
            };
        }
        app.sync_services(&views);
        app
    }

    #[test]
    fn a_run_stopped_on_a_failure_selects_it_and_names_step_exit_code_last_line_and_keys() {
        let app = stopped_on_mail();
        assert_eq!(
            app.selected_service().map(|s| s.id.as_str()),
            Some("mail"),
            "the failed service is selected"
        );
        let hint = next_step(&app).expect("a hint");
        assert!(
            hint.contains("'mail' failed at restore 'replay queue' on mail-1, exit 32"),
            "{hint}"
        );
        assert!(
            hint.contains("r restore again") && hint.contains("s skip"),
            "{hint}"
        );
        let detail = detail(&app).expect("the last line said");
        assert_eq!(
            detail,
            "mail-1: mount: volume 'mailstore-07' is degraded (41%)"
        );
    }

    /// mail's restore on a fleet: mail-1 failed after printing why, which ran out the step's
    /// failure budget, so mail-2 never ran and mail failed.
    fn mail_over_budget() -> App {
        use crate::engine::state::Phase;
        use crate::journal::Event;
        use crate::runbook::model::{HostId, ServiceId};
        let mut app = settled("none");
        let ts = testkit::began();
        let mail = ServiceId::new("mail");
        let finished = |host: &str, outcome, exit_code, error: Option<&str>| Event::StepFinished {
            service: mail.clone(),
            phase: Phase::Restore,
            step: "replay queue".into(),
            host: HostId::new(host),
            attempt: 1,
            outcome,
            exit_code,
            duration_ms: 10,
            error: error.map(str::to_string),
        };
        app.on_output(
            &testkit::sref("mail", Phase::Restore, 0),
            &HostId::new("mail-1"),
            "replaying\nno space left on device\n",
        );
        app.on_journal(ts, &finished("mail-1", StepOutcome::Failed, Some(28), None));
        app.on_journal(
            ts,
            &finished(
                "mail-2",
                StepOutcome::NotRun,
                None,
                Some("failure budget exceeded: 1 of 2 hosts failed (max 0)"),
            ),
        );
        app.on_journal(
            ts,
            &Event::ServiceState {
                service: mail.clone(),
                from: ServiceState::Restoring,
                to: ServiceState::Failed,
                reason: None,
            },
        );
        let mut views = app.services.clone();
        for (id, v) in &mut views {
            v.steps.clear();
            if id == &mail {
                v.state = ServiceState::Failed;
            }
        }
        app.sync_services(&views);
        app
    }

    #[test]
    fn a_declined_undo_is_named_as_the_undo_not_the_restore_step_of_that_name() {
        use crate::engine::state::{Decision, Phase};
        use crate::journal::Event;
        use crate::runbook::model::ServiceId;
        let mut app = settled("none");
        let ts = testkit::began();
        let mail = ServiceId::new("mail");
        app.on_journal(
            ts,
            &Event::Approval {
                service: mail.clone(),
                step: "replay queue".into(),
                phase: Some(Phase::Undo),
                decision: Decision::Declined,
                operator: "kim".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
        );
        app.on_journal(
            ts,
            &Event::ServiceState {
                service: mail.clone(),
                from: ServiceState::Restored,
                to: ServiceState::Failed,
                reason: None,
            },
        );
        let mut views = app.services.clone();
        for (id, v) in &mut views {
            v.steps.clear();
            if id == &mail {
                v.state = ServiceState::Failed;
            }
        }
        app.sync_services(&views);
        let hint = next_step(&app).expect("a hint");
        assert!(
            hint.contains("'mail' failed: undo 'replay queue' declined by kim"),
            "{hint}"
        );
        let detail = detail(&app).expect("who declined");
        assert!(
            detail.starts_with("kim declined undo 'replay queue' at "),
            "{detail}"
        );
    }

    #[test]
    fn a_failure_budget_run_out_is_named_with_the_last_host_that_failed_and_what_it_said() {
        let app = mail_over_budget();
        assert_eq!(app.selected_service().map(|s| s.id.as_str()), Some("mail"));
        let hint = next_step(&app).expect("a hint");
        assert!(
            hint.contains(
                "'mail' failed at restore 'replay queue': failure budget exceeded: 1 of 2 hosts failed (max 0); not run on 1 host(s)"
            ),
            "{hint}"
        );
        assert_eq!(
            detail(&app).as_deref(),
            Some("mail-1: no space left on device")
        );
        assert_eq!(last_output(&app), detail(&app));
    }

    #[test]
    fn the_selection_goes_to_a_failure_once_and_then_stays_where_the_operator_puts_it() {
        let mut app = stopped_on_mail();
        app.on_action(Action::Up);
        let chosen = app.selected_service().map(|s| s.id.clone());
        let views = app.services.clone();
        app.sync_services(&views);
        assert_eq!(app.selected_service().map(|s| s.id.clone()), chosen);
    }
}
