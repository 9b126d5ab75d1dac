//! Command-line definitions (clap). Parsing only: no IO, no validation beyond clap's.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "bringup",
    version,
    about = "Restore services after a large outage, in runbook order, with a tamper-evident timeline.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// `bringup RUNBOOK` is `bringup open RUNBOOK`.
    #[arg(value_name = "RUNBOOK")]
    pub runbook: Option<PathBuf>,

    #[command(flatten)]
    pub open: OpenArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stage a simulated datacenter on this machine and open the TUI on it.
    Demo(DemoArgs),
    /// Open a runbook in the TUI.
    Open(OpenCmd),
    /// Headless: check, then restore in order, printing progress.
    Run(RunArgs),
    /// A scenario drill in the TUI: baseline, inject, detect, restore, cleanup (headless:
    /// `run --drill --scenario ID`). Without --scenario, lists the runbook's scenarios.
    Drill(DrillCmd),
    /// Validate a runbook and print its plan (tiers, parallel waves).
    Validate(ValidateArgs),
    /// Print the dependency and tier graph.
    Plan(PlanArgs),
    /// Make a report from a journal.
    Export(ExportArgs),
    /// History across drills and incidents: time to restore over time, RTO met rate, last
    /// drilled, readiness scores, services past drill_every.
    Report(ReportArgs),
    /// Check a journal's hash chain (and its seal, with --allowed-signers), in a file or a
    /// shared run in etcd.
    Verify(VerifyArgs),
    /// Copy a shared run from etcd into a journal file that verifies on its own.
    Pull(PullArgs),
    /// Open the TUI on a running run (a shared run from any machine, a journal file's run
    /// through its socket): live state, output and timeline; what you ask is carried out
    /// and journaled under your name by the executing process.
    Attach(AttachArgs),
    /// Approve (or --decline) a step a running run waits on (journal file or shared run).
    Approve(ApproveArgs),
    /// Add a note to a running run's timeline (journal file or shared run).
    Note(NoteArgs),
    /// Mark a manual step a running run waits on done (or --failed REASON).
    Done(DoneArgs),
    /// Run the declared undo of a service's restore steps, newest first, on the hosts where
    /// each succeeded: asked of a running run, or appended to a finished journal.
    Undo(UndoArgs),
    /// Write a step's output exactly as it printed it, from a journal and its side files.
    Output(OutputArgs),
    /// Sign a journal's head (last seq and hash) with an SSH key, into JOURNAL.sig.
    Seal(SealArgs),
    /// Readiness without changing anything: hosts reachable, host keys, authentication,
    /// commands present, sudo; with --checks the checks too. Exit 0 ready, 1 not.
    Preflight(PreflightArgs),
    /// Print a shell completion script: `source <(bringup completions bash)`.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `bringup man | man -l -`.
    Man,
    /// Print the runbook format's JSON Schema (for editors: `#:schema` in the runbook).
    Schema,
    /// Internal: the simulated services of `bringup demo` (its runbook's commands call this).
    #[command(name = "__demo-svc", hide = true)]
    DemoSvc(crate::demo::svc::SvcArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub open: OpenArgs,
    /// Where the simulated datacenter lives (default: a fresh folder under the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// With --drill: the scenario to drill on the simulated datacenter, brought up first
    /// (default: 'dc-loss', the whole datacenter lost).
    #[arg(long, value_name = "ID", requires = "drill", conflicts_with = "only")]
    pub scenario: Option<String>,
}

#[derive(Debug, Args)]
pub struct DrillCmd {
    /// The runbook (TOML) whose scenario to drill.
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    /// The `[[scenario]]` id to drill (without it: list them; with --resume: the journal's).
    #[arg(long, value_name = "ID", conflicts_with = "only")]
    pub scenario: Option<String>,
    #[command(flatten)]
    pub open: OpenArgs,
}

#[derive(Debug, Args)]
pub struct OpenCmd {
    /// The runbook (TOML) to open.
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    #[command(flatten)]
    pub open: OpenArgs,
}

