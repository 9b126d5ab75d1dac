//! "Values are data" for `undo` commands, through the real `bringup` binary on a
//! `transport = "local"` host and over a real OpenSSH sshd on loopback: a restore step's
//! `undo`, run by `bringup undo JOURNAL --service ID --yes` on a finished journal, gets hostile
//! values in every placeholder context (bare, inside double quotes, inside `$(…)` bare and
//! double-quoted, in the script of `sh -c "…"`) byte for byte and runs none of them; the
//! values that are not secret come back from the journal's `run_started`, the secret is given
//! again and never reaches the journal.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::events::read_journal;
use crate::support::procs::unique;
use crate::support::rig::Rig;
use crate::support::run::{stderr, stdout};

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

/// Values a shell would act on if they were spliced into a command: `P` stands for an
/// absolute path and `PWNED` is a relative one (the command's working folder); neither may
/// ever be created.
const HOSTILE: &[&str] = &[
    "'; touch P #",
    "'; touch PWNED #",
    "$(touch P)",
    "$(touch PWNED)",
    "`touch P`",
    "; touch P",
    "&& touch PWNED #",
    "line one\ntouch P\nline three",
    "say \"double\" \"; touch P; \"",
    "' ; touch P ; '",
    r"back\slash \\ \n \$HOME \' \",
    "${x:-$(touch P)}",
    "$HOME and ${HOME} and $1 $@",
    "EOF\ntouch P\nEOF",
    ")\ntouch P\n(",
    "\"$(touch P)\"",
    "-n",
    "*",
    "",
];

