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
