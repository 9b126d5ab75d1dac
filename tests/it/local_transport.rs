//! The local transport: `sh -s` reading its script from stdin, in its own process group, merged streaming output, exit
//! codes, and a timeout or cancel that stops the whole group.

use std::fmt::Write as _;
use std::time::Duration;

use crate::support::procs::{processes_with, unique};
use bringup::engine::state::StepOutcome;
use bringup::exec::local;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn run(
    command: &str,
    timeout: Duration,
    cancel: CancellationToken,
) -> (bringup::exec::StepResult, Vec<String>) {
    let (tx, mut rx) = mpsc::channel(4);
    let collect = tokio::spawn(async move {
        let mut bytes = Vec::new();
        while let Some(chunk) = rx.recv().await {
            bytes.extend(chunk);
        }
        bringup::exec::lines::split_lines(&bytes)
    });
    let result = local::run(
        "operator",
        command,
        timeout,
        tx,
        bringup::journal::mask::Masker::default(),
        cancel,
    )
    .await;
    (result, collect.await.expect("collector"))
}

#[tokio::test]
async fn a_script_larger_than_the_pipe_runs_whole_and_its_command_gets_no_stdin() {
    let mut script = String::new();
    for i in 0..20_000 {
        let _ = writeln!(
            script,
            "# filler line {i} to make the script larger than a pipe"
        );
    }
    script.push_str("echo start; cat; read x; echo \"read[$x]\"");
    assert!(script.len() > 1024 * 1024);
    let (result, lines) = run(&script, Duration::from_secs(20), CancellationToken::new()).await;
    assert_eq!(
        (result.outcome, result.exit_code),
        (StepOutcome::Ok, Some(0)),
        "{result:?}"
    );
    assert_eq!(lines, ["start", "read[]"]);
    let (result, lines) = run(
        "echo quick",
        Duration::from_secs(20),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        (result.exit_code, lines),
        (Some(0), vec!["quick".to_string()])
    );
}

#[tokio::test]
async fn the_script_is_not_on_the_command_line() {
    let marker = unique("cmdline-marker-");
    let command = format!("echo {marker} >/dev/null; sleep 1");
    let handle = tokio::spawn(async move {
        run(&command, Duration::from_secs(20), CancellationToken::new()).await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let seen = processes_with(&marker);
    let (result, _) = handle.await.expect("run");
    assert_eq!(result.exit_code, Some(0), "{result:?}");
    assert!(seen.is_empty(), "the script shows in ps: {seen}");
}

#[tokio::test]
async fn stdout_and_stderr_stream_merged_with_the_exit_code() {
    let (result, lines) = run(
        "echo one; echo two >&2; sleep 0.1; echo three; exit 3",
        Duration::from_secs(10),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        (result.outcome, result.exit_code),
        (StepOutcome::Ok, Some(3))
    );
    assert_eq!(lines, ["one", "two", "three"]);
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let m = unique("400.");
    let command = format!("(trap '' TERM; sleep {m}) & sleep {m}; echo never");
    let (result, lines) = run(
        &command,
        Duration::from_millis(500),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(result.outcome, StepOutcome::Timeout, "{result:?}");
    assert!(!lines.contains(&"never".to_string()));
    assert_eq!(processes_with(&m), "", "processes left behind");
}

#[tokio::test]
async fn cancel_kills_the_group_and_reports_an_error() {
    let m = unique("401.");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let (result, _) = run(&format!("sleep {m}"), Duration::from_secs(30), cancel).await;
    assert_eq!(result.outcome, StepOutcome::Error);
    let text = result.error.as_deref().unwrap_or("");
    assert!(
        text.contains("cancelled") && text.contains("'operator'"),
        "{text}"
    );
    assert_eq!(processes_with(&m), "");
}

#[tokio::test]
async fn a_background_process_holding_the_pipe_does_not_hold_the_step_past_its_timeout() {
    let m = unique("402.");
    let (result, lines) = run(
        &format!("echo started; setsid sleep {m} & exit 0"),
        Duration::from_secs(1),
        CancellationToken::new(),
    )
    .await;
    // The command exited 0; the daemonized child is outside its group and is left alone.
    assert_eq!(
        (result.outcome, result.exit_code),
        (StepOutcome::Ok, Some(0)),
        "{result:?}"
    );
    assert_eq!(lines, ["started"]);
    // Clean up the daemonized child by its pid (found through its unique marker).
    for line in processes_with(&m).lines() {
        if let Some(pid) = line.split_whitespace().next().and_then(|p| p.parse().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[tokio::test]
async fn a_timeout_too_long_for_the_clock_does_not_panic_and_the_command_runs() {
    let (result, lines) = run("echo fine", Duration::MAX, CancellationToken::new()).await;
    assert_eq!(
        (result.outcome, result.exit_code),
        (StepOutcome::Ok, Some(0)),
        "{result:?}"
    );
    assert_eq!(lines, ["fine"]);
}
