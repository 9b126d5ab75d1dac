//! The TUI's host-key prompt against real OpenSSH sshd on loopback: a check meets an unknown
//! key (the host's own, or its jump host's), the App asks, `Y` accepts exactly the key
//! offered, the journal records it under the host that offered it, and the service is
//! checked again over the now trusted connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::support::sshd::{Lab, current_user};
use bringup::driver::{Driver, Inbox};
use bringup::engine::{Engine, EngineOptions, Mode, ServiceState};
use bringup::exec::Executor;
use bringup::journal::{Event, JournalWriter};
use bringup::runbook::ServiceId;
use bringup::tui::event_loop::Front;
use bringup::tui::{App, Overlay, RunInfo};
use front_support::{press, pump_within};

#[path = "../support/front.rs"]
mod front_support;

const LIMIT: Duration = Duration::from_secs(30);

/// A runbook whose one service `web` checks `web-1`; `hosts` holds the `[hosts.*]` tables.
fn web_runbook(lab: &Lab, hosts: &str) -> PathBuf {
    let path = lab.path("web.toml");
    let text = format!(
        "[runbook]\nname = \"host key\"\n\n{hosts}\n[[service]]\nid = \"web\"\nname = \"Web\"\ntier = 1\nhosts = [\"web-1\"]\n  [[service.check]]\n  name = \"answers\"\n  run = \"echo ok\"\n"
    );
    std::fs::write(&path, text).expect("write runbook");
    path
}

/// `[hosts.<id>]` on a loopback port with the lab's user and client key.
fn host(lab: &Lab, id: &str, port: u16, jump: Option<&str>) -> String {
    let jump = jump
        .map(|j| format!("jump = \"{j}\"\n"))
        .unwrap_or_default();
    format!(
        "[hosts.{id}]\naddress = \"127.0.0.1\"\nport = {port}\nuser = \"{}\"\nidentity = \"{}\"\n{jump}\n",
        current_user(),
        lab.client_key.display()
    )
}

/// A TUI front over the runbook, started (the opening sweep is under way).
fn open(lab: &Lab, path: &Path) -> (Front, Inbox, PathBuf) {
    let runbook = Arc::new(bringup::runbook::load(path, &[]).expect("valid runbook"));
    let journal_path = lab.path("journal.jsonl");
    let journal = JournalWriter::create(&journal_path, &[]).expect("journal");
    let exec = Executor::new(&runbook, lab.options());
    let engine = Engine::new(runbook.clone(), EngineOptions::default());
    let (driver, rx) = Driver::new(engine, journal, exec, "tester".into());
    let info = RunInfo {
        mode: Mode::Incident,
        operator: "tester".into(),
        journal: journal_path.clone(),
    };
    let mut front = Front::new(App::new(runbook, info), driver, Duration::ZERO);
    front.start().expect("start");
    (front, rx, journal_path)
}

/// The operator is asked, nothing runs before the answer, `a` (the main screen's auto key)
/// is not an answer, `Y` accepts, and `web` is checked
/// again and found healthy.
async fn asked_then_accepted(front: &mut Front, rx: &mut Inbox) {
    let asked = |f: &Front| f.app.overlay() == Some(&Overlay::HostKey);
    assert!(
        pump_within(front, rx, LIMIT, asked).await,
        "the operator is asked"
    );
    let web = ServiceId::new("web");
    assert_ne!(
        front.app.view_of(&web).map(|v| v.state),
        Some(ServiceState::Healthy),
        "nothing ran on the unknown host"
    );
    // Typed for the main screen as the prompt came up, then after it: neither answers.
    tokio::time::sleep(bringup::tui::event_loop::DIALOG_GUARD).await;
    press(front, 'a');
    assert_eq!(
        front.app.overlay(),
        Some(&Overlay::HostKey),
        "`a` does not accept"
    );
    press(front, 'Y');
    let healthy = |f: &Front| f.app.view_of(&web).map(|v| v.state) == Some(ServiceState::Healthy);
    assert!(
        pump_within(front, rx, LIMIT, healthy).await,
        "checked again after the key was accepted"
    );
}

fn journaled(journal: &Path) -> Vec<Event> {
    bringup::journal::read_journal(journal)
        .expect("journal reads")
        .records
        .into_iter()
        .map(|r| r.event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_key_is_asked_about_accepted_with_capital_y_and_the_service_checked_again()
{
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    let path = web_runbook(&lab, &host(&lab, "web-1", sshd.ports[0], None));
    let (mut front, mut rx, journal) = open(&lab, &path);

    asked_then_accepted(&mut front, &mut rx).await;

    let recorded = std::fs::read_to_string(&lab.bringup_known_hosts).expect("key recorded");
    let key_field = sshd.host_public.split_whitespace().nth(1).expect("key");
    assert!(recorded.contains(key_field), "{recorded}");
    let events = journaled(&journal);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::HostKeyAccepted { host, fingerprint, operator, .. }
            if host.as_str() == "web-1" && *fingerprint == sshd.fingerprint() && operator == "tester"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_hosts_unknown_key_is_asked_about_accepted_as_its_own_and_the_service_checked_again()
{
    crate::require!(Sshd);
    let lab = Lab::new();
    let bastion = lab.sshd(1);
    let sshd = lab.sshd(1);
    // The host behind the jump host is trusted; only the jump host's key is unknown.
    lab.trust(&sshd);
    let hosts = host(&lab, "bastion", bastion.ports[0], None)
        + &host(&lab, "web-1", sshd.ports[0], Some("bastion"));
    let path = web_runbook(&lab, &hosts);
    let (mut front, mut rx, journal) = open(&lab, &path);

    asked_then_accepted(&mut front, &mut rx).await;

    lab.assert_recorded(&bastion, "the jump host's key is recorded at its address: ");
    let events = journaled(&journal);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::HostKeyAccepted { host, fingerprint, operator, .. }
            if host.as_str() == "bastion" && *fingerprint == bastion.fingerprint() && operator == "tester"
    )), "the journal records the key as the jump host's: {events:?}");
}
