//! `--plain`: the same App told as lines of text, for a screen reader or a log — no box
//! drawing, no colour, one event per line, every state a word. This file only decides what
//! to say (new timeline events, the next-step hint when it changes, a question when one
//! opens); `cmd/plain.rs` prints it and reads the operator's lines. No IO here.

use std::fmt::Write as _;

use crate::engine::state::Waiting;
use crate::export::describe::Tone;
use crate::tui::app::{App, InputPurpose, Overlay};
use crate::tui::keymap::{Context, Keymap};

/// What was said last, so only what changed is said again.
#[derive(Debug, Default)]
pub struct Plain {
    /// Timeline events told so far (counting those the bounded timeline let go).
    told: u64,
    hint: Option<(String, Option<String>)>,
    question: Option<Vec<String>>,
    message: Option<String>,
}

/// Words for a screen reader in place of signs: `→` reads as "to".
fn words(text: &str) -> String {
    crate::text::visible(text)
        .replace(" → ", " to ")
        .replace('→', " to ")
        .replace("✗ ", "")
        .replace('…', "...")
}

impl Plain {
    /// The lines to print now: events journaled since the last call, then the question that
    /// opened, the refusal or message shown, and the next-step hint when it changed.
    pub fn lines(&mut self, app: &App) -> Vec<String> {
        let mut out = Vec::new();
        let total = app.timeline.dropped() + app.timeline.len() as u64;
        let dropped = app.timeline.dropped();
        let from = self.told.max(dropped);
        let start = usize::try_from(from - dropped).unwrap_or(usize::MAX);
        for l in app.timeline.lines(start, usize::MAX) {
            let tone = match l.tone {
                Tone::Bad => "problem: ",
                Tone::Warn => "warning: ",
                _ => "",
            };
            out.push(words(&format!("{} {}: {tone}{}", l.time, l.who, l.what)));
        }
        self.told = total;
        let question = question(app);
        if question != self.question {
            if let Some(q) = &question {
                out.extend(q.iter().cloned());
            }
            self.question = question;
        }
        if app.message != self.message {
            if let Some(m) = &app.message {
                out.push(words(&format!("message: {m}")));
            }
            self.message.clone_from(&app.message);
        }
        let hint =
            crate::tui::hint::next_step(app).map(|h| (h, crate::tui::hint::last_output(app)));
        // Progress counts ("checking 6 service(s)…") change with every event: the events
        // say it already; only a hint that asks something of the operator is said.
        let progress = |h: &(String, Option<String>)| {
            [
                "checking ",
                "working ·",
                "auto: restoring",
                "starting the checks",
            ]
            .iter()
            .any(|p| h.0.starts_with(p))
        };
        if hint != self.hint {
            if let Some((text, detail)) = hint.as_ref().filter(|h| !progress(h)) {
                out.push(words(&format!("next: {text}")));
                if let Some(d) = detail {
                    out.push(words(&format!("last output: {d}")));
                }
            }
            self.hint = hint;
        }
        out
    }

    /// Say the question and the hint again (an empty line typed).
    pub fn again(&mut self, app: &App) -> Vec<String> {
        self.question = None;
        self.hint = None;
        self.lines(app)
    }
}

/// Every service as a line: tier, id, state word, what it waits for, why.
pub fn status(app: &App) -> Vec<String> {
    let mut out = Vec::new();
    for s in &app.runbook().services {
        let Some(v) = app.view_of(&s.id) else {
            continue;
        };
        let mut line = format!("tier {} {}: {}", s.tier, s.id, v.state.as_str());
        match &v.waiting {
            Some(Waiting::Approval { .. }) => line.push_str(", waits for approval"),
            Some(Waiting::Manual { .. }) => line.push_str(", waits for a manual step"),
            None => {}
        }
        if let Some(t) = app.outage_time(&s.id).filter(|_| !v.state.is_up()) {
            let _ = write!(line, ", down {}", crate::tui::view::fmt_dur(t));
        }
        if let Some(r) = &v.reason {
            let _ = write!(line, " ({r})");
        }
        out.push(words(&line));
    }
    out
}

/// The keys of the main view and the palette's words, one per line.
pub fn help(keymap: &Keymap) -> Vec<String> {
    let mut out = vec![
        "keys: type one and press Enter; or type a command such as 'restore mail' (letters of an action, then of a service)".to_string(),
    ];
    for b in keymap.for_context(Context::Main) {
        out.push(format!("key {}: {}", b.label, b.help));
    }
    for c in crate::tui::palette::COMMANDS {
        out.push(format!("command {}: {}", c.word, c.help));
    }
    out.push(
        "also: status (every service), help, esc (not now), an empty line (the question again)"
            .into(),
    );
    out
}