/// Options shared by `open`, `demo` and `run`.
// Each flag is an independent command-line switch, not a state to fold into an enum.
/// Where runbook variables come from: on the command line, or (for secrets) from the
/// environment or a file, so a value need not be in argv or shell history.
/// Its `Debug` shows `--var` values as `***`: any may be a secret.
#[derive(Args, Clone, Default)]
pub struct VarArgs {
    /// Set a runbook variable (repeatable): --var site=pangyo
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Set a runbook variable from an environment variable (repeatable): --var-env
    /// token=OPS_TOKEN. Keeps a secret out of argv and shell history.
    #[arg(long = "var-env", value_name = "KEY=ENVNAME")]
    pub var_env: Vec<String>,
    /// Set a runbook variable from a file's contents (repeatable): --var-file
    /// key=/run/secrets/key. One trailing newline (\n or \r\n) is removed, as most tools
    /// that read secret files do; any other whitespace is kept.
    #[arg(long = "var-file", value_name = "KEY=PATH")]
    pub var_file: Vec<String>,
}

impl std::fmt::Debug for VarArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .vars
            .iter()
            .map(|spec| format!("{}=***", spec.split_once('=').map_or("", |(k, _)| k)))
            .collect();
        f.debug_struct("VarArgs")
            .field("vars", &keys)
            .field("var_env", &self.var_env)
            .field("var_file", &self.var_file)
            .finish()
    }
}

#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args, Clone, Default)]
pub struct OpenArgs {
    #[command(flatten)]
    pub vars: VarArgs,
    /// Journal file (default: journal/<runbook stem>-<UTC time>.jsonl), or a shared run in
    /// etcd: etcd://HOST:PORT[,HOST:PORT…]/NAME.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Continue a run recorded in this journal, or take over a shared run (etcd://…/NAME)
    /// once its executing process is gone.
    #[arg(long, value_name = "JOURNAL", conflicts_with = "journal")]
    pub resume: Option<PathBuf>,
    /// With --resume: continue even though the runbook changed since the journal began.
    #[arg(long, requires = "resume")]
    pub force: bool,
    #[command(flatten)]
    pub etcd: EtcdArgs,
    /// Who is at the keyboard (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// The allowed signers (OpenSSH allowed_signers format, principal = operator name) that
    /// requests from other processes are checked against; overrides `[runbook] operators`.
    #[arg(long, value_name = "FILE")]
    pub operators: Option<PathBuf>,
    /// Restrict to this service (repeatable).
    #[arg(long = "only", value_name = "SERVICE")]
    pub only: Vec<String>,
    /// Accept and record host keys not yet known (changed keys are never accepted).
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Drill mode: the run is recorded as a drill, and inject steps are available.
    #[arg(long)]
    pub drill: bool,
    /// Diagnostics log (default: bringup.log in the journal's folder; a shared run's in
    /// $XDG_STATE_HOME/bringup/NAME.log, else ~/.local/state/bringup/; level from RUST_LOG).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// `open`, `demo`, `drill`: lines of plain text instead of the full-screen view, with no
    /// box drawing or colour, one event per line, every state a word (for a screen reader).
    /// Answer with a key and Enter, or a command such as `restore mail`; `help` lists them.
    /// (`run` prints lines already.)
    #[arg(long)]
    pub plain: bool,
    /// Seal the journal when the run ends (as `bringup seal`; the ssh-agent's first key).
    #[arg(long)]
    pub seal: bool,
    /// With --seal: sign with this key file instead of the agent's first key.
    #[arg(long, value_name = "KEY", requires = "seal")]
    pub seal_key: Option<PathBuf>,
    /// With allowed signers (`[runbook] operators`, `--operators`): the key that proves who
    /// executes the run, recorded in `run_started` (or a take-over's `resumed`). Default: the
    /// ssh-agent's first key, when there is one.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// When the incident really began, for outages and RTO: RFC 3339
    /// (2026-11-22T06:10:00Z) or relative to now (-90m, -2h). Default: the run's start.
    /// Recorded when the run starts: a resumed run keeps the start its journal holds.
    #[arg(
        long,
        value_name = "TIME",
        allow_hyphen_values = true,
        conflicts_with = "resume"
    )]
    pub incident_start: Option<String>,
    /// The scenario a drill runs (`run --scenario`, `drill --scenario`), set by the command
    /// that takes it: the engine restores only its services, `run_started` records it.
    #[arg(skip)]
    pub scenario: Option<String>,
    /// Set by attach's `T`: this resume is an operator's take-over, journaled as such.
    #[arg(skip)]
    pub hand_over: Option<crate::journal::event::HandOver>,
}

