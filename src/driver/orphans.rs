//! Resume, before anything runs: the steps that were in flight when bringup stopped. Each one
//! is looked for by its marker on its host; one still running is stopped (its process group:
//! SIGTERM, then SIGKILL after a grace), one gone ends `unknown`. Either way its
//! `step_finished` is journaled before the resumed run checks or restores anything.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Driver, Notice};
use crate::engine::StepOutcome;
use crate::exec::{MARKER_ANSWER, Marker};
use crate::journal::replay::InFlight;
use crate::journal::{Event, JournalError};
use crate::runbook::model::HostId;

/// Tenths of a second a stopped group gets between SIGTERM and SIGKILL.
const GRACE_TENTHS: u32 = 50;
/// How long one look at (or stop of) a marker may take on its host.
const MARKER_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a command the operator chose to wait for is looked at again.
const WAIT_POLL: Duration = Duration::from_millis(500);
/// How long to wait for a command whose step the runbook no longer names.
const WAIT_FALLBACK: Duration = Duration::from_secs(600);

/// What to do with a command still running since before bringup stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphan {
    /// Stop its process group now (SIGTERM, then SIGKILL).
    Stop,
    /// Let it finish (at most its step's timeout, then stop it), then check the service.
    Wait,
}

/// What a marker script answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Running(String),
    Stopped(String),
    Alive(String),
    Gone,
}

fn parse(lines: &[String]) -> Option<Answer> {
    let answer = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(MARKER_ANSWER))?;
    let (word, pgid) = answer.split_once(' ').unwrap_or((answer, ""));
    let pgid = pgid.trim().to_string();
    Some(match word {
        "running" => Answer::Running(pgid),
        "stopped" => Answer::Stopped(pgid),
        "alive" => Answer::Alive(pgid),
        _ => Answer::Gone,
    })
}

impl Driver {
    /// Settle the steps in flight at the crash (see the module's doc). `say` tells the
    /// operator, as it happens, that a command is still running and what becomes of it;
    /// `choose` decides, for each one still running, whether it is stopped or waited for
    /// (headless runs stop it; the TUI asks).
    pub async fn settle_in_flight(
        &mut self,
        run_id: &str,
        in_flight: &[InFlight],
        say: &mut dyn FnMut(String),
        choose: &mut dyn FnMut(&str) -> Orphan,
    ) -> Result<Vec<Notice>, JournalError> {
        self.set_run_id(run_id);
        let mut notices = Vec::new();
        for step in in_flight {
            let (outcome, error) = self.settle_one(run_id, step, say, choose).await;
            let written = self.write(Event::StepFinished {
                service: step.service.clone(),
                phase: step.phase,
                step: step.step.clone(),
                host: step.host.clone(),
                attempt: step.attempt,
                outcome,
                exit_code: None,
                duration_ms: 0,
                error: Some(error),
            });
            match written {
                Ok(n) => notices.push(n),
                Err(e) => return self.settle(Err(e)),
            }
            // On disk before anything else happens on the service.
            let r = self.settle(Ok(Vec::new()));
            notices.extend(r?);
        }
        Ok(notices)
    }

    /// Name markers by this run from now on (a resumed run keeps the id it began with).
    pub fn set_run_id(&mut self, run_id: &str) {
        self.run_id = Some(
            run_id
                .get(..crate::journal::replay::RUN_ID_LEN)
                .unwrap_or(run_id)
                .to_string(),
        );
    }

    /// The timeout of the runbook's step an in-flight record names.
    fn step_timeout(&self, step: &InFlight) -> Option<Duration> {
        self.step_ref(&step.service, step.phase, &step.step)?
            .step(&self.runbook)
            .map(|s| s.timeout)
    }

