//! The executor: picks the transport for a host, keeps one SSH session per host (opened
//! lazily, reused for every step there), and bounds commands in flight by `concurrency`.
//!
//! Sessions are blocking ssh2 objects; each lives behind a per-host mutex and is used only
//! from `spawn_blocking`, so two steps on one host are serialized (one channel at a time on
//! one session) while steps on different hosts run in parallel. It judges nothing: results
//! go back to the engine as they are.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ssh2_config::SshConfig;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use super::known_hosts::{self, OfferedKey};
use super::ssh::{self, Connection, Ran, Settings};
use super::{ExecError, StepResult, local, ssh_config};
use crate::journal::mask::Masker;
use crate::runbook::model::{HostId, Runbook, Transport};

/// How the executor connects. `Default` reads the user's own files.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Record unknown host keys in `known_hosts` instead of refusing them (never changed ones).
    pub accept_new_host_keys: bool,
    /// bringup's own known_hosts (accepted keys are written here); default
    /// `$XDG_DATA_HOME/bringup/known_hosts` or `~/.local/share/bringup/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// The user's known_hosts, read but never written; default `~/.ssh/known_hosts`.
    pub user_known_hosts: Option<PathBuf>,
    /// `~/.ssh/config` unless set.
    pub ssh_config: Option<PathBuf>,
    /// TCP connect, handshake and authentication together, per hop (a jump host's own
    /// connection gets as long again).
    pub connect_timeout: Duration,
    /// SSH keepalive interval while a command runs; a live host answers each one.
    pub keepalive: Duration,
    /// Intervals of silence (no answer to keepalives) after which the connection counts as
    /// lost and the running step ends `error`, "connection lost; outcome unknown".
    pub keepalive_max: u32,
    /// Try the ssh-agent (when `SSH_AUTH_SOCK` is set) before key files.
    pub use_agent: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            accept_new_host_keys: false,
            known_hosts: None,
            user_known_hosts: None,
            ssh_config: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(5),
            keepalive_max: 3,
            use_agent: true,
        }
    }
}

/// Runs commands on the runbook's hosts. Cheap to clone and share across tasks.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    runbook: Runbook,
    /// The runbook's secret values, masked in output before it is cut into lines.
    masker: Masker,
    settings: Settings,
    /// Parsed once; an unreadable file is reported on each SSH host that needs it.
    config: Result<SshConfig, String>,
    permits: Arc<Semaphore>,
    slots: Mutex<HashMap<HostId, Arc<Mutex<Option<Connection>>>>>,
    /// Unknown keys seen per host (the host that offered the key, a jump host included),
    /// waiting for an operator to accept exactly that key.
    pending: Mutex<HashMap<HostId, OfferedKey>>,
    /// Hosts whose connection stopped at an unknown key of a jump host on the way: host →
    /// that jump host (its runbook id, or the ProxyJump spec naming it).
    stopped_at: Mutex<HashMap<HostId, HostId>>,
    /// Keys recorded under `--accept-new-host-keys`, waiting to be journaled.
    accepted: Mutex<Vec<(HostId, String)>>,
}

