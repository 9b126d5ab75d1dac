//! The executing process's hold on a shared run: the run's election key on a lease (TTL
//! 10 s, kept alive), the connection every commit goes through (one commit at a time, in
//! order), and the requests attached operators leave for it.
//!
//! Every etcd request of a shared run is made on a small tokio runtime of its own (one
//! thread, `etcd-io`): the keepalive, the watchdog, the publishing of `live` and the
//! polling of requests are tasks there, and commits are awaited there. Async callers await
//! (`*_async`); sync callers (the journal writer) wait through [`blocking_wait`], which on
//! a runtime's thread lets that runtime's other tasks go on. Nothing here blocks a thread
//! of the caller's runtime.
//!
//! Keys under `bringup/runs/NAME/`: `executor` (the holder, on the lease), `live` (the
//! executor's view of the services, on the lease), `runbook` (the runbook's text, for
//! attached operators), `requests/<id>` (what an attached operator asks) and `answers/<id>`
//! (what became of it).

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use super::{
    Access, Compare, Etcd, EtcdError, EtcdStore, Op, Result, RunUrl, StoreError, prefix_end,
};

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
    /// The request signed (SPEC "Who did it"): the executor takes the request from these
    /// bytes, not from `operator` and `ask`. Absent from older clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<crate::identity::SignedRequest>,
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

type LostHook = Box<dyn Fn(&str) + Send + Sync>;

/// What a commit comes to: `Ok` once etcd took it while the run was held.
pub type Committed = tokio::sync::oneshot::Receiver<Result<()>>;

/// One commit for the commit task: its lines, their side files, and who waits for it.
struct Job {
    lines: Vec<(u64, String)>,
    sides: Vec<(u64, Vec<u8>)>,
    done: tokio::sync::oneshot::Sender<Result<()>>,
}

/// The state every commit goes through: the store's connection and head, held behind an
/// async lock so that commits go to etcd one at a time, in the order they were made.
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
    /// The runtime every etcd request of this run is made on.
    io: Io,
    worker: Arc<AsyncMutex<Worker>>,
    /// Commits, to the task that makes them one at a time in the order they came.
    commits: tokio::sync::mpsc::UnboundedSender<Job>,
    lost: Arc<Lost>,
    /// Ends the keepalive, watchdog, publishing and requests tasks.
    stop: CancellationToken,
    /// The latest view to publish as `live`.
    live: Arc<Mutex<Option<Vec<u8>>>>,
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

fn etcd_err(url: &RunUrl) -> impl Fn(EtcdError) -> StoreError + '_ {
    move |source| StoreError::Etcd {
        run: url.to_string(),
        source,
    }
}

fn stopped(url: &RunUrl) -> StoreError {
    StoreError::Etcd {
        run: url.to_string(),
        source: EtcdError::Client("the etcd runtime stopped".into()),
    }
}

/// Wait for `f` from sync code. On a multi-threaded tokio runtime's thread the wait is
/// handed to `block_in_place`, so that the runtime moves its other tasks to another thread
/// and nothing else stalls; elsewhere it simply waits.
pub fn blocking_wait<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The runtime a shared run's etcd work runs on, on a thread of its own: renewals go on
/// while a caller's runtime is busy, and a sync caller waiting for a commit can never hold
/// up the commit itself.
struct Io {
    rt: Option<tokio::runtime::Runtime>,
}

