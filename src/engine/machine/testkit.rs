//! Test-only helpers: small runbooks built in code and a driver that answers effects.
//! No IO; nothing here is compiled outside tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use crate::engine::effect::Effect;
use crate::engine::event::{Input, Launch};
use crate::engine::machine::{Engine, EngineOptions};
use crate::engine::state::{Phase, ServiceState, StepOutcome, StepRef};
use crate::runbook::model::{
    Defaults, Host, HostId, Runbook, Service, ServiceId, Step, StepAction, Template, Transport,
};

pub fn sid(id: &str) -> ServiceId {
    ServiceId::new(id)
}

/// A `run` step; hosts default to the service's when it is added.
pub fn run(name: &str) -> Step {
    Step {
        name: name.to_string(),
        action: StepAction::Run(Template::parse(&format!(
            "{name} {{{{service}}}} {{{{host}}}}"
        ))),
        hosts: Vec::new(),
        timeout: Duration::from_secs(5),
        retries: 0,
        retry_delay: Duration::from_secs(2),
        expect_exit: 0,
        expect_output: None,
        confirm: crate::runbook::model::Confirm::No,
        feature: None,
        fleet: crate::runbook::fleet::Fleet::default(),
        policy: crate::runbook::model::StepPolicy::default(),
    }
}

pub fn manual(name: &str, text: &str) -> Step {
    Step {
        action: StepAction::Manual(Template::parse(text)),
        ..run(name)
    }
}

pub trait StepExt {
    fn retries(self, n: u32) -> Step;
    fn confirm(self) -> Step;
    fn command(self, text: &str) -> Step;
}

impl StepExt for Step {
    fn retries(mut self, n: u32) -> Step {
        self.retries = n;
        self
    }
    fn confirm(mut self) -> Step {
        self.confirm = crate::runbook::model::Confirm::One;
        self
    }
    fn command(mut self, text: &str) -> Step {
        self.action = StepAction::Run(Template::parse(text));
        self
    }
}

/// A service with one check named `probe` and no restore steps.
pub struct Svc(pub Service);

pub fn svc(id: &str, tier: u32, hosts: &[&str]) -> Svc {
    Svc(Service {
        id: sid(id),
        name: id.to_string(),
        tier,
        rto: None,
        hosts: hosts.iter().map(|h| HostId::new(*h)).collect(),
        depends_on: Vec::new(),
        checks: vec![run("probe")],
        restores: Vec::new(),
        injects: Vec::new(),
        min_healthy: None,
        on_fail: crate::runbook::model::OnFail::Stop,
    })
}

impl Svc {
    pub fn deps(mut self, deps: &[&str]) -> Svc {
        self.0.depends_on = deps.iter().map(|d| sid(d)).collect();
        self
    }
    pub fn checks(mut self, steps: Vec<Step>) -> Svc {
        self.0.checks = steps;
        self
    }
    pub fn restore(mut self, step: Step) -> Svc {
        self.0.restores.push(step);
        self
    }
    pub fn inject(mut self, step: Step) -> Svc {
        self.0.injects.push(step);
        self
    }
}

pub fn runbook(services: Vec<Svc>) -> Arc<Runbook> {
    runbook_with_vars(services, &[], &[])
}

pub fn runbook_with_vars(
    services: Vec<Svc>,
    vars: &[(&str, &str)],
    secret: &[&str],
) -> Arc<Runbook> {
    let mut hosts = IndexMap::new();
    let services: Vec<Service> = services
        .into_iter()
        .map(|Svc(mut s)| {
            for step in s
                .checks
                .iter_mut()
                .chain(&mut s.restores)
                .chain(&mut s.injects)
            {
                if step.hosts.is_empty() {
                    step.hosts.clone_from(&s.hosts);
                }
            }
            for h in &s.hosts {
                hosts.insert(
                    h.clone(),
                    Host {
                        id: h.clone(),
                        transport: Transport::Local,
                        address: h.0.clone(),
                        port: None,
                        user: None,
                        identity: None,
                        jump: None,
                        tags: Vec::new(),
                    },
                );
            }
            s
        })
        .collect();
    Arc::new(Runbook {
        notice: crate::runbook::model::Notice::default(),
        notify: Vec::new(),
        name: "test".to_string(),
        description: String::new(),
        path: PathBuf::from("test.toml"),
        sha256: String::new(),
        defaults: Defaults::default(),
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        secret_vars: secret.iter().map(|s| (*s).to_string()).collect(),
        hosts,
        groups: IndexMap::new(),
        services,
        drills: crate::runbook::drill::Drills::default(),
        sites: crate::runbook::sites::Sites::default(),
        operators: crate::runbook::model::Operators::default(),
        witnesses: Vec::new(),
    })
}

