//! Where a shared run (etcd) keeps its log: it has no folder of its own, and the folder the
//! operator's shell stands in may be read-only or anyone's, so the log goes to bringup's state
//! folder (`$XDG_STATE_HOME/bringup/NAME.log`), made 0700; a place that cannot be used is a
//! warning, never a failed run. Each run gets HOME and XDG_STATE_HOME in its temp folder.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::etcd::{Cluster, Options};
use crate::support::run::stderr;

/// A runbook of one local service whose check passes.
fn runbook(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("rb.toml");
    std::fs::write(
        &path,
        "[runbook]\nname = \"shared log\"\n\n[hosts.h1]\ntransport = \"local\"\n\n\
[[service]]\nid = \"web\"\nhosts = [\"h1\"]\n\n[[service.check]]\nname = \"up\"\nrun = \"true\"\n",
    )
    .expect("runbook");
    path
}

/// `bringup run --yes --journal URL RUNBOOK` from `cwd`, HOME in `dir`, with `state` as
/// XDG_STATE_HOME.
fn run_shared(dir: &Path, cwd: &Path, state: &Path, url: &str) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin!("bringup"))
        .args(["run", "--yes", "--journal", url])
        .arg(runbook(dir))
        .current_dir(cwd)
        .env("HOME", dir.join("home"))
        .env("XDG_STATE_HOME", state)
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn one_member() -> Cluster {
    Cluster::start_with(&Options {
        members: 1,
        ..Options::default()
    })
}

#[test]
fn a_shared_run_from_a_read_only_folder_logs_under_xdg_state_home_and_says_where() {
    crate::require!(Etcd);
    let cluster = one_member();
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path().join("read-only");
    std::fs::create_dir(&cwd).expect("cwd");
    std::fs::set_permissions(&cwd, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let state = dir.path().join("state");
    let url = cluster.url("fire");

    let out = run_shared(dir.path(), &cwd, &state, &url);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let log = state.join("bringup/fire.log");
    let text = std::fs::read_to_string(&log).expect("the log under XDG_STATE_HOME");
    assert!(text.contains("session opened"), "{text}");
    assert_eq!(mode(&state.join("bringup")), 0o700, "its folder");
    assert_eq!(mode(&log), 0o600, "the log");
    // (As root the folder's mode does not stop a write: that nothing is there says so.)
    let left: Vec<_> = std::fs::read_dir(&cwd).expect("cwd").collect();
    assert!(
        left.is_empty(),
        "nothing written where the shell stood: {left:?}"
    );
    assert!(
        !stderr(&out).contains("warning"),
        "no warning: {}",
        stderr(&out)
    );
    // Said once, under the journal's line.
    let said = format!("log: {}", log.display());
    assert_eq!(
        stderr(&out).lines().filter(|l| *l == said).count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_shared_run_whose_state_folder_cannot_be_made_goes_on_with_a_warning() {
    crate::require!(Etcd);
    let cluster = one_member();
    let dir = tempfile::tempdir().expect("tempdir");
    // A file where the state folder would be: no folder can be made under it, even by root.
    let state = dir.path().join("not-a-folder");
    std::fs::write(&state, "").expect("file");
    let url = cluster.url("no-log");

    let out = run_shared(dir.path(), dir.path(), &state, &url);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: cannot open the log '{}': cannot make its folder",
            state.join("bringup/no-log.log").display()
        )),
        "{err}"
    );
    assert!(err.contains("choose another with --log-file"), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("log: ")), "{err}");
}
