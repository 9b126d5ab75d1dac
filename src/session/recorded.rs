//! What a resumed journal's `run_started` records of its run (an incident, or a drill and
//! its scenario), and the options of a resume reconciled with it: the journal is the
//! authority (SPEC "Resume", "Drills"). A resumed drill goes on as the drill it began as.

use std::path::Path;

use crate::engine::Mode;
use crate::journal::Event;
use crate::journal::etcd::{Access, EtcdStore, RunUrl};

/// How a journal's run began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedRun {
    Incident,
    /// `scenario`: the `[[scenario]]` it drills; `None` for drill mode without one.
    Drill {
        scenario: Option<String>,
    },
}

impl RecordedRun {
    /// As a run's options say it: `--drill` and `--scenario`.
    pub fn of(drill: bool, scenario: Option<&str>) -> RecordedRun {
        if drill || scenario.is_some() {
            RecordedRun::Drill {
                scenario: scenario.map(str::to_string),
            }
        } else {
            RecordedRun::Incident
        }
    }

    pub fn scenario(&self) -> Option<&str> {
        match self {
            RecordedRun::Drill { scenario } => scenario.as_deref(),
            RecordedRun::Incident => None,
        }
    }

    /// The run in words ("a drill of scenario 'dc-loss'").
    pub fn said(&self) -> String {
        match self {
            RecordedRun::Incident => "an incident run, not a drill".to_string(),
            RecordedRun::Drill { scenario: Some(id) } => format!("a drill of scenario '{id}'"),
            RecordedRun::Drill { scenario: None } => "a drill without a scenario".to_string(),
        }
    }
}

/// A resume asked for a run other than the one its journal records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error(
        "cannot resume '{journal}' as {asked}: it records {}; a resumed run goes on as the run it began as",
        recorded.said()
    )]
    Run {
        journal: String,
        recorded: RecordedRun,
        asked: String,
    },
    #[error(
        "cannot resume '{journal}' with --only: it records {}, whose services are its scenario's",
        recorded.said()
    )]
    Only {
        journal: String,
        recorded: RecordedRun,
    },
}

impl Mismatch {
    /// What the journal records: what the run goes on as.
    pub fn recorded(&self) -> &RecordedRun {
        match self {
            Mismatch::Run { recorded, .. } | Mismatch::Only { recorded, .. } => recorded,
        }
    }
}

/// How long reading a shared run's first event may take before the resume goes on without
/// it (the resume itself then reads the run, and says what is wrong with it).
const FIRST_EVENT_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A journal's `run_started`, read without taking anything: a file's first line, or a shared
/// run's first event through `access` (no lease, no campaign: a resume refused here leaves
/// the run's last holder as it was). `None` when it cannot be read or does not begin with
/// `run_started`: the resume itself then says what is wrong.
pub async fn recorded_run(journal: &Path, access: &Access) -> Option<RecordedRun> {
    let text = journal.to_string_lossy();
    if RunUrl::is_etcd(&text) {
        let url = RunUrl::parse(&text).ok()?;
        let read = async {
            let mut store = EtcdStore::open_with(&url, access).await.ok()?;
            store.first_line().await.ok().flatten()
        };
        let line = tokio::time::timeout(FIRST_EVENT_LIMIT, read)
            .await
            .ok()
            .flatten()?;
        return RecordedRun::began(&crate::journal::record::parse(&line).ok()?.event);
    }
    RecordedRun::began(&crate::journal::first_record(journal).ok()?.event)
}

impl RecordedRun {
    /// The run a journal's first event began; `None` when it is not `run_started`.
    pub fn began(first: &Event) -> Option<RecordedRun> {
        match first {
            Event::RunStarted {
                mode: Mode::Drill,
                scenario,
                ..
            } => Some(RecordedRun::Drill {
                scenario: scenario.clone(),
            }),
            Event::RunStarted { .. } => Some(RecordedRun::Incident),
            _ => None,
        }
    }
}

/// What a run that is continued elsewhere keeps of how it began: its runbook's text, the
/// variables its `run_started` recorded as `KEY=VALUE` (secret ones masked), and the run
/// (an incident, or a drill and its scenario) it goes on as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRun {
    pub text: String,
    pub vars: Vec<String>,
    /// `None` when the first event could not be read as `run_started`.
    pub run: Option<RecordedRun>,
}

