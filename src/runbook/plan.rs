//! The restoration plan: tiers as barriers, and inside each tier waves of services whose
//! dependencies are all in earlier waves or lower tiers. Pure; built from a validated runbook.

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
    /// Validation has already rejected cycles and dependencies on later tiers.
    pub fn build(runbook: &Runbook) -> Plan {
        let _ = runbook;
        todo!("plan")
    }
}
