//! Webhooks never follow redirects (SPEC "Edges"), against real HTTP servers on 127.0.0.1:
//! two webhooks answer 301 and 307 with a `Location` on a third server, which must get
//! nothing: no body, no secret header, no secret from the URL, no `Referer`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::local::{bringup, folder, output};
use crate::support::run::{read_journal, stderr};
use serde_json::Value;

/// A server on 127.0.0.1 that keeps what each connection sent (read until the head ends or
/// the peer is silent for a moment) and answers `answer`.
fn server(answer: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(k) = s.read(&mut chunk) {
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            seen.lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&buf).into_owned());
            let _ = s.write_all(answer.as_bytes());
        }
    });
    (port, got)
}

fn redirect(status: &str, to: u16) -> String {
    format!(
        "HTTP/1.1 {status}\r\nlocation: http://127.0.0.1:{to}/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

#[test]
fn a_webhook_answering_301_or_307_fails_with_that_status_and_nothing_goes_where_it_points() {
    let (elsewhere, stolen) =
        server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into());
    let (moved, moved_got) = server(redirect("301 Moved Permanently", elsewhere));
    let (temporary, temporary_got) = server(redirect("307 Temporary Redirect", elsewhere));
    let toml = r#"
[runbook]
name = "hooks"
secret_vars = ["hook", "key"]

[hosts.box]
transport = "local"

[[notify]]
url = "http://127.0.0.1:MOVED/hook?token={{hook}}"
format = "json"
on = ["service_state"]
secret_header = "X-Api-Key: {{key}}"

[[notify]]
url = "http://127.0.0.1:TEMPORARY/hook?token={{hook}}"
format = "json"
on = ["service_state"]
secret_header = "X-Api-Key: {{key}}"

[[service]]
id = "mail"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "sleep 1"
"#
    .replace("MOVED", &moved.to_string())
    .replace("TEMPORARY", &temporary.to_string());
    let (dir, runbook, journal) = folder(&toml);
    let log = dir.path().join("bringup.log");
    let out = output(
        bringup(dir.path())
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .args(["run", "--yes", "--var", "hook=query-s3cret", "--var"])
            .arg("key=header-s3cret")
            .arg("--log-file")
            .arg(&log)
            .arg("--journal")
            .arg(&journal)
            .arg(&runbook),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The webhooks were asked, with their secrets: the redirect is what they answered.
    for got in [&moved_got, &temporary_got] {
        let got = got.lock().expect("lock");
        assert!(!got.is_empty(), "the webhook was not asked");
        assert!(got[0].contains("query-s3cret"), "{:?}", got[0]);
        assert!(got[0].contains("header-s3cret"), "{:?}", got[0]);
    }
    // Give a follower that would still be on its way a moment, then: nothing arrived there.
    std::thread::sleep(Duration::from_millis(300));
    let stolen = stolen.lock().expect("lock");
    assert!(stolen.is_empty(), "the redirect was followed: {stolen:?}");

    let events = read_journal(&journal);
    let of = |kind: &str, notify: u64| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["kind"] == kind && e["notify"] == notify)
            .collect()
    };
    for (notify, status) in [(0, 301), (1, 307)] {
        assert!(of("notify_sent", notify).is_empty(), "{events:?}");
        let failed = of("notify_failed", notify);
        assert!(
            failed
                .iter()
                .any(|e| e["status"] == status && e["attempt"].as_u64() >= Some(1)),
            "notify {notify}: {failed:?}"
        );
    }
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(
        log.contains(&format!("http://127.0.0.1:{elsewhere}/elsewhere")),
        "the Location is in the log: {log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
}
