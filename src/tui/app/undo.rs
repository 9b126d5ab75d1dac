//! `u`: the undo of the selected service, asked first. The dialog lists, newest first, each
//! restore step whose `undo` would run and the command on each host where the step
//! succeeded (as this screen's picture shows it); `y` asks the driver, which decides and
//! journals, `Esc` runs nothing.

use super::ask::Ask;
use super::{App, Command, Input, Overlay, ServiceId};
use crate::engine::{Cascade, HostStatus, Phase, StepOutcome, StepRef};

fn ok(status: Option<&HostStatus>) -> bool {
    matches!(
        status,
        Some(HostStatus::Finished {
            outcome: StepOutcome::Ok,
            ..
        })
    )
}

impl App {
    /// The undo commands of `id` per step and host, newest step first: restore steps with an
    /// `undo` that show `ok` on a host and were not undone there since.
    pub(crate) fn undo_preview(&self, id: &ServiceId) -> Vec<(String, Vec<(String, String)>)> {
        let Some(service) = self.runbook.services.iter().find(|s| &s.id == id) else {
            return Vec::new();
        };
        let Some(view) = self.services.get(id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (index, step) in service.restores.iter().enumerate().rev() {
            let Some(undo) = &step.policy.undo else {
                continue;
            };
            let at = |phase| StepRef {
                service: id.clone(),
                phase,
                index,
            };
            let restored = view.steps.get(&at(Phase::Restore));
            let undone = view.steps.get(&at(Phase::Undo));
            let hosts: Vec<(String, String)> = step
                .hosts
                .iter()
                .filter(|h| {
                    ok(restored.and_then(|r| r.get(*h))) && !ok(undone.and_then(|u| u.get(*h)))
                })
                .map(|h| {
                    let shown = self.runbook.expand(undo, &service.id, h).shown;
                    (h.to_string(), shown)
                })
                .collect();
            if !hosts.is_empty() {
                out.push((step.name.clone(), hosts));
            }
        }
        out
    }

    /// `u`: ask before undoing, showing what would run where.
    pub(super) fn ask_undo(&mut self, id: &ServiceId) {
        let preview = self.undo_preview(id);
        if preview.is_empty() {
            self.message = Some(format!(
                "nothing to undo on '{id}': no restore step with an undo succeeded on it"
            ));
            return;
        }
        let mut lines = vec![format!(
            "This takes back what the restore of '{id}' did, newest first:"
        )];
        for (step, hosts) in &preview {
            lines.push(format!("  undo of '{step}'"));
            for (host, command) in hosts {
                lines.push(format!("    {host}: {command}"));
            }
        }
        let dependents = self.dependents(id);
        if !dependents.is_empty() {
            let names: Vec<&str> = dependents.iter().map(ServiceId::as_str).collect();
            lines.push(format!(
                "Services that depend on it stay as they are: {} (bringup undo --cascade undoes them first).",
                names.join(", ")
            ));
        }
        lines.push(format!(
            "Then '{id}' is checked; the plan does not restore it again unless you press r."
        ));
        self.overlay = Some(Overlay::Ask(Box::new(Ask {
            title: format!("Undo {id}?"),
            lines,
            yes: 'y',
            yes_label: "run the undo".into(),
            on_yes: vec![Command::input(Input::Undo {
                service: id.clone(),
                cascade: Cascade::Alone,
            })],
            defers: None,
        })));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::super::{Action, App, Command, Input, Overlay, ServiceId};
    use crate::engine::{Cascade, HostStatus, Mode, Phase, StepOutcome};
    use crate::runbook::model::{StepAction, Template};
    use crate::tui::keymap::Keymap;
    use crate::tui::testkit::{self, sref};

    fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
        let action = Keymap::default()
            .action(app.context(), KeyEvent::new(code, KeyModifiers::NONE))
            .expect("bound key");
        app.on_action(action)
    }

    /// The test runbook with an undo on auth's restore step, auth restored on auth-1.
    fn app() -> App {
        let mut rb = testkit::runbook();
        rb.services[0].restores[0].policy.undo = Some(StepAction::Run(Template::parse(
            "systemctl stop auth --site {{site}}",
        )));
        let rb = Arc::new(rb);
        let views = testkit::views(&rb);
        let mut app = App::new(rb, testkit::info(Mode::Incident));
        app.sync_services(&views);
        app.on_action(Action::Cancel);
        app.select_service(&ServiceId::new("auth"));
        app
    }

    #[test]
    fn u_asks_first_showing_the_undo_commands_per_host_and_esc_runs_nothing() {
        let mut app = app();
        assert!(app.can(Action::Undo));
        assert!(key(&mut app, KeyCode::Char('u')).is_empty(), "asks first");
        let Some(Overlay::Ask(ask)) = app.overlay() else {
            panic!("undo asks: {:?}", app.overlay());
        };
        assert!(
            ask.lines
                .iter()
                .any(|l| l.contains("auth-1: systemctl stop auth --site gasan")),
            "{:?}",
            ask.lines
        );
        assert!(
            ask.lines.iter().any(|l| l.contains("talk-messaging")),
            "names the dependents left as they are: {:?}",
            ask.lines
        );
        assert!(key(&mut app, KeyCode::Esc).is_empty(), "Esc runs nothing");
        assert_eq!(app.overlay(), None);
        key(&mut app, KeyCode::Char('u'));
        assert_eq!(
            key(&mut app, KeyCode::Char('y')),
            vec![Command::input(Input::Undo {
                service: ServiceId::new("auth"),
                cascade: Cascade::Alone,
            })]
        );
    }

    #[test]
    fn u_on_a_service_with_nothing_to_undo_says_so_and_asks_nothing() {
        let mut app = app();
        // Undone already on its only host.
        let mut views = testkit::views(app.runbook());
        if let Some(auth) = views.get_mut("auth") {
            auth.steps.insert(
                sref("auth", Phase::Undo, 0),
                [(
                    crate::runbook::model::HostId::new("auth-1"),
                    HostStatus::Finished {
                        outcome: StepOutcome::Ok,
                        exit_code: Some(0),
                        attempt: 1,
                        duration: std::time::Duration::from_millis(5),
                    },
                )]
                .into_iter()
                .collect(),
            );
        }
        app.sync_services(&views);
        assert!(!app.can(Action::Undo));
        assert!(key(&mut app, KeyCode::Char('u')).is_empty());
        assert_eq!(app.overlay(), None);
        assert!(
            app.message
                .as_deref()
                .is_some_and(|m| m.contains("nothing to undo")),
            "{:?}",
            app.message
        );
    }
}
