//! The footer's next-step hint: one sentence telling the operator what to press now, derived
//! from the App's state alone. Reads state; decides nothing and changes nothing.

use crate::engine::state::ServiceState;
use crate::tui::app::App;

/// What the operator should do next, or `None` while a dialog speaks for itself.
pub fn next_step(app: &App) -> Option<String> {
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

    if let Some((id, _)) = app.services.iter().find(|(_, v)| v.waiting.is_some()) {
        return Some(format!("'{id}' waits for you: select it and press Enter"));
    }
    if known == 0 {
        return Some("starting the checks…".into());
    }
    if !app.auto() {
        if checking > 0 && working == 0 {
            return Some(format!(
                "checking {checking} service(s)… nothing is restored until you say so"
            ));
        }
        if down > 0 && working == 0 {
            return Some(format!(
                "{down} not up · press a to restore in plan order (asks before confirm and manual steps) · r restores the selected one"
            ));
        }
    }
    if checking + working > 0 {
        let mode = if app.auto() {
            "auto: restoring in plan order · a pauses"
        } else {
            "working"
        };
        return Some(format!(
            "{mode} · {up} up, {down} not up, {} busy",
            checking + working
        ));
    }
    if up == known {
        return Some("every service is up · q quits and keeps the journal".into());
    }
    let stuck: Vec<String> = app
        .services
        .iter()
        .filter(|(_, v)| !v.state.is_up() && v.state != ServiceState::Unknown)
        .map(|(id, v)| format!("{id} {}", v.state.as_str()))
        .collect();
    let shown = if stuck.len() > 3 {
        format!("{}, +{} more", stuck[..3].join(", "), stuck.len() - 3)
    } else {
        stuck.join(", ")
    };
    Some(format!(
        "nothing more starts by itself ({shown}) · select one: r restore, c check, s skip · q finishes"
    ))
}
