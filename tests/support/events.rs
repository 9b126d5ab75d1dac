//! Journal events as tests see them: read from a journal file (or etcd's lines) as one JSON
//! value per line, picked by kind; and events built by hand for tests that write journals
//! with `JournalWriter`. Reads only.

use std::path::Path;

use bringup::engine::state::ServiceState;
use bringup::journal::Event;
use bringup::runbook::model::ServiceId;
use serde_json::Value;

/// Every line of the journal at `path`, parsed; fails the test when the file cannot be read or
/// a line is not JSON.
pub fn read_journal(path: &Path) -> Vec<Value> {
    parse(
        std::fs::read_to_string(path)
            .expect("journal readable")
            .lines()
            .map(str::as_bytes),
    )
}

/// The journal at `path` as far as it is written, for one a running process still appends to:
/// complete lines only (a torn last line is left out), none while the file is not there.
pub fn read_written(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    parse(complete.lines().map(str::as_bytes))
}

/// Each line parsed as one event (a journal's lines, or the values a shared run keeps in etcd).
pub fn parse<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Vec<Value> {
    lines
        .into_iter()
        .map(|l| serde_json::from_slice(l).expect("journal line is JSON"))
        .collect()
}

/// The `kind` of an event (`""` when it has none).
pub fn kind(e: &Value) -> &str {
    e["kind"].as_str().unwrap_or("")
}

/// The events of `kind`, in journal order.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// `service_state` of `id` from `from` to `to`, with no reason.
pub fn state(id: &str, from: ServiceState, to: ServiceState) -> Event {
    Event::ServiceState {
        service: ServiceId::new(id),
        from,
        to,
        reason: None,
    }
}
