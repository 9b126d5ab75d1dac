//! Transports that carry out `Effect::Run`: the operator's own machine (`local`) and SSH.
//! The pool keeps one SSH session per host and bounds hosts in flight by `concurrency`.
//! Nothing here decides whether a step passed: transports report how a command ended and the
//! engine compares exit codes and output.

pub mod known_hosts;
pub mod lines;
pub mod local;
pub mod pool;
pub mod ssh;
pub mod ssh_config;
pub mod tunnel;

use std::time::{Duration, Instant};

use crate::engine::state::StepOutcome;

/// The longest a transport waits for one command: far beyond the year validation allows, and
/// near enough that no clock arithmetic (ours or the timer's) can overflow.
const LONGEST_WAIT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// When a command started at `now` with `timeout` must be stopped. Never panics: a timeout
/// beyond `LONGEST_WAIT` waits that long, and a clock too near its end to add even that stops
/// the command at once rather than crashing the run.
pub(crate) fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout.min(LONGEST_WAIT)).unwrap_or(now)
}

pub use pool::{ExecOptions, Executor};

/// What a transport writes to `sh -s` on its host: the command as one brace group with its
/// standard input from `/dev/null`. The shell parses the whole group before running any of
/// it, so nothing the command starts can read the rest of the script, and steps get no
/// standard input of their own.
pub(crate) fn stdin_script(command: &str) -> Vec<u8> {
    let mut script = Vec::with_capacity(command.len() + 16);
    script.extend_from_slice(b"{\n");
    script.extend_from_slice(command.as_bytes());
    script.extend_from_slice(b"\n} </dev/null\n");
    script
}

/// How one command on one host ended, as a transport saw it.
///
/// `outcome` is `Ok` whenever the command ran and exited, whatever its exit code (a command
/// killed by a signal reports `128 + signal`, as a shell does); `Timeout` when it was stopped
/// at its timeout; `Error` when it could not run or its end could not be observed cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    pub outcome: StepOutcome,
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// Why it could not run or did not finish (connection, authentication, host key, timeout).
    pub error: Option<String>,
    /// What kind of refusal kept the command from running, for front ends that react to it
    /// (an unknown host key opens a prompt); `None` when it ran or failed otherwise.
    pub refused: Option<Refusal>,
}

/// Why a host refused to run a command at all, as a type a front end can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownHostKey,
    ChangedHostKey,
    RevokedHostKey,
    Auth,
    Connect,
    UnknownHost,
    Other,
}

impl From<&ExecError> for Refusal {
    fn from(e: &ExecError) -> Refusal {
        match e {
            ExecError::UnknownHostKey { .. } => Refusal::UnknownHostKey,
            ExecError::ChangedHostKey { .. } => Refusal::ChangedHostKey,
            ExecError::RevokedHostKey { .. } => Refusal::RevokedHostKey,
            ExecError::Auth { .. } | ExecError::KeyNeedsPassphrase { .. } => Refusal::Auth,
            ExecError::Connect { .. } => Refusal::Connect,
            ExecError::UnknownHost { .. } => Refusal::UnknownHost,
            ExecError::Other { .. } => Refusal::Other,
        }
    }
}

impl StepResult {
    pub(crate) fn exited(code: i32, duration: Duration) -> StepResult {
        StepResult {
            outcome: StepOutcome::Ok,
            exit_code: Some(code),
            duration,
            error: None,
            refused: None,
        }
    }

    pub(crate) fn timed_out(reason: String, duration: Duration) -> StepResult {
        StepResult {
            outcome: StepOutcome::Timeout,
            exit_code: None,
            duration,
            error: Some(reason),
            refused: None,
        }
    }

    /// The host refused before the command ran: the error's words and its kind.
    pub(crate) fn refused(error: &ExecError, duration: Duration) -> StepResult {
        StepResult {
            refused: Some(Refusal::from(error)),
            ..StepResult::error(error.to_string(), duration)
        }
    }

    pub(crate) fn error(reason: String, duration: Duration) -> StepResult {
        StepResult {
            outcome: StepOutcome::Error,
            exit_code: None,
            duration,
            error: Some(reason),
            refused: None,
        }
    }
}

/// Errors that keep a command from running on a host at all.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecError {
    #[error("host '{host}': cannot connect to '{address}': {reason}")]
    Connect {
        host: String,
        address: String,
        reason: String,
    },
    #[error(
        "host '{host}': authentication failed for user '{user}' at '{address}' (tried {tried}); load the key into ssh-agent or set `identity` for the host"
    )]
    Auth {
        host: String,
        user: String,
        address: String,
        tried: String,
    },
    #[error(
        "host '{host}': authentication failed for user '{user}' at '{address}' (tried {tried}); key '{key}' needs a passphrase and bringup never asks for one: load it with `ssh-add {key}` and run with SSH_AUTH_SOCK set"
    )]
    KeyNeedsPassphrase {
        host: String,
        user: String,
        address: String,
        key: String,
        tried: String,
    },
    #[error(
        "host '{host}': unknown host key {fingerprint} at '{address}'; check it out of band, then pass --accept-new-host-keys (or accept it in the TUI)"
    )]
    UnknownHostKey {
        host: String,
        address: String,
        fingerprint: String,
    },
    #[error(
        "host '{host}': HOST KEY CHANGED at '{address}' — known {known}, offered {offered}; nothing runs there. If the change is expected, remove the old key from '{file}'"
    )]
    ChangedHostKey {
        host: String,
        address: String,
        known: String,
        offered: String,
        file: String,
    },
    #[error(
        "host '{host}': host key {fingerprint} at '{address}' is REVOKED ('{entry}' marks it @revoked); nothing runs there, and --accept-new-host-keys cannot accept it. Give the host a new key and record that one"
    )]
    RevokedHostKey {
        host: String,
        address: String,
        fingerprint: String,
        /// `file:line` of the `@revoked` entry.
        entry: String,
    },
    #[error("host '{host}' is not in the runbook's [hosts]")]
    UnknownHost { host: String },
    #[error("host '{host}': {reason}")]
    Other { host: String, reason: String },
}
