//! One folder a test runs the real `bringup` in, built one way for every test file:
//!
//! - [`Rig::local`]: a temp folder holding `runbook.toml`, a journal path `journal/run.jsonl` (not
//!   created: bringup makes the folder) and an empty `state/` for the runbook's commands;
//!   bringup runs from there as user `tester`.
//! - [`Rig::ssh`]: the same inside an sshd [`Lab`], with one real sshd listening on `ports`
//!   loopback ports, HOME in the lab with `~/.ssh/known_hosts` trusting that sshd and an empty
//!   `~/.ssh/config`; bringup runs with that HOME, no ssh-agent. [`Rig::ssh_untrusted`] leaves
//!   known_hosts empty; [`Rig::ssh_home`] starts no sshd (the test starts its own).
//!
//! ```ignore
//! crate::require!(Sshd);
//! let rig = Rig::ssh(2);
//! let rb = rig.write_runbook(&format!("{}{SERVICES}", rig.head("", "")));
//! let out = rig.run_journaled(&["--yes"], &rig.journal, &rb);
//! let events = rig.events();
//! ```

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::sshd::{Lab, Sshd, current_user};

/// Where the rig's folder comes from.
enum Home {
    Folder(tempfile::TempDir),
    Lab(Lab),
}

pub struct Rig {
    home: Home,
    sshd: Option<Sshd>,
    /// `runbook.toml` in the rig ([`Rig::write_runbook`] writes it).
    pub runbook: PathBuf,
    /// `journal/run.jsonl` in the rig, not created.
    pub journal: PathBuf,
    /// `state/` in the rig, created: where a runbook's commands leave marks.
    pub state: PathBuf,
}

impl Rig {
    /// A temp folder for a local run, `toml` written as its runbook.
    pub fn local(toml: &str) -> Rig {
        let rig = Rig::at(Home::Folder(tempfile::tempdir().expect("temp dir")), None);
        fs::write(&rig.runbook, toml).expect("write runbook");
        rig
    }

    /// A lab with one sshd on `ports` loopback ports, its key trusted in `~/.ssh/known_hosts`.
    pub fn ssh(ports: usize) -> Rig {
        Rig::ssh_trusting(ports, true)
    }

    /// As [`Rig::ssh`], but `~/.ssh/known_hosts` is empty: the sshd's key is unknown.
    pub fn ssh_untrusted(ports: usize) -> Rig {
        Rig::ssh_trusting(ports, false)
    }

    /// A lab with an empty `~/.ssh` (known_hosts and config) and no sshd yet.
    pub fn ssh_home() -> Rig {
        let lab = Lab::new();
        lab.ssh_home("");
        Rig::at(Home::Lab(lab), None)
    }

    fn ssh_trusting(ports: usize, trust: bool) -> Rig {
        let lab = Lab::new();
        let sshd = lab.sshd(ports);
        lab.ssh_home(&if trust {
            sshd.known_hosts_lines()
        } else {
            String::new()
        });
        Rig::at(Home::Lab(lab), Some(sshd))
    }

    fn at(home: Home, sshd: Option<Sshd>) -> Rig {
        let dir = match &home {
            Home::Folder(dir) => dir.path(),
            Home::Lab(lab) => lab.dir.path(),
        };
        let state = dir.join("state");
        fs::create_dir_all(&state).expect("create state dir");
        Rig {
            runbook: dir.join("runbook.toml"),
            journal: dir.join("journal/run.jsonl"),
            state,
            home,
            sshd,
        }
    }

    /// The rig's folder: bringup's working folder (and HOME over ssh).
    pub fn dir(&self) -> &Path {
        match &self.home {
            Home::Folder(dir) => dir.path(),
            Home::Lab(lab) => lab.dir.path(),
        }
    }

    /// `name` in the rig's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// `name` in `state/`.
    pub fn state_file(&self, name: &str) -> PathBuf {
        self.state.join(name)
    }

    /// `name.jsonl` in the rig: a journal path for one more run.
    pub fn journal_named(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.jsonl"))
    }