// Each flag is an independent command-line switch, not a state to fold into an enum.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The runbook (TOML) to run.
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    #[command(flatten)]
    pub open: OpenArgs,
    /// Approve every `confirm` step (journaled as approvals by the operator).
    #[arg(long)]
    pub yes: bool,
    /// With no terminal, leave `confirm` and manual steps waiting for an operator who
    /// answers through the run's socket (`bringup approve|done|attach JOURNAL`) instead of
    /// declining them or leaving their services blocked.
    #[arg(long)]
    pub wait_for_operators: bool,
    /// Print every command per host and check reachability, host keys and authentication; change nothing.
    #[arg(long, conflicts_with = "check_only")]
    pub dry_run: bool,
    /// Run the checks only and print a table of states.
    #[arg(long)]
    pub check_only: bool,
    /// Progress as text, or one journal event per line (json).
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    pub format: RunFormat,
    /// With --drill: run this `[[scenario]]` (baseline, inject, detect, restore, cleanup);
    /// exit 0 when the drill passed, 1 when it failed.
    #[arg(
        long,
        value_name = "ID",
        requires = "drill",
        conflicts_with_all = ["only", "check_only", "dry_run"]
    )]
    pub scenario: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// Progress lines for a person.
    Text,
    /// One journal event per line.
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The runbook (TOML) to validate.
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// The runbook (.toml) whose hosts and steps to check.
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    /// Run the services' checks too (read only) and report each service's state.
    #[arg(long)]
    pub checks: bool,
    /// A table (text), or one JSON document for cron and CI.
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    pub format: RunFormat,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Restrict to this service's hosts and steps (repeatable).
    #[arg(long = "only", value_name = "SERVICE")]
    pub only: Vec<String>,
    #[command(flatten)]
    pub sites: SiteArgs,
}

