//! A small file system a test can fill: a tmpfs mounted on `fs/` of a temp folder inside a
//! private mount namespace (`unshare --mount`), seen only by the shell script that mounted it
//! and gone with it. Guard tests with `crate::require!(Tmpfs)` (root may mount; others skip).
//!
//! The script runs with `$B` (the real binary), `$FS` (the mount point) and `$OUT` (a folder
//! outside it, where results must be copied before the script ends), and these functions:
//! - `record NAME CMD…`: run CMD (stdin closed) with its stdout, stderr and exit code kept in
//!   `$OUT/NAME.{stdout,stderr,rc}` ([`Rig::ran`] reads them);
//! - `fill FILE`: write zeros to FILE until the file system is full;
//! - `leave KIB FILE`: fill, then give back KIB KiB (a whole number of 4 KiB pages).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What one `record`ed command did.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub struct Rig {
    pub dir: tempfile::TempDir,
}

const FUNCTIONS: &str = r#"
record() { name=$1; shift; "$@" </dev/null >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"; echo $? >"$OUT/$name.rc"; }
fill() { cat /dev/zero >"$1" 2>/dev/null; true; }
leave() { fill "$2"; truncate -s "-$1K" "$2"; }
"#;

impl Rig {
    /// A temp folder with an empty `fs/` (the mount point) and `out/`.
    pub fn new() -> Rig {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["fs", "out"] {
            std::fs::create_dir(dir.path().join(sub)).expect("folder");
        }
        Rig { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The mount point (a tmpfs only inside [`Rig::run`]'s script).
    pub fn fs(&self) -> PathBuf {
        self.path("fs")
    }

    pub fn out(&self) -> PathBuf {
        self.path("out")
    }

    /// Run `script` (see the module's doc) with a `kib` KiB tmpfs on `fs/`, from the temp
    /// folder as user `tester`; bounded: a hung script fails the test.
    pub fn run(&self, kib: u32, script: &str) -> Output {
        let body = format!(
            "set -u\nmount -t tmpfs -o size={kib}k,mode=0755 none \"$FS\" || exit 97\n{FUNCTIONS}\n{script}"
        );
        let mut cmd = Command::new(crate::support::tools::Tool::Tmpfs.path());
        cmd.arg("--mount")
            .arg("sh")
            .arg("-c")
            .arg(body)
            .current_dir(self.dir.path())
            .env("B", assert_cmd::cargo::cargo_bin("bringup"))
            .env("FS", self.fs())
            .env("OUT", self.out())
            .env("USER", "tester")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = crate::support::local::finish(cmd.spawn().expect("spawn unshare"));
        assert_ne!(
            out.status.code(),
            Some(97),
            "mounting the tmpfs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// What the command `record`ed as `name` did.
    #[track_caller]
    pub fn ran(&self, name: &str) -> Ran {
        let read = |ext: &str| {
            std::fs::read_to_string(self.out().join(format!("{name}.{ext}")))
                .unwrap_or_else(|e| panic!("'{name}' was not recorded ({ext}: {e})"))
        };
        Ran {
            code: read("rc").trim().parse().ok(),
            stdout: read("stdout"),
            stderr: read("stderr"),
        }
    }
}

/// Whether `unshare` at `path` may mount a tmpfs here: `Err` says why not.
pub fn probe(path: &Path) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = Command::new(path)
        .args([
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k none \"$0\"",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run '{}': {e}", path.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(format!(
        "needs to mount a tmpfs in a private mount namespace, which '{} --mount' may not here{}; run the tests as root",
        path.display(),
        if said.is_empty() {
            String::new()
        } else {
            format!(" ({said})")
        }
    ))
}
