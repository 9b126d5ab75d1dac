//! The programs some tests start (OpenSSH's sshd and client tools, etcd, tmux, openssl, man),
//! found in one place each, and the guard that skips a test when one is missing:
//!
//! ```ignore
//! #[test]
//! fn runs_over_ssh() {
//!     crate::require!(Sshd);
//!     let lab = Lab::new();
//!     …
//! }
//! ```
//!
//! A missing program skips the test with a line on stderr naming it and the package to install,
//! unless `CI` or `BRINGUP_REQUIRE_ALL` is set (`./scripts/test` sets it after installing
//! everything): there a missing program fails the test, so CI runs every test or says why not.
//! `BRINGUP_TEST_<TOOL>` (`BRINGUP_TEST_SSHD`, `BRINGUP_TEST_ETCD`, …) names the program to use
//! instead of the one found on this machine; pointing it at a path that does not exist shows
//! the skip.

use std::path::{Path, PathBuf};

/// What a test needs installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// OpenSSH's server, and `ssh-keygen` for its keys.
    Sshd,
    /// `ssh-keygen`, `ssh-agent` and `ssh-add`.
    SshClient,
    Etcd,
    Tmux,
    Openssl,
    Man,
    /// `unshare` (util-linux), allowed to mount a tmpfs in a private mount namespace (root):
    /// a small file system a test can fill ([`super::tmpfs`]).
    Tmpfs,
}

impl Tool {
    /// `BRINGUP_TEST_<NAME>` overrides where the program is.
    fn env_var(self) -> &'static str {
        match self {
            Tool::Sshd => "BRINGUP_TEST_SSHD",
            Tool::SshClient => "BRINGUP_TEST_SSH_KEYGEN",
            Tool::Etcd => "BRINGUP_TEST_ETCD",
            Tool::Tmux => "BRINGUP_TEST_TMUX",
            Tool::Openssl => "BRINGUP_TEST_OPENSSL",
            Tool::Man => "BRINGUP_TEST_MAN",
            Tool::Tmpfs => "BRINGUP_TEST_UNSHARE",
        }
    }

    /// The program looked up on `PATH` (or the fixed path for sshd).
    fn program(self) -> &'static str {
        match self {
            Tool::Sshd => "/usr/sbin/sshd",
            Tool::SshClient => "ssh-keygen",
            Tool::Etcd => "etcd",
            Tool::Tmux => "tmux",
            Tool::Openssl => "openssl",
            Tool::Man => "man",
            Tool::Tmpfs => "unshare",
        }
    }

    /// The Debian package that installs it.
    fn package(self) -> &'static str {
        match self {
            Tool::Sshd => "openssh-server",
            Tool::SshClient => "openssh-client",
            Tool::Etcd => "etcd-server",
            Tool::Tmux => "tmux",
            Tool::Openssl => "openssl",
            Tool::Man => "man-db",
            Tool::Tmpfs => "util-linux",
        }
    }

    /// Tools this one cannot work without.
    fn also(self) -> &'static [Tool] {
        match self {
            Tool::Sshd => &[Tool::SshClient],
            _ => &[],
        }
    }

    /// Where the program is, or what was looked for when it is not there.
    pub fn find(self) -> Result<PathBuf, String> {
        if let Some(set) = std::env::var_os(self.env_var()) {
            let p = PathBuf::from(set);
            return if p.is_file() {
                Ok(p)
            } else {
                Err(format!("{} (named by {})", p.display(), self.env_var()))
            };
        }
        let program = self.program();
        if program.starts_with('/') {
            let p = PathBuf::from(program);
            return if p.is_file() {
                Ok(p)
            } else {
                Err(program.into())
            };
        }
        let on_path = std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .map(|dir| Path::new(dir).join(program))
            .find(|p| p.is_file());
        // Debian's etcd-server lands in /usr/bin, which a trimmed PATH may lack.
        let fallback = Path::new("/usr/bin").join(program);
        on_path
            .or_else(|| fallback.is_file().then_some(fallback))
            .ok_or_else(|| program.to_string())
    }

    /// Whether the program found at `path` can do what tests ask of it: for [`Tool::Tmpfs`],
    /// mount a tmpfs in a private mount namespace (checked once per test process).
    fn usable(self, path: &Path) -> Result<(), String> {
        static TMPFS: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
        match self {
            Tool::Tmpfs => TMPFS.get_or_init(|| super::tmpfs::probe(path)).clone(),
            _ => Ok(()),
        }
    }

    /// The program's path; fails the test naming the package when it is missing (callers
    /// guarded by [`require`](crate::require) never see that).
    #[track_caller]
    pub fn path(self) -> PathBuf {
        self.find().unwrap_or_else(|missing| {
            panic!(
                "needs {missing} (install {}, or run ./scripts/test, which installs it)",
                self.package()
            )
        })
    }
}

/// Whether every tool in `tools` (and what each needs) is here. A missing one is reported on
/// stderr as a skip of `test`, or fails the test under `CI` / `BRINGUP_REQUIRE_ALL`. One that
/// is here but not permitted what the test needs (mounting, for [`Tool::Tmpfs`], in a
/// container without the right) is always a skip, said on stderr: installing cannot fix it.
#[track_caller]
pub fn present(test: &str, tools: &[Tool]) -> bool {
    for tool in tools
        .iter()
        .flat_map(|t| std::iter::once(t).chain(t.also()))
    {
        match tool.find() {
            Ok(path) => {
                if let Err(why) = tool.usable(&path) {
                    eprintln!("skipped {test}: {why}");
                    return false;
                }
            }
            Err(missing) => {
                let why = format!(
                    "needs {missing} (install {}, or run ./scripts/test, which installs it)",
                    tool.package()
                );
                assert!(!require_all(), "{test} {why}; CI runs every test");
                eprintln!("skipped {test}: {why}");
                return false;
            }
        }
    }
    true
}

/// `CI` (any value but empty, `0` or `false`) or `BRINGUP_REQUIRE_ALL=1`: nothing may skip.
fn require_all() -> bool {
    let set =
        |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    set("CI") || set("BRINGUP_REQUIRE_ALL")
}

/// The running test's name as libtest gives it (the thread's name), else `fallback`.
pub fn test_name(fallback: &str) -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map_or_else(|| fallback.to_string(), str::to_string)
}

/// At the top of a test: return from it (skipped, said on stderr) unless the named
/// [`Tool`]s are installed; under `CI` or `BRINGUP_REQUIRE_ALL` a missing one fails it.
#[macro_export]
macro_rules! require {
    ($($tool:ident),+ $(,)?) => {
        if !$crate::support::tools::present(
            &$crate::support::tools::test_name(module_path!()),
            &[$($crate::support::tools::Tool::$tool),+],
        ) {
            return;
        }
    };
}
