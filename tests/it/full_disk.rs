//! A full file system never costs the record: `bringup run` on the local transport with its
//! journal, a directory witness, its log, or an export's target on a small tmpfs that fills up
//! (`support::tmpfs`, a private mount namespace), through the real binary. A full journal stops
//! the run (exit 3) with a journal that verifies and the command that continues it; a full
//! witness or log does not stop it; an export or a pull never leaves half a report or half
//! a copy.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::support::events::{of_kind, read_journal};
use crate::support::tmpfs::Rig;

/// A runbook of `services` on the local transport named `name`, with `witness` appended.
fn runbook(name: &str, services: &str, witness: &str) -> String {
    format!(
        "[runbook]\nname = \"{name}\"\n\n[hosts.op]\ntransport = \"local\"\n\n{services}{witness}"
    )
}

/// One service `id` with a check and, when given, a restore step.
fn service(id: &str, check: &str, restore: Option<&str>) -> String {
    let mut toml = format!(
        "[[service]]\nid = \"{id}\"\nname = \"{id}\"\ntier = 1\nhosts = [\"op\"]\n\n\
         [[service.check]]\nname = \"probe\"\nrun = \"{check}\"\n\n"
    );
    if let Some(run) = restore {
        let _ = write!(
            toml,
            "[[service.restore]]\nname = \"start\"\nrun = \"{run}\"\n\n"
        );
    }
    toml
}

/// Every line of `journal` is whole JSON (the last one ends in a newline).
#[track_caller]
fn whole_lines(journal: &Path) -> Vec<serde_json::Value> {
    let bytes = fs::read(journal).expect("journal");
    assert_eq!(
        bytes.last(),
        Some(&b'\n'),
        "the journal ends in half a line"
    );
    read_journal(journal)
}

#[test]
fn a_journal_whose_disk_fills_mid_output_stops_the_run_with_exit_3_and_resumes_once_space_is_freed()
{
    crate::require!(Tmpfs);
    let rig = Rig::new();
    let (fs_dir, out) = (rig.fs(), rig.out());
    let (fs_dir, out) = (fs_dir.display(), out.display());
    // The check fills the journal's disk once, then prints: its output cannot be recorded.
    // It fails until the restore ran, so a run that went on would launch the restore.
    let check = format!(
        "if [ ! -e {out}/filled ]; then touch {out}/filled; cat /dev/zero > {fs_dir}/filler 2>/dev/null; fi; \
         seq 1 5000; test -e {out}/restored"
    );
    let restore = format!("touch {out}/restored; echo started");
    fs::write(
        rig.path("rb.toml"),
        runbook("full disk", &service("db", &check, Some(&restore)), ""),
    )
    .expect("runbook");
    let started = std::time::Instant::now();
    rig.run(
        256,
        r#"
        record first "$B" run rb.toml --journal "$FS/run.jsonl"
        test -e "$OUT/restored" && touch "$OUT/restored-while-full"
        cp "$FS/run.jsonl" "$OUT/first.jsonl"
        record verify_first "$B" verify "$FS/run.jsonl"
        record still_full "$B" run rb.toml --resume "$FS/run.jsonl"
        record verify_still "$B" verify "$FS/run.jsonl"
        cp "$FS/run.jsonl" "$OUT/still_full.jsonl"
        rm "$FS/filler"
        record resumed "$B" run rb.toml --resume "$FS/run.jsonl"
        record verify "$B" verify "$FS/run.jsonl"
        cp "$FS/run.jsonl" "$OUT/final.jsonl"
        "#,
    );

    let first = rig.ran("first");
    assert_eq!(first.code, Some(3), "{}", first.stderr);
    for said in [
        "No space left on device",
        "Its file system is full: everything before this is recorded",
        "free space there",
    ] {
        assert!(first.stderr.contains(said), "'{said}' in: {}", first.stderr);
    }
    let journal = rig.fs().join("run.jsonl");
    assert!(
        first.stderr.contains(&format!(
            "continue: bringup run rb.toml --resume {}",
            journal.display()
        )),
        "{}",
        first.stderr
    );
    // The check's own end came with its output: nothing is left to wait for.
    assert!(!first.stderr.contains("did not stop"), "{}", first.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(12),
        "the run waited for steps that had ended: {:?}",
        started.elapsed()
    );
    assert!(
        !out_has(&rig, "restored-while-full"),
        "a step was launched after the journal failed"
    );
    let verify_first = rig.ran("verify_first");
    assert_eq!(verify_first.code, Some(0), "{}", verify_first.stderr);
    // The output (more than the last page of the journal holds) is not all recorded, so
    // neither is the check's end, nor anything after it.
    let events = whole_lines(&rig.out().join("first.jsonl"));
    assert!(
        of_kind(&events, "step_finished").is_empty(),
        "{:?}",
        events.last()
    );

    // Still full: the resume cannot record itself, says so, and the journal still verifies.
    let still = rig.ran("still_full");
    assert_eq!(still.code, Some(3), "{}", still.stderr);
    assert!(
        still.stderr.contains("is full") && still.stderr.contains("free space"),
        "{}",
        still.stderr
    );
    let verify_still = rig.ran("verify_still");
    assert_eq!(verify_still.code, Some(0), "{}", verify_still.stderr);
    whole_lines(&rig.out().join("still_full.jsonl"));

    let resumed = rig.ran("resumed");
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    let verify = rig.ran("verify");
    assert_eq!(verify.code, Some(0), "{}", verify.stderr);
    let events = whole_lines(&rig.out().join("final.jsonl"));
    assert!(!of_kind(&events, "resumed").is_empty());
    let finished = of_kind(&events, "run_finished");
    assert_eq!(finished[0]["outcome"], "restored", "{finished:?}");
    assert!(out_has(&rig, "restored"));
}

