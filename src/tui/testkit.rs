//! Test fixtures for the TUI: a fabricated runbook and engine views, so panes can be drawn and
//! actions tested without an engine, a file or a terminal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::engine::state::{
    HostStatus, Mode, Phase, ServiceState, ServiceView, StepOutcome, StepRef, Waiting,
};
use crate::runbook::model::{
    Defaults, Host, HostId, Runbook, Service, ServiceId, Step, StepAction, Template, Transport,
};
use crate::tui::app::{App, RunInfo};
use crate::tui::theme::Theme;

pub fn step(name: &str, run: &str, hosts: &[&str]) -> Step {
    Step {
        name: name.into(),
        action: StepAction::Run(Template::parse(run)),
        hosts: hosts.iter().map(|h| HostId::new(*h)).collect(),
        timeout: Duration::from_secs(30),
        retries: 0,
        retry_delay: Duration::from_secs(5),
        expect_exit: 0,
        expect_output: None,
        confirm: crate::runbook::model::Confirm::No,
        feature: None,
        fleet: crate::runbook::fleet::Fleet::default(),
        policy: crate::runbook::model::StepPolicy::default(),
    }
}

pub fn service(id: &str, name: &str, tier: u32, rto_min: Option<u64>, hosts: &[&str]) -> Service {
    Service {
        id: ServiceId::new(id),
        name: name.into(),
        tier,
        rto: rto_min.map(|m| Duration::from_secs(m * 60)),
        hosts: hosts.iter().map(|h| HostId::new(*h)).collect(),
        depends_on: Vec::new(),
        checks: vec![step(
            "health",
            "curl -fsS http://127.0.0.1:8080/health",
            hosts,
        )],
        restores: Vec::new(),
        injects: Vec::new(),
        min_healthy: None,
        on_fail: crate::runbook::model::OnFail::Stop,
    }
}

fn host(id: &str) -> (HostId, Host) {
    (
        HostId::new(id),
        Host {
            id: HostId::new(id),
            transport: Transport::Ssh,
            address: format!("10.0.0.{}", id.len()),
            port: None,
            user: None,
            identity: None,
            jump: None,
            tags: Vec::new(),
        },
    )
}

/// Pangyo-shaped: auth (tier 1), messaging with a confirm and a manual restore (tier 1),
/// media (tier 2), mail (tier 3, a secret in its restore).
pub fn runbook() -> Runbook {
    let mut auth = service("auth", "Login and tokens", 1, Some(15), &["auth-1"]);
    auth.restores = vec![step("restart auth", "systemctl restart auth", &["auth-1"])];
    let mut talk = service(
        "talk-messaging",
        "Message send and receive",
        1,
        Some(30),
        &["msg-gw-1", "msg-gw-2"],
    );
    talk.depends_on = vec![ServiceId::new("auth")];
    let mut start = step(
        "start gateway",
        "sudo systemctl start msg-gateway --site {{site}}",
        &["msg-gw-1", "msg-gw-2"],
    );
    start.confirm = crate::runbook::model::Confirm::One;
    start.retries = 2;
    let mut vip = step("move the VIP", "", &["msg-gw-1"]);
    vip.action = StepAction::Manual(Template::parse(
        "Ask netops to move the VIP to {{site}}; mark done when they confirm.",
    ));
    talk.restores = vec![start, vip];
    talk.injects = vec![step(
        "stop gateway",
        "sudo systemctl stop msg-gateway",
        &["msg-gw-1"],
    )];
    let media = service(
        "media",
        "Photo and video transfer",
        2,
        Some(60),
        &["media-1"],
    );
    let mut mail = service("mail", "Mail (IMAP/POP3/SMTP)", 3, Some(240), &["mail-1"]);
    mail.restores = vec![step(
        "replay queue",
        "mailq-replay --token {{token}}",
        &["mail-1"],
    )];
    let mut vars = IndexMap::new();
    vars.insert("site".into(), "gasan".into());
    vars.insert("token".into(), "s3cr3t-t0ken".into());
    Runbook {
        notice: crate::runbook::model::Notice::default(),
        notify: Vec::new(),
        name: "Pangyo DC fire — restore on the secondary site".into(),
        description: String::new(),
        path: PathBuf::from("runbooks/pangyo.toml"),
        sha256: "0".repeat(64),
        defaults: Defaults::default(),
        vars,
        secret_vars: ["token".to_string()].into_iter().collect(),
        hosts: ["auth-1", "msg-gw-1", "msg-gw-2", "media-1", "mail-1"]
            .into_iter()
            .map(host)
            .collect(),
        groups: IndexMap::new(),
        services: vec![auth, talk, media, mail],
        drills: crate::runbook::drill::Drills::default(),
        sites: crate::runbook::sites::Sites::default(),
        operators: crate::runbook::model::Operators::default(),
        witnesses: Vec::new(),
    }
}

pub fn info(mode: Mode) -> RunInfo {
    RunInfo {
        mode,
        operator: "alice".into(),
        journal: PathBuf::from("journal/pangyo-20261122T081400Z.jsonl"),
    }
}

pub fn sref(service: &str, phase: Phase, index: usize) -> StepRef {
    StepRef {
        service: ServiceId::new(service),
        phase,
        index,
    }
}

pub fn finished(outcome: StepOutcome, exit: i32, attempt: u32, ms: u64) -> HostStatus {
    HostStatus::Finished {
        outcome,
        exit_code: Some(exit),
        attempt,
        duration: Duration::from_millis(ms),
    }
}

fn hosts(pairs: &[(&str, HostStatus)]) -> IndexMap<HostId, HostStatus> {
    pairs
        .iter()
        .map(|(h, s)| (HostId::new(*h), s.clone()))
        .collect()
}

