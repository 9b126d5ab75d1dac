//! The executing process's hold on a shared run: the run's election key on a lease (TTL
//! 10 s, kept alive), a worker thread that owns the etcd connection the journal writes
//! through, and the requests attached operators leave for it.
//!
//! etcd's client here blocks, and must not run on an async runtime's threads: every
//! connection is made, used and dropped on a thread of its own; callers wait for answers.
//!
//! Keys under `bringup/runs/NAME/`: `executor` (the holder, on the lease), `live` (the
//! executor's view of the services, on the lease), `runbook` (the runbook's text, for
//! attached operators), `requests/<id>` (what an attached operator asks) and `answers/<id>`
//! (what became of it).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Access, Compare, Etcd, EtcdStore, Op, Result, RunUrl, StoreError, client};

/// The executor's lease: it dies this long after the executor stops renewing it.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the lease is renewed.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(2);
/// No renewal answered for this long since it was sent: the lease may be gone, so the
/// executor stops acting (before etcd could let another take over).
const LOST_AFTER: Duration = Duration::from_secs(8);
/// How long one renewal may wait on a member before going to the next: a member that hangs
/// (or sits behind a path that drops packets) must not hold renewals past `LOST_AFTER`.
const RENEW_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the requests of attached operators are looked for.
const REQUEST_POLL: Duration = Duration::from_millis(150);
/// How long the end of a run waits for the lease to be revoked.
const REVOKE_WAIT: Duration = Duration::from_secs(3);
/// How often the watchdog looks at the last renewal.
const TICK: Duration = Duration::from_millis(100);

/// Who executes a shared run, as its `executor` key records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub operator: String,
    pub host: String,
    pub pid: u32,
    pub since: DateTime<Utc>,
}

impl Holder {
    /// This process, for `operator`.
    pub fn me(operator: &str) -> Holder {
        Holder {
            operator: operator.to_string(),
            host: nix::unistd::gethostname().map_or_else(
                |_| "(unknown host)".to_string(),
                |h| h.to_string_lossy().into_owned(),
            ),
            pid: std::process::id(),
            since: Utc::now(),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} (pid {}) since {}",
            self.operator,
            self.host,
            self.pid,
            self.since.format("%H:%M:%SZ")
        )
    }
}

/// What an attached operator left for the executor: a request in the driver's vocabulary
/// (`ask`, serialized by the driver), signed with their name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub operator: String,
    pub ask: serde_json::Value,
}

/// What became of a request: the seq of the first event it recorded, or why it was refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// A request as the executor receives it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub id: String,
    pub posted: Posted,
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;
type LostHook = Box<dyn Fn(&str) + Send + Sync>;

/// The state the worker thread owns.
pub struct Worker {
    pub store: EtcdStore,
    /// The executor key's value while this process holds it: every commit compares it.
    held: Option<Vec<u8>>,
    lease: i64,
}

impl Worker {
    fn guard(&self) -> Vec<Compare> {
        self.held
            .iter()
            .map(|value| Compare::Value {
                key: key(self.store.url(), "executor"),
                value: value.clone(),
            })
            .collect()
    }
}

/// Set once, when the lease is (or may be) gone; hooks run then, on the watchdog's thread.
#[derive(Default)]
struct Lost {
    gone: AtomicBool,
    why: Mutex<Option<String>>,
    hooks: Mutex<Vec<LostHook>>,
}

impl Lost {
    fn fire(&self, why: &str) {
        if self.gone.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::error!("shared run: {why}");
        *self
            .why
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why.into());
        for hook in self
            .hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            hook(why);
        }
    }
}

/// A shared run opened by the process that executes it (or is about to).
pub struct SharedRun {
    url: RunUrl,
    access: Access,
    jobs: mpsc::Sender<Job>,
    lost: Arc<Lost>,
    stop: Arc<AtomicBool>,
    /// The latest view to publish as `live` (written by the requests thread).
    live: Arc<Mutex<Option<Vec<u8>>>>,
    threads: Vec<thread::JoinHandle<()>>,
    /// Told when the worker has ended (and revoked the lease).
    done: mpsc::Receiver<()>,
    lease: i64,
    holder: Option<Holder>,
}

