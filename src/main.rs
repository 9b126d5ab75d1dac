//! CLI entry: parse arguments and dispatch to a subcommand, which returns the exit code.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use bringup::cli::{Cli, Command};
use bringup::cmd;

fn main() -> ExitCode {
    settle_the_heap();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(cmd::EXIT_BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match (&cli.command, &cli.runbook) {
        (Some(Command::Validate(a)), _) => cmd::validate::validate(a),
        (Some(Command::Plan(a)), _) => cmd::validate::plan(a),
        (Some(Command::Run(a)), _) => cmd::run::run(a),
        (Some(Command::Drill(a)), _) => cmd::open::drill(a),
        (Some(Command::Export(a)), _) => cmd::export::export(a),
        (Some(Command::Report(a)), _) => cmd::report::report(a),
        (Some(Command::Verify(a)), _) => cmd::verify::verify(a),
        (Some(Command::Pull(a)), _) => cmd::pull::pull(a),
        (Some(Command::Attach(a)), _) => cmd::attach::attach(a),
        (Some(Command::Approve(a)), _) => cmd::shared::approve(a),
        (Some(Command::Note(a)), _) => cmd::shared::note(a),
        (Some(Command::Done(a)), _) => cmd::shared::done(a),
        (Some(Command::Undo(a)), _) => cmd::undo::undo(a),
        (Some(Command::Output(a)), _) => cmd::output::output(a),
        (Some(Command::Seal(a)), _) => cmd::seal::seal(a),
        (Some(Command::Preflight(a)), _) => cmd::preflight::preflight(a),
        (Some(Command::Completions(a)), _) => cmd::docs::completions(a),
        (Some(Command::Man), _) => cmd::docs::man(),
        (Some(Command::Schema), _) => cmd::schema::schema(),
        (Some(Command::Demo(a)), _) => cmd::open::demo(a),
        (Some(Command::DemoSvc(a)), _) => bringup::demo::svc::main(a),
        (Some(Command::Open(a)), _) => cmd::open::open(&a.runbook, &a.open),
        (None, Some(runbook)) => {
            if let Some(name) = mistyped_subcommand(runbook) {
                eprintln!(
                    "bringup: no runbook '{}' and no subcommand of that name; did you mean `bringup {name}`? (a runbook named so: write './{}')",
                    runbook.display(),
                    runbook.display()
                );
                return ExitCode::from(cmd::EXIT_BAD_INPUT);
            }
            cmd::open::open(runbook, &cli.open)
        }
        (None, None) => {
            let _ = Cli::command().print_help();
            ExitCode::from(cmd::EXIT_BAD_INPUT)
        }
    }
}

/// `bringup complete` or `bringup valdate`: a bare word that is no file and is close to a
/// subcommand's name was meant as that subcommand, not as a runbook path.
fn mistyped_subcommand(runbook: &std::path::Path) -> Option<String> {
    let word = runbook.to_str()?;
    if runbook.exists() || word.contains(['/', '.']) {
        return None;
    }
    Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .map(|name| (strsim::jaro_winkler(word, &name), name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// Let the heap keep what a step's output churns through. Each 64 KiB chunk of output makes a
/// few buffers of about that size, gone again a moment later; with glibc's defaults freeing them
/// gives the top of the heap back to the kernel (`brk`) and the next chunk takes it again,
/// zeroed page by page: two `brk` calls and a few dozen page faults per chunk. glibc raises its
/// thresholds (mmap to the size, trim to twice it) when it frees a block it had mapped, so one
/// such block freed at the start keeps every smaller buffer in the heap for the whole run. No
/// effect with another allocator.
fn settle_the_heap() {
    const SETTLE: usize = 4 << 20;
    drop(std::hint::black_box(Vec::<u8>::with_capacity(SETTLE)));
}
