//! `[[scenario]]`, `[[guard]]` and `drill_every` → [`Drills`]. Guards go through the same
//! template, quoting, regex and duration checks as any check; nothing here is a second copy.
//!
//! Decisions beyond SPEC:
//! - A scenario's `name` defaults to its id; `inject` must name at least one service.
//! - Every service a scenario injects must have a `[[service.inject]]` step: a drill that
//!   cannot break a service cannot time its restoration.
//! - A guard must say `hosts` (no service lends it any) and may not use `{{service}}`.
//! - Guard names are unique: the journal names a tripped guard by it.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use indexmap::IndexMap;

use super::{HelpIfNone as _, MIN_DRILL_EVERY, MIN_TIMEOUT, Scope, Validator, is_id, line_of};
use crate::runbook::diag::{Diag, closest};
use crate::runbook::drill::{DEFAULT_GUARD_EVERY, Drills, Guard, MIN_GUARD_EVERY, Scenario};
use crate::runbook::model::{Service, ServiceId, Step, StepAction};
use crate::runbook::plan::Plan;
use crate::runbook::raw::{RawGuard, RawScenario, S};

/// What the drill checks need from the rest of the runbook.
pub(super) struct DrillInput {
    pub every: Option<S<String>>,
    pub service_every: Vec<(ServiceId, S<String>)>,
    pub scenarios: Vec<S<RawScenario>>,
    /// Ids of `[[service]]` tables that could not be read (already reported).
    pub broken: BTreeSet<String>,
}

