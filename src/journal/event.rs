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
        /// The `[[scenario]]` id of a drill run with `--scenario`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scenario: Option<String>,
        /// The executing operator's key and how it checked against the allowed signers
        /// (with allowed signers and a key at hand: `--sign-key`, or the agent's first key).
        /// Absent: the operator is the name given to the process (`local`).
        #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
        executor: Option<Box<ExecutorKey>>,
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
        /// The chunk decoded for reading (invalid UTF-8 replaced); for a chunk kept in a side
        /// file that is not readable as text, a short preview of it.
        text: String,
        /// The side file holding the chunk's exact bytes, relative to the journal's folder
        /// (`<journal file name>.d/<seq>.out`): when they are not valid UTF-8, or not worth
        /// keeping as JSON text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        raw: Option<String>,
        /// How many bytes of output the chunk carries. Absent in older journals, whose
        /// `step_output` events are lines (their newline not recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        /// SHA-256 (lowercase hex) of the side file's bytes, with `raw`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// Older journals' side file reference (a spilled line).
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
    /// A step that did not run and will not, and why: `only` for the other mode, or a
    /// restore step with no `undo` when its service was undone.
    StepSkipped {
        service: ServiceId,
        phase: Phase,
        step: String,
        reason: String,
    },
    Approval {
        service: ServiceId,
        step: String,
        /// The phase of the step answered (absent in older journals, where readers guess).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<Phase>,
        decision: Decision,
        operator: String,
        /// Who asked and how the executing process knows (absent in older journals).
        #[serde(flatten)]
        provenance: Provenance,
    },
    Manual {
        service: ServiceId,
        step: String,
        outcome: ManualOutcome,
        operator: String,
        /// Who asked and how the executing process knows (absent in older journals).
        #[serde(flatten)]
        provenance: Provenance,
    },
    Note {
        operator: String,
        text: String,
        /// Who asked and how the executing process knows (absent in older journals).
        #[serde(flatten)]
        provenance: Provenance,
    },
    /// An operator acted on a service out of the plan (check or restore by hand, skip,
    /// inject); `reason` is the operator's own words, where there are any.
    OperatorAction {
        operator: String,
        /// Absent for what concerns the whole run (auto mode on or off).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<ServiceId>,
        action: OperatorActionKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who asked and how the executing process knows (absent in older journals).
        #[serde(flatten)]
        provenance: Provenance,
    },
    /// The executor asked an operator a question (a `confirm` step's approval, a manual
    /// step): it waits until an `approval` or `manual` answers it. Asked again after a
    /// take-over.
    Asked {
        service: ServiceId,
        step: String,
        /// The phase of the step asked about (absent in older journals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<Phase>,
        question: QuestionKind,
    },
    HostKeyAccepted {
        host: HostId,
        fingerprint: String,
        operator: String,
        /// Who asked and how the executing process knows (absent in older journals).
        #[serde(flatten)]
        provenance: Provenance,
    },
    Resumed {
        from_seq: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        forced: bool,
        /// `--resume --force`: the sha256 of the runbook the run goes on with (it differs
        /// from `run_started`'s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        runbook_sha256: Option<String>,
        /// Who took the run over (absent in journals written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
        /// How that operator is known: `local` (the name given to this process), or, with
        /// allowed signers and a key at hand, `verified`/`unverified` as for `run_started`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        /// The key of the operator who took over (`SHA256:` fingerprint), when at hand.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The executor the run was taken from, as far as it is known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<PreviousExecutor>,
        /// Why the run changed hands.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<HandOver>,
    },
    RunFinished {
        outcome: String,
        services: IndexMap<ServiceId, ServiceState>,
        /// A scenario drill's services injected and not seen healthy again (none for a run
        /// that is not a drill).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        left_down: Option<Vec<ServiceId>>,
    },
    /// The user-notice deadline (`[runbook] notice_after`, from the incident's start) passed.
    NoticeDue { after_ms: u64 },
    /// A webhook delivery is owed (the outbox): `notify` is the `[[notify]]` entry's index in
    /// the runbook, `of_seq` the event it tells of; the payload is kept so that `--resume`
    /// sends exactly it. The webhook's URL is never journaled.
    NotifyQueued {
        notify: usize,
        of_seq: u64,
        what: String,
        /// SHA-256 (lowercase hex) of the body as sent.
        digest: String,
        payload: serde_json::Value,
    },
    /// The webhook answered 2xx.
    NotifySent {
        notify: usize,
        of_seq: u64,
        attempt: u32,
        status: u16,
    },
    /// An attempt failed; `next_retry_ms` is absent when none follows (the run ended).
    NotifyFailed {
        notify: usize,
        of_seq: u64,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_retry_ms: Option<u64>,
    },
    /// A witness (`[[witness]]`, its index and where it is) could not be given the head
    /// at `seq`; `next_retry_ms` is absent when none follows (the run ended). A newer head
    /// may be tried next: it covers this one through the chain.
    WitnessFailed {
        witness: usize,
        target: String,
        of_seq: u64,
        attempt: u32,
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_retry_ms: Option<u64>,
    },
    /// A scenario drill entered a phase (SPEC "Drills"). `outcome` is set on `finished` (and
    /// on a `baseline` that refused the drill: `failed`); `reason` says why it failed.
    DrillPhase {
        scenario: String,
        phase: DrillPhase,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<DrillOutcome>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A `[[guard]]` failed during a drill: no new injects or restores of anything else;
    /// what was injected is restored.
    GuardTripped {
        guard: String,
        host: HostId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A request from another process that the executing process refused (SPEC "Who did
    /// it"): nothing it asked was done.
    RequestRefused {
        /// The operator the request claimed to come from (empty when it could not be read).
        operator: String,
        /// The SHA256 fingerprint of the key that signed it, when it was signed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Why, in words.
        reason: String,
        /// Why, as a stable word (`unsigned`, `key_not_listed`, `principal_differs`,
        /// `observer`, `replayed`, `other_run`, `too_old`, `in_future`, `bad_signature`,
        /// `unreadable`, `cannot_check`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// What it asked, in words, when it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asked: Option<String>,
    },
}

/// How the executing process knows who made a request (SPEC "Who did it"): `verified`
/// against its allowed signers, `unverified` (no allowed signers configured: the name is the
/// requester's claim), or `local` (typed at the executing process's own terminal).
/// The executing process's own operator, proven by its key (SPEC "Who did it").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorKey {
    /// The key's `SHA256:` fingerprint.
    pub key: String,
    /// `verified`: a signature made by that key when the run started checked for the
    /// operator against the allowed signers; `unverified`: it did not.
    pub identity: Identity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    Verified,
    Unverified,
    Local,
}

impl Identity {
    /// The journal's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::Verified => "verified",
            Identity::Unverified => "unverified",
            Identity::Local => "local",
        }
    }
}

