//! Degraded hosts reach the journal and the reports (SPEC "Fleets"): a restore step that
//! failed on one host within its `max_fail`, on a service whose `min_healthy` holds without
//! it, ends `restored` with the host named degraded, and the post-mortem's resolution says so.

use std::fmt::Write as _;

use crate::support::local::output;
use crate::support::rig::{Resume, Rig};

#[test]
fn a_host_failed_within_the_budget_is_named_degraded_in_the_journal_and_the_post_mortem() {
    let mut text = String::from("[runbook]\nname = \"fleet report\"\n\n");
    for i in 1..=4 {
        let _ = write!(text, "[hosts.h{i}]\ntransport = \"local\"\n");
    }
    let rig = Rig::local("");
    let s = rig.state.display();
    let _ = write!(
        text,
        "\n[[service]]\nid = \"web\"\nhosts = [\"h1\", \"h2\", \"h3\", \"h4\"]\nmin_healthy = 3\n\
         [[service.check]]\nname = \"up\"\nrun = \"test -e {s}/done-{{{{host}}}}\"\n\
         [[service.restore]]\nname = \"start web\"\nbatch = 2\nmax_fail = 1\n\
         run = \"if [ {{{{host}}}} = h2 ]; then exit 3; fi; touch {s}/done-{{{{host}}}}\"\n"
    );
    rig.write_runbook(&text);
    let out = output(&mut rig.run(Resume::No));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = rig.events();
    let last = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "service_state")
        .expect("a state");
    assert_eq!(last["to"], "restored");
    let reason = last["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("degraded: 1 of 4 hosts (h2); min_healthy 3; restore step 'start web' failed on 1 of 4 hosts within max_fail 1"),
        "{reason}"
    );
    let md = output(&mut rig.export("markdown"));
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains("web (web) restored at") && md.contains("Up with degraded: 1 of 4 hosts (h2)"),
        "{md}"
    );
}

/// Four local hosts; `web`'s restore runs a canary of 1 before the rest.
fn canary_runbook(rig: &Rig) {
    let mut text = String::from("[runbook]\nname = \"canary\"\n\n");
    for i in 1..=4 {
        let _ = write!(text, "[hosts.h{i}]\ntransport = \"local\"\n");
    }
    let s = rig.state.display();
    let _ = write!(
        text,
        "\n[[service]]\nid = \"web\"\nhosts = [\"h1\", \"h2\", \"h3\", \"h4\"]\n\
         [[service.check]]\nname = \"up\"\nrun = \"test -e {s}/done-{{{{host}}}}\"\n\
         [[service.restore]]\nname = \"start web\"\ncanary = 1\n\
         run = \"touch {s}/done-{{{{host}}}}\"\n"
    );
    rig.write_runbook(&text);
}

#[test]
fn without_a_terminal_the_canary_question_is_declined_and_with_yes_it_is_approved() {
    let rig = Rig::local("");
    canary_runbook(&rig);
    let out = output(
        crate::support::local::bringup(rig.dir())
            .arg("run")
            .arg(&rig.runbook)
            .arg("--journal")
            .arg(&rig.journal),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("canary ok on 1 host; run on the other 3?"),
        "{stderr}"
    );
    let events = rig.events();
    let not_run: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["kind"] == "step_finished" && e["outcome"] == "not_run")
        .collect();
    assert_eq!(not_run.len(), 3, "{events:?}");
    assert!(
        not_run
            .iter()
            .all(|e| e["error"] == "not approved after the canary on 1 host")
    );
    assert!(rig.state_file("done-h1").exists() && !rig.state_file("done-h2").exists());

    let yes = Rig::local("");
    canary_runbook(&yes);
    let out = output(&mut yes.run(Resume::No));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!((1..=4).all(|i| yes.state_file(&format!("done-h{i}")).exists()));
}
