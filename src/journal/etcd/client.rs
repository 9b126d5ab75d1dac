//! A small etcd v3 client over its JSON gRPC gateway (`POST /v3/kv/range`, `/v3/kv/txn`, …):
//! keys and values base64 in JSON, one endpoint at a time, the next one tried when a member
//! does not answer. Knows nothing of journals. Blocking: it must not be called from inside a
//! tokio runtime.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long to wait for a member to accept a connection before trying the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one request may take (a member cut off from its quorum hangs until this).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

/// How long to keep asking while members answer that they have no leader (an election
/// after a member was lost takes a second or two).
const ELECTION_WAIT: Duration = Duration::from_secs(10);
/// Pause between rounds over the members while they elect.
const ROUND_PAUSE: Duration = Duration::from_millis(200);

/// gRPC codes after which another member may do better: unavailable, deadline exceeded.
const RETRY_CODES: [i64; 2] = [14, 4];
/// gRPC code etcd answers with when a request's token is missing, invalid or expired.
const UNAUTHENTICATED: i64 = 16;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error(
        "no etcd member answered ({tried}); check the HOST:PORT list and that etcd listens there for clients"
    )]
    Unreachable { tried: String },
    #[error("etcd at '{endpoint}' refused {path}: {message}")]
    Refused {
        endpoint: String,
        path: String,
        message: String,
    },
    #[error(
        "etcd at '{endpoint}' answered {path} with something unreadable ({reason}); is it etcd 3.4 or later?"
    )]
    BadAnswer {
        endpoint: String,
        path: String,
        reason: String,
    },
    #[error("cannot start an HTTP client for etcd: {0}")]
    Client(String),
    #[error(
        "cannot use '{path}' as the etcd {what}: {reason}; give a PEM file (-----BEGIN …-----)"
    )]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "--etcd-user '{user}' needs its password in the environment variable ETCD_PASSWORD (it is never read from the command line); set ETCD_PASSWORD and run again"
    )]
    NoPassword { user: String },
    #[error(
        "etcd at '{endpoint}' did not accept user '{user}': {message}; check --etcd-user (or ETCD_USER) and ETCD_PASSWORD"
    )]
    Auth {
        endpoint: String,
        user: String,
        message: String,
    },
    #[error(
        "etcd at '{endpoint}' asks who you are ({message}); pass --etcd-user NAME (or set ETCD_USER) with its password in ETCD_PASSWORD"
    )]
    NeedsUser { endpoint: String, message: String },
    #[error(
        "no etcd member answered plain HTTP ({tried}); if the members use TLS, pass --etcd-ca FILE (the CA that signed their certificates, and --etcd-cert/--etcd-key if they ask for a client certificate)"
    )]
    UnreachablePlain { tried: String },
    #[error(
        "etcd at '{endpoint}' cannot watch from revision {revision}: it was compacted (the oldest revision kept is {compacted}); read the current state and watch from there"
    )]
    Compacted {
        endpoint: String,
        revision: i64,
        compacted: i64,
    },
}

pub type Result<T, E = EtcdError> = std::result::Result<T, E>;

/// One key and its value as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub mod_revision: i64,
}

/// What a range read found: the keys (in key order) and whether more lie beyond the limit.
#[derive(Debug, Clone, Default)]
pub struct Range {
    pub kvs: Vec<Kv>,
    pub more: bool,
    /// The store's revision the read saw (0 inside a transaction's answer).
    pub revision: i64,
}

/// A condition of a transaction.
#[derive(Debug, Clone)]
pub enum Compare {
    /// The key holds exactly this value.
    Value { key: Vec<u8>, value: Vec<u8> },
    /// The key was last written at this revision.
    ModRevision { key: Vec<u8>, revision: i64 },
    /// The key does not exist.
    Absent { key: Vec<u8> },
}

/// An operation inside a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// A put whose key lives only as long as the lease.
    PutLeased {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: i64,
    },
    Get {
        key: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
}

