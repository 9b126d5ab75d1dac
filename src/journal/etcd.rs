//! The etcd journal store: a shared run's events in etcd under `bringup/runs/NAME/`, as the
//! same line bytes a file journal holds, each appended by one transaction that compares the
//! run's head, so two writers can never fork the chain. Also the `etcd://` URL naming a run.
//! Encodes lines with `record::encode` and checks them with the file verifier's checker;
//! never rewrites or deletes a key.
//!
//! Keys: `head` = `{"seq":N,"hash":"…"}` of the last event; `events/<seq, 20 digits>` = the
//! event's line without its newline; `out/<seq, 20 digits>/<piece, 6 digits>` = the output
//! side file of event `seq`, in pieces of at most [`SIDE_CHUNK`] bytes.

pub mod access;
pub mod kv;
pub mod lease;
pub mod shared;
pub mod transport;
pub mod watch;

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use access::Access;
pub use kv::{Compare, Kv, Op, Range, TxnResult, prefix_end};
pub use transport::{Etcd, EtcdError};
pub use watch::{WATCH_SILENCE, WatchBatch, WatchEvent, WatchKind};

use crate::journal::event::OutputFile;
use crate::journal::record::{self, GENESIS};
use crate::journal::verify::{Checker, ProblemKind, Report, Sides};
use crate::journal::writer::Appended;

/// Where every run lives.
pub const ROOT: &str = "bringup/runs/";
/// Events read per request when reading a run back.
const PAGE: u64 = 256;
/// An output side file is stored in pieces of at most this many bytes: etcd refuses requests
/// over 1.5 MiB by default, and base64 in JSON adds a third.
pub const SIDE_CHUNK: usize = 512 * 1024;
/// Most operations in one transaction (etcd's default `--max-txn-ops` is 128; one is the head).
const TXN_OPS: usize = 100;
/// Most payload bytes in one transaction (etcd's default request limit is 1.5 MiB, and
/// base64 adds a third).
const TXN_BYTES: usize = 1 << 20;
/// Side file pieces read per request (each up to [`SIDE_CHUNK`] bytes).
const SIDE_PAGE: u64 = 2;
/// Longest run name accepted.
const MAX_NAME: usize = 128;

const EXAMPLE: &str = "etcd://10.0.0.5:2379,10.0.0.6:2379/pangyo-2026-11-22";

/// `etcd://HOST:PORT[,HOST:PORT…]/NAME`: a shared run and the etcd members that hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUrl {
    /// `HOST:PORT` each, in the order given (tried in that order).
    pub endpoints: Vec<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{url}' is not a shared run URL: {why}; write etcd://HOST:PORT[,HOST:PORT…]/NAME, e.g. {EXAMPLE}"
)]
pub struct UrlError {
    pub url: String,
    pub why: String,
}

impl RunUrl {
    /// Whether `text` is meant as an etcd URL (rather than a journal file's path).
    pub fn is_etcd(text: &str) -> bool {
        text.starts_with("etcd://")
    }

    pub fn parse(text: &str) -> Result<RunUrl, UrlError> {
        let bad = |why: String| UrlError {
            url: text.to_string(),
            why,
        };
        let rest = text
            .strip_prefix("etcd://")
            .ok_or_else(|| bad("it does not start with 'etcd://'".to_string()))?;
        let (hosts, name) = rest
            .split_once('/')
            .ok_or_else(|| bad("there is no '/NAME' after the members".to_string()))?;
        let endpoints = hosts
            .split(',')
            .map(|h| endpoint(h).map_err(&bad))
            .collect::<Result<Vec<_>, _>>()?;
        check_name(name).map_err(bad)?;
        Ok(RunUrl {
            endpoints,
            name: name.to_string(),
        })
    }

    /// The run's key prefix, `bringup/runs/NAME/`.
    pub fn prefix(&self) -> String {
        format!("{ROOT}{}/", self.name)
    }

    /// How an output side file of this run is named in its event (`raw`): relative to the
    /// journal's folder, as `pull` lays it out beside `NAME.jsonl`.
    pub fn side_name(&self, seq: u64) -> String {
        format!("{}.jsonl.d/{seq}.out", self.name)
    }

    /// The keys holding the side file of event `seq`: `out/<seq, 20 digits>/<piece, 6 digits>`,
    /// each at most [`SIDE_CHUNK`] bytes, in order.
    pub fn side_prefix(&self, seq: u64) -> Vec<u8> {
        format!("{}out/{seq:020}/", self.prefix()).into_bytes()
    }