/// What an event made from a request records of its maker besides the name: `identity`,
/// `key` (the SHA256 fingerprint of the key that signed) and `nonce` (the signed request's,
/// so that a resumed run refuses it again). Every member is optional: older journals have
/// none, and still parse and verify.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl Provenance {
    /// Typed at the executing process's own terminal.
    pub fn local() -> Provenance {
        Provenance {
            identity: Some(Identity::Local),
            key: None,
            nonce: None,
        }
    }

    /// A request from another process, with no allowed signers to check it against.
    pub fn unverified() -> Provenance {
        Provenance {
            identity: Some(Identity::Unverified),
            key: None,
            nonce: None,
        }
    }
}

/// The executor a resumed run was taken from: each part when it is known (a shared run's
/// holder record has them all; a file journal its last operator and the pid its lock names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousExecutor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl std::fmt::Display for PreviousExecutor {
    /// `lee@host-a (pid 4242)`, with what is known of it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.operator, &self.host) {
            (Some(op), Some(host)) => write!(f, "{op}@{host}")?,
            (Some(op), None) => f.write_str(op)?,
            (None, Some(host)) => write!(f, "an executor on {host}")?,
            (None, None) => f.write_str("the previous executor")?,
        }
        if let Some(pid) = self.pid {
            write!(f, " (pid {pid})")?;
        }
        Ok(())
    }
}

/// Why a run changed hands (`resumed`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandOver {
    /// A file journal resumed after the process that wrote it ended without finishing.
    Crashed,
    /// A shared run whose holder's lease expired.
    LeaseLost,
    /// An operator took the run over from an attached screen (`T`).
    TakeOver,
    /// A finished run continued to undo a service (`bringup undo`).
    Undo,
}

impl HandOver {
    /// In words, for reports.
    pub fn words(self) -> &'static str {
        match self {
            HandOver::Crashed => "its process died",
            HandOver::LeaseLost => "lease lost",
            HandOver::TakeOver => "taken over from an attached screen",
            HandOver::Undo => "continued to undo a service",
        }
    }
}

