//! The files around a journal, opened safely: the one-writer lock (`flock` on the journal,
//! holder's pid in `<journal>.lock`), owner-only modes whatever the umask (journal, log and
//! side files 0600, folders 0700), and no symbolic link followed at any of these paths.
//! Opens files only; what goes into them is the writer's business.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt,
};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};

use crate::journal::writer::{JournalError, Result, side_dir};

/// Files: owner read and write only.
pub const FILE_MODE: u32 = 0o600;
/// Folders bringup creates for journals and side files: owner only.
pub const DIR_MODE: u32 = 0o700;

/// `O_NOFOLLOW | O_CLOEXEC`: a link at the path is an error, not a way elsewhere.
fn no_follow() -> i32 {
    (OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits()
}

/// The path beside a journal naming the pid of the run that holds it: `<journal>.lock`.
pub fn pid_path(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    journal.with_file_name(name)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| {
        if source.raw_os_error() == Some(Errno::ELOOP as i32) {
            unsafe_path(path, "is a symbolic link")
        } else {
            JournalError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

fn unsafe_path(path: &Path, why: &str) -> JournalError {
    JournalError::UnsafePath {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// The journal's folder and any missing parents, created 0700.
pub fn create_dirs(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err(dir))
}

/// Refuse a `<journal>.d` that is a symbolic link, not a folder, or not the running user's:
/// side files written through it would land where someone else chose.
pub fn check_side_dir(journal: &Path) -> Result<()> {
    let dir = side_dir(journal);
    match fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&dir)(e)),
        Ok(meta) => check_dir_meta(&dir, &meta),
    }
}

fn check_dir_meta(dir: &Path, meta: &fs::Metadata) -> Result<()> {
    if meta.file_type().is_symlink() {
        return Err(unsafe_path(dir, "is a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(unsafe_path(dir, "is not a folder"));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_path(
            dir,
            &format!("belongs to another user (uid {}, not {me})", meta.uid()),
        ));
    }
    Ok(())
}

/// A new journal: created exclusively (never an existing file or link), mode 0600.
pub fn create_new(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(no_follow())
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                JournalError::Exists(path.to_path_buf())
            } else {
                io_err(path)(e)
            }
        })?;
    // The umask may have taken bits away from the mode; set it exactly.
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(io_err(path))?;
    Ok(file)
}

/// One side file in `<journal>.d/` (created 0700 if missing), opened without following a
/// link at the folder or the file, truncated, mode 0600.
pub fn create_side_file(journal: &Path, name: &str) -> Result<File> {
    let dir = side_dir(journal);
    match DirBuilder::new().mode(DIR_MODE).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(&dir)(e)),
    }
    let folder = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow() | OFlag::O_DIRECTORY.bits())
        .open(&dir)
        .map_err(|e| match e.raw_os_error() {
            // With O_DIRECTORY, Linux reports a link as "not a directory", not as a loop.
            Some(n) if n == Errno::ENOTDIR as i32 => {
                let link = fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink());
                unsafe_path(
                    &dir,
                    if link {
                        "is a symbolic link"
                    } else {
                        "is not a folder"
                    },
                )
            }
            _ => io_err(&dir)(e),
        })?;
    check_dir_meta(&dir, &folder.metadata().map_err(io_err(&dir))?)?;
    folder
        .set_permissions(Permissions::from_mode(DIR_MODE))
        .map_err(io_err(&dir))?;
    let path = dir.join(name);
    // Relative to the folder just checked, so it cannot be swapped for a link in between.
    let fd = nix::fcntl::openat(
        &folder,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(FILE_MODE),
    )
    .map_err(|e| io_err(&path)(io::Error::from(e)))?;
    let file = File::from(fd);
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(io_err(&path))?;
    Ok(file)
}

