//! Transports that carry out `Effect::Run`: the operator's own machine (`local`) and SSH.
//! The pool keeps one SSH session per host and bounds hosts in flight by `concurrency`.
//! Nothing here decides whether a step passed: transports report how a command ended and the
//! engine compares exit codes and output.

pub mod ciphers;
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

/// The marker a command runs under on its host: a pid file named by the run and the seq of
/// the command's `step_started`, in `${TMPDIR:-/tmp}/bringup-$UID/` (made 0700), holding the
/// command's process group. It outlives bringup (a `kill -9` leaves the command running and
/// the file in place), so a resumed run can find what is still running there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    file: String,
}

/// The marker folder on a host, as shell text (expanded there, never holding a value).
const MARKER_DIR: &str = "\"${TMPDIR:-/tmp}/bringup-$(id -u)\"";
/// How the marker scripts answer, one line each.
pub const MARKER_ANSWER: &str = "bringup-marker=";

impl Marker {
    /// `run`: the run's id (hex, from its `run_started`); `seq`: the step's `step_started`.
    /// `None` for a run id that is not plain hex, which never reaches a shell.
    pub fn new(run: &str, seq: u64) -> Option<Marker> {
        (!run.is_empty() && run.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Marker {
            file: format!("{run}-{seq}.pid"),
        })
    }

    /// The pid file's name inside the marker folder.
    pub fn file_name(&self) -> &str {
        &self.file
    }

    /// `command` under its marker: the pid file is written first (`$$` is the group leader,
    /// the `sh -s` both transports start) and removed when the shell exits, whichever way
    /// the command ends. The command runs in a subshell, so a step ending in `exec …`
    /// replaces that subshell, not the shell holding the trap that removes the file. The
    /// caller hands the result to [`stdin_script`], so it reaches the host on standard input
    /// like the command itself; nothing goes on a command line.
    pub fn wrap(&self, command: &str) -> String {
        let file = &self.file;
        format!(
            "__bringup_dir={MARKER_DIR}\n\
             __bringup_pid=\"$__bringup_dir/{file}\"\n\
             if mkdir -m 700 \"$__bringup_dir\" 2>/dev/null || {{ [ -d \"$__bringup_dir\" ] && [ ! -h \"$__bringup_dir\" ] && [ -O \"$__bringup_dir\" ]; }}; then\n\
             chmod 700 \"$__bringup_dir\" 2>/dev/null; printf '%s\\n' \"$$\" >\"$__bringup_pid\" 2>/dev/null || __bringup_pid=\n\
             else __bringup_pid=; fi\n\
             trap '[ -z \"$__bringup_pid\" ] || rm -f \"$__bringup_pid\"' EXIT\n\
             trap 'exit 143' TERM\n\
             unset __bringup_dir\n\
             (\n{command}\n)"
        )
    }

    /// A read-only look for the marker: prints `bringup-marker=running PGID` while its
    /// process group lives, else `bringup-marker=gone` (and removes a stale file).
    pub fn probe_script(&self) -> String {
        format!(
            "{prelude}\
             if kill -0 \"-$pg\" 2>/dev/null; then echo \"{MARKER_ANSWER}running $pg\"; \
             else rm -f \"$f\"; echo '{MARKER_ANSWER}gone'; fi",
            prelude = self.prelude()
        )
    }

    /// Stop the marker's process group: SIGTERM, up to `grace_tenths` tenths of a second,
    /// then SIGKILL; prints `bringup-marker=stopped PGID` (or `alive PGID`, or `gone` when
    /// the group had already ended and nothing was sent).
    pub fn stop_script(&self, grace_tenths: u32) -> String {
        format!(
            "{prelude}\
             kill -0 \"-$pg\" 2>/dev/null || {{ rm -f \"$f\"; echo '{MARKER_ANSWER}gone'; exit 0; }}\n\
             kill -TERM \"-$pg\" 2>/dev/null; i=0; \
             while [ $i -lt {grace_tenths} ] && kill -0 \"-$pg\" 2>/dev/null; do sleep 0.1; i=$((i+1)); done; \
             kill -KILL \"-$pg\" 2>/dev/null; i=0; \
             while [ $i -lt 20 ] && kill -0 \"-$pg\" 2>/dev/null; do sleep 0.1; i=$((i+1)); done; \
             if kill -0 \"-$pg\" 2>/dev/null; then echo \"{MARKER_ANSWER}alive $pg\"; \
             else rm -f \"$f\"; echo \"{MARKER_ANSWER}stopped $pg\"; fi",
            prelude = self.prelude()
        )
    }

    /// Find the file and read a numeric group from it, or answer `gone`.
    fn prelude(&self) -> String {
        let file = &self.file;
        format!(
            "f={MARKER_DIR}/{file}\n\
             [ -f \"$f\" ] || {{ echo '{MARKER_ANSWER}gone'; exit 0; }}\n\
             pg=$(cat \"$f\" 2>/dev/null)\n\
             case \"$pg\" in ''|*[!0-9]*) rm -f \"$f\"; echo '{MARKER_ANSWER}gone'; exit 0;; esac\n"
        )
    }
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
