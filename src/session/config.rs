//! What a run is asked to be, parsed once from the command line: [`RunConfig`], where its
//! journal lives ([`JournalLocation`]) and which services it touches ([`Selection`]).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::SessionError;
use crate::cli::OpenArgs;
use crate::engine::{EngineOptions, Mode};
use crate::journal::etcd::{Access, RunUrl, UrlError};
use crate::runbook::model::{Runbook, Service, ServiceId};

/// Where a journal is: a file, or a shared run in etcd. Parsed once from what the operator
/// gave (`--journal`, `--resume`), so nothing downstream sniffs a path for `etcd://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalLocation {
    File(PathBuf),
    Shared(RunUrl),
}

impl JournalLocation {
    /// An `etcd://` URL is a shared run (a malformed one is an error); anything else a file.
    pub fn parse(path: &Path) -> Result<JournalLocation, UrlError> {
        match path.to_str() {
            Some(text) if RunUrl::is_etcd(text) => RunUrl::parse(text).map(JournalLocation::Shared),
            _ => Ok(JournalLocation::File(path.to_path_buf())),
        }
    }

    /// The shared run, if it is one.
    pub fn shared(&self) -> Option<&RunUrl> {
        match self {
            JournalLocation::Shared(url) => Some(url),
            JournalLocation::File(_) => None,
        }
    }

    /// The file, if it is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            JournalLocation::File(path) => Some(path),
            JournalLocation::Shared(_) => None,
        }
    }

    /// How it is named to the operator (and in `Driver::journal_path`): the path or the URL.
    pub fn as_path(&self) -> PathBuf {
        match self {
            JournalLocation::File(path) => path.clone(),
            JournalLocation::Shared(url) => PathBuf::from(url.to_string()),
        }
    }
}

impl fmt::Display for JournalLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalLocation::File(path) => write!(f, "{}", path.display()),
            JournalLocation::Shared(url) => write!(f, "{url}"),
        }
    }
}

/// Whether restores run at all (`run --check-only` checks only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Restore,
    CheckOnly,
}

/// What `--resume` does when the runbook changed since the journal began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnChange {
    /// Refuse (exit 2): resuming could re-run steps under different commands.
    #[default]
    Refuse,
    /// `--force`: go on, with the promises of SPEC "Forced resume keeps its promises".
    Force,
}

/// A new journal, or the one a run continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// `--journal` (a file or a shared run), or the default file beside the runbook.
    New(Option<JournalLocation>),
    /// `--resume`.
    Resume {
        from: JournalLocation,
        on_change: OnChange,
    },
}

/// Whether new host keys are recorded without asking (`--accept-new-host-keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewHostKeys {
    #[default]
    Ask,
    Accept,
}

/// Everything a session needs of the command line, typed.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub operator: String,
    pub start: Start,
    /// `--only` (empty: every service); a drill's scenario replaces it.
    pub only: Vec<ServiceId>,
    pub scope: Scope,
    pub mode: Mode,
    pub scenario: Option<String>,
    pub incident_start: Option<DateTime<Utc>>,
    pub new_host_keys: NewHostKeys,
    pub log_file: Option<PathBuf>,
    pub access: Access,
    /// `--operators`: the allowed signers requests are checked against, instead of the
    /// runbook's `[runbook] operators`.
    pub operators: Option<PathBuf>,
    /// `--sign-key`: the key that proves the executing operator (else the agent's first).
    pub sign_key: Option<PathBuf>,
    /// Which front end runs it (`run`, `tui`), for the log.
    pub front: &'static str,
    /// Why a resume takes the run over, when the caller knows (attach's `T`); otherwise
    /// told from the journal.
    pub hand_over: Option<crate::journal::event::HandOver>,
    /// The key `--seal` signs with, which signs the heads given to witnesses too.
    pub seal_key: Option<crate::journal::seal::SigningKey>,
}

impl RunConfig {
    /// Parse the options of `open` and `run` once. A bad `--incident-start` or a malformed
    /// `etcd://` URL is bad input, before any file is made.
    pub fn from_args(
        args: &OpenArgs,
        scope: Scope,
        front: &'static str,
    ) -> Result<RunConfig, SessionError> {
        let incident_start = args
            .incident_start
            .as_deref()
            .map(|text| super::parse_incident_start(text, Utc::now()))
            .transpose()
            .map_err(SessionError::IncidentStart)?;
        let start = match (&args.resume, &args.journal) {
            (Some(from), _) => Start::Resume {
                from: JournalLocation::parse(from)?,
                on_change: if args.force {
                    OnChange::Force
                } else {
                    OnChange::Refuse
                },
            },
            (None, journal) => {
                Start::New(journal.as_deref().map(JournalLocation::parse).transpose()?)
            }
        };
        if let Some(path) = &args.operators {
            crate::identity::Signers::load(path).map_err(SessionError::Operators)?;
        }
        Ok(RunConfig {
            operator: super::operator_name(args.operator.as_deref()),
            start,
            only: args.only.iter().map(ServiceId::new).collect(),
            scope,
            mode: if args.drill {
                Mode::Drill
            } else {
                Mode::Incident
            },
            scenario: args.scenario.clone(),
            incident_start,
            new_host_keys: if args.accept_new_host_keys {
                NewHostKeys::Accept
            } else {
                NewHostKeys::Ask
            },
            log_file: args.log_file.clone(),
            access: Access::from_args(&args.etcd),
            operators: args.operators.clone(),
            sign_key: args.sign_key.clone(),
            front,
            hand_over: args.hand_over,
            seal_key: args.seal.then(|| {
                args.seal_key.clone().map_or(
                    crate::journal::seal::SigningKey::Agent,
                    crate::journal::seal::SigningKey::File,
                )
            }),
        })
    }

