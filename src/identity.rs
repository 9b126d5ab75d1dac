//! Who did it (SPEC "Who did it (identity)"): requests that travel between processes are
//! signed with the operator's SSH key (namespace `bringup-request`) over bytes that name the
//! run, its `run_started` hash, a nonce and the time, and the executing process checks each
//! against an allowed-signers file before it becomes a driver request. Signing and checking
//! go through OpenSSH's `ssh-keygen -Y` ([`crate::sshsig`]), as journal seals do.
//!
//! Owns the signed message's format ([`envelope`]), the reading of `allowed_signers` for
//! observers ([`signers`]), and the verdict on one request ([`Verifier`]). It journals
//! nothing and prints nothing: the executing process journals the verdict
//! (`request_refused`, or the request's event with its [`Provenance`]).

pub mod envelope;
pub mod signers;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use envelope::{MessageError, RequestMessage, SignedRequest};
pub use signers::{Signers, SignersError};

use crate::driver::Ask;
pub use crate::journal::event::{ExecutorKey, Identity, Provenance};
use crate::journal::seal::SigningKey;
use crate::sshsig::{self, KeygenError, Scratch};

/// The SSH signature namespace of operators' requests (`ssh-keygen -n`).
pub const NAMESPACE: &str = "bringup-request";

/// How far a request's time may be from the executing process's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Older than this: refused (a request kept and sent later is not what its operator meant).
    pub max_age: Duration,
    /// Further ahead than this: refused (a clock that far off is not to be trusted either).
    pub max_ahead: Duration,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            max_age: Duration::from_secs(10 * 60),
            max_ahead: Duration::from_secs(2 * 60),
        }
    }
}

/// Why a request was refused: `request_refused`'s reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes are not a bringup request.
    Unreadable(String),
    /// No signature, and an allowed-signers file is configured.
    Unsigned,
    /// Not a valid SSH signature over these bytes.
    BadSignature(String),
    /// The key that signed is not in the allowed-signers file.
    KeyNotListed,
    /// The key is listed, for other principals than the operator the request claims.
    PrincipalDiffers { signers: Vec<String> },
    /// The operator is an observer: they may watch, never ask.
    Observer,
    /// This nonce was already used in this run.
    Replayed,
    /// Signed for another run (another name, or the same name made again).
    OtherRun { run: String },
    /// Signed longer ago than the window allows.
    TooOld { age: Duration },
    /// Dated further ahead than the window allows.
    InFuture { ahead: Duration },
    /// The check itself could not run (ssh-keygen missing, no temporary folder).
    CannotCheck(String),
}

impl Refusal {
    /// A stable word for json and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unreadable(_) => "unreadable",
            Refusal::Unsigned => "unsigned",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::KeyNotListed => "key_not_listed",
            Refusal::PrincipalDiffers { .. } => "principal_differs",
            Refusal::Observer => "observer",
            Refusal::Replayed => "replayed",
            Refusal::OtherRun { .. } => "other_run",
            Refusal::TooOld { .. } => "too_old",
            Refusal::InFuture { .. } => "in_future",
            Refusal::CannotCheck(_) => "cannot_check",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unreadable(why) => write!(f, "not a bringup request: {why}"),
            Refusal::Unsigned => f.write_str(
                "unsigned: this run checks requests against its allowed signers; sign with the ssh-agent's key or --sign-key KEY",
            ),
            Refusal::BadSignature(why) => write!(f, "the signature does not hold: {why}"),
            Refusal::KeyNotListed => {
                f.write_str("signed by a key the run's allowed signers do not list")
            }
            Refusal::PrincipalDiffers { signers } => write!(
                f,
                "the key that signed belongs to '{}', not to the operator the request names",
                signers.join("', '")
            ),
            Refusal::Observer => f.write_str("an observer may watch this run, not act on it"),
            Refusal::Replayed => f.write_str("replayed: this request was already carried out"),
            Refusal::OtherRun { run } => {
                write!(f, "signed for another run ('{run}'), not this one")
            }
            Refusal::TooOld { age } => write!(
                f,
                "signed {} ago, too long ago to be carried out now",
                humantime::format_duration(Duration::from_secs(age.as_secs()))
            ),
            Refusal::InFuture { ahead } => write!(
                f,
                "dated {} ahead of this machine's clock",
                humantime::format_duration(Duration::from_secs(ahead.as_secs()))
            ),
            Refusal::CannotCheck(why) => write!(f, "the signature could not be checked: {why}"),
        }
    }
}

