//! `bringup run`, the real binary, against real OpenSSH servers on loopback: restore order
//! read back from the journal, failures and what they block, retries, timeouts and SIGTERM
//! that stop the command on the host, host-key refusals, the dry run, `--check-only`,
//! `--only`, `--format json`, quoting of `--var` values, exit codes, approvals and manual
//! steps without a terminal, an interrupt while a prompt waits on a terminal, a second Ctrl-C
//! that leaves a hung host behind, journal names and write-before-send order, and secrets kept
//! out of every output.
//!
//! Each test runs bringup with HOME set to its lab directory, so `~/.ssh/known_hosts` and
//! `~/.ssh/config` are the lab's and bringup's own known_hosts lands under the lab too; the
//! ssh-agent is hidden, so only the runbook's `identity` (the lab's client key) is offered.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::procs::{processes_with, serving_sshd, unique};
use crate::support::run::{read_journal, stderr, stdout};
use crate::support::sshd::{fingerprint_of, keygen};
use crate::support::wait::{wait_exit, wait_for};
use serde_json::Value;

crate::file_rig!(
    /// The shared ssh rig (one sshd on `ports` loopback ports, host `h<i>` is port `i`, HOME in the
    /// lab) with this file's runs and runbooks.
    Rig
);

impl Rig {
    fn new(ports: usize) -> Rig {
        Rig(crate::support::rig::Rig::ssh(ports))
    }

    fn untrusted(ports: usize) -> Rig {
        Rig(crate::support::rig::Rig::ssh_untrusted(ports))
    }

    /// `bringup run ARGS RUNBOOK`, waited for.
    fn run(&self, args: &[&str], runbook: &Path) -> Output {
        self.bringup()
            .arg("run")
            .args(args)
            .arg(runbook)
            .output()
            .expect("bringup runs")
    }

    /// `bringup run --yes --journal JOURNAL RUNBOOK` started, stdout discarded.
    fn spawn_run(&self, journal: &Path, runbook: &Path, stderr: Stdio) -> Child {
        self.lab()
            .spawn_journaled(&["--yes"], journal, runbook, stderr)
    }

    /// A runbook of one tier-0 service `id` on h0 whose restore is `restore`.
    fn one_service(&self, id: &str, restore: &str, extra_restore_keys: &str) -> PathBuf {
        let mut text = self.head("", "");
        text.push_str(
            &Svc {
                id,
                tier: 0,
                hosts: &["h0"],
                deps: &[],
                restore: Some(restore),
                extra_restore_keys,
            }
            .toml(&self.state),
        );
        self.write_runbook(&text)
    }
}

/// One `[[service]]`: its check passes once the restore created `state/<id>-<host>`.
struct Svc<'a> {
    id: &'a str,
    tier: u32,
    hosts: &'a [&'a str],
    deps: &'a [&'a str],
    /// `None`: touch the state file the check looks for.
    restore: Option<&'a str>,
    extra_restore_keys: &'a str,
}

impl Svc<'_> {
    fn toml(&self, state: &Path) -> String {
        let hosts: Vec<String> = self.hosts.iter().map(|h| format!("\"{h}\"")).collect();
        let deps: Vec<String> = self.deps.iter().map(|d| format!("\"{d}\"")).collect();
        let file = format!("{}/{}-{{{{host}}}}", state.display(), self.id);
        let restore = self
            .restore
            .map_or_else(|| format!("sleep 0.2; touch {file}"), str::to_string);
        format!(
            "[[service]]\nid = \"{id}\"\nname = \"{id}\"\ntier = {tier}\nhosts = [{hosts}]\ndepends_on = [{deps}]\n\n  \
             [[service.check]]\n  name = \"{id} up\"\n  run = \"test -f {file}\"\n\n  \
             [[service.restore]]\n  name = \"start {id}\"\n  run = '''{restore}'''\n{extra}\n\n",
            id = self.id,
            tier = self.tier,
            hosts = hosts.join(", "),
            deps = deps.join(", "),
            extra = self.extra_restore_keys,
        )
    }
}

/// Three tiers, dependencies inside tiers 0 and 1, several hosts per service.
fn tiers(rig: &Rig, broken: Option<&str>) -> (PathBuf, BTreeMap<String, Vec<String>>) {
    let services = [
        ("net", 0, &["h0", "h1"][..], &[][..]),
        ("dns", 0, &["h1", "h2"][..], &["net"][..]),
        ("db", 1, &["h2", "h3"][..], &[][..]),
        ("cache", 1, &["h3", "h4"][..], &["db"][..]),
        ("app", 2, &["h0", "h4"][..], &["db", "cache"][..]),
        ("web", 2, &["h5", "h1"][..], &[][..]),
    ];
    let mut text = rig.head("", "");
    let mut deps = BTreeMap::new();
    for (id, tier, hosts, d) in services {
        let restore = (broken == Some(id)).then_some("echo cannot fix this; exit 7");
        text.push_str(
            &Svc {
                id,
                tier,
                hosts,
                deps: d,
                restore,
                extra_restore_keys: "",
            }
            .toml(&rig.state),
        );
        deps.insert(
            id.to_string(),
            d.iter().map(ToString::to_string).collect::<Vec<_>>(),
        );
    }
    (rig.write_runbook(&text), deps)
}

fn kind<'a>(events: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    events.iter().filter(move |e| e["kind"] == kind)
}

fn seq(e: &Value) -> u64 {
    e["seq"].as_u64().expect("seq")
}

fn final_states(events: &[Value]) -> BTreeMap<String, String> {
    let last = events.last().expect("journal has events");
    assert_eq!(
        last["kind"], "run_finished",
        "journal ends with run_finished"
    );
    last["services"]
        .as_object()
        .expect("services map")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("state").to_string()))
        .collect()
}

/// First seq at which `service` entered one of `states`.
fn reached(events: &[Value], service: &str, states: &[&str]) -> Option<u64> {
    kind(events, "service_state")
        .find(|e| e["service"] == service && states.iter().any(|s| e["to"] == *s))
        .map(seq)
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(out));
}