    pub fn side_key(&self, seq: u64, piece: usize) -> Vec<u8> {
        format!("{}out/{seq:020}/{piece:06}", self.prefix()).into_bytes()
    }
}

impl fmt::Display for RunUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etcd://{}/{}", self.endpoints.join(","), self.name)
    }
}

fn endpoint(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("a member is empty (two commas, or none before the '/')".to_string());
    }
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (addr, port) = v6
            .split_once(']')
            .ok_or_else(|| format!("member '{text}' opens '[' without closing it"))?;
        (addr, port.strip_prefix(':').unwrap_or(""))
    } else {
        text.rsplit_once(':').unwrap_or((text, ""))
    };
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '@' | '?' | '#' | '[' | ']'))
    {
        return Err(format!("member '{text}' has no usable host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(text.to_string()),
        _ => Err(format!(
            "member '{text}' needs a port 1-65535 (etcd's client port is usually 2379)"
        )),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the run name '{name}' must be 1-{MAX_NAME} letters, digits, '.', '_' or '-', not starting with '.'"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("shared run '{run}': {source}")]
    Etcd {
        run: String,
        #[source]
        source: EtcdError,
    },
    #[error(
        "shared run '{run}': another process appended seq {seq} first (the run's head is now seq {head_seq}); nothing was written — read the run again before appending"
    )]
    Conflict {
        run: String,
        seq: u64,
        head_seq: u64,
    },
    #[error(
        "shared run '{run}': this process no longer executes it (its lease expired, or etcd lost its majority); it stopped acting and sends nothing more — continue with `--resume {run}` once etcd answers"
    )]
    NotHeld { run: String },
    #[error(
        "shared run '{run}' is executed by {holder}; attach to it with `bringup attach {run}`, or continue it with `--resume {run}` once that process is gone (its lease ends within 10 s of its death)"
    )]
    Held { run: String, holder: String },
    #[error(
        "shared run '{run}': seq {seq} does not follow the run's head (seq {head_seq}): an earlier commit failed; nothing was written"
    )]
    Gap {
        run: String,
        seq: u64,
        head_seq: u64,
    },
    #[error(
        "shared run '{run}': its head key holds '{value}', not {{\"seq\":N,\"hash\":\"…\"}}; the run was written by something other than bringup — check it with `bringup verify`"
    )]
    BadHead { run: String, value: String },
    #[error("cannot encode an event: {0}")]
    Encode(#[from] serde_json::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The run's last event, as its `head` key records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// One shared run in etcd, open for reading and appending.
#[derive(Debug)]
pub struct EtcdStore {
    etcd: Etcd,
    url: RunUrl,
    head: Option<Head>,
    /// The head key's bytes as last read or written: what the next append compares.
    head_value: Option<Vec<u8>>,
}

impl EtcdStore {
    /// Connect to the first member that answers and read the run's head (a run with no
    /// events yet is empty, not an error).
    pub async fn open(url: &RunUrl) -> Result<EtcdStore> {
        Self::open_with(url, &Access::default()).await
    }

    /// As [`EtcdStore::open`], reaching etcd as `access` says (TLS, authentication).
    pub async fn open_with(url: &RunUrl, access: &Access) -> Result<EtcdStore> {
        let etcd = Etcd::connect_with(&url.endpoints, access)
            .await
            .map_err(|source| StoreError::Etcd {
                run: url.to_string(),
                source,
            })?;
        let mut store = EtcdStore {
            etcd,
            url: url.clone(),
            head: None,
            head_value: None,
        };
        store.refresh().await?;
        Ok(store)
    }

    pub fn url(&self) -> &RunUrl {
        &self.url
    }

    /// The member in use, as `http://HOST:PORT`.
    pub fn endpoint(&self) -> &str {
        self.etcd.endpoint()
    }

    /// The seq of the last event (0 before the first).
    pub fn seq(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.seq)
    }

    /// The hash of the last event (64 zeros before the first).
    pub fn last_hash(&self) -> &str {
        self.head.as_ref().map_or(GENESIS, |h| h.hash.as_str())
    }

    /// Read the run's head again.
    pub async fn refresh(&mut self) -> Result<()> {
        let key = self.head_key();
        let range = self
            .etcd
            .range(&key, None, 0)
            .await
            .map_err(|e| self.err(e))?;
        let value = range.kvs.into_iter().next().map(|kv| kv.value);
        self.set_head(value)
    }

    /// Append one event (encoded exactly as a file journal encodes it) after the head this
    /// store knows, in one transaction. If another process appended first, nothing is
    /// written, the store learns the new head, and the error is [`StoreError::Conflict`].
    pub async fn append(&mut self, event: &impl Serialize, ts: DateTime<Utc>) -> Result<Appended> {
        let seq = self.seq() + 1;
        let line = record::encode(seq, ts, event, self.last_hash())?;
        let hash = line[line.len() - 66..line.len() - 2].to_string();
        self.commit(&[(seq, line.clone())], &[], &[]).await?;
        Ok(Appended {
            seq,
            hash,
            ts,
            line,
        })
    }

    /// Commit events already encoded to follow the head this store knows (`lines`: seq and
    /// line, in order), each preceded by its output side file if it has one (`sides`: seq
    /// and bytes), in as few transactions as etcd's limits allow. Each transaction compares
    /// the head and every `guard` (the executor's election key): `Conflict` when another
    /// process moved the head, `NotHeld` when a guard no longer holds. What one transaction
    /// wrote stays written when a later one fails; the error says the head it reached.
    pub async fn commit(
        &mut self,
        lines: &[(u64, String)],
        sides: &[(u64, Vec<u8>)],
        guard: &[Compare],
    ) -> Result<()> {
        // Lines made after a commit that failed chain onto lines etcd never took: never
        // written, or the chain would break.
        if let Some((first, _)) = lines.first()
            && *first != self.seq() + 1
        {
            return Err(StoreError::Gap {
                run: self.url.to_string(),
                seq: *first,
                head_seq: self.seq(),
            });
        }
        let mut ops = Vec::new();
        let mut bytes = 0usize;
        let mut last = None;
        for (seq, line) in lines {
            for (_, side) in sides.iter().filter(|(s, _)| s == seq) {
                for (piece, chunk) in side.chunks(SIDE_CHUNK).enumerate() {
                    if !ops.is_empty() && (ops.len() >= TXN_OPS || bytes + chunk.len() > TXN_BYTES)
                    {
                        self.commit_ops(std::mem::take(&mut ops), last.take(), guard)
                            .await?;
                        bytes = 0;
                    }
                    bytes += chunk.len();
                    ops.push(Op::Put {
                        key: self.url.side_key(*seq, piece),
                        value: chunk.to_vec(),
                    });
                }
            }
            if !ops.is_empty() && (ops.len() >= TXN_OPS || bytes + line.len() > TXN_BYTES) {
                self.commit_ops(std::mem::take(&mut ops), last.take(), guard)
                    .await?;
                bytes = 0;
            }
            bytes += line.len();
            ops.push(Op::Put {
                key: self.event_key(*seq),
                value: line.clone().into_bytes(),
            });
            let hash = line[line.len() - 66..line.len() - 2].to_string();
            last = Some(Head { seq: *seq, hash });
        }
        if !ops.is_empty() {
            self.commit_ops(ops, last, guard).await?;
        }
        Ok(())
    }

    /// Store the output side file of event `seq` under [`RunUrl::side_key`]: in one
    /// transaction when it fits one piece, else a put per piece (etcd bounds a request's
    /// size). Written before the event that names it, so a reader that sees the event sees
    /// the whole file.
    pub async fn put_side(&mut self, seq: u64, bytes: &[u8]) -> Result<()> {
        let pieces = bytes.chunks(SIDE_CHUNK).enumerate();
        if bytes.len() <= SIDE_CHUNK {
            let ops: Vec<Op> = pieces
                .map(|(piece, chunk)| Op::Put {
                    key: self.url.side_key(seq, piece),
                    value: chunk.to_vec(),
                })
                .collect();
            if !ops.is_empty() {
                self.etcd
                    .txn(&[], &ops, &[])
                    .await
                    .map_err(|e| self.err(e))?;
            }
            return Ok(());
        }
        for (piece, chunk) in pieces {
            let key = self.url.side_key(seq, piece);
            self.etcd.put(&key, chunk).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// One transaction of [`EtcdStore::commit`]: `ops`, then the head moved to `head`.
    async fn commit_ops(
        &mut self,
        mut ops: Vec<Op>,
        head: Option<Head>,
        guard: &[Compare],
    ) -> Result<()> {
        let head_key = self.head_key();
        let mut compare = vec![match &self.head_value {
            Some(value) => Compare::Value {
                key: head_key.clone(),
                value: value.clone(),
            },
            None => Compare::Absent {
                key: head_key.clone(),
            },
        }];
        compare.extend_from_slice(guard);
        let new_value = match &head {
            Some(h) => Some(serde_json::to_vec(h)?),
            None => None,
        };
        if let Some(v) = &new_value {
            ops.push(Op::Put {
                key: head_key.clone(),
                value: v.clone(),
            });
        }
        let result = self
            .etcd
            .txn(&compare, &ops, &[Op::Get { key: head_key }])
            .await
            .map_err(|e| self.err(e))?;
        if !result.succeeded {
            let now = result
                .gets
                .into_iter()
                .next()
                .and_then(|r| r.kvs.into_iter().next())
                .map(|kv| kv.value);
            let unchanged = now == self.head_value;
            // A request that timed out on one member and was sent again to the next may
            // have committed the first time: then the head is this very transaction's.
            if now.is_some() && now == new_value {
                self.set_head(now)?;
                return Ok(());
            }
            self.set_head(now)?;
            return Err(if unchanged {
                StoreError::NotHeld {
                    run: self.url.to_string(),
                }
            } else {
                StoreError::Conflict {
                    run: self.url.to_string(),
                    seq: head.map_or(0, |h| h.seq),
                    head_seq: self.seq(),
                }
            });
        }
        if let Some(h) = head {
            self.head = Some(h);
            self.head_value = new_value;
        }
        Ok(())
    }

    /// The underlying connection (leases, requests, the election).
    pub fn etcd(&mut self) -> &mut Etcd {
        &mut self.etcd
    }

    /// Every event line of the run in seq order, read at one revision, a page at a time;
    /// `each(key_seq, line)` sees each. Returns the head as of that revision.
    pub async fn read_lines(
        &mut self,
        mut each: impl FnMut(Option<u64>, &[u8]),
    ) -> Result<Option<Head>> {
        let mut reading = self.start_reading().await?;
        while let Some(page) = self.next_page(&mut reading).await? {
            for (seq, line) in &page {
                each(*seq, line);
            }
        }
        self.finish_reading(reading)
    }

    /// Begin reading every event line at one revision (the head's, read now).
    async fn start_reading(&mut self) -> Result<Reading> {
        let head_key = self.head_key();
        let first = self
            .etcd
            .range(&head_key, None, 0)
            .await
            .map_err(|e| self.err(e))?;
        let prefix = self.events_prefix();
        Ok(Reading {
            revision: first.revision,
            head_value: first.kvs.into_iter().next().map(|kv| kv.value),
            end: prefix_end(&prefix),
            from: Some(prefix.clone()),
            prefix_len: prefix.len(),
        })
    }

    /// The next page of lines (each with the seq its key names), or `None` after the last.
    async fn next_page(
        &mut self,
        reading: &mut Reading,
    ) -> Result<Option<Vec<(Option<u64>, Vec<u8>)>>> {
        let Some(from) = reading.from.take() else {
            return Ok(None);
        };
        let page = self
            .etcd
            .range_at(&from, Some(&reading.end), PAGE, reading.revision)
            .await
            .map_err(|e| self.err(e))?;
        if page.more
            && let Some(last) = page.kvs.last()
        {
            let mut next = last.key.clone();
            next.push(0);
            reading.from = Some(next);
        }
        Ok(Some(
            page.kvs
                .into_iter()
                .map(|kv| {
                    let seq = std::str::from_utf8(&kv.key[reading.prefix_len..])
                        .ok()
                        .and_then(|s| s.parse().ok());
                    (seq, kv.value)
                })
                .collect(),
        ))
    }

    fn finish_reading(&mut self, reading: Reading) -> Result<Option<Head>> {
        self.set_head(reading.head_value)?;
        Ok(self.head.clone())
    }

    /// The first event's line (`run_started`), if the run has one.
    pub async fn first_line(&mut self) -> Result<Option<Vec<u8>>> {
        let key = self.event_key(1);
        let range = self
            .etcd
            .range(&key, None, 0)
            .await
            .map_err(|e| self.err(e))?;
        Ok(range.kvs.into_iter().next().map(|kv| kv.value))
    }

    /// The event lines after `seq`, in order, at most `limit` (0: all); `each(seq, line)`.
    /// Returns the seq of the last line read (`seq` when there was none).
    pub async fn lines_after(
        &mut self,
        seq: u64,
        limit: u64,
        mut each: impl FnMut(u64, &[u8]),
    ) -> Result<u64> {
        let prefix = self.events_prefix();
        let from = self.event_key(seq + 1);
        let end = prefix_end(&prefix);
        let page = self
            .etcd
            .range(&from, Some(&end), limit)
            .await
            .map_err(|e| self.err(e))?;
        let mut last = seq;
        for kv in &page.kvs {
            if let Some(s) = std::str::from_utf8(&kv.key[prefix.len()..])
                .ok()
                .and_then(|s| s.parse().ok())
            {
                each(s, &kv.value);
                last = s;
            }
        }
        Ok(last)
    }

    fn set_head(&mut self, value: Option<Vec<u8>>) -> Result<()> {
        self.head = match &value {
            None => None,
            Some(v) => Some(serde_json::from_slice(v).map_err(|_| StoreError::BadHead {
                run: self.url.to_string(),
                value: String::from_utf8_lossy(v).into_owned(),
            })?),
        };
        self.head_value = value;
        Ok(())
    }

    fn head_key(&self) -> Vec<u8> {
        format!("{}head", self.url.prefix()).into_bytes()
    }

    fn events_prefix(&self) -> Vec<u8> {
        format!("{}events/", self.url.prefix()).into_bytes()
    }

    fn event_key(&self, seq: u64) -> Vec<u8> {
        format!("{}events/{seq:020}", self.url.prefix()).into_bytes()
    }

    fn err(&self, source: EtcdError) -> StoreError {
        StoreError::Etcd {
            run: self.url.to_string(),
            source,
        }
    }
}

/// A read of every event line at one revision, page by page.
struct Reading {
    revision: i64,
    /// The head key's bytes at that revision.
    head_value: Option<Vec<u8>>,
    /// The key the next page starts at (`None`: no more pages).
    from: Option<Vec<u8>>,
    end: Vec<u8>,
    prefix_len: usize,
}

/// Part of an output side file read back from a shared run, in order: `Begin` once per
/// file (also for an empty one), then its pieces.
#[derive(Debug, Clone, Copy)]
pub enum Side<'a> {
    Begin(&'a OutputFile),
    Piece(&'a [u8]),
}

/// Check a shared run's chain with the file verifier's line checks, plus that its head key
/// names its last event and that every output side file an event references is in etcd
/// with the size and sha256 the event records; `each(line)` sees every line in order (what
/// `pull` writes).
pub async fn scan_run(store: &mut EtcdStore, each: impl FnMut(&[u8])) -> Result<Report> {
    scan_run_with(store, each, |_| {}).await
}

/// As [`scan_run`], `side` also given the bytes of every side file as they are checked.
pub async fn scan_run_with(
    store: &mut EtcdStore,
    mut each: impl FnMut(&[u8]),
    mut side: impl FnMut(Side<'_>),
) -> Result<Report> {
    let url = store.url().clone();
    let mut checker = Checker::with_sides(&PathBuf::from(url.to_string()), Sides::ByCaller);
    let mut line_no = 0u64;
    let mut reading = store.start_reading().await?;
    let revision = reading.revision;
    while let Some(page) = store.next_page(&mut reading).await? {
        for (key_seq, line) in &page {
            line_no += 1;
            let env = checker.line(line_no, line);
            if let Some(env) = &env
                && *key_seq != Some(env.seq)
            {
                checker.problem_at(
                    line_no,
                    env.seq,
                    ProblemKind::Unparsable(format!(
                        "the event is stored under the key of seq {}",
                        key_seq.map_or_else(|| "(not a number)".to_string(), |s| s.to_string())
                    )),
                );
            }
            if let Some(env) = &env
                && let Some(file) = env.output_file()
            {
                let expected = url.side_name(env.seq);
                let side_check = if file.path == expected {
                    read_side(&mut store.etcd, &url, env.seq, revision, &file, &mut side)
                        .await
                        .map_err(|source| StoreError::Etcd {
                            run: url.to_string(),
                            source,
                        })?
                } else {
                    Err(format!(
                        "a shared run keeps the side file of seq {} as '{expected}'",
                        env.seq
                    ))
                };
                if let Err(reason) = side_check {
                    checker.problem_at(
                        line_no,
                        env.seq,
                        ProblemKind::OutputFile {
                            path: file.path.clone(),
                            reason,
                        },
                    );
                }
            }
            each(line);
        }
    }
    let head = store.finish_reading(reading)?;
    let mut report = checker.finish();
    let recorded = head.map(|h| (h.seq, h.hash));
    let found = report.last_hash.clone().map(|h| (report.last_seq, h));
    if recorded != found {
        let show = |h: Option<(u64, String)>| {
            h.map_or_else(
                || "no event".to_string(),
                |(s, h)| format!("seq {s} hash {h}"),
            )
        };
        report.problems.push(crate::journal::verify::Problem {
            line: line_no,
            seq: report.last_seq,
            kind: ProblemKind::Head {
                recorded: show(recorded),
                found: show(found),
            },
        });
    }
    Ok(report)
}

/// A shared run read back: its parsed events and the verification report, as
/// [`crate::journal::read_journal`] gives for a file.
pub async fn read_run(store: &mut EtcdStore) -> Result<crate::journal::Journal> {
    let mut records = Vec::new();
    let report = scan_run(store, |line| {
        if let Ok(r) = record::parse(line) {
            records.push(r);
        }
    })
    .await?;
    Ok(crate::journal::Journal { records, report })
}

/// Read the side file of event `seq` at `revision`, piece by piece in order, into `side`,
/// and compare it with what the event records: `Ok(Err(why))` when it differs.
async fn read_side(
    etcd: &mut Etcd,
    url: &RunUrl,
    seq: u64,
    revision: i64,
    file: &OutputFile,
    side: &mut impl FnMut(Side<'_>),
) -> Result<Result<(), String>, EtcdError> {
    let prefix = url.side_prefix(seq);
    let end = prefix_end(&prefix);
    let mut from = prefix;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut piece = 0usize;
    side(Side::Begin(file));
    loop {
        let page = etcd
            .range_at(&from, Some(&end), SIDE_PAGE, revision)
            .await?;
        for kv in &page.kvs {
            if kv.key != url.side_key(seq, piece) {
                return Ok(Err(format!(
                    "piece {piece} is missing from etcd (the next key is '{}')",
                    String::from_utf8_lossy(&kv.key)
                )));
            }
            hasher.update(&kv.value);
            total += kv.value.len() as u64;
            side(Side::Piece(&kv.value));
            piece += 1;
        }
        match page.kvs.last() {
            Some(last) if page.more => {
                from.clone_from(&last.key);
                from.push(0);
            }
            _ => break,
        }
    }
    if total != file.bytes {
        return Ok(Err(format!(
            "{total} bytes in {piece} piece(s) in etcd, the event records {}",
            file.bytes
        )));
    }
    let actual = hex::encode(hasher.finalize());
    if actual != file.sha256 {
        return Ok(Err(format!(
            "sha256 {actual} in etcd, the event records {}",
            file.sha256
        )));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_gives_members_in_order_and_the_run_name() {
        let url = RunUrl::parse("etcd://10.0.0.5:2379,[::1]:2380,db.example:2379/pangyo-1")
            .expect("parses");
        assert_eq!(
            url.endpoints,
            ["10.0.0.5:2379", "[::1]:2380", "db.example:2379"]
        );
        assert_eq!(url.name, "pangyo-1");
        assert_eq!(url.prefix(), "bringup/runs/pangyo-1/");
        assert_eq!(
            url.to_string(),
            "etcd://10.0.0.5:2379,[::1]:2380,db.example:2379/pangyo-1"
        );
    }

    #[test]
    fn bad_urls_quote_the_value_and_say_what_is_wrong() {
        for (url, why) in [
            ("http://h:2379/run", "does not start with 'etcd://'"),
            ("etcd://h:2379", "no '/NAME'"),
            ("etcd://h/run", "member 'h' needs a port"),
            ("etcd://h:0/run", "needs a port"),
            ("etcd://h:99999/run", "needs a port"),
            ("etcd://h:2379,,g:2379/run", "a member is empty"),
            ("etcd://:2379/run", "no usable host"),
            ("etcd://h:2379/", "run name ''"),
            ("etcd://h:2379/a/b", "run name 'a/b'"),
            ("etcd://h:2379/..", "run name '..'"),
        ] {
            let e = RunUrl::parse(url).expect_err(url).to_string();
            assert!(
                e.starts_with(&format!("'{url}' is not a shared run URL")),
                "{e}"
            );
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains("etcd://HOST:PORT"), "{e}");
        }
    }
}
