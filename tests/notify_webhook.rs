//! Webhooks against a real HTTP server on 127.0.0.1: down (503) at first, then up.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use support::local::{bringup, folder, output};
use support::run::read_journal;

/// Answers 503 to the first `down` requests, then 200; keeps every body it got.
fn server(down: usize) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
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
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default();
            let status = if n < down {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            if n >= down {
                seen.lock().expect("lock").push(body);
            }
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (port, bodies)
}

#[test]
fn a_webhook_down_at_first_gets_every_state_change_once_in_order_and_its_url_stays_secret() {
    let (port, bodies) = server(2);
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
        bringup(dir.path())
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
    let got = bodies.lock().expect("lock").clone();
    assert_eq!(got.len(), states.len(), "{got:?}");
    for body in &got {
        let v: serde_json::Value = serde_json::from_str(body).expect("json body");
        assert!(
            v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("[hooks] ")),
            "{body}"
        );
    }
}
