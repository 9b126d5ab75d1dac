//! Staging: makes the demo folder, writes the runbook copy with concrete `demo_dir` and
//! `bringup` values, and lays down the files of the services that survived the fire.
//! It starts no simulated service: everything that the runbook restores begins down.

use std::fs;
use std::path::{Path, PathBuf};

use super::{DemoError, Layout, RUNBOOK, Staged, daemon};

/// Stage the demo in `dir` (default: a fresh folder under the system temp dir), with commands
/// that call this very binary.
pub fn stage(dir: Option<&Path>) -> Result<Staged, DemoError> {
    let exe = std::env::current_exe().map_err(DemoError::NoExe)?;
    stage_with(dir, &exe)
}

/// [`stage`] with the path of the `bringup` binary the runbook's commands should call
/// (tests pass the built binary; `stage` passes itself).
pub fn stage_with(dir: Option<&Path>, bringup: &Path) -> Result<Staged, DemoError> {
    let dir = match dir {
        Some(d) => prepare_given(d)?,
        None => fresh_temp_folder()?,
    };
    let dir = dir
        .canonicalize()
        .map_err(|e| DemoError::io("resolve", &dir, e))?;
    let layout = Layout::new(&dir);
    let dir_text = utf8(&dir)?;
    let exe_text = utf8(bringup)?;

    for sub in [
        layout.run_dir(),
        layout.log_dir(),
        layout.state_dir(),
        layout.site_dir(),
    ] {
        fs::create_dir_all(&sub).map_err(|e| DemoError::io("create", &sub, e))?;
    }
    write(
        &layout.marker(),
        "This folder holds a simulated datacenter staged by `bringup demo`.\n\
         Its services exit when this file or the folder is removed.\n",
    )?;
    // The services the fire spared: their checks pass from the start.
    write(
        &layout.site_dir().join("dns.status"),
        "serving zone talk.internal from gasan\n",
    )?;
    write(
        &layout.site_dir().join("push.status"),
        "delivering via gasan\n",
    )?;
    let runbook = layout.runbook();
    write(&runbook, &staged_runbook(RUNBOOK, &dir_text, &exe_text))?;
    // The runbook's `#:schema ./bringup.schema.json` line points here: an editor opening the
    // staged copy completes and checks its keys like the bundled one.
    write(
        &dir.join("bringup.schema.json"),
        &crate::runbook::schema::text(),
    )?;

    Ok(Staged {
        runbook,
        vars: vec![
            format!("demo_dir={dir_text}"),
            format!("bringup={exe_text}"),
        ],
        dir,
    })
}

/// The simulated services a drill starts from (`bringup demo --drill`): every one the demo
/// runbook checks, as `name@host`.
const DAEMONS: [&str; 11] = [
    "database@db-replica",
    "auth@auth-1",
    "auth@auth-2",
    "talk-messaging@msg-gw-1",
    "talk-messaging@msg-gw-2",
    "media-transfer@media-1",
    "pc-login@pc-gw-1",
    "talk-channel@channel-1",
    "mail-smtp@mail-1",
    "imap@mail-1",
    "pop3@mail-1",
];

/// The datacenter before a drill: every simulated service up and every file its checks read
/// in place, and the mail storage volume healthy (so its restore can succeed), as the site
/// was before the fire. A drill's baseline then finds every service healthy.
pub fn bring_up(staged: &Staged, bringup: &Path) -> Result<(), DemoError> {
    let layout = Layout::new(&staged.dir);
    for (file, text) in [
        (
            layout.site_dir().join("dns.status"),
            "serving zone talk.internal from gasan\n",
        ),
        (
            layout.site_dir().join("push.status"),
            "delivering via gasan\n",
        ),
        (
            layout.site_dir().join("mailstore.healthy"),
            "mailstore-07: 12 of 12 disks online\n",
        ),
        (layout.state_dir().join("database.role"), "primary\n"),
        (
            layout.state_dir().join("media.archive"),
            "mounted read-write at gasan\n",
        ),
    ] {
        write(&file, text)?;
    }
    for name in DAEMONS {
        daemon::start(
            &layout,
            bringup,
            name,
            std::time::Duration::from_secs(7200),
            0,
            None,
        )?;
    }
    Ok(())
}

