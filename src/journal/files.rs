//! The files around a journal, opened safely: the one-writer lock (`flock` on the journal,
//! holder's pid in `<journal>.lock`), owner-only modes whatever the umask (journal, log and
//! side files 0600, folders 0700), and no symbolic link followed at any of these paths.
//! Side files are read back here too ([`read_side`], the one way every reader takes), and
//! files written whole by a command (`export -o`, `seal`, `pull`) go through a temporary
//! name beside them ([`write_atomically`]) that a later run sweeps if a kill left it.
//! Opens files only; what goes into them is the writer's business.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt,
};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};

use sha2::{Digest as _, Sha256};

use crate::journal::event::OutputFile;
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

/// Why a step's side file cannot be taken as the output its event records. No variant
/// carries the size or hash of what was found there: through a link or a swapped file it may
/// be anything (`/etc/shadow`), and an error message must not tell about it.
#[derive(Debug, thiserror::Error)]
pub enum SideError {
    #[error("is missing")]
    Missing,
    #[error(
        "is recorded as '{0}', not as NAME.d/SEQ.out for its seq; side files are read from '<journal>.d/<seq>.out' only"
    )]
    Named(String),
    #[error("is a symbolic link; a side file is never read through one")]
    Link,
    #[error("cannot be read: the side folder is a symbolic link or not a folder")]
    Folder,
    #[error("is not a regular file (a FIFO, a device or a folder)")]
    NotRegular,
    #[error("is not what the journal records (its size differs)")]
    WrongSize,
    #[error("is not what the journal records (its sha256 differs)")]
    WrongContent,
    #[error("cannot be read: {0}")]
    Io(io::Error),
}

impl SideError {
    /// Whether what is at the side file's place is no plain side file at all (a link, a FIFO,
    /// a device, a path outside `.d`): every reader refuses the journal at once, rather than
    /// reading on and calling it unverified.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::Named(_) | Self::Link | Self::Folder | Self::NotRegular
        )
    }
}

/// The name of the side file of the event `seq` inside `<journal>.d/`.
pub fn side_name(seq: u64) -> String {
    format!("{seq}.out")
}

/// Whether an event's side file reference has the form the writer gives it,
/// `NAME.d/<seq>.out` for its own `seq`. Only the form is checked: `NAME` is the journal's
/// name when it was written, and a journal may have been renamed since.
fn names_its_seq(recorded: &str, seq: u64) -> bool {
    recorded.split_once('/').is_some_and(|(dir, name)| {
        dir.strip_suffix(".d").is_some_and(|j| !j.is_empty()) && name == side_name(seq)
    })
}

/// Open the side file of event `seq`, `<journal>.d/<seq>.out`, for reading: never through a
/// link (at the folder or the file), non-blocking at open (a FIFO answers at once instead of
/// hanging), and only when the opened file is a regular file of `size` bytes.
pub fn open_side(journal: &Path, seq: u64, size: u64) -> std::result::Result<File, SideError> {
    let errno = |e: &io::Error| e.raw_os_error().map(Errno::from_raw);
    let folder = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow() | OFlag::O_DIRECTORY.bits())
        .open(side_dir(journal))
        .map_err(|e| match errno(&e) {
            Some(Errno::ENOENT) => SideError::Missing,
            Some(Errno::ENOTDIR | Errno::ELOOP) => SideError::Folder,
            _ => SideError::Io(e),
        })?;
    let fd = nix::fcntl::openat(
        &folder,
        side_name(seq).as_str(),
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::ENOENT => SideError::Missing,
        Errno::ELOOP => SideError::Link,
        e => SideError::Io(io::Error::from(e)),
    })?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(SideError::Io)?;
    if !meta.file_type().is_file() {
        return Err(SideError::NotRegular);
    }
    if meta.len() != size {
        return Err(SideError::WrongSize);
    }
    Ok(file)
}

/// Read the side file of event `seq` of `journal`, which the event records as `file`: its
/// name comes from `seq` alone (see [`open_side`]), and `file.path` only has to have the
/// writer's form. `each` sees the bytes as they are read; they are the recorded output only
/// once this returns `Ok` (the sha256 is compared at the end).
pub fn read_side(
    journal: &Path,
    seq: u64,
    file: &OutputFile,
    each: &mut dyn FnMut(&[u8]),
) -> std::result::Result<(), SideError> {
    if !names_its_seq(&file.path, seq) {
        return Err(SideError::Named(file.path.escape_debug().to_string()));
    }
    let mut reader = open_side(journal, seq, file.bytes)?.take(file.bytes);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SideError::Io(e)),
        };
        total += n as u64;
        hasher.update(&buf[..n]);
        each(&buf[..n]);
    }
    if total != file.bytes {
        // It shrank between the check and the read.
        return Err(SideError::WrongSize);
    }
    if hex::encode(hasher.finalize()) != file.sha256 {
        return Err(SideError::WrongContent);
    }
    Ok(())
}