impl Executor {
    pub fn new(runbook: &Runbook, options: ExecOptions) -> Executor {
        let bringup_known_hosts = options
            .known_hosts
            .or_else(known_hosts::default_bringup_file);
        let known_files = options
            .user_known_hosts
            .or_else(known_hosts::default_user_file)
            .into_iter()
            .chain(bringup_known_hosts.clone())
            .collect();
        Executor {
            inner: Arc::new(Inner {
                runbook: runbook.clone(),
                masker: Masker::new(&runbook.secret_values()),
                settings: Settings {
                    connect_timeout: options.connect_timeout,
                    keepalive: options.keepalive,
                    keepalive_max: options.keepalive_max,
                    use_agent: options.use_agent,
                    accept_new_host_keys: options.accept_new_host_keys,
                    known_hosts: known_files,
                    bringup_known_hosts,
                },
                config: ssh_config::load(options.ssh_config.as_deref()),
                permits: Arc::new(Semaphore::new(runbook.defaults.concurrency.max(1))),
                slots: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                stopped_at: Mutex::new(HashMap::new()),
                accepted: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Run one command on one host. Merged stdout and stderr lines go to `output` as they
    /// arrive; when it is full the transport waits. The command is stopped on the host at
    /// `timeout` (outcome `Timeout`) or when `cancel` fires (outcome `Error`, "cancelled").
    /// Dropping the returned future cancels the command too.
    pub async fn run(
        &self,
        host: &HostId,
        command: &str,
        timeout: Duration,
        output: Sender<Vec<u8>>,
        cancel: CancellationToken,
    ) -> StepResult {
        let started = Instant::now();
        let Ok(_permit) = self.inner.permits.clone().acquire_owned().await else {
            return StepResult::error("the executor was shut down".into(), started.elapsed());
        };
        let Some(spec) = self.inner.runbook.hosts.get(host) else {
            let err = ExecError::UnknownHost {
                host: host.to_string(),
            };
            return StepResult::refused(&err, started.elapsed());
        };
        if spec.transport == Transport::Local {
            let masker = self.inner.masker.clone();
            return local::run(host.as_str(), command, timeout, output, masker, cancel).await;
        }
        let cancel = cancel.child_token();
        let _cancel_on_drop = cancel.clone().drop_guard();
        let inner = Arc::clone(&self.inner);
        let host = host.clone();
        let command = command.to_string();
        let task = tokio::task::spawn_blocking(move || {
            inner.run_ssh(&host, &command, timeout, &output, &cancel)
        });
        match task.await {
            Ok(result) => result,
            Err(e) => StepResult::error(
                format!("the SSH task for this host failed: {e}"),
                started.elapsed(),
            ),
        }
    }

    /// Dry run: reachability, host key and authentication; nothing is executed. An unknown
    /// key is remembered so that [`Executor::accept_host_key`] can record it.
    pub async fn probe(&self, host: &HostId) -> Result<(), ExecError> {
        let spec = self
            .inner
            .runbook
            .hosts
            .get(host)
            .ok_or_else(|| ExecError::UnknownHost {
                host: host.to_string(),
            })?;
        if spec.transport == Transport::Local {
            return Ok(());
        }
        // Probes count against `concurrency` like commands: a dry run of 1,000 hosts must
        // not open 1,000 handshakes at once (sshd's MaxStartups would drop most of them).
        let Ok(_permit) = self.inner.permits.clone().acquire_owned().await else {
            return Err(ExecError::Other {
                host: host.to_string(),
                reason: "the executor was shut down".into(),
            });
        };
        let inner = Arc::clone(&self.inner);
        let id = host.clone();
        let host = host.clone();
        tokio::task::spawn_blocking(move || {
            let slot = inner.slot(&host);
            let mut conn = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A dry run's probe has no cancel token of its own; connect_timeout bounds it.
            inner.ensure_connected(&host, &mut conn, &CancellationToken::new())
        })
        .await
        .map_err(|e| ExecError::Other {
            host: id.to_string(),
            reason: format!("the probe task failed: {e}"),
        })?
    }

    /// The unknown key `host` last offered, waiting for an operator (the TUI's prompt shows
    /// it; [`Executor::accept_host_key`] records exactly this key).
    pub fn pending_host_key(&self, host: &HostId) -> Option<known_hosts::OfferedKey> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(host)
            .cloned()
    }

    /// The unknown key standing between bringup and `host`: its own, or that of a jump host
    /// on the way to it, with the id of the host that offered it (the one to accept it for).
    pub fn host_key_in_the_way(&self, host: &HostId) -> Option<(HostId, known_hosts::OfferedKey)> {
        let owner = self
            .inner
            .stopped_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(host)
            .cloned()
            .unwrap_or_else(|| host.clone());
        let key = self.pending_host_key(&owner)?;
        Some((owner, key))
    }

    /// Record the unknown key last offered by `host` in bringup's known_hosts, after an
    /// operator checked it. `fingerprint` is the `SHA256:…` shown to the operator; it must
    /// match the key offered, so a key that changed in between is not accepted.
    pub fn accept_host_key(&self, host: &HostId, fingerprint: &str) -> Result<(), ExecError> {
        let mut pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(key) = pending.get(host) else {
            return Err(ExecError::Other {
                host: host.to_string(),
                reason: "no unknown host key is waiting to be accepted; probe the host first"
                    .into(),
            });
        };
        if key.fingerprint() != fingerprint {
            return Err(ExecError::Other {
                host: host.to_string(),
                reason: format!(
                    "the offered key is {}, not '{fingerprint}'; nothing was recorded",
                    key.fingerprint()
                ),
            });
        }
        let Some(file) = &self.inner.settings.bringup_known_hosts else {
            return Err(ExecError::Other {
                host: host.to_string(),
                reason: "no known_hosts file to record the key in; set HOME or XDG_DATA_HOME"
                    .into(),
            });
        };
        known_hosts::append(file, key).map_err(|e| ExecError::Other {
            host: host.to_string(),
            reason: format!("cannot record the host key in '{}': {e}", file.display()),
        })?;
        pending.remove(host);
        Ok(())
    }

    /// Host keys recorded under `--accept-new-host-keys` since the last call: (host,
    /// `SHA256:…`), for the journal.
    pub fn take_accepted_keys(&self) -> Vec<(HostId, String)> {
        std::mem::take(
            &mut *self
                .inner
                .accepted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Close every session (waits for commands still running on them).
    pub async fn shutdown(&self) {
        self.inner.permits.close();
        let slots: Vec<_> = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for slot in slots {
                let conn = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                if let Some(conn) = conn {
                    conn.disconnect();
                }
            }
        })
        .await;
    }
}

impl Inner {
    fn slot(&self, host: &HostId) -> Arc<Mutex<Option<Connection>>> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(slots.entry(host.clone()).or_default())
    }

    fn ensure_connected(
        &self,
        host: &HostId,
        conn: &mut Option<Connection>,
        cancel: &CancellationToken,
    ) -> Result<(), ExecError> {
        if conn.is_some() {
            return Ok(());
        }
        let config = self.config.as_ref().map_err(|reason| ExecError::Other {
            host: host.to_string(),
            reason: reason.clone(),
        })?;
        let target = ssh_config::resolve(&self.runbook, host, config)?;
        match ssh::connect(&target, &self.settings, cancel) {
            Ok(mut fresh) => {
                self.stopped_at
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(host);
                if !fresh.accepted_keys.is_empty() {
                    // The target's label is its host id; a jump host's is its runbook id or
                    // the ProxyJump spec naming it.
                    self.accepted
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .extend(
                            fresh
                                .accepted_keys
                                .drain(..)
                                .map(|(label, fp)| (HostId::new(label), fp)),
                        );
                }
                *conn = Some(fresh);
                Ok(())
            }
            Err(refused) => {
                let mut stopped_at = self
                    .stopped_at
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                stopped_at.remove(host);
                if let Some(key) = refused.unknown_key {
                    // The key belongs to the host that offered it: a jump host's is filed
                    // under the jump host, so it is shown and accepted as that host's.
                    let owner = match &*refused.error {
                        ExecError::UnknownHostKey { host: label, .. } => HostId::new(label),
                        _ => host.clone(),
                    };
                    if owner != *host {
                        stopped_at.insert(host.clone(), owner.clone());
                    }
                    self.pending
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(owner, *key);
                }
                Err(*refused.error)
            }
        }
    }

    fn run_ssh(
        &self,
        host: &HostId,
        command: &str,
        timeout: Duration,
        output: &Sender<Vec<u8>>,
        cancel: &CancellationToken,
    ) -> StepResult {
        let started = Instant::now();
        let deadline = super::deadline_after(started, timeout);
        let slot = self.slot(host);
        let mut conn = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut reconnected = false;
        loop {
            let fresh = conn.is_none();
            if let Err(e) = self.ensure_connected(host, &mut conn, cancel) {
                return StepResult::refused(&e, started.elapsed());
            }
            let Some(open) = conn.as_ref() else {
                return StepResult::error(format!("host '{host}': no session"), started.elapsed());
            };
            match ssh::run_command(
                open,
                command,
                deadline,
                output,
                cancel,
                timeout,
                &self.settings,
                &self.masker,
            ) {
                Ran::Done(result) => return result,
                Ran::Broken(result) => {
                    *conn = None;
                    return result;
                }
                // A reused session may have died while idle: reconnect once, nothing ran yet.
                Ran::Stale(reason) => {
                    *conn = None;
                    if fresh || reconnected {
                        // Nothing ran: the host refused, like a connection that failed.
                        let err = ExecError::Other {
                            host: host.to_string(),
                            reason: format!("cannot open a channel: {reason}"),
                        };
                        return StepResult::refused(&err, started.elapsed());
                    }
                    reconnected = true;
                }
            }
        }
    }
}
