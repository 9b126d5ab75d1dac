//! `bringup pull URL -o FILE`: copy a shared run from etcd into a journal file, checking its
//! chain on the way. The file appears whole or not at all (written beside it, fsynced, then
//! renamed over it; a temporary file a killed pull left is removed by the next); the output
//! side files its events reference are written first, where a journal's readers look for
//! them (`FILE.d/<seq>.out`, 0600 in a 0700 folder), so `verify FILE` and `output FILE`
//! work on the copy; a pull that fails (a full disk) removes the side files it created.
//! Logic lives in `journal::etcd`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::PullArgs;
use crate::cmd::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP};
use crate::journal::etcd::{self, Access, EtcdStore, RunUrl, Side};
use crate::journal::event::OutputFile;
use crate::journal::files;

pub fn pull(args: &PullArgs) -> ExitCode {
    let url = match RunUrl::parse(&args.url) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let out = &args.output;
    if let Some(pid) = files::locked_by(out) {
        let holder = pid.map_or_else(|| "a bringup run".to_string(), |p| format!("pid {p}"));
        eprintln!(
            "bringup: '{}' is a journal being written by {holder}; pull into another file",
            out.display()
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let rt = match crate::cmd::shared::edge_runtime() {
        Ok(rt) => rt,
        Err(f) => {
            eprintln!("bringup: {}", f.message);
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let access = Access::from_args(&args.etcd);
    let mut store = match rt.block_on(EtcdStore::open_with(&url, &access)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let mut sides = SideWriter {
        journal: out.clone(),
        open: None,
        failed: None,
        created: Vec::new(),
    };
    let written = write_atomically(out, |w| {
        let mut failed = None;
        let report = rt
            .block_on(etcd::scan_run_with(
                &mut store,
                |line| {
                    if failed.is_none()
                        && let Err(e) = w.write_all(line).and_then(|()| w.write_all(b"\n"))
                    {
                        failed = Some(e);
                    }
                },
                |side| sides.take(side),
            ))
            .map_err(io::Error::other)?;
        sides.finish()?;
        failed.map_or(Ok(report), Err)
    });
    let report = match written {
        Ok(r) => r,
        Err(e) => {
            sides.discard();
            eprintln!(
                "bringup: cannot pull '{url}' into '{}': {e}; check the folder is writable and etcd answers",
                out.display()
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Some(p) = report.first_problem() {
        eprintln!(
            "bringup: shared run '{url}' is broken at {p}; '{}' holds it as it is",
            out.display()
        );
        println!("FAILED: first bad seq {}", p.seq);
        return ExitCode::from(EXIT_NOT_ALL_UP);
    }
    println!(
        "pulled {} event(s) of '{url}' (from {}) into '{}'",
        report.events,
        store.endpoint(),
        out.display()
    );
    ExitCode::SUCCESS
}

/// Writes the side files a pull reads, one at a time, where their events name them.
struct SideWriter {
    /// The pulled journal, whose `.d` folder the side files go into.
    journal: PathBuf,
    open: Option<fs::File>,
    failed: Option<io::Error>,
    /// The side files this pull created (none was there before): what a failed pull takes
    /// back, since no journal references them.
    created: Vec<PathBuf>,
}

impl SideWriter {
    fn take(&mut self, side: Side<'_>) {
        if self.failed.is_some() {
            return;
        }
        let done = match side {
            Side::Begin(file) => self.begin(file),
            Side::Piece(bytes) => match &mut self.open {
                Some(f) => f.write_all(bytes),
                None => Ok(()),
            },
        };
        if let Err(e) = done {
            self.failed = Some(e);
        }
    }

    /// Close the file being written (fsynced) and create the next: `<journal>.d/<seq>.out`.
    /// The shared run keeps it under the name of its event's seq (checked as it is read),
    /// so the seq is what the name ends in.
    fn begin(&mut self, file: &OutputFile) -> io::Result<()> {
        self.finish_open()?;
        let seq = file
            .path
            .rsplit_once('/')
            .and_then(|(_, name)| name.strip_suffix(".out"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                io::Error::other(format!(
                    "the side file path '{}' is not NAME.jsonl.d/SEQ.out",
                    file.path.escape_debug()
                ))
            })?;
        let name = files::side_name(seq);
        let path = crate::journal::side_dir(&self.journal).join(&name);
        let new = fs::symlink_metadata(&path).is_err();
        let created = files::create_side_file(&self.journal, &name).map_err(io::Error::other)?;
        if new {
            self.created.push(path);
        }
        self.open = Some(created);
        Ok(())
    }

    /// After a failed pull: remove the side files it created (a full disk gets its space
    /// back, and no file is left as if it belonged to a journal), and their folder if that
    /// leaves it empty. Side files that were there before are left as they are.
    fn discard(&mut self) {
        self.open = None;
        for path in self.created.drain(..) {
            let _ = fs::remove_file(path);
        }
        let _ = fs::remove_dir(crate::journal::side_dir(&self.journal));
    }

    fn finish_open(&mut self) -> io::Result<()> {
        match self.open.take() {
            Some(f) => f.sync_all(),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.finish_open()
    }
}

/// Write `out` whole (see [`files::write_atomically`]), its folder created if missing.
fn write_atomically<T>(
    out: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<T> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::create_dirs(dir).map_err(io::Error::other)?;
    }
    files::write_atomically(out, write)
}