impl Io {
    fn start() -> std::io::Result<Io> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("etcd-io")
            .enable_all()
            .build()?;
        Ok(Io { rt: Some(rt) })
    }

    fn spawn<F>(&self, fut: F) -> Option<tokio::task::JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.as_ref().map(|rt| rt.spawn(fut))
    }

    /// Run `fut` there and await its answer (`None`: the runtime is gone).
    async fn run<F>(&self, fut: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn(fut)?.await.ok()
    }

    /// Run `fut` there and wait for its answer from sync code ([`blocking_wait`]).
    fn wait<F>(&self, fut: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.spawn(async move {
            let _ = tx.send(fut.await);
        })?;
        blocking_wait(|| rx.recv().ok())
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // Never blocks (a runtime dropped inside another's task would panic); tasks still
        // running are dropped at their next await.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl SharedRun {
    /// Connect and take a lease; nothing is held yet. For sync callers ([`blocking_wait`]).
    pub fn connect(url: &RunUrl, access: &Access) -> Result<SharedRun> {
        let io = Io::start().map_err(|e| StoreError::Etcd {
            run: url.to_string(),
            source: EtcdError::Client(format!("cannot start the etcd runtime: {e}")),
        })?;
        let (u, a) = (url.clone(), access.clone());
        let worker = io.wait(open_worker(u, a)).ok_or_else(|| stopped(url))??;
        Ok(Self::with_worker(url, access, io, worker))
    }

    /// As [`SharedRun::connect`], awaited.
    pub async fn connect_async(url: &RunUrl, access: &Access) -> Result<SharedRun> {
        let io = Io::start().map_err(|e| StoreError::Etcd {
            run: url.to_string(),
            source: EtcdError::Client(format!("cannot start the etcd runtime: {e}")),
        })?;
        let (u, a) = (url.clone(), access.clone());
        let worker = io
            .run(open_worker(u, a))
            .await
            .ok_or_else(|| stopped(url))??;
        Ok(Self::with_worker(url, access, io, worker))
    }

    fn with_worker(url: &RunUrl, access: &Access, io: Io, worker: Worker) -> SharedRun {
        let lease = worker.lease;
        let worker = Arc::new(AsyncMutex::new(worker));
        let lost = Arc::new(Lost::default());
        let (commits, jobs) = tokio::sync::mpsc::unbounded_channel();
        io.spawn(commit_in_order(
            url.clone(),
            worker.clone(),
            lost.clone(),
            jobs,
        ));
        SharedRun {
            url: url.clone(),
            access: access.clone(),
            io,
            worker,
            commits,
            lost,
            stop: CancellationToken::new(),
            live: Arc::new(Mutex::new(None)),
            lease,
            holder: None,
        }
    }

    pub fn url(&self) -> &RunUrl {
        &self.url
    }

    /// Become the run's executor: put `executor` on this lease unless another holds it.
    /// `Held` names the holder; `wait` keeps trying that long (a take-over waits for the
    /// dead executor's lease to end). For sync callers ([`blocking_wait`]).
    pub fn campaign(&mut self, operator: &str, wait: Duration) -> Result<()> {
        let me = Holder::me(operator);
        let elect = elect(self.worker.clone(), serde_json::to_vec(&me)?, wait);
        let lease = self.io.wait(elect).ok_or_else(|| stopped(&self.url))??;
        self.held(me, lease);
        Ok(())
    }

    /// As [`SharedRun::campaign`], awaited.
    pub async fn campaign_async(&mut self, operator: &str, wait: Duration) -> Result<()> {
        let me = Holder::me(operator);
        let elect = elect(self.worker.clone(), serde_json::to_vec(&me)?, wait);
        let lease = self
            .io
            .run(elect)
            .await
            .ok_or_else(|| stopped(&self.url))??;
        self.held(me, lease);
        Ok(())
    }

    fn held(&mut self, me: Holder, lease: i64) {
        self.lease = lease;
        self.holder = Some(me);
        self.start_keepalive();
    }

    /// Whoever holds the run now, if anyone. For sync callers ([`blocking_wait`]).
    pub fn holder(url: &RunUrl, access: &Access) -> Result<Option<Holder>> {
        let (u, a) = (url.clone(), access.clone());
        on_thread(move || async move { Self::holder_async(&u, &a).await })
    }

    /// As [`SharedRun::holder`], awaited.
    pub async fn holder_async(url: &RunUrl, access: &Access) -> Result<Option<Holder>> {
        let mut etcd = Etcd::connect_with(&url.endpoints, access)
            .await
            .map_err(etcd_err(url))?;
        Ok(read_key(&mut etcd, url, "executor")
            .await?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Renew the lease every 2 s, in a task of its own; a watchdog task declares it lost
    /// when no renewal was answered for 8 s (or etcd says it has ended). A third task
    /// publishes the `live` view as it changes.
    fn start_keepalive(&mut self) {
        let renewed = Arc::new(Mutex::new(Instant::now()));
        let (url, access, lease) = (self.url.clone(), self.access.clone(), self.lease);
        let (stop, lost) = (self.stop.clone(), self.lost.clone());
        self.io.spawn(keepalive(
            url.clone(),
            access.clone(),
            lease,
            stop.clone(),
            lost.clone(),
            renewed.clone(),
        ));
        self.io.spawn(watchdog(stop.clone(), lost, renewed));
        self.io
            .spawn(publish(url, access, lease, stop, self.live.clone()));
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

    /// Call `hook(why)` once the lease is lost (at once if it already is), from the
    /// watchdog's task: it must not block.
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

    /// Commit events (and their side files) while holding the run, after the commits
    /// handed over before. After the lease is lost nothing is sent: the answer is `NotHeld`
    /// at once.
    pub async fn commit_async(
        &self,
        lines: Vec<(u64, String)>,
        sides: Vec<(u64, Vec<u8>)>,
    ) -> Result<()> {
        self.commit_later(lines, sides)
            .await
            .unwrap_or_else(|_| Err(stopped(&self.url)))
    }

    /// As [`SharedRun::commit_async`], for sync callers ([`blocking_wait`]: on a runtime's
    /// thread its other tasks go on while this waits).
    pub fn commit(&self, lines: Vec<(u64, String)>, sides: Vec<(u64, Vec<u8>)>) -> Result<()> {
        let committed = self.commit_later(lines, sides);
        self.io
            .wait(committed)
            .and_then(std::result::Result::ok)
            .unwrap_or_else(|| Err(stopped(&self.url)))
    }

    /// Hand a commit to the commit task and return at once: it goes to etcd after every
    /// commit handed over before it, and what it came to arrives on the receiver. A commit
    /// after one that failed is refused ([`StoreError::Gap`]): its lines follow lines etcd
    /// never took.
    pub fn commit_later(&self, lines: Vec<(u64, String)>, sides: Vec<(u64, Vec<u8>)>) -> Committed {
        let (done, committed) = tokio::sync::oneshot::channel();
        if self.lost().is_some() {
            let _ = done.send(Err(self.not_held()));
            return committed;
        }
        if let Err(refused) = self.commits.send(Job { lines, sides, done }) {
            let _ = refused.0.done.send(Err(stopped(&self.url)));
        }
        committed
    }

    fn not_held(&self) -> StoreError {
        StoreError::NotHeld {
            run: self.url.to_string(),
        }
    }

    /// The head as the store knows it (after the commits made so far). For sync callers.
    pub fn head(&self) -> Result<(u64, String)> {
        let worker = self.worker.clone();
        self.io
            .wait(async move {
                let w = worker.lock().await;
                (w.store.seq(), w.store.last_hash().to_string())
            })
            .ok_or_else(|| stopped(&self.url))
    }

    /// As [`SharedRun::head`], awaited.
    pub async fn head_async(&self) -> Result<(u64, String)> {
        let worker = self.worker.clone();
        self.io
            .run(async move {
                let w = worker.lock().await;
                (w.store.seq(), w.store.last_hash().to_string())
            })
            .await
            .ok_or_else(|| stopped(&self.url))
    }

    /// The whole run read back and verified, through the commits' connection.
    pub fn read_run(&self) -> Result<crate::journal::Journal> {
        let worker = self.worker.clone();
        self.io
            .wait(async move { super::read_run(&mut worker.lock().await.store).await })
            .ok_or_else(|| stopped(&self.url))?
    }

    /// Keep the runbook's text for attached operators (once per run). For sync callers.
    pub fn put_runbook(&self, text: String) -> Result<()> {
        let worker = self.worker.clone();
        self.io
            .wait(async move {
                let mut w = worker.lock().await;
                let url = w.store.url().clone();
                let k = key(&url, "runbook");
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
                    .await
                    .map(|_| ())
                    .map_err(etcd_err(&url))
            })
            .ok_or_else(|| stopped(&self.url))?
    }

    /// Publish the executor's view of the run (`live`, gone with the lease); never waits.
    pub fn publish(&self, view: Vec<u8>) {
        *self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(view);
    }

    /// Look for attached operators' requests every 150 ms in a task of its own, sending
    /// each (made into a `T` by `wrap`) to `tx` once, in the order they were posted.
    pub fn serve_requests<T: Send + 'static>(
        &self,
        tx: tokio::sync::mpsc::Sender<T>,
        wrap: impl Fn(Incoming) -> T + Send + 'static,
    ) {
        let (url, access, stop) = (self.url.clone(), self.access.clone(), self.stop.clone());
        self.io.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = serve(url, access, tx, wrap) => {}
            }
        });
    }

    /// Say what became of a request, and take it off the queue; never waits (the answer
    /// goes out after the commits already made).
    pub fn answer(&self, id: &str, answer: &Answer) -> Result<()> {
        let value = serde_json::to_vec(answer)?;
        let id = id.to_string();
        let worker = self.worker.clone();
        self.io.spawn(async move {
            let mut w = worker.lock().await;
            let url = w.store.url().clone();
            let done = w
                .store
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
                .await;
            if let Err(e) = done {
                tracing::warn!("answering request {id}: {e}");
            }
        });
        Ok(())
    }
}

