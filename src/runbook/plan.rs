//! The restoration plan: tiers as barriers, and inside each tier waves of services whose
//! dependencies are all in earlier waves or lower tiers. Pure; built from a validated runbook.
//! Rendering (text, Mermaid, DOT) lives in `plan/render.rs`.

mod render;

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::runbook::model::{Runbook, ServiceId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Ascending by tier.
    pub tiers: Vec<TierPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierPlan {
    pub tier: u32,
    /// Services that may restore together; every dependency of a wave's service is in an
    /// earlier wave of this tier or in a lower tier.
    pub waves: Vec<Vec<ServiceId>>,
}

impl Plan {
    /// Validation has already rejected cycles and dependencies on later tiers. Should either
    /// slip through anyway, the services involved go to a last wave of their tier rather than
    /// being lost or panicking.
    pub fn build(runbook: &Runbook) -> Plan {
        let services = &runbook.services;
        let index: HashMap<&str, usize> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        // dependents[d] = services that wait for d; only known ids count.
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); services.len()];
        let mut waiting: Vec<usize> = vec![0; services.len()];
        for (i, s) in services.iter().enumerate() {
            for d in &s.depends_on {
                if let Some(&j) = index.get(d.as_str()) {
                    dependents[j].push(i);
                    waiting[i] += 1;
                }
            }
        }
        // Kahn's algorithm: a service's wave is one past the latest wave of its same-tier
        // dependencies; dependencies in lower tiers are already behind the tier barrier.
        let mut wave: Vec<Option<usize>> = vec![None; services.len()];
        let mut ready: VecDeque<usize> = (0..services.len()).filter(|&i| waiting[i] == 0).collect();
        let mut level = vec![0usize; services.len()];
        while let Some(i) = ready.pop_front() {
            wave[i] = Some(level[i]);
            for &k in &dependents[i] {
                if services[k].tier == services[i].tier {
                    level[k] = level[k].max(level[i] + 1);
                }
                waiting[k] -= 1;
                if waiting[k] == 0 {
                    ready.push_back(k);
                }
            }
        }
        let mut tiers: BTreeMap<u32, Vec<Vec<ServiceId>>> = BTreeMap::new();
        let mut stuck: BTreeMap<u32, Vec<ServiceId>> = BTreeMap::new();
        for (i, s) in services.iter().enumerate() {
            let waves = tiers.entry(s.tier).or_default();
            match wave[i] {
                Some(w) => {
                    if waves.len() <= w {
                        waves.resize_with(w + 1, Vec::new);
                    }
                    waves[w].push(s.id.clone());
                }
                None => stuck.entry(s.tier).or_default().push(s.id.clone()),
            }
        }
        for (tier, ids) in stuck {
            tiers.entry(tier).or_default().push(ids);
        }
        Plan {
            tiers: tiers
                .into_iter()
                .map(|(tier, waves)| TierPlan {
                    tier,
                    waves: waves.into_iter().filter(|w| !w.is_empty()).collect(),
                })
                .collect(),
        }
    }

    /// Every service in plan order: tier by tier, wave by wave.
    pub fn order(&self) -> impl Iterator<Item = &ServiceId> {
        self.tiers.iter().flat_map(|t| t.waves.iter().flatten())
    }

    /// (tier position, wave position) of each service, for ordering checks.
    pub fn positions(&self) -> HashMap<&ServiceId, (usize, usize)> {
        let mut out = HashMap::new();
        for (t, tier) in self.tiers.iter().enumerate() {
            for (w, wave) in tier.waves.iter().enumerate() {
                for id in wave {
                    out.insert(id, (t, w));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
