//! The drill parts of a validated runbook: scenarios (what a drill breaks), guards (stop
//! conditions checked before and during a drill) and how often each service should be drilled.
//! Built only by `validate`; runs nothing.

use std::time::Duration;

use indexmap::IndexMap;

use super::model::{Expanded, HostId, Runbook, ServiceId, Step};

/// How often a guard is checked during a drill when it does not say.
pub const DEFAULT_GUARD_EVERY: Duration = Duration::from_secs(10);
/// The shortest `every` a guard may have: more often would crowd out the drill's own steps.
pub const MIN_GUARD_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default)]
pub struct Drills {
    /// `[runbook] drill_every`: how old the last drill of any service may be.
    pub every: Option<Duration>,
    /// `drill_every` of the services that set their own, overriding [`Drills::every`].
    pub service_every: IndexMap<ServiceId, Duration>,
    /// In file order.
    pub scenarios: Vec<Scenario>,
    /// In file order.
    pub guards: Vec<Guard>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub id: String,
    /// Defaults to the id.
    pub name: String,
    pub description: String,
    /// Every service the scenario injects, `@tier:N` expanded, duplicates removed, in plan
    /// order (tier by tier, wave by wave): the order a drill injects and restores them in.
    pub services: Vec<ServiceId>,
}

#[derive(Debug, Clone)]
pub struct Guard {
    /// A `run` step on the guard's hosts, with the check's `timeout`, `expect_exit` and
    /// `expect_output`; never retried (a guard that fails has tripped).
    pub step: Step,
    pub every: Duration,
}

impl Drills {
    pub fn scenario(&self, id: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.id == id)
    }

    /// How often `service` should be drilled: its own `drill_every`, else the runbook's.
    pub fn every_for(&self, service: &ServiceId) -> Option<Duration> {
        self.service_every.get(service).copied().or(self.every)
    }
}

impl Runbook {
    /// A guard's command expanded for one host. A guard belongs to no service, so validation
    /// refuses `{{service}}` in it; every other placeholder is bound as for a check.
    pub fn expand_guard(&self, guard: &Guard, host: &HostId) -> Expanded {
        self.expand(&guard.step.action, &ServiceId::new(String::new()), host)
    }
}
