//! Bounded waits for tests: for a child process to exit, and for a condition to hold.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Poll `child` (bounded) until it exits; `None` if it still runs after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Poll (bounded) until `f` holds; fails the test naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A shell loop for a step to run: it waits while `<dir>/<gate>` exists (30 s at most), so
/// a test holds the step where it wants it and lets it go by removing the file.
pub fn gate(dir: &std::path::Path, gate: &str) -> String {
    format!(
        "i=0; while [ -f {}/{gate} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done",
        dir.display()
    )
}
