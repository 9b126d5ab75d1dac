//! Where each `{{name}}` placeholder of a `run` command sits in shell quoting, and what it
//! becomes: a reference to a shell variable bound ahead of the script, never the value. Pure
//! text work over the template; nothing here runs a shell or knows any value.
//!
//! The scanner follows what a POSIX shell does with quotes: single quotes, double quotes,
//! backslash escapes, `$'…'`, comments, `$(…)` and backticks, here-documents (quoted or not),
//! and the double-quoted script of `sh -c "…"`, which a second shell parses again.

use super::model::TemplatePart;

/// The quoting around one placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// An unquoted word: the reference is `"${v}"`.
    Bare,
    /// Inside `"…"`: the reference is `${v}`.
    Double,
    /// In the body of an unquoted here-document: `${v}` (quotes there are literal text).
    Heredoc,
    /// After `#`: the shell ignores it, so anything is safe.
    Comment,
    /// Inside the double-quoted script of `sh -c "…"` (or `bash -c`, `su -c`): the inner
    /// shell's context, escaped for the outer double quotes so that the inner shell, not the
    /// outer one, expands the (exported) variable.
    Nested(Box<Context>),
    /// Inside `'…'`: nothing expands there, so no reference can work.
    Single,
    /// Inside `$'…'`: likewise.
    DollarSingle,
    /// In the body of a here-document whose delimiter is quoted (`<<'EOF'`): likewise.
    QuotedHeredoc,
}

impl Context {
    /// Why a placeholder here cannot be bound as data, and what to do; `None` when it can.
    pub fn rejection(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Context::Single => Some((
                "placeholder inside single quotes",
                "nothing expands inside '…': move the placeholder outside the quotes ('text'{{name}}) or use double quotes (\"text {{name}}\"); its value is passed as data either way",
            )),
            Context::DollarSingle => Some((
                "placeholder inside single quotes ($'…')",
                "nothing expands inside $'…': move the placeholder outside the quotes or use double quotes (\"text {{name}}\")",
            )),
            Context::QuotedHeredoc => Some((
                "placeholder inside a quoted here-document",
                "nothing expands in a here-document whose delimiter is quoted: write the delimiter unquoted (<<EOF), or move the placeholder out of the here-document",
            )),
            Context::Nested(inner) => inner.rejection(),
            Context::Bare | Context::Double | Context::Heredoc | Context::Comment => None,
        }
    }

    /// The text that stands for the placeholder in the script, given the shell variable.
    pub fn reference(&self, var: &str) -> String {
        match self {
            Context::Bare => format!("\"${{{var}}}\""),
            // Rejected contexts never reach a host (validation refuses them); inside quotes
            // that expand nothing this is inert text anyway.
            Context::Double
            | Context::Heredoc
            | Context::Comment
            | Context::Single
            | Context::DollarSingle
            | Context::QuotedHeredoc => format!("${{{var}}}"),
            Context::Nested(inner) => escape_for_double_quotes(&inner.reference(var)),
        }
    }

    /// Whether a second shell reads the variable, so it must be exported to it.
    pub fn needs_export(&self) -> bool {
        matches!(self, Context::Nested(_))
    }
}

/// The shell variable a runbook variable is bound to: `__bu_` and the name, with `_` written
/// `__` and `-` written `_h` so that distinct names stay distinct (`a-b` → `__bu_a_hb`,
/// `a_b` → `__bu_a__b`).
pub fn shell_var(name: &str) -> String {
    let mut out = String::from("__bu_");
    for c in name.chars() {
        match c {
            '_' => out.push_str("__"),
            '-' => out.push_str("_h"),
            c if c.is_ascii_alphanumeric() => out.push(c),
            // Validation allows no other character; keep the mapping total anyway.
            c => {
                use std::fmt::Write as _;
                let _ = write!(out, "_u{:x}_", u32::from(c));
            }
        }
    }
    out
}

fn escape_for_double_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '$' | '"' | '\\' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Ch(char),
    Placeholder,
}

/// The context of every placeholder of a template, in order.
pub fn contexts(parts: &[TemplatePart]) -> Vec<Context> {
    let mut toks = Vec::new();
    for part in parts {
        match part {
            TemplatePart::Text(t) => toks.extend(t.chars().map(Tok::Ch)),
            TemplatePart::Var(_) => toks.push(Tok::Placeholder),
        }
    }
    scan(&toks)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Bare,
    Double,
    Backtick,
    /// `$(…)`, with the depth of plain parentheses inside it.
    CmdSub(u32),
}

struct PendingHeredoc {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
}