/// Preflight against the loss of a site (SPEC "Sites and witnesses").
#[derive(Debug, Args)]
pub struct SiteArgs {
    /// List everything the run needs from this [sites] entry (default: [runbook] lost_site),
    /// without connecting anywhere; exit 1 when anything.
    #[arg(long, value_name = "SITE")]
    pub lost_site: Option<String>,
    /// Also probe the hosts, refusing inside bringup every connection to the lost site's
    /// addresses, so the table shows what still works without it.
    #[arg(long)]
    pub simulate: bool,
    /// The journal the run would write: a file, or a shared run's etcd://… URL (its members
    /// and its filesystem are checked).
    #[arg(long, value_name = "JOURNAL")]
    pub journal: Option<PathBuf>,
    /// The resolver configuration to check (default /etc/resolv.conf).
    #[arg(long, value_name = "FILE", default_value = crate::sites::environment::RESOLV_CONF)]
    pub resolv_conf: PathBuf,
    /// The mount table to check for network filesystems (default /proc/mounts).
    #[arg(long, value_name = "FILE", default_value = crate::sites::environment::MOUNTS)]
    pub mounts: PathBuf,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The runbook (TOML) to plan.
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    /// Text, or a Mermaid or Graphviz (dot) graph to paste into a document.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Tiers and parallel waves as text.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz graph.
    Dot,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The journal (.jsonl) that `bringup run` or `bringup open` wrote, or a shared run:
    /// etcd://HOST:PORT[,HOST:PORT…]/NAME.
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
    /// The report to make.
    #[arg(long, value_enum, default_value_t = ExportFormat::Markdown)]
    pub format: ExportFormat,
    /// Write here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A drill's scorecard says whether the journal is sealed and verified against these
    /// signers (OpenSSH allowed_signers format); without it, a seal is not checked.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The post-mortem draft.
    Markdown,
    /// One document: run metadata, per-service state intervals and metrics, the events.
    Json,
    /// One self-contained file: the post-mortem and a chart of each service's states.
    Html,
    /// One row per event.
    Csv,
    /// The customer-facing notice: available now, still recovering.
    Status,
    /// The functions as Atlassian Statuspage components (operational … major_outage), as JSON.
    StatusJson,
    /// A draft of the user notice after a long outage: fact, cause, actions, contact.
    Notice,
    /// A scenario drill's scorecard (markdown): detect and restore times per injected
    /// service against its RTO, guards tripped, the critical path, passed or failed.
    Scorecard,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The journals (.jsonl) of drills and incidents; any that does not verify is left out
    /// and named with why.
    #[arg(value_name = "JOURNAL", required = true, num_args = 1..)]
    pub journals: Vec<PathBuf>,
    /// The report's format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// "Now" for the scores' decay and drill_every, RFC 3339 (2026-11-22T08:00:00Z).
    /// Default: the time the report runs. A journal dated more than 5 minutes after it is
    /// not counted.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Count only journals sealed and verified against these signers (OpenSSH
    /// allowed_signers format); the others are listed as not counted, with why.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// Check this runbook (repeatable) against the loss of its [runbook] lost_site: one that
    /// depends on it is reported not ready, whatever its drills say.
    #[arg(long = "runbook", value_name = "RUNBOOK")]
    pub runbooks: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Tables for a document or a ticket.
    Markdown,
    /// One self-contained page with a time-to-restore chart per service.
    Html,
    /// One document, for scripts and dashboards.
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The journal (.jsonl) to check, or a shared run: etcd://HOST:PORT[,HOST:PORT…]/NAME.
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
    /// Check the seal (JOURNAL.sig) against these signers (OpenSSH allowed_signers format).
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// A witness of the run (a runbook's [[witness]] path or etcd:// URL): fail unless the
    /// journal's chain holds every head it kept for this run. Repeatable.
    #[arg(long = "witness", value_name = "DIR|URL")]
    pub witness: Vec<String>,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The shared run: etcd://HOST:PORT[,HOST:PORT…]/NAME (members tried in turn).
    #[arg(value_name = "URL")]
    pub url: String,
    /// The journal file to write (replaced whole, never left half written).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// Which run, and who asks, for the commands that act on a run another process executes.
#[derive(Debug, Clone, Args)]
pub struct SharedRunArgs {
    /// The run: the journal file a running `run` or `open` writes (reached through
    /// JOURNAL.sock), or a shared run etcd://HOST:PORT[,HOST:PORT…]/NAME.
    #[arg(value_name = "JOURNAL|URL")]
    pub url: String,
    /// Who is asking, journaled with what the executing process does for you (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// Sign requests with this key file (namespace bringup-request) instead of the
    /// ssh-agent's first key.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub run: SharedRunArgs,
    /// For a take-over (`T` once no process executes the run): the runbook's variables, on
    /// top of those the run recorded (secrets are never recorded: give them here).
    #[command(flatten)]
    pub vars: VarArgs,
    /// For a take-over: accept and record host keys not yet known.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Watch only: the screen sends nothing (no approval, note, auto mode or take-over), and
    /// no key is needed. For observers, auditors and a second screen.
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub run: SharedRunArgs,
    /// The service whose step waits for an approval.
    #[arg(long, value_name = "ID")]
    pub service: String,
    /// The step's name, as the runbook gives it.
    #[arg(long, value_name = "NAME")]
    pub step: String,
    /// Decline instead: the step does not run and its service fails.
    #[arg(long)]
    pub decline: bool,
}

#[derive(Debug, Args)]
pub struct DoneArgs {
    #[command(flatten)]
    pub run: SharedRunArgs,
    /// The service whose manual step waits.
    #[arg(long, value_name = "ID")]
    pub service: String,
    /// The manual step's name, as the runbook gives it.
    #[arg(long, value_name = "NAME")]
    pub step: String,
    /// The step could not be done: it fails (and its service), and the reason goes on the
    /// timeline.
    #[arg(long, value_name = "REASON")]
    pub failed: Option<String>,
}

// Each flag is an independent command-line switch, not a state to fold into an enum.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub run: SharedRunArgs,
    /// The service whose restore steps to take back.
    #[arg(long, value_name = "ID")]
    pub service: String,
    /// Undo the services that depend on it first, in reverse plan order.
    #[arg(long)]
    pub cascade: bool,
    /// A finished run: approve the undo of `confirm` steps (journaled as your approvals).
    #[arg(long)]
    pub yes: bool,
    /// A finished run: go on even though the runbook changed since the journal began.
    #[arg(long)]
    pub force: bool,
    /// A finished run: the runbook, when it is no longer where the journal recorded it.
    #[arg(long, value_name = "RUNBOOK")]
    pub runbook: Option<PathBuf>,
    /// A finished run: the runbook's variables, on top of those the run recorded (secrets
    /// are never recorded: give them here).
    #[command(flatten)]
    pub vars: VarArgs,
    /// A finished run: accept and record host keys not yet known.
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    #[command(flatten)]
    pub run: SharedRunArgs,
    /// The note, as it goes on the timeline.
    #[arg(value_name = "TEXT")]
    pub text: String,
}

