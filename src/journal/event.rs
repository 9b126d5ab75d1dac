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
        /// What user notices need of the runbook (members absent when unset).
        #[serde(default, flatten)]
        about: Box<RunbookAbout>,
        /// `--incident-start`: when the incident really began. Absent when not given: reports
        /// then measure from the run's start and say so.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incident_start: Option<chrono::DateTime<chrono::Utc>>,
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
        /// The output itself, or for a spilled chunk a short preview of it.
        text: String,
        /// Output too long (or not UTF-8) to keep inline: kept byte for byte in a side file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<OutputFile>,
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

/// The runbook's `[runbook]` facts a user notice needs, recorded in `run_started`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookAbout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_after_ms: Option<u64>,
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

/// A side file holding one chunk of a step's output, beside the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Relative to the journal's folder, `/`-separated: `<journal file name>.d/<seq>.out`.
    pub path: String,
    pub bytes: u64,
    /// SHA-256 (lowercase hex) of the file's bytes.
    pub sha256: String,
}

impl Event {
    /// The service the event is about, if any.
    pub fn service(&self) -> Option<&ServiceId> {
        match self {
            Event::ServiceState { service, .. }
            | Event::StepStarted { service, .. }
            | Event::StepOutput { service, .. }
            | Event::StepFinished { service, .. }
            | Event::Approval { service, .. }
            | Event::Manual { service, .. }
            | Event::OperatorAction { service, .. } => Some(service),
            _ => None,
        }
    }

    /// The operator who acted, for events that record a human decision.
    pub fn operator(&self) -> Option<&str> {
        match self {
            Event::RunStarted { operator, .. }
            | Event::Approval { operator, .. }
            | Event::Manual { operator, .. }
            | Event::Note { operator, .. }
            | Event::OperatorAction { operator, .. }
            | Event::HostKeyAccepted { operator, .. } => Some(operator),
            _ => None,
        }
    }

    /// The `kind` member as written in the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::ServiceState { .. } => "service_state",
            Event::StepStarted { .. } => "step_started",
            Event::StepOutput { .. } => "step_output",
            Event::StepFinished { .. } => "step_finished",
            Event::Approval { .. } => "approval",
            Event::Manual { .. } => "manual",
            Event::Note { .. } => "note",
            Event::OperatorAction { .. } => "operator_action",
            Event::HostKeyAccepted { .. } => "host_key_accepted",
            Event::Resumed { .. } => "resumed",
            Event::RunFinished { .. } => "run_finished",
        }
    }
}
