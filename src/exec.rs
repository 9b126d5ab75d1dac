//! Transports that carry out `Effect::Run`: the operator's own machine (`local`) and SSH.
//! The pool keeps one SSH session per host and bounds hosts in flight by `concurrency`.

pub mod local;
pub mod pool;
pub mod ssh;

use std::time::Duration;

use crate::engine::state::StepOutcome;

pub use pool::{ExecOptions, Executor};

/// How one command on one host ended, as a transport saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    pub outcome: StepOutcome,
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// Why it could not run or did not finish (connection, authentication, host key, timeout).
    pub error: Option<String>,
}

/// Errors that keep a command from running on a host at all.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("host '{host}': cannot connect to '{address}': {reason}")]
    Connect {
        host: String,
        address: String,
        reason: String,
    },
    #[error(
        "host '{host}': authentication failed for user '{user}' (tried {tried}); load the key into ssh-agent or set `identity` for the host"
    )]
    Auth {
        host: String,
        user: String,
        tried: String,
    },
    #[error(
        "host '{host}': unknown host key {fingerprint}; check it out of band, then pass --accept-new-host-keys (or accept it in the TUI)"
    )]
    UnknownHostKey { host: String, fingerprint: String },
    #[error(
        "host '{host}': HOST KEY CHANGED — known {known}, offered {offered}; nothing runs there. If the change is expected, remove the old key from known_hosts"
    )]
    ChangedHostKey {
        host: String,
        known: String,
        offered: String,
    },
    #[error("host '{host}': {reason}")]
    Other { host: String, reason: String },
}
