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
}

/// The page's top-level status (`status.indicator`, `status.description`) from all of its
/// components, as Atlassian documents it in "Top-level status and incident impact
/// calculations" (support.atlassian.com/statuspage/docs/top-level-status-and-incident-impact-calculations/):
/// the top-level status is computed from the state of *every* component on the page, so
/// one component down among ten is not the whole system down:
///
/// | components | top-level status | indicator |
/// | --- | --- | --- |
/// | none, or all operational | All Systems Operational | `none` |
/// | all in major outage | Major System Outage | `critical` |
/// | some in major outage, or all in partial outage | Partial System Outage | `major` |
/// | some in partial outage | Minor Service Outage | `minor` |
/// | all degraded | Degraded System Service | `minor` |
/// | some degraded | Partially Degraded Service | `minor` |
///
/// The indicators are the ones Statuspage's `status.json` pairs with those words (`none`,
/// `minor`, `major`, `critical`). Components the run never checked count for nothing.
pub fn top_level(statuses: &[ComponentStatus]) -> (&'static str, &'static str) {
    use ComponentStatus::{DegradedPerformance, MajorOutage, Operational, PartialOutage};
    let all = |s: ComponentStatus| !statuses.is_empty() && statuses.iter().all(|x| *x == s);
    let any = |s: ComponentStatus| statuses.contains(&s);
    if statuses.iter().all(|s| *s == Operational) {
        ("none", "All Systems Operational")
    } else if all(MajorOutage) {
        ("critical", "Major System Outage")
    } else if any(MajorOutage) || all(PartialOutage) {
        ("major", "Partial System Outage")
    } else if any(PartialOutage) {
        ("minor", "Minor Service Outage")
    } else if all(DegradedPerformance) {
        ("minor", "Degraded System Service")
    } else {
        ("minor", "Partially Degraded Service")
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
    let known: Vec<ComponentStatus> = all.iter().filter_map(|(_, s, _)| *s).collect();
    let (indicator, description) = top_level(&known);
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
    fn the_top_level_status_follows_statuspage_s_rule_over_every_component() {
        use ComponentStatus::*;
        let page = |down: ComponentStatus, n_down: usize, n: usize| {
            let mut v = vec![down; n_down];
            v.resize(n, Operational);
            top_level(&v)
        };
        assert_eq!(top_level(&[]), ("none", "All Systems Operational"));
        assert_eq!(
            page(Operational, 0, 10),
            ("none", "All Systems Operational")
        );
        assert_eq!(
            page(MajorOutage, 1, 10),
            ("major", "Partial System Outage"),
            "one component down among ten is not the whole system"
        );
        assert_eq!(
            page(MajorOutage, 10, 10),
            ("critical", "Major System Outage")
        );
        assert_eq!(page(MajorOutage, 1, 1), ("critical", "Major System Outage"));
        assert_eq!(
            page(PartialOutage, 3, 3),
            ("major", "Partial System Outage")
        );
        assert_eq!(
            page(PartialOutage, 2, 10),
            ("minor", "Minor Service Outage")
        );
        assert_eq!(
            page(DegradedPerformance, 4, 4),
            ("minor", "Degraded System Service")
        );
        assert_eq!(
            page(DegradedPerformance, 1, 4),
            ("minor", "Partially Degraded Service")
        );
        assert_eq!(
            top_level(&[DegradedPerformance, PartialOutage, Operational]),
            ("minor", "Minor Service Outage")
        );
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