impl KeptRun {
    /// The runbook `text` and the run's first event, if it could be read.
    pub fn new(text: String, first: Option<&Event>) -> KeptRun {
        let vars = match first {
            Some(Event::RunStarted { vars, .. }) => {
                vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
            }
            _ => Vec::new(),
        };
        KeptRun {
            text,
            vars,
            run: first.and_then(RecordedRun::began),
        }
    }

    /// `--drill` and `--scenario` as the run began: what a take-over continues with.
    pub fn drill_and_scenario(&self) -> (bool, Option<String>) {
        match &self.run {
            Some(RecordedRun::Drill { scenario }) => (true, scenario.clone()),
            Some(RecordedRun::Incident) | None => (false, None),
        }
    }
}

/// The run a resume goes on with: the one `recorded`, given what was asked (`--drill`,
/// `--scenario`, `--only`). Asking for nothing in particular continues what is recorded;
/// asking for something else is refused.
pub fn reconcile(
    journal: &Path,
    recorded: &RecordedRun,
    asked: &RecordedRun,
    only: &[String],
) -> Result<RecordedRun, Mismatch> {
    let refused = |asked: String| Mismatch::Run {
        journal: journal.display().to_string(),
        recorded: recorded.clone(),
        asked,
    };
    match (recorded, asked) {
        (RecordedRun::Incident, RecordedRun::Incident) => Ok(RecordedRun::Incident),
        (RecordedRun::Incident, RecordedRun::Drill { scenario }) => {
            Err(refused(scenario.as_ref().map_or_else(
                || "a drill".to_string(),
                |id| format!("a drill of scenario '{id}'"),
            )))
        }
        (RecordedRun::Drill { .. }, _) if !only.is_empty() => Err(Mismatch::Only {
            journal: journal.display().to_string(),
            recorded: recorded.clone(),
        }),
        (RecordedRun::Drill { scenario: was }, RecordedRun::Drill { scenario: Some(id) })
            if was.as_deref() != Some(id.as_str()) =>
        {
            Err(refused(format!("a drill of scenario '{id}'")))
        }
        (RecordedRun::Drill { .. }, _) => Ok(recorded.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_started(mode: &str, scenario: Option<&str>) -> Event {
        serde_json::from_value(serde_json::json!({
            "kind": "run_started",
            "runbook": "rb",
            "runbook_sha256": "0".repeat(64),
            "operator": "kim",
            "vars": {"region": "kr"},
            "version": "0",
            "mode": mode,
            "scenario": scenario,
        }))
        .expect("run_started")
    }

    #[test]
    fn a_kept_run_carries_its_variables_and_the_run_it_began_as() {
        let kept = KeptRun::new("text".into(), Some(&run_started("drill", Some("dc-loss"))));
        assert_eq!(kept.vars, vec!["region=kr".to_string()]);
        assert_eq!(kept.drill_and_scenario(), (true, Some("dc-loss".into())));
        let incident = KeptRun::new("text".into(), Some(&run_started("incident", None)));
        assert_eq!(incident.drill_and_scenario(), (false, None));
        assert_eq!(KeptRun::new("text".into(), None).run, None);
    }

    fn drill(id: &str) -> RecordedRun {
        RecordedRun::Drill {
            scenario: Some(id.into()),
        }
    }

    #[test]
    fn a_drill_journal_goes_on_as_its_drill_and_refuses_another() {
        let j = Path::new("j.jsonl");
        let rec = drill("dc-loss");
        assert_eq!(
            reconcile(j, &rec, &RecordedRun::Incident, &[]),
            Ok(rec.clone())
        );
        assert_eq!(reconcile(j, &rec, &drill("dc-loss"), &[]), Ok(rec.clone()));
        let other = reconcile(j, &rec, &drill("dns"), &[]).expect_err("other scenario");
        assert_eq!(
            other.to_string(),
            "cannot resume 'j.jsonl' as a drill of scenario 'dns': it records a drill of scenario 'dc-loss'; a resumed run goes on as the run it began as"
        );
        assert!(reconcile(j, &rec, &RecordedRun::Incident, &["web".into()]).is_err());
        let incident = RecordedRun::Incident;
        assert!(reconcile(j, &incident, &drill("dc-loss"), &[]).is_err());
        assert_eq!(
            reconcile(j, &incident, &RecordedRun::Incident, &[]),
            Ok(RecordedRun::Incident)
        );
    }
}
