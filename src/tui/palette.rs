//! The `:` command palette (k9s-style): a few letters of an action and, after a space, of a
//! service (`:restore mail`), or of a service alone to go to it. It only names [`Action`]s
//! and services: choosing one selects the service and hands the action to the same path a
//! key takes, so there is no second way to run anything. Pure: no IO, nothing drawn here.

use crate::engine::state::ServiceState;
use crate::runbook::model::ServiceId;
use crate::tui::action::Action;
use crate::tui::app::App;

/// One command word of the palette: what it does and whether it acts on a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub word: &'static str,
    pub action: Action,
    pub on_service: bool,
    pub help: &'static str,
}

const fn cmd(word: &'static str, action: Action, on_service: bool, help: &'static str) -> Command {
    Command {
        word,
        action,
        on_service,
        help,
    }
}

/// Every command word, in the order they are offered when nothing is typed.
pub const COMMANDS: &[Command] = &[
    cmd("restore", Action::Restore, true, "restore a service"),
    cmd("check", Action::Check, true, "check a service"),
    cmd("next", Action::RunNext, true, "run its next step"),
    cmd("skip", Action::Skip, true, "skip (asks why)"),
    cmd("done", Action::ManualDone, true, "manual step done"),
    cmd("failed", Action::ManualFailed, true, "manual step failed"),
    cmd("inject", Action::Inject, true, "inject (drills)"),
    cmd("auto", Action::ToggleAuto, false, "auto mode on/off"),
    cmd("note", Action::Note, false, "note (cause: …)"),
    cmd("filter", Action::Filter, false, "filter services"),
    cmd("timeline", Action::Timeline, false, "output/timeline"),
    cmd("wrap", Action::Wrap, false, "wrap timeline"),
    cmd("follow", Action::Follow, false, "follow on/off"),
    cmd("takeover", Action::TakeOver, false, "take over run"),
    cmd("help", Action::Help, false, "every key"),
    cmd("quit", Action::Quit, false, "quit (may ask)"),
];

/// What Enter on a line of the palette does: select `service` (if any), then `action` (if
/// any) as its key would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub action: Option<Action>,
    pub service: Option<ServiceId>,
    /// As the palette shows it, and what Tab completes the text to: `restore mail-imap`.
    pub label: String,
    pub help: &'static str,
}

/// How well `typed` matches `name`: a prefix beats a substring beats letters in order.
/// `None` when it does not match at all; empty text matches everything.
pub fn score(typed: &str, name: &str) -> Option<u8> {
    let typed = typed.to_lowercase();
    let name = name.to_lowercase();
    if typed.is_empty() {
        return Some(1);
    }
    if name.starts_with(&typed) {
        return Some(4);
    }
    if name.contains(&typed) {
        return Some(3);
    }
    let mut rest = name.chars();
    typed
        .chars()
        .all(|c| rest.by_ref().any(|n| n == c))
        .then_some(2)
}

/// Services that want the operator first when names tie: asking, failed, then not up.
fn urgency(app: &App, id: &ServiceId) -> u8 {
    let Some(view) = app.view_of(id) else {
        return 0;
    };
    if view.waiting.is_some() {
        3
    } else if view.state == ServiceState::Failed {
        2
    } else {
        u8::from(!(view.state.is_up() || view.state == ServiceState::Skipped))
    }
}

/// Services matching `typed` by id or name, best first.
fn services<'a>(app: &'a App, typed: &str) -> Vec<(u8, u8, &'a ServiceId)> {
    let mut out: Vec<_> = app
        .runbook()
        .services
        .iter()
        .filter_map(|s| {
            let by_id = score(typed, s.id.as_str());
            let by_name = score(typed, &s.name).map(|n| n.saturating_sub(1));
            let best = by_id.max(by_name)?;
            Some((best, urgency(app, &s.id), &s.id))
        })
        .collect();
    out.sort_by_key(|b| std::cmp::Reverse((b.0, b.1)));
    out
}

/// The palette's lines for `text`, best first.
pub fn choices(app: &App, text: &str) -> Vec<Choice> {
    let text = text.trim_start();
    let (verb, rest) = match text.split_once(' ') {
        Some((v, r)) => (v, Some(r.trim())),
        None => (text, None),
    };
    let mut scored: Vec<(u8, Choice)> = Vec::new();
    let selected = app.selected_service().map(|s| s.id.clone());
    for c in COMMANDS {
        let Some(v) = score(verb, c.word) else {
            continue;
        };
        match (c.on_service, rest) {
            (true, Some(rest)) => {
                for (s, _, id) in services(app, rest) {
                    scored.push((
                        v + s,
                        Choice {
                            action: Some(c.action),
                            service: Some(id.clone()),
                            label: format!("{} {id}", c.word),
                            help: c.help,
                        },
                    ));
                }
            }
            (true, None) => {
                if let Some(id) = &selected {
                    scored.push((
                        v * 2,
                        Choice {
                            action: Some(c.action),
                            service: Some(id.clone()),
                            label: format!("{} {id}", c.word),
                            help: c.help,
                        },
                    ));
                }
            }
            (false, None) => scored.push((
                v * 2,
                Choice {
                    action: Some(c.action),
                    service: None,
                    label: c.word.to_string(),
                    help: c.help,
                },
            )),
            (false, Some(_)) => {}
        }
    }
    // A service's name alone goes to it.
    if rest.is_none() && !verb.is_empty() {
        for (s, _, id) in services(app, verb) {
            scored.push((
                s * 2 - 1,
                Choice {
                    action: None,
                    service: Some(id.clone()),
                    label: id.to_string(),
                    help: "go to this service",
                },
            ));
        }
    }
    // Stable: ties keep the commands' order, and services their urgency.
    scored.sort_by_key(|b| std::cmp::Reverse(b.0));
    scored.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::Mode;
    use crate::tui::testkit;

    #[test]
    fn letters_in_order_match_and_a_prefix_ranks_first() {
        assert_eq!(score("rst", "restore"), Some(2));
        assert_eq!(score("res", "restore"), Some(4));
        assert_eq!(score("tor", "restore"), Some(3));
        assert_eq!(score("xz", "restore"), None);
    }

    #[test]
    fn restore_and_a_few_letters_of_a_service_offer_that_restore_first() {
        let mut app = testkit::app(Mode::Incident);
        app.on_action(Action::Cancel);
        let first = choices(&app, "rest mai")
            .into_iter()
            .next()
            .expect("a choice");
        assert_eq!(first.label, "restore mail");
        assert_eq!(first.action, Some(Action::Restore));
        let fuzzy = choices(&app, "rsto talk")
            .into_iter()
            .next()
            .expect("a choice");
        assert_eq!(fuzzy.label, "restore talk-messaging");
    }

    #[test]
    fn a_service_alone_goes_to_it_and_a_word_alone_runs_on_the_selection() {
        let mut app = testkit::app(Mode::Incident);
        app.on_action(Action::Cancel);
        let go = choices(&app, "media").into_iter().next().expect("a choice");
        assert_eq!(go.action, None);
        assert_eq!(go.service, Some(ServiceId::new("media")));
        let auto = choices(&app, "aut").into_iter().next().expect("a choice");
        assert_eq!(auto.action, Some(Action::ToggleAuto));
    }
}
