//! The one writer of a journal file: masks secrets, chains and hashes each event, appends
//! it, and fsyncs before returning for events something waits on. Never rewrites a
//! complete line; the only truncation is of a torn tail when a journal is reopened. Holds
//! the journal's lock for its whole life (see `files.rs`), so it is the only writer.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::journal::etcd::StoreError;
use crate::journal::etcd::shared::SharedRun;
use crate::journal::event::{Event, OutputFile};
use crate::journal::files::{self, JournalLock};
use crate::journal::mask::Masker;
use crate::journal::record::{self, GENESIS};
use crate::journal::verify::{self, ReadError, Report};
use crate::runbook::model::{HostId, ServiceId};

/// Output chunks larger than this (or not UTF-8) go to a side file.
pub const DEFAULT_SPILL_BYTES: usize = 64 * 1024;
/// How much of a spilled chunk is kept inline as a preview.
const PREVIEW_BYTES: usize = 256;

/// Output below this size is always kept inline when it is valid UTF-8: a side file per
/// short line would cost more than the escapes it saves.
const ESCAPE_SPILL_MIN: usize = 4096;

/// Whether `text` as a JSON string would take over 1.25× its bytes (many newlines or control
/// characters, like `yes`) and is large enough to matter: such output is cheaper kept as raw
/// bytes.
fn escapes_large(text: &str) -> bool {
    if text.len() < ESCAPE_SPILL_MIN {
        return false;
    }
    // Most output has few escapes: a count that vectorizes settles it, since no escape is
    // over 5 bytes longer; the exact sum is for the rest.
    let escaped =
        crate::text::count_bytes(text.as_bytes(), |b| b < 0x20 || b == b'"' || b == b'\\');
    if escaped * 5 * 4 <= text.len() {
        return false;
    }
    let extra: usize = text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    extra * 4 > text.len()
}

/// Whether bytes look like binary rather than text: over an eighth control or invalid bytes.
fn is_binary(bytes: &[u8]) -> bool {
    let decoded = String::from_utf8_lossy(bytes);
    let odd = decoded
        .chars()
        .filter(|&c| c == char::REPLACEMENT_CHARACTER || (c.is_control() && !c.is_whitespace()))
        .count();
    odd * 8 > decoded.chars().count()
}

/// Where time comes from, so tests can fix it.
pub trait Clock: Send {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that reads what it was last set to; clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal '{path}': {source}; check the folder exists, is writable and has space")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("journal '{0}' already exists; pass a new path with --journal, or --resume it")]
    Exists(PathBuf),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "journal '{path}' does not verify ({problem}); it cannot be continued — run `bringup verify` on it"
    )]
    Broken { path: PathBuf, problem: String },
    #[error(
        "journal '{path}' is being written by another bringup run ({}); wait for it to end or stop it, then --resume",
        holder_text(*.pid)
    )]
    Locked { path: PathBuf, pid: Option<u32> },
    #[error(
        "'{path}' {why}; bringup writes nothing through it — remove it, or choose another --journal"
    )]
    UnsafePath { path: PathBuf, why: String },
    #[error("cannot encode an event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Shared(#[from] StoreError),
}

pub type Result<T, E = JournalError> = std::result::Result<T, E>;

impl JournalError {
    /// What a front end says when this error stops a run: a lost shared run says so in its
    /// own words (nothing is wrong with the journal), any other that the journal failed, and
    /// a full file system what to do about it.
    pub fn stopping(&self) -> String {
        match self {
            JournalError::Shared(StoreError::NotHeld { .. }) => self.to_string(),
            _ if self.is_full() => format!(
                "the journal cannot be written: {self}; stopping so that nothing happens unrecorded. Its file system is full: everything before this is recorded; free space there (old logs, core dumps), then continue the run with --resume"
            ),
            _ => format!(
                "the journal cannot be written: {self}; stopping so that nothing happens unrecorded"
            ),
        }
    }
}

