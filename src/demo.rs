//! The simulated datacenter behind `bringup demo`: stages a folder with the demo runbook and
//! the files its services live in, and stops every simulated service on teardown.
//! It must not open the TUI or run the engine (the `demo` subcommand does that with [`Staged`]),
//! and it never touches anything outside the demo folder.

pub mod daemon;
pub mod stage;
pub mod svc;

use std::path::{Path, PathBuf};

pub use stage::{bring_up, stage, stage_with};

/// `runbooks/demo.toml`, built into the binary so `bringup demo` works from any directory.
pub const RUNBOOK: &str = include_str!("../runbooks/demo.toml");

/// Name of the staged runbook inside the demo folder.
pub const RUNBOOK_FILE: &str = "demo.toml";

/// A file every demo folder holds; staging refuses to reuse a non-empty folder without it,
/// and the simulated services exit when it disappears.
pub const MARKER_FILE: &str = ".bringup-demo";

/// A staged demo: the folder, the runbook copy to open, and the `--var` overrides to pass.
/// Dropping it stops every simulated service still running (the folder is kept).
#[derive(Debug)]
pub struct Staged {
    /// The demo folder (absolute).
    pub dir: PathBuf,
    /// The staged runbook, `<dir>/demo.toml`, with `demo_dir` and `bringup` already set.
    pub runbook: PathBuf,
    /// `KEY=VALUE` overrides for `--var` (the same values the staged copy already holds).
    pub vars: Vec<String>,
}

impl Staged {
    /// Stop every simulated service started in this demo folder. Idempotent.
    pub fn teardown(&self) -> Result<usize, DemoError> {
        daemon::stop_all(&Layout::new(&self.dir))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::warn!(dir = %self.dir.display(), error = %e, "demo teardown");
        }
    }
}

/// Errors of staging and of the simulated services.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot {action} '{}': {source}; check the folder's permissions or pass another --dir", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("'{}' is not empty and holds no bringup demo; pass an empty or new folder with --dir", path.display())]
    NotDemoFolder { path: PathBuf },
    #[error("'{}' is not valid UTF-8; pass a --dir whose path is plain text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("cannot find this program's own path: {0}")]
    NoExe(#[source] std::io::Error),
    #[error(
        "service name '{0}' is not usable; use letters, digits, '.', '-', '_' and '@' (not starting with '.')"
    )]
    BadName(String),
    #[error("'{name}' did not start: {reason}")]
    StartFailed { name: String, reason: String },
}

impl DemoError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where things live inside a demo folder.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn marker(&self) -> PathBuf {
        self.dir.join(MARKER_FILE)
    }

    pub fn runbook(&self) -> PathBuf {
        self.dir.join(RUNBOOK_FILE)
    }

    /// Pid and port files of running services.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// Each service's own log (its stdout and stderr).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// Files the restore steps write (roles, mounts, attempt counters).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Status files of the services that survived the fire.
    pub fn site_dir(&self) -> PathBuf {
        self.dir.join("site")
    }

    pub fn pid_file(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.pid"))
    }

    pub fn port_file(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.port"))
    }

    pub fn log_file(&self, name: &str) -> PathBuf {
        self.log_dir().join(format!("{name}.log"))
    }

    pub fn attempts_file(&self, name: &str) -> PathBuf {
        self.state_dir().join(format!("{name}.attempts"))
    }

    /// The file the `bringup demo` process keeps locked for its whole life (see [`Owner`]).
    pub fn owner_file(&self) -> PathBuf {
        self.run_dir().join("owner.lock")
    }
}

/// The `bringup demo` process's hold on its folder: an exclusive `flock` on
/// [`Layout::owner_file`], which the kernel lets go when the process ends, however it ends
/// (`kill -9` included). Every simulated service started while it is held watches it and
/// exits once it is let go, so no service outlives its demo. A folder staged without one
/// (`__demo-svc stage`, tests) keeps its services until they are stopped or time out.
#[derive(Debug)]
pub struct Owner {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Owner {
    /// Hold the staged folder for this process's life.
    pub fn hold(staged: &Staged) -> Result<Owner, DemoError> {
        use nix::fcntl::{Flock, FlockArg};
        let path = Layout::new(&staged.dir).owner_file();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DemoError::io("create", &path, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
            DemoError::io(
                "lock (is another bringup demo using this folder?)",
                &path,
                std::io::Error::from(e),
            )
        })?;
        Ok(Owner { _lock: lock })
    }
}

/// Whether the folder's demo process still holds it: `None` when no demo process ever did.
pub fn owner_alive(layout: &Layout) -> Option<bool> {
    use nix::errno::Errno;
    use nix::fcntl::{Flock, FlockArg};
    let file = std::fs::File::open(layout.owner_file()).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Err((_, Errno::EWOULDBLOCK)) => Some(true),
        // Taken (and let go when dropped): nobody holds it any more.
        Ok(_) => Some(false),
        // Cannot tell: keep the service, as without an owner.
        Err(_) => None,
    }
}

/// A simulated service's name becomes file names: keep it to a safe alphabet.
pub fn check_name(name: &str) -> Result<(), DemoError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DemoError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_escape_the_run_folder_are_refused() {
        assert!(check_name("talk-messaging@msg-gw-1").is_ok());
        for bad in ["", "../etc/passwd", ".hidden", "a/b", "a b", "a\0b"] {
            assert!(
                matches!(check_name(bad), Err(DemoError::BadName(_))),
                "{bad:?}"
            );
        }
    }
}
