//! Step policies through the driver, with real local commands and real timers: a step
//! `only` for drills is journaled `step_skipped` in an incident, and a confirm step nobody
//! answers in its `confirm_timeout` is journaled declined by bringup with the reason.

use std::time::Duration;

use super::*;
use crate::driver::testkit;
use crate::engine::Decision;
use crate::journal::read_journal;

#[tokio::test]
async fn an_unanswered_confirm_times_out_and_a_drill_only_step_is_skipped_both_journaled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let text = format!(
        "[runbook]\nname = \"policies\"\n\n[hosts.box]\ntransport = \"local\"\n\n\
[[service]]\nid = \"vip\"\nhosts = [\"box\"]\n\n[[service.check]]\nname = \"up\"\nrun = \"test -f {d}/up\"\n\n\
[[service.restore]]\nname = \"snapshot staging\"\nrun = \"touch {d}/snapshot\"\nonly = \"drill\"\n\n\
[[service.restore]]\nname = \"move the VIP\"\nrun = \"touch {d}/up\"\nconfirm = true\nconfirm_timeout = \"1s\"\n"
    );
    let path = testkit::write_runbook(dir.path(), "policies.toml", text, false);
    let opened = testkit::open_session(dir.path(), &path, "local-operator", Vec::new());
    let (mut driver, mut inbox) = (opened.driver, opened.messages);
    driver
        .input(Input::SetAuto(true))
        .expect("journal writable");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while driver.finished().is_none() {
        let batch = tokio::time::timeout_at(deadline, inbox.next())
            .await
            .expect("the run ended within 20 s")
            .expect("the driver's tasks are alive");
        driver.on_messages(batch).expect("journal writable");
    }
    driver.end(Ending::Idle).expect("ended");
    let events: Vec<Event> = read_journal(&opened.journal)
        .expect("journal")
        .records
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert!(!dir.path().join("snapshot").exists(), "drill-only step ran");
    assert!(!dir.path().join("up").exists(), "declined step ran");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepSkipped { step, reason, .. }
            if step == "snapshot staging" && reason.contains("drill")
    )));
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Approval { step, decision: Decision::Declined, operator, .. }
                if step == "move the VIP" && operator == "bringup (no answer in 1s)"
        )),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ServiceState { to: ServiceState::Failed, reason: Some(r), .. }
            if r.contains("no answer in 1s")
    )));
}