/// The temporary name `out` is written under before it is renamed into place:
/// `.<name>.tmp-<pid>` beside it, so the rename stays on one filesystem.
pub fn temp_path(out: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(out.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    out.with_file_name(name)
}

/// Remove the temporary files of `out` (see [`temp_path`]) that processes no longer alive
/// left behind, as a `kill -9` does. Another live process's file is left alone, and a link
/// is removed itself, never followed. Best effort: what cannot be removed stays.
pub fn remove_stale_temps(out: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut prefix = b".".to_vec();
    prefix.extend_from_slice(out.file_name().unwrap_or_default().as_bytes());
    prefix.extend_from_slice(b".tmp-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .as_bytes()
            .strip_prefix(prefix.as_slice())
            .and_then(|p| std::str::from_utf8(p).ok())
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid <= 0 || pid.unsigned_abs() == std::process::id() || process_alive(pid) {
            continue;
        }
        // `file_type` does not follow links: a folder of that name is not ours to remove.
        if entry.file_type().is_ok_and(|t| !t.is_dir()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether a process `pid` exists (one of another user's counts too).
fn process_alive(pid: i32) -> bool {
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(Errno::ESRCH)
    )
}

/// Write `out` whole or not at all: `write` fills a fresh temporary file beside it (see
/// [`temp_path`]; created exclusively, never through a link, 0600 whatever the umask), which
/// is fsynced and renamed over `out` (a link at `out` is replaced, not written through). On
/// failure the temporary file is removed; ones that killed runs left are removed first.
pub fn write_atomically<T>(
    out: &Path,
    write: impl FnOnce(&mut dyn io::Write) -> io::Result<T>,
) -> io::Result<T> {
    if out.file_name().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path names no file",
        ));
    }
    remove_stale_temps(out);
    let tmp = temp_path(out);
    // Only this process writes under its pid: one there is from an earlier attempt.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .custom_flags(no_follow())
            .open(&tmp)?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
        let mut w = io::BufWriter::with_capacity(1 << 16, file);
        let value = write(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&tmp, out)?;
        crate::journal::writer::sync_parent(out);
        Ok(value)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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

    #[test]
    fn a_side_reference_must_name_its_own_seq_in_a_side_folder() {
        assert!(names_its_seq("run.jsonl.d/7.out", 7));
        assert!(names_its_seq("renamed-before.jsonl.d/7.out", 7));
        for bad in [
            "run.jsonl.d/8.out",
            "secret.txt",
            "../x.d/7.out",
            ".d/7.out",
            "run.jsonl.d/../7.out",
            "run.jsonl.d/7.out/..",
            "/etc/x.d/7.out",
        ] {
            assert!(!names_its_seq(bad, 7), "{bad}");
        }
    }

    #[test]
    fn a_side_file_that_is_a_fifo_or_a_link_is_refused_without_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("j.jsonl");
        fs::create_dir(side_dir(&journal)).expect("mkdir");
        let side = side_dir(&journal).join("3.out");
        nix::unistd::mkfifo(&side, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
        assert!(matches!(
            open_side(&journal, 3, 0),
            Err(SideError::NotRegular)
        ));
        fs::remove_file(&side).expect("rm");
        std::os::unix::fs::symlink("/dev/zero", &side).expect("link");
        let e = open_side(&journal, 3, 0).expect_err("a link");
        assert!(matches!(e, SideError::Link) && e.is_refusal(), "{e}");
        fs::remove_file(&side).expect("rm");
        fs::write(&side, "abc").expect("write");
        assert!(matches!(
            open_side(&journal, 3, 2),
            Err(SideError::WrongSize)
        ));
        assert!(matches!(open_side(&journal, 4, 3), Err(SideError::Missing)));
        open_side(&journal, 3, 3).expect("a regular file of its size");
    }

    #[test]
    fn stale_temporary_files_go_and_a_live_ones_and_folders_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("r.md");
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let dead = child.id();
        child.wait().expect("reaped");
        let stale = dir.path().join(format!(".r.md.tmp-{dead}"));
        fs::write(&stale, "x").expect("stale");
        let mut running = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let live = dir.path().join(format!(".r.md.tmp-{}", running.id()));
        fs::write(&live, "x").expect("live");
        let folder = dir.path().join(format!(".r.md.tmp-{}", dead + 1_000_000));
        fs::create_dir(&folder).expect("folder");
        let other = dir.path().join(format!(".other.md.tmp-{dead}"));
        fs::write(&other, "x").expect("other");
        let written = write_atomically(&out, |w| w.write_all(b"report"));
        let _ = running.kill();
        let _ = running.wait();
        written.expect("written");
        assert!(!stale.exists());
        assert!(live.exists() && folder.exists() && other.exists());
        assert_eq!(fs::read_to_string(&out).expect("out"), "report");
        let mode = fs::metadata(&out).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, FILE_MODE);
    }
}
