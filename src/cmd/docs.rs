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

/// The man page in roff, as committed in `assets/bringup.1`: the top-level page, one section
/// per subcommand with its synopsis and options, then the TUI's keys (from its keymap, so
/// they cannot drift), the exit status and an example session: one page tells everything.
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
    keys_section(&mut out)?;
    exit_section(&mut out)?;
    examples_section(&mut out)?;
    Ok(out)
}

/// `KEYS`: every binding of the TUI's keymap, the main screen's first, then the dialogs'.
fn keys_section(out: &mut Vec<u8>) -> std::io::Result<()> {
    use crate::tui::keymap::{Context, Keymap};
    let keymap = Keymap::default();
    writeln!(out, ".SH KEYS")?;
    writeln!(
        out,
        "{}",
        roff_text(
            "The keys of the terminal interface (open, demo, drill, attach). The footer shows the keys valid now and ? shows them all; the mouse selects and scrolls."
        )
    )?;
    let contexts = [
        (Context::Main, "Main screen"),
        (Context::Approval, "Approval dialog (a confirm step)"),
        (Context::Manual, "Manual step dialog"),
        (Context::HostKey, "Host key dialog"),
        (
            Context::Ask,
            "Questions (an inject, a restore of a service that is up, a decline)",
        ),
        (
            Context::TextInput,
            "Text fields (skip reason, note, filter)",
        ),
        (Context::QuitConfirm, "Quit dialog"),
        (Context::Help, "Help overlay"),
    ];
    for (context, title) in contexts {
        writeln!(out, ".SS \"{}\"", roff_text(title))?;
        let mut any = false;
        for b in keymap
            .bindings()
            .iter()
            .filter(|b| b.contexts.contains(&context))
        {
            writeln!(
                out,
                ".TP\n\\fB{}\\fR\n{}",
                roff_text(b.label),
                roff_text(b.help)
            )?;
            any = true;
        }
        if context == Context::Ask {
            writeln!(
                out,
                ".TP\n\\fBthe key it names\\fR\n{}",
                roff_text("answers yes (typed characters are the dialog's answers)")
            )?;
        } else if !any {
            writeln!(out, "{}", roff_text("No keys of its own."))?;
        }
    }
    Ok(())
}

/// `EXIT STATUS`: SPEC's exit codes, the library's [`crate::Exit`].
fn exit_section(out: &mut Vec<u8>) -> std::io::Result<()> {
    use crate::Exit;
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for (exit, meaning) in [
        (
            Exit::AllUp,
            "every selected service is healthy or restored; verify: the chain is intact; preflight: ready",
        ),
        (
            Exit::NotAllUp,
            "some selected service is not (failed, blocked, skipped, unreachable); verify: the chain breaks (the first bad seq is named); preflight: not ready; approve, note, done: the request was refused",
        ),
        (
            Exit::BadInput,
            "bad input: usage, an invalid runbook, an unreadable file",
        ),
        (
            Exit::Interrupted,
            "interrupted (Ctrl-C, SIGTERM, SIGHUP, or quitting the TUI while steps run); the journal is intact",
        ),
    ] {
        writeln!(out, ".TP\n\\fB{}\\fR\n{}", exit.code(), roff_text(meaning))?;
    }
    Ok(())
}

/// `EXAMPLES`: a session from the demo to the reports.
fn examples_section(out: &mut Vec<u8>) -> std::io::Result<()> {
    writeln!(out, ".SH EXAMPLES")?;
    for (what, command) in [
        (
            "Try it on a simulated datacenter (nothing but this binary needed):",
            "bringup demo",
        ),
        (
            "Check a runbook and see its plan:",
            "bringup validate runbooks/pangyo-dc-fire.toml",
        ),
        (
            "See what a run would need, without changing anything and without secrets:",
            "bringup preflight runbooks/pangyo-dc-fire.toml",
        ),
        (
            "Restore in the TUI, the secret taken from the environment, not the command line:",
            "bringup open runbooks/pangyo-dc-fire.toml --var-env ops_token=OPS_TOKEN --incident-start -90m",
        ),
        (
            "The same headless, approving confirm steps:",
            "bringup run runbooks/pangyo-dc-fire.toml --var-env ops_token=OPS_TOKEN --yes",
        ),
        (
            "Afterwards: check the journal, then draft the post-mortem and the notice to users:",
            "bringup verify journal/pangyo-dc-fire-20261015T063000Z.jsonl\nbringup export journal/pangyo-dc-fire-20261015T063000Z.jsonl --format markdown -o postmortem.md\nbringup export journal/pangyo-dc-fire-20261015T063000Z.jsonl --format notice",
        ),
        (
            "A drill, and its scorecard:",
            "bringup drill runbooks/pangyo-dc-fire.toml --scenario dc-loss\nbringup export journal/pangyo-dc-fire-20261015T090000Z.jsonl --format scorecard",
        ),
    ] {
        writeln!(out, ".PP\n{}\n.PP\n.nf\n.RS 4", roff_text(what))?;
        for line in command.lines() {
            writeln!(out, "{}", roff_text(line))?;
        }
        writeln!(out, ".RE\n.fi")?;
    }
    Ok(())
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
