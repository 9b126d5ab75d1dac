//! Watching keys over the gateway's streaming `/v3/watch`: each batch of changes in order;
//! a stream that breaks, or stays silent too long (a hung member), is opened again on the
//! next member from the revision after the last change seen.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::json;

use super::kv::{Kv, KvAnswer};
use super::transport::{
    Attempt, Etcd, EtcdError, Header, RETRY_CODES, ROUND_PAUSE, Result, UNAUTHENTICATED,
    transport_reason,
};

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

impl Etcd {
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
    pub async fn watch(
        &self,
        key: &[u8],
        range_end: Option<&[u8]>,
        start_revision: i64,
        mut on: impl FnMut(WatchBatch) -> bool,
    ) -> Result<()> {
        // No bound on the whole request (the stream lives long): each read of it is bounded
        // by the silence instead (see `watch_once`).
        let http = self.tls.client(None)?;
        let mut next = start_revision.max(0);
        let mut at = self.current;
        let mut failing_since: Option<Instant> = None;
        let mut tried: Vec<String> = Vec::new();
        loop {
            let endpoint = &self.endpoints[at];
            let (why, created) = match self
                .watch_once(&http, endpoint, key, range_end, &mut next, &mut on)
                .await
            {
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
                tokio::time::sleep(ROUND_PAUSE).await;
            }
        }
    }

    /// One watch stream on `endpoint` from `next`, which it moves past each change seen.
    async fn watch_once(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        key: &[u8],
        range_end: Option<&[u8]>,
        next: &mut i64,
        on: &mut impl FnMut(WatchBatch) -> bool,
    ) -> Result<Flow, Attempt> {
        let path = "/v3/watch";
        let silence = self.watch_silence;
        let opened = self.open_watch(http, endpoint, key, range_end, *next);
        let mut resp =
            tokio::time::timeout(silence, opened)
                .await
                .map_err(|_| Attempt::Retry {
                    why: format!("no answer to the watch within {} s", silence.as_secs()),
                    answered: false,
                })??;
        let bad = |reason: String| {
            Attempt::Fail(EtcdError::BadAnswer {
                endpoint: endpoint.to_string(),
                path: path.to_string(),
                reason,
            })
        };
        // The stream's bytes not yet cut into lines.
        let mut pending: Vec<u8> = Vec::new();
        let mut created = false;
        loop {
            let line = match next_line(&mut resp, &mut pending, silence).await {
                Ok(line) => line,
                Err(why) => return Ok(Flow::Broken { why, created }),
            };
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
                    self.authenticate(endpoint).await?;
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
    async fn open_watch(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        key: &[u8],
        range_end: Option<&[u8]>,
        next: i64,
    ) -> Result<reqwest::Response, Attempt> {
        let path = "/v3/watch";
        crate::sites::fence::check_url(endpoint).map_err(|e| Attempt::Retry {
            why: e.to_string(),
            answered: false,
        })?;
        let mut create = json!({ "key": B64.encode(key) });
        if let Some(end) = range_end {
            create["range_end"] = json!(B64.encode(end));
        }
        if next > 0 {
            create["start_revision"] = json!(next.to_string());
        }
        if self.auth.is_some() && self.current_token().is_none() {
            self.authenticate(endpoint).await?;
        }
        let mut request = http
            .post(format!("{endpoint}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json!({ "create_request": create }).to_string());
        if let Some(token) = self.current_token() {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let resp = request.send().await.map_err(|e| Attempt::Retry {
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
}

/// The stream's next line (its bytes read on as needed, each read bounded by `silence`), or
/// why the stream cannot go on.
async fn next_line(
    resp: &mut reqwest::Response,
    pending: &mut Vec<u8>,
    silence: Duration,
) -> Result<Vec<u8>, String> {
    loop {
        if let Some(end) = pending.iter().position(|&b| b == b'\n') {
            return Ok(pending.drain(..=end).collect());
        }
        match tokio::time::timeout(silence, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => pending.extend_from_slice(&chunk),
            Ok(Ok(None)) => return Err("the watch stream ended".to_string()),
            Ok(Err(e)) => return Err(format!("the watch stream broke: {}", transport_reason(e))),
            Err(_) => {
                return Err(format!(
                    "the watch stream was silent for {} s",
                    silence.as_secs()
                ));
            }
        }
    }
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
