//! Who did it (SPEC "Who did it (identity)") on a real 3-member etcd cluster on loopback,
//! with real `bringup` processes and real SSH keys made by `ssh-keygen`: a signed approval is
//! carried out and journaled with its key; an impersonation, an unsigned request put straight
//! into etcd, a replayed request (twice into one run, and into another run) and an
//! observer's request are refused, journaled as `request_refused` and answered.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::etcd::{Cluster, Wait as _, block, events};
use crate::support::procs::Reaped;
use crate::support::run::{stderr, stdout};
use crate::support::wait::{wait_exit, wait_for};
use bringup::driver::Ask;
use bringup::identity::{RequestMessage, SignedRequest, sign};
use bringup::journal::etcd::shared::{Posted, await_answer, post_request};
use bringup::journal::etcd::{Access, Etcd, EtcdStore, RunUrl};
use bringup::journal::record;
use bringup::journal::seal::SigningKey;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(90);

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin!("bringup").to_path_buf()
}

/// `bringup ARGS` with no ssh-agent (keys are given by file), in `dir` (its state folder too).
fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .env("XDG_STATE_HOME", dir)
        .env_remove("SSH_AUTH_SOCK");
    c
}

fn key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(ok.success());
    path
}

fn public(key: &Path) -> String {
    let text = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .expect("ssh-keygen -l");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_string()
}

/// One local service whose restore `start gateway` (confirm) touches `DIR/up`; requests are
/// checked against `allowed_signers` beside it.
fn runbook(dir: &Path) -> PathBuf {
    let d = dir.display();
    let text = format!(
        r#"[runbook]
name = "identity"
operators = "allowed_signers"

[defaults]
timeout = "90s"

[hosts.h1]
transport = "local"

[[service]]
id = "msg"
hosts = ["h1"]

[[service.check]]
name = "up"
run = "test -f {d}/up"

[[service.restore]]
name = "start gateway"
run = "touch {d}/up"
confirm = true
"#
    );
    let path = dir.join("rb.toml");
    std::fs::write(&path, text).expect("runbook");
    path
}

fn waiting_for_approval(url: &str) {
    wait_for("the restore to wait for an approval", LIMIT, || {
        events(url)
            .iter()
            .any(|e| e["kind"] == "service_state" && e["to"] == "restoring")
    });
}

fn spawn_run(dir: &Path, rb: &Path, url: &str) -> Child {
    cmd(dir)
        .args(["run"])
        .arg(rb)
        .args(["--journal", url, "--operator", "kim"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("run.err")).expect("err file"))
        .spawn()
        .expect("run")
}

fn approve(dir: &Path, url: &str, operator: &str, key: &Path) -> Output {
    cmd(dir)
        .args([
            "approve",
            url,
            "--service",
            "msg",
            "--step",
            "start gateway",
        ])
        .args(["--operator", operator, "--sign-key"])
        .arg(key)
        .output()
        .expect("approve")
}

/// Put `posted` under the run's `requests/` as any etcd client could, and wait for its
/// answer: `Ok(seq)` carried out, `Err(why)` refused.
fn put_request(url: &str, posted: &Posted) -> Result<Option<u64>, String> {
    let url = RunUrl::parse(url).expect("url");
    block(async {
        let mut etcd = Etcd::connect_with(&url.endpoints, &Access::default())
            .await
            .expect("connect");
        let id = post_request(&mut etcd, &url, posted).await.expect("post");
        let answer = await_answer(&mut etcd, &url, &id, Duration::from_secs(30))
            .await
            .expect("answer")
            .expect("answered in time");
        match answer.refused {
            Some(why) => Err(why),
            None => Ok(answer.seq),
        }
    })
}