/// A transaction's outcome: whether its compares held, and what its `Get`s read (one
/// [`Range`] per `Get`, in order, of the branch that ran).
#[derive(Debug, Clone, Default)]
pub struct TxnResult {
    pub succeeded: bool,
    pub gets: Vec<Range>,
}

/// What a watched key went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    Put,
    Delete,
}

/// One change seen by a watch: for a delete, `kv` holds the key (no value) and the
/// revision of the delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: WatchKind,
    pub kv: Kv,
}

/// The changes of one watch response, in revision order, and the store's revision then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchBatch {
    pub events: Vec<WatchEvent>,
    pub revision: i64,
}

/// How long a watch keeps trying members when none of them serves it.
const WATCH_GIVE_UP: Duration = Duration::from_secs(10);
/// A watch stream silent this long is opened again (from the revision after the last change
/// seen): a member that hangs, or a network path that drops packets without closing the
/// connection, never answers, and would otherwise hold the watch for good.
pub const WATCH_SILENCE: Duration = Duration::from_secs(20);

/// How one watch stream ended.
enum Flow {
    /// The caller said stop.
    Stopped,
    /// The stream broke (`created`: after the member had taken the watch).
    Broken { why: String, created: bool },
}

/// A connection to an etcd cluster through the first member that answers.
#[derive(Debug)]
pub struct Etcd {
    http: reqwest::blocking::Client,
    /// `http://HOST:PORT` (or `https://` with a CA) each.
    endpoints: Vec<String>,
    /// The member used until it fails.
    current: usize,
    /// How to speak TLS, kept to build the watch's own client.
    tls: Tls,
    /// The user to authenticate as, if etcd's authentication is on.
    auth: Option<Credentials>,
    /// The token etcd gave for `auth`, sent as `Authorization` with every request; renewed
    /// once when etcd says it expired.
    token: Mutex<Option<String>>,
    /// A watch stream silent this long is opened again ([`WATCH_SILENCE`]).
    watch_silence: Duration,
}

/// TLS settings from `--etcd-ca`, `--etcd-cert`, `--etcd-key`.
#[derive(Debug, Clone, Default)]
struct Tls {
    /// The only roots trusted (none built in) when a CA was given.
    roots: Option<Vec<reqwest::Certificate>>,
    identity: Option<reqwest::Identity>,
}

impl Tls {
    fn load(access: &super::Access) -> Result<Tls> {
        let roots = match &access.ca {
            Some(ca) => Some(read_certs("CA certificate", ca)?),
            None => None,
        };
        let identity = match (&access.cert, &access.key) {
            (Some(cert), Some(key)) => {
                read_certs("client certificate", cert)?;
                let mut pem = read_pem("client certificate", cert)?;
                let key_pem = read_pem("client key", key)?;
                if !String::from_utf8_lossy(&key_pem).contains("PRIVATE KEY-----") {
                    return Err(pem_error("client key", key, "it holds no PEM private key"));
                }
                pem.push(b'\n');
                pem.extend_from_slice(&key_pem);
                Some(reqwest::Identity::from_pem(&pem).map_err(|e| {
                    pem_error(
                        "client key",
                        key,
                        &format!("it does not go with '{}': {e}", cert.display()),
                    )
                })?)
            }
            (Some(path), None) | (None, Some(path)) => {
                return Err(pem_error(
                    "client certificate",
                    path,
                    "--etcd-cert and --etcd-key go together",
                ));
            }
            (None, None) => None,
        };
        Ok(Tls { roots, identity })
    }

    /// An HTTP client speaking TLS as set; `timeout` bounds the wait for an answer and
    /// each read of its body.
    fn client(&self, timeout: Duration) -> Result<reqwest::blocking::Client> {
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("bringup/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout);
        if let Some(roots) = &self.roots {
            builder = builder.tls_certs_only(roots.iter().cloned());
        }
        if let Some(identity) = &self.identity {
            builder = builder.identity(identity.clone());
        }
        builder
            .build()
            .map_err(|e| EtcdError::Client(transport_reason(e)))
    }
}

/// A user and its password (never shown).
#[derive(Clone)]
struct Credentials {
    user: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ user: {:?}, password: *** }}", self.user)
    }
}