/// A folder the user named: new, empty, or an earlier demo (whose services are stopped and
/// whose state is reset). Anything else is refused rather than written into.
fn prepare_given(dir: &Path) -> Result<PathBuf, DemoError> {
    let dir = std::path::absolute(dir).map_err(|e| DemoError::io("resolve", dir, e))?;
    if !dir.exists() {
        fs::create_dir_all(&dir).map_err(|e| DemoError::io("create", &dir, e))?;
        return Ok(dir);
    }
    let mut entries = fs::read_dir(&dir).map_err(|e| DemoError::io("read", &dir, e))?;
    if entries.next().is_none() {
        return Ok(dir);
    }
    let layout = Layout::new(&dir);
    if !layout.marker().is_file() {
        return Err(DemoError::NotDemoFolder { path: dir });
    }
    daemon::stop_all(&layout)?;
    for sub in [layout.run_dir(), layout.state_dir(), layout.site_dir()] {
        if sub.exists() {
            fs::remove_dir_all(&sub).map_err(|e| DemoError::io("reset", &sub, e))?;
        }
    }
    Ok(dir)
}

fn fresh_temp_folder() -> Result<PathBuf, DemoError> {
    let base = std::env::temp_dir();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let pid = std::process::id();
    let mut last_err = None;
    for n in 0..100 {
        let candidate = if n == 0 {
            base.join(format!("bringup-demo-{stamp}-{pid}"))
        } else {
            base.join(format!("bringup-demo-{stamp}-{pid}-{n}"))
        };
        match fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(DemoError::io("create", &candidate, e)),
        }
    }
    Err(DemoError::io(
        "create a folder in",
        &base,
        last_err.unwrap_or_else(|| std::io::Error::other("every candidate name is taken")),
    ))
}

fn utf8(path: &Path) -> Result<String, DemoError> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| DemoError::NotUtf8 {
            path: path.to_path_buf(),
        })
}

fn write(path: &Path, text: &str) -> Result<(), DemoError> {
    fs::write(path, text).map_err(|e| DemoError::io("write", path, e))
}

/// The runbook text with the `demo_dir` and `bringup` entries of `[vars]` set to these values;
/// everything else, comments included, is kept byte for byte.
pub fn staged_runbook(source: &str, demo_dir: &str, bringup: &str) -> String {
    let mut out = String::with_capacity(source.len() + 256);
    let mut in_vars = false;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_vars = trimmed.trim_end() == "[vars]";
        }
        let replacement = if in_vars {
            [("demo_dir", demo_dir), ("bringup", bringup)]
                .into_iter()
                .find(|(key, _)| is_assignment_of(trimmed, key))
        } else {
            None
        };
        match replacement {
            Some((key, value)) => {
                let quoted = toml::Value::String(value.to_string()).to_string();
                out.push_str(key);
                out.push_str(" = ");
                out.push_str(&quoted);
                out.push('\n');
            }
            None => out.push_str(line),
        }
    }
    out
}

fn is_assignment_of(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars_of(text: &str) -> toml::Table {
        let doc: toml::Table = toml::from_str(text).expect("staged runbook is TOML");
        doc["vars"].as_table().expect("[vars] is a table").clone()
    }

    #[test]
    fn staged_runbook_sets_demo_dir_and_bringup_and_keeps_other_vars() {
        let text = staged_runbook(RUNBOOK, "/tmp/a \"quoted\" dir", "/opt/bringup");
        let vars = vars_of(&text);
        assert_eq!(vars["demo_dir"].as_str(), Some("/tmp/a \"quoted\" dir"));
        assert_eq!(vars["bringup"].as_str(), Some("/opt/bringup"));
        assert_eq!(vars["site"].as_str(), Some("gasan"));
    }

    #[test]
    fn staged_runbook_changes_only_the_two_var_lines() {
        let text = staged_runbook(RUNBOOK, "/x", "/y");
        let changed: Vec<_> = RUNBOOK
            .lines()
            .zip(text.lines())
            .filter(|(a, b)| a != b)
            .map(|(_, b)| b.to_string())
            .collect();
        assert_eq!(changed, vec!["demo_dir = \"/x\"", "bringup = \"/y\""]);
        assert_eq!(RUNBOOK.lines().count(), text.lines().count());
    }

    #[test]
    fn a_key_named_like_a_var_outside_vars_is_left_alone() {
        let src =
            "[runbook]\nbringup = \"x\"\n[vars]\nbringup = \"bringup\"\nbringup_extra = \"z\"\n";
        let text = staged_runbook(src, "/d", "/bin/b");
        assert_eq!(
            text,
            "[runbook]\nbringup = \"x\"\n[vars]\nbringup = \"/bin/b\"\nbringup_extra = \"z\"\n"
        );
    }
}
