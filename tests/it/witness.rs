//! Witnesses end to end (SPEC "Sites and witnesses"): `bringup run` on the local transport
//! with a `[[witness]]` directory or a 3-member loopback etcd cluster, then `bringup verify
//! --witness` on the journal as it was, cut and sealed again with another key, and rewritten
//! with its chain recomputed; and a dead witness, whose failures are journaled while the run
//! finishes.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::etcd::{Cluster, Wait as _};
use crate::support::events::of_kind;
use crate::support::local::{bringup, folder, output};
use crate::support::run::{read_journal, stderr, stdout};

/// Services, each checked healthy once: about 4 events each, in four waves a fifth of a
/// second apart, so heads are written past 50 events, again later, and at the end.
const SERVICES: usize = 40;

fn runbook(witness: &str) -> String {
    let mut toml = String::from(
        "[runbook]\nname = \"witnessed drill\"\n\n[hosts.op]\ntransport = \"local\"\n\n",
    );
    for i in 0..SERVICES {
        let _ = write!(
            toml,
            "[[service]]\nid = \"svc-{i}\"\nname = \"Service {i}\"\ntier = 1\nhosts = [\"op\"]\n\n\
             [[service.check]]\nname = \"up\"\nrun = \"sleep 0.{}\"\n\n",
            (i % 4) * 2
        );
    }
    toml.push_str(witness);
    toml
}

struct Rig {
    dir: tempfile::TempDir,
    runbook: PathBuf,
    journal: PathBuf,
}

