//! The App's dialogs: approval, manual step, text input (skip reason, note, filter), host
//! key, and the questions asked before anything that changes a host or fails a service
//! ([`Ask`]). Each takes its keys here; each is drawn by its file in `view/`.

use super::{
    Action, App, Command, Decision, Input, InputPurpose, ManualOutcome, Overlay, Request, StepRef,
    TextInput, Waiting, waiting_ref, waiting_step,
};

/// What a note starts with to be a root cause (the post-mortem and the notice read it).
pub const CAUSE: &str = "cause: ";

impl App {
    pub(super) fn approval_action(&mut self, step: &StepRef, action: Action) -> Vec<Command> {
        let decision = match action {
            Action::Approve => Decision::Approved,
            // Declining fails the service and blocks its dependents: asked once more.
            Action::Decline => {
                self.ask_decline(step);
                return Vec::new();
            }
            Action::Cancel => {
                self.deferred.insert(step.clone());
                self.overlay = None;
                self.message =
                    Some("approval still waiting: select the service and press Enter".into());
                return Vec::new();
            }
            Action::Quit => return self.quit(),
            _ => return Vec::new(),
        };
        self.answered.insert(step.clone());
        self.overlay = None;
        vec![Command::input(Input::Approval {
            step: step.clone(),
            decision,
        })]
    }

    pub(super) fn manual_action(&mut self, step: &StepRef, action: Action) -> Vec<Command> {
        match action {
            Action::ManualDone => self.answer_manual(step, true),
            Action::ManualFailed => {
                self.open_input(InputPurpose::FailReason(step.clone()));
                Vec::new()
            }
            Action::Cancel => {
                self.deferred.insert(step.clone());
                self.overlay = None;
                Vec::new()
            }
            Action::Quit => self.quit(),
            _ => Vec::new(),
        }
    }

    pub(super) fn answer_manual(&mut self, step: &StepRef, done: bool) -> Vec<Command> {
        self.answered.insert(step.clone());
        if matches!(self.overlay, Some(Overlay::Manual(_))) {
            self.overlay = None;
        }
        let outcome = if done {
            ManualOutcome::Done
        } else {
            ManualOutcome::Failed
        };
        // A step the service is paused before is reached first, so the engine asks it and
        // takes the answer in the same go.
        let mut out = Vec::new();
        if self.paused_manual(&step.service).as_ref() == Some(step) {
            out.push(Command::input(Input::NextStep(step.service.clone())));
        }
        out.push(Command::input(Input::Manual {
            step: step.clone(),
            outcome,
        }));
        out
    }

    pub(super) fn open_input(&mut self, purpose: InputPurpose) {
        let text = if purpose == InputPurpose::Filter {
            self.filter.clone()
        } else {
            String::new()
        };
        self.overlay = Some(Overlay::Input(TextInput {
            purpose,
            text,
            error: None,
        }));
    }

    pub(super) fn input_action(&mut self, mut input: TextInput, action: Action) -> Vec<Command> {
        match action {
            Action::Type(c) => {
                input.text.push(c);
                input.error = None;
            }
            Action::Backspace => {
                input.text.pop();
            }
            Action::Cancel => {
                if input.purpose == InputPurpose::Filter {
                    self.filter.clear();
                    self.rebuild_rows();
                }
                self.overlay = None;
                return Vec::new();
            }
            Action::Quit => return self.quit(),
            Action::Submit => return self.submit(input),
            Action::Complete => self.complete(&mut input),
            Action::Up if input.purpose == InputPurpose::Palette => {
                self.palette_pick = self.palette_pick.saturating_sub(1);
            }
            Action::Down if input.purpose == InputPurpose::Palette => {
                let n = crate::tui::palette::choices(self, &input.text).len();
                self.palette_pick = (self.palette_pick + 1).min(n.saturating_sub(1));
            }
            _ => {}
        }
        if input.purpose == InputPurpose::Palette
            && matches!(action, Action::Type(_) | Action::Backspace)
        {
            self.palette_pick = 0;
        }
        if input.purpose == InputPurpose::Filter {
            // Live: the list narrows as the operator types.
            self.filter.clone_from(&input.text);
            self.rebuild_rows();
        }
        self.overlay = Some(Overlay::Input(input));
        Vec::new()
    }

    pub(super) fn submit(&mut self, mut input: TextInput) -> Vec<Command> {
        let text = input.text.trim().to_string();
        match input.purpose.clone() {
            InputPurpose::Filter => {
                self.overlay = None;
                Vec::new()
            }
            InputPurpose::Palette => self.run_choice(&input),
            _ if text.is_empty() => {
                input.error = Some(match input.purpose {
                    InputPurpose::Skip(_) => "a reason is required to skip".into(),
                    InputPurpose::FailReason(_) => "a reason is required to mark it failed".into(),
                    _ => "the note is empty".into(),
                });
                self.overlay = Some(Overlay::Input(input));
                Vec::new()
            }
            InputPurpose::Skip(service) => {
                self.overlay = None;
                vec![Command::input(Input::Skip {
                    service,
                    reason: text,
                })]
            }
            InputPurpose::Note => {
                self.overlay = None;
                vec![Command::Request(Request::Note(self.runbook.redact(&text)))]
            }
            InputPurpose::FailReason(step) => {
                let note = format!(
                    "{}: manual step '{}' could not be done: {}",
                    step.service,
                    step.name(&self.runbook),
                    self.runbook.redact(&text)
                );
                let mut out = vec![Command::Request(Request::Note(note))];
                out.extend(self.answer_manual(&step, false));
                self.overlay = None;
                out
            }
        }
    }