/// A request refused: who it claimed to be from, the key that signed (when it carried one)
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The operator the request names; empty when it could not be read.
    pub operator: String,
    /// The SHA256 fingerprint of the key that signed, when there was a signature.
    pub key: Option<String>,
    pub reason: Refusal,
    /// The request, when it could be read.
    pub ask: Option<Ask>,
}

/// A request accepted: what to carry out, and who asked, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub operator: String,
    pub provenance: Provenance,
    pub ask: Ask,
}

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted(Accepted),
    Refused(Refused),
}

/// The executing process's check of incoming requests for one run. Keeps the nonces it
/// accepted (rebuild them from the journal on resume with [`Verifier::remember`]).
#[derive(Debug)]
pub struct Verifier {
    run: String,
    run_hash: String,
    signers: Option<Signers>,
    observers: BTreeSet<String>,
    window: Window,
    seen: HashSet<String>,
    scratch: Option<Scratch>,
}

impl Verifier {
    /// For the run `run` whose `run_started` hash is `run_hash`. With `signers`, a request
    /// must be signed by a key it lists for the operator the request names; without, requests
    /// are taken as `unverified`. `observers` (`[runbook] observers`) may never act.
    pub fn new(
        run: &str,
        run_hash: &str,
        signers: Option<Signers>,
        observers: impl IntoIterator<Item = String>,
    ) -> Verifier {
        Verifier {
            run: run.to_string(),
            run_hash: run_hash.to_string(),
            signers,
            observers: observers.into_iter().collect(),
            window: Window::default(),
            seen: HashSet::new(),
            scratch: None,
        }
    }

    #[must_use]
    pub fn with_window(mut self, window: Window) -> Verifier {
        self.window = window;
        self
    }

    /// Whether requests are checked against allowed signers.
    pub fn verifies(&self) -> bool {
        self.signers.is_some()
    }

    /// A nonce already carried out (read back from the journal on resume).
    pub fn remember(&mut self, nonce: &str) {
        self.seen.insert(nonce.to_string());
    }

    /// Whether `operator` is an observer here (the runbook's list or the signers file).
    pub fn is_observer(&self, operator: &str) -> bool {
        self.observers.contains(operator)
            || self
                .signers
                .as_ref()
                .is_some_and(|s| s.is_observer(operator))
    }

    /// Judge one request at `now`. Accepting it records its nonce: the same bytes again are
    /// refused as replayed.
    pub fn check(&mut self, request: &SignedRequest, now: DateTime<Utc>) -> Verdict {
        let message = match RequestMessage::parse(&request.message) {
            Ok(m) => m,
            Err(e) => {
                return Verdict::Refused(Refused {
                    operator: String::new(),
                    key: None,
                    reason: Refusal::Unreadable(e.to_string()),
                    ask: None,
                });
            }
        };
        let (identity, key) = match self.signature(&message, request) {
            Ok(found) => found,
            Err((reason, key)) => return refuse(&message, key, reason),
        };
        if message.run != self.run || message.run_hash != self.run_hash {
            let run = message.run.clone();
            return refuse(&message, key, Refusal::OtherRun { run });
        }
        let age = now.signed_duration_since(message.time);
        if let Ok(ahead) = (-age).to_std()
            && ahead > self.window.max_ahead
        {
            return refuse(&message, key, Refusal::InFuture { ahead });
        }
        if let Ok(age) = age.to_std()
            && age > self.window.max_age
        {
            return refuse(&message, key, Refusal::TooOld { age });
        }
        if self.is_observer(&message.operator) {
            return refuse(&message, key, Refusal::Observer);
        }
        if !self.seen.insert(message.nonce.clone()) {
            return refuse(&message, key, Refusal::Replayed);
        }
        Verdict::Accepted(Accepted {
            operator: message.operator,
            provenance: Provenance {
                identity: Some(identity),
                key,
                nonce: Some(message.nonce),
            },
            ask: message.ask,
        })
    }

