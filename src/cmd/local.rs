//! The edge of a file-journal run that another process executes: its journal read for the
//! history and the variables, and everything else asked through its socket (`reach::socket`):
//! the runbook's text, the live view, requests and their answers. The same questions
//! `cmd/shared.rs` asks of a shared run in etcd, so `approve`, `note`, `done` and `attach`
//! treat both alike.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd::shared::Failure;
use crate::driver::{Ask, LiveView};
use crate::reach::socket::{self, Call, ReachError};
use crate::reach::{Answer, Posted};
use crate::runbook::model::Runbook;
use crate::session::KeptRun;

/// How long a read of the run's view or runbook waits for the executing process.
const READ_WAIT: Duration = Duration::from_secs(10);

/// An operator's connection to a file-journal run this process does not execute.
pub(crate) struct Local {
    pub journal: PathBuf,
    pub operator: String,
    /// `--sign-key`: sign requests with this key file, not the agent's first key.
    sign_key: Option<PathBuf>,
}

fn failure(e: ReachError) -> Failure {
    match e {
        ReachError::NotListening { .. } | ReachError::NoAnswer(..) => Failure::refused(e),
        _ => Failure::input(e),
    }
}

impl Local {
    /// The run on `journal`, which must exist; nothing is asked of it yet.
    pub fn open(
        journal: &Path,
        operator: String,
        sign_key: Option<PathBuf>,
    ) -> Result<Local, Failure> {
        if !journal.is_file() {
            return Err(Failure::input(format!(
                "no journal '{}': give the journal file a running `bringup run` or `open` writes (or a shared run's etcd:// URL)",
                journal.display()
            )));
        }
        Ok(Local {
            journal: journal.to_path_buf(),
            operator,
            sign_key,
        })
    }

    /// The executing process's view of the services, if it has published one.
    pub async fn live(&self) -> Result<Option<LiveView>, Failure> {
        let bytes = socket::call(&self.journal, &Call::Live, READ_WAIT)
            .await
            .map_err(failure)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::input(format!(
                "the view of '{}' is not one bringup knows: {e}",
                self.journal.display()
            ))
        })
    }

    /// The runbook the run executes, from the text it serves, with the variables its
    /// `run_started` recorded (secret ones masked).
    pub async fn runbook(&self) -> Result<Runbook, Failure> {
        let kept = self.runbook_text().await?;
        let name = format!("{} (runbook)", self.journal.display());
        crate::runbook::load_text(&kept.text, Path::new(&name), &kept.vars).map_err(|d| {
            Failure::input(format!("the runbook of '{}':\n{d}", self.journal.display()))
        })
    }

    /// The runbook's text as the run serves it, and what its `run_started` recorded.
    pub async fn runbook_text(&self) -> Result<KeptRun, Failure> {
        let bytes = socket::call(&self.journal, &Call::Runbook, READ_WAIT)
            .await
            .map_err(failure)?;
        let text: Option<String> = serde_json::from_slice(&bytes).ok().flatten();
        let Some(text) = text else {
            return Err(Failure::input(format!(
                "the run on '{}' cannot read its runbook any more",
                self.journal.display()
            )));
        };
        let first = self.first_record();
        Ok(KeptRun::new(text, first.as_ref().map(|r| &r.event)))
    }

    /// The journal's first record (its `run_started`), if it can be read.
    fn first_record(&self) -> Option<crate::journal::Record> {
        crate::journal::first_record(&self.journal).ok()
    }

    /// Ask the executing process for `ask` and wait for what became of it.
    pub async fn ask(&self, ask: &Ask, wait: Duration) -> Result<Answer, Failure> {
        let Some(run_hash) = self.first_record().map(|r| r.hash) else {
            return Err(Failure::input(format!(
                "journal '{}' has no run_started yet; wait for the run to start",
                self.journal.display()
            )));
        };
        // The run is named by its journal's file name: the executor may know it by another
        // path to the same file.
        let name = self
            .journal
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let signed = crate::cmd::shared::sign_ask(
            &name,
            &run_hash,
            &self.operator,
            ask,
            self.sign_key.clone(),
        )
        .await?;
        let posted = Posted {
            operator: self.operator.clone(),
            ask: serde_json::to_value(ask).map_err(Failure::input)?,
            signed: Some(signed),
        };
        socket::ask(&self.journal, &posted, wait)
            .await
            .map_err(failure)
    }
}