impl Rig {
    /// A folder with the runbook (its `[[witness]]` table as given) and a `w/` directory.
    fn new(witness: &str) -> Rig {
        let (dir, runbook, journal) = folder(&runbook(witness));
        fs::create_dir(dir.path().join("w")).expect("witness dir");
        Rig {
            dir,
            runbook,
            journal,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut cmd = bringup(self.dir.path());
        cmd.env_remove("SSH_AUTH_SOCK");
        cmd
    }

    fn run(&self, extra: &[&str]) -> Output {
        let out = output(
            self.cmd()
                .arg("run")
                .arg(&self.runbook)
                .arg("--journal")
                .arg(&self.journal)
                .args(extra),
        );
        assert_eq!(out.status.code(), Some(0), "run: {}", stderr(&out));
        out
    }

    fn verify(&self, extra: &[&str]) -> Output {
        output(self.cmd().arg("verify").arg(&self.journal).args(extra))
    }

    /// The heads file of this run in `w/` (named by its `run_started` hash).
    fn heads(&self) -> Vec<serde_json::Value> {
        let run = read_journal(&self.journal)[0]["hash"]
            .as_str()
            .expect("run_started hash")
            .to_string();
        read_journal(&self.path(&format!("w/{run}.heads")))
    }

    /// Keep the first `keep` lines of the journal.
    fn cut(&self, keep: usize) {
        let text = fs::read_to_string(&self.journal).expect("journal");
        let lines: Vec<&str> = text.lines().take(keep).collect();
        fs::write(&self.journal, format!("{}\n", lines.join("\n"))).expect("cut");
    }
}

fn last(journal: &Path) -> (u64, String) {
    let events = read_journal(journal);
    let e = events.last().expect("events");
    (
        e["seq"].as_u64().expect("seq"),
        e["hash"].as_str().expect("hash").to_string(),
    )
}

/// A key and an allowed signers file naming it as `principal`.
fn signer(rig: &Rig, name: &str, principal: &str) -> (PathBuf, PathBuf) {
    let key = rig.path(name);
    let public = crate::support::drill::new_key(&key);
    let signers = rig.path(&format!("{name}.signers"));
    fs::write(&signers, format!("{principal} {public}\n")).expect("signers");
    (key, signers)
}

#[test]
fn a_directory_witness_keeps_signed_heads_every_50_events_and_the_end_and_the_journal_verifies_against_it()
 {
    crate::require!(SshClient);
    let rig = Rig::new("[[witness]]\npath = \"w\"\n");
    let (key, signers) = signer(&rig, "operator_key", "operator@example");
    rig.run(&["--seal", "--seal-key", key.to_str().expect("utf-8")]);
    let (seq, hash) = last(&rig.journal);
    assert!(seq > 50, "the run makes more than 50 events: {seq}");
    let heads = rig.heads();
    let seqs: Vec<u64> = heads
        .iter()
        .map(|h| h["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs[0] >= 50 && seqs[0] < seq,
        "a head past 50 events: {seqs:?}"
    );
    let final_head = heads.last().expect("the final head");
    assert_eq!(final_head["seq"].as_u64(), Some(seq), "the end: {seqs:?}");
    assert_eq!(final_head["hash"].as_str(), Some(hash.as_str()));
    let events = read_journal(&rig.journal);
    assert_eq!(
        final_head["ts"],
        events.last().expect("events")["ts"],
        "the event's own time"
    );
    assert!(
        final_head["sig"]
            .as_str()
            .is_some_and(|s| s.starts_with("-----BEGIN SSH SIGNATURE-----")),
        "signed with --seal's key: {final_head}"
    );
    assert!(
        of_kind(&read_journal(&rig.journal), "witness_failed").is_empty(),
        "a live witness fails nothing"
    );

    let v = rig.verify(&[
        "--witness",
        "w",
        "--allowed-signers",
        signers.to_str().expect("utf-8"),
    ]);
    assert_eq!(v.status.code(), Some(0), "{}{}", stdout(&v), stderr(&v));
    assert!(
        stdout(&v).contains(&format!("the last at seq {seq}: all in the chain")),
        "{}",
        stdout(&v)
    );
    assert!(
        stdout(&v).contains("head signatures good, by 'operator@example'"),
        "{}",
        stdout(&v)
    );
}

#[test]
fn a_journal_cut_and_sealed_again_with_another_key_fails_verify_with_its_witness() {
    crate::require!(SshClient);
    let rig = Rig::new("[[witness]]\npath = \"w\"\n");
    rig.run(&[]);
    let (seq, _) = last(&rig.journal);
    rig.cut(40);
    let (other, other_signers) = signer(&rig, "other_key", "mallory@example");
    let sealed = output(
        rig.cmd()
            .arg("seal")
            .arg(&rig.journal)
            .arg("-i")
            .arg(&other),
    );
    assert_eq!(sealed.status.code(), Some(0), "{}", stderr(&sealed));
    let alone = rig.verify(&["--allowed-signers", other_signers.to_str().expect("utf-8")]);
    assert_eq!(
        alone.status.code(),
        Some(0),
        "a cut journal sealed again passes its own seal: {}",
        stderr(&alone)
    );

    let v = rig.verify(&["--witness", "w"]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    let err = stderr(&v);
    assert!(
        err.contains(&format!("witness 'w': it holds seq {seq} (witnessed ")),
        "{err}"
    );
    assert!(
        err.contains("but the journal ends at seq 40: the journal was cut"),
        "{err}"
    );
    assert!(stdout(&v).contains("FAILED"), "{}", stdout(&v));
}

#[test]
fn a_journal_rewritten_with_its_chain_recomputed_fails_verify_with_its_witness() {
    let rig = Rig::new("[[witness]]\npath = \"w\"\n");
    rig.run(&[]);
    let first = rig.heads()[0]["seq"].as_u64().expect("first head");
    let original = fs::read_to_string(&rig.journal).expect("journal");
    // The last service's check is made to have failed: every hash from there on changes.
    crate::support::drill::rechain(&rig.journal, |l| {
        if l.contains("\"kind\":\"step_finished\"") && l.contains("\"svc-39\"") {
            l.replace("\"exit_code\":0", "\"exit_code\":1")
        } else {
            l.to_string()
        }
    });
    assert_eq!(rig.verify(&[]).status.code(), Some(0), "the chain links");
    let v = rig.verify(&["--witness", "w"]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    let err = stderr(&v);
    assert!(
        err.contains("witness 'w': at seq ") && err.contains("the journal was rewritten"),
        "{err}"
    );

    // Rewritten from its first event: the run's identity changes, and the witness knows
    // no such run.
    fs::write(&rig.journal, original).expect("restore");
    crate::support::drill::rechain(&rig.journal, |l| {
        l.replace("\"tester\"", "\"someone-else\"")
    });
    let v = rig.verify(&["--witness", "w"]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stderr(&v).contains("witness 'w' holds no head of this run"),
        "{}",
        stderr(&v)
    );
    assert!(first >= 50);
}

#[test]
fn dead_witnesses_are_journaled_as_failed_and_the_run_still_finishes_at_once() {
    let port = crate::support::sshd::free_ports(1)[0];
    let rig = Rig::new(&format!(
        "[[witness]]\npath = \"unmounted\"\n\n[[witness]]\nurl = \"etcd://127.0.0.1:{port}/ledger\"\n"
    ));
    let began = Instant::now();
    rig.run(&[]);
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "dead witnesses hold nothing up: {:?}",
        began.elapsed()
    );
    assert!(!rig.path("unmounted").exists(), "never created");
    let v = rig.verify(&[]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "the failures chain: {}",
        stderr(&v)
    );
    let events = read_journal(&rig.journal);
    let failed = of_kind(&events, "witness_failed");
    let of = |w: u64| -> Vec<&&serde_json::Value> {
        failed
            .iter()
            .filter(|e| e["witness"].as_u64() == Some(w))
            .collect()
    };
    let dir = of(0);
    assert!(
        dir.iter().any(|e| e["error"]
            .as_str()
            .is_some_and(|s| s.contains("does not exist (is its share mounted?)"))
            && e["next_retry_ms"].is_u64()),
        "{failed:?}"
    );
    assert!(
        dir.iter().all(|e| e["target"]
            .as_str()
            .is_some_and(|t| t.ends_with("unmounted"))),
        "{failed:?}"
    );
    let etcd = of(1);
    assert!(
        etcd.iter().any(|e| e["next_retry_ms"].is_u64()),
        "the etcd witness's attempts are journaled too: {failed:?}"
    );
    let run_finished = of_kind(&events, "run_finished")[0]["seq"]
        .as_u64()
        .expect("run_finished");
    for w in [0, 1] {
        let given_up = of(w)
            .into_iter()
            .rfind(|e| e["next_retry_ms"].is_null())
            .unwrap_or_else(|| panic!("witness {w} given up at the end: {failed:?}"));
        assert!(
            given_up["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("the run ended before the head was written")),
            "{given_up}"
        );
        assert!(
            given_up["of_seq"].as_u64() >= Some(run_finished),
            "the final head: {given_up}"
        );
    }
}

#[test]
fn a_three_member_etcd_witness_keeps_heads_once_and_catches_a_cut_and_a_rewrite() {
    crate::require!(Etcd);
    let cluster = Cluster::start();
    let url = cluster.url("ledger");
    let rig = Rig::new(&format!("[[witness]]\nurl = \"{url}\"\n"));
    rig.run(&[]);
    let (seq, _) = last(&rig.journal);
    assert!(
        of_kind(&read_journal(&rig.journal), "witness_failed").is_empty(),
        "a live cluster fails nothing"
    );
    let v = rig.verify(&["--witness", &url]);
    assert_eq!(v.status.code(), Some(0), "{}{}", stdout(&v), stderr(&v));
    assert!(
        stdout(&v).contains(&format!("the last at seq {seq}: all in the chain")),
        "{}",
        stdout(&v)
    );

    // Keys are written once: a different head at a witnessed seq is refused.
    let run = read_journal(&rig.journal)[0]["hash"]
        .as_str()
        .expect("run")
        .to_string();
    let parsed = bringup::journal::etcd::RunUrl::parse(&url).expect("url");
    let forged = bringup::witness::WitnessedHead {
        run: run.clone(),
        seq,
        hash: "f".repeat(64),
        ts: chrono::Utc::now(),
        runbook: None,
        key: None,
        sig: None,
    };
    let refused = async {
        let mut etcd = bringup::journal::etcd::Etcd::connect(&cluster.endpoints).await?;
        Ok::<_, bringup::journal::etcd::EtcdError>(
            bringup::witness::etcd::put(&mut etcd, &parsed, &forged).await,
        )
    }
    .wait()
    .expect("etcd answers");
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("already holds another head")),
        "{refused:?}"
    );

    let original = fs::read_to_string(&rig.journal).expect("journal");
    rig.cut(30);
    let v = rig.verify(&["--witness", &url]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stderr(&v).contains(&format!("witness '{url}': it holds seq {seq}")),
        "{}",
        stderr(&v)
    );

    fs::write(&rig.journal, original).expect("restore");
    crate::support::drill::rechain(&rig.journal, |l| {
        if l.contains("\"kind\":\"run_finished\"") {
            l.replace("\"svc-0\":\"healthy\"", "\"svc-0\":\"failed\"")
        } else {
            l.to_string()
        }
    });
    assert_ne!(last(&rig.journal).1, "", "rechained");
    let v = rig.verify(&["--witness", &url]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stderr(&v).contains(&format!("at seq {seq} it holds hash")),
        "{}",
        stderr(&v)
    );
}

#[test]
fn witness_tables_are_validated_with_file_line_and_column() {
    let (dir, runbook, _) = folder(
        "[hosts.op]\ntransport = \"local\"\n\n[[service]]\nid = \"a\"\nhosts = [\"op\"]\n\n\
         [[service.check]]\nname = \"c\"\nrun = \"true\"\n\n\
         [[witness]]\npath = \"w\"\nurl = \"etcd://127.0.0.1:2379/l\"\n\n\
         [[witness]]\nurl = \"https://ledger.example/l\"\n\n\
         [[witness]]\nurl = \"etcd://127.0.0.1/l\"\n\n\
         [[witness]]\n\n\
         [[witness]]\npaht = \"w\"\n",
    );
    let out = output(bringup(dir.path()).arg("validate").arg(&runbook));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    for expected in [
        "rb.toml:14:7: error: a [[witness]] has both 'path' and 'url'",
        "rb.toml:17:7: error: witness url 'https://ledger.example/l' is not an etcd:// URL",
        "rb.toml:20:7: error: 'etcd://127.0.0.1/l' is not a witness URL: member '127.0.0.1' needs a port",
        "rb.toml:22:1: error: a [[witness]] needs 'path' or 'url'",
        "rb.toml:25:1: error: unknown key 'paht' in [[witness]]",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
}

#[test]
fn a_shared_run_gives_its_committed_heads_to_a_directory_witness_and_its_pulled_journal_verifies() {
    crate::require!(Etcd);
    let cluster = Cluster::start();
    let url = cluster.url("witnessed-run");
    let rig = Rig::new("[[witness]]\npath = \"w\"\n");
    let run = output(
        rig.cmd()
            .arg("run")
            .arg(&rig.runbook)
            .arg("--journal")
            .arg(&url),
    );
    assert_eq!(run.status.code(), Some(0), "run: {}", stderr(&run));
    let pulled = output(rig.cmd().args(["pull", &url, "-o"]).arg(&rig.journal));
    assert_eq!(pulled.status.code(), Some(0), "pull: {}", stderr(&pulled));
    let (seq, hash) = last(&rig.journal);
    let heads = rig.heads();
    assert!(
        heads.len() >= 2,
        "a head past 50 events and the end: {heads:?}"
    );
    let final_head = heads.last().expect("final");
    assert_eq!(final_head["seq"].as_u64(), Some(seq));
    assert_eq!(final_head["hash"].as_str(), Some(hash.as_str()));
    let v = rig.verify(&["--witness", "w"]);
    assert_eq!(v.status.code(), Some(0), "{}{}", stdout(&v), stderr(&v));
    let direct = output(rig.cmd().args(["verify", &url, "--witness", "w"]));
    assert_eq!(direct.status.code(), Some(2), "{}", stdout(&direct));
    assert!(
        stderr(&direct).contains("`bringup pull"),
        "{}",
        stderr(&direct)
    );
}
