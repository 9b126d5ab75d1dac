//! How an operator reaches a run another process executes, whatever carries it: the request
//! as sent ([`Posted`]: who asks, and the driver's `Ask` as JSON), what became of it
//! ([`Answer`]), and the request as the executing process receives it ([`Incoming`], which
//! knows how to be answered). Two transports carry them: a shared run's `requests/` keys in
//! etcd (`journal/etcd/shared.rs`) and a file-journal run's Unix socket beside its journal
//! ([`socket`]). The driver takes both alike (`driver/requests.rs`): it journals what a
//! request records under the asking operator's name and answers once that is durable.
//!
//! Must not: decide what a request may do (the driver checks it against the runbook) or
//! print anything.

pub mod socket;

use serde::{Deserialize, Serialize};

/// What an operator left for the executing process: a request in the driver's vocabulary
/// (`ask`, serialized by the driver), with the name they give.
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

/// Where the answer to a request goes.
#[derive(Debug)]
pub enum ReplyTo {
    /// A shared run's `answers/<id>` key, by the request's id.
    Etcd,
    /// The connection the request came on (a file-journal run's socket).
    Socket(tokio::sync::oneshot::Sender<Answer>),
}

/// A request as the executing process receives it.
#[derive(Debug)]
pub struct Incoming {
    pub id: String,
    pub posted: Posted,
    pub reply: ReplyTo,
}
