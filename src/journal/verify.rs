//! Reading a journal back: the streaming line scanner that checks `seq`, `prev`, each line's
//! hash and referenced output files, and `read_journal` which also parses the events.
//! Reads only; never writes or repairs a journal.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::journal::files::{self, SideError};
use crate::journal::record::{self, Envelope, GENESIS, LineError, Record};

/// Only this many problems are kept; the first is what matters.
const MAX_PROBLEMS: usize = 100;

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    Unparsable(String),
    HashMismatch {
        recorded: String,
        actual: String,
    },
    PrevMismatch {
        expected: String,
        found: String,
    },
    SeqGap {
        expected: u64,
        found: u64,
    },
    /// A side file missing or not what the event records.
    OutputFile {
        path: String,
        reason: String,
    },
    /// What is at a side file's place is no plain side file (a link, a FIFO, a device, a
    /// path outside `.d`): readers refuse the journal at once.
    SideRefused {
        path: String,
        reason: String,
    },
    /// A shared run's head key does not name its last event (events cut or rewritten).
    Head {
        recorded: String,
        found: String,
    },
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unparsable(e) => write!(f, "unparsable line: {e}"),
            Self::HashMismatch { recorded, actual } => {
                write!(
                    f,
                    "hash mismatch: recorded {recorded}, the line hashes to {actual}"
                )
            }
            Self::PrevMismatch { expected, found } => write!(
                f,
                "prev mismatch: the line says {found}, the previous line's hash is {expected}"
            ),
            Self::SeqGap { expected, found } => {
                write!(f, "seq gap: expected seq {expected}, found {found}")
            }
            Self::OutputFile { path, reason } | Self::SideRefused { path, reason } => {
                write!(f, "output file '{path}': {reason}")
            }
            Self::Head { recorded, found } => write!(
                f,
                "the run's head records {recorded}, but its events end at {found}: events were cut or rewritten"
            ),
        }
    }
}

/// One bad line: its 1-based line number, the seq it should carry, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub seq: u64,
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ProblemKind::Unparsable(_) => write!(f, "line {}: {}", self.line, self.kind),
            _ => write!(f, "seq {} (line {}): {}", self.seq, self.line, self.kind),
        }
    }
}

/// A last line cut short by a crash: no newline, and not a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub line: u64,
    /// Byte offset where it starts (the file's length once it is cut away).
    pub offset: u64,
    pub bytes: u64,
}

/// The outcome of checking a journal.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub path: PathBuf,
    /// Complete lines accepted as events (bad lines included, torn tail excluded).
    pub events: u64,
    pub last_seq: u64,
    pub last_hash: Option<String>,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub problems: Vec<Problem>,
    /// Problems beyond [`MAX_PROBLEMS`] are counted, not kept.
    pub more_problems: u64,
    pub torn: Option<TornTail>,
    /// The last complete line is valid but lacks its newline (the writer adds it on reopen).
    pub missing_newline: bool,
    /// Byte length of the complete part (everything but a torn tail).
    pub complete_len: u64,
}

impl Report {
    /// Every complete line verifies and links; a torn tail does not count against it.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.first()
    }

    /// The first side file that is no plain side file (see [`ProblemKind::SideRefused`]):
    /// `export`, `output` and `report` stop on it instead of reading on.
    pub fn refused_side(&self) -> Option<&Problem> {
        self.problems
            .iter()
            .find(|p| matches!(p.kind, ProblemKind::SideRefused { .. }))
    }

    /// Human-readable warnings (torn tail).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(t) = &self.torn {
            out.push(format!(
                "line {} is torn ({} bytes with no newline, as a crash mid-write leaves it); it is ignored",
                t.line, t.bytes
            ));
        }
        if self.missing_newline {
            out.push("the last line has no trailing newline".to_string());
        }
        out
    }
}

/// Errors reading a journal at all (as opposed to problems inside it).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read journal '{path}': {source}; check the path and its permissions")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Check a journal file's chain. `Err` only when the file cannot be read.
pub fn verify(path: &Path) -> Result<Report, ReadError> {
    scan(path, |_, _| {})
}

