//! A tmux server of a test's own, for end-to-end tests of the real binary's TUI in a real
//! terminal: `send-keys` in, `capture-pane` out.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Servers started by this process so far: each gets a socket of its own.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A tmux server of this test's own (`-L`), killed when the test ends, pass or fail; killing
/// it hangs up on bringup, which stops its steps and tears the demo down.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(name: &str, command: &str) -> Tmux {
        Self::start_sized(name, command, (120, 40))
    }

    pub fn start_sized(name: &str, command: &str, (width, height): (u16, u16)) -> Tmux {
        let tmux = Tmux {
            socket: format!(
                "bringup-e2e-{name}-{}-{}",
                std::process::id(),
                STARTED.fetch_add(1, Ordering::Relaxed)
            ),
        };
        let (width, height) = (width.to_string(), height.to_string());
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            &width,
            "-y",
            &height,
            "-s",
            "e2e",
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed (is tmux installed? scripts/test installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (scripts/test installs it)")
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    /// Everything the pane printed, scrollback included, wrapped lines joined (for a front
    /// end that prints lines, as `--plain` does).
    pub fn history(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", "e2e"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &str) {
        let out = self.run(&["send-keys", "-t", "e2e", keys]);
        assert!(out.status.success(), "send-keys {keys}");
    }

    /// Answer a dialog that opened by itself: keys within 300 ms of it are dropped, as an
    /// operator's reaction time would never be that short.
    pub fn answer(&self, keys: &str) {
        std::thread::sleep(Duration::from_millis(400));
        self.keys(keys);
    }

    /// Poll the screen until it shows `text`; panics with the last screen after `secs`.
    /// The screen returned is captured again a moment after `text` first showed, so a frame
    /// caught half drawn (a dialog's border before its body) is not what the test reads.
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
        self.wait_until(text, secs, Self::screen)
    }

    /// [`Tmux::wait_for`] over [`Tmux::history`]: `text` printed at any time.
    pub fn wait_printed(&self, text: &str, secs: u64) -> String {
        self.wait_until(text, secs, Self::history)
    }

    fn wait_until(&self, text: &str, secs: u64, capture: fn(&Tmux) -> String) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let mut screen = capture(self);
            if screen.contains(text) {
                std::thread::sleep(Duration::from_millis(150));
                screen = capture(self);
                if screen.contains(text) {
                    return screen;
                }
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs}s for '{text}'; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The exit code a command run under tmux wrote to `exit_file` (`…; echo $? > FILE`), waiting
/// for it at most `secs` seconds.
pub fn wait_for_exit(exit_file: &std::path::Path, secs: u64) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Ok(text) = std::fs::read_to_string(exit_file)
            && let Ok(code) = text.trim().parse()
        {
            return code;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bringup did not exit in {secs}s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
