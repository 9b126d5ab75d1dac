//! The TUI's host-key prompt when the unknown key is a jump host's, against real OpenSSH
//! servers on loopback: the App asks about the jump host, `a` accepts exactly its key, the
//! journal records it as the jump host's, and the service behind it is checked again.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

use bringup::driver::{Driver, Message};
use bringup::engine::{Engine, EngineOptions, Mode, ServiceState};
use bringup::exec::Executor;
use bringup::journal::{Event, JournalWriter};
use bringup::runbook::ServiceId;
use bringup::tui::event_loop::Front;
use bringup::tui::{App, Overlay, RunInfo};
use support::sshd::{Lab, current_user};

async fn pump(
    front: &mut Front,
    rx: &mut mpsc::Receiver<Message>,
    done: impl Fn(&Front) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(front) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                front.message(m).expect("journal writable");
                front.sync();
            }
            Ok(None) | Err(_) => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_hosts_unknown_key_is_asked_about_accepted_as_its_own_and_the_service_checked_again()
{
    let lab = Lab::new();
    let bastion = lab.sshd(1);
    let sshd = lab.sshd(1);
    // The host behind the jump host is trusted; only the jump host's key is unknown.
    lab.trust(&sshd);
    let path = lab.path("web.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[runbook]
name = "host key"

[hosts.bastion]
address = "127.0.0.1"
port = {jump_port}
user = "{user}"
identity = "{key}"

[hosts.web-1]
address = "127.0.0.1"
port = {port}
user = "{user}"
identity = "{key}"
jump = "bastion"

[[service]]
id = "web"
name = "Web"
tier = 1
hosts = ["web-1"]
  [[service.check]]
  name = "answers"
  run = "echo ok"
"#,
            port = sshd.ports[0],
            jump_port = bastion.ports[0],
            user = current_user(),
            key = lab.client_key.display()
        ),
    )
    .expect("write runbook");
    let runbook = Arc::new(bringup::runbook::load(&path, &[]).expect("valid runbook"));
    let journal_path = lab.path("journal.jsonl");
    let journal = JournalWriter::create(&journal_path, &[]).expect("journal");
    let exec = Executor::new(&runbook, lab.options());
    let engine = Engine::new(runbook.clone(), EngineOptions::default());
    let (driver, mut rx) = Driver::new(engine, journal, exec, "tester".into());
    let info = RunInfo {
        mode: Mode::Incident,
        operator: "tester".into(),
        journal: journal_path.clone(),
    };
    let mut front = Front::new(App::new(runbook, info), driver, Vec::new(), Duration::ZERO);
    front.start().expect("start");

    let asked = |f: &Front| f.app.overlay() == Some(&Overlay::HostKey);
    assert!(
        pump(&mut front, &mut rx, asked).await,
        "the operator is asked"
    );
    let web = ServiceId::new("web");
    assert_ne!(
        front.app.view_of(&web).map(|v| v.state),
        Some(ServiceState::Healthy),
        "nothing ran on the unknown host"
    );

    front
        .key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE))
        .expect("journal");
    let healthy = |f: &Front| {
        f.app.view_of(&ServiceId::new("web")).map(|v| v.state) == Some(ServiceState::Healthy)
    };
    assert!(
        pump(&mut front, &mut rx, healthy).await,
        "checked again after the key was accepted"
    );

    let recorded = std::fs::read_to_string(&lab.bringup_known_hosts).expect("key recorded");
    let key_field = bastion.host_public.split_whitespace().nth(1).expect("key");
    assert!(
        recorded.contains(&format!(
            "[127.0.0.1]:{} ssh-ed25519 {key_field}",
            bastion.ports[0]
        )),
        "the jump host's key is recorded at its address: {recorded}"
    );
    let events: Vec<Event> = bringup::journal::read_journal(&journal_path)
        .expect("journal reads")
        .records
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::HostKeyAccepted { host, fingerprint, operator }
            if host.as_str() == "bastion" && *fingerprint == bastion.fingerprint() && operator == "tester"
    )), "the journal records the key as the jump host's: {events:?}");
}