/// The log file: appended to, created 0600, never through a link. An existing log of the
/// running user is narrowed to 0600 too: it holds what hosts answered.
pub fn open_log(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .custom_flags(no_follow())
        .open(path)?;
    if file.metadata()?.uid() == nix::unistd::geteuid().as_raw() {
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// The exclusive lock one run holds on its journal for its whole life. It is an `flock` on
/// the journal itself, so the kernel lets go when the process ends however it ends (`kill
/// -9` included) and a later `--resume` can take it. Readers (`verify`, `export`) take no
/// lock. The holder's pid is written to `<journal>.lock` for the message a second writer
/// gets; that file is only informative and is removed when the lock is let go.
pub struct JournalLock {
    file: Flock<File>,
    path: PathBuf,
}

impl std::fmt::Debug for JournalLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalLock")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl JournalLock {
    /// Lock an existing journal to continue it; `JournalError::Locked` names the holder.
    pub fn acquire(path: &Path) -> Result<JournalLock> {
        check_side_dir(path)?;
        let file = OpenOptions::new()
            .append(true)
            .custom_flags(no_follow())
            .open(path)
            .map_err(io_err(path))?;
        Self::take(file, path)
    }

    /// Lock a journal file just created or opened.
    pub(crate) fn take(file: File, path: &Path) -> Result<JournalLock> {
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(JournalError::Locked {
                    path: path.to_path_buf(),
                    pid: holder(path),
                });
            }
            Err((_, e)) => return Err(io_err(path)(io::Error::from(e))),
        };
        let lock = JournalLock {
            file,
            path: path.to_path_buf(),
        };
        lock.write_pid()?;
        Ok(lock)
    }

    fn write_pid(&self) -> Result<()> {
        let pid_path = pid_path(&self.path);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .custom_flags(no_follow())
            .open(&pid_path)
            .map_err(io_err(&pid_path))?;
        writeln!(f, "{}", std::process::id()).map_err(io_err(&pid_path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    pub(crate) fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }
}

impl Drop for JournalLock {
    fn drop(&mut self) {
        // Before the flock is let go (the field drops after this), so the next holder's
        // pid file is never the one removed.
        let _ = fs::remove_file(pid_path(&self.path));
    }
}

/// Whether another process holds the lock on `path`: `Some(pid)` when it does (`None`
/// inside when its pid could not be read), `None` when nobody does or it cannot be told.
pub fn locked_by(path: &Path) -> Option<Option<u32>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow())
        .open(path)
        .ok()?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Err((_, Errno::EWOULDBLOCK)) => Some(holder(path)),
        _ => None,
    }
}

/// The pid recorded by the lock's holder, if it can be read.
fn holder(journal: &Path) -> Option<u32> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow())
        .open(pid_path(journal))
        .ok()?;
    let mut text = String::new();
    f.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_journal_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.jsonl");
        let first = JournalLock::take(create_new(&path).expect("create"), &path).expect("lock");
        let pid = std::process::id();
        assert_eq!(
            fs::read_to_string(pid_path(&path)).expect("pid file"),
            format!("{pid}\n")
        );
        match JournalLock::acquire(&path) {
            Err(JournalError::Locked { pid: Some(p), .. }) => assert_eq!(p, pid),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert_eq!(locked_by(&path), Some(Some(pid)));
        drop(first);
        assert!(!pid_path(&path).exists());
        assert_eq!(locked_by(&path), None);
        JournalLock::acquire(&path).expect("free again");
    }

    #[test]
    fn a_side_folder_that_is_a_link_or_a_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).expect("mkdir");
        let journal = dir.path().join("j.jsonl");
        std::os::unix::fs::symlink(&elsewhere, side_dir(&journal)).expect("symlink");
        let e = check_side_dir(&journal).expect_err("a link");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        let e = create_side_file(&journal, "1.out").expect_err("a link");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        assert_eq!(fs::read_dir(&elsewhere).expect("read").count(), 0);

        let other = dir.path().join("k.jsonl");
        fs::write(side_dir(&other), "").expect("a file");
        let e = check_side_dir(&other).expect_err("a file");
        assert!(e.to_string().contains("is not a folder"), "{e}");
    }

    #[test]
    fn a_side_file_that_is_a_link_is_not_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("j.jsonl");
        let target = dir.path().join("target");
        fs::write(&target, "keep").expect("write");
        fs::create_dir(side_dir(&journal)).expect("mkdir");
        std::os::unix::fs::symlink(&target, side_dir(&journal).join("1.out")).expect("symlink");
        let e = create_side_file(&journal, "1.out").expect_err("a link");
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(&target).expect("read"), "keep");
    }
}
