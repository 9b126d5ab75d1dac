//! Webhooks against real HTTP servers on 127.0.0.1: one down (503) at first, then up; one that
//! goes down while `run` is killed with SIGKILL and is up for `--resume`; one that accepts
//! connections and never answers; and one reached only through `HTTP_PROXY`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::support::events::{of_kind, read_journal, read_written};
use crate::support::local::{bringup, finish, folder, output};
use crate::support::wait::wait_for;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// One request as the webhook got it: its head (request line and headers) and its body.
#[derive(Debug, Clone)]
struct Got {
    head: String,
    body: String,
}

/// A webhook on 127.0.0.1 that reads each request whole and answers 200 when `up(n)` holds
/// for the n-th request (from 0), keeping it; else 503, keeping nothing.
fn server(up: impl Fn(usize) -> bool + Send + 'static) -> (u16, Arc<Mutex<Vec<Got>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().take(200).enumerate() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(k) = s.read(&mut chunk) {
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&buf).to_string();
            let (head, body) = text
                .split_once("\r\n\r\n")
                .map(|(h, b)| (h.to_string(), b.to_string()))
                .unwrap_or_default();
            let status = if up(n) {
                seen.lock().expect("lock").push(Got { head, body });
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (port, got)
}

/// A webhook that accepts every connection and never answers: it holds the sockets open.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// `bringup` with no proxy from the environment, unless a test sets one.
fn bringup_direct(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = bringup(dir);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd
}

const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

fn of_seqs(events: &[Value], kind: &str) -> Vec<u64> {
    of_kind(events, kind)
        .iter()
        .filter_map(|e| e["of_seq"].as_u64())
        .collect()
}

fn has_state(events: &[Value], service: &str, to: &str) -> bool {
    of_kind(events, "service_state")
        .iter()
        .any(|e| e["service"] == service && e["to"] == to)
}

#[test]
fn a_webhook_down_at_first_gets_every_state_change_once_in_order_and_its_url_stays_secret() {
    let (port, got) = server(|n| n >= 2);
    let toml = r#"
[runbook]
name = "hooks"
secret_vars = ["hook"]

[hosts.box]
transport = "local"

[[notify]]
url = "http://127.0.0.1:PORT/{{hook}}"
format = "slack"
on = ["service_state"]

[[service]]
id = "mail"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "sleep 3"
"#
    .replace("PORT", &port.to_string());
    let (dir, runbook, journal) = folder(&toml);
    let out = output(
        bringup_direct(dir.path())
            .args(["run", "--yes", "--var", "hook=s3cr3t-path", "--journal"])
            .arg(&journal)
            .arg(&runbook),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!stdout.contains("s3cr3t-path"), "{stdout}");
    let text = std::fs::read_to_string(&journal).expect("journal");
    assert!(!text.contains("s3cr3t-path"), "{text}");
    let events = read_journal(&journal);
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| k.starts_with("notify_"))
        .collect();
    let first_failed = kinds
        .iter()
        .position(|k| *k == "notify_failed")
        .expect("a failed attempt");
    let first_sent = kinds
        .iter()
        .position(|k| *k == "notify_sent")
        .expect("a delivery");
    assert!(first_failed < first_sent, "{kinds:?}");
    let states: Vec<u64> = events
        .iter()
        .filter(|e| e["kind"] == "service_state")
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    let sent: Vec<u64> = events
        .iter()
        .filter(|e| e["kind"] == "notify_sent")
        .filter_map(|e| e["of_seq"].as_u64())
        .collect();
    assert_eq!(sent, states, "every state change delivered once, in order");
    let bodies: Vec<String> = got
        .lock()
        .expect("lock")
        .iter()
        .map(|g| g.body.clone())
        .collect();
    assert_eq!(bodies.len(), states.len(), "{bodies:?}");
    for body in &bodies {
        let v: serde_json::Value = serde_json::from_str(body).expect("json body");
        assert!(
            v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("[hooks] ")),
            "{body}"
        );
    }
}

/// `late` is checked once the test makes `gate` (the webhook is down by then), and its
/// restore waits for `go`, made only after the kill: the run is killed while it restores.
fn killed_runbook(port: u16, files: &str) -> String {
    r#"
[runbook]
name = "hooks"

[defaults]
timeout = "120s"

[hosts.box]
transport = "local"

[[notify]]
url = "http://127.0.0.1:PORT/hook"
format = "json"
on = ["service_state"]

[[service]]
id = "early"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "true"

[[service]]
id = "late"
hosts = ["box"]
  [[service.check]]
  name = "flag"
  run = "until [ -e 'FILES/gate' ]; do sleep 0.05; done; test -e 'FILES/flag'"
  [[service.restore]]
  name = "raise the flag"
  run = "until [ -e 'FILES/go' ]; do sleep 0.05; done; touch 'FILES/flag'"
"#
    .replace("PORT", &port.to_string())
    .replace("FILES", files)
}

