//! `bringup man | man -l -`: the page a newcomer on call reads has the TUI's keys (every
//! binding of the keymap the TUI uses), the exit status and an example session.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::support::run::bringup_cmd;
use bringup::tui::keymap::Keymap;

/// `bringup man` rendered by `man -l -` from standard input, as plain text.
fn rendered() -> String {
    let roff = bringup_cmd().arg("man").assert().success();
    let roff = roff.get_output().stdout.clone();
    let mut man = Command::new("man")
        .args(["-l", "-"])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "200")
        .env("MAN_KEEP_FORMATTING", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("man runs");
    man.stdin
        .take()
        .expect("stdin")
        .write_all(&roff)
        .expect("page written to man");
    let out = man.wait_with_output().expect("man ends");
    assert!(
        out.status.success(),
        "man -l - failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Bold and underline as overstrikes, if any, taken out.
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The text of the top-level section `heading`, up to the next one (a line in capitals at
/// the margin).
fn section(page: &str, heading: &str) -> String {
    let mut lines = page.lines().skip_while(|l| l.trim_end() != heading);
    assert!(lines.next().is_some(), "no {heading} section in\n{page}");
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn man_shows_keys_exit_status_and_examples() {
    crate::require!(Man);
    let page = rendered();
    let keys = section(&page, "KEYS");
    for b in Keymap::default().bindings() {
        assert!(
            keys.contains(b.label) && keys.contains(b.help),
            "the key '{}' ({}) is not documented:\n{keys}",
            b.label,
            b.help
        );
    }
    assert!(keys.contains("Main screen"), "{keys}");
    assert!(keys.contains("Approval dialog"), "{keys}");

    let exit = section(&page, "EXIT STATUS");
    for (code, words) in [
        ("0", "healthy or restored"),
        ("1", "failed, blocked, skipped"),
        ("2", "invalid runbook"),
        ("3", "journal is intact"),
    ] {
        let line = exit
            .lines()
            .find(|l| l.split_whitespace().next() == Some(code))
            .unwrap_or_else(|| panic!("no exit code {code}:\n{exit}"));
        assert!(line.contains(words), "{code}: {words}\n{exit}");
    }

    let examples = section(&page, "EXAMPLES");
    for command in [
        "bringup demo",
        "bringup validate",
        "bringup preflight",
        "--var-env",
        "bringup verify",
        "--format notice",
        "--format scorecard",
    ] {
        assert!(examples.contains(command), "no '{command}' in\n{examples}");
    }
}
