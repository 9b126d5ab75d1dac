//! `bringup pull URL -o FILE`: copy a shared run from etcd into a journal file, checking its
//! chain on the way. The file appears whole or not at all (written beside it, fsynced, then
//! renamed over it); the output side files its events reference are written first, where
//! the events name them (`<FILE's folder>/NAME.jsonl.d/<seq>.out`, 0600 in a 0700 folder),
//! so `verify FILE` and `output FILE` work on the copy. Logic lives in `journal::etcd`.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::PullArgs;
use crate::cmd::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP};
use crate::journal::etcd::{self, Access, EtcdStore, RunUrl, Side};
use crate::journal::event::OutputFile;
use crate::journal::verify::output_file_path;
use crate::journal::{files, writer};

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
    let tmp = temp_path(out);
    let folder = out.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut sides = SideWriter {
        folder,
        open: None,
        failed: None,
    };
    let written = write_atomically(&tmp, out, |w| {
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
            let _ = fs::remove_file(&tmp);
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
    /// The pulled journal's folder, which side file paths are relative to.
    folder: PathBuf,
    open: Option<fs::File>,
    failed: Option<io::Error>,
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

    /// Close the file being written (fsynced) and create the one `file` names.
    fn begin(&mut self, file: &OutputFile) -> io::Result<()> {
        self.finish_open()?;
        let bad = || {
            io::Error::other(format!(
                "the side file path '{}' is not NAME.jsonl.d/FILE inside the journal's folder",
                file.path
            ))
        };
        output_file_path(&self.folder, file).ok_or_else(bad)?;
        let (dir, name) = file.path.split_once('/').ok_or_else(bad)?;
        let journal = dir
            .strip_suffix(".d")
            .filter(|j| !j.is_empty())
            .ok_or_else(bad)?;
        if name.contains('/') {
            return Err(bad());
        }
        let created =
            files::create_side_file(&self.folder.join(journal), name).map_err(io::Error::other)?;
        self.open = Some(created);
        Ok(())
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

/// A name beside `out`, so the rename stays within one filesystem.
fn temp_path(out: &Path) -> PathBuf {
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    out.with_file_name(format!(".{name}.pull-{}", std::process::id()))
}

fn write_atomically<T>(
    tmp: &Path,
    out: &Path,
    write: impl FnOnce(&mut BufWriter<&fs::File>) -> io::Result<T>,
) -> io::Result<T> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::create_dirs(dir).map_err(io::Error::other)?;
    }
    let _ = fs::remove_file(tmp);
    let file = files::create_new(tmp).map_err(io::Error::other)?;
    let mut w = BufWriter::new(&file);
    let value = write(&mut w)?;
    w.flush()?;
    drop(w);
    file.sync_all()?;
    fs::rename(tmp, out)?;
    writer::sync_parent(out);
    Ok(value)
}
