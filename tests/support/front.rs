//! Driving a TUI `Front` without a terminal, shared by the event loop's unit tests and the
//! integration tests: keys in, the driver's messages pumped until a condition holds. Include
//! it with `#[path = ".../tests/support/front.rs"] mod front_support;` from a module that has
//! `Front` and `Inbox` in scope (the crate paths differ inside and outside the crate).

use std::time::Duration;

use super::{Front, Inbox};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One key press of the character `c`.
pub fn press(front: &mut Front, c: char) {
    front
        .key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
        .expect("journal writable");
}

/// Feed the driver's messages, in the batches every front end receives, until `done` holds;
/// false once `limit` has passed.
pub async fn pump_within(
    front: &mut Front,
    rx: &mut Inbox,
    limit: Duration,
    done: impl Fn(&Front) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !done(front) {
        match tokio::time::timeout_at(deadline, rx.next()).await {
            Ok(Some(batch)) => front.messages(batch).expect("journal writable"),
            Ok(None) | Err(_) => return false,
        }
    }
    true
}
