//! The json export: one document with run metadata, per-service state intervals and
//! metrics, run metrics, and every event as journaled. Only renders an `Analysis`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::export::metrics::{Analysis, ServiceReport, mode_str};
use crate::export::scorecard::render::ScorecardOut;
use crate::export::{ExportError, Source};
use crate::journal::event::{Event, ServiceInfo};
use crate::journal::record::format_ts;
use crate::journal::verify::ReadError;
use crate::runbook::model::ServiceId;

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    format_version: u32,
    run: Run<'a>,
    verification: Verification<'a>,
    metrics: Metrics,
    services: Vec<Service<'a>>,
    /// The post-mortem's prefilled follow-ups, each with the seq of the event behind it.
    action_items: Vec<ActionOut<'a>>,
    /// A scenario drill's scorecard (absent for other runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    scorecard: Option<ScorecardOut<'a>>,
    /// Read from the journal while the document is written.
    events: Events<'a>,
}

/// Every event of a source, serialized as it is read.
struct Events<'a>(Source<'a>);

impl Serialize for Events<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut seq = serializer.serialize_seq(None)?;
        let mut failed = None;
        let read = self.0.for_each(|r| -> Result<(), ReadOrWrite<S::Error>> {
            seq.serialize_element(&EventOut {
                seq: r.seq,
                ts: format_ts(r.ts),
                event: &r.event,
                prev: &r.prev,
                hash: &r.hash,
            })
            .map_err(ReadOrWrite::Write)
        });
        match read {
            Ok(()) => {}
            Err(ReadOrWrite::Write(e)) => failed = Some(e),
            Err(ReadOrWrite::Read(e)) => failed = Some(S::Error::custom(e)),
        }
        match failed {
            Some(e) => Err(e),
            None => seq.end(),
        }
    }
}

enum ReadOrWrite<E> {
    Read(ReadError),
    Write(E),
}

impl<E> From<ReadError> for ReadOrWrite<E> {
    fn from(e: ReadError) -> Self {
        ReadOrWrite::Read(e)
    }
}

#[derive(Serialize)]
struct Run<'a> {
    runbook: &'a str,
    runbook_sha256: &'a str,
    operator: &'a str,
    operators: &'a [String],
    /// How the operators' acts are known; `identities_verified` is false when any was not.
    identities: &'a crate::export::identities::Identities,
    identities_verified: bool,
    version: &'a str,
    mode: &'static str,
    vars: &'a indexmap::IndexMap<String, String>,
    started: Option<String>,
    finished: Option<String>,
    as_of: Option<String>,
    outcome: Option<&'a str>,
    resumed: u32,
    /// What outages found in the opening sweep start at: `--incident-start`, or the run's
    /// start when it was not given (`incident_start_given` false).
    incident_start: Option<String>,
    incident_start_given: bool,
}

#[derive(Serialize)]
struct Verification<'a> {
    intact: bool,
    events: usize,
    final_hash: Option<&'a str>,
}

#[derive(Serialize)]
struct Metrics {
    duration_ms: Option<i64>,
    services_down: usize,
    services_restored: usize,
    time_to_first_restored_ms: Option<i64>,
    time_to_all_restored_ms: Option<i64>,
}

#[derive(Serialize)]
struct Service<'a> {
    #[serde(flatten)]
    info: &'a ServiceInfo,
    state: &'static str,
    reason: Option<&'a str>,
    intervals: Vec<IntervalOut>,
    outages: Vec<OutageOut>,
    found_down_at: Option<String>,
    restored_at: Option<String>,
    time_to_restore_ms: Option<i64>,
    restored_after_ms: Option<i64>,
    rto: &'static str,
    restore_attempts: u32,
    restore_step_attempts: u32,
    by_hand: bool,
    features: Vec<FeatureOut<'a>>,
}

#[derive(Serialize)]
struct OutageOut {
    cause: &'static str,
    started: String,
    detected: Option<String>,
    restored: Option<String>,
    /// Up again by a check, not a restore.
    recovered: Option<String>,
    time_to_detect_ms: Option<i64>,
    time_to_restore_ms: Option<i64>,
    rto: &'static str,
}