/// Check the chain and find the hash the event `seq` carries (`None` when the journal has no
/// complete, parsable line with that seq): what a seal's head is compared with.
pub fn verify_to(path: &Path, seq: u64) -> Result<(Report, Option<String>), ReadError> {
    let mut at = None;
    let report = scan(path, |_, env| {
        if let Some(env) = env
            && env.seq == seq
            && at.is_none()
        {
            at = Some(env.hash.clone());
        }
    })?;
    Ok((report, at))
}

/// A journal read back: its parsed events and the verification report.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    pub records: Vec<Record>,
    pub report: Report,
}

/// The longest first line [`first_record`] reads: `run_started` lists every service and
/// variable, a few KiB for a large runbook.
const FIRST_LINE_MAX: u64 = 4 << 20;

/// A file journal's first record (its `run_started`), read alone without checking the
/// chain (`verify` does that). `Err` says why it cannot be had: the file cannot be read,
/// is empty, or its first line is no record this version reads.
pub fn first_record(path: &Path) -> Result<Record, String> {
    use std::io::Read as _;
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut line = Vec::new();
    BufReader::new(file)
        .take(FIRST_LINE_MAX)
        .read_until(b'\n', &mut line)
        .map_err(|e| e.to_string())?;
    if line.is_empty() {
        return Err("it is empty".to_string());
    }
    record::parse(line.trim_ascii_end()).map_err(|e| e.to_string())
}

/// Verify and parse every complete, parsable line. Lines whose envelope is fine but whose
/// event this version does not know are verified and left out of `records`.
pub fn read_journal(path: &Path) -> Result<Journal, ReadError> {
    let mut records = Vec::new();
    let report = scan(path, |bytes, env| {
        if let Some(env) = env
            && let Ok(r) = record::parse_with(bytes, env)
        {
            records.push(r);
        }
    })?;
    Ok(Journal { records, report })
}

/// Stream the file's lines through the chain checks; `each(line, envelope)` sees every
/// complete line (not a torn tail), with its envelope when it parsed.
pub fn scan(
    path: &Path,
    mut each: impl FnMut(&[u8], Option<&Envelope>),
) -> Result<Report, ReadError> {
    let io_err = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    if file.metadata().map_err(io_err)?.is_dir() {
        return Err(io_err(io::Error::other("it is a folder")));
    }
    let mut checker = Checker::with_sides(path, Sides::Journal(path.to_path_buf()));
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(4096);
    let mut offset = 0u64;
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let terminated = buf.last() == Some(&b'\n');
        let content = if terminated {
            &buf[..buf.len() - 1]
        } else {
            &buf[..]
        };
        if !terminated {
            // The very end of the file: a crash may have cut it short.
            let parsable = Checker::peek_valid(content);
            if !parsable {
                checker.report.torn = Some(TornTail {
                    line: line_no,
                    offset,
                    bytes: n as u64,
                });
                break;
            }
            checker.report.missing_newline = true;
        }
        let env = checker.line(line_no, content);
        each(content, env.as_ref());
        offset += n as u64;
        checker.report.complete_len = offset;
    }
    Ok(checker.report)
}

/// Where the output side files a journal's lines reference are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sides {
    /// The side files of this journal file, in `<journal>.d/<seq>.out`.
    Journal(PathBuf),
    /// The source keeps none, so a reference is a problem.
    None,
    /// The caller checks each reference itself (a shared run reads them from etcd) and
    /// records what it finds with [`Checker::problem_at`].
    ByCaller,
}

/// The chain checks, one complete line at a time: for a file (see [`scan`]) or any other
/// source of lines in order (a shared run in etcd).
pub struct Checker {
    report: Report,
    sides: Sides,
    expected_seq: u64,
    expected_prev: String,
}

impl Checker {
    /// `path` names the source in the report; side files are checked as `sides` says.
    pub fn with_sides(path: &Path, sides: Sides) -> Checker {
        Checker {
            report: Report {
                path: path.to_path_buf(),
                ..Report::default()
            },
            sides,
            expected_seq: 1,
            expected_prev: GENESIS.to_string(),
        }
    }

