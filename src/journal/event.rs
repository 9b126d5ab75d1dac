//! The journal's event kinds (SPEC "Journal"): the body of each JSON line, between the
//! envelope's `seq`/`ts` and `prev`/`hash`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::engine::state::{Decision, ManualOutcome, Mode, Phase, ServiceState, StepOutcome};
use crate::runbook::model::{HostId, ServiceId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        runbook: String,
        runbook_sha256: String,
        operator: String,
        /// Secret values already masked as `***`.
        vars: IndexMap<String, String>,
        version: String,
        mode: Mode,
        /// What reports need of the runbook, so a journal alone makes every export.
        #[serde(default)]
        services: Vec<ServiceInfo>,
    },
    ServiceState {
        service: ServiceId,
        from: ServiceState,
        to: ServiceState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    StepStarted {
        service: ServiceId,
        phase: Phase,
        step: String,
        host: HostId,
        attempt: u32,
        /// As shown: secrets masked.
        command: String,
    },
    StepOutput {
        service: ServiceId,
        step: String,
        host: HostId,
        text: String,
    },
    StepFinished {
        service: ServiceId,
        phase: Phase,
        step: String,
        host: HostId,
        attempt: u32,
        outcome: StepOutcome,
        exit_code: Option<i32>,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Approval {
        service: ServiceId,
        step: String,
        decision: Decision,
        operator: String,
    },
    Manual {
        service: ServiceId,
        step: String,
        outcome: ManualOutcome,
        operator: String,
    },
    Note {
        operator: String,
        text: String,
    },
    /// An operator acted on a service out of the plan (start by hand, skip, inject).
    OperatorAction {
        operator: String,
        service: ServiceId,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    HostKeyAccepted {
        host: HostId,
        fingerprint: String,
        operator: String,
    },
    Resumed {
        from_seq: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        forced: bool,
    },
    RunFinished {
        outcome: String,
        services: IndexMap<ServiceId, ServiceState>,
    },
}

/// A service as the reports need it, recorded in `run_started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub id: ServiceId,
    pub name: String,
    pub tier: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_ms: Option<u64>,
    #[serde(default)]
    pub depends_on: Vec<ServiceId>,
    /// Check step names with the customer-facing feature each stands for.
    #[serde(default)]
    pub checks: Vec<CheckInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInfo {
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
}