/// The journal ends with `run_finished`, outcome `interrupted`.
#[track_caller]
fn assert_interrupted(events: &[Value]) {
    let last = events.last().expect("events");
    assert_eq!(last["kind"], "run_finished");
    assert_eq!(last["outcome"], "interrupted");
}

fn verify(rig: &Rig, journal: &Path) {
    let out = rig
        .bringup()
        .arg("verify")
        .arg(journal)
        .output()
        .expect("verify runs");
    assert!(out.status.success(), "verify failed: {}", stdout(&out));
}

const SETTLED: &[&str] = &["healthy", "restored", "failed", "blocked", "skipped"];
const UP: &[&str] = &["healthy", "restored"];

#[test]
fn multi_tier_runbook_restores_in_spec_order_and_exits_0() {
    crate::require!(Sshd);
    let rig = Rig::new(6);
    let (runbook, deps) = tiers(&rig, None);
    let journal = rig.journal_named("tiers");
    let out = rig.run_journaled(&["--yes"], &journal, &runbook);
    assert_exit(&out, 0);
    verify(&rig, &journal);

    let events = read_journal(&journal);
    let tier_of: BTreeMap<String, u64> = events[0]["services"]
        .as_array()
        .expect("run_started lists services")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_string(),
                s["tier"].as_u64().expect("tier"),
            )
        })
        .collect();
    let restores: Vec<&Value> = kind(&events, "step_started")
        .filter(|e| e["phase"] == "restore")
        .collect();
    assert!(!restores.is_empty(), "something was restored");
    let first_restore = seq(restores[0]);
    for check in kind(&events, "step_started").filter(|e| e["phase"] == "check") {
        assert!(
            seq(check) < first_restore,
            "check {check} after the first restore"
        );
    }
    for check in kind(&events, "step_finished").filter(|e| e["phase"] == "check") {
        assert!(
            seq(check) < first_restore,
            "check sweep ends before restores"
        );
    }
    for restore in &restores {
        let service = restore["service"].as_str().expect("service");
        let at = seq(restore);
        for dep in &deps[service] {
            let up = reached(&events, dep, UP)
                .unwrap_or_else(|| panic!("dependency {dep} of {service} never came up"));
            assert!(
                up < at,
                "{service} restored at {at} before {dep} was up ({up})"
            );
        }
        for (other, tier) in &tier_of {
            if *tier < tier_of[service] {
                let settled = reached(&events, other, SETTLED)
                    .unwrap_or_else(|| panic!("{other} never settled"));
                assert!(
                    settled < at,
                    "{service} (tier {}) restored at {at} before {other} (tier {tier}) settled at {settled}",
                    tier_of[service]
                );
            }
        }
    }
    let states = final_states(&events);
    assert_eq!(states.len(), 6);
    assert!(states.values().all(|s| s == "restored"), "{states:?}");
    for (service, host) in [("net", "h0"), ("dns", "h2"), ("app", "h4"), ("web", "h5")] {
        assert!(rig.state_file(&format!("{service}-{host}")).exists());
    }
}