fn out_has(rig: &Rig, name: &str) -> bool {
    rig.out().join(name).exists()
}

#[test]
fn output_spilled_to_side_files_on_a_full_disk_leaves_no_partial_side_file_and_the_run_resumes() {
    crate::require!(Tmpfs);
    let rig = Rig::new();
    let out = rig.out();
    // Binary output goes to side files, 64 KiB each: more than the disk holds.
    let check = format!(
        "if [ ! -e {0}/big ]; then touch {0}/big; head -c 600000 /dev/urandom; fi; true",
        out.display()
    );
    fs::write(
        rig.path("rb.toml"),
        runbook("spill", &service("blob", &check, None), ""),
    )
    .expect("runbook");
    rig.run(
        256,
        r#"
        record first "$B" run rb.toml --journal "$FS/run.jsonl"
        cp -r "$FS" "$OUT/first"
        record verify_first "$B" verify "$FS/run.jsonl"
        record resumed "$B" run rb.toml --resume "$FS/run.jsonl"
        record verify "$B" verify "$FS/run.jsonl"
        "#,
    );
    let first = rig.ran("first");
    assert_eq!(first.code, Some(3), "{}", first.stderr);
    assert!(
        first.stderr.contains("No space left on device") && first.stderr.contains("--resume"),
        "{}",
        first.stderr
    );
    assert!(!first.stderr.contains("did not stop"), "{}", first.stderr);
    let copy = rig.out().join("first");
    let events = whole_lines(&copy.join("run.jsonl"));
    let referenced: Vec<String> = events
        .iter()
        .filter_map(|e| e["raw"].as_str())
        .filter_map(|raw| raw.rsplit('/').next())
        .map(str::to_string)
        .collect();
    assert!(!referenced.is_empty(), "some output was recorded");
    let mut on_disk: Vec<String> = fs::read_dir(copy.join("run.jsonl.d"))
        .expect("side folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut wanted = referenced.clone();
    wanted.sort();
    assert_eq!(
        on_disk, wanted,
        "a side file no event references (half written) was left behind"
    );
    let verify_first = rig.ran("verify_first");
    assert_eq!(verify_first.code, Some(0), "{}", verify_first.stderr);
    let resumed = rig.ran("resumed");
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    let verify = rig.ran("verify");
    assert_eq!(verify.code, Some(0), "{}", verify.stderr);
}

/// `count` services, about 4 events each: 15 make a head at about seq 50 and one at the end
/// (written while the run closes). The runbook's long name makes each head about 3 KiB, so a
/// 4 KiB page of witness holds one and cuts the next.
fn witnessed(fs_dir: &Path, count: usize) -> String {
    let services: String = (0..count)
        .map(|i| service(&format!("svc-{i}"), "true", None))
        .collect();
    let name = format!("witnessed {}", "x".repeat(3000));
    runbook(
        &name,
        &services,
        &format!("[[witness]]\npath = \"{}\"\n", fs_dir.display()),
    )
}

#[test]
fn a_witness_directory_that_fills_up_keeps_whole_heads_only_and_the_run_goes_on() {
    crate::require!(Tmpfs);
    let rig = Rig::new();
    fs::write(rig.path("rb.toml"), witnessed(&rig.fs(), 15)).expect("runbook");
    // One page left: the first head fits, the second is cut short by the full disk.
    rig.run(
        16,
        r#"
        leave 4 "$FS/filler"
        record run "$B" run rb.toml --journal run.jsonl
        record verify "$B" verify run.jsonl --witness "$FS"
        mkdir "$OUT/w" && cp "$FS"/*.heads "$OUT/w/"
        "#,
    );
    let run = rig.ran("run");
    assert_eq!(
        run.code,
        Some(0),
        "the witness is not the record: {}",
        run.stderr
    );
    // Progress, witness failures among it, is on stdout.
    let said: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("did not take the head"))
        .collect();
    assert!(
        said.iter().any(|l| l.contains("No space left on device")),
        "the run says why the witness did not take the head: {}",
        run.stdout
    );
    let heads_file = fs::read_dir(rig.out().join("w"))
        .expect("copied witness")
        .next()
        .expect("a heads file")
        .expect("entry")
        .path();
    let heads = whole_lines(&heads_file);
    assert_eq!(heads.len(), 1, "{heads:?}");
    let verify = rig.ran("verify");
    assert_eq!(verify.code, Some(0), "{}\n{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.contains("1 head(s)") && verify.stdout.contains("all in the chain"),
        "{}",
        verify.stdout
    );
    let events = read_journal(&rig.path("run.jsonl"));
    assert!(
        of_kind(&events, "witness_failed").iter().any(|e| e["error"]
            .as_str()
            .is_some_and(|t| t.contains("No space left on device"))),
        "the journal records why: {:?}",
        of_kind(&events, "witness_failed")
    );
}

#[test]
fn a_full_witness_directory_is_said_and_verify_names_what_it_holds() {
    crate::require!(Tmpfs);
    let rig = Rig::new();
    // A check that lasts 3 s: the witness is retried (and fails) a few times meanwhile.
    let slow = service("slow", "sleep 3", None);
    fs::write(
        rig.path("rb.toml"),
        witnessed(&rig.fs(), 30).replace("[[witness]]", &format!("{slow}[[witness]]")),
    )
    .expect("runbook");
    rig.run(
        16,
        r#"
        fill "$FS/filler"
        record run "$B" run rb.toml --journal run.jsonl
        record verify "$B" verify run.jsonl --witness "$FS"
        "#,
    );
    let run = rig.ran("run");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Said once while the run goes on (every attempt is journaled), and once at its end.
    let said: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("did not take the head"))
        .collect();
    assert!(
        said.len() == 2
            && said[0].contains("No space left on device")
            && said[0].ends_with("retrying")
            && said[1].ends_with("given up"),
        "{}",
        run.stdout
    );
    let events = read_journal(&rig.path("run.jsonl"));
    assert!(
        of_kind(&events, "witness_failed").len() > 2,
        "every attempt is journaled: {:?}",
        of_kind(&events, "witness_failed")
    );
    let verify = rig.ran("verify");
    assert_eq!(verify.code, Some(1), "{}\n{}", verify.stdout, verify.stderr);
    assert!(
        verify.stderr.contains("holds no head of this run")
            && verify
                .stderr
                .contains("the journal records that it could not be written"),
        "{}",
        verify.stderr
    );
}

#[test]
fn a_full_log_file_system_does_not_stop_the_run() {
    crate::require!(Tmpfs);
    let rig = Rig::new();
    let services: String = (0..5)
        .map(|i| service(&format!("svc-{i}"), "seq 1 100", None))
        .collect();
    fs::write(rig.path("rb.toml"), runbook("logged", &services, "")).expect("runbook");
    rig.run(
        16,
        r#"
        fill "$FS/filler"
        export RUST_LOG=debug
        record run "$B" run rb.toml --journal run.jsonl --log-file "$FS/bringup.log"
        record verify "$B" verify run.jsonl
        "#,
    );
    let run = rig.ran("run");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(rig.ran("verify").code, Some(0));
    let events = read_journal(&rig.path("run.jsonl"));
    assert_eq!(of_kind(&events, "run_finished")[0]["outcome"], "restored");
}

#[test]
fn an_export_or_output_to_a_full_disk_fails_clearly_and_leaves_no_partial_file() {
    crate::require!(Tmpfs);
    let rig = Rig::new();
    // Enough output that the JSON report is larger than what is left.
    let services: String = (0..3)
        .map(|i| service(&format!("svc-{i}"), "seq 1 3000", None))
        .collect();
    fs::write(rig.path("rb.toml"), runbook("exported", &services, "")).expect("runbook");
    rig.run(
        256,
        r#"
        record run "$B" run rb.toml --journal run.jsonl
        record before "$B" export run.jsonl --format markdown -o "$FS/report.md"
        cp "$FS/report.md" "$OUT/before.md"
        leave 4 "$FS/filler"
        record again "$B" export run.jsonl --format json -o "$FS/report.md"
        record new "$B" export run.jsonl --format json -o "$FS/new.json"
        record piped sh -c '"$B" export run.jsonl --format json > "$FS/piped.json"'
        record output "$B" output run.jsonl --service svc-0 -o "$FS/out.txt"
        cp "$FS/report.md" "$OUT/after.md"
        ls -A "$FS" > "$OUT/left"
        "#,
    );
    assert_eq!(rig.ran("run").code, Some(0));
    assert_eq!(rig.ran("before").code, Some(0));
    for name in ["again", "new"] {
        let ran = rig.ran(name);
        assert_eq!(ran.code, Some(2), "{name}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("cannot write") && ran.stderr.contains("No space left on device"),
            "{name}: {}",
            ran.stderr
        );
    }
    assert_eq!(
        fs::read(rig.out().join("after.md")).expect("after"),
        fs::read(rig.out().join("before.md")).expect("before"),
        "the report from before is intact"
    );
    let left = fs::read_to_string(rig.out().join("left")).expect("listing");
    let mut left: Vec<&str> = left.lines().collect();
    left.sort_unstable();
    // `piped.json` is the shell's file, cut short where the disk filled: bringup says so.
    assert_eq!(
        left,
        ["filler", "piped.json", "report.md"],
        "no temporary file stays"
    );
    let output = rig.ran("output");
    assert_ne!(output.code, Some(0), "{}", output.stderr);
    assert!(
        output.stderr.contains("No space left on device"),
        "{}",
        output.stderr
    );
    let piped = rig.ran("piped");
    assert_eq!(piped.code, Some(2), "{}", piped.stderr);
    assert!(
        piped.stderr.contains("cannot write to stdout")
            && piped.stderr.contains("No space left on device"),
        "{}",
        piped.stderr
    );
}

#[test]
fn a_pull_onto_a_full_disk_fails_clearly_and_leaves_neither_journal_nor_side_files() {
    use crate::support::etcd::{Cluster, Options, Wait as _};
    use bringup::journal::Event;
    use bringup::journal::etcd::{EtcdStore, RunUrl};
    use bringup::runbook::{HostId, ServiceId};
    use sha2::Digest as _;
    crate::require!(Tmpfs, Etcd);
    let cluster = Cluster::start_with(&Options {
        members: 1,
        ..Options::default()
    });
    // A shared run whose output (a side file) is larger than the disk has room for.
    let url = RunUrl::parse(&cluster.url("full")).expect("url");
    let mut store = EtcdStore::open(&url).wait().expect("open");
    let mut rng = fastrand::Rng::with_seed(7);
    let bytes: Vec<u8> = (0..300_000).map(|_| rng.u8(..)).collect();
    store.put_side(1, &bytes).wait().expect("put the side file");
    let output = Event::StepOutput {
        service: ServiceId::new("web"),
        step: "dump".into(),
        host: HostId::new("op"),
        text: "(binary)".into(),
        raw: Some(url.side_name(1)),
        size: Some(bytes.len() as u64),
        sha256: Some(hex::encode(sha2::Sha256::digest(&bytes))),
        file: None,
    };
    store
        .append(&output, chrono::Utc::now())
        .wait()
        .expect("append");
    let rig = Rig::new();
    let script = format!(
        r#"
        record pull "$B" pull '{url}' -o "$FS/pulled.jsonl"
        ls -A "$FS" > "$OUT/left"
        ls -A "$FS/pulled.jsonl.d" > "$OUT/sides" 2>/dev/null
        true
        "#
    );
    rig.run(256, &script);
    let pull = rig.ran("pull");
    assert_eq!(pull.code, Some(2), "{}", pull.stderr);
    assert!(
        pull.stderr.contains("cannot pull") && pull.stderr.contains("No space left on device"),
        "{}",
        pull.stderr
    );
    let left = fs::read_to_string(rig.out().join("left")).expect("listing");
    let sides = fs::read_to_string(rig.out().join("sides")).unwrap_or_default();
    assert_eq!(sides, "", "no side file of a journal that was not written");
    assert_eq!(
        left.trim(),
        "",
        "no journal, no temporary file, no side folder: {left}"
    );
}

#[test]
fn a_disk_that_fills_before_the_run_finished_line_says_what_to_do_and_resume_records_the_end() {
    crate::require!(Tmpfs);
    let rig = Rig::new();
    let out = rig.out();
    // Services with long names make `run_finished` (their states) larger than what is left:
    // one page, once the last check (2 s after the others) has filled the disk, enough for
    // its own events.
    let mut services: String = (0..30)
        .map(|i| service(&format!("service-{i:02}-{}", "x".repeat(300)), "true", None))
        .collect();
    services.push_str(&service(
        "last",
        &format!(
            "sleep 2; if [ ! -e {0}/filled ]; then touch {0}/filled; cat /dev/zero > {1}/filler 2>/dev/null; truncate -s -4K {1}/filler; fi; true",
            out.display(),
            rig.fs().display()
        ),
        None,
    ));
    fs::write(rig.path("rb.toml"), runbook("ending", &services, "")).expect("runbook");
    rig.run(
        1024,
        r#"
        record first "$B" run rb.toml --journal "$FS/run.jsonl"
        cp "$FS/run.jsonl" "$OUT/first.jsonl"
        record verify_first "$B" verify "$FS/run.jsonl"
        rm "$FS/filler"
        record resumed "$B" run rb.toml --resume "$FS/run.jsonl"
        record verify "$B" verify "$FS/run.jsonl"
        cp "$FS/run.jsonl" "$OUT/final.jsonl"
        "#,
    );
    let first = rig.ran("first");
    assert_eq!(first.code, Some(3), "{}", first.stderr);
    let events = whole_lines(&rig.out().join("first.jsonl"));
    assert!(of_kind(&events, "run_finished").is_empty());
    assert!(
        first.stderr.contains("its end is not recorded")
            && first.stderr.contains("free space there")
            && first
                .stderr
                .contains("continue: bringup run rb.toml --resume"),
        "{}",
        first.stderr
    );
    assert_eq!(rig.ran("verify_first").code, Some(0));
    let resumed = rig.ran("resumed");
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert_eq!(rig.ran("verify").code, Some(0));
    let events = whole_lines(&rig.out().join("final.jsonl"));
    assert_eq!(of_kind(&events, "run_finished").len(), 1);
}

#[test]
fn a_run_that_cannot_start_on_a_full_disk_leaves_no_journal_and_starts_once_space_is_freed() {
    crate::require!(Tmpfs);
    let rig = Rig::new();
    fs::write(
        rig.path("rb.toml"),
        runbook("start", &service("web", "true", None), ""),
    )
    .expect("runbook");
    rig.run(
        64,
        r#"
        fill "$FS/filler"
        record full "$B" run rb.toml --journal "$FS/run.jsonl"
        ls -A "$FS" > "$OUT/left"
        rm "$FS/filler"
        record again "$B" run rb.toml --journal "$FS/run.jsonl"
        record verify "$B" verify "$FS/run.jsonl"
        "#,
    );
    let full = rig.ran("full");
    assert_eq!(full.code, Some(2), "{}", full.stderr);
    assert!(
        full.stderr.contains("No space left on device") && full.stderr.contains("--journal"),
        "{}",
        full.stderr
    );
    let left = fs::read_to_string(rig.out().join("left")).expect("listing");
    assert_eq!(left.trim(), "filler", "no empty journal left to be refused");
    let again = rig.ran("again");
    assert_eq!(
        again.code,
        Some(0),
        "the same command, once there is space: {}",
        again.stderr
    );
    assert_eq!(rig.ran("verify").code, Some(0));
}
