//! Webhooks (SPEC "Notifications"): the bodies made from journaled events, and the delivery
//! tasks that send them. Nothing here writes the journal or waits on the driver: each
//! attempt's result goes back as a [`Report`], which the driver journals (`notify_sent`,
//! `notify_failed`); the driver journals `notify_queued` before a delivery is handed over.
//!
//! One task per webhook, each with its own bounded queue, sends in order: a delivery is
//! retried (with a capped exponential backoff) until it succeeds, and the next one waits for
//! it, so state changes arrive in the order they happened. A dead or slow webhook only
//! delays its own queue; the run never waits for it.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::journal::Event;
use crate::journal::mask::Masker;
use crate::runbook::model::{Notify, NotifyFormat, NotifyOn, Runbook};

/// Deliveries one webhook may have waiting; past it, new ones are journaled as failed.
pub const QUEUE: usize = 1024;
/// One request, from connecting to the last byte of the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connecting alone: a closed port answers at once, a black hole never does.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A `notify_failed`'s error for a 3xx answer (its `Location` is in the log).
pub const NOT_FOLLOWED: &str = "redirect not followed (webhooks never follow redirects)";

/// One body owed to one webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The `[[notify]]` entry's index in the runbook.
    pub notify: usize,
    /// The journal event it tells of.
    pub of_seq: u64,
    pub body: Vec<u8>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Sent {
        notify: usize,
        of_seq: u64,
        attempt: u32,
        status: u16,
    },
    Failed {
        notify: usize,
        of_seq: u64,
        attempt: u32,
        status: Option<u16>,
        error: Option<String>,
        next_retry: Duration,
    },
}

/// What a webhook is told of, by the journal event's kind.
pub fn topic(event: &Event) -> Option<NotifyOn> {
    match event {
        Event::ServiceState { .. } => Some(NotifyOn::ServiceState),
        Event::RunFinished { .. } => Some(NotifyOn::RunFinished),
        Event::NoticeDue { .. } => Some(NotifyOn::Notice),
        _ => None,
    }
}

/// The body for one journaled event: `line` is its journal line (secrets already masked).
/// Slack: `{"text": "…"}`; json: README "Notifications".
pub fn payload(
    format: NotifyFormat,
    runbook: &str,
    seq: u64,
    event: &Event,
    line: &str,
) -> serde_json::Value {
    let text = crate::export::describe::describe(event).map_or_else(
        || event.kind().to_string(),
        |d| match event.service() {
            Some(service) if !d.what.contains(service.as_str()) => {
                format!("{service}: {}", d.what)
            }
            _ => d.what,
        },
    );
    match format {
        NotifyFormat::Slack => serde_json::json!({ "text": format!("[{runbook}] {text}") }),
        NotifyFormat::Json => {
            let mut body: serde_json::Value =
                serde_json::from_str(line).unwrap_or(serde_json::Value::Null);
            if let Some(map) = body.as_object_mut() {
                map.remove("prev");
                map.remove("hash");
            }
            serde_json::json!({
                "runbook": runbook,
                "seq": seq,
                "kind": event.kind(),
                "text": text,
                "event": body,
            })
        }
    }
}

/// SHA-256 (lowercase hex) of a body.
pub fn digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The delay before retry number `attempt` (after attempt `attempt` failed).
pub fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// The delivery tasks of a run's webhooks.
pub struct Outbox {
    queues: Vec<mpsc::Sender<Delivery>>,
    stop: CancellationToken,
}

impl Outbox {
    /// Start one task per `[[notify]]` entry; each [`Report`] is sent as `wrap(report)` on
    /// `tx`. `None` when the runbook has no webhook.
    pub fn start<M: Send + 'static>(
        runbook: &Runbook,
        tx: &mpsc::Sender<M>,
        wrap: fn(Report) -> M,
    ) -> Option<Outbox> {
        if runbook.notify.is_empty() {
            return None;
        }
        let client = match reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("bringup/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the body and the secret header elsewhere: a 3xx is an
            // answer, and a failed delivery (SPEC "Edges"). No `Referer` is ever sent.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!("webhooks: cannot start an HTTP client: {}", e.without_url());
                return None;
            }
        };
        let stop = CancellationToken::new();
        let queues = runbook
            .notify
            .iter()
            .enumerate()
            .map(|(index, n)| {
                let (queue, rx) = mpsc::channel(QUEUE);
                let target = Target::of(runbook, index, n);
                tokio::spawn(deliver(
                    client.clone(),
                    target,
                    rx,
                    tx.clone(),
                    wrap,
                    stop.clone(),
                ));
                queue
            })
            .collect();
        Some(Outbox { queues, stop })
    }

    /// Hand a delivery to its webhook's task; `false` when its queue is full (or gone).
    pub fn send(&self, delivery: Delivery) -> bool {
        self.queues
            .get(delivery.notify)
            .is_some_and(|q| q.try_send(delivery).is_ok())
    }

    /// Stop every task: nothing more is sent or retried.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Where and how one webhook is reached (its URL and header filled in: secrets).