#[test]
fn a_service_that_cannot_be_fixed_fails_blocks_its_dependents_and_exits_1() {
    crate::require!(Sshd);
    let rig = Rig::new(6);
    let (runbook, _) = tiers(&rig, Some("db"));
    let journal = rig.journal_named("broken");
    let out = rig.run_journaled(&["--yes"], &journal, &runbook);
    assert_exit(&out, 1);
    let events = read_journal(&journal);
    let states = final_states(&events);
    let expected: BTreeMap<String, String> = [
        ("net", "restored"),
        ("dns", "restored"),
        ("db", "failed"),
        ("cache", "blocked"),
        ("app", "blocked"),
        ("web", "restored"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(states, expected);
    for (service, state) in &expected {
        assert_eq!(
            kind(&events, "service_state")
                .filter(|e| e["service"] == service.as_str())
                .last()
                .expect("a state event")["to"],
            state.as_str()
        );
    }
    assert_eq!(events.last().expect("last")["outcome"], "incomplete");
    // Blocked services never ran a restore.
    assert!(
        kind(&events, "step_started")
            .all(|e| e["phase"] != "restore" || (e["service"] != "cache" && e["service"] != "app"))
    );
}

#[test]
fn a_restore_that_fails_once_succeeds_on_its_second_attempt() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let tried = rig.state_file("tried");
    let done = rig.state_file("flaky-h0");
    let restore = format!(
        "if [ -f {t} ]; then touch {d}; else touch {t}; echo first try fails; exit 1; fi",
        t = tried.display(),
        d = done.display()
    );
    let runbook = rig.one_service(
        "flaky",
        &restore,
        "  retries = 1\n  retry_delay = \"100ms\"",
    );
    let journal = rig.journal_named("retry");
    let out = rig.run_journaled(&["--yes"], &journal, &runbook);
    assert_exit(&out, 0);
    let events = read_journal(&journal);
    let finished: Vec<(u64, String)> = kind(&events, "step_finished")
        .filter(|e| e["phase"] == "restore")
        .map(|e| {
            (
                e["attempt"].as_u64().expect("attempt"),
                e["outcome"].as_str().expect("outcome").to_string(),
            )
        })
        .collect();
    assert_eq!(
        finished,
        vec![(1, "failed".to_string()), (2, "ok".to_string())]
    );
    assert!(
        kind(&events, "step_started").any(|e| e["phase"] == "restore" && e["attempt"] == 2),
        "attempt 2 started"
    );
    assert_eq!(final_states(&events)["flaky"], "restored");
}

/// A copy of `sleep` whose path carries `marker`, so both the shell and the sleeping process
/// show it to pgrep. Returns the restore command: nap 30 s, then (never) go on.
fn nap_command(rig: &Rig, marker: &str) -> String {
    let bin = rig.lab().path("bin");
    fs::create_dir_all(&bin).expect("bin dir");
    let nap = bin.join(marker);
    let sleep = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sleep exists");
    fs::copy(sleep, &nap).expect("copy sleep");
    format!("{} 30; echo woke", nap.display())
}

#[test]
fn a_step_over_its_timeout_is_journaled_timeout_and_leaves_nothing_on_the_host() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let marker = unique("nap-timeout-");
    let restore = nap_command(&rig, &marker);
    let runbook = rig.one_service("slow", &restore, "  timeout = \"1s\"");
    let journal = rig.journal_named("timeout");
    let out = rig.run_journaled(&["--yes"], &journal, &runbook);
    assert_exit(&out, 1);
    let events = read_journal(&journal);
    let restore = kind(&events, "step_finished")
        .find(|e| e["phase"] == "restore")
        .expect("restore finished");
    assert_eq!(restore["outcome"], "timeout", "{restore}");
    assert!(
        restore["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{restore}"
    );
    assert_eq!(final_states(&events)["slow"], "failed");
    assert_eq!(
        processes_with(&marker),
        "",
        "the step still runs on the host"
    );
}

/// A runbook whose one service's check would create `marker` on h0.
fn touching_runbook(rig: &Rig, marker: &Path) -> PathBuf {
    let mut text = rig.head("", "");
    let _ = write!(
        text,
        "[[service]]\nid = \"probe\"\nname = \"probe\"\ntier = 0\nhosts = [\"h0\"]\n\n  \
         [[service.check]]\n  name = \"touch\"\n  run = \"touch {}\"\n",
        marker.display()
    );
    rig.write_runbook(&text)
}

#[test]
fn a_changed_host_key_is_refused_and_nothing_runs_on_that_host() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let other = rig.lab().path("other_host_key");
    let other_public = keygen(&other, "ed25519");
    let fields: Vec<&str> = other_public.split_whitespace().take(2).collect();
    fs::write(
        rig.dir().join(".ssh/known_hosts"),
        format!("[127.0.0.1]:{} {}\n", rig.sshd().ports[0], fields.join(" ")),
    )
    .expect("write known_hosts");
    let known_fp = fingerprint_of(&other.with_extension("pub"));
    let marker = rig.state_file("ran");
    let runbook = touching_runbook(&rig, &marker);
    let journal = rig.journal_named("changed");
    // Even the flag for new keys never accepts a changed one.
    let out = rig.run_journaled(&["--yes", "--accept-new-host-keys"], &journal, &runbook);
    assert_exit(&out, 1);
    assert!(
        !marker.exists(),
        "the command ran on a host with a changed key"
    );
    let events = read_journal(&journal);
    let finished = kind(&events, "step_finished")
        .next()
        .expect("step finished");
    assert_eq!(finished["outcome"], "error");
    let error = finished["error"].as_str().expect("error text");
    assert!(error.contains("'h0'"), "{error}");
    assert!(error.contains("HOST KEY CHANGED"), "{error}");
    assert!(error.contains(&known_fp), "known fingerprint in {error}");
    assert!(
        error.contains(&rig.sshd().fingerprint()),
        "offered fingerprint in {error}"
    );
    assert!(
        !rig.dir().join(".local/share/bringup/known_hosts").exists(),
        "nothing recorded"
    );
}

#[test]
fn an_unknown_host_key_is_refused_without_the_flag_and_accepted_with_it() {
    crate::require!(Sshd);
    let rig = Rig::untrusted(1);
    let marker = rig.state_file("ran");
    let runbook = touching_runbook(&rig, &marker);
    let journal = rig.journal_named("unknown");
    let out = rig.run_journaled(&["--yes"], &journal, &runbook);
    assert_exit(&out, 1);
    assert!(!marker.exists(), "ran on a host whose key is unknown");
    let events = read_journal(&journal);
    let error = kind(&events, "step_finished").next().expect("finished")["error"]
        .as_str()
        .expect("error")
        .to_string();
    assert!(error.contains("unknown host key"), "{error}");
    assert!(error.contains(&rig.sshd().fingerprint()), "{error}");
    assert!(error.contains("--accept-new-host-keys"), "{error}");

    let journal = rig.journal_named("accepted");
    let out = rig.run_journaled(&["--yes", "--accept-new-host-keys"], &journal, &runbook);
    assert_exit(&out, 0);
    assert!(marker.exists());
    let recorded = fs::read_to_string(rig.dir().join(".local/share/bringup/known_hosts"))
        .expect("accepted key recorded in bringup's known_hosts");
    let key: Vec<&str> = rig.sshd().host_public.split_whitespace().take(2).collect();
    assert!(recorded.contains(&key.join(" ")), "{recorded}");
    let events = read_journal(&journal);
    assert_eq!(final_states(&events)["probe"], "healthy");
    let accepted: Vec<&Value> = kind(&events, "host_key_accepted").collect();
    assert_eq!(accepted.len(), 1, "the acceptance is journaled once");
    assert_eq!(accepted[0]["host"], "h0");
    assert_eq!(
        accepted[0]["fingerprint"],
        rig.sshd().fingerprint().as_str()
    );
    let finished = kind(&events, "step_finished").next().expect("finished");
    assert!(
        seq(accepted[0]) < seq(finished),
        "recorded before the step's outcome"
    );
}

