//! What a new run journals first (`run_started`) and when its incident began.

use chrono::{DateTime, Utc};

use crate::engine::Mode;
use crate::journal::{self, CheckInfo, Event, ServiceInfo};
use crate::runbook::model::Runbook;

/// `run_started`: the runbook's identity and what the reports need of it.
pub fn run_started(
    runbook: &Runbook,
    operator: &str,
    mode: Mode,
    incident_start: Option<DateTime<Utc>>,
) -> Event {
    let vars = runbook
        .vars
        .iter()
        .map(|(k, v)| {
            let shown = if runbook.secret_vars.contains(k) {
                crate::runbook::model::SECRET_MASK.to_string()
            } else {
                v.clone()
            };
            (k.clone(), shown)
        })
        .collect();
    let services = runbook
        .services
        .iter()
        .map(|s| ServiceInfo {
            id: s.id.clone(),
            name: s.name.clone(),
            tier: s.tier,
            rto_ms: s
                .rto
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            depends_on: s.depends_on.clone(),
            checks: s
                .checks
                .iter()
                .map(|c| CheckInfo {
                    step: c.name.clone(),
                    feature: c.feature.clone(),
                })
                .collect(),
        })
        .collect();
    Event::RunStarted {
        runbook: runbook.name.clone(),
        runbook_sha256: runbook.sha256.clone(),
        operator: operator.to_string(),
        vars,
        version: crate::VERSION.to_string(),
        mode,
        services,
        about: Box::new(journal::RunbookAbout {
            description: Some(runbook.description.clone()).filter(|d| !d.is_empty()),
            contact: runbook.notice.contact.clone(),
            cause: runbook.notice.cause.clone(),
            notice_after_ms: runbook
                .notice
                .after
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            drill_every_ms: runbook
                .services
                .iter()
                .filter_map(|s| {
                    let every = runbook.drills.every_for(&s.id)?;
                    Some((
                        s.id.clone(),
                        u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
                    ))
                })
                .collect(),
            runbook_path: Some(
                std::fs::canonicalize(&runbook.path)
                    .unwrap_or_else(|_| runbook.path.clone())
                    .display()
                    .to_string(),
            ),
        }),
        incident_start,
        scenario: None,
        executor: None,
    }
}

/// `--incident-start`: RFC 3339, or relative to `now` as a minus sign and a duration
/// (`-90m`, `-2h30m`). Never after `now`: an incident cannot begin in the future.
pub fn parse_incident_start(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let help = "write it as RFC 3339 (2026-11-22T06:10:00Z) or as a time before now (-90m, -2h)";
    let at = if let Some(ago) = text.trim().strip_prefix('-') {
        let ago = crate::runbook::duration::parse(ago)
            .map_err(|e| format!("--incident-start '{text}': {}; {help}", e.message))?;
        chrono::Duration::from_std(ago)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| format!("--incident-start '{text}' is too far back; {help}"))?
    } else {
        DateTime::parse_from_rfc3339(text.trim())
            .map_err(|e| format!("--incident-start '{text}' is not a time ({e}); {help}"))?
            .with_timezone(&Utc)
    };
    if at > now {
        return Err(format!(
            "--incident-start '{text}' is in the future ({}); give when the incident began",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_started_records_each_services_drill_every_its_own_else_the_runbooks() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/runbooks/valid/drills.toml");
        let runbook = crate::runbook::load(&path, &[]).expect("valid");
        let Event::RunStarted { about, .. } = run_started(&runbook, "kim", Mode::Drill, None)
        else {
            panic!("run_started");
        };
        let day = 86_400_000;
        let every: Vec<(&str, u64)> = about
            .drill_every_ms
            .iter()
            .map(|(id, ms)| (id.as_str(), *ms))
            .collect();
        assert_eq!(
            every,
            [("dns", 30 * day), ("auth", 90 * day), ("web", 90 * day)]
        );
    }

    #[test]
    fn incident_start_reads_rfc3339_and_times_before_now_and_refuses_the_future() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let at = |t: &str| parse_incident_start(t, now);
        assert_eq!(
            at("-90m").expect("relative").to_rfc3339(),
            "2026-11-22T07:30:00+00:00"
        );
        assert_eq!(
            at("-2h").expect("relative").to_rfc3339(),
            "2026-11-22T07:00:00+00:00"
        );
        assert_eq!(
            at("2026-11-22T06:10:00+01:00")
                .expect("rfc3339")
                .to_rfc3339(),
            "2026-11-22T05:10:00+00:00"
        );
        let future = at("2026-11-22T10:00:00Z").expect_err("future");
        assert!(
            future.contains("'2026-11-22T10:00:00Z'") && future.contains("future"),
            "{future}"
        );
        let bad = at("yesterday").expect_err("bad");
        assert!(
            bad.contains("'yesterday'") && bad.contains("RFC 3339"),
            "{bad}"
        );
        let unit = at("-90x").expect_err("bad unit");
        assert!(unit.contains("'-90x'"), "{unit}");
    }
}
