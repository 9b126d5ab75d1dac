//! No leftovers (SPEC "Edges"): the temporary files of `seal` and `export -o` that a `kill -9`
//! leaves are removed by the next run of the same command (never through a link, never one
//! of a process still alive); a step's marker is removed also when the step ends in `exec`;
//! files written by `export -o` and `output -o` are 0600 whatever the umask. The real binary,
//! real processes killed with SIGKILL, a real `ssh-agent`.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bringup::journal::{Durability, Event, JournalWriter};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::support::agent::Agent;
use crate::support::local::{bringup, folder, output, under_sh};
use crate::support::run::stderr;
use crate::support::sshd::Lab;
use crate::support::wait::wait_exit;

/// The names in `dir` that are temporary files of `name` (`.NAME.tmp-PID`).
fn temps_of(dir: &Path, name: &str) -> Vec<String> {
    let prefix = format!(".{name}.tmp-");
    std::fs::read_dir(dir)
        .expect("read folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// A pid no process has: one that has just ended and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("true");
    let pid = child.id();
    child.wait().expect("reaped");
    pid
}

/// Spawn `cmd` in its own process group, wait (bounded) until `left` holds, then SIGKILL the
/// whole group and reap it.
fn kill_9_when(mut cmd: Command, what: &str, left: impl Fn() -> bool) {
    let mut child: Child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn");
    let group = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    // Polled often: some temporary files live for a fraction of a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !left() {
        if std::time::Instant::now() > deadline || child.try_wait().expect("poll").is_some() {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.wait();
            panic!("never saw {what} while it ran");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    killpg(group, Signal::SIGKILL).expect("kill -9");
    wait_exit(&mut child, Duration::from_secs(10)).expect("killed");
}

/// A journal of many notes: an export of it takes long enough to be caught mid-write.
fn big_journal(path: &Path) {
    let mut w = JournalWriter::create(path, &[]).expect("create");
    for i in 0..30_000 {
        let note = Event::Note {
            operator: "kim".into(),
            text: format!("note {i}: the quick brown fox jumps over the lazy dog"),
            provenance: bringup::journal::event::Provenance::default(),
        };
        w.append_with(&note, Durability::Buffered).expect("append");
    }
    w.sync().expect("sync");
}

#[test]
fn export_o_killed_mid_write_leaves_a_temporary_file_the_next_export_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("big.jsonl");
    big_journal(&journal);
    let out = dir.path().join("report.json");
    let export = || {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("bringup"));
        cmd.current_dir(dir.path())
            .arg("export")
            .arg(&journal)
            .args(["--format", "json", "-o"])
            .arg(&out)
            .stdin(Stdio::null());
        cmd
    };
    let mut last: Option<String> = None;
    for round in 0..3 {
        let prev = last.clone();
        kill_9_when(export(), "a temporary report", || {
            temps_of(dir.path(), "report.json")
                .iter()
                .any(|n| Some(n) != prev.as_ref())
        });
        assert!(
            !out.exists(),
            "round {round}: no report from a killed export"
        );
        let left = temps_of(dir.path(), "report.json");
        assert_eq!(
            left.len(),
            1,
            "round {round}: the killed export's temporary file only (the one before removed): {left:?}"
        );
        last = left.into_iter().next();
    }

    // Not the next export's to touch: one of a live process, and a folder of that name.
    let live = dir
        .path()
        .join(format!(".report.json.tmp-{}", std::process::id()));
    std::fs::write(&live, "in flight").expect("live temp");
    // A stale one that is a link: removed itself, its target kept.
    let target = dir.path().join("keep.txt");
    std::fs::write(&target, "keep").expect("target");
    let link = dir.path().join(format!(".report.json.tmp-{}", dead_pid()));
    std::os::unix::fs::symlink(&target, &link).expect("link");

    let done = output(
        export()
            .env("USER", "tester")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert_eq!(
        temps_of(dir.path(), "report.json"),
        vec![
            live.file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        ],
        "only the live process's temporary file is left"
    );
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "keep");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link is gone"
    );
    let mode = std::fs::metadata(&out)
        .expect("report")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A folder with a finished journal: a run of one check on the local transport.
