//! `open --plain` and `demo --plain`: the TUI's App and driver with lines of text for a
//! screen. Each line the operator types is keys through the keymap (`y`, `a`, `q`), text for
//! an open text field (a skip reason, a note), or a palette command (`restore mail`): the same
//! paths the full-screen view takes, so nothing runs a second way. What to say comes from
//! `tui::plain`; this loop only reads and prints.

use std::io::Write as _;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::driver::{Inbox, Signals};
use crate::journal::JournalError;
use crate::tui::event_loop::{End, Front, LoopError};
use crate::tui::keymap::Context;
use crate::tui::plain::{self, Plain};

/// A line typed by the operator, read on a thread of its own (a blocked read of the
/// terminal must not hold the runtime up when the run ends).
fn read_lines() -> tokio::sync::mpsc::Receiver<Option<String>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            let got = match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
            };
            let end = got.is_none();
            if tx.blocking_send(got).is_err() || end {
                return;
            }
        }
    });
    rx
}

fn say(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

fn key(front: &mut Front, code: KeyCode) -> Result<(), JournalError> {
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    front.key(KeyEvent::new(code, modifiers))
}

/// One typed line, as the keys it stands for.
fn typed(front: &mut Front, plain: &mut Plain, line: &str) -> Result<(), JournalError> {
    let line = line.trim();
    let context = front.app.context();
    match (context, line) {
        (_, "esc") => return key(front, KeyCode::Esc),
        (Context::TextInput, text) => {
            for c in text.chars() {
                key(front, KeyCode::Char(c))?;
            }
            return key(front, KeyCode::Enter);
        }
        (_, "") => {
            say(&plain.again(&front.app));
            return Ok(());
        }
        (_, "?" | "help") => {
            say(&plain::help(front.keymap()));
            return Ok(());
        }
        (_, "status") => {
            say(&plain::status(&front.app));
            return Ok(());
        }
        (_, "enter") => return key(front, KeyCode::Enter),
        (Context::Main, text) if text.chars().count() > 1 => {
            // A command for the palette: `restore mail`, `auto`, `mail-imap`.
            key(front, KeyCode::Char(':'))?;
            for c in text.trim_start_matches(':').chars() {
                key(front, KeyCode::Char(c))?;
            }
            return key(front, KeyCode::Enter);
        }
        _ => {}
    }
    // Keys, one after the other (`y`; `yes` for a host key).
    for c in line.chars() {
        key(front, KeyCode::Char(c))?;
    }
    Ok(())
}

/// Run until the operator quits, a signal arrives, or the input ends (as a terminal that
/// hung up); the caller winds down and journals the end, as for the full screen.
pub async fn run(
    front: &mut Front,
    inbox: &mut Inbox,
    signals: &mut Signals,
) -> Result<End, LoopError> {
    let mut plain = Plain::default();
    let mut lines = read_lines();
    let mut second = tokio::time::interval(std::time::Duration::from_secs(1));
    say(&[
        "bringup: plain mode. Type a key and press Enter (a auto, y approve, q quit), or a command such as 'restore mail'; 'help' lists them, 'status' says every service.".to_string(),
    ]);
    front.tick();
    say(&plain.lines(&front.app));
    loop {
        tokio::select! {
            line = lines.recv() => match line.flatten() {
                Some(line) => typed(front, &mut plain, &line)?,
                None => return Ok(End::Signal),
            },
            batch = inbox.next() => {
                let Some(batch) = batch else { return Ok(End::Quit) };
                front.messages(batch)?;
            },
            _ = second.tick() => front.tick(),
            _ = signals.next() => return Ok(End::Signal),
        }
        say(&plain.lines(&front.app));
        if front.quitting() {
            return Ok(End::Quit);
        }
    }
}
