//! Scenario drill journals scripted with `JournalWriter` and a manual clock: what the
//! scorecard and the history report are computed from; and what a forger does to one
//! (edit lines, recompute the hash chain) and what an auditor does (keys, `bringup seal`).

use std::fmt::Write as _;
use std::path::Path;

use bringup::engine::state::{Mode, Phase, ServiceState, StepOutcome};
use bringup::journal::{
    DrillOutcome, DrillPhase, Event, JournalWriter, ManualClock, RunbookAbout, ServiceInfo,
};
use bringup::runbook::model::{HostId, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};

pub fn time(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("literal")
        .with_timezone(&Utc)
}

/// A service as `run_started` records it.
pub fn svc(id: &str, tier: u32, rto_secs: u64, deps: &[&str]) -> ServiceInfo {
    ServiceInfo {
        id: ServiceId::new(id),
        name: id.to_uppercase(),
        tier,
        rto_ms: Some(rto_secs * 1000),
        depends_on: deps.iter().map(|d| ServiceId::new(*d)).collect(),
        checks: Vec::new(),
    }
}

pub struct Script {
    w: JournalWriter,
    clock: ManualClock,
    t0: DateTime<Utc>,
}

impl Script {
    /// A journal at `path` whose `run_started` is at `t0`; `scenario` makes it a scenario
    /// drill, `None` an incident.
    pub fn start(
        path: &Path,
        t0: DateTime<Utc>,
        runbook: &str,
        scenario: Option<&str>,
        services: Vec<ServiceInfo>,
        drill_every: &[(&str, u64)],
    ) -> Script {
        let clock = ManualClock::new(t0);
        let w =
            JournalWriter::create_with_clock(path, &[], Box::new(clock.clone())).expect("create");
        let mut s = Script { w, clock, t0 };
        let about = RunbookAbout {
            drill_every_ms: drill_every
                .iter()
                .map(|(id, days)| (ServiceId::new(*id), days * 86_400_000))
                .collect(),
            ..RunbookAbout::default()
        };
        s.at(
            0.0,
            Event::RunStarted {
                executor: None,
                about: Box::new(about),
                runbook: runbook.into(),
                runbook_sha256: "ab".repeat(32),
                operator: "park".into(),
                vars: indexmap::IndexMap::new(),
                version: "0.1.0".into(),
                mode: if scenario.is_some() {
                    Mode::Drill
                } else {
                    Mode::Incident
                },
                services,
                incident_start: None,
                scenario: scenario.map(str::to_string),
            },
        );
        s
    }

    /// Record `event` at `secs` seconds after the start.
    #[allow(clippy::needless_pass_by_value)] // callers build the event in place
    pub fn at(&mut self, secs: f64, event: Event) {
        #[allow(clippy::cast_possible_truncation)]
        self.clock
            .set(self.t0 + TimeDelta::milliseconds((secs * 1000.0) as i64));
        self.w.append(&event).expect("append");
    }

    pub fn state(&mut self, secs: f64, id: &str, from: ServiceState, to: ServiceState) {
        self.at(
            secs,
            Event::ServiceState {
                service: ServiceId::new(id),
                from,
                to,
                reason: None,
            },
        );
    }

    pub fn phase(&mut self, secs: f64, scenario: &str, phase: DrillPhase) {
        self.at(
            secs,
            Event::DrillPhase {
                scenario: scenario.into(),
                phase,
                outcome: None,
                reason: None,
            },
        );
    }

    pub fn finished(
        &mut self,
        secs: f64,
        scenario: &str,
        outcome: DrillOutcome,
        reason: Option<&str>,
    ) {
        self.at(
            secs,
            Event::DrillPhase {
                scenario: scenario.into(),
                phase: DrillPhase::Finished,
                outcome: Some(outcome),
                reason: reason.map(str::to_string),
            },
        );
    }

    /// An inject step of `id` on `host`: started at `secs`, ok a second later.
    pub fn inject(&mut self, secs: f64, id: &str, host: &str) {
        let step = format!("break {id}");
        self.at(
            secs,
            Event::StepStarted {
                service: ServiceId::new(id),
                phase: Phase::Inject,
                step: step.clone(),
                host: HostId::new(host),
                attempt: 1,
                command: format!("systemctl stop {id}"),
            },
        );
        self.at(
            secs + 1.0,
            Event::StepFinished {
                service: ServiceId::new(id),
                phase: Phase::Inject,
                step,
                host: HostId::new(host),
                attempt: 1,
                outcome: StepOutcome::Ok,
                exit_code: Some(0),
                duration_ms: 1000,
                error: None,
            },
        );
    }