fn ran() -> (tempfile::TempDir, PathBuf) {
    let (dir, rb, journal) = folder(
        "[runbook]\nname = \"left\"\n\n[hosts.op]\ntransport = \"local\"\n\n\
[[service]]\nid = \"web\"\nname = \"Web\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"printf 'up\\\\377\\\\n'\"\n",
    );
    let out = output(
        bringup(dir.path())
            .arg("run")
            .arg(&rb)
            .arg("--journal")
            .arg(&journal),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (dir, journal)
}

#[test]
fn export_o_and_output_o_write_0600_under_umask_000() {
    let (dir, journal) = ran();
    let report = dir.path().join("report.md");
    let bytes = dir.path().join("bytes.bin");
    let umask = "umask 000; exec \"$0\" \"$@\"";
    let out = output(
        under_sh(dir.path(), umask)
            .arg("export")
            .arg(&journal)
            .args(["--format", "markdown", "-o"])
            .arg(&report),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = output(
        under_sh(dir.path(), umask)
            .arg("output")
            .arg(&journal)
            .arg("-o")
            .arg(&bytes),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for file in [&report, &bytes] {
        let mode = std::fs::metadata(file)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
}

#[test]
fn a_step_ending_in_exec_leaves_no_marker() {
    let (dir, rb, journal) = folder(
        "[runbook]\nname = \"exec\"\n\n[hosts.op]\ntransport = \"local\"\n\n\
[[service]]\nid = \"web\"\nname = \"Web\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"echo checking; exec sleep 1\"\n",
    );
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let out = output(
        bringup(dir.path())
            .env("TMPDIR", &tmp)
            .arg("run")
            .arg(&rb)
            .arg("--journal")
            .arg(&journal),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let markers = tmp.join(format!("bringup-{}", nix::unistd::Uid::current()));
    assert!(markers.is_dir(), "the step ran under a marker");
    let left: Vec<_> = std::fs::read_dir(&markers)
        .expect("markers")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "markers left behind: {left:?}");
}

#[test]
fn seal_killed_mid_signing_leaves_a_temporary_file_the_next_seal_removes() {
    crate::require!(SshClient);
    let (dir, journal) = ran();
    let lab = Lab::new();
    let key = lab.path("signer_ed25519");
    crate::support::agent::agent_key(&key, "");
    let agent = Agent::start(&lab);
    agent.add(&lab, &key);
    // An `ssh-keygen` that never signs: the seal is caught while its signer file exists.
    let shim = lab.path("shim");
    std::fs::create_dir(&shim).expect("shim folder");
    let keygen = shim.join("ssh-keygen");
    std::fs::write(&keygen, "#!/bin/sh\nexec sleep 30\n").expect("shim");
    std::fs::set_permissions(&keygen, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let folder = journal.parent().expect("folder").to_path_buf();
    let seal = || {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("bringup"));
        cmd.current_dir(dir.path())
            .arg("seal")
            .arg(&journal)
            .env("SSH_AUTH_SOCK", &agent.sock)
            .stdin(Stdio::null());
        cmd
    };
    let mut last: Option<String> = None;
    for round in 0..3 {
        let prev = last.clone();
        let mut cmd = seal();
        cmd.env("PATH", &path);
        kill_9_when(cmd, "the signer's temporary file", || {
            temps_of(&folder, "run.jsonl.signer.pub")
                .iter()
                .any(|n| Some(n) != prev.as_ref())
        });
        let left = temps_of(&folder, "run.jsonl.signer.pub");
        assert_eq!(
            left.len(),
            1,
            "round {round}: the killed seal's temporary file only: {left:?}"
        );
        last = left.into_iter().next();
    }

    // A signing that fails leaves nothing either.
    std::fs::write(&keygen, "#!/bin/sh\necho no >&2\nexit 1\n").expect("failing shim");
    let failed = output(
        seal()
            .env("PATH", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    assert_ne!(failed.status.code(), Some(0), "{}", stderr(&failed));

    let done = output(seal().stdout(Stdio::piped()).stderr(Stdio::piped()));
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let left: Vec<String> = std::fs::read_dir(&folder)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(journal.with_file_name("run.jsonl.sig").exists(), "sealed");
}

/// A shared run with one large side file (many pieces), so a pull of it takes a moment.
fn shared_run(cluster: &crate::support::etcd::Cluster) -> String {
    use crate::support::etcd::Wait as _;
    use bringup::journal::etcd::{EtcdStore, RunUrl};
    use bringup::runbook::{HostId, ServiceId};
    use sha2::Digest as _;
    let url = RunUrl::parse(&cluster.url("leftovers")).expect("url");
    let mut store = EtcdStore::open(&url).wait().expect("open");
    let t0 = chrono::Utc::now();
    let mut rng = fastrand::Rng::with_seed(11);
    let bytes: Vec<u8> = (0..24_000_000).map(|_| rng.u8(..)).collect();
    store.put_side(1, &bytes).wait().expect("put the side file");
    let out = Event::StepOutput {
        service: ServiceId::new("web"),
        step: "dump".into(),
        host: HostId::new("op"),
        text: "(binary)".into(),
        raw: Some(url.side_name(1)),
        size: Some(bytes.len() as u64),
        sha256: Some(hex::encode(sha2::Sha256::digest(&bytes))),
        file: None,
    };
    assert_eq!(store.append(&out, t0).wait().expect("append").seq, 1);
    url.to_string()
}

#[test]
fn pull_killed_mid_copy_leaves_a_temporary_file_the_next_pull_removes() {
    crate::require!(Etcd);
    let cluster = crate::support::etcd::Cluster::start_with(&crate::support::etcd::Options {
        members: 1,
        ..crate::support::etcd::Options::default()
    });
    let url = shared_run(&cluster);
    let dir = tempfile::tempdir().expect("tempdir");
    let pulled = dir.path().join("pulled.jsonl");
    let pull = || {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("bringup"));
        cmd.current_dir(dir.path())
            .args(["pull", &url, "-o"])
            .arg(&pulled)
            .stdin(Stdio::null());
        cmd
    };
    let mut last: Option<String> = None;
    for round in 0..3 {
        let prev = last.clone();
        kill_9_when(pull(), "a temporary journal", || {
            temps_of(dir.path(), "pulled.jsonl")
                .iter()
                .any(|n| Some(n) != prev.as_ref())
        });
        assert!(
            !pulled.exists(),
            "round {round}: no journal from a killed pull"
        );
        let left = temps_of(dir.path(), "pulled.jsonl");
        assert_eq!(
            left.len(),
            1,
            "round {round}: the killed pull's temporary file only: {left:?}"
        );
        last = left.into_iter().next();
    }
    let done = output(pull().stdout(Stdio::piped()).stderr(Stdio::piped()));
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert!(
        temps_of(dir.path(), "pulled.jsonl").is_empty(),
        "nothing left"
    );
    let verified = output(bringup(dir.path()).arg("verify").arg(&pulled));
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
}

#[test]
fn an_orphan_whose_group_is_gone_on_resume_is_journaled_as_already_gone() {
    let (dir, rb, journal) = folder(
        "[runbook]\nname = \"gone\"\n\n[hosts.op]\ntransport = \"local\"\n\n\
[[service]]\nid = \"web\"\nname = \"Web\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {{state}}/web.up\"\n\n\
[[service.restore]]\nname = \"start\"\nrun = \"if [ -f {{state}}/pid ]; then touch {{state}}/web.up; exit 0; fi; \
echo $$ > {{state}}/pid.tmp; mv {{state}}/pid.tmp {{state}}/pid; sleep 30\"\n",
    );
    let state = dir.path().join("state");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&state).expect("state");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let run = |resume: bool| {
        let mut cmd = bringup(dir.path());
        cmd.env("TMPDIR", &tmp)
            .arg("run")
            .arg(&rb)
            .arg("--yes")
            .arg("--var")
            .arg(format!("state={}", state.display()))
            .arg(if resume { "--resume" } else { "--journal" })
            .arg(&journal);
        cmd
    };
    let pid_file = state.join("pid");
    let mut child = run(false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    crate::support::wait::wait_for("the restore to start", Duration::from_secs(30), || {
        pid_file.exists()
    });
    child.kill().expect("kill -9 bringup");
    child.wait().expect("reap");
    // The command's group ends without its shell's exit trap: its marker stays behind.
    let group: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let markers = tmp.join(format!("bringup-{}", nix::unistd::Uid::current()));
    assert_eq!(std::fs::read_dir(&markers).expect("markers").count(), 1);
    killpg(Pid::from_raw(group), Signal::SIGKILL).expect("kill the group");
    crate::support::wait::wait_for("the group to be gone", Duration::from_secs(10), || {
        killpg(Pid::from_raw(group), None).is_err()
    });

    let out = output(&mut run(true));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let settled = crate::support::run::read_journal(&journal)
        .into_iter()
        .find(|e| e["kind"] == "step_finished" && e["step"] == "start")
        .expect("the step in flight is settled");
    let error = settled["error"].as_str().expect("error");
    assert_eq!(settled["outcome"], "unknown", "{settled}");
    assert!(error.contains("already gone"), "{error}");
    assert!(!error.contains("stopped on resume"), "{error}");
    assert_eq!(std::fs::read_dir(&markers).expect("markers").count(), 0);
}
