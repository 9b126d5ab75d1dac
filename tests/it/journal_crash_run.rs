//! Crash safety of the whole product: `bringup run --yes` over real loopback sshd is killed with
//! SIGKILL at many moments of a multi-tier run; each time the journal verifies, `--resume`
//! finishes the run, and no restore step recorded `ok` is run (or recorded) again.
//! Seeded: `BRINGUP_CRASH_SEED=N` reproduces a failing sequence of kill delays.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::events::read_written as events;
use crate::support::sshd::{Lab, Sshd, current_user};
use serde_json::Value;

const CASES: u32 = 50;
const WORKERS: u32 = 3;
const DEFAULT_SEED: u64 = 0x5eed_2022_1015;
/// Bound on one run of the binary; a hung run fails the test instead of hanging it.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The hosts (one sshd, one port each) and the runbook over them. Restore steps log each
/// execution, sleep a little and create the state file the service's check looks for; the
/// mail relay's first attempt fails once and succeeds on retry; `auth` asks for approval.
struct Rig {
    lab: Lab,
    _sshd: Sshd,
    home: PathBuf,
    runbook: PathBuf,
}

const HOSTS: [&str; 4] = ["h1", "h2", "h3", "h4"];

fn rig() -> Rig {
    let lab = Lab::new();
    let sshd = lab.sshd(HOSTS.len());
    // The binary reads known_hosts from $HOME/.ssh, as an operator's would be.
    let home = lab.path("home");
    std::fs::create_dir_all(home.join(".ssh")).expect("home/.ssh");
    std::fs::write(home.join(".ssh/known_hosts"), sshd.known_hosts_lines()).expect("known_hosts");
    let mut toml = String::from(
        "[runbook]\nname = \"crash drill\"\n\n[defaults]\ntimeout = \"20s\"\nretry_delay = \"50ms\"\n\n[vars]\nstate = \"/nonexistent\"\n\n",
    );
    for (host, port) in HOSTS.iter().zip(&sshd.ports) {
        let _ = writeln!(
            toml,
            "[hosts.{host}]\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"{}\"\nidentity = \"{}\"\n",
            current_user(),
            lab.client_key.display()
        );
    }
    // (id, tier, hosts, depends_on, extra restore keys for the first step)
    let services: [(&str, u32, &[&str], &[&str]); 5] = [
        ("db", 1, &["h1", "h2"], &[]),
        ("cache", 1, &["h3"], &[]),
        ("auth", 2, &["h1", "h3"], &["db"]),
        ("messaging", 2, &["h2", "h4"], &["auth", "cache"]),
        ("mail", 3, &["h4", "h1"], &["messaging"]),
    ];
    for (id, tier, hosts, deps) in services {
        let quoted = |xs: &[&str]| {
            xs.iter()
                .map(|x| format!("\"{x}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            toml,
            "[[service]]\nid = \"{id}\"\nname = \"{id} service\"\ntier = {tier}\nhosts = [{}]\ndepends_on = [{}]\n\n\
             [[service.check]]\nname = \"up\"\nfeature = \"{id} works\"\nrun = \"test -f {{{{state}}}}/{{{{service}}}}.{{{{host}}}}.up\"\n\n",
            quoted(hosts),
            quoted(deps)
        );
        let first = if id == "mail" {
            // Fails its first attempt (once per host), then passes on retry.
            "name = \"start relay\"\nretries = 2\nrun = \"echo run >> {{state}}/{{service}}.{{host}}.s1.log; sleep 0.1; if [ -f {{state}}/{{service}}.{{host}}.tried ]; then touch {{state}}/{{service}}.{{host}}.s1; else touch {{state}}/{{service}}.{{host}}.tried; exit 1; fi\"\n"
        } else if id == "auth" {
            "name = \"start\"\nconfirm = true\nrun = \"echo run >> {{state}}/{{service}}.{{host}}.s1.log; sleep 0.15; touch {{state}}/{{service}}.{{host}}.s1\"\n"
        } else {
            "name = \"start\"\nrun = \"echo run >> {{state}}/{{service}}.{{host}}.s1.log; sleep 0.15; touch {{state}}/{{service}}.{{host}}.s1\"\n"
        };
        let _ = write!(
            toml,
            "[[service.restore]]\n{first}\n[[service.restore]]\nname = \"mark up\"\nrun = \"echo run >> {{{{state}}}}/{{{{service}}}}.{{{{host}}}}.s2.log; test -f {{{{state}}}}/{{{{service}}}}.{{{{host}}}}.s1 && sleep 0.1 && echo ready && touch {{{{state}}}}/{{{{service}}}}.{{{{host}}}}.up\"\n\n"
        );
    }
    let runbook = lab.path("crash.toml");
    std::fs::write(&runbook, toml).expect("write runbook");
    Rig {
        lab,
        _sshd: sshd,
        home,
        runbook,
    }
}

impl Rig {
    fn bringup(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("bringup"));
        cmd.env("HOME", &self.home)
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("XDG_DATA_HOME")
            .env("USER", "crash-tester")
            .stdin(Stdio::null());
        cmd
    }

    /// `bringup run --yes` for one case's state folder, journaling to `journal`.
    fn run(&self, state: &Path, journal: &Path, resume: bool) -> Command {
        let mut cmd = self.bringup();
        cmd.arg("run")
            .arg(&self.runbook)
            .arg("--yes")
            .arg("--var")
            .arg(format!("state={}", state.display()));
        if resume {
            cmd.arg("--resume").arg(journal);
        } else {
            cmd.arg("--journal").arg(journal);
        }
        cmd
    }

    /// `bringup verify journal`, run to its end (`what` names it if it hangs).
    fn verify(&self, journal: &Path, what: &str) -> Output {
        let mut cmd = self.bringup();
        cmd.arg("verify").arg(journal);
        run_to_end(cmd, what)
    }
}

/// Wait for a child, killing it (and failing) past `RUN_LIMIT`.
fn finish(mut child: std::process::Child, what: &str) -> Output {
    let deadline = Instant::now() + RUN_LIMIT;
    while child.try_wait().expect("poll child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap");
            panic!(
                "{what} did not end within {RUN_LIMIT:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect output")
}

fn run_to_end(mut cmd: Command, what: &str) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bringup");
    finish(child, what)
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

type StepKey = (String, String, String);

fn restore_key(v: &Value) -> Option<StepKey> {
    (text(v, "phase") == "restore").then(|| (text(v, "service"), text(v, "step"), text(v, "host")))
}

/// What one killed-and-resumed case showed; the test asserts on all of them at the end.
struct Case {
    index: usize,
    delay: Duration,
    problems: Vec<String>,
    /// The kill came before any complete `run_started` line: nothing to resume.
    before_start: bool,
    torn: bool,
    /// Complete events in the journal when the run was killed.
    events_at_kill: usize,
}

#[allow(clippy::too_many_lines)]
fn crash_case(rig: &Rig, index: usize, delay: Duration) -> Case {
    let dir = rig.lab.path(&format!("case-{index:02}"));
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let journal = dir.join("journal.jsonl");
    let mut case = Case {
        index,
        delay,
        problems: Vec::new(),
        before_start: false,
        torn: false,
        events_at_kill: 0,
    };

    let mut child = rig
        .run(&state, &journal, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bringup run");
    std::thread::sleep(delay);
    // Child::kill is SIGKILL: no handler runs, nothing is flushed.
    let _ = child.kill();
    let status = child.wait().expect("reap the killed run");
    let killed_mid_run = status.code().is_none();

    let started = journal.exists()
        && events(&journal)
            .iter()
            .any(|e| text(e, "kind") == "run_started");
    if !started {
        // Killed before the journal recorded the start: nothing may have happened on a host.
        case.before_start = true;
        let touched: Vec<_> = std::fs::read_dir(&state)
            .expect("state dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        if !touched.is_empty() {
            case.problems.push(format!(
                "hosts changed before run_started was journaled: {touched:?}"
            ));
        }
        return case;
    }
    let raw = std::fs::read(&journal).expect("read journal");
    case.torn = !raw.ends_with(b"\n");
    let original = events(&journal);
    case.events_at_kill = original.len();

    let verify = rig.verify(&journal, "verify");
    if verify.status.code() != Some(0) {
        case.problems.push(format!(
            "verify after SIGKILL exited {:?}: {}{}",
            verify.status.code(),
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        ));
    }
    if case.torn && !String::from_utf8_lossy(&verify.stderr).contains("warning") {
        case.problems
            .push("a torn last line was not reported as a warning by verify".into());
    }

    let resumed = run_to_end(rig.run(&state, &journal, true), "resume");
    if resumed.status.code() != Some(0) {
        case.problems.push(format!(
            "resume exited {:?} (killed mid-run: {killed_mid_run}); stderr:\n{}",
            resumed.status.code(),
            String::from_utf8_lossy(&resumed.stderr)
        ));
        return case;
    }

    let all = events(&journal);
    let reverify = rig.verify(&journal, "verify after resume");
    if reverify.status.code() != Some(0) {
        case.problems.push(format!(
            "verify after resume exited {:?}: {}",
            reverify.status.code(),
            String::from_utf8_lossy(&reverify.stderr)
        ));
    }
    let Some(resume_at) = all.iter().position(|e| text(e, "kind") == "resumed") else {
        case.problems
            .push("no `resumed` event after --resume".into());
        return case;
    };
    let from_seq = all[resume_at]["from_seq"].as_u64();
    let last_original = original.last().and_then(|e| e["seq"].as_u64());
    if from_seq != last_original {
        case.problems.push(format!(
            "resumed.from_seq {from_seq:?}, last complete seq before the resume {last_original:?}"
        ));
    }

    // No restore step (service, step, host) recorded ok twice; none whose success was
    // recorded before the crash started again after it.
    let mut ok: HashMap<StepKey, usize> = HashMap::new();
    for e in all.iter().filter(|e| text(e, "kind") == "step_finished") {
        if let Some(key) = restore_key(e).filter(|_| text(e, "outcome") == "ok") {
            *ok.entry(key).or_default() += 1;
        }
    }
    for (key, n) in &ok {
        if *n > 1 {
            case.problems
                .push(format!("restore {key:?} recorded ok {n} times"));
        }
    }
    let ok_before: Vec<StepKey> = all[..resume_at]
        .iter()
        .filter(|e| text(e, "kind") == "step_finished" && text(e, "outcome") == "ok")
        .filter_map(restore_key)
        .collect();
    for e in all[resume_at..]
        .iter()
        .filter(|e| text(e, "kind") == "step_started")
    {
        if let Some(key) = restore_key(e).filter(|k| ok_before.contains(k)) {
            case.problems.push(format!(
                "restore {key:?} ran again after resume although its success was recorded"
            ));
        }
    }

    // The confirm step starts only after an approval journaled in the same part of the run.
    let mut approved = false;
    for e in &all {
        match text(e, "kind").as_str() {
            "resumed" => approved = false,
            "approval" if text(e, "service") == "auth" => {
                approved = text(e, "decision") == "approved";
            }
            "step_started"
                if text(e, "service") == "auth"
                    && text(e, "phase") == "restore"
                    && text(e, "step") == "start"
                    && !approved =>
            {
                case.problems.push(format!(
                    "auth 'start' began at seq {} without an approval journaled before it",
                    e["seq"]
                ));
            }
            _ => {}
        }
    }

    // A service caught mid-way (checking, restoring, verifying) is checked again first.
    let mut last_state: HashMap<String, String> = HashMap::new();
    for e in all[..resume_at]
        .iter()
        .filter(|e| text(e, "kind") == "service_state")
    {
        last_state.insert(text(e, "service"), text(e, "to"));
    }
    for (service, state) in &last_state {
        if !matches!(state.as_str(), "checking" | "restoring" | "verifying") {
            continue;
        }
        let first = all[resume_at..]
            .iter()
            .find(|e| text(e, "kind") == "step_started" && &text(e, "service") == service);
        if first.is_none_or(|e| text(e, "phase") != "check") {
            case.problems.push(format!(
                "'{service}' was {state} at the crash and its first step after resume is {:?}, not a check",
                first.map(|e| (text(e, "phase"), text(e, "step")))
            ));
        }
    }

    // Every service ends up: in the journal's last word and on the hosts.
    match all.last().filter(|e| text(e, "kind") == "run_finished") {
        Some(end) => {
            let services = end["services"].as_object().cloned().unwrap_or_default();
            if services.len() != 5 {
                case.problems
                    .push(format!("run_finished lists {} services", services.len()));
            }
            for (id, state) in services {
                let s = state.as_str().unwrap_or_default();
                if s != "restored" && s != "healthy" {
                    case.problems.push(format!("service '{id}' ended {s}"));
                }
            }
        }
        None => case
            .problems
            .push("the resumed run did not end with run_finished".into()),
    }
    for (service, hosts) in [
        ("db", &["h1", "h2"][..]),
        ("cache", &["h3"]),
        ("auth", &["h1", "h3"]),
        ("messaging", &["h2", "h4"]),
        ("mail", &["h4", "h1"]),
    ] {
        for host in hosts {
            if !state.join(format!("{service}.{host}.up")).exists() {
                case.problems
                    .push(format!("'{service}' is not up on {host} after the resume"));
            }
        }
    }
    case
}

#[test]
fn sigkill_at_fifty_moments_of_a_real_ssh_run_then_resume_finishes_without_rerunning_successes() {
    crate::require!(Sshd);
    let seed = std::env::var("BRINGUP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let rig = rig();

    // Uninterrupted runs, as many at once as the cases run, measure how long a run lasts
    // under that load (their mean is taken), and show the rig works.
    let baselines: Vec<(Duration, Output, PathBuf)> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..WORKERS)
            .map(|i| {
                let rig = &rig;
                scope.spawn(move || {
                    let dir = rig.lab.path(&format!("baseline-{i}"));
                    let state = dir.join("state");
                    std::fs::create_dir_all(&state).expect("baseline state");
                    let journal = dir.join("journal.jsonl");
                    let started = Instant::now();
                    let out = run_to_end(rig.run(&state, &journal, false), "baseline run");
                    (started.elapsed(), out, journal)
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("baseline thread"))
            .collect()
    });
    for (_, base, _) in &baselines {
        assert_eq!(
            base.status.code(),
            Some(0),
            "the uninterrupted run fails; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&base.stdout),
            String::from_utf8_lossy(&base.stderr)
        );
    }
    let length = baselines.iter().map(|(took, _, _)| *took).sum::<Duration>() / WORKERS;
    let base_journal = &baselines[0].2;
    let base_events = events(base_journal);
    assert!(
        base_events
            .iter()
            .any(|e| text(e, "kind") == "step_finished"
                && text(e, "service") == "mail"
                && text(e, "outcome") == "failed"),
        "the mail relay's first attempt fails and is retried"
    );

    // Stratified over the run's length with seeded jitter: every part of the run is hit.
    let mut rng = fastrand::Rng::with_seed(seed);
    let delays: Vec<Duration> = (0..CASES)
        .map(|i| length.mul_f64((f64::from(i) + rng.f64()) / f64::from(CASES)))
        .collect();

    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= delays.len() {
                        break;
                    }
                    let case = crash_case(&rig, i, delays[i]);
                    results.lock().expect("results lock").push(case);
                }
            });
        }
    });
    let mut cases = results.into_inner().expect("results");
    cases.sort_by_key(|c| c.index);
    let failed: Vec<String> = cases
        .iter()
        .filter(|c| !c.problems.is_empty())
        .map(|c| {
            format!(
                "case {} (kill after {:?}): {}",
                c.index,
                c.delay,
                c.problems.join("; ")
            )
        })
        .collect();
    let resumed = cases.iter().filter(|c| !c.before_start).count();
    let torn = cases.iter().filter(|c| c.torn).count();
    let at_kill: Vec<usize> = cases.iter().map(|c| c.events_at_kill).collect();
    eprintln!(
        "seed {seed}: run length {length:?} ({} events); {resumed} of {CASES} kills resumed ({torn} with a torn last line); events at each kill: {at_kill:?}",
        base_events.len()
    );
    assert!(
        failed.is_empty(),
        "seed {seed} (BRINGUP_CRASH_SEED={seed} reproduces), run length {length:?}:\n{}",
        failed.join("\n")
    );
    assert!(
        resumed >= cases.len() / 2,
        "most kills land after the run started ({resumed} of {CASES})"
    );
}
