//! A small etcd v3 client over its JSON gRPC gateway (`POST /v3/kv/range`, `/v3/kv/txn`, …):
//! keys and values base64 in JSON, one endpoint at a time, the next one tried when a member
//! does not answer. Knows nothing of journals. Blocking: it must not be called from inside a
//! tokio runtime.

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

/// A connection to an etcd cluster through the first member that answers.
#[derive(Debug)]
pub struct Etcd {
    http: reqwest::blocking::Client,
    /// `http://HOST:PORT` each.
    endpoints: Vec<String>,
    /// The member used until it fails.
    current: usize,
}

impl Etcd {
    /// Connect to the first of `endpoints` (`HOST:PORT` or `http://HOST:PORT`) that answers a
    /// status request.
    pub fn connect(endpoints: &[String]) -> Result<Etcd> {
        Self::connect_with(endpoints, &super::Access::default())
    }

    /// As [`Etcd::connect`], reaching etcd as `access` says (TLS, authentication).
    pub fn connect_with(endpoints: &[String], access: &super::Access) -> Result<Etcd> {
        let _ = access;
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("bringup/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EtcdError::Client(e.to_string()))?;
        let mut etcd = Etcd {
            http,
            endpoints: endpoints
                .iter()
                .map(|e| {
                    if e.starts_with("http://") || e.starts_with("https://") {
                        e.clone()
                    } else {
                        format!("http://{e}")
                    }
                })
                .collect(),
            current: 0,
        };
        if etcd.endpoints.is_empty() {
            return Err(EtcdError::Unreachable {
                tried: "no endpoint given".to_string(),
            });
        }
        etcd.call("/v3/maintenance/status", &json!({}))?;
        Ok(etcd)
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

    fn post(&self, endpoint: &str, path: &str, body: &[u8]) -> Result<Value, Attempt> {
        let resp = self
            .http
            .post(format!("{endpoint}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
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
