//! Driving a TUI `Front` without a terminal, shared by the event loop's unit tests and the
//! integration tests: keys in, the driver's messages pumped until a condition holds. Include
//! it with `#[path = ".../tests/support/front.rs"] mod front_support;` from a module that has
//! `Front` and `Message` in scope (the crate paths differ inside and outside the crate).

use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

use super::{Front, Message};

/// One key press of the character `c`.
pub fn press(front: &mut Front, c: char) {
    front
        .key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
        .expect("journal writable");
}

/// Feed the driver's messages until `done` holds; false once `limit` has passed.
pub async fn pump_within(
    front: &mut Front,
    rx: &mut mpsc::Receiver<Message>,
    limit: Duration,
    done: impl Fn(&Front) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !done(front) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                front.message(m).expect("journal writable");
                front.sync();
            }
            Ok(None) | Err(_) => return false,
        }
    }
    true
}
