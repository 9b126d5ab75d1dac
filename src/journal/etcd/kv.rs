//! Reading and writing keys: ranges (optionally at a revision), puts, deletes and guarded
//! transactions, with the answers decoded from the gateway's JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::transport::{Etcd, Header, Result};

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

impl Etcd {
    /// Keys from `key` up to `end` (exclusive; `None`: `key` alone), at most `limit` of them
    /// (0: no limit). Linearizable: what a majority has committed.
    pub async fn range(&mut self, key: &[u8], end: Option<&[u8]>, limit: u64) -> Result<Range> {
        self.range_at(key, end, limit, 0).await
    }

    /// As [`Etcd::range`], as the store was at `revision` (0: now), so that several pages
    /// read one consistent state.
    pub async fn range_at(
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
        let answer = self.call(path, &req).await?;
        self.parse_range(path, answer)
    }

    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.call(
            "/v3/kv/put",
            &json!({ "key": B64.encode(key), "value": B64.encode(value) }),
        )
        .await
        .map(|_| ())
    }

    /// If every compare holds, run `success`, else `failure`: atomically.
    pub async fn txn(
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
        let answer = self.call(path, &req).await?;
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

    /// Delete `key` alone.
    pub async fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.call("/v3/kv/deleterange", &json!({ "key": B64.encode(key) }))
            .await
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
pub(super) struct KvAnswer {
    pub(super) key: String,
    #[serde(default)]
    pub(super) value: String,
    #[serde(default)]
    pub(super) mod_revision: String,
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