/// Mid-incident: auth restored, messaging waiting on approval of its first restore step
/// (after one host's check failed), media checking, mail down.
pub fn views(rb: &Runbook) -> IndexMap<ServiceId, ServiceView> {
    let mut m: IndexMap<ServiceId, ServiceView> = rb
        .services
        .iter()
        .map(|s| (s.id.clone(), ServiceView::default()))
        .collect();
    let auth = m.get_mut("auth").expect("auth");
    auth.state = ServiceState::Restored;
    auth.restore_attempts = 1;
    auth.steps.insert(
        sref("auth", Phase::Check, 0),
        hosts(&[("auth-1", finished(StepOutcome::Failed, 7, 1, 310))]),
    );
    auth.steps.insert(
        sref("auth", Phase::Restore, 0),
        hosts(&[("auth-1", finished(StepOutcome::Ok, 0, 1, 1840))]),
    );
    auth.steps.insert(
        sref("auth", Phase::Verify, 0),
        hosts(&[("auth-1", finished(StepOutcome::Ok, 0, 1, 120))]),
    );
    let step = sref("talk-messaging", Phase::Restore, 0);
    let talk = m.get_mut("talk-messaging").expect("talk");
    talk.state = ServiceState::Partial;
    talk.reason = Some("check 'health' failed on msg-gw-2".into());
    talk.steps.insert(
        sref("talk-messaging", Phase::Check, 0),
        hosts(&[
            ("msg-gw-1", finished(StepOutcome::Ok, 0, 1, 95)),
            ("msg-gw-2", finished(StepOutcome::Timeout, -1, 1, 5000)),
        ]),
    );
    talk.current = Some(step.clone());
    talk.waiting = Some(Waiting::Approval {
        step,
        hosts: vec![HostId::new("msg-gw-1"), HostId::new("msg-gw-2")],
        commands: vec![
            (
                HostId::new("msg-gw-1"),
                "sudo systemctl start msg-gateway --site gasan".into(),
            ),
            (
                HostId::new("msg-gw-2"),
                "sudo systemctl start msg-gateway --site gasan".into(),
            ),
        ],
        reason: None,
    });
    let media = m.get_mut("media").expect("media");
    media.state = ServiceState::Checking;
    media.steps.insert(
        sref("media", Phase::Check, 0),
        hosts(&[("media-1", HostStatus::Running { attempt: 1 })]),
    );
    let mail = m.get_mut("mail").expect("mail");
    mail.state = ServiceState::Down;
    mail.reason = Some("check 'health' failed on mail-1".into());
    m
}

/// When the fixture's run began: 40 minutes before its views.
pub fn began() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-22T07:34:00Z")
        .expect("a valid time")
        .with_timezone(&chrono::Utc)
}

/// The journal behind the fixture's views, folded into the App's picture (not its timeline,
/// which tests fill themselves): the run began at [`began`]; 40 minutes in, auth was found
/// down and restored, talk-messaging partial, mail down; media is still being checked.
pub fn journal_of_views(app: &mut App, mode: Mode) {
    use crate::journal::Event;
    let at = began();
    let later = at + chrono::TimeDelta::minutes(40);
    let mut seq = 0;
    let mut push = |app: &mut App, ts, event: Event| {
        seq += 1;
        app.fold.push_event(seq, ts, &event);
    };
    push(
        app,
        at,
        Event::RunStarted {
            executor: None,
            runbook: "pangyo".into(),
            runbook_sha256: String::new(),
            operator: "alice".into(),
            vars: IndexMap::new(),
            version: "0".into(),
            mode,
            services: Vec::new(),
            about: Box::default(),
            incident_start: None,
            scenario: None,
        },
    );
    let state = |service: &str, from, to| Event::ServiceState {
        service: ServiceId::new(service),
        from,
        to,
        reason: None,
    };
    push(
        app,
        later,
        state("auth", ServiceState::Checking, ServiceState::Down),
    );
    push(
        app,
        later,
        state("auth", ServiceState::Verifying, ServiceState::Restored),
    );
    push(
        app,
        later,
        state(
            "talk-messaging",
            ServiceState::Checking,
            ServiceState::Partial,
        ),
    );
    push(
        app,
        later,
        state("media", ServiceState::Unknown, ServiceState::Checking),
    );
    push(
        app,
        later,
        state("mail", ServiceState::Checking, ServiceState::Down),
    );
}

/// An App over the fixture runbook with the mid-incident views, 40 minutes in.
pub fn app(mode: Mode) -> App {
    let rb = Arc::new(runbook());
    let views = views(&rb);
    let mut app = App::new(rb, info(mode));
    journal_of_views(&mut app, mode);
    app.tick(Duration::from_secs(40 * 60));
    app.sync_services(&views);
    app
}

/// Draw the app on a test terminal and return its text (NO_COLOR theme).
pub fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    let theme = Theme::plain();
    let km = crate::tui::keymap::Keymap::default();
    // Twice: the first frame teaches the App its pane sizes (as in the real loop).
    for _ in 0..2 {
        let mut hits = None;
        terminal
            .draw(|f| hits = Some(crate::tui::view::draw(app, &theme, &km, f)))
            .expect("draw");
        if let Some(h) = hits {
            app.set_hits(h);
        }
    }
    terminal.backend().to_string()
}

/// `n` services over three tiers, all unknown, for scrolling tests.
pub fn many(n: usize) -> App {
    let mut rb = runbook();
    rb.services = (0..n)
        .map(|i| {
            service(
                &format!("svc-{i:03}"),
                &format!("Service {i}"),
                u32::try_from(i % 3).unwrap_or(0) + 1,
                Some(30),
                &["auth-1"],
            )
        })
        .collect();
    App::new(Arc::new(rb), info(Mode::Incident))
}
