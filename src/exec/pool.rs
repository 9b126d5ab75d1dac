//! The executor: picks the transport for a host, keeps sessions, bounds concurrency.

use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub accept_new_host_keys: bool,
    /// bringup's own known_hosts (accepted keys are written here).
    pub known_hosts: Option<PathBuf>,
    /// `~/.ssh/config` unless set.
    pub ssh_config: Option<PathBuf>,
}

pub struct Executor {}
