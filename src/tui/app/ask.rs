//! The question asked before anything that changes a host without being asked for by name,
//! or that fails a service: an inject, `r` on a service that is up, declining a `confirm`
//! step. Its state, its keys and what each answer does; drawn by `view/ask.rs`.
//!
//! Answers are not main-screen keys: the key that says yes is named in the dialog (`y`, or
//! `N` where yes means failing a service), `n`/`N` say no, `Esc` always means "not now".

use super::{Action, App, Command, Decision, Input, Overlay, ServiceId, ServiceState, StepRef};

/// One question and what a yes does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub title: String,
    /// What will happen, one line each (commands per host, dependents blocked).
    pub lines: Vec<String>,
    /// The key that says yes.
    pub yes: char,
    /// What yes does, in words for the key line ("run the inject").
    pub yes_label: String,
    pub on_yes: Vec<Command>,
    /// An approval set aside by "not now": it waits, and `Enter` brings it back.
    pub defers: Option<StepRef>,
}

impl App {
    /// `i`: the inject steps of the selected service, with their commands per host.
    pub(super) fn ask_inject(&mut self, id: &ServiceId) {
        let Some(service) = self.runbook.services.iter().find(|s| &s.id == id) else {
            return;
        };
        if service.injects.is_empty() {
            self.message = Some(format!("'{id}' has no inject steps"));
            return;
        }
        let mut lines = vec![format!(
            "This breaks '{id}' on purpose (drill). It runs, in order:"
        )];
        for step in &service.injects {
            lines.push(format!("  '{}'", step.name));
            for host in &step.hosts {
                let shown = self.runbook.expand(&step.action, &service.id, host).shown;
                lines.push(format!("    {host}: {shown}"));
            }
        }
        self.overlay = Some(Overlay::Ask(Box::new(Ask {
            title: format!("Inject into {id}?"),
            lines,
            yes: 'y',
            yes_label: "run the inject".into(),
            on_yes: vec![Command::input(Input::Inject(id.clone()))],
            defers: None,
        })));
    }

    /// `r` on a service that is up: say why nothing would be restored, offer a fresh check.
    pub(super) fn ask_restore_up(&mut self, id: &ServiceId, state: ServiceState) {
        self.overlay = Some(Overlay::Ask(Box::new(Ask {
            title: format!("{id} is {state}"),
            lines: vec![
                format!("'{id}' is {state}: its last checks passed, and a restore never runs"),
                "on a service whose checks pass.".into(),
                "Check it again now? Checks change nothing; if they fail, press r again.".into(),
            ],
            yes: 'y',
            yes_label: "check it again".into(),
            on_yes: vec![Command::input(Input::Check(id.clone()))],
            defers: None,
        })));
    }

    /// `n` in an approval: declining fails the service and blocks its dependents; say so and
    /// ask once more.
    pub(super) fn ask_decline(&mut self, step: &StepRef) {
        let dependents = self.dependents(&step.service);
        let blocks = match dependents.len() {
            0 => "no other service depends on it".to_string(),
            n => format!(
                "blocks {n} dependent{}: {}",
                if n == 1 { "" } else { "s" },
                dependents
                    .iter()
                    .map(ServiceId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let name = step.name(&self.runbook);
        self.overlay = Some(Overlay::Ask(Box::new(Ask {
            title: format!("Decline '{name}'?"),
            lines: vec![
                format!("Declining fails '{}' and {blocks}.", step.service),
                "The decision is journaled with your name.".into(),
            ],
            yes: 'N',
            yes_label: "decline".into(),
            on_yes: vec![Command::input(Input::Approval {
                step: step.clone(),
                decision: Decision::Declined,
            })],
            defers: Some(step.clone()),
        })));
    }

    /// Services that depend on `id`, directly or through others, in runbook order.
    pub(crate) fn dependents(&self, id: &ServiceId) -> Vec<ServiceId> {
        let mut found: Vec<ServiceId> = Vec::new();
        let mut frontier = vec![id.clone()];
        while let Some(next) = frontier.pop() {
            for s in &self.runbook.services {
                if s.depends_on.contains(&next) && !found.contains(&s.id) && &s.id != id {
                    found.push(s.id.clone());
                    frontier.push(s.id.clone());
                }
            }
        }
        let order = |sid: &ServiceId| self.runbook.services.iter().position(|s| &s.id == sid);
        found.sort_by_key(order);
        found
    }

    pub(super) fn ask_action(&mut self, ask: Ask, action: Action) -> Vec<Command> {
        let answer = match action {
            Action::Type(c) if c == ask.yes => Some(true),
            Action::Type('n' | 'N') | Action::Cancel => Some(false),
            Action::Quit => return self.quit(),
            _ => None,
        };
        match answer {
            Some(true) => {
                self.overlay = None;
                if let Some(step) = &ask.defers {
                    self.answered.insert(step.clone());
                }
                ask.on_yes
            }
            Some(false) => {
                self.overlay = None;
                self.message = Some(match &ask.defers {
                    Some(step) => {
                        self.deferred.insert(step.clone());
                        "not declined: the approval still waits; select the service and press Enter"
                            .into()
                    }
                    None => "not now: nothing was run".into(),
                });
                Vec::new()
            }
            None => {
                self.message = Some(format!(
                    "press {} to {}, or Esc for not now",
                    ask.yes, ask.yes_label
                ));
                self.overlay = Some(Overlay::Ask(Box::new(ask)));
                Vec::new()
            }
        }
    }
}