#[derive(Default)]
struct Words {
    /// Words of the current simple command so far (for `sh -c "…"`).
    done: Vec<String>,
    current: String,
    /// The current word has quoted or placeholder parts (so it is no plain `sh` or `-c`).
    tainted: bool,
}

impl Words {
    fn end_word(&mut self) {
        if !self.current.is_empty() || self.tainted {
            let w = std::mem::take(&mut self.current);
            self.done.push(if self.tainted { String::new() } else { w });
            self.tainted = false;
        }
    }

    fn end_command(&mut self) {
        self.end_word();
        self.done.clear();
    }

    fn at_word_start(&self) -> bool {
        self.current.is_empty() && !self.tainted
    }

    /// `sh -c`, `bash -ec`, `/bin/sh -c`, `su - app -c`, `eval`… just before the current
    /// word: the word is a script that a shell parses again.
    fn before_shell_script(&self) -> bool {
        if !self.at_word_start() {
            return false;
        }
        let Some(last) = self.done.last() else {
            return false;
        };
        if last == "eval" {
            return true;
        }
        let is_c_flag = last.len() >= 2
            && last.starts_with('-')
            && last[1..].chars().all(|c| c.is_ascii_alphabetic())
            && last.contains('c');
        let base = |w: &String| w.rsplit('/').next().unwrap_or_default().to_string();
        let shell_before = self.done.len() >= 2
            && matches!(
                base(&self.done[self.done.len() - 2]).as_str(),
                "sh" | "bash" | "dash" | "ash" | "ksh" | "mksh" | "zsh"
            );
        let su_command = self.done[..self.done.len() - 1]
            .iter()
            .any(|w| matches!(base(w).as_str(), "su" | "runuser"));
        is_c_flag && (shell_before || su_command)
    }
}

#[allow(clippy::too_many_lines)]
fn scan(toks: &[Tok]) -> Vec<Context> {
    let mut out = Vec::new();
    let mut stack = vec![Frame::Bare];
    let mut pending: Vec<PendingHeredoc> = Vec::new();
    let mut words = Words::default();
    let mut i = 0;
    while i < toks.len() {
        let top = stack.last().copied().unwrap_or(Frame::Bare);
        let tok = toks[i];
        let next = toks.get(i + 1).copied();
        if top == Frame::Double {
            match tok {
                Tok::Placeholder => out.push(Context::Double),
                Tok::Ch('\\') => {
                    if next == Some(Tok::Placeholder) {
                        out.push(Context::Double);
                    }
                    i += 1;
                }
                Tok::Ch('"') => {
                    stack.pop();
                }
                Tok::Ch('`') => stack.push(Frame::Backtick),
                Tok::Ch('$') if next == Some(Tok::Ch('(')) => {
                    stack.push(Frame::CmdSub(0));
                    i += 1;
                }
                Tok::Ch(_) => {}
            }
            i += 1;
            continue;
        }
        // Bare, backticks and `$(…)`: unquoted shell text.
        match tok {
            Tok::Placeholder => {
                out.push(Context::Bare);
                words.tainted = true;
            }
            Tok::Ch('\\') => {
                if next == Some(Tok::Placeholder) {
                    out.push(Context::Bare);
                }
                words.tainted = true;
                i += 1;
            }
            Tok::Ch('\'') => {
                words.tainted = true;
                i += 1;
                while i < toks.len() && toks[i] != Tok::Ch('\'') {
                    if toks[i] == Tok::Placeholder {
                        out.push(Context::Single);
                    }
                    i += 1;
                }
            }
            Tok::Ch('$') if next == Some(Tok::Ch('\'')) => {
                words.tainted = true;
                i += 2;
                while i < toks.len() && toks[i] != Tok::Ch('\'') {
                    if toks[i] == Tok::Ch('\\') {
                        i += 1;
                    }
                    if toks.get(i) == Some(&Tok::Placeholder) {
                        out.push(Context::DollarSingle);
                    }
                    i += 1;
                }
            }
            Tok::Ch('"') if words.before_shell_script() => {
                // The script of `sh -c "…"`: what the inner shell parses is the text after
                // the outer shell's double-quote unescaping.
                let mut inner = Vec::new();
                i += 1;
                while i < toks.len() && toks[i] != Tok::Ch('"') {
                    if toks[i] == Tok::Ch('\\') {
                        match toks.get(i + 1) {
                            Some(Tok::Ch(c @ ('"' | '\\' | '$' | '`'))) => {
                                inner.push(Tok::Ch(*c));
                                i += 2;
                                continue;
                            }
                            Some(Tok::Ch('\n')) => {
                                i += 2;
                                continue;
                            }
                            _ => {}
                        }
                    }
                    inner.push(toks[i]);
                    i += 1;
                }
                out.extend(
                    scan(&inner)
                        .into_iter()
                        .map(|c| Context::Nested(Box::new(c))),
                );
                words.tainted = true;
            }
            Tok::Ch('"') => {
                words.tainted = true;
                stack.push(Frame::Double);
            }
            Tok::Ch('`') => {
                if top == Frame::Backtick {
                    stack.pop();
                } else {
                    stack.push(Frame::Backtick);
                }
                words.tainted = true;
            }
            Tok::Ch('$') if next == Some(Tok::Ch('(')) => {
                stack.push(Frame::CmdSub(0));
                words.tainted = true;
                i += 1;
            }
            Tok::Ch('(') => {
                if let Some(Frame::CmdSub(depth)) = stack.last_mut() {
                    *depth += 1;
                }
                words.end_command();
            }
            Tok::Ch(')') => {
                match stack.last_mut() {
                    Some(Frame::CmdSub(0)) => {
                        stack.pop();
                    }
                    Some(Frame::CmdSub(depth)) => *depth -= 1,
                    _ => {}
                }
                words.end_command();
            }
            Tok::Ch('#') if words.at_word_start() => {
                while i + 1 < toks.len() && toks[i + 1] != Tok::Ch('\n') {
                    i += 1;
                    if toks[i] == Tok::Placeholder {
                        out.push(Context::Comment);
                    }
                }
            }
            Tok::Ch('<')
                if next == Some(Tok::Ch('<')) && toks.get(i + 2) != Some(&Tok::Ch('<')) =>
            {
                words.end_word();
                i = heredoc_operator(toks, i + 2, &mut pending, &mut out);
                continue;
            }
            Tok::Ch('\n') => {
                words.end_command();
                if !pending.is_empty() {
                    i = heredoc_bodies(toks, i + 1, &mut pending, &mut out);
                    continue;
                }
            }
            Tok::Ch(';' | '&' | '|') => words.end_command(),
            Tok::Ch(c) if c.is_whitespace() => words.end_word(),
            Tok::Ch(c) => words.current.push(c),
        }
        i += 1;
    }
    out
}