#[test]
fn dry_run_prints_every_command_per_host_probes_hosts_and_creates_nothing() {
    crate::require!(Sshd);
    let rig = Rig::new(6);
    let (runbook, _) = tiers(&rig, None);
    let before: Vec<PathBuf> = fs::read_dir(rig.dir())
        .expect("lab dir")
        .map(|e| e.expect("entry").path())
        .collect();
    let out = rig.run(&["--dry-run"], &runbook);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let state = rig.state.display().to_string();
    for (service, hosts) in [
        ("net", ["h0", "h1"]),
        ("dns", ["h1", "h2"]),
        ("db", ["h2", "h3"]),
        ("cache", ["h3", "h4"]),
        ("app", ["h0", "h4"]),
        ("web", ["h5", "h1"]),
    ] {
        for host in hosts {
            let check = format!("    {host}: test -f {state}/{service}-{host}\n");
            let restore = format!("    {host}: sleep 0.2; touch {state}/{service}-{host}\n");
            assert!(text.contains(&check), "missing {check:?} in\n{text}");
            assert!(text.contains(&restore), "missing {restore:?} in\n{text}");
        }
    }
    for i in 0..6 {
        assert!(text.contains(&format!("  ✓ h{i}\n")), "h{i} probed: {text}");
    }
    assert_eq!(
        fs::read_dir(&rig.state).expect("state dir").count(),
        0,
        "nothing created"
    );
    let after: Vec<PathBuf> = fs::read_dir(rig.dir())
        .expect("lab dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(before, after, "no journal, log or other file appeared");
}

#[test]
fn dry_run_names_a_host_it_cannot_use_and_exits_1() {
    crate::require!(Sshd);
    let rig = Rig::untrusted(1);
    let marker = rig.state_file("ran");
    let runbook = touching_runbook(&rig, &marker);
    let out = rig.run(&["--dry-run"], &runbook);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("✗ h0") && text.contains("unknown host key"),
        "{text}"
    );
    assert!(!marker.exists());

    let out = rig.run(&["--dry-run", "--accept-new-host-keys"], &runbook);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let line = format!("  ✓ h0 (new host key {} recorded", rig.sshd().fingerprint());
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("1 new host key(s) were recorded"), "{text}");
    assert!(!marker.exists(), "a dry run ran the command");
}

#[test]
fn ctrl_c_during_a_dry_runs_probe_of_a_silent_host_ends_it_at_once_with_exit_3() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    crate::require!(Sshd);
    let rig = Rig::new(1);
    // Accepts connections (the kernel's backlog) and never says a word: the SSH banner wait
    // lasts the host's whole connect_timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let runbook = unreachable_runbook(&rig, ("127.0.0.1", port));
    let mut child = rig
        .bringup()
        .args(["run", "--dry-run"])
        .arg(&runbook)
        .stdout(Stdio::piped())
        .spawn()
        .expect("bringup runs");
    let mut text = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    while !text.contains("Hosts (") {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stdout, &mut line).expect("read");
        assert!(n > 0, "stdout ended before the probes: {text}");
        text.push_str(&line);
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    kill(pid, Signal::SIGINT).expect("Ctrl-C");
    let status = wait_exit(&mut child, Duration::from_secs(3));
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the dry run still probed the silent host 3 s after Ctrl-C");
    };
    std::io::Read::read_to_string(&mut stdout, &mut text).expect("read the rest");
    assert_eq!(status.code(), Some(3), "{text}");
    assert!(
        text.contains("Dry run interrupted before every host answered. Nothing was changed."),
        "{text}"
    );
    drop(silent);
}

#[test]
fn check_only_prints_the_table_of_states_and_restores_nothing() {
    crate::require!(Sshd);
    let rig = Rig::new(6);
    let (runbook, _) = tiers(&rig, None);
    // One service is already up.
    for host in ["h5", "h1"] {
        fs::write(rig.state_file(&format!("web-{host}")), "").expect("state");
    }
    let journal = rig.journal_named("check-only");
    let out = rig.run_journaled(&["--check-only"], &journal, &runbook);
    assert_exit(&out, 1);
    let text = stdout(&out);
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("SERVICE"))
        .collect();
    assert!(!table.is_empty(), "table on stdout: {text}");
    for (service, state) in [
        ("net", "down"),
        ("dns", "down"),
        ("db", "down"),
        ("cache", "down"),
        ("app", "down"),
        ("web", "healthy"),
    ] {
        assert!(
            table.iter().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.first() == Some(&service) && cols.get(2) == Some(&state)
            }),
            "{service} {state} in\n{}",
            table.join("\n")
        );
    }
    let events = read_journal(&journal);
    assert!(kind(&events, "step_started").all(|e| e["phase"] == "check"));
    assert_eq!(fs::read_dir(&rig.state).expect("state").count(), 2);
}

#[test]
fn only_restricts_the_run_to_the_named_services() {
    crate::require!(Sshd);
    let rig = Rig::new(6);
    let (runbook, _) = tiers(&rig, None);
    let journal = rig.journal_named("only");
    let out = rig.run_journaled(&["--yes", "--only", "web"], &journal, &runbook);
    assert_exit(&out, 0);
    let events = read_journal(&journal);
    let touched: std::collections::BTreeSet<&str> = kind(&events, "step_started")
        .map(|e| e["service"].as_str().expect("service"))
        .collect();
    assert_eq!(touched.into_iter().collect::<Vec<_>>(), vec!["web"]);
    let mut created: Vec<String> = fs::read_dir(&rig.state)
        .expect("state")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    created.sort();
    assert_eq!(created, vec!["web-h1", "web-h5"]);
    assert_eq!(final_states(&events)["web"], "restored");
}

#[test]
fn format_json_prints_the_journal_lines_on_stdout() {
    crate::require!(Sshd);
    let rig = Rig::new(6);
    let (runbook, _) = tiers(&rig, None);
    let journal = rig.journal_named("json");
    let out = rig.run_journaled(&["--yes", "--format", "json"], &journal, &runbook);
    assert_exit(&out, 0);
    let printed: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    let written: Vec<String> = fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .map(str::to_string)
        .collect();
    assert!(written.len() > 20, "a real run: {} events", written.len());
    assert_eq!(printed, written);
}

