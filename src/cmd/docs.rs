//! `bringup completions SHELL` and `bringup man`: what the shell and `man` need, generated
//! from the same clap definitions that parse the command line, so they cannot drift from it.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs};
use crate::cmd::EXIT_BAD_INPUT;

/// The completion script for `shell`, for the binary named `bringup`. Hidden (internal)
/// subcommands are left out: clap_complete would offer them otherwise.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut visible_command(), "bringup", &mut out);
    out
}

/// The CLI as a user sees it: every subcommand but the hidden ones. clap cannot remove a
/// subcommand, so the top level is rebuilt from its arguments and visible subcommands.
fn visible_command() -> clap::Command {
    let full = Cli::command();
    let mut top = clap::Command::new("bringup")
        .version(env!("CARGO_PKG_VERSION"))
        .args_conflicts_with_subcommands(true)
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        top = top.about(about.clone());
    }
    top
}

/// The man page in roff, as committed in `assets/bringup.1`: the top-level page, then one
/// section per subcommand with its synopsis and options, so one page tells everything.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("bringup {}", sub.get_name());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            writeln!(out, "{}", roff_text(&about.to_string()))?;
        }
        let man = clap_mangen::Man::new(sub.clone());
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut part)?;
        }
        // Within a subcommand's section its parts are subsections.
        let part = String::from_utf8_lossy(&part).replace("\n.SH ", "\n.SS ");
        let part = part
            .strip_prefix(".SH ")
            .map_or(part.clone(), |p| format!(".SS {p}"));
        out.extend_from_slice(part.as_bytes());
    }
    Ok(out)
}

/// Plain text as a roff paragraph: backslashes and leading dots cannot become requests.
fn roff_text(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    text.lines()
        .map(|l| {
            if l.starts_with(['.', '\'']) {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn completions(args: &CompletionsArgs) -> ExitCode {
    print(&completion_script(args.shell))
}

pub fn man() -> ExitCode {
    match man_page() {
        Ok(page) => print(&page),
        Err(e) => {
            eprintln!("bringup: cannot make the man page: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Write to stdout; a closed pipe (`| head`) is not worth a panic or a message.
pub(crate) fn print(bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bringup: cannot write to stdout: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
