//! A directory witness: `<DIR>/<run>.heads`, one JSON line per head, for every run that
//! names the directory. Built for a directory many runs and operators share (a mount from
//! another team's host, often with the sticky bit or `chattr +a` set by its owner):
//! - the directory is never created: a missing one (an unmounted share) is a failure to
//!   report, not a folder to make on the operator's own disk;
//! - each run appends to its own file, opened `O_APPEND` without following links, locked
//!   (`flock`) while its one line is written in one `write`, then fsynced; a take-over
//!   process appending to the same run waits for the lock, so lines never interleave;
//! - files are created 0644: heads hold no secret, and an inspector or another operator
//!   must be able to read them; only their writer may change them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag};

use super::{Held, ReadError, WitnessedHead};

/// Mode of a new heads file (before the umask).
pub const FILE_MODE: u32 = 0o644;
/// A line longer than this is not a head (a signed head is under 1 KiB).
const MAX_LINE: u64 = 16 * 1024;

/// The file holding `run`'s heads in `dir`.
pub fn file(dir: &Path, run: &str) -> PathBuf {
    dir.join(format!("{run}.heads"))
}

/// Why a head could not be appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the witness directory '{0}' does not exist (is its share mounted?)")]
    NoDir(PathBuf),
    #[error("'{0}' is not a directory")]
    NotDir(PathBuf),
    #[error("'{0}' is not a regular file (a link or something else); remove it")]
    NotFile(PathBuf),
    #[error("the run's identity '{0}' cannot name a file")]
    BadRun(String),
    #[error("cannot write '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Append `head` to its run's file in `dir`, durably.
pub fn append(dir: &Path, head: &WitnessedHead) -> Result<(), AppendError> {
    if head.run.is_empty() || !head.run.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppendError::BadRun(head.run.clone()));
    }
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(AppendError::NotDir(dir.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(AppendError::NoDir(dir.to_path_buf()));
        }
        Err(source) => {
            return Err(AppendError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    let path = file(dir, &head.run);
    let io_err = |source| AppendError::Io {
        path: path.clone(),
        source,
    };
    let created = fs::symlink_metadata(&path).is_err();
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
        .open(&path)
        .map_err(|e| {
            if e.raw_os_error() == Some(nix::libc::ELOOP) {
                AppendError::NotFile(path.clone())
            } else {
                io_err(e)
            }
        })?;
    if !f.metadata().map_err(io_err)?.file_type().is_file() {
        return Err(AppendError::NotFile(path.clone()));
    }
    let mut f = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| io_err(e.into()))?;
    let mut line = head.to_line();
    line.push('\n');
    // Under the lock, the end of the last complete line: a write cut short (a full disk
    // takes what fits) is cut back to it, so a later head never continues half a line.
    let len = f.metadata().map_err(io_err)?.len();
    if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.sync_data()) {
        let _ = f.set_len(len);
        return Err(io_err(e));
    }
    if created {
        // The new name must survive a crash too.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The heads `dir` holds for `run`; a missing file holds none.
pub fn read(dir: &Path, run: &str) -> Result<Held, ReadError> {
    let path = file(dir, run);
    let unreadable = |reason: String| ReadError::Unreadable {
        target: dir.display().to_string(),
        reason,
    };
    if !dir.is_dir() {
        return Err(unreadable(
            "it is not a directory (is its share mounted?)".to_string(),
        ));
    }
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Held::default()),
        Err(e) => return Err(unreadable(format!("'{}': {e}", path.display()))),
    };
    let kind = f
        .metadata()
        .map_err(|e| unreadable(e.to_string()))?
        .file_type();
    if !kind.is_file() || kind.is_fifo() {
        return Err(unreadable(format!(
            "'{}' is not a regular file",
            path.display()
        )));
    }
    let mut held = Held::default();
    let mut reader = BufReader::new(f);
    let mut line_no = 0u64;
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(|e| unreadable(e.to_string()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let at = format!("'{}' line {line_no}", path.display());
        if line.last() != Some(&b'\n') {
            held.bad.push((at, "an unfinished line".to_string()));
            if n as u64 >= MAX_LINE {
                break;
            }
            continue;
        }
        match serde_json::from_slice::<WitnessedHead>(&line) {
            Ok(found) if found.run == run => held.heads.push(found),
            Ok(found) => held
                .bad
                .push((at, format!("a head of another run ('{}')", found.run))),
            Err(e) => held.bad.push((at, format!("not a head: {e}"))),
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn head(seq: u64) -> WitnessedHead {
        WitnessedHead {
            run: "ab".repeat(32),
            seq,
            hash: "0".repeat(64),
            ts: chrono::DateTime::UNIX_EPOCH,
            runbook: Some("t".into()),
            key: None,
            sig: None,
        }
    }

    #[test]
    fn heads_are_appended_one_line_each_and_read_back_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        append(dir.path(), &head(50)).expect("first");
        append(dir.path(), &head(100)).expect("second");
        let held = read(dir.path(), &"ab".repeat(32)).expect("read");
        assert_eq!(held.heads, vec![head(50), head(100)]);
        assert!(held.bad.is_empty());
        let mode = fs::metadata(file(dir.path(), &"ab".repeat(32)))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o022, 0, "only its writer may change it: {mode:o}");
        assert!(
            read(dir.path(), &"cd".repeat(32))
                .expect("other")
                .heads
                .is_empty()
        );
    }

    #[test]
    fn a_missing_directory_is_never_created_and_a_link_is_never_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gone = dir.path().join("unmounted");
        assert!(matches!(
            append(&gone, &head(1)),
            Err(AppendError::NoDir(_))
        ));
        assert!(!gone.exists());
        let target = dir.path().join("elsewhere");
        fs::write(&target, "").expect("target");
        std::os::unix::fs::symlink(&target, file(dir.path(), &"ab".repeat(32))).expect("link");
        assert!(matches!(
            append(dir.path(), &head(1)),
            Err(AppendError::NotFile(_))
        ));
        assert_eq!(fs::read(&target).expect("target"), b"");
    }

    #[test]
    fn concurrent_writers_of_one_run_never_interleave_their_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        append(&dir, &head(t * 100 + i)).expect("append");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let held = read(dir.path(), &"ab".repeat(32)).expect("read");
        assert_eq!(held.heads.len(), 200);
        assert!(held.bad.is_empty(), "{:?}", held.bad);
    }
}
