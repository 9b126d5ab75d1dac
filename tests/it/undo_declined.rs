//! A `confirm` step's questions through the real `bringup` on a `transport = "local"` host:
//! the journaled `asked` and `approval` say which phase of the service they are about, so an
//! undo's approval declined is told as the undo's (in the journal, the report and the CSV),
//! never as the restore step of that name.

use crate::support::local::output;
use crate::support::rig::{Resume, Rig};
use crate::support::run::{stderr, stdout};
use serde_json::Value;

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_default()
}

/// The `asked` and `approval` events of the journal: (kind, phase, step, decision).
fn questions(events: &[Value]) -> Vec<(String, String, String, String)> {
    events
        .iter()
        .filter(|e| matches!(field(e, "kind"), "asked" | "approval"))
        .map(|e| {
            [
                field(e, "kind"),
                field(e, "phase"),
                field(e, "step"),
                field(e, "decision"),
            ]
            .map(str::to_string)
            .into()
        })
        .collect()
}

#[test]
fn an_undo_declined_is_journaled_and_told_as_the_undos() {
    let rig = Rig::local("");
    let s = rig.state.display();
    rig.write_runbook(&format!(
        r#"[runbook]
name = "gate"

[hosts.box]
transport = "local"

[[service]]
id = "gate"
hosts = ["box"]
  [[service.check]]
  name = "up"
  run = "test -f {s}/open"
  [[service.restore]]
  name = "open the gate"
  run = "touch {s}/open"
  undo = "rm {s}/open"
  confirm = true
"#
    ));
    // The restore approved with --yes.
    let out = output(&mut rig.run(Resume::No));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Its undo asks the same step's approval; with no terminal and no --yes, declined.
    let mut undo = rig.bringup();
    undo.arg("undo")
        .arg(&rig.journal)
        .args(["--service", "gate", "--operator", "kim"]);
    let out = output(&mut undo);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(rig.state.join("open").exists(), "the declined undo ran");

    let q = |kind: &str, phase: &str, decision: &str| {
        (
            kind.to_string(),
            phase.to_string(),
            "open the gate".to_string(),
            decision.to_string(),
        )
    };
    assert_eq!(
        questions(&rig.events()),
        vec![
            q("asked", "restore", ""),
            q("approval", "restore", "approved"),
            q("asked", "undo", ""),
            q("approval", "undo", "declined"),
        ]
    );
    let verified = rig.verify();
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    let report = output(&mut rig.export("markdown"));
    let report = stdout(&report);
    for told in [
        "gate: approved 'open the gate'",
        "gate: asks to approve undo 'open the gate'",
        "gate: declined undo 'open the gate'",
        "undo 'open the gate' of 'gate' was declined by (no terminal)",
    ] {
        assert!(report.contains(told), "{told}:\n{report}");
    }
    let csv = output(&mut rig.export("csv"));
    let declined = stdout(&csv)
        .lines()
        .find(|l| l.contains(",approval,") && l.contains("declined"))
        .map(str::to_string);
    assert!(
        declined.as_deref().is_some_and(|l| l.contains(",undo,")),
        "{declined:?}"
    );
}
