//! Crash safety: a writer killed with SIGKILL mid-run leaves a journal whose every complete
//! line verifies, and which a resumed writer continues. The child is this test binary
//! re-run with `BRINGUP_CRASH_CHILD` set; the parent owns and kills it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bringup::journal::{self, Durability, Event, JournalWriter};
use bringup::runbook::model::{HostId, ServiceId};

const CHILD_ENV: &str = "BRINGUP_CRASH_CHILD";

/// In the child: append until killed (bounded, in case nobody kills it).
#[test]
fn crash_child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = Path::new(&path);
    let mut w = JournalWriter::create(path, &["pw".to_string()]).expect("create");
    let (s, h) = (ServiceId::new("svc"), HostId::new("h"));
    for i in 0..2_000_000u64 {
        let big = i % 97 == 0;
        let text = if big {
            "x".repeat(70_000)
        } else {
            format!("output line {i} pw\n")
        };
        w.append_output(&s, "step", &h, text.as_bytes())
            .expect("output");
        if i % 10 == 0 {
            w.append_with(
                &Event::Note {
                    operator: "op".into(),
                    text: format!("note {i}"),
                    provenance: bringup::journal::event::Provenance::default(),
                },
                Durability::Sync,
            )
            .expect("note");
        }
    }
}

#[test]
fn sigkill_mid_run_leaves_a_verifiable_journal_that_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.jsonl");
    for round in 0..3u64 {
        let _ = std::fs::remove_file(&path);
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "journal_crash::crash_child_writer",
                "--nocapture",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let deadline = Instant::now() + Duration::from_secs(20);
        let want = 200_000 * (round + 1);
        while std::fs::metadata(&path).map_or(0, |m| m.len()) < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child");

        let report = journal::verify(&path).expect("readable");
        assert!(
            report.is_intact(),
            "round {round}: {:?}",
            report.first_problem()
        );
        assert!(
            report.events > 10,
            "round {round}: the child wrote something"
        );
        let (mut w, _) = JournalWriter::resume(&path, &[]).expect("resume");
        let next = w
            .append(&Event::Resumed {
                key: None,
                from_seq: report.last_seq,
                forced: false,
                runbook_sha256: None,
                operator: None,
                identity: None,
                previous: None,
                reason: None,
            })
            .expect("append");
        assert_eq!(next.seq, report.last_seq + 1);
        drop(w);
        assert!(journal::verify(&path).expect("readable").is_intact());
        assert!(
            !std::fs::read_to_string(&path)
                .expect("read")
                .contains("pw\\n")
        );
    }
}
