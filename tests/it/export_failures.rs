//! The post-mortem says why things failed, from a journal written by a real `bringup run` on
//! the local transport: a restore that prints its reason and exits 32 shows that reason in
//! markdown (read with pulldown-cmark) and html, bounded and made safe; action items come
//! once each; the customer notice lists functions, never the internal names of checks that
//! have no `feature`.

use crate::support::local::output;
use crate::support::rig::{Resume, Rig};
use crate::support::run::{stderr, stdout};
use pulldown_cmark::{CodeBlockKind, Event as Md, HeadingLevel, Parser, Tag, TagEnd};

const REASON: &str = "volume 'mailstore-07' is degraded (3 of 12 disks rebuilding)";

/// `mail` restores by a step that prints 30 lines, markup, an escape sequence and the reason,
/// then exits 32, with one retry; `webmail` depends on it; `db` has a check with no
/// `feature` and is down with nothing to restore it.
const RUNBOOK: &str = r#"[runbook]
name = "mail outage"

[defaults]
timeout = "20s"
retry_delay = "100ms"

[hosts.op]
transport = "local"

[[service]]
id = "mail"
name = "Mail store (internal)"
tier = 1
hosts = ["op"]

  [[service.check]]
  name = "imap"
  feature = "Read mail"
  run = "false"

  [[service.restore]]
  name = "mount mailstore"
  retries = 1
  run = '''
for i in $(seq 1 30); do echo "scan $i"; done
echo '<script>alert(1)</script> ```` fence'
printf '\033]0;owned\007title\n'
echo "volume 'mailstore-07' is degraded (3 of 12 disks rebuilding)"
exit 32
'''

[[service]]
id = "webmail"
name = "Webmail frontend"
tier = 2
hosts = ["op"]
depends_on = ["mail"]

  [[service.check]]
  name = "http"
  feature = "Webmail"
  run = "false"

  [[service.restore]]
  name = "start"
  run = "true"

[[service]]
id = "db"
name = "Account database (MySQL)"
tier = 1
hosts = ["op"]

  [[service.check]]
  name = "mysqld"
  run = "false"
"#;

/// One real run of [`RUNBOOK`], to the end (it exits 1: mail fails, webmail is blocked).
fn ran() -> Rig {
    let rig = Rig::local(RUNBOOK);
    let out = output(&mut rig.run(Resume::No));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    rig
}

/// `export --format FORMAT` of the run, which must succeed.
fn export(rig: &Rig, format: &str) -> String {
    let out = output(&mut rig.export(format));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The markdown's code blocks under the H3 headings of "What failed": (heading, block).
fn failed_steps(md: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_section = false;
    let mut heading: Option<String> = None;
    let mut current: Option<String> = None;
    let mut code: Option<String> = None;
    for ev in Parser::new(md) {
        match ev {
            Md::Start(Tag::Heading { level, .. }) => {
                heading = Some(String::new());
                if level == HeadingLevel::H2 {
                    in_section = false;
                }
            }
            Md::End(TagEnd::Heading(level)) => {
                let h = heading.take().unwrap_or_default();
                if level == HeadingLevel::H2 {
                    in_section = h == "What failed";
                } else if in_section {
                    current = Some(h);
                }
            }
            Md::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) if in_section => {
                code = Some(String::new());
            }
            Md::End(TagEnd::CodeBlock) => {
                if let (Some(c), Some(h)) = (code.take(), current.clone()) {
                    out.push((h, c));
                }
            }
            Md::Text(t) => {
                if let Some(c) = code.as_mut() {
                    c.push_str(&t);
                } else if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn markdown_shows_the_last_lines_a_failed_restore_printed_bounded_and_escaped() {
    let rig = ran();
    let md = export(&rig, "markdown");
    let steps = failed_steps(&md);
    assert_eq!(steps.len(), 1, "one failed step (after its retry): {md}");
    let (heading, block) = &steps[0];
    assert_eq!(
        heading,
        "Restore step 'mount mailstore' of mail on op: failed (exit 32)"
    );
    let lines: Vec<&str> = block.lines().collect();
    assert_eq!(lines.len(), 10, "the last ten lines: {block}");
    assert_eq!(lines[9], REASON);
    assert_eq!(lines[0], "scan 24", "earlier lines are left to the journal");
    assert!(
        lines.contains(&"<script>alert(1)</script> ```` fence"),
        "backticks inside do not end the block: {block}"
    );
    assert!(
        !block.contains('\u{1b}') && block.contains("\\x1b]0;owned"),
        "the escape sequence is shown, not sent: {block:?}"
    );
    assert!(md.contains("The last 10 of its 33 lines of output"), "{md}");
}

#[test]
fn html_shows_the_reason_line_escaped() {
    let rig = ran();
    let html = export(&rig, "html");
    assert!(html.contains("<h2>What failed</h2>"));
    let reason = REASON.replace('\'', "&#39;");
    assert!(html.contains(&reason), "the reason line is in the page");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>"), "output never becomes markup");
    assert!(!html.contains('\u{1b}'));
}

/// Rows of the markdown "Action items" table: (item, service).
fn action_items(md: &str) -> Vec<(String, String)> {
    let section = md
        .split("## Action items")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("an Action items section");
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Action item"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            (
                cells[0].trim_start_matches("| ").to_string(),
                cells[1].to_string(),
            )
        })
        .collect()
}

#[test]
fn action_items_come_once_each_and_the_step_item_says_what_it_printed() {
    let rig = ran();
    let md = export(&rig, "markdown");
    let items = action_items(&md);
    let mut unique = items.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), items.len(), "no item twice: {items:#?}");
    let mail: Vec<&(String, String)> = items.iter().filter(|(_, s)| s == "mail").collect();
    assert_eq!(
        mail.len(),
        1,
        "the failed restore is one follow-up, not one per step and one per service: {items:#?}"
    );
    assert!(
        mail[0].0.contains("mailstore-07") && mail[0].0.contains("failed (exit 32)"),
        "{}",
        mail[0].0
    );
    assert!(
        items.iter().any(|(_, s)| s == "webmail"),
        "the blocked dependent still has its own item: {items:#?}"
    );
}

#[test]
fn the_status_notice_lists_functions_never_internal_service_names() {
    let rig = ran();
    let status = export(&rig, "status");
    assert!(status.contains("- Read mail"), "{status}");
    assert!(status.contains("- Webmail"), "{status}");
    for internal in [
        "Account database (MySQL)",
        "Mail store (internal)",
        "Webmail frontend",
    ] {
        assert!(
            !status.contains(internal),
            "'{internal}' is internal: {status}"
        );
    }
}
