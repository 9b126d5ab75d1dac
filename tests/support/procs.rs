//! Processes on this machine, seen by the tests that start them: pgrep by a marker in the
//! command line, a process's parent and serving sshd from `/proc`, and markers unique to one
//! test run. Reads only; never signals anything.

use std::fs;
use std::process::Command;

/// Processes on this machine whose command line holds `marker` (sshd runs here too), one
/// `pgrep -af` line each; empty when there are none.
pub fn processes_with(marker: &str) -> String {
    let out = Command::new("pgrep")
        .args(["-af", marker])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `tag` followed by digits unique to this process and moment: with a numeric `tag` such as
/// `"300."` the result is still a valid `sleep` duration.
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!("{tag}{}{nanos}", std::process::id())
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the parenthesised name).
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// The sshd process that serves the session `pid` runs in: its nearest `sshd` ancestor.
pub fn serving_sshd(pid: i32) -> Option<i32> {
    let mut p = pid;
    for _ in 0..8 {
        p = parent_of(p)?;
        let comm = fs::read_to_string(format!("/proc/{p}/comm")).ok()?;
        if comm.trim().starts_with("sshd") {
            return Some(p);
        }
    }
    None
}

/// The process whose argv[0] ends with `marker`.
pub fn process_named(marker: &str) -> Option<i32> {
    fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|p| {
            fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split('\0').next().is_some_and(|a| a.ends_with(marker)))
        })
}

/// A child process killed and reaped when the test ends, pass or fail: a failed assertion
/// leaves nothing running behind it.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