impl Validator<'_> {
    pub(super) fn drills(
        &mut self,
        input: DrillInput,
        guards: Vec<Guard>,
        services: &[Service],
        plan: &Plan,
    ) -> Drills {
        let every = input.every.as_ref().map(|e| self.drill_every(e));
        let service_every = input
            .service_every
            .iter()
            .map(|(id, e)| (id.clone(), self.drill_every(e)))
            .collect();
        let order: HashMap<&ServiceId, usize> =
            plan.order().enumerate().map(|(i, id)| (id, i)).collect();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let scenarios = input
            .scenarios
            .into_iter()
            .filter_map(|s| {
                let s = s.into_inner();
                let id = s.id.get_ref().clone();
                if !is_id(&id) {
                    self.error(
                        Diag::new(
                            s.id.span(),
                            format!("scenario id '{id}' has characters ids may not have"),
                        )
                        .help("use letters, digits, '.', '_' and '-'"),
                    );
                }
                if let Some(&first) = seen.get(&id) {
                    let line = line_of(self.src, first);
                    self.error(
                        Diag::new(s.id.span(), format!("duplicate scenario id '{id}'")).help(
                            format!(
                                "it is first defined on line {line}; give each scenario its own id"
                            ),
                        ),
                    );
                    return None;
                }
                seen.insert(id.clone(), s.id.span().start);
                Some(self.scenario(s, services, &order, &input.broken))
            })
            .collect();
        Drills {
            every,
            service_every,
            scenarios,
            guards,
        }
    }

    pub(super) fn guards(&mut self, raw: Vec<S<RawGuard>>, scope: &Scope<'_>) -> Vec<Guard> {
        let mut names: HashMap<String, usize> = HashMap::new();
        raw.into_iter()
            .filter_map(|g| {
                let g = g.into_inner();
                let name = g.name.get_ref().clone();
                if name.trim().is_empty() {
                    self.error(Diag::new(g.name.span(), "a [[guard]] has an empty name"));
                } else if let Some(&first) = names.get(&name) {
                    let line = line_of(self.src, first);
                    self.error(
                        Diag::new(g.name.span(), format!("duplicate guard name '{name}'")).help(
                            format!("the first is on line {line}; the journal names a tripped guard by its name"),
                        ),
                    );
                } else {
                    names.insert(name, g.name.span().start);
                }
                self.guard(&g, scope)
            })
            .collect()
    }

    fn drill_every(&mut self, value: &S<String>) -> Duration {
        self.duration_at_least(Some(value), MIN_DRILL_EVERY, MIN_DRILL_EVERY, "drill_every")
    }

    fn scenario(
        &mut self,
        s: RawScenario,
        services: &[Service],
        order: &HashMap<&ServiceId, usize>,
        broken: &BTreeSet<String>,
    ) -> Scenario {
        let id = s.id.get_ref().clone();
        let by_id: IndexMap<&str, &Service> = services.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut chosen: Vec<ServiceId> = Vec::new();
        match &s.inject {
            None => self.error(
                Diag::new(s.id.span(), format!("scenario '{id}' has no 'inject'")).help(
                    "add inject = [\"<service id>\", \"@tier:N\"]: the services the drill breaks",
                ),
            ),
            Some(list) if list.get_ref().is_empty() => self.error(
                Diag::new(list.span(), format!("scenario '{id}' injects nothing"))
                    .help("name at least one service id, or '@tier:N' for every service of a tier"),
            ),
            Some(_) => {}
        }
        for item in s.inject.iter().flat_map(S::get_ref) {
            let name = item.get_ref();
            let found: Vec<&Service> = if let Some(tier) = name.strip_prefix("@tier:") {
                self.tier_members(tier, item, services)
            } else if let Some(svc) = by_id.get(name.as_str()) {
                vec![*svc]
            } else {
                if !broken.contains(name) {
                    self.error(
                        Diag::new(
                            item.span(),
                            format!("scenario '{id}' injects unknown service '{name}'"),
                        )
                        .suggest(closest(name, by_id.keys().copied()))
                        .help_if_none(
                            "name a [[service]] id, or '@tier:N' for every service of a tier",
                        ),
                    );
                }
                Vec::new()
            };
            for svc in found {
                if svc.injects.is_empty() {
                    self.error(
                        Diag::new(
                            item.span(),
                            format!(
                                "scenario '{id}' injects '{}', which has no [[service.inject]] step",
                                svc.id
                            ),
                        )
                        .help(format!(
                            "add a [[service.inject]] to '{}' that breaks it, or leave it out of the scenario",
                            svc.id
                        )),
                    );
                } else if !chosen.contains(&svc.id) {
                    chosen.push(svc.id.clone());
                }
            }
        }
        chosen.sort_by_key(|id| order.get(id).copied().unwrap_or(usize::MAX));
        Scenario {
            name: s.name.map_or_else(|| id.clone(), S::into_inner),
            description: s.description.map(S::into_inner).unwrap_or_default(),
            id,
            services: chosen,
        }
    }

    /// The services of `@tier:N`, or an error naming the tiers there are.
    fn tier_members<'s>(
        &mut self,
        tier: &str,
        item: &S<String>,
        services: &'s [Service],
    ) -> Vec<&'s Service> {
        let tiers: BTreeSet<u32> = services.iter().map(|s| s.tier).collect();
        let listed = tiers
            .iter()
            .map(|t| format!("'@tier:{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let Ok(n) = tier.trim().parse::<u32>() else {
            self.error(
                Diag::new(
                    item.span(),
                    format!("bad tier '{}' in inject", item.get_ref()),
                )
                .help(format!(
                    "write a tier as '@tier:N' with N a whole number; this runbook has {listed}"
                )),
            );
            return Vec::new();
        };
        let members: Vec<&Service> = services.iter().filter(|s| s.tier == n).collect();
        if members.is_empty() {
            let suggestion = tiers
                .iter()
                .min_by_key(|t| t.abs_diff(n))
                .map(|t| format!("@tier:{t}"));
            self.error(
                Diag::new(item.span(), format!("no service is in tier '{n}'"))
                    .suggest(suggestion.as_deref())
                    .help_if_none("this runbook has no tiers to inject"),
            );
        }
        members
    }

    fn guard(&mut self, g: &RawGuard, scope: &Scope<'_>) -> Option<Guard> {
        let name = g.name.get_ref().clone();
        let every = self.duration_at_least(
            g.every.as_ref(),
            DEFAULT_GUARD_EVERY,
            MIN_GUARD_EVERY,
            "every",
        );
        let timeout = self.duration_at_least(
            g.timeout.as_ref(),
            scope.defaults.timeout,
            MIN_TIMEOUT,
            "timeout",
        );
        let expect_exit = self.expect_exit(g.expect_exit.as_ref());
        let expect_output = g.expect_output.as_ref().and_then(|re| self.regex(re));
        let hosts = match &g.hosts {
            Some(list) if !list.is_empty() => self.host_list(list, scope),
            _ => {
                self.error(
                    Diag::new(g.name.span(), format!("guard '{name}' has no hosts"))
                        .help("give it hosts = [\"<host id>\"] to run on, such as a local host for a probe from the operator's machine"),
                );
                Vec::new()
            }
        };
        let Some(run) = &g.run else {
            self.error(
                Diag::new(g.name.span(), format!("guard '{name}' has no 'run'"))
                    .help("add run = \"<command>\": a guard is a command that succeeds while production is fine"),
            );
            return None;
        };
        // A guard belongs to no service: `{{service}}` would be empty.
        let vars: BTreeSet<String> = scope
            .vars
            .iter()
            .filter(|v| v.as_str() != "service")
            .cloned()
            .collect();
        let guard_scope = Scope {
            vars: &vars,
            ..*scope
        };
        let template = self.template(run, &guard_scope);
        self.quoting(run, &template);
        Some(Guard {
            step: Step {
                name,
                action: StepAction::Run(template),
                hosts,
                timeout,
                retries: 0,
                retry_delay: scope.defaults.retry_delay,
                expect_exit,
                expect_output,
                confirm: crate::runbook::model::Confirm::No,
                policy: crate::runbook::model::StepPolicy::default(),
                feature: None,
                fleet: crate::runbook::fleet::Fleet::default(),
            },
            every,
        })
    }
}