    /// What the signature proves: the identity and the key's fingerprint, or why it is
    /// refused (with the key when one signed).
    fn signature(
        &mut self,
        message: &RequestMessage,
        request: &SignedRequest,
    ) -> Result<(Identity, Option<String>), (Refusal, Option<String>)> {
        let Some(signature) = &request.signature else {
            return if self.signers.is_some() {
                Err((Refusal::Unsigned, None))
            } else {
                Ok((Identity::Unverified, None))
            };
        };
        let Some(info) = sshsig::signature_info(signature) else {
            return Err((
                Refusal::BadSignature("it is not an SSH signature".to_string()),
                None,
            ));
        };
        let key = Some(info.fingerprint());
        let fail = |reason| (reason, key.clone());
        if info.namespace != NAMESPACE {
            return Err(fail(Refusal::BadSignature(format!(
                "it was made for '{}', not for '{NAMESPACE}'",
                crate::text::visible(&info.namespace)
            ))));
        }
        let cannot = |e: KeygenError| (Refusal::CannotCheck(e.to_string()), key.clone());
        if self.scratch.is_none() {
            self.scratch = Some(Scratch::new().map_err(cannot)?);
        }
        let Some(scratch) = &self.scratch else {
            return Err(fail(Refusal::CannotCheck("no temporary folder".into())));
        };
        let sig_file = scratch.file(".sig", signature.as_bytes()).map_err(cannot)?;
        let checked = self.judge(message, request, &info, &sig_file);
        let _ = std::fs::remove_file(&sig_file);
        checked
            .map(|identity| (identity, key.clone()))
            .map_err(fail)
    }

    fn judge(
        &self,
        message: &RequestMessage,
        request: &SignedRequest,
        info: &sshsig::SignatureInfo,
        sig_file: &Path,
    ) -> Result<Identity, Refusal> {
        let bytes = request.message.as_bytes();
        let cannot = |e: KeygenError| Refusal::CannotCheck(e.to_string());
        let valid = || match sshsig::check_novalidate(NAMESPACE, sig_file, bytes) {
            Ok(()) => Ok(()),
            Err(KeygenError::Refused(why)) => Err(Refusal::BadSignature(why)),
            Err(e) => Err(cannot(e)),
        };
        let Some(signers) = &self.signers else {
            valid()?;
            return Ok(Identity::Unverified);
        };
        match sshsig::verify(NAMESPACE, &signers.path, &message.operator, sig_file, bytes) {
            Ok(()) => return Ok(Identity::Verified),
            Err(KeygenError::Refused(_)) => {}
            Err(e) => return Err(cannot(e)),
        }
        // Why not: a forged or altered request, an observer's key, another's key, or none.
        valid()?;
        if signers.is_observer(&message.operator) && signers.lists(&info.key, &message.operator) {
            return Err(Refusal::Observer);
        }
        let principals =
            sshsig::find_principals(NAMESPACE, &signers.path, sig_file).map_err(cannot)?;
        if principals.is_empty() {
            let observers: Vec<String> = signers
                .lines
                .iter()
                .filter(|l| l.key == info.key)
                .flat_map(|l| l.principals.clone())
                .collect();
            if observers.is_empty() {
                return Err(Refusal::KeyNotListed);
            }
            return Err(Refusal::PrincipalDiffers { signers: observers });
        }
        Err(Refusal::PrincipalDiffers {
            signers: principals,
        })
    }
}

fn refuse(message: &RequestMessage, key: Option<String>, reason: Refusal) -> Verdict {
    Verdict::Refused(Refused {
        operator: message.operator.clone(),
        key,
        reason,
        ask: Some(message.ask.clone()),
    })
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(
        "no ssh-agent to sign the request with (SSH_AUTH_SOCK is not set); start one and ssh-add your key, or pass --sign-key KEY"
    )]
    NoAgent,
    #[error(
        "the ssh-agent holds no key to sign the request with; ssh-add yours, or pass --sign-key KEY"
    )]
    AgentEmpty,
    #[error("cannot sign with {key}: {reason}")]
    Sign { key: String, reason: String },
    /// `ssh-add` or `ssh-keygen` did not answer in [`sshsig::TIMEOUT`] (signing with the
    /// agent's key: [`sshsig::AGENT_SIGN_TIMEOUT`]) and was stopped: `what` says which, `help`
    /// what to do.
    #[error("{what}; {help}")]
    TimedOut { what: String, help: String },
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// Sign `message` with `key` (the agent's first key, or a key file).
pub fn sign(message: &RequestMessage, key: &SigningKey) -> Result<SignedRequest, SignError> {
    let text = message.text()?;
    let signature = sign_text(&text, key)?;
    Ok(SignedRequest {
        message: text,
        signature: Some(String::from_utf8_lossy(&signature).into_owned()),
    })
}

