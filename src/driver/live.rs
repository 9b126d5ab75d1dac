//! The executing process's view of a shared run, as attached operators see it: every
//! service as the engine holds it (state, steps per host, what waits for an operator),
//! published to etcd after each driver call and gone with the executor's lease. It is not
//! the record (the journal is); it only spares attached screens from replaying the engine.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::engine::{HostStatus, ServiceState, ServiceView, StepRef, Waiting};
use crate::runbook::model::{HostId, ServiceId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveView {
    /// The executing process's operator.
    pub operator: String,
    /// The seq of the last event journaled when this view was taken.
    pub seq: u64,
    /// Nothing runs and nothing can start any more.
    pub finished: bool,
    pub services: Vec<LiveService>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveService {
    pub id: ServiceId,
    pub state: ServiceState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub steps: Vec<LiveStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<StepRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    #[serde(default)]
    pub by_hand: bool,
    #[serde(default)]
    pub restore_attempts: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<HostId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveStep {
    pub step: StepRef,
    pub hosts: Vec<(HostId, HostStatus)>,
}

impl LiveView {
    pub fn of(
        operator: &str,
        seq: u64,
        finished: bool,
        services: &IndexMap<ServiceId, ServiceView>,
    ) -> LiveView {
        LiveView {
            operator: operator.to_string(),
            seq,
            finished,
            services: services
                .iter()
                .map(|(id, v)| LiveService {
                    id: id.clone(),
                    state: v.state,
                    reason: v.reason.clone(),
                    steps: v
                        .steps
                        .iter()
                        .map(|(step, hosts)| LiveStep {
                            step: step.clone(),
                            hosts: hosts.iter().map(|(h, s)| (h.clone(), s.clone())).collect(),
                        })
                        .collect(),
                    current: v.current.clone(),
                    waiting: v.waiting.clone(),
                    by_hand: v.by_hand,
                    restore_attempts: v.restore_attempts,
                    degraded: v.degraded.clone(),
                })
                .collect(),
        }
    }

    /// The services as the engine's views, for a screen that draws those.
    pub fn views(&self) -> IndexMap<ServiceId, ServiceView> {
        self.services
            .iter()
            .map(|s| {
                let view = ServiceView {
                    state: s.state,
                    reason: s.reason.clone(),
                    steps: s
                        .steps
                        .iter()
                        .map(|st| (st.step.clone(), st.hosts.iter().cloned().collect()))
                        .collect(),
                    current: s.current.clone(),
                    waiting: s.waiting.clone(),
                    by_hand: s.by_hand,
                    restore_attempts: s.restore_attempts,
                    degraded: s.degraded.clone(),
                };
                (s.id.clone(), view)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Phase, StepOutcome};

    #[test]
    fn a_view_survives_json_as_the_engine_had_it() {
        let step = StepRef {
            service: ServiceId::new("talk"),
            phase: Phase::Restore,
            index: 1,
        };
        let mut hosts = IndexMap::new();
        hosts.insert(
            HostId::new("gw-1"),
            HostStatus::Finished {
                outcome: StepOutcome::Ok,
                exit_code: Some(0),
                attempt: 2,
                duration: std::time::Duration::from_millis(1840),
            },
        );
        hosts.insert(HostId::new("gw-2"), HostStatus::Running { attempt: 1 });
        let mut views = IndexMap::new();
        views.insert(
            ServiceId::new("talk"),
            ServiceView {
                state: ServiceState::Restoring,
                reason: Some("check 'ping' failed".into()),
                steps: [(step.clone(), hosts)].into_iter().collect(),
                current: Some(step.clone()),
                waiting: Some(Waiting::Approval {
                    step,
                    hosts: vec![HostId::new("gw-1")],
                    commands: vec![(HostId::new("gw-1"), "systemctl start gw".into())],
                    reason: None,
                }),
                by_hand: true,
                restore_attempts: 1,
                degraded: vec![HostId::new("gw-2")],
            },
        );
        let live = LiveView::of("kim", 42, false, &views);
        let json = serde_json::to_vec(&live).expect("encodes");
        let back: LiveView = serde_json::from_slice(&json).expect("decodes");
        assert_eq!(back, live);
        let again = back.views();
        let (a, b) = (&again["talk"], &views["talk"]);
        assert_eq!(
            (&a.state, &a.reason, &a.steps, &a.current, &a.waiting),
            (&b.state, &b.reason, &b.steps, &b.current, &b.waiting)
        );
    }
}
