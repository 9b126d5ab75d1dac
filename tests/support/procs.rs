//! Processes on this machine, seen by the tests that start them: pgrep by a marker in the
//! command line, and markers unique to one test run. Reads only; never signals anything.

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
