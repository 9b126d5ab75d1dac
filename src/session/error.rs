//! Why a session could not start, as types: `cmd/` says each and maps it to an exit code.

use crate::journal::etcd::UrlError;
use crate::journal::{JournalError, RunbookMismatch};
use crate::outcome::Exit;
use crate::runbook::Diagnostics;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The runbook does not load or validate: its diagnostics, each naming file, line, column.
    #[error("{0}")]
    Runbook(Diagnostics),
    #[error(
        "secret variable(s) {names} of '{path}' have no value; pass {flags} (secrets are shown as *** everywhere)"
    )]
    UnsetSecrets {
        names: String,
        path: String,
        flags: String,
    },
    #[error("--only '{only}' is not a service of '{path}'{hint}")]
    UnknownService {
        only: String,
        path: String,
        hint: String,
    },
    #[error("--scenario '{id}' is not a scenario of '{path}'; {known}")]
    UnknownScenario {
        id: String,
        path: String,
        known: String,
    },
    /// A `--var`, `--var-env` or `--var-file` that cannot be used, and what to do.
    #[error("{0}")]
    Vars(String),
    #[error("{0}")]
    IncidentStart(String),
    /// `--operators FILE` cannot be used as allowed signers.
    #[error(
        "--operators: {0}; give an OpenSSH allowed_signers file ('alice ssh-ed25519 AAAA…' per line)"
    )]
    Operators(crate::identity::SignersError),
    /// `--sign-key KEY` cannot prove who executes the run.
    #[error(
        "--sign-key: {0}; give the private key (or its .pub, with the key in your ssh-agent) that the allowed signers list for --operator, or leave --sign-key out to run with the agent's first key"
    )]
    SignKey(crate::identity::SignError),
    /// The executing operator's key could not be proven in time (an ssh-agent or ssh-keygen
    /// that does not answer); the error says what to do.
    #[error("cannot prove who executes the run: {0}")]
    KeyProof(crate::identity::SignError),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("cannot resume from '{from}': {why}")]
    Resume { from: String, why: String },
    #[error("{0}; resuming could re-run steps under different commands")]
    RunbookChanged(RunbookMismatch),
    #[error("cannot create the journal '{path}': {source}; choose another place with --journal")]
    Create {
        path: String,
        #[source]
        source: Box<JournalError>,
    },
    /// The journal failed while recording the start (or the resume); `running` steps were
    /// told to stop.
    #[error("{}", .error.stopping())]
    NotRecorded {
        error: Box<JournalError>,
        running: usize,
    },
}

impl SessionError {
    /// SPEC's exit code: bad input, except a journal that failed once the run began (3).
    pub fn exit(&self) -> Exit {
        match self {
            SessionError::NotRecorded { .. } => Exit::Interrupted,
            _ => Exit::BadInput,
        }
    }

    pub(super) fn resume(from: &impl std::fmt::Display, why: &impl std::fmt::Display) -> Self {
        SessionError::Resume {
            from: from.to_string(),
            why: why.to_string(),
        }
    }
}

/// What a session says while it opens, for the front end to show (nothing here prints).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Note {
    #[error("{url} is held by {holder}; waiting up to {secs} s for its lease to end…")]
    WaitingForHolder {
        url: String,
        holder: String,
        secs: u64,
    },
    /// Something found while reopening a journal that does not stop the run.
    #[error("warning: {0}")]
    JournalWarning(String),
    #[error(
        "warning: cannot open the log '{path}': {why}; diagnostics are not kept (choose another with --log-file)"
    )]
    LogUnavailable { path: String, why: String },
}