    /// Whether an unterminated last line is a whole, self-consistent event.
    fn peek_valid(content: &[u8]) -> bool {
        record::check_hash(content).is_ok() && Envelope::parse(content).is_ok()
    }

    /// The report so far.
    pub fn finish(self) -> Report {
        self.report
    }

    /// Record a problem found outside the line checks.
    pub fn problem(&mut self, line: u64, kind: ProblemKind) {
        self.problem_at(line, self.expected_seq, kind);
    }

    /// Record a problem of the event `seq` found outside the line checks (once [`Checker::line`]
    /// has taken that event's line).
    pub fn problem_at(&mut self, line: u64, seq: u64, kind: ProblemKind) {
        if self.report.problems.len() < MAX_PROBLEMS {
            self.report.problems.push(Problem { line, seq, kind });
        } else {
            self.report.more_problems += 1;
        }
    }

    /// Check one complete line (without its newline); its envelope when it parsed.
    pub fn line(&mut self, line_no: u64, content: &[u8]) -> Option<Envelope> {
        self.report.events += 1;
        let hash = record::check_hash(content);
        let env = Envelope::parse(content);
        let env = match (hash, env) {
            (Err(LineError::Unparsable(e)), _) | (_, Err(LineError::Unparsable(e))) => {
                self.problem(line_no, ProblemKind::Unparsable(e));
                self.expected_seq += 1;
                return None;
            }
            (Err(LineError::HashMismatch { recorded, actual }), Ok(env)) => {
                self.problem(line_no, ProblemKind::HashMismatch { recorded, actual });
                env
            }
            (Ok(_), Ok(env)) => env,
            (_, Err(e @ LineError::HashMismatch { .. })) => {
                // Envelope parsing never reports a hash mismatch.
                self.problem(line_no, ProblemKind::Unparsable(e.to_string()));
                self.expected_seq += 1;
                return None;
            }
        };
        if env.seq != self.expected_seq {
            self.problem(
                line_no,
                ProblemKind::SeqGap {
                    expected: self.expected_seq,
                    found: env.seq,
                },
            );
        }
        if env.prev != self.expected_prev {
            self.problem(
                line_no,
                ProblemKind::PrevMismatch {
                    expected: self.expected_prev.clone(),
                    found: env.prev.clone(),
                },
            );
        }
        if let Some(file) = &env.output_file() {
            let kind = match &self.sides {
                Sides::Journal(journal) => files::read_side(journal, env.seq, file, &mut |_| {})
                    .err()
                    .map(|e| side_problem(journal, env.seq, &e)),
                Sides::None => Some(ProblemKind::OutputFile {
                    path: file.path.clone(),
                    reason: "output side files are not kept in this store".to_string(),
                }),
                Sides::ByCaller => None,
            };
            if let Some(kind) = kind {
                self.problem_at(line_no, env.seq, kind);
            }
        }
        if self.report.first_ts.is_none() {
            self.report.first_ts = Some(record::format_ts(env.ts));
        }
        self.report.last_ts = Some(record::format_ts(env.ts));
        self.report.last_seq = env.seq;
        self.expected_seq = env.seq + 1;
        self.expected_prev.clone_from(&env.hash);
        self.report.last_hash = Some(env.hash.clone());
        Some(env)
    }
}

/// The side file of event `seq` as a reader shows it: `<journal name>.d/<seq>.out`.
pub fn side_shown(journal: &Path, seq: u64) -> String {
    let dir = crate::journal::writer::side_dir(journal);
    let dir = dir.file_name().unwrap_or_default().to_string_lossy();
    format!("{dir}/{}", files::side_name(seq))
}

/// The problem a side file that cannot be read as recorded is.
pub fn side_problem(journal: &Path, seq: u64, e: &SideError) -> ProblemKind {
    let path = side_shown(journal, seq);
    let reason = e.to_string();
    if e.is_refusal() {
        ProblemKind::SideRefused { path, reason }
    } else {
        ProblemKind::OutputFile { path, reason }
    }
}