/// What an `asked` event asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// Approve or decline a step (`approval`).
    Approval,
    /// Carry out a manual step and say how it went (`manual`).
    Manual,
}

/// The phases of a scenario drill, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillPhase {
    Baseline,
    Inject,
    Detect,
    Restore,
    Cleanup,
    Finished,
}

/// How a scenario drill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillOutcome {
    Passed,
    Failed,
}

/// The runbook's `[runbook]` facts a user notice and the drill history need, recorded in
/// `run_started`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookAbout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// `[runbook] cause`: the outage's cause as users should read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_after_ms: Option<u64>,
    /// `drill_every` of each service that has one (its own, else the runbook's): how old its
    /// last drill may be. Absent when no service has one, and in older journals.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub drill_every_ms: IndexMap<ServiceId, u64>,
    /// Where the runbook was read from (absolute when it could be made so): what `bringup
    /// undo` loads again. Absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_path: Option<String>,
}

/// What an operator did out of the plan: `operator_action`'s `action`, journaled as a
/// stable snake_case word. The words older journals wrote ("skipped", "restore started by
/// hand") read as their kind; any other word is kept as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum OperatorActionKind {
    /// `by_hand_restore`: a restore started by hand, out of the plan's order.
    ByHandRestore,
    /// `by_hand_check`: a service's checks run by hand.
    ByHandCheck,
    /// `skip`: the service was skipped (the reason is the operator's).
    Skip,
    /// `inject`: a drill's inject steps run on purpose.
    Inject,
    /// `auto_on`: the run's auto mode turned on (no service).
    AutoOn,
    /// `auto_off`: the run's auto mode turned off (no service).
    AutoOff,
    /// `undo`: the undo of a service's restore steps (the reason says whether dependents
    /// were undone first).
    Undo,
    /// A word this version does not know, read from a journal as written.
    Other(String),
}

impl OperatorActionKind {
    /// The journal's word for it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            OperatorActionKind::ByHandRestore => "by_hand_restore",
            OperatorActionKind::ByHandCheck => "by_hand_check",
            OperatorActionKind::Skip => "skip",
            OperatorActionKind::Inject => "inject",
            OperatorActionKind::AutoOn => "auto_on",
            OperatorActionKind::AutoOff => "auto_off",
            OperatorActionKind::Undo => "undo",
            OperatorActionKind::Other(word) => word,
        }
    }

    /// Whether the operator ran the service's steps by hand (a check or a restore).
    #[must_use]
    pub fn is_by_hand(&self) -> bool {
        matches!(
            self,
            OperatorActionKind::ByHandRestore | OperatorActionKind::ByHandCheck
        )
    }
}

impl From<String> for OperatorActionKind {
    fn from(word: String) -> OperatorActionKind {
        match word.as_str() {
            "by_hand_restore" | "restore started by hand" | "restore" => {
                OperatorActionKind::ByHandRestore
            }
            "by_hand_check" | "check" => OperatorActionKind::ByHandCheck,
            "skip" | "skipped" => OperatorActionKind::Skip,
            "inject" => OperatorActionKind::Inject,
            "auto_on" => OperatorActionKind::AutoOn,
            "auto_off" => OperatorActionKind::AutoOff,
            "undo" => OperatorActionKind::Undo,
            _ => OperatorActionKind::Other(word),
        }
    }
}

impl From<&str> for OperatorActionKind {
    fn from(word: &str) -> OperatorActionKind {
        OperatorActionKind::from(word.to_string())
    }
}

impl From<OperatorActionKind> for String {
    fn from(kind: OperatorActionKind) -> String {
        kind.as_str().to_string()
    }
}

impl std::fmt::Display for OperatorActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

/// Where a `step_output` event's exact bytes are kept, if in a side file (`raw`, `size`,
/// `sha256`, or an older journal's `file`).
pub fn side_file(
    raw: Option<&String>,
    size: Option<u64>,
    sha256: Option<&String>,
    file: Option<&OutputFile>,
) -> Option<OutputFile> {
    match (raw, size, sha256) {
        (Some(path), Some(bytes), Some(sha256)) => Some(OutputFile {
            path: path.clone(),
            bytes,
            sha256: sha256.clone(),
        }),
        _ => file.cloned(),
    }
}

impl Event {
    /// A chunk of output with its text only (valid UTF-8 kept inline).
    pub fn output_text(service: ServiceId, step: String, host: HostId, text: String) -> Event {
        Event::StepOutput {
            service,
            step,
            host,
            size: Some(text.len() as u64),
            text,
            raw: None,
            sha256: None,
            file: None,
        }
    }