    /// The services this run touches: a drill's scenario's, else `--only`'s, with what they
    /// depend on.
    pub fn selection(&self, runbook: &Runbook) -> Selection {
        let scenario = self
            .scenario
            .as_deref()
            .and_then(|id| runbook.drills.scenario(id));
        let only: Vec<ServiceId> = match scenario {
            Some(s) => s.services.clone(),
            None => self.only.clone(),
        };
        Selection::new(runbook, &only, self.scope)
    }
}

/// The services a run touches: those `--only` names (every one without it) and, unless it
/// checks only, every service they depend on (checked so that dependents can be judged). The
/// engine, `run --dry-run` and `preflight` all go by it, so they name the same hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    only: BTreeSet<ServiceId>,
    scope: Scope,
    /// Per runbook service, in runbook order: selected or a dependency of one.
    touched: Vec<bool>,
}

impl Selection {
    pub fn new(runbook: &Runbook, only: &[ServiceId], scope: Scope) -> Selection {
        let only: BTreeSet<ServiceId> = only.iter().cloned().collect();
        let touched = EngineOptions {
            only: only.clone(),
            check_only: scope == Scope::CheckOnly,
            ..EngineOptions::default()
        }
        .in_plan(runbook);
        Selection {
            only,
            scope,
            touched,
        }
    }

    /// Whether the run touches this service (selected, or a dependency of one).
    pub fn touches(&self, runbook: &Runbook, id: &ServiceId) -> bool {
        runbook
            .services
            .iter()
            .position(|s| &s.id == id)
            .is_some_and(|i| self.touched[i])
    }

    /// The services the run touches, in runbook order.
    pub fn services<'a>(&'a self, runbook: &'a Runbook) -> impl Iterator<Item = &'a Service> {
        runbook
            .services
            .iter()
            .zip(&self.touched)
            .filter_map(|(s, t)| t.then_some(s))
    }

    /// What the engine is told: the same selection, which it widens the same way.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            only: self.only.clone(),
            check_only: self.scope == Scope::CheckOnly,
            ..EngineOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runbook() -> Runbook {
        let toml = r#"
            [runbook]
            name = "t"
            [hosts.h1]
            transport = "local"
            [hosts.h2]
            transport = "local"
            [[service]]
            id = "db"
            hosts = ["h1"]
            [[service.check]]
            name = "c"
            run = "true"
            [[service]]
            id = "web"
            depends_on = ["db"]
            hosts = ["h2"]
            [[service.check]]
            name = "c"
            run = "true"
            [[service]]
            id = "other"
            hosts = ["h2"]
            [[service.check]]
            name = "c"
            run = "true"
        "#;
        crate::runbook::load_text(toml, Path::new("t.toml"), &[]).expect("valid")
    }

    #[test]
    fn a_selection_includes_dependencies_unless_it_checks_only() {
        let rb = runbook();
        let web = [ServiceId::new("web")];
        let sel = Selection::new(&rb, &web, Scope::Restore);
        let ids: Vec<&str> = sel.services(&rb).map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["db", "web"]);
        assert!(!sel.touches(&rb, &ServiceId::new("other")));
        let checks = Selection::new(&rb, &web, Scope::CheckOnly);
        let ids: Vec<&str> = checks.services(&rb).map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["web"]);
        let all = Selection::new(&rb, &[], Scope::Restore);
        assert_eq!(all.services(&rb).count(), 3);
    }

    #[test]
    fn a_journal_location_is_parsed_once() {
        assert_eq!(
            JournalLocation::parse(Path::new("j/run.jsonl")).expect("file"),
            JournalLocation::File(PathBuf::from("j/run.jsonl"))
        );
        let shared =
            JournalLocation::parse(Path::new("etcd://127.0.0.1:2379/pangyo")).expect("url");
        assert_eq!(shared.shared().map(|u| u.name.as_str()), Some("pangyo"));
        assert!(JournalLocation::parse(Path::new("etcd://")).is_err());
    }
}
