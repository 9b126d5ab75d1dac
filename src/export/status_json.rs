//! `export --format status-json`: the customer-facing functions as components in Atlassian
//! Statuspage's vocabulary, shaped like its `summary.json` (page, components, status), so a
//! status page or a script can take it as is. Only functions named by a check's `feature`
//! appear. Only renders an `Analysis`.
//!
//! A component's status, from its own checks and its service's state (the worst over the
//! services that offer it):
//!
//! | its checks | its service | status |
//! | --- | --- | --- |
//! | pass | healthy, restored | `operational` |
//! | pass | anything else (partial, restoring, verifying, …) | `degraded_performance` |
//! | fail | partial (some hosts or checks pass) | `partial_outage` |
//! | fail | down, failed, blocked, restoring, verifying, skipped, … | `major_outage` |
//!
//! A function never checked in the run, on a service never touched, is listed under
//! `not_checked` rather than given a status the run cannot back.

use serde_json::{Value, json};

use crate::engine::ServiceState;
use crate::export::metrics::{Analysis, Feature, ServiceReport};

/// Statuspage's component statuses, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ComponentStatus {
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 4] = [
        Self::Operational,
        Self::DegradedPerformance,
        Self::PartialOutage,
        Self::MajorOutage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    /// The page's overall indicator, as Statuspage words it.
    fn indicator(worst: Option<Self>) -> (&'static str, &'static str) {
        match worst {
            None | Some(Self::Operational) => ("none", "All Systems Operational"),
            Some(Self::DegradedPerformance) => ("minor", "Minor Service Outage"),
            Some(Self::PartialOutage) => ("major", "Partial System Outage"),
            Some(Self::MajorOutage) => ("critical", "Major System Outage"),
        }
    }
}

/// The status of one function on one service; `None` when the run cannot say.
pub fn status_of(feature: &Feature, service: &ServiceReport) -> Option<ComponentStatus> {
    let state = service.state;
    if feature.checked_at.is_none() && state == ServiceState::Unknown {
        return None;
    }
    Some(match (feature.available, state) {
        (true, ServiceState::Healthy | ServiceState::Restored) => ComponentStatus::Operational,
        (true, _) => ComponentStatus::DegradedPerformance,
        (false, ServiceState::Partial) => ComponentStatus::PartialOutage,
        (false, _) => ComponentStatus::MajorOutage,
    })
}

/// Each named function once, in runbook order, with its worst status over the services
/// offering it (`None`: not checked anywhere).
pub fn components(a: &Analysis) -> Vec<(String, Option<ComponentStatus>, Vec<String>)> {
    let mut out: Vec<(String, Option<ComponentStatus>, Vec<String>)> = Vec::new();
    for service in &a.services {
        for f in service.features.iter().filter(|f| f.customer_facing) {
            let status = status_of(f, service);
            let id = service.info.id.to_string();
            if let Some(entry) = out.iter_mut().find(|(name, _, _)| *name == f.name) {
                // Known beats unknown; among known, the worst wins.
                entry.1 = match (entry.1, status) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                entry.2.push(id);
            } else {
                out.push((f.name.clone(), status, vec![id]));
            }
        }
    }
    out
}

pub fn render(a: &Analysis) -> Result<String, serde_json::Error> {
    let updated_at = a
        .as_of
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let all = components(a);
    let worst = all.iter().filter_map(|(_, s, _)| *s).max();
    let (indicator, description) = ComponentStatus::indicator(worst);
    let components: Vec<Value> = all
        .iter()
        .filter_map(|(name, status, services)| {
            status.map(|s| {
                json!({
                    "name": name,
                    "status": s.as_str(),
                    "services": services,
                    "updated_at": updated_at,
                })
            })
        })
        .collect();
    let not_checked: Vec<&str> = all
        .iter()
        .filter(|(_, s, _)| s.is_none())
        .map(|(name, _, _)| name.as_str())
        .collect();
    let doc = json!({
        "page": { "name": a.run.runbook, "updated_at": updated_at },
        "status": { "indicator": indicator, "description": description },
        "components": components,
        "not_checked": not_checked,
    });
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::{CheckInfo, ServiceInfo};

    fn service(state: ServiceState) -> ServiceReport {
        ServiceReport {
            info: ServiceInfo {
                id: crate::runbook::ServiceId::new("s"),
                name: "S".into(),
                tier: 0,
                rto_ms: None,
                depends_on: Vec::new(),
                checks: vec![CheckInfo {
                    step: "c".into(),
                    feature: Some("F".into()),
                }],
            },
            state,
            reason: None,
            intervals: Vec::new(),
            outages: Vec::new(),
            found_down_at: None,
            restored_at: None,
            time_to_restore_ms: None,
            restored_after_ms: None,
            rto: crate::export::metrics::Rto::NotApplicable,
            restore_attempts: 0,
            restore_step_attempts: 0,
            by_hand: false,
            features: Vec::new(),
        }
    }

    fn feature(available: bool, checked: bool) -> Feature {
        Feature {
            service: crate::runbook::ServiceId::new("s"),
            name: "F".into(),
            available,
            checked_at: checked.then(chrono::Utc::now),
            customer_facing: true,
        }
    }

    #[test]
    fn service_states_map_to_the_documented_statuses() {
        use ComponentStatus::*;
        use ServiceState as St;
        for (available, state, want) in [
            (true, St::Healthy, Some(Operational)),
            (true, St::Restored, Some(Operational)),
            (true, St::Partial, Some(DegradedPerformance)),
            (true, St::Verifying, Some(DegradedPerformance)),
            (false, St::Partial, Some(PartialOutage)),
            (false, St::Down, Some(MajorOutage)),
            (false, St::Failed, Some(MajorOutage)),
            (false, St::Blocked, Some(MajorOutage)),
            (false, St::Restoring, Some(MajorOutage)),
        ] {
            assert_eq!(
                status_of(&feature(available, true), &service(state)),
                want,
                "{available} {state:?}"
            );
        }
        assert_eq!(
            status_of(&feature(false, false), &service(St::Unknown)),
            None,
            "never checked: no claim"
        );
    }
}