/// After `<<`: an optional `-`, blanks, and the delimiter word. Returns where scanning goes on.
fn heredoc_operator(
    toks: &[Tok],
    mut i: usize,
    pending: &mut Vec<PendingHeredoc>,
    out: &mut Vec<Context>,
) -> usize {
    let strip_tabs = toks.get(i) == Some(&Tok::Ch('-'));
    if strip_tabs {
        i += 1;
    }
    while matches!(toks.get(i), Some(Tok::Ch(' ' | '\t'))) {
        i += 1;
    }
    let mut delimiter = String::new();
    let mut quoted = false;
    while let Some(&tok) = toks.get(i) {
        match tok {
            Tok::Placeholder => {
                out.push(Context::Bare);
                delimiter.push('\u{fffd}');
            }
            Tok::Ch(c)
                if c.is_whitespace() || matches!(c, ';' | '&' | '|' | '<' | '>' | '(' | ')') =>
            {
                break;
            }
            Tok::Ch(q @ ('\'' | '"')) => {
                quoted = true;
                i += 1;
                while let Some(&t) = toks.get(i) {
                    match t {
                        Tok::Ch(c) if c == q => break,
                        Tok::Ch(c) => delimiter.push(c),
                        Tok::Placeholder => {
                            out.push(if q == '\'' {
                                Context::Single
                            } else {
                                Context::Double
                            });
                            delimiter.push('\u{fffd}');
                        }
                    }
                    i += 1;
                }
            }
            Tok::Ch('\\') => {
                quoted = true;
                i += 1;
                match toks.get(i) {
                    Some(Tok::Ch(c)) => delimiter.push(*c),
                    Some(Tok::Placeholder) => {
                        out.push(Context::Bare);
                        delimiter.push('\u{fffd}');
                    }
                    None => {}
                }
            }
            Tok::Ch(c) => delimiter.push(c),
        }
        i += 1;
    }
    pending.push(PendingHeredoc {
        delimiter,
        strip_tabs,
        quoted,
    });
    i
}