/// A note signed by `key` as `operator` for the run at `url`.
fn signed_note(url: &str, operator: &str, key: &Path, text: &str) -> SignedRequest {
    let parsed = RunUrl::parse(url).expect("url");
    let first = EtcdStore::open(&parsed)
        .wait()
        .expect("store")
        .first_line()
        .wait()
        .expect("read")
        .expect("run_started");
    let hash = record::parse(&first).expect("line").hash;
    let message = RequestMessage::new(
        &parsed.name,
        &hash,
        operator,
        chrono::Utc::now(),
        Ask::Note { text: text.into() },
    )
    .expect("message");
    sign(&message, &SigningKey::File(key.to_path_buf())).expect("sign")
}

fn posted(signed: &SignedRequest, operator: &str) -> Posted {
    Posted {
        operator: operator.into(),
        ask: serde_json::json!({"kind": "note", "text": "whatever the signed bytes say"}),
        signed: Some(signed.clone()),
    }
}

/// Keys for alice, mallory and olga, and `allowed_signers` beside them listing the three,
/// olga as an observer.
fn keys(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let alice = key(d, "alice");
    let mallory = key(d, "mallory");
    let olga = key(d, "olga");
    std::fs::write(
        d.join("allowed_signers"),
        format!(
            "alice {}\nmallory {}\nolga namespaces=\"bringup-observe\" {}\n",
            public(&alice),
            public(&mallory),
            public(&olga)
        ),
    )
    .expect("signers");
    (alice, mallory, olga)
}

