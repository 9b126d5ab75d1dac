//! A fleet's identical output told once: a real `bringup run` on 32 local hosts, whose
//! restore prints the same on 29, one failure on two hosts and another on one, ends the step
//! with one line per group (count and node ranges) and each group's output once; the
//! post-mortem's "What failed" folds the two hosts that failed alike into one section.

use std::fmt::Write as _;

use crate::support::local::output;
use crate::support::rig::{Resume, Rig};
use crate::support::run::{stderr, stdout};

/// `fleet` on h01…h32 (local): its check fails everywhere without output; its restore prints
/// two lines on 29 hosts, `disk full` (exit 1) on h07 and h19, `no such device` (exit 2) on
/// h25. `solo` is one host, whose output streams live.
fn runbook() -> String {
    let mut toml = String::from(
        "[runbook]\nname = \"fleet\"\n\n[defaults]\ntimeout = \"20s\"\nconcurrency = 8\n\n",
    );
    let hosts: Vec<String> = (1..=32).map(|i| format!("h{i:02}")).collect();
    for h in &hosts {
        let _ = writeln!(toml, "[hosts.{h}]\ntransport = \"local\"\n");
    }
    let list: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    let _ = write!(
        toml,
        r#"[[service]]
id = "fleet"
name = "A fleet"
tier = 1
hosts = [{}]

  [[service.check]]
  name = "up"
  run = "false"

  [[service.restore]]
  name = "mount data"
  run = '''
case "{{{{host}}}}" in
  h07|h19) echo "disk full"; exit 1 ;;
  h25) echo "no such device"; exit 2 ;;
esac
echo "mounted /data"
echo "ok"
'''

[[service]]
id = "solo"
name = "One host"
tier = 1
hosts = ["h01"]

  [[service.check]]
  name = "alive"
  run = "echo solo-live-line"
"#,
        list.join(", ")
    );
    toml
}

fn ran() -> (Rig, String) {
    let rig = Rig::local(&runbook());
    let out = output(&mut rig.run(Resume::No));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    (rig, text)
}

/// The end-of-step lines of `step`: (the hosts' heading, what follows the last `: `).
fn groups<'a>(text: &'a str, step: &str) -> Vec<(&'a str, &'a str)> {
    let marker = format!("{step}' on ");
    text.lines()
        .filter_map(|l| l.split_once(&marker).map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once(": failed").or(rest.split_once(": ok")))
        .collect()
}

#[test]
fn a_step_on_many_hosts_ends_with_one_line_per_group_of_identical_output() {
    let (_rig, text) = ran();
    let restore = groups(&text, "mount data");
    let heads: Vec<&str> = restore.iter().map(|(h, _)| *h).collect();
    assert_eq!(
        heads,
        [
            "29 hosts: h[01-06,08-18,20-24,26-32]",
            "2 hosts: h[07,19]",
            "h25"
        ],
        "{text}"
    );
    assert_eq!(restore[0].1, " (exit 0), 2 lines:", "{text}");
    assert_eq!(restore[1].1, " (exit 1), 1 line:", "{text}");
    assert_eq!(restore[2].1, " (exit 2), 1 line:", "{text}");
    // Each group's output once, labelled with its hosts; never host by host.
    assert_eq!(text.matches("│ mounted /data").count(), 1, "{text}");
    assert_eq!(text.matches("│ disk full").count(), 1, "{text}");
    assert!(
        text.contains("h[07,19] │ disk full"),
        "the group's output is labelled with its hosts:\n{text}"
    );
    assert!(!text.contains("h07 │"), "{text}");
    // Every host's check failed alike, printing nothing: one line for 32 hosts.
    let check = groups(&text, "up");
    assert_eq!(
        check.first().map(|g| g.0),
        Some("32 hosts: h[01-32]"),
        "{text}"
    );
    // One host streams live, as before.
    assert!(text.contains("h01 │ solo-live-line"), "{text}");
}

#[test]
fn what_failed_folds_hosts_that_failed_alike_into_one_section() {
    let (rig, _) = ran();
    let out = output(&mut rig.export("markdown"));
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    let headings: Vec<String> = what_failed_headings(&md)
        .into_iter()
        .filter(|h| h.contains("'mount data'"))
        .collect();
    assert_eq!(
        headings,
        [
            "Restore step 'mount data' of fleet on 2 hosts: h[07,19]: failed (exit 1)",
            "Restore step 'mount data' of fleet on h25: failed (exit 2)",
        ],
        "{md}"
    );
    let section = between(&md, "## What failed", "\n## ");
    assert_eq!(section.matches("disk full").count(), 1, "{section}");
    let html = stdout(&output(&mut rig.export("html")));
    assert!(
        html.contains("on 2 hosts: h[07,19]: failed (exit 1)</h3>"),
        "{html}"
    );
    let section = between(&html, "<h2>What failed</h2>", "<h2>");
    assert_eq!(section.matches("disk full").count(), 1, "{section}");
}

/// The H3 headings under the markdown's H2 "What failed", as text (read with pulldown-cmark).
fn what_failed_headings(md: &str) -> Vec<String> {
    use pulldown_cmark::{Event as Md, HeadingLevel, Parser, Tag, TagEnd};
    let mut out = Vec::new();
    let (mut in_section, mut heading) = (false, None::<String>);
    for ev in Parser::new(md) {
        match ev {
            Md::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Md::Text(t) | Md::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Md::End(TagEnd::Heading(level)) => {
                let h = heading.take().unwrap_or_default();
                if level == HeadingLevel::H2 {
                    in_section = h == "What failed";
                } else if in_section && level == HeadingLevel::H3 {
                    out.push(h);
                }
            }
            _ => {}
        }
    }
    out
}

/// The text after `start` up to the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.split_once(start).map_or("", |(_, rest)| rest);
    from.split_once(end).map_or(from, |(section, _)| section)
}