#[derive(Serialize)]
struct IntervalOut {
    state: &'static str,
    from: String,
    to: Option<String>,
    duration_ms: Option<i64>,
}

#[derive(Serialize)]
struct FeatureOut<'a> {
    name: &'a str,
    available: bool,
    checked_at: Option<String>,
}

#[derive(Serialize)]
struct ActionOut<'a> {
    service: Option<&'a str>,
    what: &'a str,
    seq: u64,
}

#[derive(Serialize)]
struct EventOut<'a> {
    seq: u64,
    ts: String,
    #[serde(flatten)]
    event: &'a Event,
    prev: &'a str,
    hash: &'a str,
}

fn ts(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(format_ts)
}

fn service(s: &ServiceReport) -> Service<'_> {
    Service {
        info: &s.info,
        state: s.state.as_str(),
        reason: s.reason.as_deref(),
        intervals: s
            .intervals
            .iter()
            .map(|i| IntervalOut {
                state: i.state.as_str(),
                from: format_ts(i.from),
                to: ts(i.to),
                duration_ms: i.to.map(|to| (to - i.from).num_milliseconds()),
            })
            .collect(),
        outages: s
            .outages
            .iter()
            .map(|o| OutageOut {
                cause: o.cause.as_str(),
                started: format_ts(o.started),
                detected: ts(o.detected),
                restored: ts(o.ended.filter(|_| o.restored)),
                recovered: ts(o.ended.filter(|_| !o.restored)),
                time_to_detect_ms: o.time_to_detect_ms,
                time_to_restore_ms: o.time_to_restore_ms,
                rto: o.rto.as_str(),
            })
            .collect(),
        found_down_at: ts(s.found_down_at),
        restored_at: ts(s.restored_at),
        time_to_restore_ms: s.time_to_restore_ms,
        restored_after_ms: s.restored_after_ms,
        rto: s.rto.as_str(),
        restore_attempts: s.restore_attempts,
        restore_step_attempts: s.restore_step_attempts,
        by_hand: s.by_hand,
        features: s
            .features
            .iter()
            .map(|f| FeatureOut {
                name: &f.name,
                available: f.available,
                checked_at: ts(f.checked_at),
            })
            .collect(),
    }
}

/// Write the document to `out`, its events read from `source` as they are written; a
/// scenario drill's scorecard goes with it.
pub fn write(
    a: &Analysis,
    source: Source<'_>,
    out: &mut dyn std::io::Write,
) -> Result<(), ExportError> {
    let doc = Document {
        scorecard: a
            .scorecard
            .as_ref()
            .ok()
            .map(crate::export::scorecard::render::json),
        format: "bringup-journal",
        format_version: 1,
        run: Run {
            runbook: &a.run.runbook,
            runbook_sha256: &a.run.runbook_sha256,
            operator: &a.run.operator,
            operators: &a.operators,
            identities: &a.identities,
            identities_verified: !a.identities.any_unverified(),
            version: &a.run.version,
            mode: mode_str(a.run.mode),
            vars: &a.run.vars,
            started: ts(a.run.started),
            finished: ts(a.run.finished),
            as_of: ts(a.as_of),
            outcome: a.run.outcome.as_deref(),
            resumed: a.run.resumed,
            incident_start: ts(a.run.outage_origin()),
            incident_start_given: a.run.incident_start.is_some(),
        },
        verification: Verification {
            intact: a.intact,
            events: a.events,
            final_hash: a.final_hash.as_deref(),
        },
        metrics: Metrics {
            duration_ms: a.metrics.duration_ms,
            services_down: a.metrics.services_down,
            services_restored: a.metrics.services_restored,
            time_to_first_restored_ms: a.metrics.time_to_first_restored_ms,
            time_to_all_restored_ms: a.metrics.time_to_all_restored_ms,
        },
        services: a.services.iter().map(service).collect(),
        action_items: a
            .actions
            .iter()
            .map(|i| ActionOut {
                service: i.service.as_ref().map(ServiceId::as_str),
                what: &i.what,
                seq: i.seq,
            })
            .collect(),
        events: Events(source),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")?;
    Ok(())
}
