//! Fitting into a shell and a manual: completion scripts that load, the man page that renders
//! and stays in sync with `assets/bringup.1`, and subcommand names that win over a runbook path.

use std::path::Path;
use std::process::Stdio;

use assert_cmd::Command;
use predicates::prelude::*;

fn bringup() -> Command {
    Command::cargo_bin("bringup").expect("the bringup binary is built")
}

fn stdout_of(args: &[&str]) -> String {
    let out = bringup().args(args).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).expect("utf-8")
}

const SUBCOMMANDS: &[&str] = &[
    "demo",
    "open",
    "run",
    "validate",
    "plan",
    "export",
    "report",
    "verify",
    "completions",
    "man",
    "schema",
];

#[test]
fn bash_completions_load_and_register_bringup() {
    let bin = assert_cmd::cargo::cargo_bin("bringup");
    let script = format!(
        "source <('{}' completions bash) && complete -p bringup",
        bin.display()
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("bringup"), "{stdout}");
}

#[test]
fn completions_offer_no_internal_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        assert!(
            !script.contains("__demo-svc"),
            "{shell} completions offer the internal '__demo-svc'"
        );
    }
}

#[test]
fn zsh_fish_elvish_and_powershell_completions_name_every_subcommand() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        assert!(!script.trim().is_empty(), "{shell}");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack '{sub}'");
        }
    }
}

#[test]
fn completions_without_a_shell_asks_for_one_instead_of_reading_a_runbook() {
    bringup()
        .arg("completions")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<SHELL>"))
        .stderr(predicate::str::contains("cannot read runbook").not());
    bringup()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("'tcsh'"));
}

#[test]
fn a_mistyped_subcommand_is_told_as_one_not_as_a_missing_runbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    bringup()
        .current_dir(dir.path())
        .arg("completion")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no runbook 'completion' and no subcommand of that name; did you mean `bringup completions`?",
        ));
}

#[test]
fn the_committed_man_page_is_what_bringup_man_prints() {
    let printed = stdout_of(&["man"]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/bringup.1");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        printed == committed,
        "assets/bringup.1 is out of date with the command line; regenerate it with `cargo run -- man > assets/bringup.1` and commit it"
    );
}

#[test]
fn man_renders_the_page_with_every_subcommand() {
    crate::require!(Man);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/bringup.1");
    let out = std::process::Command::new("man")
        .arg("-l")
        .arg(&path)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .stdin(Stdio::null())
        .output()
        .expect("man is installed (scripts/test installs man-db)");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "man -l failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for heading in ["NAME", "SYNOPSIS", "OPTIONS", "SUBCOMMANDS"] {
        assert!(page.contains(heading), "no {heading} in\n{page}");
    }
    for sub in SUBCOMMANDS {
        let section = format!("BRINGUP {}", sub.to_uppercase());
        assert!(page.contains(&section), "no {section} in\n{page}");
    }
    assert!(!page.contains(".TH"), "roff was rendered, not shown raw");
}

#[test]
fn export_without_format_writes_the_markdown_post_mortem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.jsonl");
    let mut w = bringup::journal::JournalWriter::create(&path, &[]).expect("create");
    w.append(&bringup::journal::Event::Note {
        operator: "ana".into(),
        text: "bridge open".into(),
        provenance: bringup::journal::event::Provenance::default(),
    })
    .expect("note");
    drop(w);
    let default = stdout_of(&["export", path.to_str().expect("utf-8 path")]);
    let markdown = stdout_of(&[
        "export",
        path.to_str().expect("utf-8 path"),
        "--format",
        "markdown",
    ]);
    assert_eq!(default, markdown);
    assert!(default.contains("bridge open"));
}
