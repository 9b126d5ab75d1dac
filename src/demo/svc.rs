//! `bringup __demo-svc`: the hidden subcommand the demo runbook's commands call to stage a
//! folder and to serve, start, probe and stop simulated services. Arguments and dispatch only;
//! the work is in `stage` and `daemon`. Not part of SPEC's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::daemon::{self, Stopped};
use super::{DemoError, Layout};
use crate::Exit;
use crate::runbook::model::shell_quote;

#[derive(Debug, Args)]
pub struct SvcArgs {
    #[command(subcommand)]
    pub command: SvcCommand,
}

#[derive(Debug, Subcommand)]
pub enum SvcCommand {
    /// Stage a demo folder and print how to open its runbook.
    Stage {
        /// Default: a fresh folder under the system temp dir.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run a simulated service in the foreground (what `start` launches).
    Serve {
        name: String,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// 0 picks a free port; the chosen one is written to run/NAME.port.
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
        lifetime: Duration,
    },
    /// Start a simulated service detached and wait until it answers.
    Start {
        name: String,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
        lifetime: Duration,
        /// Fail this many first attempts (counted in state/NAME.attempts).
        #[arg(long, default_value_t = 0)]
        flaky: u32,
        /// The error a flaky attempt reports.
        #[arg(long, value_name = "TEXT")]
        why: Option<String>,
    },
    /// Print a service's health line; exit 1 when it is down.
    Probe {
        #[arg(required_unless_present = "port")]
        name: Option<String>,
        #[arg(long, value_name = "DIR", required_unless_present = "port")]
        dir: Option<PathBuf>,
        /// Probe 127.0.0.1:PORT instead of looking the name up.
        #[arg(long, conflicts_with = "dir")]
        port: Option<u16>,
    },
    /// Stop a simulated service (SIGTERM, then SIGKILL).
    Stop {
        name: String,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Stop every simulated service of a demo folder.
    StopAll {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Run `bringup __demo-svc …`; 0 on success, 1 when a service is down or did not start,
/// 2 for bad input.
pub fn main(args: &SvcArgs) -> ExitCode {
    match run(&args.command) {
        Ok(code) => code,
        Err(e) => {
            shout(&format!("bringup: {e}"));
            let code = match e {
                DemoError::BadName(_)
                | DemoError::NotDemoFolder { .. }
                | DemoError::NotUtf8 { .. } => Exit::BadInput.code(),
                _ => Exit::NotAllUp.code(),
            };
            ExitCode::from(code)
        }
    }
}

fn run(command: &SvcCommand) -> Result<ExitCode, DemoError> {
    match command {
        SvcCommand::Stage { dir } => {
            let staged = super::stage(dir.as_deref())?;
            say(&format!("demo folder: {}", staged.dir.display()));
            say(&format!("runbook:     {}", staged.runbook.display()));
            let runbook = staged.runbook.to_str().unwrap_or_default();
            say(&format!(
                "open it with: bringup open {}",
                shell_quote(runbook)
            ));
            say(&format!(
                "stop its services with: bringup __demo-svc stop-all --dir {}",
                shell_quote(staged.dir.to_str().unwrap_or_default())
            ));
            // Nothing runs yet, and the folder is meant to outlive this command.
            std::mem::forget(staged);
        }
        SvcCommand::Serve {
            name,
            dir,
            port,
            lifetime,
        } => daemon::serve(&Layout::new(dir), name, *port, *lifetime)?,
        SvcCommand::Start {
            name,
            dir,
            lifetime,
            flaky,
            why,
        } => {
            let exe = std::env::current_exe().map_err(DemoError::NoExe)?;
            let line = daemon::start(
                &Layout::new(dir),
                &exe,
                name,
                *lifetime,
                *flaky,
                why.as_deref(),
            )?;
            say(&line);
        }
        SvcCommand::Probe { name, dir, port } => {
            let answer = match (port, name, dir) {
                (Some(p), n, _) => daemon::probe_port(*p, n.as_deref()),
                (None, Some(n), Some(d)) => daemon::probe(&Layout::new(d), n),
                // clap requires a name with a dir, or a port.
                _ => return Ok(ExitCode::from(Exit::BadInput)),
            };
            return Ok(match answer {
                Ok(line) => {
                    say(&line);
                    ExitCode::SUCCESS
                }
                Err(down) => {
                    shout(&down.to_string());
                    ExitCode::from(Exit::NotAllUp)
                }
            });
        }
        SvcCommand::Stop { name, dir } => match daemon::stop(&Layout::new(dir), name)? {
            Stopped::Stopped(pid) => say(&format!("{name}: stopped (pid {pid})")),
            Stopped::NotRunning => say(&format!("{name}: was not running")),
        },
        SvcCommand::StopAll { dir } => {
            let n = daemon::stop_all(&Layout::new(dir))?;
            say(&format!("stopped {n} simulated service(s)"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Output that must not panic when stdout or stderr is closed (`| head`, a finished step).
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn shout(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