pub fn engine(services: Vec<Svc>) -> Engine {
    Engine::new(runbook(services), EngineOptions::default())
}

pub fn launches(effects: &[Effect]) -> Vec<Launch> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Run { launch, .. } => Some(launch.clone()),
            _ => None,
        })
        .collect()
}

/// `(service, to)` of every state change, in order.
pub fn changes(effects: &[Effect]) -> Vec<(String, ServiceState)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::State { service, to, .. } => Some((service.0.clone(), *to)),
            _ => None,
        })
        .collect()
}

pub fn finished_count(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Finished { .. }))
        .count()
}

/// The result a driver reports for a process that exited with `code`.
pub fn exited(launch: &Launch, outcome: StepOutcome, code: i32) -> Input {
    Input::StepFinished {
        attempt: launch.attempt_id,
        outcome,
        exit_code: Some(code),
        duration: Duration::from_millis(10),
        error: None,
        output_matched: None,
        refused: false,
    }
}

/// What a driver reports when the host refused before the command ran (a closed port, a
/// changed host key).
pub fn refused(launch: &Launch) -> Input {
    Input::StepFinished {
        attempt: launch.attempt_id,
        outcome: StepOutcome::Error,
        exit_code: None,
        duration: Duration::from_millis(10),
        error: Some(format!("host '{}': cannot connect", launch.host)),
        output_matched: None,
        refused: true,
    }
}

pub fn ok(launch: &Launch) -> Input {
    exited(launch, StepOutcome::Ok, 0)
}

pub fn fail(launch: &Launch) -> Input {
    exited(launch, StepOutcome::Failed, 1)
}

pub fn is(launch: &Launch, service: &str, phase: Phase) -> bool {
    launch.step.service.0 == service && launch.step.phase == phase
}

pub fn step_ref(service: &str, phase: Phase, index: usize) -> StepRef {
    StepRef {
        service: sid(service),
        phase,
        index,
    }
}

/// Answer every `Run` (by `pass`) and `Sleep` until none is left; returns every effect seen.
/// Questions to operators are left unanswered. Bounded so a bug cannot hang the test.
pub fn drive(
    engine: &mut Engine,
    first: Vec<Effect>,
    pass: impl Fn(&Launch) -> bool,
) -> Vec<Effect> {
    let mut seen = Vec::new();
    let mut queue: std::collections::VecDeque<Effect> = first.into();
    for _ in 0..10_000 {
        let Some(effect) = queue.pop_front() else {
            return seen;
        };
        let next = match &effect {
            Effect::Run { launch, .. } => {
                let input = if pass(launch) {
                    ok(launch)
                } else {
                    fail(launch)
                };
                engine.handle(input)
            }
            Effect::Sleep { timer, .. } => engine.handle(Input::Wake(*timer)),
            _ => Vec::new(),
        };
        seen.push(effect);
        queue.extend(next);
    }
    panic!("driver loop did not settle");
}

pub fn state(engine: &Engine, id: &str) -> ServiceState {
    engine
        .service(&sid(id))
        .map(|v| v.state)
        .unwrap_or_default()
}

pub fn reason(engine: &Engine, id: &str) -> String {
    engine
        .service(&sid(id))
        .and_then(|v| v.reason.clone())
        .unwrap_or_default()
}