/// How to reach a team's etcd: TLS and authentication (for `etcd://` URLs only).
#[derive(Debug, Clone, Default, Args)]
pub struct EtcdArgs {
    /// CA certificate (PEM) that signs the etcd members' certificates: talk to etcd over TLS.
    #[arg(long, value_name = "FILE")]
    pub etcd_ca: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's client-certificate authentication (with --etcd-key).
    #[arg(long, value_name = "FILE", requires = "etcd_key")]
    pub etcd_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "etcd_cert")]
    pub etcd_key: Option<PathBuf>,
    /// etcd user name; its password is read from ETCD_PASSWORD, never from the command line.
    #[arg(long, value_name = "NAME", env = "ETCD_USER")]
    pub etcd_user: Option<String>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The journal (.jsonl) to read.
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
    /// Only this service's output.
    #[arg(long, value_name = "ID")]
    pub service: Option<String>,
    /// Only this step's output (its name).
    #[arg(long, value_name = "NAME")]
    pub step: Option<String>,
    /// Only the output from this host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Write the bytes to this file instead of stdout. On a terminal, stdout shows control
    /// characters as visible text; piped, it gets the exact bytes.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SealArgs {
    /// The journal (.jsonl) whose head to sign; the signature goes to JOURNAL.sig.
    #[arg(value_name = "JOURNAL")]
    pub journal: PathBuf,
    /// Private key file to sign with (default: the ssh-agent's first key).
    #[arg(short = 'i', value_name = "KEY")]
    pub identity: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// Every argument, option and possible value a user can see, with its help text.
    fn missing_help(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if arg
                .get_help()
                .is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(format!("{path} {}", arg.get_id()));
            }
            // Flags' true/false need no words; the shells' names are their own help.
            let values = if arg.get_action().takes_values() && arg.get_id() != "shell" {
                arg.get_possible_values()
            } else {
                Vec::new()
            };
            for value in values.iter().filter(|v| !v.is_hide_set()) {
                if value.get_help().is_none() {
                    missing.push(format!("{path} {}={}", arg.get_id(), value.get_name()));
                }
            }
        }
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_about().is_none() {
                missing.push(format!("{path} {}", sub.get_name()));
            }
            missing_help(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }

    #[test]
    fn every_argument_option_and_subcommand_has_help() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        missing_help(&cmd, "bringup", &mut missing);
        assert_eq!(
            missing,
            Vec::<String>::new(),
            "give these a /// doc comment"
        );
    }

    #[test]
    fn a_subcommand_name_wins_over_a_runbook_path() {
        let cli = Cli::try_parse_from(["bringup", "completions", "bash"]).expect("parses");
        assert!(matches!(cli.command, Some(Command::Completions(_))));
        assert!(cli.runbook.is_none());
        let e = Cli::try_parse_from(["bringup", "completions"]).expect_err("needs a shell");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let cli = Cli::try_parse_from(["bringup", "runbooks/demo.toml"]).expect("parses");
        assert!(cli.runbook.is_some() && cli.command.is_none());
    }

    #[test]
    fn export_defaults_to_markdown() {
        let cli = Cli::try_parse_from(["bringup", "export", "j.jsonl"]).expect("parses");
        let Some(Command::Export(args)) = cli.command else {
            panic!("export");
        };
        assert_eq!(args.format, ExportFormat::Markdown);
    }

    #[test]
    fn debug_output_of_vars_shows_no_value() {
        let vars = VarArgs {
            vars: vec!["token=hunter2-cli".into(), "site=pangyo".into()],
            var_env: vec!["key=OPS_KEY".into()],
            var_file: Vec::new(),
        };
        let shown = format!("{vars:?}");
        assert!(!shown.contains("hunter2-cli"), "{shown}");
        assert!(shown.contains("token=***"), "{shown}");
    }
}