    /// `Tab`: the palette's text becomes its highlighted choice; a note starts with (or no
    /// longer starts with) `cause: `, the prefix that makes it a root cause in the exports.
    fn complete(&mut self, input: &mut TextInput) {
        match input.purpose {
            InputPurpose::Palette => {
                if let Some(c) =
                    crate::tui::palette::choices(self, &input.text).get(self.palette_pick)
                {
                    input.text = format!("{} ", c.label);
                    self.palette_pick = 0;
                }
            }
            InputPurpose::Note => {
                if let Some(rest) = input.text.strip_prefix(CAUSE) {
                    input.text = rest.to_string();
                } else {
                    input.text.insert_str(0, CAUSE);
                }
            }
            _ => {}
        }
    }

    /// Enter in the palette: select the chosen service, then act as its key does, through
    /// the main view's own path.
    fn run_choice(&mut self, input: &TextInput) -> Vec<Command> {
        self.overlay = None;
        let Some(choice) = crate::tui::palette::choices(self, &input.text)
            .into_iter()
            .nth(self.palette_pick)
        else {
            self.message = Some(format!("':{}' matches no action or service", input.text));
            return Vec::new();
        };
        if let Some(id) = &choice.service {
            let index = self.runbook.services.iter().position(|s| &s.id == id);
            if index.is_some_and(|i| !self.rows.contains(&super::Row::Service(i))) {
                // Hidden by the filter: the list shows it again.
                self.filter.clear();
                self.rebuild_rows();
            }
            self.landing = super::Landing::Done;
            self.select_service(id);
        }
        match choice.action {
            Some(action) => self.main_action(action),
            None => Vec::new(),
        }
    }

    pub(super) fn host_key_action(&mut self, action: Action) -> Vec<Command> {
        let accept = match action {
            Action::AcceptHostKey => true,
            Action::RefuseHostKey => false,
            // Typing `yes` accepts too; anything else is not an answer.
            Action::Type(c) => {
                self.host_key_typed.push(c.to_ascii_lowercase());
                if !"yes".starts_with(self.host_key_typed.as_str()) {
                    self.host_key_typed.clear();
                    self.message = Some(
                        "Y (shift) or typing yes accepts the key, N refuses it, Esc: not now"
                            .into(),
                    );
                    return Vec::new();
                }
                if self.host_key_typed != "yes" {
                    return Vec::new();
                }
                true
            }
            Action::Cancel => {
                self.host_key_typed.clear();
                self.host_key_later = true;
                self.overlay = None;
                if let Some(p) = self.host_keys.front() {
                    self.message = Some(format!(
                        "host key of '{}' still waiting: nothing runs there until you answer; press Enter",
                        p.host
                    ));
                }
                return Vec::new();
            }
            Action::Quit => return self.quit(),
            _ => return Vec::new(),
        };
        self.host_key_typed.clear();
        self.overlay = None;
        let Some(p) = self.host_keys.pop_front() else {
            return Vec::new();
        };
        vec![Command::Request(if accept {
            Request::AcceptHostKey {
                host: p.host,
                fingerprint: p.fingerprint,
            }
        } else {
            self.message = Some(format!(
                "host key of '{}' refused: nothing runs there; press c on a service to try again",
                p.host
            ));
            Request::RefuseHostKey { host: p.host }
        })]
    }

    /// The executor that asked is gone (an attached screen with no executor, or the run
    /// ended): its dialogs close, and none opens until a process executes the run again
    /// (which asks again what is pending).
    pub(crate) fn close_orphaned_dialogs(&mut self) {
        let asked = match &self.overlay {
            Some(Overlay::Approval(step) | Overlay::Manual(step)) => Some(step.clone()),
            Some(Overlay::Ask(ask)) => ask.defers.clone(),
            _ => None,
        };
        if let Some(step) = asked {
            self.message = Some(format!(
                "'{}' closed: no process executes the run now; T takes it over here (the question is asked again)",
                step.name(&self.runbook)
            ));
            self.overlay = None;
        }
    }

    /// Open the next question that needs an operator, unless a dialog is already up; close an
    /// approval or manual dialog the engine no longer waits on.
    pub(super) fn surface_prompts(&mut self) {
        if self.executor_gone() || self.read_only() {
            self.close_orphaned_dialogs();
            return;
        }
        if let Some(Overlay::Approval(step) | Overlay::Manual(step)) = &self.overlay {
            let still = self
                .services
                .values()
                .filter_map(waiting_step)
                .any(|s| s == step);
            if still && !self.answered.contains(step) {
                return;
            }
            self.overlay = None;
        }
        // "Decline …?" about a step no longer asked (answered elsewhere, or stopped): a yes
        // would decline nothing, so the question goes.
        if let Some(Overlay::Ask(ask)) = &self.overlay
            && let Some(step) = &ask.defers
            && !self
                .services
                .values()
                .filter_map(waiting_step)
                .any(|s| s == step)
        {
            self.message = Some(format!(
                "'{}' is no longer waiting for approval (answered elsewhere); nothing to decline",
                step.name(&self.runbook)
            ));
            self.overlay = None;
        }
        if self.overlay.is_some() {
            return;
        }
        if !self.host_keys.is_empty() && !self.host_key_later {
            self.overlay = Some(Overlay::HostKey);
            return;
        }
        let next = self
            .services
            .values()
            .filter_map(|v| v.waiting.as_ref())
            .find(|w| {
                let s = waiting_ref(w);
                !self.deferred.contains(s) && !self.answered.contains(s)
            });
        self.overlay = next.map(|w| match w {
            Waiting::Approval { step, .. } => Overlay::Approval(step.clone()),
            Waiting::Manual { step, .. } => Overlay::Manual(step.clone()),
        });
    }
}