impl Drop for SharedRun {
    fn drop(&mut self) {
        self.stop.cancel();
        // The run is over for this process: let the next one take it at once, after the
        // commits already made. Bounded: with etcd down the revoke cannot be answered, and
        // the lease ends anyway.
        let worker = self.worker.clone();
        // After every commit handed over (an empty one queued last says when).
        let flushed = self.commit_later(Vec::new(), Vec::new());
        let revoke = async move {
            let _ = flushed.await;
            let mut w = worker.lock().await;
            let lease = w.lease;
            let _ = w.store.etcd().lease_revoke(lease).await;
        };
        let _ = self
            .io
            .wait(async move { tokio::time::timeout(REVOKE_WAIT, revoke).await });
    }
}

/// Connect, read the run's head and take a lease.
async fn open_worker(url: RunUrl, access: Access) -> Result<Worker> {
    let mut store = EtcdStore::open_with(&url, &access).await?;
    let lease = store
        .etcd()
        .lease_grant(LEASE_TTL.as_secs())
        .await
        .map_err(etcd_err(&url))?;
    Ok(Worker {
        store,
        held: None,
        lease,
    })
}

/// Put `executor` (holding `value`) on the worker's lease unless another holds it, trying
/// for `wait`; the lease it is held on.
async fn elect(worker: Arc<AsyncMutex<Worker>>, value: Vec<u8>, wait: Duration) -> Result<i64> {
    let deadline = Instant::now() + wait;
    loop {
        let holder = {
            let mut guard = worker.lock().await;
            let w = &mut *guard;
            let url = w.store.url().clone();
            let k = key(&url, "executor");
            // While waiting for another's lease to end, ours must not end first.
            if w.store
                .etcd()
                .lease_keepalive(w.lease)
                .await
                .map_err(etcd_err(&url))?
                <= 0
            {
                w.lease = w
                    .store
                    .etcd()
                    .lease_grant(LEASE_TTL.as_secs())
                    .await
                    .map_err(etcd_err(&url))?;
            }
            let lease = w.lease;
            let r = w
                .store
                .etcd()
                .txn(
                    &[Compare::Absent { key: k.clone() }],
                    &[Op::PutLeased {
                        key: k.clone(),
                        value: value.clone(),
                        lease,
                    }],
                    &[Op::Get { key: k }],
                )
                .await
                .map_err(etcd_err(&url))?;
            let other = r
                .gets
                .into_iter()
                .next()
                .and_then(|g| g.kvs.into_iter().next())
                .map(|kv| kv.value)
                .unwrap_or_default();
            // Held now, or by our own earlier attempt that timed out but committed.
            if r.succeeded || other == value {
                w.held = Some(value);
                return Ok(lease);
            }
            serde_json::from_slice::<Holder>(&other).map_or_else(
                |_| String::from_utf8_lossy(&other).into_owned(),
                |h| h.to_string(),
            )
        };
        if Instant::now() >= deadline {
            let run = worker.lock().await.store.url().to_string();
            return Err(StoreError::Held { run, holder });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Make each commit handed over, one at a time, in order. A commit that was waiting on
/// etcd when the lease was declared lost is `NotHeld` though etcd may have taken it: nothing
/// it records may be acted on (a `step_started` without its command is what the Resume
/// rules find as a step in flight). After the lease is lost nothing more is sent.
async fn commit_in_order(
    url: RunUrl,
    worker: Arc<AsyncMutex<Worker>>,
    lost: Arc<Lost>,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<Job>,
) {
    let not_held = || StoreError::NotHeld {
        run: url.to_string(),
    };
    while let Some(job) = jobs.recv().await {
        let result = if lost.gone.load(Ordering::SeqCst) {
            Err(not_held())
        } else {
            let mut w = worker.lock().await;
            let guard = w.guard();
            let made = w.store.commit(&job.lines, &job.sides, &guard).await;
            match made {
                Ok(()) if lost.gone.load(Ordering::SeqCst) => Err(not_held()),
                other => other,
            }
        };
        let _ = job.done.send(result);
    }
}

/// Renew the lease every [`KEEPALIVE_EVERY`] on a connection of its own, each renewal left
/// for the next member after [`RENEW_TIMEOUT`].
async fn keepalive(
    url: RunUrl,
    access: Access,
    lease: i64,
    stop: CancellationToken,
    lost: Arc<Lost>,
    renewed: Arc<Mutex<Instant>>,
) {
    let Ok(mut etcd) = Etcd::connect_bounded(&url.endpoints, &access, RENEW_TIMEOUT).await else {
        lost.fire("cannot reach etcd to renew the run's lease");
        return;
    };
    let mut every = tokio::time::interval(KEEPALIVE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !lost.gone.load(Ordering::SeqCst) {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let sent = Instant::now();
        match etcd.lease_keepalive(lease).await {
            Ok(ttl) if ttl > 0 => {
                *renewed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = sent;
            }
            Ok(_) => lost.fire("etcd says the run's lease has ended"),
            Err(e) => tracing::warn!("renewing the run's lease: {e}"),
        }
    }
}

/// Declare the lease lost once no renewal was answered for [`LOST_AFTER`].
async fn watchdog(stop: CancellationToken, lost: Arc<Lost>, renewed: Arc<Mutex<Instant>>) {
    while !lost.gone.load(Ordering::SeqCst) {
        let since = renewed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed();
        if since >= LOST_AFTER {
            lost.fire(&format!(
                "no etcd member renewed the run's lease for {} s (its majority may be down)",
                since.as_secs()
            ));
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Put the latest `live` view on the lease whenever it changed, on a connection of its own.
async fn publish(
    url: RunUrl,
    access: Access,
    lease: i64,
    stop: CancellationToken,
    live: Arc<Mutex<Option<Vec<u8>>>>,
) {
    let Ok(mut etcd) = Etcd::connect_bounded(&url.endpoints, &access, RENEW_TIMEOUT).await else {
        tracing::error!("cannot reach etcd to publish the run's view");
        return;
    };
    let mut published: Option<Vec<u8>> = None;
    loop {
        let view = live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if view.is_some() && view != published {
            let put = etcd
                .txn(
                    &[],
                    &[Op::PutLeased {
                        key: key(&url, "live"),
                        value: view.clone().unwrap_or_default(),
                        lease,
                    }],
                    &[],
                )
                .await;
            if put.is_ok() {
                published = view;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Poll the run's `requests/` every [`REQUEST_POLL`], sending each new one once.
async fn serve<T>(
    url: RunUrl,
    access: Access,
    tx: tokio::sync::mpsc::Sender<T>,
    wrap: impl Fn(Incoming) -> T,
) {
    let Ok(mut etcd) = Etcd::connect_with(&url.endpoints, &access).await else {
        tracing::error!("cannot reach etcd for attached operators' requests");
        return;
    };
    let prefix = key(&url, "requests/");
    let end = prefix_end(&prefix);
    let mut seen = HashSet::new();
    loop {
        if let Ok(range) = etcd.range(&prefix, Some(&end), 0).await {
            for kv in range.kvs {
                let id = String::from_utf8_lossy(&kv.key[prefix.len()..]).into_owned();
                if !seen.insert(id.clone()) {
                    continue;
                }
                match serde_json::from_slice::<Posted>(&kv.value) {
                    Ok(posted) => {
                        if tx.send(wrap(Incoming { id, posted })).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!("request '{id}' is unreadable: {e}"),
                }
            }
        }
        tokio::time::sleep(REQUEST_POLL).await;
    }
}

/// Run async etcd work from sync code on a thread of its own, with a small runtime of its
/// own, and wait for it ([`blocking_wait`]): for one-shot reads outside a shared run.
pub fn on_thread<T, F>(f: impl FnOnce() -> F + Send + 'static) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>>,
{
    let failed = |why: String| StoreError::Etcd {
        run: String::new(),
        source: EtcdError::Client(why),
    };
    let thread = thread::Builder::new()
        .name("etcd-once".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| failed(format!("cannot start the etcd runtime: {e}")))?;
            rt.block_on(f())
        })
        .map_err(|e| failed(e.to_string()))?;
    blocking_wait(|| thread.join())
        .unwrap_or_else(|_| Err(failed("an etcd thread panicked".to_string())))
}

/// Leave a request for the executor of `url` as `operator`; its id.
pub async fn post_request(etcd: &mut Etcd, url: &RunUrl, posted: &Posted) -> Result<String> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = format!(
        "{:013}-{}-{}",
        Utc::now().timestamp_millis(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let value = serde_json::to_vec(posted)?;
    etcd.put(&key(url, &format!("requests/{id}")), &value)
        .await
        .map_err(etcd_err(url))?;
    Ok(id)
}

/// Wait (at most `limit`) for the answer to request `id`.
pub async fn await_answer(
    etcd: &mut Etcd,
    url: &RunUrl,
    id: &str,
    limit: Duration,
) -> Result<Option<Answer>> {
    let deadline = Instant::now() + limit;
    let k = key(url, &format!("answers/{id}"));
    loop {
        let r = etcd.range(&k, None, 0).await.map_err(etcd_err(url))?;
        if let Some(kv) = r.kvs.into_iter().next() {
            return Ok(serde_json::from_slice(&kv.value).ok());
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The runbook text a shared run keeps, and the executor's published view, if any.
pub async fn read_key(etcd: &mut Etcd, url: &RunUrl, name: &str) -> Result<Option<Vec<u8>>> {
    let r = etcd
        .range(&key(url, name), None, 0)
        .await
        .map_err(etcd_err(url))?;
    Ok(r.kvs.into_iter().next().map(|kv| kv.value))
}