fn pem_error(what: &'static str, path: &Path, reason: &str) -> EtcdError {
    EtcdError::Pem {
        what,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| pem_error(what, path, &format!("cannot read it: {e}")))
}

/// The certificates of a PEM file: at least one, each well formed.
fn read_certs(what: &'static str, path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = read_pem(what, path)?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| pem_error(what, path, &format!("it is not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(pem_error(what, path, "it holds no PEM certificate"));
    }
    Ok(certs)
}

impl Etcd {
    /// Connect to the first of `endpoints` (`HOST:PORT` or `http://HOST:PORT`) that answers a
    /// status request.
    pub fn connect(endpoints: &[String]) -> Result<Etcd> {
        Self::connect_with(endpoints, &super::Access::default())
    }

    /// As [`Etcd::connect`], reaching etcd as `access` says (TLS, authentication).
    /// With a CA, endpoints given as `HOST:PORT` are reached over `https://`, trusting that
    /// CA only; with a user, every request carries the token etcd gives for it.
    pub fn connect_with(endpoints: &[String], access: &super::Access) -> Result<Etcd> {
        Self::connect_bounded(endpoints, access, REQUEST_TIMEOUT)
    }

    /// As [`Etcd::connect_with`], each request given up on a member after `timeout` (and
    /// sent to the next): short for small requests that must get through in time, like a
    /// lease's renewal past a member that hangs.
    pub fn connect_bounded(
        endpoints: &[String],
        access: &super::Access,
        timeout: Duration,
    ) -> Result<Etcd> {
        let auth = match (&access.user, &access.password) {
            (Some(user), Some(password)) => Some(Credentials {
                user: user.clone(),
                password: password.clone(),
            }),
            (Some(user), None) => return Err(EtcdError::NoPassword { user: user.clone() }),
            (None, _) => None,
        };
        let tls = Tls::load(access)?;
        let http = tls.client(timeout)?;
        let scheme = if tls.roots.is_some() { "https" } else { "http" };
        let mut etcd = Etcd {
            http,
            endpoints: endpoints
                .iter()
                .map(|e| {
                    if e.starts_with("http://") || e.starts_with("https://") {
                        e.clone()
                    } else {
                        format!("{scheme}://{e}")
                    }
                })
                .collect(),
            current: 0,
            tls,
            auth,
            token: Mutex::new(None),
            watch_silence: WATCH_SILENCE,
        };
        if etcd.endpoints.is_empty() {
            return Err(EtcdError::Unreachable {
                tried: "no endpoint given".to_string(),
            });
        }
        let plain = etcd.endpoints.iter().all(|e| e.starts_with("http://"));
        match etcd.call("/v3/maintenance/status", &json!({})) {
            // A TLS member drops a plain HTTP request without a word: say what may be missing.
            Err(EtcdError::Unreachable { tried }) if plain => {
                Err(EtcdError::UnreachablePlain { tried })
            }
            Err(e) => Err(e),
            Ok(_) => Ok(etcd),
        }
    }

