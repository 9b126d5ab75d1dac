//! `bringup pull URL -o FILE`: copy a shared run from etcd into a journal file, checking its
//! chain on the way. The file appears whole or not at all (written beside it, fsynced, then
//! renamed over it). Logic lives in `journal::etcd`.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::PullArgs;
use crate::cmd::{EXIT_BAD_INPUT, EXIT_NOT_ALL_UP};
use crate::journal::etcd::{self, Access, EtcdStore, RunUrl};
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
    let mut store = match EtcdStore::open_with(&url, &Access::from_args(&args.etcd)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bringup: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let tmp = temp_path(out);
    let written = write_atomically(&tmp, out, |w| {
        let mut failed = None;
        let report = etcd::scan_run(&mut store, |line| {
            if failed.is_none()
                && let Err(e) = w.write_all(line).and_then(|()| w.write_all(b"\n"))
            {
                failed = Some(e);
            }
        })
        .map_err(io::Error::other)?;
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
