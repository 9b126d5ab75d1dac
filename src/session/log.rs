//! The log file: where diagnostics go (never the screen, which the TUI owns). Kept apart from
//! the rest of the session so that its writer can be replaced on its own.

use std::path::{Path, PathBuf};

use super::{JournalLocation, Note};

/// `--log-file`, else `bringup.log` beside a file journal, else (a shared run has no folder
/// here) `bringup-<run>.log` in the working folder.
pub fn log_path(given: Option<&Path>, journal: &JournalLocation) -> PathBuf {
    if let Some(path) = given {
        return path.to_path_buf();
    }
    match journal {
        JournalLocation::Shared(url) => PathBuf::from(format!("bringup-{}.log", url.name)),
        JournalLocation::File(path) => path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("bringup.log"),
    }
}

/// Start logging to `path` (level from `RUST_LOG`); the guard keeps the writer flushing.
pub fn init_log(path: &Path) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, Note> {
    let file = crate::journal::files::open_log(path).map_err(|e| {
        let why = if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
            "it is a symbolic link, which bringup does not follow".to_string()
        } else {
            e.to_string()
        };
        Note::LogUnavailable {
            path: path.display().to_string(),
            why,
        }
    })?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    Ok(tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logfile::TerminalSafe::new(writer))
        .with_ansi(false)
        .try_init()
        .ok()
        .map(|()| guard))
}
