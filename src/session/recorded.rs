//! What a resumed journal's `run_started` records of its run (an incident, or a drill and
//! its scenario), and the options of a resume reconciled with it: the journal is the
//! authority (SPEC "Resume", "Drills"). A resumed drill goes on as the drill it began as.

use std::path::Path;

use crate::engine::Mode;
use crate::journal::Event;

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

    fn said(&self) -> String {
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

/// A file journal's `run_started` (its first line). `None` for a shared run (etcd), a file
/// that cannot be read or does not begin with `run_started`: the resume itself then says
/// what is wrong.
pub fn recorded_run(journal: &Path) -> Option<RecordedRun> {
    if journal.to_string_lossy().starts_with("etcd://") {
        return None;
    }
    match crate::journal::first_record(journal).ok()?.event {
        Event::RunStarted {
            mode: Mode::Drill,
            scenario,
            ..
        } => Some(RecordedRun::Drill { scenario }),
        Event::RunStarted { .. } => Some(RecordedRun::Incident),
        _ => None,
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