#[test]
fn var_values_arrive_as_one_quoted_word() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let pwned = rig.state_file("pwned");
    let value = format!("a b'c; touch {} \"$HOME\" `id`", pwned.display());
    let got = rig.state_file("got");
    let mut text = rig.head("", "");
    text.push_str("[vars]\nlabel = \"plain\"\n\n");
    let _ = write!(
        text,
        "[[service]]\nid = \"quote\"\nname = \"quote\"\ntier = 0\nhosts = [\"h0\"]\n\n  \
         [[service.check]]\n  name = \"write\"\n  run = \"printf '[%s]\\\\n' {{{{label}}}} > {}\"\n",
        got.display()
    );
    let runbook = rig.write_runbook(&text);
    let journal = rig.journal_named("vars");
    let var = format!("label={value}");
    let out = rig.run_journaled(&["--yes", "--var", &var], &journal, &runbook);
    assert_exit(&out, 0);
    assert_eq!(
        fs::read_to_string(&got).expect("command wrote its argument"),
        format!("[{value}]\n")
    );
    assert!(!pwned.exists(), "the value was run as a command");
}

#[test]
fn bad_input_exits_2() {
    crate::require!(Sshd);
    let rig = Rig::new(6);
    let bad = rig.write_runbook("[runbook]\nname = \"x\"\n[[service]]\nid = 1\n");
    let out = rig.run(&["--yes"], &bad);
    assert_eq!(out.status.code(), Some(2), "invalid runbook");

    let out = rig.run(&["--yes"], &rig.lab().path("no-such.toml"));
    assert_eq!(out.status.code(), Some(2), "missing file");
    assert!(stderr(&out).contains("no-such.toml"), "{}", stderr(&out));

    let out = rig.run(&["--yes"], rig.dir());
    assert_eq!(out.status.code(), Some(2), "a directory is not a runbook");

    let (runbook, _) = tiers(&rig, None);
    let out = rig.run(&["--yes", "--only", "wbe"], &runbook);
    assert_eq!(out.status.code(), Some(2), "unknown --only");
    assert!(stderr(&out).contains("'wbe'"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("'web'"),
        "suggestion: {}",
        stderr(&out)
    );
}

#[test]
fn sigterm_during_a_long_step_stops_it_on_the_host_and_exits_3() {
    crate::require!(Sshd);
    interrupt_a_long_step(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn ctrl_c_during_a_long_step_stops_it_on_the_host_and_exits_3() {
    crate::require!(Sshd);
    interrupt_a_long_step(nix::sys::signal::Signal::SIGINT);
}

fn interrupt_a_long_step(signal: nix::sys::signal::Signal) {
    let rig = Rig::new(1);
    let marker = unique(&format!("nap-{signal}-"));
    let restore = nap_command(&rig, &marker);
    let runbook = rig.one_service("slow", &restore, "  timeout = \"60s\"");
    let journal = rig.journal_named("sigterm");
    let mut child = rig.spawn_run(&journal, &runbook, Stdio::null());
    wait_for("the long step on the host", Duration::from_secs(20), || {
        !processes_with(&marker).is_empty()
    });
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, signal).expect("send the signal");
    let Some(status) = wait_exit(&mut child, Duration::from_secs(20)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("bringup did not stop after {signal}");
    };
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        processes_with(&marker),
        "",
        "the step still runs on the host"
    );
    verify(&rig, &journal);
    let events = read_journal(&journal);
    assert_interrupted(&events);
    let stopped = kind(&events, "step_finished")
        .find(|e| e["phase"] == "restore")
        .expect("the stopped step is journaled");
    assert_ne!(stopped["outcome"], "ok");
}

#[test]
fn sighup_during_long_steps_here_and_over_ssh_stops_both_and_exits_3() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let remote = unique("nap-hup-remote-");
    let local = unique("nap-hup-local-");
    let (remote_nap, local_nap) = (nap_command(&rig, &remote), nap_command(&rig, &local));
    let mut text = rig.head("", "");
    text.push_str("[hosts.box]\ntransport = \"local\"\n\n");
    for (id, host, restore) in [("far", "h0", &remote_nap), ("near", "box", &local_nap)] {
        let svc = Svc {
            id,
            tier: 0,
            hosts: &[host],
            deps: &[],
            restore: Some(restore),
            extra_restore_keys: "  timeout = \"60s\"",
        };
        text.push_str(&svc.toml(&rig.state));
    }
    let runbook = rig.write_runbook(&text);
    let journal = rig.journal_named("sighup");
    let mut child = rig.spawn_run(&journal, &runbook, Stdio::null());
    wait_for("both long steps", Duration::from_secs(20), || {
        !processes_with(&remote).is_empty() && !processes_with(&local).is_empty()
    });
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("send SIGHUP");
    let Some(status) = wait_exit(&mut child, Duration::from_secs(20)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("bringup did not stop after SIGHUP");
    };
    assert_eq!(
        status.code(),
        Some(3),
        "SIGHUP is an interruption, not a kill"
    );
    assert_eq!(processes_with(&remote), "", "the step over ssh survived");
    assert_eq!(processes_with(&local), "", "the local step survived");
    verify(&rig, &journal);
    let events = read_journal(&journal);
    assert_interrupted(&events);
    for service in ["far", "near"] {
        let stopped = kind(&events, "step_finished")
            .find(|e| e["phase"] == "restore" && e["service"] == service)
            .expect("each stopped step is journaled");
        assert_ne!(stopped["outcome"], "ok");
    }
}

