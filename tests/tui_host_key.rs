//! The TUI's host-key prompt against a real OpenSSH sshd on loopback: a check meets an unknown
//! key, the App asks, `a` accepts exactly the key offered, the journal records it, and the
//! service is checked again over the now trusted connection.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bringup::driver::{Driver, Message};
use bringup::engine::{Engine, EngineOptions, Mode, ServiceState};
use bringup::exec::Executor;
use bringup::journal::{Event, JournalWriter};
use bringup::runbook::ServiceId;
use bringup::tui::event_loop::Front;
use bringup::tui::{App, Overlay, RunInfo};
use front_support::{press, pump_within};
use support::sshd::{Lab, current_user};

#[path = "support/front.rs"]
mod front_support;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_key_is_asked_about_accepted_with_a_and_the_service_checked_again() {
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    let path = lab.path("web.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[runbook]
name = "host key"

[hosts.web-1]
address = "127.0.0.1"
port = {port}
user = "{user}"
identity = "{key}"

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
        pump_within(&mut front, &mut rx, LIMIT, asked).await,
        "the operator is asked"
    );
    let web = ServiceId::new("web");
    assert_ne!(
        front.app.view_of(&web).map(|v| v.state),
        Some(ServiceState::Healthy),
        "nothing ran on the unknown host"
    );

    press(&mut front, 'a');
    let healthy = |f: &Front| {
        f.app.view_of(&ServiceId::new("web")).map(|v| v.state) == Some(ServiceState::Healthy)
    };
    assert!(
        pump_within(&mut front, &mut rx, LIMIT, healthy).await,
        "checked again after the key was accepted"
    );

    let recorded = std::fs::read_to_string(&lab.bringup_known_hosts).expect("key recorded");
    let key_field = sshd.host_public.split_whitespace().nth(1).expect("key");
    assert!(recorded.contains(key_field), "{recorded}");
    let events: Vec<Event> = bringup::journal::read_journal(&journal_path)
        .expect("journal reads")
        .records
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::HostKeyAccepted { host, fingerprint, operator }
            if host.as_str() == "web-1" && *fingerprint == sshd.fingerprint() && operator == "tester"
    )));
}