    /// Checked healthy at `secs`.
    pub fn healthy(&mut self, secs: f64, id: &str) {
        self.state(secs, id, ServiceState::Unknown, ServiceState::Checking);
        self.state(secs, id, ServiceState::Checking, ServiceState::Healthy);
    }

    /// Found down at `down`, restoring from `began`, restored at `up`.
    pub fn restore(&mut self, down: f64, began: f64, up: f64, id: &str) {
        self.state(down, id, ServiceState::Checking, ServiceState::Down);
        self.state(began, id, ServiceState::Down, ServiceState::Restoring);
        self.state(up, id, ServiceState::Restoring, ServiceState::Restored);
    }

    pub fn run_finished(&mut self, secs: f64) {
        self.at(
            secs,
            Event::RunFinished {
                outcome: "restored".into(),
                services: indexmap::IndexMap::new(),
                left_down: None,
            },
        );
    }
}

/// A scenario drill of runbook 'pangyo' at `t0` over dns (tier 1, RTO 300 s), db (tier 2,
/// RTO 600 s, needs dns) and mail (tier 2, RTO 600 s, never injected); `drill_every` 30 days
/// for dns and db, 90 for mail. Each `(service, time to restore)` is injected at 10 s, found
/// down at 20 s and restored that long after its inject; the drill passes.
pub fn drill_of(path: &Path, t0: DateTime<Utc>, restores: &[(&str, f64)]) {
    let sc = "dc-loss";
    let mut s = Script::start(
        path,
        t0,
        "pangyo",
        Some(sc),
        vec![
            svc("dns", 1, 300, &[]),
            svc("db", 2, 600, &["dns"]),
            svc("mail", 2, 600, &[]),
        ],
        &[("dns", 30), ("db", 30), ("mail", 90)],
    );
    s.phase(1.0, sc, DrillPhase::Baseline);
    for id in ["dns", "db", "mail"] {
        s.healthy(2.0, id);
    }
    s.phase(10.0, sc, DrillPhase::Inject);
    for (id, _) in restores {
        s.inject(10.0, id, "h1");
        s.state(12.0, id, ServiceState::Healthy, ServiceState::Checking);
    }
    let mut end: f64 = 20.0;
    for (id, ttr) in restores {
        s.restore(20.0, 21.0, 10.0 + ttr, id);
        end = end.max(10.0 + ttr);
    }
    s.finished(end + 1.0, sc, DrillOutcome::Passed, None);
    s.run_finished(end + 2.0);
}

/// Rewrite every line of `journal` with `edit` (given the line without its `hash` member),
/// then recompute `prev` and `hash` by SPEC's rule, as a forger would: the chain alone
/// verifies again.
pub fn rechain(journal: &Path, edit: impl Fn(&str) -> String) {
    use sha2::{Digest, Sha256};
    let text = std::fs::read_to_string(journal).expect("journal");
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let old_prev = v["prev"].as_str().expect("prev").to_string();
        let cut = line.rfind(",\"hash\":").expect("hash member");
        let body = edit(&line[..cut]).replace(
            &format!("\"prev\":\"{old_prev}\""),
            &format!("\"prev\":\"{prev}\""),
        );
        let hash = hex::encode(Sha256::digest(format!("{body}}}").as_bytes()));
        let _ = writeln!(out, "{body},\"hash\":\"{hash}\"}}");
        prev = hash;
    }
    std::fs::write(journal, out).expect("write the rechained journal");
}

/// A passphrase-less ed25519 key at `path` made by `ssh-keygen`; its public line.
pub fn new_key(path: &Path) -> String {
    super::sshd::keygen_as(path, "ed25519", "report-test", "")
}

/// `bringup seal JOURNAL -i KEY`, which must succeed.
pub fn seal(journal: &Path, key: &Path) {
    let out = assert_cmd::Command::cargo_bin("bringup")
        .expect("the bringup binary is built")
        .env_remove("SSH_AUTH_SOCK")
        .arg("seal")
        .arg(journal)
        .arg("-i")
        .arg(key)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "seal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