impl std::fmt::Debug for SharedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRun")
            .field("url", &self.url.to_string())
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

fn key(url: &RunUrl, rest: &str) -> Vec<u8> {
    format!("{}{rest}", url.prefix()).into_bytes()
}

impl SharedRun {
    /// Connect (on a worker thread of its own) and take a lease; nothing is held yet.
    pub fn connect(url: &RunUrl, access: &Access) -> Result<SharedRun> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let (done_tx, done) = mpsc::sync_channel(1);
        let (u, a) = (url.clone(), access.clone());
        let worker = thread::Builder::new()
            .name("etcd-journal".into())
            .spawn(move || {
                let opened = EtcdStore::open_with(&u, &a).and_then(|mut store| {
                    let ttl = LEASE_TTL.as_secs();
                    let lease = store
                        .etcd()
                        .lease_grant(ttl)
                        .map_err(|e| StoreError::Etcd {
                            run: u.to_string(),
                            source: e,
                        })?;
                    Ok(Worker {
                        store,
                        held: None,
                        lease,
                    })
                });
                let mut worker = match opened {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(w.lease));
                        w
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    job(&mut worker);
                }
                // The run is over for this process: let the next one take it at once.
                let lease = worker.lease;
                let _ = worker.store.etcd().lease_revoke(lease);
                let _ = done_tx.send(());
            })
            .map_err(|e| StoreError::Etcd {
                run: url.to_string(),
                source: client::EtcdError::Client(e.to_string()),
            })?;
        let lease = ready.recv().map_err(|_| StoreError::Etcd {
            run: url.to_string(),
            source: client::EtcdError::Client("the etcd worker stopped".into()),
        })??;
        Ok(SharedRun {
            url: url.clone(),
            access: access.clone(),
            jobs,
            lost: Arc::new(Lost::default()),
            stop: Arc::new(AtomicBool::new(false)),
            live: Arc::new(Mutex::new(None)),
            done,
            threads: vec![worker],
            lease,
            holder: None,
        })
    }

    pub fn url(&self) -> &RunUrl {
        &self.url
    }

    /// Run `f` on the worker thread, with its connection, and wait for its answer.
    pub fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |w| {
            let _ = tx.send(f(w));
        });
        let gone = || StoreError::Etcd {
            run: self.url.to_string(),
            source: client::EtcdError::Client("the etcd worker stopped".into()),
        };
        self.jobs.send(job).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    /// Become the run's executor: put `executor` on this lease unless another holds it.
    /// `Held` names the holder; `wait` keeps trying that long (a take-over waits for the
    /// dead executor's lease to end).
    pub fn campaign(&mut self, operator: &str, wait: Duration) -> Result<()> {
        let me = Holder::me(operator);
        let value = serde_json::to_vec(&me)?;
        let deadline = Instant::now() + wait;
        loop {
            let v = value.clone();
            let outcome = self.with(move |w| {
                let k = key(w.store.url(), "executor");
                // While waiting for another's lease to end, ours must not end first.
                let url = w.store.url().to_string();
                let etcd_err = |e| StoreError::Etcd {
                    run: url.clone(),
                    source: e,
                };
                if w.store.etcd().lease_keepalive(w.lease).map_err(etcd_err)? <= 0 {
                    w.lease = w
                        .store
                        .etcd()
                        .lease_grant(LEASE_TTL.as_secs())
                        .map_err(etcd_err)?;
                }
                let lease = w.lease;
                let r = w
                    .store
                    .etcd()
                    .txn(
                        &[Compare::Absent { key: k.clone() }],
                        &[Op::PutLeased {
                            key: k.clone(),
                            value: v.clone(),
                            lease,
                        }],
                        &[Op::Get { key: k }],
                    )
                    .map_err(|e| StoreError::Etcd {
                        run: w.store.url().to_string(),
                        source: e,
                    })?;
                if r.succeeded {
                    w.held = Some(v);
                    return Ok(Err(lease));
                }
                let other = r
                    .gets
                    .into_iter()
                    .next()
                    .and_then(|g| g.kvs.into_iter().next())
                    .map(|kv| kv.value)
                    .unwrap_or_default();
                // Our own earlier attempt that timed out but committed.
                if other == v {
                    w.held = Some(v);
                    return Ok(Err(lease));
                }
                Ok(Ok(serde_json::from_slice::<Holder>(&other).map_or_else(
                    |_| String::from_utf8_lossy(&other).into_owned(),
                    |h| h.to_string(),
                )))
            })?;
            // `Err(lease)`: held, on that lease; `Ok(holder)`: another holds it.
            match outcome {
                Err(lease) => {
                    self.lease = lease;
                    break;
                }
                Ok(holder) if Instant::now() >= deadline => {
                    return Err(StoreError::Held {
                        run: self.url.to_string(),
                        holder,
                    });
                }
                Ok(_) => thread::sleep(Duration::from_millis(250)),
            }
        }
        self.holder = Some(me);
        self.start_keepalive()?;
        Ok(())
    }

    /// Whoever holds the run now, if anyone.
    pub fn holder(url: &RunUrl, access: &Access) -> Result<Option<Holder>> {
        let (u, a) = (url.clone(), access.clone());
        on_thread(move || {
            let mut etcd = Etcd::connect_with(&u.endpoints, &a).map_err(|e| StoreError::Etcd {
                run: u.to_string(),
                source: e,
            })?;
            let r = etcd
                .range(&key(&u, "executor"), None, 0)
                .map_err(|e| StoreError::Etcd {
                    run: u.to_string(),
                    source: e,
                })?;
            Ok(r.kvs
                .into_iter()
                .next()
                .and_then(|kv| serde_json::from_slice(&kv.value).ok()))
        })
    }

    /// Renew the lease every 2 s on a thread of its own; a watchdog declares it lost when no
    /// renewal was answered for 8 s (or etcd says it has ended).
    fn start_keepalive(&mut self) -> Result<()> {
        let last_ok = Arc::new(Mutex::new(Instant::now()));
        let (url, access, lease) = (self.url.clone(), self.access.clone(), self.lease);
        let (stop, lost, renewed) = (self.stop.clone(), self.lost.clone(), last_ok.clone());
        let live = self.live.clone();
        let keepalive = thread::Builder::new()
            .name("etcd-lease".into())
            .spawn(move || {
                let Ok(mut etcd) = Etcd::connect_bounded(&url.endpoints, &access, RENEW_TIMEOUT)
                else {
                    lost.fire("cannot reach etcd to renew the run's lease");
                    return;
                };
                let mut next = Instant::now();
                let mut published: Option<Vec<u8>> = None;
                while !stop.load(Ordering::SeqCst) && !lost.gone.load(Ordering::SeqCst) {
                    if Instant::now() >= next {
                        let sent = Instant::now();
                        match etcd.lease_keepalive(lease) {
                            Ok(ttl) if ttl > 0 => {
                                *renewed
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner) = sent;
                            }
                            Ok(_) => lost.fire("etcd says the run's lease has ended"),
                            Err(e) => tracing::warn!("renewing the run's lease: {e}"),
                        }
                        next = sent + KEEPALIVE_EVERY;
                    }
                    let view = live
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone();
                    if view.is_some() && view != published {
                        let value = view.clone().unwrap_or_default();
                        let put = etcd.txn(
                            &[],
                            &[Op::PutLeased {
                                key: key(&url, "live"),
                                value,
                                lease,
                            }],
                            &[],
                        );
                        if put.is_ok() {
                            published = view;
                        }
                    }
                    thread::sleep(TICK);
                }
            })
            .map_err(|e| self.thread_err(&e))?;
        let (stop, lost) = (self.stop.clone(), self.lost.clone());
        let watchdog = thread::Builder::new()
            .name("etcd-watchdog".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) && !lost.gone.load(Ordering::SeqCst) {
                    let since = last_ok
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .elapsed();
                    if since >= LOST_AFTER {
                        lost.fire(&format!(
                            "no etcd member renewed the run's lease for {} s (its majority may be down)",
                            since.as_secs()
                        ));
                    }
                    thread::sleep(TICK);
                }
            })
            .map_err(|e| self.thread_err(&e))?;
        self.threads.push(keepalive);
        self.threads.push(watchdog);
        Ok(())
    }

    fn thread_err(&self, e: &std::io::Error) -> StoreError {
        StoreError::Etcd {
            run: self.url.to_string(),
            source: client::EtcdError::Client(e.to_string()),
        }
    }

    /// Whether the lease is (or may be) gone; why.
    pub fn lost(&self) -> Option<String> {
        self.lost
            .gone
            .load(Ordering::SeqCst)
            .then(|| {
                self.lost
                    .why
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
            })
            .flatten()
    }

    /// Call `hook(why)` once the lease is lost (at once if it already is), on another thread.
    pub fn on_lost(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        let mut hooks = self
            .lost
            .hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(why) = self.lost() {
            hook(&why);
        }
        hooks.push(Box::new(hook));
    }

    /// Commit events (and their side files) while holding the run. After the lease is
    /// lost nothing is sent: the answer is `NotHeld` at once. A commit that was waiting on
    /// etcd when the lease was declared lost is `NotHeld` too, though etcd may have taken
    /// it: nothing it records may be acted on (a `step_started` without its command is
    /// what the Resume rules find as a step in flight).
    pub fn commit(&self, lines: Vec<(u64, String)>, sides: Vec<(u64, Vec<u8>)>) -> Result<()> {
        let not_held = || StoreError::NotHeld {
            run: self.url.to_string(),
        };
        if self.lost().is_some() {
            return Err(not_held());
        }
        self.with(move |w| {
            let guard = w.guard();
            w.store.commit(&lines, &sides, &guard)
        })?;
        match self.lost() {
            Some(_) => Err(not_held()),
            None => Ok(()),
        }
    }

    /// The head as the worker's store knows it.
    pub fn head(&self) -> Result<(u64, String)> {
        self.with(|w| Ok((w.store.seq(), w.store.last_hash().to_string())))
    }

    /// Keep the runbook's text for attached operators (once per run).
    pub fn put_runbook(&self, text: String) -> Result<()> {
        self.with(move |w| {
            let k = key(w.store.url(), "runbook");
            let url = w.store.url().to_string();
            w.store
                .etcd()
                .txn(
                    &[Compare::Absent { key: k.clone() }],
                    &[Op::Put {
                        key: k,
                        value: text.into_bytes(),
                    }],
                    &[],
                )
                .map(|_| ())
                .map_err(|e| StoreError::Etcd {
                    run: url,
                    source: e,
                })
        })
    }

    /// Publish the executor's view of the run (`live`, gone with the lease); never waits.
    pub fn publish(&self, view: Vec<u8>) {
        *self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(view);
    }

    /// Look for attached operators' requests every 150 ms on a thread of its own, handing
    /// each to `deliver` once (in the order they were posted).
    pub fn serve_requests(&self, deliver: impl Fn(Incoming) + Send + 'static) -> Result<()> {
        let (url, access, stop) = (self.url.clone(), self.access.clone(), self.stop.clone());
        thread::Builder::new()
            .name("etcd-requests".into())
            .spawn(move || {
                let Ok(mut etcd) = Etcd::connect_with(&url.endpoints, &access) else {
                    tracing::error!("cannot reach etcd for attached operators' requests");
                    return;
                };
                let prefix = key(&url, "requests/");
                let end = client::prefix_end(&prefix);
                let mut seen = HashSet::new();
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(range) = etcd.range(&prefix, Some(&end), 0) {
                        for kv in range.kvs {
                            let id = String::from_utf8_lossy(&kv.key[prefix.len()..]).into_owned();
                            if !seen.insert(id.clone()) {
                                continue;
                            }
                            match serde_json::from_slice::<Posted>(&kv.value) {
                                Ok(posted) => deliver(Incoming { id, posted }),
                                Err(e) => tracing::warn!("request '{id}' is unreadable: {e}"),
                            }
                        }
                    }
                    thread::sleep(REQUEST_POLL);
                }
            })
            .map_err(|e| self.thread_err(&e))?;
        Ok(())
    }

    /// Say what became of a request, and take it off the queue.
    pub fn answer(&self, id: &str, answer: &Answer) -> Result<()> {
        let value = serde_json::to_vec(answer)?;
        let id = id.to_string();
        self.with(move |w| {
            let url = w.store.url().clone();
            w.store
                .etcd()
                .txn(
                    &[],
                    &[
                        Op::Put {
                            key: key(&url, &format!("answers/{id}")),
                            value,
                        },
                        Op::Delete {
                            key: key(&url, &format!("requests/{id}")),
                        },
                    ],
                    &[],
                )
                .map(|_| ())
                .map_err(|e| StoreError::Etcd {
                    run: url.to_string(),
                    source: e,
                })
        })
    }
}