/// The bodies of the here-documents opened on the line just ended, from `i`.
fn heredoc_bodies(
    toks: &[Tok],
    mut i: usize,
    pending: &mut Vec<PendingHeredoc>,
    out: &mut Vec<Context>,
) -> usize {
    for doc in pending.drain(..) {
        while i < toks.len() {
            let end = toks[i..]
                .iter()
                .position(|t| *t == Tok::Ch('\n'))
                .map_or(toks.len(), |p| i + p);
            let line: String = toks[i..end]
                .iter()
                .map(|t| match t {
                    Tok::Ch(c) => *c,
                    Tok::Placeholder => '\u{fffd}',
                })
                .collect();
            let line = if doc.strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line.as_str()
            };
            let body_line = line != doc.delimiter;
            if body_line {
                let n = toks[i..end]
                    .iter()
                    .filter(|t| **t == Tok::Placeholder)
                    .count();
                let ctx = if doc.quoted {
                    Context::QuotedHeredoc
                } else {
                    Context::Heredoc
                };
                out.extend(std::iter::repeat_n(ctx, n));
            }
            i = end + 1;
            if !body_line {
                break;
            }
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::model::Template;

    fn ctx(source: &str) -> Vec<Context> {
        contexts(&Template::parse(source).parts)
    }

    fn nested(c: Context) -> Context {
        Context::Nested(Box::new(c))
    }

    #[test]
    fn bare_and_double_quoted_placeholders() {
        assert_eq!(
            ctx("echo {{a}} \"x {{b}} y\" z{{c}}"),
            [Context::Bare, Context::Double, Context::Bare]
        );
        assert_eq!(ctx(r#"echo "a \" {{b}}""#), [Context::Double]);
    }

    #[test]
    fn single_quotes_and_dollar_single_quotes_are_found() {
        assert_eq!(
            ctx("echo '{{a}}' \"'{{b}}'\" $'x\\'{{c}}' {{d}}"),
            [
                Context::Single,
                Context::Double,
                Context::DollarSingle,
                Context::Bare
            ]
        );
        // An escaped quote opens nothing.
        assert_eq!(ctx(r"echo \'{{a}}\'"), [Context::Bare]);
    }

    #[test]
    fn comments_and_command_substitutions() {
        assert_eq!(
            ctx("echo x # '{{a}}'\necho {{b}}"),
            [Context::Comment, Context::Bare]
        );
        assert_eq!(ctx("echo a#{{b}}"), [Context::Bare]);
        assert_eq!(
            ctx("echo \"$(printf %s {{a}}) `echo {{b}}` {{c}}\""),
            [Context::Bare, Context::Bare, Context::Double]
        );
    }

    #[test]
    fn heredocs_unquoted_quoted_and_tab_stripped() {
        assert_eq!(
            ctx("cat <<EOF > f\nv={{a}} '{{b}}'\nEOF\necho {{c}}"),
            [Context::Heredoc, Context::Heredoc, Context::Bare]
        );
        assert_eq!(
            ctx("cat <<'EOF'\n{{a}}\nEOF\n'{{b}}'"),
            [Context::QuotedHeredoc, Context::Single]
        );
        assert_eq!(
            ctx("cat <<-\"END\"\n\t{{a}}\n\tEND\n{{b}}"),
            [Context::QuotedHeredoc, Context::Bare]
        );
        assert_eq!(ctx("cat <<<{{a}}"), [Context::Bare]);
    }

    #[test]
    fn the_script_of_sh_c_is_scanned_as_a_second_shell_sees_it() {
        assert_eq!(
            ctx(r#"sh -c "printf %s {{a}} \"{{b}}\" '{{c}}'""#),
            [
                nested(Context::Bare),
                nested(Context::Double),
                nested(Context::Single)
            ]
        );
        assert_eq!(
            ctx("sudo /bin/bash -ec \"x {{a}}\" \"{{b}}\""),
            [nested(Context::Bare), Context::Double]
        );
        assert_eq!(ctx("sh -c '{{a}}'"), [Context::Single]);
        assert_eq!(
            ctx("su - app -c \"psql {{a}}\"; eval \"echo {{b}}\""),
            [nested(Context::Bare), nested(Context::Bare)]
        );
        // `-c` for something that is not a shell is just a double-quoted argument.
        assert_eq!(ctx("curl -c \"{{a}}\""), [Context::Double]);
    }

    #[test]
    fn references_fit_their_context() {
        assert_eq!(Context::Bare.reference("__bu_x"), "\"${__bu_x}\"");
        assert_eq!(Context::Double.reference("__bu_x"), "${__bu_x}");
        assert_eq!(
            nested(Context::Bare).reference("__bu_x"),
            "\\\"\\${__bu_x}\\\""
        );
        assert!(Context::Single.rejection().is_some());
        assert!(nested(Context::Single).rejection().is_some());
        assert!(Context::Heredoc.rejection().is_none());
    }

    #[test]
    fn shell_names_are_valid_and_distinct() {
        assert_eq!(shell_var("site"), "__bu_site");
        assert_ne!(shell_var("a-b"), shell_var("a_b"));
        assert_ne!(shell_var("a_hb"), shell_var("a-b"));
        for name in ["a-b", "a_b", "A9", "_x"] {
            let v = shell_var(name);
            assert!(v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
    }
}