#[test]
fn resume_after_sigkill_sends_what_was_queued_and_not_sent_once_in_order_and_nothing_sent_again() {
    let up = Arc::new(AtomicBool::new(true));
    let answering = up.clone();
    let (port, got) = server(move |_| answering.load(Ordering::SeqCst));
    let dir = tempfile::tempdir().expect("temp dir");
    let files = dir.path().display().to_string();
    let toml = killed_runbook(port, &files);
    let runbook = dir.path().join("rb.toml");
    std::fs::write(&runbook, toml).expect("write runbook");
    let journal = dir.path().join("journal/run.jsonl");
    let touch = |name: &str| std::fs::write(dir.path().join(name), "").expect("touch");

    let mut child = bringup_direct(dir.path())
        .args(["run", "--yes", "--journal"])
        .arg(&journal)
        .arg(&runbook)
        .spawn()
        .expect("spawn bringup");
    let limit = Duration::from_secs(30);
    wait_for("the first state changes delivered", limit, || {
        let events = read_written(&journal);
        let queued = of_seqs(&events, "notify_queued");
        has_state(&events, "early", "healthy")
            && has_state(&events, "late", "checking")
            && queued == of_seqs(&events, "notify_sent")
    });
    up.store(false, Ordering::SeqCst);
    touch("gate");
    wait_for("deliveries failing while late restores", limit, || {
        let events = read_written(&journal);
        let restoring = of_kind(&events, "service_state")
            .iter()
            .find(|e| e["service"] == "late" && e["to"] == "restoring")
            .and_then(|e| e["seq"].as_u64());
        restoring.is_some_and(|seq| of_seqs(&events, "notify_queued").contains(&seq))
            && !of_kind(&events, "notify_failed").is_empty()
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let before = read_written(&journal);
    let sent_before = of_seqs(&before, "notify_sent");
    let owed: Vec<u64> = of_seqs(&before, "notify_queued")
        .into_iter()
        .filter(|s| !sent_before.contains(s))
        .collect();
    assert!(
        !sent_before.is_empty(),
        "some were delivered before the kill"
    );
    assert!(owed.len() >= 2, "queued and not sent at the kill: {owed:?}");
    let received_before = got.lock().expect("lock").len();
    assert_eq!(received_before, sent_before.len());

    up.store(true, Ordering::SeqCst);
    touch("go");
    let out = finish(
        bringup_direct(dir.path())
            .args(["run", "--yes", "--resume"])
            .arg(&journal)
            .arg(&runbook)
            .spawn()
            .expect("spawn resume"),
    );
    assert!(
        out.status.success(),
        "resume: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let events = read_journal(&journal);
    let resumed = events
        .iter()
        .position(|e| e["kind"] == "resumed")
        .expect("resumed");
    let sent_after = of_seqs(&events[resumed..], "notify_sent");
    assert_eq!(
        sent_after[..owed.len()],
        owed[..],
        "what was owed is sent first after `resumed`, in order"
    );
    let sent_all = of_seqs(&events, "notify_sent");
    let states: Vec<u64> = of_kind(&events, "service_state")
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert_eq!(sent_all, states, "each state change sent once, in order");

    assert_told_once_in_order(&got.lock().expect("lock"), &events, &states);
}

/// What the webhook got: each state change once, in order, byte for byte as queued.
fn assert_told_once_in_order(got: &[Got], events: &[Value], states: &[u64]) {
    let digests: std::collections::HashMap<u64, String> = of_kind(events, "notify_queued")
        .iter()
        .map(|e| (e["of_seq"].as_u64().unwrap_or(0), e["digest"].to_string()))
        .collect();
    let told: Vec<u64> = got
        .iter()
        .map(|g| {
            let v: Value = serde_json::from_str(&g.body).expect("json body");
            let seq = v["seq"].as_u64().expect("seq");
            let digest = Value::from(hex::encode(Sha256::digest(g.body.as_bytes()))).to_string();
            assert_eq!(
                digests.get(&seq),
                Some(&digest),
                "body of {seq}: {}",
                g.body
            );
            seq
        })
        .collect();
    assert_eq!(told, states);
}

#[test]
fn a_webhook_that_accepts_and_never_answers_does_not_hold_up_the_run() {
    let port = silent_server();
    // Longer than one request's timeout (5 s): the first attempt times out during the run.
    let toml = r#"
[runbook]
name = "hooks"

[hosts.box]
transport = "local"

[[notify]]
url = "http://127.0.0.1:PORT/hook"
format = "slack"

[[service]]
id = "mail"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "sleep 6"
"#
    .replace("PORT", &port.to_string());
    let (dir, runbook, journal) = folder(&toml);
    let started = Instant::now();
    let out = output(
        bringup_direct(dir.path())
            .args(["run", "--yes", "--journal"])
            .arg(&journal)
            .arg(&runbook),
    );
    let ended = SystemTime::now();
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = read_journal(&journal);
    let finished = of_kind(&events, "run_finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["outcome"], "restored", "{:?}", finished[0]);
    let failed = of_kind(&events, "notify_failed");
    assert!(
        failed
            .iter()
            .any(|e| e["error"].as_str().is_some_and(|t| t.contains("timed out"))),
        "{failed:?}"
    );
    assert!(of_kind(&events, "notify_sent").is_empty());
    // Nothing was delivered: every delivery ends journaled as given up at the run's end.
    let given_up = failed
        .iter()
        .filter(|e| e["next_retry_ms"].is_null() && e["error"] == bringup::driver::RUN_ENDED)
        .count();
    assert_eq!(given_up, of_kind(&events, "notify_queued").len());

    let grace = bringup::driver::NOTIFY_GRACE;
    let finished_at: SystemTime =
        chrono::DateTime::parse_from_rfc3339(finished[0]["ts"].as_str().expect("ts"))
            .expect("rfc 3339")
            .into();
    let end_wait = ended.duration_since(finished_at).unwrap_or_default();
    assert!(
        end_wait < grace + Duration::from_secs(10),
        "the end waited {end_wait:?}"
    );
    assert!(
        took < Duration::from_secs(6) + grace + Duration::from_secs(10),
        "the run took {took:?}"
    );
}

#[test]
fn webhooks_go_through_http_proxy_unless_no_proxy_names_their_host() {
    let toml = r#"
[runbook]
name = "hooks"

[hosts.box]
transport = "local"

[[notify]]
url = "http://webhook.invalid/hook"
format = "slack"
on = ["run_finished"]

[[service]]
id = "mail"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "true"
"#;
    let (proxy, got) = server(|_| true);
    let (dir, runbook, journal) = folder(toml);
    let out = output(
        bringup_direct(dir.path())
            .env("HTTP_PROXY", format!("http://127.0.0.1:{proxy}"))
            .args(["run", "--yes", "--journal"])
            .arg(&journal)
            .arg(&runbook),
    );
    assert!(out.status.success());
    let events = read_journal(&journal);
    assert_eq!(of_kind(&events, "notify_sent").len(), 1, "{events:?}");
    let heads: Vec<String> = got
        .lock()
        .expect("lock")
        .iter()
        .map(|g| g.head.clone())
        .collect();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with("POST http://webhook.invalid/hook HTTP/1.1\r\n"),
        "{heads:?}"
    );

    let journal = dir.path().join("journal/no-proxy.jsonl");
    let out = output(
        bringup_direct(dir.path())
            .env("HTTP_PROXY", format!("http://127.0.0.1:{proxy}"))
            .env("NO_PROXY", "webhook.invalid")
            .args(["run", "--yes", "--journal"])
            .arg(&journal)
            .arg(&runbook),
    );
    assert!(out.status.success());
    let events = read_journal(&journal);
    assert!(of_kind(&events, "notify_sent").is_empty());
    assert!(!of_kind(&events, "notify_failed").is_empty());
    assert_eq!(got.lock().expect("lock").len(), 1, "NO_PROXY: not proxied");
}

#[test]
fn a_silent_webhook_is_not_waited_for_the_whole_grace_at_the_end_of_a_short_run() {
    let port = silent_server();
    let toml = r#"
[runbook]
name = "hooks"

[hosts.box]
transport = "local"

[[notify]]
url = "http://127.0.0.1:PORT/hook"
format = "slack"

[[service]]
id = "mail"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "true"
"#
    .replace("PORT", &port.to_string());
    let (dir, runbook, journal) = folder(&toml);
    let out = output(
        bringup_direct(dir.path())
            .args(["run", "--yes", "--journal"])
            .arg(&journal)
            .arg(&runbook),
    );
    assert_eq!(out.status.code(), Some(0));
    let events = read_journal(&journal);
    let ts = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["ts"].as_str().expect("ts")).expect("rfc 3339")
    };
    let finished = ts(of_kind(&events, "run_finished")[0]);
    let given_up: Vec<_> = of_kind(&events, "notify_failed")
        .into_iter()
        .filter(|e| e["error"] == bringup::driver::RUN_ENDED)
        .collect();
    assert_eq!(given_up.len(), of_kind(&events, "notify_queued").len());
    // Its request is still open (it would time out after 5 s), but it has not answered for
    // NOTIFY_SILENT: the end gives up on it then, not after the whole grace.
    let waited = (ts(given_up[0]) - finished).to_std().unwrap_or_default();
    assert!(
        waited < bringup::driver::NOTIFY_GRACE,
        "the end waited {waited:?} for a silent webhook"
    );
}
