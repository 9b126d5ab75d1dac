//! `bringup approve`, `note` and `done` on `JOURNAL|URL`: an operator asks the process
//! executing a run, which journals it under their name (SPEC "Shared runs (etcd)", "One
//! picture of the run"). A shared run is reached through etcd from any machine, a
//! file-journal run through its socket (`cmd/local.rs`); [`Target`] is either. Also the
//! attached side of the etcd protocol that `attach` uses: the runbook kept in the run, the
//! executor's live view, requests and their answers.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{ApproveArgs, DoneArgs, NoteArgs, SharedRunArgs};
use crate::cmd::local::Local;
use crate::cmd::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP};
use crate::driver::{Ask, LiveView};
use crate::engine::{Decision, ManualOutcome, StepRef, Waiting};
use crate::journal::etcd::shared::{self, Answer, Holder, Posted};
use crate::journal::etcd::{Access, Etcd, EtcdStore, RunUrl};
use crate::journal::record;
use crate::runbook::model::Runbook;
use crate::session::{JournalLocation, KeptRun};

/// How long a headless request waits for the executing process to carry it out.
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// How long `approve` waits for the step to be asked before saying it is not.
const VIEW_WAIT: Duration = Duration::from_secs(5);

/// What went wrong, and the exit code it means.
pub(crate) struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub fn input(message: impl std::fmt::Display) -> Failure {
        Failure {
            message: message.to_string(),
            code: EXIT_BAD_INPUT,
        }
    }

    pub fn refused(message: impl std::fmt::Display) -> Failure {
        Failure {
            message: message.to_string(),
            code: EXIT_NOT_ALL_UP,
        }
    }
}

/// A small current-thread runtime for a one-shot command's etcd requests (the command has
/// no runtime of its own). One per command: connections belong to the runtime they were
/// made on.
pub(crate) fn edge_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::input(format!("cannot start the async runtime: {e}")))
}

/// An operator's connection to a shared run they do not execute (async: awaited on the
/// caller's runtime).
pub(crate) struct Attached {
    pub url: RunUrl,
    pub operator: String,
    /// `--sign-key`: sign requests with this key file, not the agent's first key.
    sign_key: Option<std::path::PathBuf>,
    access: Access,
    etcd: Etcd,
}

impl Attached {
    pub async fn connect(args: &SharedRunArgs) -> Result<Attached, Failure> {
        let url = RunUrl::parse(&args.url).map_err(Failure::input)?;
        let access = Access::from_args(&args.etcd);
        let etcd = Etcd::connect_with(&url.endpoints, &access)
            .await
            .map_err(|e| Failure::input(format!("shared run '{url}': {e}")))?;
        let operator = crate::cmd::session::operator_name(args.operator.as_deref());
        Ok(Attached {
            url,
            operator,
            sign_key: args.sign_key.clone(),
            access,
            etcd,
        })
    }

    /// A store on the same run (to read its events).
    pub async fn store(&self) -> Result<EtcdStore, Failure> {
        EtcdStore::open_with(&self.url, &self.access)
            .await
            .map_err(Failure::input)
    }

    async fn key(&mut self, name: &str) -> Result<Option<Vec<u8>>, Failure> {
        shared::read_key(&mut self.etcd, &self.url, name)
            .await
            .map_err(Failure::input)
    }