    /// The member in use, as `http://HOST:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[self.current]
    }

    /// Keys from `key` up to `end` (exclusive; `None`: `key` alone), at most `limit` of them
    /// (0: no limit). Linearizable: what a majority has committed.
    pub fn range(&mut self, key: &[u8], end: Option<&[u8]>, limit: u64) -> Result<Range> {
        self.range_at(key, end, limit, 0)
    }

    /// As [`Etcd::range`], as the store was at `revision` (0: now), so that several pages
    /// read one consistent state.
    pub fn range_at(
        &mut self,
        key: &[u8],
        end: Option<&[u8]>,
        limit: u64,
        revision: i64,
    ) -> Result<Range> {
        let mut req = json!({ "key": B64.encode(key) });
        if revision > 0 {
            req["revision"] = json!(revision.to_string());
        }
        if let Some(end) = end {
            req["range_end"] = json!(B64.encode(end));
        }
        if limit > 0 {
            req["limit"] = json!(limit.to_string());
        }
        let path = "/v3/kv/range";
        let answer = self.call(path, &req)?;
        self.parse_range(path, answer)
    }

    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.call(
            "/v3/kv/put",
            &json!({ "key": B64.encode(key), "value": B64.encode(value) }),
        )
        .map(|_| ())
    }

    /// If every compare holds, run `success`, else `failure`: atomically.
    pub fn txn(
        &mut self,
        compare: &[Compare],
        success: &[Op],
        failure: &[Op],
    ) -> Result<TxnResult> {
        let req = json!({
            "compare": compare.iter().map(compare_json).collect::<Vec<_>>(),
            "success": success.iter().map(op_json).collect::<Vec<_>>(),
            "failure": failure.iter().map(op_json).collect::<Vec<_>>(),
        });
        let path = "/v3/kv/txn";
        let answer = self.call(path, &req)?;
        let answer: TxnAnswer = self.decode(path, answer)?;
        let mut gets = Vec::new();
        for r in answer.responses {
            if let Some(range) = r.response_range {
                gets.push(self.parse_range(path, range)?);
            }
        }
        Ok(TxnResult {
            succeeded: answer.succeeded,
            gets,
        })
    }

    /// A new lease of `ttl` seconds; its id.
    pub fn lease_grant(&mut self, ttl: u64) -> Result<i64> {
        let path = "/v3/lease/grant";
        let answer = self.call(path, &json!({ "TTL": ttl.to_string() }))?;
        answer
            .get("ID")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| self.bad(path, "no lease ID in the answer".to_string()))
    }

    /// Renew a lease; the seconds it has left (0: it has expired and is gone).
    pub fn lease_keepalive(&mut self, lease: i64) -> Result<i64> {
        let path = "/v3/lease/keepalive";
        let answer = self.call(path, &json!({ "ID": lease.to_string() }))?;
        Ok(answer
            .get("result")
            .and_then(|r| r.get("TTL"))
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0))
    }

    /// End a lease now: the keys put under it are deleted.
    pub fn lease_revoke(&mut self, lease: i64) -> Result<()> {
        self.call("/v3/lease/revoke", &json!({ "ID": lease.to_string() }))
            .map(|_| ())
    }

    /// Delete `key` alone.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.call("/v3/kv/deleterange", &json!({ "key": B64.encode(key) }))
            .map(|_| ())
    }

    fn parse_range(&self, path: &str, answer: Value) -> Result<Range> {
        let answer: RangeAnswer = self.decode(path, answer)?;
        let mut kvs = Vec::with_capacity(answer.kvs.len());
        for kv in answer.kvs {
            let bad = |e: base64::DecodeError| self.bad(path, format!("bad base64: {e}"));
            kvs.push(Kv {
                key: B64.decode(kv.key).map_err(bad)?,
                value: B64.decode(kv.value).map_err(bad)?,
                mod_revision: kv.mod_revision.parse().unwrap_or_default(),
            });
        }
        Ok(Range {
            kvs,
            more: answer.more,
            revision: answer
                .header
                .and_then(|h| h.revision.parse().ok())
                .unwrap_or_default(),
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, path: &str, answer: Value) -> Result<T> {
        serde_json::from_value(answer).map_err(|e| self.bad(path, e.to_string()))
    }

    fn bad(&self, path: &str, reason: String) -> EtcdError {
        EtcdError::BadAnswer {
            endpoint: self.endpoint().to_string(),
            path: path.to_string(),
            reason,
        }
    }

    /// POST `body` to `path` on the current member; on no answer (or one saying it cannot
    /// serve), on each other member in turn, staying with the first that answers.
    fn call(&mut self, path: &str, body: &Value) -> Result<Value> {
        let body = serde_json::to_vec(body).map_err(|e| EtcdError::Client(e.to_string()))?;
        let deadline = Instant::now() + ELECTION_WAIT;
        loop {
            let mut tried = Vec::new();
            let mut electing = false;
            for i in 0..self.endpoints.len() {
                let at = (self.current + i) % self.endpoints.len();
                let endpoint = &self.endpoints[at];
                match self.post(endpoint, path, &body) {
                    Ok(value) => {
                        self.current = at;
                        return Ok(value);
                    }
                    Err(Attempt::Retry { why, answered }) => {
                        tracing::debug!("etcd at '{endpoint}': {why}; trying the next member");
                        electing |= answered;
                        tried.push(format!("'{endpoint}': {why}"));
                    }
                    Err(Attempt::Fail(e)) => {
                        self.current = at;
                        return Err(e);
                    }
                }
            }
            // A member that answers "unavailable" is in a cluster choosing a leader: worth
            // waiting for. Members that do not answer at all are not.
            if !electing || Instant::now() >= deadline {
                return Err(EtcdError::Unreachable {
                    tried: tried.join("; "),
                });
            }
            std::thread::sleep(ROUND_PAUSE);
        }
    }

    /// POST to one member, authenticating first when a user is set and no token is held,
    /// and once more when etcd says the token expired.
    fn post(&self, endpoint: &str, path: &str, body: &[u8]) -> Result<Value, Attempt> {
        if self.auth.is_some() && self.current_token().is_none() {
            self.authenticate(endpoint)?;
        }
        match self.post_once(endpoint, path, body, true) {
            Err(Attempt::Fail(EtcdError::NeedsUser { .. })) if self.auth.is_some() => {
                tracing::debug!("etcd at '{endpoint}': the auth token expired; renewing it");
                self.authenticate(endpoint)?;
                self.post_once(endpoint, path, body, true)
                    .map_err(|a| match (a, &self.auth) {
                        (Attempt::Fail(EtcdError::NeedsUser { message, .. }), Some(auth)) => {
                            Attempt::Fail(EtcdError::Auth {
                                endpoint: endpoint.to_string(),
                                user: auth.user.clone(),
                                message,
                            })
                        }
                        (other, _) => other,
                    })
            }
            other => other,
        }
    }

    fn post_once(
        &self,
        endpoint: &str,
        path: &str,
        body: &[u8],
        with_token: bool,
    ) -> Result<Value, Attempt> {
        let mut request = self
            .http
            .post(format!("{endpoint}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if with_token && let Some(token) = self.current_token() {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let resp = request
            .body(body.to_vec())
            .send()
            .map_err(|e| Attempt::Retry {
                why: transport_reason(e),
                answered: false,
            })?;
        let status = resp.status();
        let bytes = resp.bytes().map_err(|e| Attempt::Retry {
            why: transport_reason(e),
            answered: false,
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            if status.is_server_error() {
                Attempt::Retry {
                    why: format!("HTTP {status}"),
                    answered: true,
                }
            } else {
                Attempt::Fail(EtcdError::BadAnswer {
                    endpoint: endpoint.to_string(),
                    path: path.to_string(),
                    reason: format!("HTTP {status}, not JSON: {e}"),
                })
            }
        })?;
        if let Some(code) = value.get("code").and_then(Value::as_i64) {
            let message = value
                .get("message")
                .or_else(|| value.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_string();
            if RETRY_CODES.contains(&code) {
                return Err(Attempt::Retry {
                    why: message,
                    answered: true,
                });
            }
            if code == UNAUTHENTICATED || message.contains("user name is empty") {
                return Err(Attempt::Fail(EtcdError::NeedsUser {
                    endpoint: endpoint.to_string(),
                    message,
                }));
            }
            return Err(Attempt::Fail(EtcdError::Refused {
                endpoint: endpoint.to_string(),
                path: path.to_string(),
                message,
            }));
        }
        if !status.is_success() {
            return Err(if status.is_server_error() {
                Attempt::Retry {
                    why: format!("HTTP {status}"),
                    answered: true,
                }
            } else {
                Attempt::Fail(EtcdError::Refused {
                    endpoint: endpoint.to_string(),
                    path: path.to_string(),
                    message: format!("HTTP {status}"),
                })
            });
        }
        Ok(value)
    }

    /// Open a watch stream again once it has been silent for `silence` (default
    /// [`WATCH_SILENCE`]).
    pub fn set_watch_silence(&mut self, silence: Duration) {
        self.watch_silence = silence;
    }

    /// Watch keys from `key` up to `range_end` (exclusive; `None`: `key` alone) from
    /// `start_revision` on (0: changes after now), over the gateway's streaming
    /// `/v3/watch`; `on` sees each batch of changes in order and returns `false` to stop
    /// (it is called only when something changed). On its own HTTP client with no bound
    /// on the whole request (the stream lives long). When the stream breaks, it is opened
    /// again on the next member from the revision after the last change seen; after the
    /// members all failed for 10 s, [`EtcdError::Unreachable`]. A start revision etcd has
    /// compacted away is [`EtcdError::Compacted`]. A stream silent for [`WATCH_SILENCE`] is
    /// opened again the same way, so a hung member or a silent network path costs at most
    /// that long.
    pub fn watch(
        &self,
        key: &[u8],
        range_end: Option<&[u8]>,
        start_revision: i64,
        mut on: impl FnMut(WatchBatch) -> bool,
    ) -> Result<()> {
        // Bounds each read of the stream (and the wait for its first answer), not its life.
        let http = self.tls.client(self.watch_silence)?;
        let mut next = start_revision.max(0);
        let mut at = self.current;
        let mut failing_since: Option<Instant> = None;
        let mut tried: Vec<String> = Vec::new();
        loop {
            let endpoint = &self.endpoints[at];
            let (why, created) =
                match self.watch_once(&http, endpoint, key, range_end, &mut next, &mut on) {
                    Ok(Flow::Stopped) => return Ok(()),
                    Ok(Flow::Broken { why, created }) => (why, created),
                    Err(Attempt::Retry { why, .. }) => (why, false),
                    Err(Attempt::Fail(e)) => return Err(e),
                };
            tracing::debug!("etcd watch at '{endpoint}': {why}; going on with the next member");
            if created {
                failing_since = None;
                tried.clear();
            }
            let since = *failing_since.get_or_insert_with(Instant::now);
            tried.push(format!("'{endpoint}': {why}"));
            if since.elapsed() >= WATCH_GIVE_UP {
                // The last failure of each member says enough.
                let n = self.endpoints.len();
                let from = tried.len().saturating_sub(n);
                return Err(EtcdError::Unreachable {
                    tried: tried[from..].join("; "),
                });
            }
            at = (at + 1) % self.endpoints.len();
            if tried.len().is_multiple_of(self.endpoints.len()) {
                std::thread::sleep(ROUND_PAUSE);
            }
        }
    }

    /// One watch stream on `endpoint` from `next`, which it moves past each change seen.
    fn watch_once(
        &self,
        http: &reqwest::blocking::Client,
        endpoint: &str,
        key: &[u8],
        range_end: Option<&[u8]>,
        next: &mut i64,
        on: &mut impl FnMut(WatchBatch) -> bool,
    ) -> Result<Flow, Attempt> {
        let path = "/v3/watch";
        let resp = self.open_watch(http, endpoint, key, range_end, *next)?;
        let bad = |reason: String| {
            Attempt::Fail(EtcdError::BadAnswer {
                endpoint: endpoint.to_string(),
                path: path.to_string(),
                reason,
            })
        };
        let mut reader = std::io::BufReader::new(resp);
        let mut line = Vec::new();
        let mut created = false;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    return Ok(Flow::Broken {
                        why: "the watch stream ended".to_string(),
                        created,
                    });
                }
                Err(e) => {
                    return Ok(Flow::Broken {
                        why: format!("the watch stream broke: {e}"),
                        created,
                    });
                }
                Ok(_) => {}
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let answer: WatchLine =
                serde_json::from_slice(&line).map_err(|e| bad(e.to_string()))?;
            if let Some(error) = answer.error {
                let code = error.grpc_code.or(error.code).unwrap_or_default();
                if RETRY_CODES.contains(&code) {
                    return Ok(Flow::Broken {
                        why: error.message,
                        created,
                    });
                }
                if code == UNAUTHENTICATED && self.auth.is_some() {
                    self.authenticate(endpoint)?;
                    return Ok(Flow::Broken {
                        why: format!("{}; token renewed", error.message),
                        created,
                    });
                }
                return Err(Attempt::Fail(EtcdError::Refused {
                    endpoint: endpoint.to_string(),
                    path: path.to_string(),
                    message: error.message,
                }));
            }
            let Some(result) = answer.result else {
                continue;
            };
            let revision = result
                .header
                .and_then(|h| h.revision.parse().ok())
                .unwrap_or_default();
            let compacted: i64 = result.compact_revision.parse().unwrap_or_default();
            if compacted > 0 {
                return Err(Attempt::Fail(EtcdError::Compacted {
                    endpoint: endpoint.to_string(),
                    revision: *next,
                    compacted,
                }));
            }
            if result.canceled {
                return Err(Attempt::Fail(EtcdError::Refused {
                    endpoint: endpoint.to_string(),
                    path: path.to_string(),
                    message: if result.cancel_reason.is_empty() {
                        "the watch was cancelled".to_string()
                    } else {
                        result.cancel_reason
                    },
                }));
            }
            if result.created {
                created = true;
                if *next == 0 {
                    // From now: what comes after the revision the watch was made at.
                    *next = revision + 1;
                }
            }
            if result.events.is_empty() {
                continue;
            }
            let events = watch_events(result.events, next).map_err(bad)?;
            if !on(WatchBatch { events, revision }) {
                return Ok(Flow::Stopped);
            }
        }
    }

    /// Ask `endpoint` for a watch stream from `next` (0: now).
    fn open_watch(
        &self,
        http: &reqwest::blocking::Client,
        endpoint: &str,
        key: &[u8],
        range_end: Option<&[u8]>,
        next: i64,
    ) -> Result<reqwest::blocking::Response, Attempt> {
        let path = "/v3/watch";
        let mut create = json!({ "key": B64.encode(key) });
        if let Some(end) = range_end {
            create["range_end"] = json!(B64.encode(end));
        }
        if next > 0 {
            create["start_revision"] = json!(next.to_string());
        }
        if self.auth.is_some() && self.current_token().is_none() {
            self.authenticate(endpoint)?;
        }
        let mut request = http
            .post(format!("{endpoint}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json!({ "create_request": create }).to_string());
        if let Some(token) = self.current_token() {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let resp = request.send().map_err(|e| Attempt::Retry {
            why: transport_reason(e),
            answered: false,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let why = format!("HTTP {status}");
        Err(if status.is_server_error() {
            Attempt::Retry {
                why,
                answered: true,
            }
        } else {
            Attempt::Fail(EtcdError::Refused {
                endpoint: endpoint.to_string(),
                path: path.to_string(),
                message: why,
            })
        })
    }

    fn current_token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ask `endpoint` for a token for the configured user, and keep it.
    fn authenticate(&self, endpoint: &str) -> Result<(), Attempt> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        let path = "/v3/auth/authenticate";
        let body = serde_json::to_vec(&json!({ "name": auth.user, "password": auth.password }))
            .map_err(|e| Attempt::Fail(EtcdError::Client(e.to_string())))?;
        let refused = |message: String| {
            Attempt::Fail(EtcdError::Auth {
                endpoint: endpoint.to_string(),
                user: auth.user.clone(),
                message,
            })
        };
        let answer = self
            .post_once(endpoint, path, &body, false)
            .map_err(|a| match a {
                Attempt::Fail(
                    EtcdError::Refused { message, .. } | EtcdError::NeedsUser { message, .. },
                ) => refused(message),
                other => other,
            })?;
        let token = answer
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Attempt::Fail(EtcdError::BadAnswer {
                    endpoint: endpoint.to_string(),
                    path: path.to_string(),
                    reason: "no token in the answer".to_string(),
                })
            })?;
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.to_string());
        Ok(())
    }
}

/// The end of the range holding every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): every key from the prefix on.
    vec![0]
}

enum Attempt {
    /// This member did not serve the request (`answered`: it said so); another may.
    Retry { why: String, answered: bool },
    /// The cluster answered and said no: another member would say the same.
    Fail(EtcdError),
}

fn transport_reason(e: reqwest::Error) -> String {
    let mut causes = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push_str(": ");
        causes.push_str(&s.to_string());
        source = s.source();
    }
    format!("{}{causes}", e.without_url())
}

/// A watch response's events, moving `next` past each one's revision.
fn watch_events(answers: Vec<WatchEventAnswer>, next: &mut i64) -> Result<Vec<WatchEvent>, String> {
    let mut events = Vec::with_capacity(answers.len());
    for e in answers {
        let b64 = |text: &str| B64.decode(text).map_err(|err| format!("bad base64: {err}"));
        let kv = Kv {
            key: b64(&e.kv.key)?,
            value: b64(&e.kv.value)?,
            mod_revision: e.kv.mod_revision.parse().unwrap_or_default(),
        };
        *next = (*next).max(kv.mod_revision + 1);
        let kind = match e.kind.as_str() {
            "" | "PUT" => WatchKind::Put,
            "DELETE" => WatchKind::Delete,
            other => return Err(format!("unknown event type '{other}'")),
        };
        events.push(WatchEvent { kind, kv });
    }
    Ok(events)
}

fn compare_json(c: &Compare) -> Value {
    match c {
        Compare::Value { key, value } => json!({
            "key": B64.encode(key), "target": "VALUE", "result": "EQUAL", "value": B64.encode(value),
        }),
        Compare::ModRevision { key, revision } => json!({
            "key": B64.encode(key), "target": "MOD", "result": "EQUAL",
            "mod_revision": revision.to_string(),
        }),
        Compare::Absent { key } => json!({
            "key": B64.encode(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0",
        }),
    }
}

fn op_json(op: &Op) -> Value {
    match op {
        Op::Put { key, value } => json!({
            "request_put": { "key": B64.encode(key), "value": B64.encode(value) },
        }),
        Op::PutLeased { key, value, lease } => json!({
            "request_put": {
                "key": B64.encode(key), "value": B64.encode(value), "lease": lease.to_string(),
            },
        }),
        Op::Get { key } => json!({ "request_range": { "key": B64.encode(key) } }),
        Op::Delete { key } => json!({ "request_delete_range": { "key": B64.encode(key) } }),
    }
}

// The gateway leaves out members at their default (false, empty, 0), and writes 64-bit
// numbers as strings.
#[derive(Deserialize)]
struct RangeAnswer {
    #[serde(default)]
    header: Option<Header>,
    #[serde(default)]
    kvs: Vec<KvAnswer>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    revision: String,
}

#[derive(Deserialize)]
struct KvAnswer {
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    mod_revision: String,
}

#[derive(Deserialize)]
struct TxnAnswer {
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<TxnResponse>,
}

#[derive(Deserialize)]
struct TxnResponse {
    #[serde(default)]
    response_range: Option<Value>,
}

#[derive(Deserialize)]
struct WatchLine {
    #[serde(default)]
    result: Option<WatchAnswer>,
    #[serde(default)]
    error: Option<StreamError>,
}

#[derive(Deserialize)]
struct StreamError {
    #[serde(default)]
    grpc_code: Option<i64>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct WatchAnswer {
    #[serde(default)]
    header: Option<Header>,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    canceled: bool,
    #[serde(default)]
    cancel_reason: String,
    #[serde(default)]
    compact_revision: String,
    #[serde(default)]
    events: Vec<WatchEventAnswer>,
}

#[derive(Deserialize)]
struct WatchEventAnswer {
    #[serde(default, rename = "type")]
    kind: String,
    kv: KvAnswer,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_every_key_with_the_prefix() {
        assert_eq!(
            prefix_end(b"bringup/runs/a/events/"),
            b"bringup/runs/a/events0"
        );
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }
}