#[test]
fn confirm_without_yes_and_no_terminal_fails_and_manual_is_blocked() {
    crate::require!(Sshd);
    let rig = Rig::new(2);
    let mut text = rig.head("", "");
    let confirmed = rig.state_file("confirmed-h0");
    let _ = write!(
        text,
        "[[service]]\nid = \"gated\"\nname = \"gated\"\ntier = 0\nhosts = [\"h0\"]\n\n  \
         [[service.check]]\n  name = \"up\"\n  run = \"test -f {c}\"\n\n  \
         [[service.restore]]\n  name = \"dangerous\"\n  run = \"touch {c}\"\n  confirm = true\n\n\
         [[service]]\nid = \"handy\"\nname = \"handy\"\ntier = 0\nhosts = [\"h1\"]\n\n  \
         [[service.check]]\n  name = \"up\"\n  run = \"test -f {m}\"\n\n  \
         [[service.restore]]\n  name = \"by hand\"\n  manual = \"Flip the switch.\"\n",
        c = confirmed.display(),
        m = rig.state_file("manual").display()
    );
    let runbook = rig.write_runbook(&text);
    let journal = rig.journal_named("approval");
    let out = rig.run_journaled(&[], &journal, &runbook);
    assert_exit(&out, 1);
    assert!(!confirmed.exists(), "a declined step ran");
    let events = read_journal(&journal);
    let approval = kind(&events, "approval")
        .next()
        .expect("approval journaled");
    assert_eq!(approval["service"], "gated");
    assert_eq!(approval["step"], "dangerous");
    assert_eq!(approval["decision"], "declined");
    let states = final_states(&events);
    assert_eq!(states["gated"], "failed");
    assert_eq!(states["handy"], "blocked");
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
}

#[test]
fn a_secret_var_never_appears_in_the_journal_or_on_screen() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let secret = "Zq8-s3cr3t-value-91";
    let seen = rig.state_file("token");
    let mut text = rig.head("secret_vars = [\"token\"]", "");
    let _ = write!(
        text,
        "[[service]]\nid = \"vault\"\nname = \"vault\"\ntier = 0\nhosts = [\"h0\"]\n\n  \
         [[service.check]]\n  name = \"token {{{{token}}}}\"\n  run = \"echo token is {{{{token}}}}; test -f {s}\"\n\n  \
         [[service.restore]]\n  name = \"use\"\n  run = \"echo using {{{{token}}}} >&2; printf %s {{{{token}}}} > {s}; exit 3\"\n",
        s = seen.display()
    );
    let runbook = rig.write_runbook(&text);
    for format in ["text", "json"] {
        let journal = rig.journal_named(&format!("secret-{format}"));
        let var = format!("token={secret}");
        let out = rig.run_journaled(
            &["--yes", "--format", format, "--var", &var],
            &journal,
            &runbook,
        );
        assert_exit(&out, 1);
        assert_eq!(
            fs::read_to_string(&seen).expect("the command got the secret"),
            secret
        );
        let written = fs::read_to_string(&journal).expect("journal");
        assert!(written.contains("***"), "masked in the journal");
        for (what, text) in [
            ("journal", written),
            ("stdout", stdout(&out)),
            ("stderr", stderr(&out)),
            (
                "log",
                fs::read_to_string(rig.lab().path("bringup.log")).unwrap_or_default(),
            ),
        ] {
            assert!(!text.contains(secret), "secret in {what}:\n{text}");
        }
        fs::remove_file(&seen).expect("reset");
    }
}

#[test]
fn a_one_letter_secret_is_masked_in_text_without_breaking_the_journals_fields() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let mut text = rig.head("secret_vars = [\"pin\"]", "");
    let _ = write!(
        text,
        "[[service]]\nid = \"lock\"\nname = \"lock\"\ntier = 0\nhosts = [\"h0\"]\n\n  \
         [[service.check]]\n  name = \"pin\"\n  run = \"echo {{{{pin}}}}; exit 1\"\n\n  \
         [[service.restore]]\n  name = \"open\"\n  run = \"exit 4\"\n"
    );
    let runbook = rig.write_runbook(&text);
    let journal = rig.journal_named("short-secret");
    let out = rig.run_journaled(&["--yes", "--var", "pin=x"], &journal, &runbook);
    assert_exit(&out, 1);
    verify(&rig, &journal);
    let events = read_journal(&journal);
    let restore = kind(&events, "step_finished")
        .find(|e| e["phase"] == "restore")
        .expect("restore finished");
    assert_eq!(restore["exit_code"], 4, "{restore}");
    assert_eq!(restore["outcome"], "failed");
    let output: Vec<&str> = kind(&events, "step_output")
        .map(|e| e["text"].as_str().expect("text"))
        .collect();
    assert!(output.contains(&"***\n"), "{output:?}");
    assert_eq!(final_states(&events)["lock"], "failed");
}

#[test]
fn runs_started_within_one_second_get_journals_of_their_own() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let marker = rig.state_file("ran");
    let runbook = touching_runbook(&rig, &marker);
    // Journals already named for this second and the next few, as a run just before left.
    let dir = rig.lab().path("journal");
    fs::create_dir_all(&dir).expect("journal dir");
    let now = chrono::Utc::now();
    let taken: Vec<PathBuf> = (0..4)
        .map(|s| {
            let at = now + chrono::Duration::seconds(s);
            let path = dir.join(format!("runbook-{}.jsonl", at.format("%Y%m%dT%H%M%SZ")));
            fs::write(&path, "taken\n").expect("write");
            path
        })
        .collect();
    let out = rig.run(&["--check-only", "--format", "json"], &runbook);
    assert_exit(&out, 0);
    for path in &taken {
        assert_eq!(fs::read_to_string(path).expect("kept"), "taken\n");
    }
    let fresh: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("journal dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && !taken.contains(p))
        .collect();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert!(
        fresh[0].to_string_lossy().ends_with("-2.jsonl"),
        "{}",
        fresh[0].display()
    );
    assert_eq!(
        stdout(&out),
        fs::read_to_string(&fresh[0]).expect("journal"),
        "the new journal is the one this run wrote"
    );
}