    /// Who executes the run now.
    pub async fn holder(&mut self) -> Result<Option<Holder>, Failure> {
        Ok(self
            .key("executor")
            .await?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// The executing process's view of the services, if one is executing.
    pub async fn live(&mut self) -> Result<Option<LiveView>, Failure> {
        Ok(self
            .key("live")
            .await?
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// The store's revision now: [`Attached::follow`] from the one after it misses nothing.
    pub async fn revision(&mut self) -> Result<i64, Failure> {
        let key = format!("{}executor", self.url.prefix());
        self.etcd
            .range(key.as_bytes(), None, 1)
            .await
            .map(|r| r.revision)
            .map_err(|e| Failure::input(format!("shared run '{}': {e}", self.url)))
    }

    /// Call `changed` after each batch of changes under the run's keys (events, the executor
    /// key, its view, requests and answers) from revision `from` on, as etcd commits them,
    /// until it returns false. Gives up when no member has served the watch for 10 s.
    pub async fn follow(
        &self,
        from: i64,
        mut changed: impl FnMut() -> bool,
    ) -> Result<(), Failure> {
        let prefix = self.url.prefix().into_bytes();
        let end = crate::journal::etcd::prefix_end(&prefix);
        self.etcd
            .watch(&prefix, Some(&end), from, |_| changed())
            .await
            .map_err(|e| Failure::input(format!("shared run '{}': {e}", self.url)))
    }

    /// The runbook the run executes, from the text it keeps, with the variables its
    /// `run_started` recorded (secret ones masked).
    pub async fn runbook(&mut self) -> Result<Runbook, Failure> {
        let kept = self.runbook_text().await?;
        let name = format!("{} (runbook)", self.url);
        crate::runbook::load_text(&kept.text, Path::new(&name), &kept.vars)
            .map_err(|d| Failure::input(format!("the runbook kept in '{}':\n{d}", self.url)))
    }

    /// The runbook's text as the run keeps it, and what its `run_started` recorded.
    pub async fn runbook_text(&mut self) -> Result<KeptRun, Failure> {
        let Some(text) = self.key("runbook").await? else {
            return Err(Failure::input(format!(
                "shared run '{}' keeps no runbook (has it started?); check the URL's NAME",
                self.url
            )));
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        let first = self
            .store()
            .await?
            .first_line()
            .await
            .map_err(Failure::input)?
            .and_then(|line| record::parse(&line).ok());
        Ok(KeptRun::new(text, first.as_ref().map(|r| &r.event)))
    }

    /// `ask` signed for this run (SPEC "Who did it"): see [`sign_ask`].
    async fn sign(&mut self, ask: &Ask) -> Result<crate::identity::SignedRequest, Failure> {
        let first = self
            .store()
            .await?
            .first_line()
            .await
            .map_err(Failure::input)?;
        let Some(run_hash) = first.and_then(|l| record::parse(&l).ok()).map(|r| r.hash) else {
            return Err(Failure::input(format!(
                "shared run '{}' has no run_started yet; wait for it to start",
                self.url
            )));
        };
        sign_ask(
            &self.url.name,
            &run_hash,
            &self.operator,
            ask,
            self.sign_key.clone(),
        )
        .await
    }

    /// Leave `ask` for the executing process and wait for what became of it.
    pub async fn ask(&mut self, ask: &Ask, wait: Duration) -> Result<Answer, Failure> {
        if self.holder().await?.is_none() {
            return Err(Failure::refused(format!(
                "no process executes '{}' now (its lease has ended); take it over with `bringup run RUNBOOK --resume {}`",
                self.url, self.url
            )));
        }
        let signed = self.sign(ask).await?;
        let posted = Posted {
            operator: self.operator.clone(),
            ask: serde_json::to_value(ask).map_err(Failure::input)?,
            signed: Some(signed),
        };
        let id = shared::post_request(&mut self.etcd, &self.url, &posted)
            .await
            .map_err(Failure::input)?;
        let answer = shared::await_answer(&mut self.etcd, &self.url, &id, wait)
            .await
            .map_err(Failure::input)?;
        match answer {
            Some(answer) => Ok(answer),
            None => Err(Failure::refused(format!(
                "the executing process did not take the request within {} s; it stays queued and may still be carried out",
                wait.as_secs()
            ))),
        }
    }
}

fn exit(result: Result<String, Failure>) -> ExitCode {
    match result {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("bringup: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

pub fn approve(args: &ApproveArgs) -> ExitCode {
    exit(edge_runtime().and_then(|rt| rt.block_on(approve_inner(args))))
}

/// The run a command acts on: a shared run in etcd, or a file-journal run's socket.
pub(crate) enum Target {
    Shared(Box<Attached>),
    Local(Local),
}

impl Target {
    pub async fn connect(args: &SharedRunArgs) -> Result<Target, Failure> {
        match JournalLocation::parse(Path::new(&args.url)).map_err(Failure::input)? {
            JournalLocation::Shared(_) => {
                Ok(Target::Shared(Box::new(Attached::connect(args).await?)))
            }
            JournalLocation::File(path) => {
                let operator = crate::cmd::session::operator_name(args.operator.as_deref());
                Local::open(&path, operator, args.sign_key.clone()).map(Target::Local)
            }
        }
    }

    /// The run as the operator named it.
    pub fn name(&self) -> String {
        match self {
            Target::Shared(run) => run.url.to_string(),
            Target::Local(run) => run.journal.display().to_string(),
        }
    }

    pub fn operator(&self) -> &str {
        match self {
            Target::Shared(run) => &run.operator,
            Target::Local(run) => &run.operator,
        }
    }

    pub async fn runbook(&mut self) -> Result<Runbook, Failure> {
        match self {
            Target::Shared(run) => run.runbook().await,
            Target::Local(run) => run.runbook().await,
        }
    }

    pub async fn live(&mut self) -> Result<Option<LiveView>, Failure> {
        match self {
            Target::Shared(run) => run.live().await,
            Target::Local(run) => run.live().await,
        }
    }

    pub async fn ask(&mut self, ask: &Ask, wait: Duration) -> Result<Answer, Failure> {
        match self {
            Target::Shared(run) => run.ask(ask, wait).await,
            Target::Local(run) => run.ask(ask, wait).await,
        }
    }
}

/// Which question a command answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    Approval,
    Manual,
}

impl Question {
    fn words(self) -> &'static str {
        match self {
            Question::Approval => "an approval",
            Question::Manual => "a manual step",
        }
    }

    fn asked(self, waiting: &Waiting) -> Option<&StepRef> {
        match (self, waiting) {
            (Question::Approval, Waiting::Approval { step, .. })
            | (Question::Manual, Waiting::Manual { step, .. }) => Some(step),
            _ => None,
        }
    }
}

/// The step of `service` named `name` that the run waits on for `question`, as the
/// executing process's view says (given a few seconds to come up).
async fn waiting_step(
    run: &mut Target,
    runbook: &Runbook,
    service: &str,
    name: &str,
    question: Question,
) -> Result<StepRef, Failure> {
    // The executor's view trails its journal by a moment: give a step that is just coming
    // up a few seconds to be asked.
    let deadline = std::time::Instant::now() + VIEW_WAIT;
    let live = loop {
        let live = run.live().await?;
        let waits = live.as_ref().is_some_and(|l| {
            l.services.iter().any(|s| {
                s.id.as_str() == service
                    && s.waiting
                        .as_ref()
                        .and_then(|w| question.asked(w))
                        .is_some_and(|step| step.name(runbook) == name)
            })
        });
        if waits || std::time::Instant::now() >= deadline {
            break live;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let live = live.ok_or_else(|| {
        Failure::refused(format!(
            "no process executes '{}' now; nothing waits for {}",
            run.name(),
            question.words()
        ))
    })?;
    let Some(found) = live.services.iter().find(|s| s.id.as_str() == service) else {
        let known: Vec<&str> = live.services.iter().map(|s| s.id.as_str()).collect();
        return Err(Failure::input(format!(
            "the run has no service '{service}'; it has: {}",
            known.join(", ")
        )));
    };
    match found.waiting.as_ref().and_then(|w| question.asked(w)) {
        Some(step) if step.name(runbook) == name => Ok(step.clone()),
        Some(step) => Err(Failure::refused(format!(
            "service '{service}' waits for {} of '{}', not of '{name}'",
            question.words(),
            step.name(runbook),
        ))),
        None => Err(Failure::refused(format!(
            "service '{service}' is not waiting for {} (it is {})",
            question.words(),
            found.state.as_str()
        ))),
    }
}

fn seq_of(answer: &Answer) -> String {
    answer
        .seq
        .map(|s| format!(" (seq {s})"))
        .unwrap_or_default()
}

async fn approve_inner(args: &ApproveArgs) -> Result<String, Failure> {
    let mut run = Target::connect(&args.run).await?;
    let runbook = run.runbook().await?;
    let step = waiting_step(
        &mut run,
        &runbook,
        &args.service,
        &args.step,
        Question::Approval,
    )
    .await?;
    let decision = if args.decline {
        Decision::Declined
    } else {
        Decision::Approved
    };
    let answer = run
        .ask(&Ask::Approval { step, decision }, ANSWER_WAIT)
        .await?;
    if let Some(why) = answer.refused {
        return Err(Failure::refused(why));
    }
    let word = if args.decline { "declined" } else { "approved" };
    Ok(format!(
        "{word} '{}' of {} as {}{}",
        args.step,
        args.service,
        run.operator(),
        seq_of(&answer)
    ))
}

pub fn done(args: &DoneArgs) -> ExitCode {
    exit(edge_runtime().and_then(|rt| rt.block_on(done_inner(args))))
}

async fn done_inner(args: &DoneArgs) -> Result<String, Failure> {
    if args.failed.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(Failure::input(
            "--failed needs a reason: say why the step could not be done",
        ));
    }
    let mut run = Target::connect(&args.run).await?;
    let runbook = run.runbook().await?;
    let step = waiting_step(
        &mut run,
        &runbook,
        &args.service,
        &args.step,
        Question::Manual,
    )
    .await?;
    let outcome = match args.failed {
        Some(_) => ManualOutcome::Failed,
        None => ManualOutcome::Done,
    };
    let answer = run.ask(&Ask::Manual { step, outcome }, ANSWER_WAIT).await?;
    if let Some(why) = answer.refused {
        return Err(Failure::refused(why));
    }
    let Some(reason) = &args.failed else {
        return Ok(format!(
            "marked '{}' of {} done as {}{}",
            args.step,
            args.service,
            run.operator(),
            seq_of(&answer)
        ));
    };
    // The reason goes on the timeline beside the outcome (the `manual` event has none).
    let note = Ask::Note {
        text: format!(
            "manual step '{}' of {} failed: {reason}",
            args.step, args.service
        ),
    };
    let noted = run.ask(&note, ANSWER_WAIT).await?;
    if let Some(why) = noted.refused {
        return Err(Failure::refused(format!(
            "'{}' of {} is marked failed{}, but its reason was not noted: {why}",
            args.step,
            args.service,
            seq_of(&answer)
        )));
    }
    Ok(format!(
        "marked '{}' of {} failed as {}{}",
        args.step,
        args.service,
        run.operator(),
        seq_of(&answer)
    ))
}

pub fn note(args: &NoteArgs) -> ExitCode {
    exit(edge_runtime().and_then(|rt| rt.block_on(note_inner(args))))
}

async fn note_inner(args: &NoteArgs) -> Result<String, Failure> {
    let mut run = Target::connect(&args.run).await?;
    let answer = run
        .ask(
            &Ask::Note {
                text: args.text.clone(),
            },
            ANSWER_WAIT,
        )
        .await?;
    if let Some(why) = answer.refused {
        return Err(Failure::refused(why));
    }
    Ok(format!(
        "note added to {} as {}{}",
        run.name(),
        run.operator(),
        seq_of(&answer)
    ))
}

/// `ask` signed for the run named `run` whose `run_started` hash is `run_hash` (SPEC "Who did
/// it"): with `--sign-key`, or the agent's first key; with neither an agent nor `--sign-key`,
/// unsigned (a run with allowed signers refuses it, one without takes it as unverified).
pub(crate) async fn sign_ask(
    run: &str,
    run_hash: &str,
    operator: &str,
    ask: &Ask,
    sign_key: Option<std::path::PathBuf>,
) -> Result<crate::identity::SignedRequest, Failure> {
    use crate::identity::{self, RequestMessage, SignError};
    use crate::journal::seal::SigningKey;
    let message = RequestMessage::new(run, run_hash, operator, chrono::Utc::now(), ask.clone())
        .map_err(Failure::input)?;
    // ssh-keygen is a process: run it off the runtime's threads.
    tokio::task::spawn_blocking(move || match sign_key {
        Some(path) => identity::sign(&message, &SigningKey::File(path)).map_err(Failure::input),
        None => match identity::sign(&message, &SigningKey::Agent) {
            Ok(signed) => Ok(signed),
            Err(SignError::NoAgent | SignError::AgentEmpty) => {
                tracing::warn!("no key to sign the request with: sending it unsigned");
                identity::unsigned(&message).map_err(Failure::input)
            }
            Err(e) => Err(Failure::input(e)),
        },
    })
    .await
    .map_err(|e| Failure::input(format!("signing the request: {e}")))?
}