/// The open dialog as lines: what is asked, then how to answer.
fn question(app: &App) -> Option<Vec<String>> {
    let overlay = app.overlay()?;
    let lines = match overlay {
        Overlay::Approval(step) => {
            let Some(Waiting::Approval {
                hosts,
                commands,
                reason,
                ..
            }) = app.view_of(&step.service).and_then(|v| v.waiting.as_ref())
            else {
                return None;
            };
            let mut l = vec![format!(
                "question: approve {} {} '{}' of {} on {}?",
                step.phase,
                step.index + 1,
                step.name(app.runbook()),
                step.service,
                hosts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )];
            if let Some(r) = reason {
                l.push(format!("asked because {r}"));
            }
            for (host, command) in commands {
                l.push(format!("command on {host}: {command}"));
            }
            l.push("answer: y approves, n declines (asks once more), esc: not now".into());
            l
        }
        Overlay::Manual(step) => {
            let Some(Waiting::Manual { instruction, .. }) =
                app.view_of(&step.service).and_then(|v| v.waiting.as_ref())
            else {
                return None;
            };
            vec![
                format!(
                    "question: manual step '{}' of {}: {instruction}",
                    step.name(app.runbook()),
                    step.service
                ),
                "answer: d done, f failed (asks why), esc: not now".into(),
            ]
        }
        Overlay::Input(input) => {
            let what = match &input.purpose {
                InputPurpose::Skip(id) => {
                    format!("why skip {id}? The reason goes into the journal")
                }
                InputPurpose::FailReason(step) => format!(
                    "why could '{}' not be done? This fails {}",
                    step.name(app.runbook()),
                    step.service
                ),
                InputPurpose::Note => {
                    "a note for the timeline; start it with 'cause:' for a root cause".into()
                }
                InputPurpose::Filter | InputPurpose::Palette => return None,
            };
            let mut l = vec![format!("question: {what}")];
            if let Some(e) = &input.error {
                l.push(format!("problem: {e}"));
            }
            l.push("answer: type it and press Enter; esc cancels".into());
            l
        }
        Overlay::QuitConfirm => vec![
            "question: quit while steps run? Quitting stops them; the journal stays intact".into(),
            "answer: y quits, n stays".into(),
        ],
        Overlay::HostKey => {
            let p = app.host_keys.front()?;
            vec![
                format!(
                    "question: host {} ({}) offered a {} key that is not in known_hosts: {}",
                    p.host, p.address, p.key_type, p.fingerprint
                ),
                "answer: capital Y or yes accepts and remembers it, capital N refuses, esc: not now".into(),
            ]
        }
        Overlay::Ask(ask) => {
            let mut l = vec![format!("question: {}", ask.title)];
            l.extend(ask.lines.iter().map(|x| x.trim().to_string()));
            l.push(format!(
                "answer: {} {}, esc: not now",
                ask.yes, ask.yes_label
            ));
            l
        }
        Overlay::Help => return None,
    };
    Some(lines.iter().map(|l| words(l)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::Mode;
    use crate::tui::testkit;

    #[test]
    fn an_open_approval_is_said_once_with_its_commands_and_answers_in_words() {
        let app = testkit::app(Mode::Incident);
        let mut plain = Plain::default();
        let lines = plain.lines(&app);
        assert!(
            lines.iter().any(|l| l
                == "question: approve restore 1 'start gateway' of talk-messaging on msg-gw-1, msg-gw-2?"),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.starts_with("answer: y approves")));
        for l in &lines {
            assert!(
                !l.contains('│') && !l.contains('─') && !l.contains('\u{1b}'),
                "{l}"
            );
        }
        assert!(plain.lines(&app).is_empty(), "nothing new, nothing said");
    }

    #[test]
    fn status_says_every_state_as_a_word() {
        let app = testkit::app(Mode::Incident);
        let lines = status(&app);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("tier 1 auth: restored"), "{lines:#?}");
        assert!(
            lines[1].contains("partial, waits for approval"),
            "{lines:#?}"
        );
        assert!(lines[3].starts_with("tier 3 mail: down"), "{lines:#?}");
    }
}
