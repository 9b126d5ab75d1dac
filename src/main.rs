//! CLI entry: parse arguments and dispatch to a subcommand, which returns the exit code.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use bringup::cli::{Cli, Command};
use bringup::cmd;

fn main() -> ExitCode {
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
        (Some(Command::Export(a)), _) => cmd::export::export(a),
        (Some(Command::Verify(a)), _) => cmd::verify::verify(a),
        (Some(Command::Seal(a)), _) => cmd::seal::seal(a),
        (Some(Command::Preflight(a)), _) => cmd::preflight::preflight(a),
        (Some(Command::Demo(a)), _) => cmd::open::demo(a),
        (Some(Command::DemoSvc(a)), _) => bringup::demo::svc::main(a),
        (Some(Command::Open(a)), _) => cmd::open::open(&a.runbook, &a.open),
        (None, Some(runbook)) => cmd::open::open(runbook, &cli.open),
        (None, None) => {
            let _ = Cli::command().print_help();
            ExitCode::from(cmd::EXIT_BAD_INPUT)
        }
    }
}