impl Drop for SharedRun {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Closing the job channel ends the worker, which revokes the lease.
        let (dead, _) = mpsc::channel();
        self.jobs = dead;
        // Bounded: with etcd down the revoke cannot be answered, and the lease ends anyway.
        // The other threads stop by themselves and are not waited for.
        let _ = self.done.recv_timeout(REVOKE_WAIT);
        self.threads.clear();
    }
}

/// Run blocking etcd work on a thread of its own (never on an async runtime's thread).
pub fn on_thread<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    thread::spawn(f).join().unwrap_or_else(|_| {
        Err(StoreError::Etcd {
            run: String::new(),
            source: client::EtcdError::Client("an etcd thread panicked".into()),
        })
    })
}

/// Leave a request for the executor of `url` as `operator`; its id.
pub fn post_request(etcd: &mut Etcd, url: &RunUrl, posted: &Posted) -> Result<String> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = format!(
        "{:013}-{}-{}",
        Utc::now().timestamp_millis(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let value = serde_json::to_vec(posted)?;
    etcd.put(&key(url, &format!("requests/{id}")), &value)
        .map_err(|e| StoreError::Etcd {
            run: url.to_string(),
            source: e,
        })?;
    Ok(id)
}

/// Wait (at most `limit`) for the answer to request `id`.
pub fn await_answer(
    etcd: &mut Etcd,
    url: &RunUrl,
    id: &str,
    limit: Duration,
) -> Result<Option<Answer>> {
    let deadline = Instant::now() + limit;
    let k = key(url, &format!("answers/{id}"));
    loop {
        let r = etcd.range(&k, None, 0).map_err(|e| StoreError::Etcd {
            run: url.to_string(),
            source: e,
        })?;
        if let Some(kv) = r.kvs.into_iter().next() {
            return Ok(serde_json::from_slice(&kv.value).ok());
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The runbook text a shared run keeps, and the executor's published view, if any.
pub fn read_key(etcd: &mut Etcd, url: &RunUrl, name: &str) -> Result<Option<Vec<u8>>> {
    let r = etcd
        .range(&key(url, name), None, 0)
        .map_err(|e| StoreError::Etcd {
            run: url.to_string(),
            source: e,
        })?;
    Ok(r.kvs.into_iter().next().map(|kv| kv.value))
}
