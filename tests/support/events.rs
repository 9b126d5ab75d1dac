//! Journal events built by hand for tests that write journals with `JournalWriter`.

use bringup::engine::state::ServiceState;
use bringup::journal::Event;
use bringup::runbook::model::ServiceId;

/// `service_state` of `id` from `from` to `to`, with no reason.
pub fn state(id: &str, from: ServiceState, to: ServiceState) -> Event {
    Event::ServiceState {
        service: ServiceId::new(id),
        from,
        to,
        reason: None,
    }
}