#[test]
fn a_command_starts_only_after_its_step_started_and_approval_are_in_the_journal() {
    crate::require!(Sshd);
    let rig = Rig::new(2);
    let journal = rig.journal_named("order");
    let seen = rig.state.display().to_string();
    let j = journal.display();
    let mut text = rig.head("", "");
    // The restore records what the journal already held when it ran, then passes.
    let _ = write!(
        text,
        "[[service]]\nid = \"gate\"\nname = \"gate\"\ntier = 0\nhosts = [\"h0\", \"h1\"]\n\n  \
         [[service.check]]\n  name = \"up\"\n  run = \"test -f {seen}/gate-{{{{host}}}}\"\n\n  \
         [[service.restore]]\n  name = \"open gate\"\n  confirm = true\n  \
         run = '''grep -c '\"kind\":\"approval\".*\"decision\":\"approved\"' {j} > {seen}/approval-{{{{host}}}}; \
         grep -c '\"kind\":\"step_started\".*\"step\":\"open gate\",\"host\":\"'{{{{host}}}}'\"' {j} > {seen}/started-{{{{host}}}}; \
         touch {seen}/gate-{{{{host}}}}'''\n"
    );
    let runbook = rig.write_runbook(&text);
    let out = rig.run_journaled(&["--yes"], &journal, &runbook);
    assert_exit(&out, 0);
    for host in ["h0", "h1"] {
        for what in ["approval", "started"] {
            let count = fs::read_to_string(rig.state_file(&format!("{what}-{host}")))
                .expect("the command ran");
            assert_eq!(count.trim(), "1", "{what} seen by the command on {host}");
        }
    }
}

#[test]
fn sigterm_while_asking_on_a_terminal_exits_3_without_waiting_for_an_answer() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let mut text = rig.head("", "");
    let _ = write!(
        text,
        "[[service]]\nid = \"gated\"\nname = \"gated\"\ntier = 0\nhosts = [\"h0\"]\n\n  \
         [[service.check]]\n  name = \"up\"\n  run = \"false\"\n\n  \
         [[service.restore]]\n  name = \"go\"\n  run = \"true\"\n  confirm = true\n"
    );
    let runbook = rig.write_runbook(&text);
    let journal = rig.journal_named(&unique("asking-"));
    let bin = assert_cmd::cargo::cargo_bin("bringup");
    let command = format!(
        "{} run --journal {} {}",
        bin.display(),
        journal.display(),
        runbook.display()
    );
    // `script` gives bringup a terminal; its input stays open (nobody answers) while the
    // test holds `stdin`. `-e` returns bringup's exit code.
    let mut script = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(rig.dir())
        .env("HOME", rig.dir())
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("XDG_DATA_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("script starts");
    let journal_name = journal.display().to_string();
    let mut pid = None;
    wait_for("the approval prompt", Duration::from_secs(20), || {
        pid = bringup_pid(&journal_name);
        fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"to\":\"restoring\""))
    });
    std::thread::sleep(Duration::from_millis(300));
    let pid = pid
        .or_else(|| bringup_pid(&journal_name))
        .expect("bringup pid");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let Some(status) = wait_exit(&mut script, Duration::from_secs(10)) else {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = script.kill();
        let _ = script.wait();
        panic!("bringup still waited for an answer 10 s after SIGTERM");
    };
    assert_eq!(status.code(), Some(3));
    let events = read_journal(&journal);
    assert_eq!(events.last().expect("events")["outcome"], "interrupted");
    verify(&rig, &journal);
}

/// The pid of the `bringup` process writing `journal`.
fn bringup_pid(journal: &str) -> Option<nix::unistd::Pid> {
    let out = Command::new("pgrep")
        .args(["-f", journal])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .find(|p| {
            fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "bringup")
        })
        .map(nix::unistd::Pid::from_raw)
}

#[test]
fn a_second_ctrl_c_leaves_steps_that_cannot_be_stopped_and_exits_3_with_the_journal_intact() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let marker = unique("hung-");
    let restore = nap_command(&rig, &marker);
    let runbook = rig.one_service("slow", &restore, "  timeout = \"60s\"");
    let journal = rig.journal_named("left");
    let mut child = rig.spawn_run(&journal, &runbook, Stdio::piped());
    let mut nap = None;
    wait_for("the long step on the host", Duration::from_secs(20), || {
        nap = fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .find(|p| {
                // The nap itself: its argv[0] is the copy of `sleep` named after the marker.
                fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.split('\0').next().is_some_and(|a| a.ends_with(&marker)))
            });
        nap.is_some()
    });
    let nap = nap.expect("the nap runs");
    // The host stops answering: stopping the step over SSH now hangs until its timeouts.
    let sshd = serving_sshd(nap).expect("the sshd serving the step");
    kill(Pid::from_raw(sshd), Signal::SIGSTOP).expect("SIGSTOP the host's sshd");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    kill(pid, Signal::SIGINT).expect("first Ctrl-C");
    std::thread::sleep(Duration::from_millis(700));
    let still_stopping = child.try_wait().expect("poll").is_none();
    kill(pid, Signal::SIGINT).expect("second Ctrl-C");
    let status = wait_exit(&mut child, Duration::from_secs(5));
    // Let the host go again, and end the step this test started there, by its id.
    let _ = kill(Pid::from_raw(sshd), Signal::SIGCONT);
    let _ = kill(Pid::from_raw(nap), Signal::SIGKILL);
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("bringup still waited for the hung host 5 s after the second Ctrl-C");
    };
    assert!(
        still_stopping,
        "the first Ctrl-C alone did not end the run at once"
    );
    assert_eq!(status.code(), Some(3));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("read stderr");
    assert!(err.contains("press Ctrl-C again to leave them"), "{err}");
    verify(&rig, &journal);
    let events = read_journal(&journal);
    assert_interrupted(&events);
}

/// `db` on the host `gone` (tier 0, down until its restore touches its state file) and `web`
/// on h0 (tier 1, down, depending on db): the runbook for the `unreachable` tests.
fn unreachable_runbook(rig: &Rig, gone_address: (&str, u16)) -> PathBuf {
    let mut text = rig.head("", "");
    let _ = write!(
        text,
        "[hosts.gone]\naddress = \"{}\"\nport = {}\nidentity = \"{}\"\n\n",
        gone_address.0,
        gone_address.1,
        rig.lab().client_key.display()
    );
    for (id, tier, host, deps) in [("db", 0, "gone", &[][..]), ("web", 1, "h0", &["db"][..])] {
        text.push_str(
            &Svc {
                id,
                tier,
                hosts: &[host],
                deps,
                restore: None,
                extra_restore_keys: "",
            }
            .toml(&rig.state),
        );
    }
    rig.write_runbook(&text)
}