struct Target {
    /// The `[[notify]]` entry's index, as the journal names it.
    index: usize,
    url: String,
    header: Option<(String, String)>,
    /// Masks the run's secrets in what is logged of an answer.
    masker: Masker,
}

impl Target {
    fn of(runbook: &Runbook, index: usize, notify: &Notify) -> Target {
        Target {
            index,
            masker: Masker::new(&runbook.secret_values()),
            url: runbook.fill(&notify.url),
            header: notify
                .secret_header
                .as_ref()
                .map(|(name, value)| (name.clone(), runbook.fill(value))),
        }
    }
}

async fn deliver<M>(
    client: reqwest::Client,
    target: Target,
    mut rx: mpsc::Receiver<Delivery>,
    tx: mpsc::Sender<M>,
    wrap: fn(Report) -> M,
    stop: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            d = rx.recv() => match d { Some(d) => d, None => return },
            () = stop.cancelled() => return,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = tokio::select! {
                a = post(&client, &target, &delivery.body) => a,
                () = stop.cancelled() => return,
            };
            let (report, retry) = match answer {
                Ok(status) if (200..300).contains(&status) => (
                    Report::Sent {
                        notify: delivery.notify,
                        of_seq: delivery.of_seq,
                        attempt,
                        status,
                    },
                    None,
                ),
                answer => {
                    let next_retry = backoff(attempt);
                    let (status, error) = match answer {
                        Ok(status) if (300..400).contains(&status) => {
                            (Some(status), Some(NOT_FOLLOWED.to_string()))
                        }
                        Ok(status) => (Some(status), None),
                        Err(error) => (None, Some(error)),
                    };
                    let report = Report::Failed {
                        notify: delivery.notify,
                        of_seq: delivery.of_seq,
                        attempt,
                        status,
                        error,
                        next_retry,
                    };
                    (report, Some(next_retry))
                }
            };
            tokio::select! {
                _ = tx.send(wrap(report)) => {}
                () = stop.cancelled() => return,
            }
            let Some(delay) = retry else { break };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}

/// One POST; the HTTP status, or why there was none (without the URL: it is a secret). A
/// redirect is not followed: its status is the answer, and where it pointed goes to the log
/// (secrets masked).
async fn post(client: &reqwest::Client, target: &Target, body: &[u8]) -> Result<u16, String> {
    if crate::sites::fence::check_url(&target.url).is_err() {
        return Err("refused by --simulate: its host is in the lost site".to_string());
    }
    let mut request = client
        .post(&target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    if let Some((name, value)) = &target.header {
        request = request.header(name.as_str(), value.as_str());
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                tracing::warn!(
                    "webhook {}: answered {status} (Location: {}); redirects are not followed",
                    target.index,
                    location.map_or_else(|| "none".to_string(), |l| target.masker.mask_str(&l)),
                );
            }
            Ok(status.as_u16())
        }
        Err(e) => Err(reason(&e)),
    }
}

/// A request error in words, its causes included, never its URL.
fn reason(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut words = kind.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !words.contains(&text) {
            words.push_str(": ");
            words.push_str(&text);
        }
        source = cause.source();
    }
    words
}

/// Deliveries a journal owes: `notify_queued` with no `notify_sent` after it, in order.
pub fn owed<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> Vec<(usize, u64, serde_json::Value)> {
    let mut owed: Vec<(usize, u64, serde_json::Value)> = Vec::new();
    for event in events {
        match event {
            Event::NotifyQueued {
                notify,
                of_seq,
                payload,
                ..
            } => owed.push((*notify, *of_seq, payload.clone())),
            Event::NotifySent { notify, of_seq, .. } => {
                owed.retain(|(n, s, _)| !(n == notify && s == of_seq));
            }
            _ => {}
        }
    }
    owed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_and_stops_at_its_cap() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(7), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_journal_owes_what_it_queued_and_did_not_send() {
        let queued = |notify, of_seq| Event::NotifyQueued {
            notify,
            of_seq,
            what: "service_state".into(),
            digest: String::new(),
            payload: serde_json::json!({ "text": of_seq }),
        };
        let events = [
            queued(0, 3),
            queued(0, 4),
            Event::NotifySent {
                notify: 0,
                of_seq: 3,
                attempt: 2,
                status: 200,
            },
            queued(1, 4),
        ];
        let owed: Vec<_> = owed(&events).into_iter().map(|(n, s, _)| (n, s)).collect();
        assert_eq!(owed, vec![(0, 4), (1, 4)]);
    }
}