    /// The sshd lab of an ssh rig.
    #[track_caller]
    pub fn lab(&self) -> &Lab {
        match &self.home {
            Home::Lab(lab) => lab,
            Home::Folder(_) => panic!("a local rig has no sshd lab: use Rig::ssh"),
        }
    }

    /// The sshd of [`Rig::ssh`].
    #[track_caller]
    pub fn sshd(&self) -> &Sshd {
        self.sshd.as_ref().expect("a rig from Rig::ssh has an sshd")
    }

    /// Write `text` as the rig's runbook (`runbook.toml`); returns its path.
    pub fn write_runbook(&self, text: &str) -> PathBuf {
        fs::write(&self.runbook, text).expect("write runbook");
        self.runbook.clone()
    }

    /// `[runbook]` (name and `extra_meta`), `[defaults]` (the current user, `extra_defaults`)
    /// and one `[hosts.hI]` per port of the sshd, reached with the lab's client key: the head
    /// of a runbook over ssh, services to be appended.
    pub fn head(&self, extra_meta: &str, extra_defaults: &str) -> String {
        let mut text = format!(
            "[runbook]\nname = \"run over ssh\"\n{extra_meta}\n\n[defaults]\nuser = \"{}\"\n\
             timeout = \"20s\"\nconcurrency = 8\n{extra_defaults}\n\n",
            current_user()
        );
        for (i, port) in self.sshd().ports.iter().enumerate() {
            let _ = write!(text, "{}", self.host_toml(&format!("h{i}"), *port));
        }
        text
    }

    /// `[hosts.ID]` at 127.0.0.1:`port` with the lab's client key.
    pub fn host_toml(&self, id: &str, port: u16) -> String {
        format!(
            "[hosts.{id}]\naddress = \"127.0.0.1\"\nport = {port}\nidentity = \"{}\"\n\n",
            self.lab().client_key.display()
        )
    }

    /// The real binary, run from the rig: over ssh with HOME there and no ssh-agent
    /// ([`Lab::bringup`]); locally as user `tester`, stdout and stderr captured.
    pub fn bringup(&self) -> Command {
        match &self.home {
            Home::Lab(lab) => lab.bringup(),
            Home::Folder(dir) => super::local::bringup(dir.path()),
        }
    }

    /// `bringup run RUNBOOK --yes` on the rig's journal: a new one, or `--resume` it.
    pub fn run(&self, resume: Resume) -> Command {
        let mut cmd = self.bringup();
        cmd.arg("run").arg(&self.runbook).arg("--yes");
        cmd.arg(match resume {
            Resume::No => "--journal",
            Resume::Yes => "--resume",
        })
        .arg(&self.journal);
        cmd
    }

    /// `bringup run ARGS --journal JOURNAL RUNBOOK` over ssh, waited for ([`Lab::run_journaled`]).
    pub fn run_journaled(&self, args: &[&str], journal: &Path, runbook: &Path) -> Output {
        self.lab().run_journaled(args, journal, runbook)
    }

    /// `bringup export JOURNAL --format FORMAT`, not started.
    pub fn export(&self, format: &str) -> Command {
        let mut cmd = self.bringup();
        cmd.arg("export")
            .arg(&self.journal)
            .args(["--format", format]);
        cmd
    }

    /// `bringup verify JOURNAL`, waited for.
    pub fn verify(&self) -> Output {
        let mut cmd = self.bringup();
        cmd.arg("verify").arg(&self.journal);
        super::local::output(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
    }

    /// Every event of the rig's journal ([`super::events::read_journal`]).
    pub fn events(&self) -> Vec<Value> {
        super::events::read_journal(&self.journal)
    }
}

/// Whether [`Rig::run`] starts a journal or resumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    No,
    Yes,
}

/// `struct NAME(Rig)` that dereferences to the shared [`Rig`], for a test file that adds its own
/// runs and runbooks: `crate::file_rig!(Rig);` then `impl Rig { … }`.
#[macro_export]
macro_rules! file_rig {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        struct $name($crate::support::rig::Rig);

        impl std::ops::Deref for $name {
            type Target = $crate::support::rig::Rig;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
    };
}
