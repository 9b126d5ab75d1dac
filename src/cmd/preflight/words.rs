//! Which commands a `run` step needs on its host, read from the command as written. Pure.
//!
//! The "first command" of a step is the first word of its script after leading variable
//! assignments (`LANG=C`), the wrappers `sudo`, `env`, `exec`, `timeout N`, `nice`, `nohup`
//! and `command` (with their options), and the keywords that only introduce a command (`if`,
//! `while`, `until`, `!`, `then`, `do`, `{`). Words that are shell builtins or keywords
//! are not looked up (the shell always has them), nor are words holding a `{{placeholder}}`
//! or a `$` expansion (their value is data known only on the host).

/// The first command of `script`, or `None` when it is a builtin, a keyword or not a plain
/// word.
pub fn first_command(script: &str) -> Option<String> {
    let words = shlex::split(&first_simple_command(script))?;
    let mut words = words.into_iter().peekable();
    while let Some(word) = words.next() {
        if is_assignment(&word) || INTRODUCERS.contains(&word.as_str()) {
            continue;
        }
        match word.as_str() {
            "sudo" => skip_options(
                &mut words,
                &["-u", "-g", "-C", "-h", "-p", "-U", "-r", "-t"],
            ),
            "env" => {
                skip_options(&mut words, &["-u", "-C", "-S"]);
                while words.peek().is_some_and(|w| is_assignment(w)) {
                    words.next();
                }
            }
            "timeout" => {
                skip_options(&mut words, &["-s", "-k", "--signal", "--kill-after"]);
                words.next(); // the duration
            }
            "nice" => skip_options(&mut words, &["-n"]),
            "exec" | "nohup" | "command" => skip_options(&mut words, &[]),
            _ => {
                let plain = !word.is_empty()
                    && !word.contains("{{")
                    && !word.contains('$')
                    && !word.contains('`');
                return (plain && !BUILTINS.contains(&word.as_str())).then_some(word);
            }
        }
    }
    None
}

/// Whether the script runs `sudo` anywhere as a command word.
pub fn uses_sudo(script: &str) -> bool {
    shlex::split(script).map_or_else(
        || script.split_whitespace().any(|w| w == "sudo"),
        |words| words.iter().any(|w| w == "sudo"),
    )
}

/// Keywords and punctuation that come before the command they introduce.
const INTRODUCERS: &[&str] = &["if", "while", "until", "!", "then", "do", "else", "{"];

/// POSIX special and regular builtins, bash's common ones, and reserved words: always there.
const BUILTINS: &[&str] = &[
    ":", ".", "[", "[[", "alias", "bg", "break", "case", "cd", "continue", "echo", "eval", "exit",
    "export", "false", "fc", "fg", "for", "getopts", "hash", "jobs", "kill", "local", "printf",
    "pwd", "read", "readonly", "return", "select", "set", "shift", "source", "test", "times",
    "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "wait", "function", "time",
    "fi", "done", "esac", "elif", "}",
];

/// Skip the options of a wrapper: words starting with `-`, and the argument of those in
/// `with_arg`; a `--` ends them.
fn skip_options(words: &mut std::iter::Peekable<impl Iterator<Item = String>>, with_arg: &[&str]) {
    while let Some(w) = words.peek() {
        if w == "--" {
            words.next();
            return;
        }
        if !w.starts_with('-') || w == "-" {
            return;
        }
        let takes_arg = with_arg.contains(&w.as_str());
        words.next();
        if takes_arg {
            words.next();
        }
    }
}

/// `NAME=value`: a variable assignment before a command.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The script up to its first unquoted control operator or newline (`;`, `|`, `&`, `(`,
/// `)`, `<`, `>`), with leading blank lines and comments skipped.
fn first_simple_command(script: &str) -> String {
    let text = script
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    let mut out = String::new();
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && !single {
            escaped = true;
        } else if c == '\'' && !double {
            single = !single;
        } else if c == '"' && !single {
            double = !double;
        } else if !single && !double && matches!(c, ';' | '|' | '&' | '(' | ')' | '<' | '>') {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_command_skips_assignments_and_wrappers() {
        let cases = [
            ("curl -fsS http://x/health", Some("curl")),
            ("LANG=C sudo -n -u app systemctl start x", Some("systemctl")),
            (
                "env -i PATH=/bin FOO=1 timeout -s KILL 5 pg_isready -q",
                Some("pg_isready"),
            ),
            (
                "exec nohup nice -n 5 /usr/local/bin/gw --run",
                Some("/usr/local/bin/gw"),
            ),
            (
                "definitely-not-a-command-xyz --flag",
                Some("definitely-not-a-command-xyz"),
            ),
            ("if grep -q ok /tmp/x; then echo yes; fi", Some("grep")),
            ("\n# comment\n  { make -C /srv; }", Some("make")),
            ("(cd /srv && make)", None),
            ("systemctl is-active x | grep -q active", Some("systemctl")),
            ("test -f /tmp/x", None),
            ("echo hi > /tmp/x", None),
            ("{{tool}} --check", None),
            ("\"$HOME/bin/x\" run", None),
            ("sudo -- 'my tool' a", Some("my tool")),
        ];
        for (script, want) in cases {
            assert_eq!(first_command(script).as_deref(), want, "{script:?}");
        }
    }

    #[test]
    fn sudo_is_seen_anywhere_as_a_word_but_not_inside_another() {
        assert!(uses_sudo("true && sudo systemctl start x"));
        assert!(!uses_sudo("echo pseudosudo; grep sudoers /etc/group"));
    }
}