/// `ssh-keygen -Y sign` over `text` in [`NAMESPACE`] with `key`; the armoured signature.
fn sign_text(text: &str, key: &SigningKey) -> Result<Vec<u8>, SignError> {
    let described = match key {
        SigningKey::File(path) => format!("key '{}'", path.display()),
        SigningKey::Agent => "the ssh-agent's first key".to_string(),
    };
    let failed = |e: KeygenError| sign_error(e, key, &described);
    match key {
        SigningKey::File(path) => {
            sshsig::sign(NAMESPACE, path, false, text.as_bytes()).map_err(failed)
        }
        SigningKey::Agent => {
            let public = sshsig::agent_first_key().map_err(|e| match e {
                KeygenError::NoAgent => SignError::NoAgent,
                KeygenError::AgentEmpty => SignError::AgentEmpty,
                other => failed(other),
            })?;
            let scratch = Scratch::new().map_err(failed)?;
            let pub_file = scratch.file(".pub", public.as_bytes()).map_err(failed)?;
            sshsig::sign(NAMESPACE, &pub_file, true, text.as_bytes()).map_err(failed)
        }
    }
}

/// Why signing with `key` (`described` so) failed; a process that did not answer says what
/// to do instead of waiting for it.
fn sign_error(e: KeygenError, key: &SigningKey, described: &str) -> SignError {
    match e {
        // Said in full by sshsig: a confirmation to give, or an agent to check.
        KeygenError::AgentSilent { .. } => SignError::TimedOut {
            what: e.to_string(),
            help: "or pass --sign-key KEY".to_string(),
        },
        KeygenError::TimedOut { .. } => SignError::TimedOut {
            what: e.to_string(),
            help: match key {
                SigningKey::Agent => format!(
                    "check that the ssh-agent at SSH_AUTH_SOCK ('{}') answers (ssh-add -l), or pass --sign-key KEY",
                    std::env::var_os("SSH_AUTH_SOCK")
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
                SigningKey::File(path) => format!(
                    "a key that asks for a passphrase cannot be used with --sign-key: ssh-add '{}' and leave --sign-key out",
                    path.display()
                ),
            },
        },
        other => SignError::Sign {
            key: described.to_string(),
            reason: other.to_string(),
        },
    }
}

/// Prove that this process holds a key the allowed signers `signers` list for `operator`:
/// sign a fresh statement (the operator, the runbook's sha256, the time and a nonce) with
/// `key` and check it as a request would be checked.
pub fn prove_executor(
    operator: &str,
    runbook_sha256: &str,
    key: &SigningKey,
    signers: &Path,
) -> Result<ExecutorKey, SignError> {
    let text = format!(
        "bringup-executor-v1\noperator: {}\nrunbook: {runbook_sha256}\ntime: {}\nnonce: {}\n",
        crate::text::visible(operator),
        Utc::now().to_rfc3339(),
        envelope::nonce()
    );
    let signature = sign_text(&text, key)?;
    let armoured = String::from_utf8_lossy(&signature).into_owned();
    let fingerprint = sshsig::signature_info(&armoured)
        .map(|info| info.fingerprint())
        .ok_or_else(|| SignError::Sign {
            key: "the signing key".into(),
            reason: "ssh-keygen made a signature bringup cannot read".into(),
        })?;
    let failed = |e: KeygenError| match e {
        KeygenError::TimedOut { .. } => SignError::TimedOut {
            what: e.to_string(),
            help: "check that ssh-keygen runs on this machine (ssh-keygen -Y verify by hand)"
                .to_string(),
        },
        other => SignError::Sign {
            key: fingerprint.clone(),
            reason: other.to_string(),
        },
    };
    let scratch = Scratch::new().map_err(failed)?;
    let sig_file = scratch.file(".sig", &signature).map_err(failed)?;
    let identity = match sshsig::verify(NAMESPACE, signers, operator, &sig_file, text.as_bytes()) {
        Ok(()) => Identity::Verified,
        Err(KeygenError::Refused(why)) => {
            tracing::warn!(
                "the executing operator's key {fingerprint} is not listed for '{}' in '{}': {why}",
                crate::text::visible(operator),
                signers.display()
            );
            Identity::Unverified
        }
        Err(e) => return Err(failed(e)),
    };
    Ok(ExecutorKey {
        key: fingerprint,
        identity,
    })
}

/// A request unsigned (no key at hand): accepted only by a run without allowed signers.
pub fn unsigned(message: &RequestMessage) -> Result<SignedRequest, MessageError> {
    Ok(SignedRequest {
        message: message.text()?,
        signature: None,
    })
}
