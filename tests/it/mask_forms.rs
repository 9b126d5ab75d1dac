//! Masking covers the forms a shell makes of a secret (SPEC "Edges"), with real `bringup run`
//! processes on the local transport: a `--var-file` value with a newline left over that
//! `$(…)` trims, one ending in a lone `\r` that `tr -d '\r'` removes, and one with a UTF-8 BOM
//! that is cut off. Each form is masked in the journal, in `export` and in the output side
//! file `bringup output` reads.

use crate::support::local::{bringup, folder, output};
use crate::support::run::{stderr, stdout};

/// The values as a shell leaves them: what must never be recorded or shown.
const FORMS: [&str; 3] = ["Tk-alpha-7781", "Tk-bravo-5523", "Tk-charlie-9045"];

const RUNBOOK: &str = r#"
[runbook]
name = "forms"
secret_vars = ["a", "b", "c"]

[hosts.box]
transport = "local"

[[service]]
id = "api"
hosts = ["box"]
  [[service.check]]
  name = "uses the tokens"
  run = '''
x=$(printf '%s' "{{a}}")
printf '\377 a=[%s]\n' "$x"
printf 'b=[%s]\n' "$(printf '%s' "{{b}}" | tr -d '\r')"
printf 'c=[%s]\n' "$(printf '%s' "{{c}}" | tail -c +4)"
'''
"#;

fn assert_no_form(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    for form in FORMS {
        assert!(!text.contains(form), "{what} shows '{form}':\n{text}");
    }
}

#[test]
fn a_secret_trimmed_by_the_shell_or_without_its_bom_is_masked_in_the_journal_exports_and_side_files()
 {
    let (dir, runbook, journal) = folder(RUNBOOK);
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write secret file");
        format!("{name}={}", path.display())
    };
    let a = file("a", b"Tk-alpha-7781\n\n");
    let b = file("b", b"Tk-bravo-5523\r");
    let c = file("c", b"\xef\xbb\xbfTk-charlie-9045");
    let out = output(
        bringup(dir.path())
            .args(["run", "--yes", "--var-file", &a, "--var-file", &b])
            .args(["--var-file", &c, "--journal"])
            .arg(&journal)
            .arg(&runbook),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_no_form("run's output", stdout(&out).as_bytes());

    let recorded = std::fs::read(&journal).expect("journal");
    assert_no_form("the journal", &recorded);
    // The output went to a side file (it is not UTF-8): masked there too.
    let sides: Vec<_> = std::fs::read_dir(dir.path().join("journal/run.jsonl.d"))
        .expect("side folder")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "out"))
        .collect();
    assert!(!sides.is_empty(), "no side file");
    for side in &sides {
        assert_no_form(
            "a side file",
            &std::fs::read(side.path()).expect("side file"),
        );
    }

    let shown = output(bringup(dir.path()).arg("output").arg(&journal));
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(text.contains("a=[***]"), "{text}");
    assert!(text.contains("b=[***]"), "{text}");
    assert!(text.contains("c=[***]"), "{text}");
    assert_no_form("`bringup output`", &shown.stdout);

    for format in ["markdown", "json", "csv", "html"] {
        let exported = output(
            bringup(dir.path())
                .args(["export", "--format", format])
                .arg(&journal),
        );
        assert!(exported.status.success(), "{}", stderr(&exported));
        assert_no_form(&format!("export --format {format}"), &exported.stdout);
    }
}
