//! The log file: where diagnostics go (never the screen, which the TUI owns). Kept apart from
//! the rest of the session so that its writer can be replaced on its own.

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use super::{JournalLocation, Note};

/// Where a session's diagnostics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogPlace {
    /// `--log-file`, or `bringup.log` beside a file journal: its folder is not made.
    File(PathBuf),
    /// A shared run's `NAME.log` in bringup's state folder (`$XDG_STATE_HOME/bringup/`, else
    /// `~/.local/state/bringup/`), which is made (0700) when missing.
    State(PathBuf),
    /// A shared run when neither `XDG_STATE_HOME` nor `HOME` says where the state folder is:
    /// where the log would be, for the warning.
    Unplaced(String),
}

/// `--log-file`, else `bringup.log` beside a file journal, else (a shared run has no folder
/// of its own, and the working folder may be anyone's) `NAME.log` in bringup's state folder.
pub fn log_place(given: Option<&Path>, journal: &JournalLocation) -> LogPlace {
    place_in(given, journal, |name| std::env::var_os(name))
}

/// [`log_place`] with the environment read through `env`.
fn place_in(
    given: Option<&Path>,
    journal: &JournalLocation,
    env: impl Fn(&str) -> Option<OsString>,
) -> LogPlace {
    if let Some(path) = given {
        return LogPlace::File(path.to_path_buf());
    }
    match journal {
        JournalLocation::File(path) => LogPlace::File(
            path.parent()
                .unwrap_or_else(|| Path::new("."))
                .join("bringup.log"),
        ),
        JournalLocation::Shared(url) => {
            let file = format!("{}.log", url.name);
            match state_home(env) {
                Some(home) => LogPlace::State(home.join("bringup").join(file)),
                None => LogPlace::Unplaced(format!("$XDG_STATE_HOME/bringup/{file}")),
            }
        }
    }
}

/// The XDG state folder: `XDG_STATE_HOME` when it is an absolute path (the XDG Base
/// Directory rules ignore a relative one), else `HOME/.local/state`; `None` without either.
fn state_home(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute("XDG_STATE_HOME").or_else(|| absolute("HOME").map(|h| h.join(".local/state")))
}

/// Start logging at `place` (level from `RUST_LOG`): the log's path, and the guard that keeps
/// the writer flushing. A log that cannot be kept is a [`Note::LogUnavailable`], never an
/// error: the run goes on without it.
pub fn init_log(
    place: &LogPlace,
) -> Result<(PathBuf, Option<tracing_appender::non_blocking::WorkerGuard>), Note> {
    let path = prepare(place)?;
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
    let guard = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logfile::TerminalSafe::new(writer))
        .with_ansi(false)
        .try_init()
        .ok()
        .map(|()| guard);
    Ok((path.to_path_buf(), guard))
}

/// The log's path, its folder made first when it is bringup's state folder.
fn prepare(place: &LogPlace) -> Result<&Path, Note> {
    match place {
        LogPlace::File(path) => Ok(path),
        LogPlace::State(path) => {
            if let Some(folder) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(folder)
                    .map_err(|e| Note::LogUnavailable {
                        path: path.display().to_string(),
                        why: format!("cannot make its folder: {e}"),
                    })?;
            }
            Ok(path)
        }
        LogPlace::Unplaced(name) => Err(Note::LogUnavailable {
            path: name.clone(),
            why: "neither XDG_STATE_HOME nor HOME is set".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::etcd::RunUrl;

    fn shared() -> JournalLocation {
        JournalLocation::Shared(RunUrl::parse("etcd://127.0.0.1:2379/fire").expect("url"))
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn a_shared_runs_log_goes_to_xdg_state_home() {
        let vars = [("XDG_STATE_HOME", "/srv/state"), ("HOME", "/home/kim")];
        assert_eq!(
            place_in(None, &shared(), env(&vars)),
            LogPlace::State(PathBuf::from("/srv/state/bringup/fire.log"))
        );
    }

    #[test]
    fn without_xdg_state_home_a_shared_runs_log_goes_under_home() {
        let vars = [("HOME", "/home/kim")];
        assert_eq!(
            place_in(None, &shared(), env(&vars)),
            LogPlace::State(PathBuf::from("/home/kim/.local/state/bringup/fire.log"))
        );
        // A relative XDG_STATE_HOME is ignored, as the XDG rules say.
        let vars = [("XDG_STATE_HOME", "state"), ("HOME", "/home/kim")];
        assert_eq!(
            place_in(None, &shared(), env(&vars)),
            LogPlace::State(PathBuf::from("/home/kim/.local/state/bringup/fire.log"))
        );
    }

    #[test]
    fn without_xdg_state_home_or_home_a_shared_run_has_no_log_place() {
        assert_eq!(
            place_in(None, &shared(), env(&[("HOME", "")])),
            LogPlace::Unplaced("$XDG_STATE_HOME/bringup/fire.log".into())
        );
        let note = prepare(&place_in(None, &shared(), env(&[]))).expect_err("no place");
        assert!(
            note.to_string()
                .contains("neither XDG_STATE_HOME nor HOME is set"),
            "{note}"
        );
    }

    #[test]
    fn log_file_wins_over_every_default() {
        let vars = [("XDG_STATE_HOME", "/srv/state"), ("HOME", "/home/kim")];
        let given = Path::new("/var/log/fire.log");
        assert_eq!(
            place_in(Some(given), &shared(), env(&vars)),
            LogPlace::File(given.to_path_buf())
        );
        let file = JournalLocation::File(PathBuf::from("/j/fire.jsonl"));
        assert_eq!(
            place_in(Some(given), &file, env(&vars)),
            LogPlace::File(given.to_path_buf())
        );
    }

    #[test]
    fn a_file_journals_log_stays_beside_it_whatever_the_environment() {
        let vars = [("XDG_STATE_HOME", "/srv/state"), ("HOME", "/home/kim")];
        let file = JournalLocation::File(PathBuf::from("/j/fire.jsonl"));
        assert_eq!(
            place_in(None, &file, env(&vars)),
            LogPlace::File(PathBuf::from("/j/bringup.log"))
        );
    }

    #[test]
    fn the_state_folder_is_made_private_when_missing() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let place = LogPlace::State(state.join("bringup/fire.log"));
        let path = prepare(&place).expect("folder made");
        assert_eq!(path, state.join("bringup/fire.log"));
        let mode = std::fs::metadata(state.join("bringup"))
            .expect("folder")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