    /// Look at the marker until the command is gone or `limit` has passed: whether it ended.
    async fn wait_gone(&self, host: &HostId, marker: &Marker, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match self.ask_marker(host, &marker.probe_script()).await {
                Ok(Answer::Running(_)) => {}
                Ok(_) => return true,
                // The host cannot be asked: stop waiting, and try to stop it.
                Err(_) => return false,
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    async fn settle_one(
        &self,
        run_id: &str,
        step: &InFlight,
        say: &mut dyn FnMut(String),
        choose: &mut dyn FnMut(&str) -> Orphan,
    ) -> (StepOutcome, String) {
        let what = format!(
            "{} step '{}' of '{}' on '{}' (seq {})",
            step.phase, step.step, step.service, step.host, step.seq
        );
        let Some(marker) = Marker::new(run_id, step.seq) else {
            return (
                StepOutcome::Unknown,
                "in flight when bringup stopped; the run has no id to find its marker by, so its outcome is unknown".into(),
            );
        };
        match self.ask_marker(&step.host, &marker.probe_script()).await {
            Ok(Answer::Running(pgid)) => {
                let question = format!(
                    "{what} is still running on its host (process group {pgid}) since before bringup stopped"
                );
                let mut waited = None;
                if choose(&question) == Orphan::Wait {
                    let limit = self.step_timeout(step).unwrap_or(WAIT_FALLBACK);
                    say(format!(
                        "{question}; waiting for it to finish (at most its timeout, {}s) before anything else runs on '{}'",
                        limit.as_secs(),
                        step.service
                    ));
                    if self.wait_gone(&step.host, &marker, limit).await {
                        say(format!("{what}: finished on its own"));
                        return (
                            StepOutcome::Unknown,
                            format!(
                                "orphan: still running when the run resumed (process group {pgid} on '{}'); the operator chose to wait and it finished on its own, exit status unknown: the service is checked again",
                                step.host
                            ),
                        );
                    }
                    waited = Some(limit);
                }
                say(format!(
                    "{question}; stopping it before anything else runs on '{}'",
                    step.service
                ));
                let stopped = self.ask_marker(&step.host, &marker.stop_script(GRACE_TENTHS)).await;
                let how = match stopped {
                    Ok(Answer::Stopped(_)) => {
                        "stopped on resume (SIGTERM, then SIGKILL after 5s)".to_string()
                    }
                    Ok(Answer::Gone) => {
                        // It ended between the look and the stop: nothing was sent to it.
                        say(format!("{what}: already gone, nothing to stop"));
                        return (
                            StepOutcome::Unknown,
                            format!(
                                "orphan: still running when the run resumed (process group {pgid} on '{}'), already gone when bringup came to stop it (nothing was sent): exit status unknown; the service is checked again",
                                step.host
                            ),
                        );
                    }
                    Ok(Answer::Alive(_) | Answer::Running(_)) => {
                        "it survived SIGTERM and SIGKILL and may still be running: check the host"
                            .to_string()
                    }
                    Err(e) => format!("stopping it failed ({e}); it may still be running: check the host"),
                };
                let how = match waited {
                    Some(limit) => format!("waited {}s, its timeout; then {how}", limit.as_secs()),
                    None => how,
                };
                say(format!("{what}: {how}"));
                (
                    StepOutcome::Error,
                    format!(
                        "orphan: still running when the run resumed (process group {pgid} on '{}'); {how}",
                        step.host
                    ),
                )
            }
            Ok(_) => (
                StepOutcome::Unknown,
                "in flight when bringup stopped and already gone when the run resumed (no process of its group runs on its host; nothing was stopped): outcome unknown; the service is checked again".into(),
            ),
            Err(e) => (
                StepOutcome::Unknown,
                format!(
                    "in flight when bringup stopped; its marker could not be looked for ({e}): outcome unknown"
                ),
            ),
        }
    }

    /// Run a marker script on `host` and read its answer.
    async fn ask_marker(&self, host: &HostId, script: &str) -> Result<Answer, String> {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
        let collect = tokio::spawn(async move {
            // The answer is a few short lines: keep a bounded prefix of the output.
            let mut bytes = Vec::new();
            while let Some(chunk) = rx.recv().await {
                if bytes.len() < 64 * 1024 {
                    bytes.extend_from_slice(&chunk);
                }
            }
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
        let result = self
            .exec
            .run(host, script, MARKER_TIMEOUT, tx, CancellationToken::new())
            .await;
        let lines = collect.await.unwrap_or_default();
        if result.outcome != StepOutcome::Ok {
            return Err(result
                .error
                .unwrap_or_else(|| format!("the look ended {}", result.outcome)));
        }
        parse(&lines).ok_or_else(|| "no answer from the host's shell".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::testkit;
    use crate::engine::Phase;
    use crate::runbook::model::ServiceId;

    /// A real process group that ends between the look that finds it running and the stop
    /// (the operator's answer is where it ends): the stop sends nothing and says so.
    #[tokio::test]
    async fn an_orphan_gone_before_it_is_stopped_is_journaled_as_already_gone() {
        use std::os::unix::process::CommandExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[runbook]\nname = \"orphans\"\n\n[hosts.box]\ntransport = \"local\"\n{}",
            testkit::db_service(&dir.path().display().to_string())
        );
        let path = testkit::write_runbook(dir.path(), "r.toml", text, false);
        let mut opened = testkit::open_session(dir.path(), &path, "kim", Vec::new());

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("sleep");
        let pgid = child.id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let run_id = format!("{pgid:08x}{nanos:08x}");
        let seq = 7;
        let folder =
            std::path::PathBuf::from(std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into()))
                .join(format!("bringup-{}", nix::unistd::getuid()));
        std::fs::create_dir_all(&folder).expect("marker folder");
        let marker = folder.join(format!("{run_id}-{seq}.pid"));
        std::fs::write(&marker, format!("{pgid}\n")).expect("marker");

        let in_flight = [InFlight {
            service: ServiceId::new("db"),
            phase: Phase::Restore,
            step: "start db".into(),
            host: HostId::new("box"),
            attempt: 1,
            seq,
        }];
        let mut said = Vec::new();
        let mut asked = 0;
        opened
            .driver
            .settle_in_flight(&run_id, &in_flight, &mut |s| said.push(s), &mut |_| {
                asked += 1;
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(i32::try_from(pgid).expect("pid")),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = child.wait();
                Orphan::Stop
            })
            .await
            .expect("journaled");
        assert_eq!(asked, 1, "the look found it running");

        let read = crate::journal::read_journal(&opened.journal).expect("journal");
        let error = read
            .records
            .iter()
            .find_map(|r| match &r.event {
                Event::StepFinished { outcome, error, .. } => Some((*outcome, error.clone())),
                _ => None,
            })
            .expect("a step_finished");
        assert_eq!(error.0, StepOutcome::Unknown);
        let error = error.1.unwrap_or_default();
        assert!(error.contains("already gone"), "{error}");
        assert!(!error.contains("stopped on resume"), "{error}");
        assert!(said.iter().any(|s| s.contains("already gone")), "{said:?}");
        assert!(!marker.exists(), "the stale marker is removed");
    }

    #[test]
    fn marker_answers_are_read_from_the_scripts_lines() {
        let lines = |l: &str| vec!["noise".to_string(), l.to_string()];
        assert_eq!(
            parse(&lines("bringup-marker=running 4242")),
            Some(Answer::Running("4242".into()))
        );
        assert_eq!(parse(&lines("bringup-marker=gone")), Some(Answer::Gone));
        assert_eq!(
            parse(&lines("bringup-marker=stopped 7")),
            Some(Answer::Stopped("7".into()))
        );
        assert_eq!(parse(&["hello".to_string()]), None);
    }
}