impl JournalError {
    /// Whether the journal's file system (or the user's quota on it) is full: freeing space
    /// there is what lets the run go on.
    pub fn is_full(&self) -> bool {
        let JournalError::Io { source, .. } = self else {
            return false;
        };
        matches!(
            source.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        )
    }
}

fn holder_text(pid: Option<u32>) -> String {
    pid.map_or_else(
        || "pid not recorded yet".to_string(),
        |p| format!("pid {p}"),
    )
}

/// What one append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
    pub ts: DateTime<Utc>,
    /// The line as written (secrets masked), without its newline.
    pub line: String,
}

/// Whether an append waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Written and fsynced before the call returns (anything something will act on).
    Sync,
    /// Written to the file (safe from a crash of bringup, not of the machine) and fsynced
    /// with the next `Sync` append or [`JournalWriter::sync`]: group commit for output.
    Buffered,
}

/// `journal/<runbook stem>-<UTC time>.jsonl`, relative to the working folder.
pub fn default_path(runbook: &Path, now: DateTime<Utc>) -> PathBuf {
    let stem = runbook
        .file_stem()
        .map_or_else(|| "run".into(), |s| s.to_string_lossy());
    PathBuf::from("journal").join(format!("{stem}-{}.jsonl", now.format("%Y%m%dT%H%M%SZ")))
}

/// The folder holding a journal's output side files: `<journal>.d`.
pub fn side_dir(journal: &Path) -> PathBuf {
    let mut name = journal.file_name().unwrap_or_default().to_os_string();
    name.push(".d");
    journal.with_file_name(name)
}

/// Where the lines go.
enum Target {
    /// A file, locked for this writer's life.
    File {
        lock: JournalLock,
        /// Length of the file up to the last complete line: a failed write is cut back to it.
        len: u64,
    },
    /// A shared run in etcd, held by this process: lines wait in memory for the next
    /// [`JournalWriter::sync`], which commits them (and their side files) in transactions
    /// that compare the head and the executor's election key.
    Shared {
        run: Box<SharedRun>,
        pending: Vec<(u64, String)>,
        sides: Vec<(u64, Vec<u8>)>,
    },
}

pub struct JournalWriter {
    /// The file, or for a shared run its `etcd://` URL.
    path: PathBuf,
    target: Target,
    seq: u64,
    prev: String,
    masker: Masker,
    clock: Box<dyn Clock>,
    unsynced: bool,
    spill_bytes: usize,
    /// The `ts` of the last line this writer wrote.
    last_ts: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("path", &self.path)
            .field("seq", &self.seq)
            .field("prev", &self.prev)
            .finish_non_exhaustive()
    }
}

impl JournalWriter {
    /// Start a new journal (its folder is created 0700, the file 0600) and lock it; refuses
    /// an existing file (`Locked` when a run holds it) and a side folder that is a link.
    pub fn create(path: &Path, secrets: &[String]) -> Result<JournalWriter> {
        Self::create_with_clock(path, secrets, Box::new(SystemClock))
    }

