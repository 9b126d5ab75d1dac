//! The bytes an operator signs for one request, and the request as it travels: the message
//! names the run (its name and its `run_started` hash), the claimed operator, a nonce and the
//! time, then the request itself (the driver's [`Ask`] as one JSON line). The executing
//! process reads the request from the signed bytes only, never from beside them.
//!
//! ```text
//! bringup-request v1
//! run pangyo-fire
//! run-hash 3f5c…(64 lowercase hex)
//! operator alice
//! nonce 9b1c…(32 lowercase hex)
//! time 2026-11-22T08:14:03.120Z
//! ask {"kind":"approval","step":{…},"decision":"approved"}
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::driver::Ask;

/// First line of the signed message; names the format's version.
const MAGIC: &str = "bringup-request v1";

/// One request as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMessage {
    /// The run's name (a shared run's `NAME` in `etcd://…/NAME`, a file run's journal name).
    pub run: String,
    /// The run's `run_started` hash: a run of the same name made again is another run.
    pub run_hash: String,
    /// Who says they ask.
    pub operator: String,
    /// Never used twice in one run.
    pub nonce: String,
    /// When it was signed.
    pub time: DateTime<Utc>,
    pub ask: Ask,
}

/// Why a message cannot be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("{what} '{value}' cannot be signed: it holds a line break or a control character")]
    NotOneLine { what: &'static str, value: String },
    #[error("the request cannot be written as JSON: {0}")]
    Ask(String),
    #[error("not a bringup request (expected '{MAGIC}' and its six lines): {0}")]
    Malformed(String),
}

impl RequestMessage {
    /// A message for `ask` now, with a fresh nonce.
    pub fn new(
        run: &str,
        run_hash: &str,
        operator: &str,
        time: DateTime<Utc>,
        ask: Ask,
    ) -> Result<RequestMessage, MessageError> {
        for (what, value) in [("run", run), ("run hash", run_hash), ("operator", operator)] {
            if value.is_empty() || value.chars().any(char::is_control) {
                return Err(MessageError::NotOneLine {
                    what,
                    value: crate::text::visible(value).into_owned(),
                });
            }
        }
        Ok(RequestMessage {
            run: run.to_string(),
            run_hash: run_hash.to_string(),
            operator: operator.to_string(),
            nonce: nonce(),
            // As written: milliseconds.
            time: DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time),
            ask,
        })
    }

    /// The exact bytes that are signed.
    pub fn text(&self) -> Result<String, MessageError> {
        let ask = serde_json::to_string(&self.ask).map_err(|e| MessageError::Ask(e.to_string()))?;
        Ok(format!(
            "{MAGIC}\nrun {}\nrun-hash {}\noperator {}\nnonce {}\ntime {}\nask {ask}\n",
            self.run,
            self.run_hash,
            self.operator,
            self.nonce,
            crate::journal::record::format_ts(self.time),
        ))
    }

    /// Read a message back; only the exact form [`RequestMessage::text`] writes is taken.
    pub fn parse(text: &str) -> Result<RequestMessage, MessageError> {
        let bad = |why: &str| MessageError::Malformed(why.to_string());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("no final newline"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(MAGIC) {
            return Err(bad("the first line is not the format's"));
        }
        let mut field = |name: &str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(' '))
                .ok_or_else(|| MessageError::Malformed(format!("no '{name}' line where expected")))
        };
        let run = field("run")?.to_string();
        let run_hash = field("run-hash")?.to_string();
        let operator = field("operator")?.to_string();
        let nonce = field("nonce")?.to_string();
        let time = field("time")?;
        let time = DateTime::parse_from_rfc3339(time)
            .map_err(|_| bad("the time is not RFC 3339"))?
            .with_timezone(&Utc);
        let ask: Ask = serde_json::from_str(field("ask")?).map_err(|e| {
            MessageError::Malformed(format!("the request is not one bringup knows: {e}"))
        })?;
        if lines.next().is_some() {
            return Err(bad("lines after the request"));
        }
        let message = RequestMessage {
            run,
            run_hash,
            operator,
            nonce,
            time,
            ask,
        };
        // Anything not written exactly so (spacing, key order, a time's precision) is not
        // what was signed, or not what bringup signs.
        if message.text()? == text {
            Ok(message)
        } else {
            Err(bad("it is not in the exact form bringup writes"))
        }
    }
}

/// A request as it travels: the signed message and its armoured SSH signature (none when the
/// operator had no key to sign with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRequest {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// 16 random bytes as lowercase hex, from the kernel; never the same twice in practice.
pub(crate) fn nonce() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: unique is enough here (the signature covers the nonce).
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seed = format!(
            "{}-{}-{:?}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
        );
        let digest = crate::journal::record::sha256_hex(seed.as_bytes());
        return digest[..32].to_string();
    }
    hex::encode(bytes)
}