/// db's checks could not run: it ends `unreachable` with a reason naming its host, no restore
/// step ever started (for any service: web is blocked behind db), and the run exits 1.
#[track_caller]
fn assert_unreachable_run(rig: &Rig, out: &Output, journal: &Path, why: &str) {
    assert_exit(out, 1);
    verify(rig, journal);
    let events = read_journal(journal);
    let states = final_states(&events);
    assert_eq!(states["db"], "unreachable", "{states:?}");
    assert_eq!(states["web"], "blocked", "{states:?}");
    assert!(
        reached(&events, "db", &["down", "partial"]).is_none(),
        "db was marked down though its check never ran"
    );
    let restores: Vec<&Value> = kind(&events, "step_started")
        .filter(|e| e["phase"] == "restore")
        .collect();
    assert!(
        restores.is_empty(),
        "a restore started even so: {restores:?}"
    );
    let db = kind(&events, "service_state")
        .filter(|e| e["service"] == "db" && e["to"] == "unreachable")
        .last()
        .expect("db entered unreachable");
    let reason = db["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("'gone'") && reason.contains(why),
        "the reason names the host and why: {reason}"
    );
    let web = kind(&events, "service_state")
        .filter(|e| e["service"] == "web" && e["to"] == "blocked")
        .last()
        .expect("web blocked");
    assert!(
        web["reason"]
            .as_str()
            .is_some_and(|r| r.contains("'db' is unreachable")),
        "{web}"
    );
    let table = stdout(out);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("db ") && l.contains("unreachable")),
        "the table shows it: {table}"
    );
    assert!(!rig.state_file("db-gone").exists(), "db was restored");
    // The post-mortem lists it with its reason.
    let md = rig
        .bringup()
        .args(["export", "--format", "markdown"])
        .arg(journal)
        .output()
        .expect("export runs");
    let md = stdout(&md);
    assert!(
        md.contains("- Unreachable (its checks could not run, so nothing is known of it): db."),
        "{md}"
    );
    assert!(
        md.lines()
            .any(|l| l.contains("Service 'db' was unreachable (") && l.contains("'gone'")),
        "{md}"
    );
}

#[test]
fn a_closed_port_makes_the_service_unreachable_and_nothing_is_restored_even_with_yes() {
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let closed = crate::support::sshd::free_ports(1)[0];
    let runbook = unreachable_runbook(&rig, ("127.0.0.1", closed));
    let journal = rig.journal_named("closed");
    let out = rig.run_journaled(&["--yes"], &journal, &runbook);
    assert_unreachable_run(&rig, &out, &journal, "cannot connect");
}

#[test]
fn a_changed_host_key_makes_the_service_unreachable_and_nothing_is_restored_even_with_yes() {
    crate::require!(Sshd);
    // Two ports of one sshd: `gone` (port 1) is known under another key, h0 (port 0) is known.
    let rig = Rig::new(2);
    let other = rig.lab().path("other_host_key");
    let other_public = keygen(&other, "ed25519");
    let fields: Vec<&str> = other_public.split_whitespace().take(2).collect();
    let lines = rig.sshd().known_hosts_lines();
    let good = lines.lines().next().expect("h0's line");
    fs::write(
        rig.dir().join(".ssh/known_hosts"),
        format!(
            "{good}\n[127.0.0.1]:{} {}\n",
            rig.sshd().ports[1],
            fields.join(" ")
        ),
    )
    .expect("write known_hosts");
    let runbook = unreachable_runbook(&rig, ("127.0.0.1", rig.sshd().ports[1]));
    let journal = rig.journal_named("changed-key");
    let out = rig.run_journaled(&["--yes", "--accept-new-host-keys"], &journal, &runbook);
    assert_unreachable_run(&rig, &out, &journal, "HOST KEY CHANGED");
}

#[test]
fn random_bytes_and_invalid_utf8_printed_over_ssh_come_back_with_the_same_sha256() {
    use sha2::{Digest as _, Sha256};
    crate::require!(Sshd);
    let rig = Rig::new(1);
    let sent = rig.state_file("sent.bin");
    let mut text = rig.head("", "");
    // 200,000 random bytes, a lone invalid byte, then 'é' split by a pause longer than a
    // chunk's 100 ms, all on stdout of a check on the sshd host.
    let _ = write!(
        text,
        "[[service]]\nid = \"bytes\"\nname = \"bytes\"\ntier = 0\nhosts = [\"h0\"]\n\n  \
         [[service.check]]\n  name = \"print\"\n  \
         run = \"head -c 200000 /dev/urandom > {s}; cat {s}; printf '\\\\377 caf\\\\303'; sleep 0.3; printf '\\\\251\\\\n'\"\n",
        s = sent.display()
    );
    let runbook = rig.write_runbook(&text);
    let journal = rig.journal_named("bytes");
    let out = rig.run_journaled(&["--check-only"], &journal, &runbook);
    assert_exit(&out, 0);
    verify(&rig, &journal);
    let mut expected = fs::read(&sent).expect("sent bytes");
    expected.extend_from_slice(b"\xff caf\xc3\xa9\n");
    let back = rig.lab().path("back.bin");
    let got = rig
        .bringup()
        .args(["output", "--service", "bytes", "-o"])
        .arg(&back)
        .arg(&journal)
        .output()
        .expect("bringup output");
    assert_exit(&got, 0);
    let back = fs::read(&back).expect("reassembled");
    assert_eq!(
        hex::encode(Sha256::digest(&back)),
        hex::encode(Sha256::digest(&expected)),
        "{} bytes back for {} printed",
        back.len(),
        expected.len()
    );
    let events = read_journal(&journal);
    assert!(
        kind(&events, "step_output").any(|e| e["raw"].is_string() && e["sha256"].is_string()),
        "raw bytes kept in side files"
    );
}