#[test]
fn signed_requests_are_verified_and_impersonation_unsigned_replayed_and_observer_requests_are_refused()
 {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (alice, mallory, olga) = keys(d);
    let rb = runbook(d);
    let url = cluster.url("who");
    let mut exec = spawn_run(d, &rb, &url);
    waiting_for_approval(&url);

    // mallory signs with her own key and claims to be alice: refused, exit 1.
    let forged = approve(d, &url, "alice", &mallory);
    assert_eq!(forged.status.code(), Some(1), "{}", stderr(&forged));
    assert!(
        stderr(&forged).contains("belongs to 'mallory'"),
        "{}",
        stderr(&forged)
    );
    // An observer may not approve.
    let watcher = approve(d, &url, "olga", &olga);
    assert_eq!(watcher.status.code(), Some(1), "{}", stderr(&watcher));
    assert!(
        stderr(&watcher).contains("observer"),
        "{}",
        stderr(&watcher)
    );
    // Plain JSON under requests/, as `etcdctl put` would write it: unsigned.
    let plain = put_request(
        &url,
        &Posted {
            operator: "alice".into(),
            ask: serde_json::json!({"kind": "note", "text": "from etcdctl"}),
            signed: None,
        },
    );
    assert!(
        plain.as_ref().is_err_and(|why| why.starts_with("unsigned")),
        "{plain:?}"
    );
    // alice's signed note goes through once; the same bytes again are a replay.
    let note = signed_note(&url, "alice", &alice, "DBA paged");
    let first = put_request(&url, &posted(&note, "alice"));
    assert!(matches!(first, Ok(Some(_))), "{first:?}");
    let again = put_request(&url, &posted(&note, "alice"));
    assert!(
        again.as_ref().is_err_and(|why| why.starts_with("replayed")),
        "{again:?}"
    );
    // The refusals changed nothing: the step still waits (in a journal read whole).
    let journal = events(&url);
    assert!(
        journal.iter().any(|e| e["kind"] == "run_started"),
        "the run's journal was read"
    );
    assert!(
        !journal
            .iter()
            .any(|e| e["kind"] == "step_started" && e["step"] == "start gateway")
    );

    // alice approves with her key: carried out.
    let ok = approve(d, &url, "alice", &alice);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("as alice"), "{}", stdout(&ok));
    let status = wait_exit(&mut exec, LIMIT).expect("the run ends");
    assert_eq!(status.code(), Some(0));

    let ev = events(&url);
    let approval = ev
        .iter()
        .find(|e| e["kind"] == "approval")
        .expect("an approval");
    assert_eq!(approval["operator"], "alice");
    assert_eq!(approval["identity"], "verified");
    assert_eq!(approval["key"], fingerprint(&alice).as_str());
    let notes: Vec<&Value> = ev.iter().filter(|e| e["kind"] == "note").collect();
    assert_eq!(
        notes.len(),
        1,
        "only the first of the replayed notes: {notes:?}"
    );
    assert_eq!(notes[0]["text"], "DBA paged");
    assert_eq!(notes[0]["identity"], "verified");
    let refused: Vec<(&str, &str)> = ev
        .iter()
        .filter(|e| e["kind"] == "request_refused")
        .map(|e| {
            (
                e["operator"].as_str().unwrap_or(""),
                e["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            ("alice", "principal_differs"),
            ("olga", "observer"),
            ("alice", "unsigned"),
            ("alice", "replayed"),
        ]
    );
    let forged_event = ev
        .iter()
        .find(|e| e["kind"] == "request_refused")
        .expect("refused");
    assert_eq!(forged_event["key"], fingerprint(&mallory).as_str());

    replayed_into_another_run(&cluster, d, &rb, &alice, &note);
}

/// The same signed bytes (a note alice signed for run `who`) into another run (another name,
/// its own run_started) are refused there too.
fn replayed_into_another_run(
    cluster: &Cluster,
    d: &Path,
    rb: &Path,
    alice: &Path,
    note: &SignedRequest,
) {
    std::fs::remove_file(d.join("up")).expect("down again");
    let other = cluster.url("other");
    let mut exec2 = spawn_run(d, rb, &other);
    waiting_for_approval(&other);
    let elsewhere = put_request(&other, &posted(note, "alice"));
    assert!(
        elsewhere
            .as_ref()
            .is_err_and(|why| why.contains("signed for another run ('who')")),
        "{elsewhere:?}"
    );
    let ok = approve(d, &other, "alice", alice);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(wait_exit(&mut exec2, LIMIT).and_then(|s| s.code()), Some(0));
    assert!(
        events(&other)
            .iter()
            .any(|e| e["kind"] == "request_refused" && e["code"] == "other_run")
    );
}

/// `bringup run` on a file journal in `dir` as `operator`, with `extra` arguments, to the end.
fn run_file(dir: &Path, extra: &[&str]) -> Output {
    let out = cmd(dir)
        .arg("run")
        .arg(dir.join("rb.toml"))
        .args(["--yes"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let _ = std::fs::remove_file(dir.join("up"));
    out
}

fn first_of(journal: &Path, kind: &str) -> Value {
    crate::support::events::read_journal(journal)
        .into_iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {}", journal.display()))
}

#[test]
fn run_started_and_a_resume_carry_the_executing_operators_key_checked_against_the_allowed_signers()
{
    crate::require!(SshClient);
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    runbook(d);
    let (alice, mallory, _) = keys(d);
    let j = |name: &str| d.join(name).display().to_string();

    // alice's own key, listed for alice: verified, with its fingerprint.
    let out = run_file(
        d,
        &[
            "--journal",
            &j("a.jsonl"),
            "--operator",
            "alice",
            "--sign-key",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "--sign-key needs a value");
    let ok = run_file(
        d,
        &[
            "--journal",
            &j("a.jsonl"),
            "--operator",
            "alice",
            "--sign-key",
            alice.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let started = first_of(&d.join("a.jsonl"), "run_started");
    assert_eq!(started["key"], fingerprint(&alice), "{started}");
    assert_eq!(started["identity"], "verified", "{started}");

    // mallory's key claiming to be alice: recorded, and recorded as not verified.
    let claimed = run_file(
        d,
        &[
            "--journal",
            &j("m.jsonl"),
            "--operator",
            "alice",
            "--sign-key",
            mallory.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(claimed.status.code(), Some(0), "{}", stderr(&claimed));
    let started = first_of(&d.join("m.jsonl"), "run_started");
    assert_eq!(started["key"], fingerprint(&mallory), "{started}");
    assert_eq!(started["identity"], "unverified", "{started}");
    let md = cmd(d)
        .args(["export", &j("m.jsonl"), "--format", "markdown"])
        .output()
        .expect("export");
    assert!(
        stdout(&md).contains("operator NOT verified"),
        "{}",
        stdout(&md)
    );

    // No key at hand (no agent, no --sign-key): nothing claimed.
    let bare = run_file(d, &["--journal", &j("n.jsonl"), "--operator", "alice"]);
    assert_eq!(bare.status.code(), Some(0), "{}", stderr(&bare));
    let started = first_of(&d.join("n.jsonl"), "run_started");
    assert!(started.get("key").is_none(), "{started}");
    assert!(started.get("identity").is_none(), "{started}");

    // A key file that is not there is bad input, named.
    let missing = run_file(
        d,
        &["--journal", &j("x.jsonl"), "--sign-key", &j("no-such-key")],
    );
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("--sign-key"),
        "{}",
        stderr(&missing)
    );

    // Whoever continues the run proves themselves the same way, in `resumed`.
    let resumed = run_file(
        d,
        &[
            "--resume",
            &j("n.jsonl"),
            "--operator",
            "mallory",
            "--sign-key",
            mallory.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    let again = first_of(&d.join("n.jsonl"), "resumed");
    assert_eq!(again["operator"], "mallory", "{again}");
    assert_eq!(again["key"], fingerprint(&mallory), "{again}");
    assert_eq!(again["identity"], "verified", "{again}");
}

/// `bringup run` of the two-person runbook, waiting for operators (headless: nobody at its
/// terminal), `extra` (the journal) before the runbook.
fn spawn_waiting(dir: &Path, extra: &[&str]) -> Child {
    cmd(dir)
        .arg("run")
        .args(extra)
        .args(["--wait-for-operators", "--operator", "kim"])
        .arg(dir.join("rb.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run")
}

fn journal_of(j: &Path) -> Vec<Value> {
    if j.exists() {
        crate::support::events::read_journal(j)
    } else {
        Vec::new()
    }
}

fn asked_times(j: &Path) -> usize {
    journal_of(j)
        .iter()
        .filter(|e| e["kind"] == "asked" && e["question"] == "approval")
        .count()
}

#[test]
fn a_two_person_steps_first_approval_still_counts_after_the_executor_is_killed_and_the_run_resumed()
{
    crate::require!(SshClient);
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let rb = runbook(d);
    let text = std::fs::read_to_string(&rb).expect("runbook");
    std::fs::write(&rb, text.replace("confirm = true", "confirm = 2")).expect("confirm = 2");
    let (alice, mallory, _) = keys(d);
    let j = d.join("two.jsonl");
    let url = j.to_str().expect("utf-8");

    let mut run = Reaped(spawn_waiting(d, &["--journal", url]));
    wait_for("the question", LIMIT, || {
        asked_times(&j) >= 1 && d.join("two.jsonl.sock").exists()
    });
    let first = approve(d, url, "alice", &alice);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // One of two: asked again, saying who approved.
    wait_for("the question asked again", LIMIT, || asked_times(&j) >= 2);
    let _ = Command::new("kill")
        .args(["-KILL", &run.0.id().to_string()])
        .status();
    let _ = wait_exit(&mut run.0, LIMIT);

    let mut resumed = Reaped(spawn_waiting(d, &["--resume", url]));
    wait_for("the question after the resume", LIMIT, || {
        journal_of(&j).iter().any(|e| e["kind"] == "resumed")
            && asked_times(&j) >= 3
            && d.join("two.jsonl.sock").exists()
    });
    // A second, different person: the step runs now, alice's approval still counting.
    let second = approve(d, url, "mallory", &mallory);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let status = wait_exit(&mut resumed.0, LIMIT).expect("the resumed run ends");
    assert_eq!(status.code(), Some(0));
    let events = journal_of(&j);
    let started = events
        .iter()
        .filter(|e| e["kind"] == "step_started" && e["phase"] == "restore")
        .count();
    assert_eq!(
        started, 1,
        "the step ran once, after two people: {events:#?}"
    );
    let approvals: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "approval")
        .filter_map(|e| e["operator"].as_str())
        .collect();
    assert_eq!(approvals, ["alice", "mallory"]);
}
