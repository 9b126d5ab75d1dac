//! `bringup run` on a terminal (through `script`): a question waiting for the operator stays
//! in view while other services keep printing progress lines.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn an_open_question_is_shown_again_below_progress_lines_that_pushed_it_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("gated.up");
    let runbook = dir.path().join("prompt.toml");
    std::fs::write(
        &runbook,
        format!(
            r#"[runbook]
name = "prompt"

[hosts.box]
transport = "local"

[[service]]
id = "gated"
name = "Gated"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f {state}"
  [[service.restore]]
  name = "open the gate"
  run = "touch {state}"
  confirm = true

[[service]]
id = "chatty"
name = "Chatty"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f {chatty}"
  [[service.restore]]
  name = "talk a while"
  run = "sleep 1; for i in 1 2 3 4 5; do echo chatter-$i; sleep 0.2; done; touch {chatty}"
"#,
            state = state.display(),
            chatty = dir.path().join("chatty.up").display()
        ),
    )
    .expect("write runbook");
    let journal = dir.path().join("journal.jsonl");
    let command = format!(
        "{} run --journal {} {}",
        assert_cmd::cargo::cargo_bin("bringup").display(),
        journal.display(),
        runbook.display()
    );
    let mut script = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script starts");
    // Both restore at once: gated asks, chatty prints. Answer once the chatter is over.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("chatter-5")) {
        assert!(Instant::now() < deadline, "the chatty check never finished");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut stdin = script.stdin.take().expect("stdin");
    stdin.write_all(b"y\n").expect("answer");
    let out = script.wait_with_output().expect("script ends");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    let asked = screen.find("APPROVAL NEEDED").expect("asked");
    let last_chatter = screen.rfind("chatter-5").expect("chatter printed");
    assert!(asked < last_chatter, "the question came first:\n{screen}");
    let after = &screen[last_chatter..];
    let answered = after.find("approved").unwrap_or(after.len());
    assert!(
        after[..answered].contains("still waiting: approve gated"),
        "the question is shown again below the progress lines:\n{screen}"
    );
}