    pub fn create_with_clock(
        path: &Path,
        secrets: &[String],
        clock: Box<dyn Clock>,
    ) -> Result<JournalWriter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            files::create_dirs(dir)?;
        }
        files::check_side_dir(path)?;
        let file = files::create_new(path).map_err(|e| match e {
            JournalError::Exists(_) => match files::locked_by(path) {
                Some(pid) => JournalError::Locked {
                    path: path.to_path_buf(),
                    pid,
                },
                None => e,
            },
            e => e,
        })?;
        sync_parent(path);
        let lock = JournalLock::take(file, path).inspect_err(|e| {
            // Nothing is in it yet: a journal that could not be taken (its pid file does not
            // fit on a full disk) is not left behind, to be refused as existing next time.
            if !matches!(e, JournalError::Locked { .. }) {
                let _ = std::fs::remove_file(path);
            }
        })?;
        Ok(JournalWriter {
            path: path.to_path_buf(),
            target: Target::File { lock, len: 0 },
            seq: 0,
            prev: GENESIS.to_string(),
            masker: Masker::new(secrets),
            clock,
            unsynced: false,
            spill_bytes: DEFAULT_SPILL_BYTES,
            last_ts: None,
        })
    }

    /// Write a shared run this process holds ([`SharedRun::campaign`]): a new one (no
    /// events yet), or with `resume` one to continue from its head.
    pub fn shared(run: SharedRun, secrets: &[String], resume: bool) -> Result<JournalWriter> {
        let (seq, prev) = run.head()?;
        if seq > 0 && !resume {
            return Err(JournalError::Exists(PathBuf::from(run.url().to_string())));
        }
        Ok(JournalWriter {
            path: PathBuf::from(run.url().to_string()),
            target: Target::Shared {
                run: Box::new(run),
                pending: Vec::new(),
                sides: Vec::new(),
            },
            seq,
            prev,
            masker: Masker::new(secrets),
            clock: Box::new(SystemClock),
            unsynced: false,
            spill_bytes: DEFAULT_SPILL_BYTES,
            last_ts: None,
        })
    }

    /// The shared run this writes, if it is one.
    pub fn shared_run(&self) -> Option<&SharedRun> {
        match &self.target {
            Target::Shared { run, .. } => Some(run),
            Target::File { .. } => None,
        }
    }

    /// `text` with every secret value masked, as the journal would record it.
    pub fn mask(&self, text: &[u8]) -> Vec<u8> {
        self.masker.mask_bytes(text)
    }

    /// Reopen a journal to continue it: lock it, verify it, cut away a torn last line
    /// (reported in the returned `Report`), and continue `seq` and `prev` from the last
    /// complete line.
    pub fn resume(path: &Path, secrets: &[String]) -> Result<(JournalWriter, Report)> {
        Self::resume_with_clock(path, secrets, Box::new(SystemClock))
    }

    pub fn resume_with_clock(
        path: &Path,
        secrets: &[String],
        clock: Box<dyn Clock>,
    ) -> Result<(JournalWriter, Report)> {
        Self::resume_locked(JournalLock::acquire(path)?, secrets, clock)
    }

    /// As [`JournalWriter::resume`], with the lock already taken (so what was read of the
    /// journal before, under the lock, is still all there is).
    pub fn resume_locked(
        lock: JournalLock,
        secrets: &[String],
        clock: Box<dyn Clock>,
    ) -> Result<(JournalWriter, Report)> {
        let path = lock.path().to_path_buf();
        let path = path.as_path();
        let report = verify::verify(path)?;
        if let Some(p) = report.first_problem() {
            return Err(JournalError::Broken {
                path: path.to_path_buf(),
                problem: p.to_string(),
            });
        }
        let io_err = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut lock = lock;
        let file = lock.file_mut();
        if report.torn.is_some() {
            file.set_len(report.complete_len).map_err(io_err)?;
        }
        let mut len = report.complete_len;
        if report.missing_newline {
            file.write_all(b"\n").map_err(io_err)?;
            len += 1;
        }
        file.sync_data().map_err(io_err)?;
        let writer = JournalWriter {
            path: path.to_path_buf(),
            target: Target::File { lock, len },
            seq: report.last_seq,
            prev: report
                .last_hash
                .clone()
                .unwrap_or_else(|| GENESIS.to_string()),
            masker: Masker::new(secrets),
            clock,
            unsynced: false,
            spill_bytes: DEFAULT_SPILL_BYTES,
            last_ts: None,
        };
        Ok((writer, report))
    }

    /// Change the size above which an output chunk goes to a side file.
    pub fn set_spill_bytes(&mut self, bytes: usize) {
        self.spill_bytes = bytes.max(1);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What this writer masks (the run's secrets): built once, for whatever else shows the
    /// run's output, so that it shows what the journal records.
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// The seq of the last line written (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The hash of the last line written (64 zeros before the first).
    pub fn last_hash(&self) -> &str {
        &self.prev
    }

    /// The `ts` of the last line this writer wrote (`None` before its first).
    pub fn last_ts(&self) -> Option<DateTime<Utc>> {
        self.last_ts
    }

    /// Append one event, on disk before this returns.
    pub fn append(&mut self, event: &Event) -> Result<Appended> {
        self.append_with(event, Durability::Sync)
    }

    /// Append several events with one fsync at the end.
    pub fn append_batch<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Vec<Appended>> {
        let out = events
            .into_iter()
            .map(|e| self.append_with(e, Durability::Buffered))
            .collect::<Result<Vec<_>>>()?;
        self.sync()?;
        Ok(out)
    }

    pub fn append_with(&mut self, event: &Event, durability: Durability) -> Result<Appended> {
        let seq = self.seq + 1;
        let ts = self.clock.now();
        let size = match event {
            Event::StepOutput { text, .. } => text.len(),
            _ => 0,
        };
        let mut line = if self.masker.is_empty() {
            record::encode_sized(seq, ts, event, &self.prev, size)?
        } else {
            let mut value = serde_json::to_value(event)?;
            self.masker.mask_event(&mut value);
            record::encode_sized(seq, ts, &value, &self.prev, size)?
        };
        let hash = line[line.len() - 66..line.len() - 2].to_string();
        match &mut self.target {
            Target::File { .. } => self.write_line(&mut line, durability)?,
            Target::Shared { pending, .. } => {
                pending.push((seq, line.clone()));
                self.unsynced = true;
                self.seq = seq;
                self.prev.clone_from(&hash);
                if durability == Durability::Sync {
                    self.sync()?;
                }
            }
        }
        self.seq = seq;
        self.prev.clone_from(&hash);
        self.last_ts = Some(ts);
        Ok(Appended {
            seq,
            hash,
            ts,
            line,
        })
    }

    /// Record one chunk of a step's output (group-committed). Valid UTF-8 that JSON keeps
    /// about its own size is kept inline as `text`. Anything else (not UTF-8, cut inside a
    /// character, over the spill size, or text that escapes to much more, like `yes`) is
    /// written byte for byte (secrets masked) to `<journal>.d/<seq>.out` and referenced as
    /// `raw` with its `size` and `sha256`; `text` is then the decoded chunk, or a preview of
    /// it when it is not readable text. Callers bound memory by passing output in chunks.
    pub fn append_output(
        &mut self,
        service: &ServiceId,
        step: &str,
        host: &HostId,
        bytes: &[u8],
    ) -> Result<Appended> {
        self.append_output_event(service, step, host, bytes.to_vec())
            .map(|(appended, _)| appended)
    }

    /// As [`JournalWriter::append_output`], taking the chunk (kept as the event's text, not
    /// copied, when it is inline and holds no secret) and giving back the event as recorded.
    pub fn append_output_event(
        &mut self,
        service: &ServiceId,
        step: &str,
        host: &HostId,
        bytes: Vec<u8>,
    ) -> Result<(Appended, Event)> {
        // Masked before anything is measured, so sizes and hashes are of what is recorded.
        let masked = match self.masker.mask_bytes_cow(&bytes) {
            std::borrow::Cow::Borrowed(_) => bytes,
            std::borrow::Cow::Owned(masked) => masked,
        };
        let seq = self.seq + 1;
        let inline = masked.len() <= self.spill_bytes
            && std::str::from_utf8(&masked).is_ok_and(|text| !escapes_large(text));
        let event = if inline {
            let text = String::from_utf8(masked)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            Event::output_text(service.clone(), step.to_string(), host.clone(), text)
        } else {
            let file = self.spill(seq, &masked)?;
            let decoded = String::from_utf8_lossy(&masked);
            let text = if is_binary(&masked) || escapes_large(&decoded) {
                let mut cut = decoded.len().min(PREVIEW_BYTES);
                while !decoded.is_char_boundary(cut) {
                    cut -= 1;
                }
                let mut preview = decoded[..cut].to_string();
                let _ = write!(preview, "… [{} bytes in {}]", masked.len(), file.path);
                preview
            } else {
                decoded.into_owned()
            };
            Event::StepOutput {
                service: service.clone(),
                step: step.to_string(),
                host: host.clone(),
                text,
                raw: Some(file.path),
                size: Some(file.bytes),
                sha256: Some(file.sha256),
                file: None,
            }
        };
        match self.append_with(&event, Durability::Buffered) {
            Ok(appended) => Ok((appended, event)),
            Err(e) => {
                if !inline {
                    self.unspill(seq);
                }
                Err(e)
            }
        }
    }

    /// Append a line to the file; `Err` leaves the file as it was.
    /// `line` is written with its newline in one write, and given back as it came.
    fn write_line(&mut self, line: &mut String, durability: Durability) -> Result<()> {
        line.push('\n');
        let written = self.io(|f| f.write_all(line.as_bytes()));
        line.pop();
        let written_len = line.len() as u64 + 1;
        if let Err(e) = written {
            // Never leave half a line for the next append to continue: cut back to the
            // last complete line (best effort; `verify` reports a torn tail otherwise).
            self.cut_back();
            return Err(e);
        }
        self.unsynced = true;
        if durability == Durability::Sync
            && let Err(e) = self.sync()
        {
            // `Err` must mean "not recorded" (the caller will not act on it), and seq and
            // prev stay where they were: take the line back out so the chain still holds.
            self.cut_back();
            return Err(e);
        }
        if let Target::File { len, .. } = &mut self.target {
            *len += written_len;
        }
        Ok(())
    }

    fn cut_back(&mut self) {
        if let Target::File { lock, len } = &mut self.target {
            let _ = lock.file().set_len(*len);
        }
    }

    fn spill(&mut self, seq: u64, bytes: &[u8]) -> Result<OutputFile> {
        if let Target::Shared { run, sides, .. } = &mut self.target {
            let path = run.url().side_name(seq);
            sides.push((seq, bytes.to_vec()));
            return Ok(OutputFile {
                path,
                bytes: bytes.len() as u64,
                sha256: record::sha256_hex(bytes),
            });
        }
        let dir = side_dir(&self.path);
        let name = files::side_name(seq);
        let path = dir.join(&name);
        let io_err = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let mut f = files::create_side_file(&self.path, &name)?;
        if let Err(source) = f.write_all(bytes).and_then(|()| f.sync_data()) {
            // Half a side file is no event's output, and holds space a full disk lacks.
            drop(f);
            let _ = std::fs::remove_file(&path);
            return Err(io_err(source));
        }
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(OutputFile {
            path: format!("{dir_name}/{name}"),
            bytes: bytes.len() as u64,
            sha256: record::sha256_hex(bytes),
        })
    }

    /// Take back the side file written for `seq` when its line could not be appended: no
    /// event references it, and a full disk needs the space.
    fn unspill(&mut self, seq: u64) {
        match &mut self.target {
            Target::File { .. } => {
                let _ = std::fs::remove_file(side_dir(&self.path).join(files::side_name(seq)));
            }
            Target::Shared { sides, .. } => sides.retain(|(s, _)| *s != seq),
        }
    }

    /// Make everything written so far durable: fsynced, or committed to etcd. A shared run
    /// that fails to commit is left at the head etcd has (what was not committed is not
    /// recorded, and the caller must not act on it). A shared run's commit is made on its
    /// own runtime and waited for without stalling the caller's ([`SharedRun::commit`]);
    /// async code that can await uses [`JournalWriter::sync_async`].
    pub fn sync(&mut self) -> Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        if let Target::Shared {
            run,
            pending,
            sides,
        } = &mut self.target
        {
            let lines = std::mem::take(pending);
            let files = std::mem::take(sides);
            self.unsynced = false;
            if let Err(e) = run.commit(lines, files) {
                if let Ok((seq, prev)) = run.head() {
                    self.seq = seq;
                    self.prev = prev;
                }
                return Err(e.into());
            }
            return Ok(());
        }
        self.io(|f| f.sync_data())?;
        self.unsynced = false;
        Ok(())
    }

    /// For a shared run: hand what was written since the last commit to the run's commit
    /// task and return at once; `Committed` says when etcd took it (commits go in the order
    /// they were handed over, and one after a failed one is refused). `None` when nothing
    /// waits. A file is fsynced here (`None`).
    pub fn sync_later(&mut self) -> Result<Option<crate::journal::etcd::shared::Committed>> {
        if !self.unsynced {
            return Ok(None);
        }
        let Target::Shared {
            run,
            pending,
            sides,
        } = &mut self.target
        else {
            self.sync()?;
            return Ok(None);
        };
        let lines = std::mem::take(pending);
        let files = std::mem::take(sides);
        self.unsynced = false;
        Ok(Some(run.commit_later(lines, files)))
    }

    /// After a commit handed over by [`JournalWriter::sync_later`] failed: go on from the
    /// head etcd has (what was not committed is not recorded).
    pub fn rewind(&mut self) {
        if let Target::Shared {
            run,
            pending,
            sides,
        } = &mut self.target
        {
            pending.clear();
            sides.clear();
            self.unsynced = false;
            if let Ok((seq, prev)) = run.head() {
                self.seq = seq;
                self.prev = prev;
            }
        }
    }

    /// As [`JournalWriter::sync`], with a shared run's commit awaited (nothing waits on a
    /// thread); a file is fsynced in place.
    pub async fn sync_async(&mut self) -> Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        let Target::Shared {
            run,
            pending,
            sides,
        } = &mut self.target
        else {
            return self.sync();
        };
        let lines = std::mem::take(pending);
        let files = std::mem::take(sides);
        self.unsynced = false;
        if let Err(e) = run.commit_async(lines, files).await {
            if let Ok((seq, prev)) = run.head_async().await {
                self.seq = seq;
                self.prev = prev;
            }
            return Err(e.into());
        }
        Ok(())
    }

    fn io(&mut self, f: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
        let Target::File { lock, .. } = &mut self.target else {
            return Ok(());
        };
        f(lock.file_mut()).map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// Make a newly created file's directory entry durable (best effort: not every platform can).
pub fn sync_parent(path: &Path) {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_is_under_journal_with_stem_and_utc_time() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T08:14:03Z")
            .expect("literal")
            .with_timezone(&Utc);
        assert_eq!(
            default_path(Path::new("runbooks/pangyo.toml"), t),
            PathBuf::from("journal/pangyo-20261122T081403Z.jsonl")
        );
    }

    #[test]
    fn a_full_file_system_is_told_apart_and_says_what_to_do() {
        let io = |errno| JournalError::Io {
            path: PathBuf::from("j/run.jsonl"),
            source: io::Error::from_raw_os_error(errno),
        };
        for errno in [nix::libc::ENOSPC, nix::libc::EDQUOT] {
            let e = io(errno);
            assert!(e.is_full(), "{e}");
            assert!(
                e.stopping().contains("free space there"),
                "{}",
                e.stopping()
            );
            assert!(e.stopping().contains("--resume"), "{}", e.stopping());
        }
        let e = io(nix::libc::EACCES);
        assert!(!e.is_full());
        assert!(!e.stopping().contains("free space"), "{}", e.stopping());
    }

    #[test]
    fn side_dir_sits_beside_the_journal() {
        assert_eq!(
            side_dir(Path::new("j/run.jsonl")),
            PathBuf::from("j/run.jsonl.d")
        );
    }
}