    /// The side file of a `step_output` event, if it has one.
    pub fn output_file(&self) -> Option<OutputFile> {
        match self {
            Event::StepOutput {
                raw,
                size,
                sha256,
                file,
                ..
            } => side_file(raw.as_ref(), *size, sha256.as_ref(), file.as_ref()),
            _ => None,
        }
    }

    /// The service the event is about, if any.
    pub fn service(&self) -> Option<&ServiceId> {
        match self {
            Event::ServiceState { service, .. }
            | Event::StepStarted { service, .. }
            | Event::StepOutput { service, .. }
            | Event::StepFinished { service, .. }
            | Event::StepSkipped { service, .. }
            | Event::Approval { service, .. }
            | Event::Manual { service, .. }
            | Event::Asked { service, .. } => Some(service),
            Event::OperatorAction { service, .. } => service.as_ref(),
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
            | Event::HostKeyAccepted { operator, .. }
            | Event::Resumed {
                operator: Some(operator),
                ..
            } => Some(operator),
            _ => None,
        }
    }

    /// How the maker of an event made from a request is known, for the kinds that record it.
    pub fn provenance(&self) -> Option<&Provenance> {
        match self {
            Event::Approval { provenance, .. }
            | Event::Manual { provenance, .. }
            | Event::Note { provenance, .. }
            | Event::OperatorAction { provenance, .. }
            | Event::HostKeyAccepted { provenance, .. } => Some(provenance),
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
            Event::StepSkipped { .. } => "step_skipped",
            Event::Approval { .. } => "approval",
            Event::Manual { .. } => "manual",
            Event::Note { .. } => "note",
            Event::OperatorAction { .. } => "operator_action",
            Event::Asked { .. } => "asked",
            Event::HostKeyAccepted { .. } => "host_key_accepted",
            Event::Resumed { .. } => "resumed",
            Event::RunFinished { .. } => "run_finished",
            Event::NoticeDue { .. } => "notice_due",
            Event::NotifyQueued { .. } => "notify_queued",
            Event::NotifySent { .. } => "notify_sent",
            Event::NotifyFailed { .. } => "notify_failed",
            Event::WitnessFailed { .. } => "witness_failed",
            Event::DrillPhase { .. } => "drill_phase",
            Event::GuardTripped { .. } => "guard_tripped",
            Event::RequestRefused { .. } => "request_refused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action_of(line: &str) -> OperatorActionKind {
        match serde_json::from_str(line).expect("an operator_action event") {
            Event::OperatorAction { action, .. } => action,
            other => panic!("not an operator action: {other:?}"),
        }
    }

    #[test]
    fn operator_actions_are_written_as_stable_words_and_read_back_as_their_kind() {
        for (kind, word) in [
            (OperatorActionKind::ByHandRestore, "by_hand_restore"),
            (OperatorActionKind::ByHandCheck, "by_hand_check"),
            (OperatorActionKind::Skip, "skip"),
            (OperatorActionKind::Inject, "inject"),
            (OperatorActionKind::AutoOn, "auto_on"),
            (OperatorActionKind::AutoOff, "auto_off"),
            (OperatorActionKind::Undo, "undo"),
        ] {
            let event = Event::OperatorAction {
                operator: "kim".into(),
                service: Some(ServiceId::new("db")),
                action: kind.clone(),
                reason: None,
                provenance: crate::journal::event::Provenance::default(),
            };
            let line = serde_json::to_string(&event).expect("serializes");
            assert!(line.contains(&format!(r#""action":"{word}""#)), "{line}");
            assert_eq!(action_of(&line), kind);
        }
    }

    #[test]
    fn the_words_older_journals_wrote_read_as_their_kind_and_unknown_words_as_written() {
        let line = |word: &str| {
            format!(
                r#"{{"kind":"operator_action","operator":"kim","service":"db","action":"{word}"}}"#
            )
        };
        assert_eq!(action_of(&line("skipped")), OperatorActionKind::Skip);
        assert_eq!(
            action_of(&line("restore started by hand")),
            OperatorActionKind::ByHandRestore
        );
        let odd = action_of(&line("rebooted the rack"));
        assert_eq!(odd, OperatorActionKind::Other("rebooted the rack".into()));
        assert_eq!(odd.to_string(), "rebooted the rack");
    }
}