/// Each context a placeholder stands in, as a line of the undo that writes the value to
/// `{{outdir}}/{{host}}-<i>.<name>`, and what the file must then hold.
type Case = (&'static str, String, fn(&str) -> String);

fn contexts(var: &str, i: usize) -> Vec<Case> {
    let v = format!("{{{{{var}}}}}");
    let f = |name: &str| format!("{{{{outdir}}}}/{{{{host}}}}-{i}.{name}");
    vec![
        ("bare", format!("printf '%s' {v} > {}", f("bare")), |x| {
            x.to_string()
        }),
        (
            "double",
            format!("printf '%s' \"<{v}>\" > {}", f("double")),
            |x| format!("<{x}>"),
        ),
        (
            "subst",
            format!("printf '%s' \"$(printf '%s' {v})\" > {}", f("subst")),
            captured,
        ),
        (
            "substdouble",
            format!(
                "printf '%s' \"$(printf '%s' \"{v}\")\" > {}",
                f("substdouble")
            ),
            captured,
        ),
        (
            "shc",
            format!("sh -c \"printf '%s' {v} > {}\"", f("shc")),
            |x| x.to_string(),
        ),
    ]
}

/// What `$(…)` makes of `x`: it drops the trailing newlines it captures, whatever the value.
fn captured(x: &str) -> String {
    x.trim_end_matches('\n').to_string()
}

/// Every path under `dir` whose name says it was created by a value run as a command.
fn pwned_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains("PWNED") {
                found.push(path.display().to_string());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    found
}

/// The journal and the output files beside it, as text.
fn recorded(journal: &Path) -> String {
    let mut text = fs::read_to_string(journal).expect("journal");
    if let Ok(side) = fs::read_dir(format!("{}.d", journal.display())) {
        for f in side.flatten() {
            text.push_str(&String::from_utf8_lossy(
                &fs::read(f.path()).expect("side file"),
            ));
        }
    }
    text
}

/// The rig's runbook: service `vip` on the local host `op` and the ssh host `h0`, whose
/// restore leaves `restored.HOST` in `{{outdir}}` and whose undo writes each of `vars` (name,
/// value) in every context, prints the secret `tok`, and removes the mark.
fn write_runbook(rig: &Rig, vars: &[(String, String)]) {
    let mut undo = String::new();
    for (i, (name, _)) in vars.iter().enumerate() {
        for (_, line, _) in contexts(name, i) {
            let _ = writeln!(undo, "{line}");
        }
    }
    undo.push_str("echo \"token is {{tok}}\"\nrm {{outdir}}/restored.{{host}}\n");
    let text = format!(
        "{}[hosts.op]\ntransport = \"local\"\n\n\
         [[service]]\nid = \"vip\"\nhosts = [\"op\", \"h0\"]\n\n\
         [[service.check]]\nname = \"up\"\nrun = \"test -f {{{{outdir}}}}/restored.{{{{host}}}}\"\n\n\
         [[service.restore]]\nname = \"move the VIP\"\n\
         run = \"touch {{{{outdir}}}}/restored.{{{{host}}}} && echo \\\"moved with {{{{tok}}}}\\\"\"\n\
         undo = '''\n{undo}'''\n",
        rig.head("secret_vars = [\"tok\"]", "")
    );
    rig.write_runbook(&text);
}

/// Each file the undo wrote on a host that does not hold what its context makes of the value.
fn wrong_values(out_dir: &Path, vars: &[(String, String)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for host in ["op", "h0"] {
        for (i, (_, value)) in vars.iter().enumerate() {
            for (name, _, expected) in contexts("unused", i) {
                let path = out_dir.join(format!("{host}-{i}.{name}"));
                match fs::read(&path) {
                    Ok(got) if got == expected(value).as_bytes() => {}
                    Ok(got) => wrong.push(format!(
                        "{host} {name} {value:?}: got {:?}",
                        String::from_utf8_lossy(&got)
                    )),
                    Err(e) => wrong.push(format!("{host} {name} {value:?}: not written ({e})")),
                }
            }
        }
    }
    wrong
}

#[test]
fn undo_commands_get_hostile_values_exactly_run_none_and_journal_no_secret() {
    crate::require!(Sshd);
    let rig = Rig::ssh(1);
    let out_dir = rig.state.clone();
    let pwned = rig.path("PWNED-abs");
    let mut vars: Vec<(String, String)> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let value = v
                .replace("PWNED", "\u{0}")
                .replace('P', &pwned.display().to_string())
                .replace('\u{0}', "PWNED");
            (format!("v{i}"), value)
        })
        .collect();
    // The secret is hostile too; its unique core is what must never be recorded.
    let core = unique("undoS3cret");
    let secret = format!("{core}'\"$(touch {})`touch PWNED`\\", pwned.display());
    vars.push(("tok".to_string(), secret.clone()));
    write_runbook(&rig, &vars);

    let value_dir = rig.path("values");
    fs::create_dir_all(&value_dir).expect("values dir");
    let mut run = rig.run(crate::support::rig::Resume::No);
    run.env("BRINGUP_TEST_UNDO_TOKEN", &secret)
        .args(["--var-env", "tok=BRINGUP_TEST_UNDO_TOKEN", "--var"])
        .arg(format!("outdir={}", out_dir.display()));
    for (name, value) in vars.iter().filter(|(name, _)| name != "tok") {
        // A var file loses one trailing newline: the value is exactly what precedes it.
        let file = value_dir.join(name);
        fs::write(&file, format!("{value}\n")).expect("write value");
        run.arg("--var-file")
            .arg(format!("{name}={}", file.display()));
    }
    let out = run.output().expect("bringup run");
    assert_exit(&out, 0);
    for host in ["op", "h0"] {
        assert!(
            out_dir.join(format!("restored.{host}")).exists(),
            "restored on {host}"
        );
    }

    // The non-secret values come back from the journal; the secret is given again.
    let out = rig
        .bringup()
        .env("BRINGUP_TEST_UNDO_TOKEN", &secret)
        .arg("undo")
        .arg(&rig.journal)
        .args([
            "--service",
            "vip",
            "--yes",
            "--var-env",
            "tok=BRINGUP_TEST_UNDO_TOKEN",
        ])
        .output()
        .expect("bringup undo");
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "undo ended badly: {printed}"
    );
    let undone: Vec<String> = read_journal(&rig.journal)
        .iter()
        .filter(|e| e["kind"] == "step_finished" && e["phase"] == "undo")
        .map(|e| format!("{} {}", e["host"], e["outcome"]))
        .collect();
    assert_eq!(
        undone.len(),
        2,
        "the undo ran on both hosts: {undone:?}\n{printed}"
    );
    for host in ["op", "h0"] {
        assert!(
            !out_dir.join(format!("restored.{host}")).exists(),
            "the undo ran to its end on {host}: {undone:?}\n{printed}"
        );
    }

    let wrong = wrong_values(&out_dir, &vars);
    assert!(
        wrong.is_empty(),
        "values changed on the way into the undo:\n{}",
        wrong.join("\n")
    );
    let pwned_files = pwned_under(rig.dir());
    assert!(
        pwned_files.is_empty(),
        "a value was run as a command: {pwned_files:?}"
    );

    let journal = recorded(&rig.journal);
    assert!(!journal.contains(&core), "the secret is in the journal");
    assert!(!printed.contains(&core), "the secret was printed");
    assert!(
        journal.contains("token is ***"),
        "the undo's output is kept, masked"
    );
}
