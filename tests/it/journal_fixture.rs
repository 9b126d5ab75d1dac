//! The committed fixture `tests/fixtures/pangyo.jsonl` is exactly what the writer produces
//! for the scripted Pangyo run, so other tests and tools can use the file directly.
//! `UPDATE_FIXTURES=1 cargo test --test journal_fixture` rewrites it.

use crate::pangyo;

use std::fs;
use std::path::Path;

#[test]
fn committed_fixture_matches_the_writer_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("pangyo.jsonl");
    pangyo::write(&fresh);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let committed = fixtures.join("pangyo.jsonl");
    let side = bringup::journal::side_dir(&fresh);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        fs::copy(&fresh, &committed).expect("copy journal");
        let target = bringup::journal::side_dir(&committed);
        fs::create_dir_all(&target).expect("side dir");
        for e in fs::read_dir(&side).expect("side") {
            let e = e.expect("entry");
            fs::copy(e.path(), target.join(e.file_name())).expect("copy side file");
        }
    }
    assert_eq!(
        fs::read(&committed).expect("committed fixture exists (UPDATE_FIXTURES=1 makes it)"),
        fs::read(&fresh).expect("fresh")
    );
    assert!(
        bringup::journal::verify(&committed)
            .expect("readable")
            .is_intact()
    );
}
