//! Sealed journals, end to end with real OpenSSH tools: journals made by `bringup run` on the
//! local transport, sealed by `bringup seal -i KEY` or `run --seal` through a real
//! `ssh-agent`, then checked by `bringup verify --allowed-signers` and by `ssh-keygen -Y
//! verify` itself, after cutting, rewriting, re-signing by a stranger and appending.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::agent::{Agent, agent_key};
use crate::support::local::output;
use crate::support::run::{read_journal, stderr, stdout};
use crate::support::sshd::Lab;

const NAMESPACE: &str = "bringup-journal";

/// One local service that restores by touching a state file.
const RUNBOOK: &str = "[runbook]\nname = \"seal drill\"\n\n[defaults]\ntimeout = \"20s\"\n\n\
[vars]\nstate = \"/nonexistent\"\n\n[hosts.op]\ntransport = \"local\"\n\n\
[[service]]\nid = \"web\"\nname = \"Web\"\ntier = 1\nhosts = [\"op\"]\n\n\
[[service.check]]\nname = \"up\"\nrun = \"test -f {{state}}/web.up\"\n\n\
[[service.restore]]\nname = \"start\"\nrun = \"echo starting; touch {{state}}/web.up\"\n";

/// A lab folder with the runbook, a signing key (comment `agent-test`) and an allowed
/// signers file naming it as `auditor@example`.
struct Rig {
    lab: Lab,
    runbook: PathBuf,
    journal: PathBuf,
    key: PathBuf,
    signers: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        let lab = Lab::new();
        let runbook = lab.path("rb.toml");
        fs::write(&runbook, RUNBOOK).expect("write runbook");
        fs::create_dir_all(lab.path("state")).expect("state dir");
        let key = lab.path("signer_ed25519");
        let public = new_key(&key);
        let signers = lab.path("allowed_signers");
        fs::write(&signers, format!("auditor@example {public}\n")).expect("write signers");
        Rig {
            journal: lab.path("journal/run.jsonl"),
            lab,
            runbook,
            key,
            signers,
        }
    }

    fn bringup(&self) -> Command {
        let mut cmd = crate::support::local::bringup(self.lab.dir.path());
        cmd.env_remove("SSH_AUTH_SOCK");
        cmd
    }

    /// `bringup run --yes` on a new journal (or `--resume` it), plus `extra`.
    fn run(&self, resume: bool, extra: &[&str]) -> Command {
        let mut cmd = self.bringup();
        cmd.arg("run").arg(&self.runbook).arg("--yes").arg("--var");
        cmd.arg(format!("state={}", self.lab.path("state").display()));
        cmd.arg(if resume { "--resume" } else { "--journal" })
            .arg(&self.journal);
        cmd.args(extra);
        cmd
    }

    /// A finished run, sealed with the key file.
    fn sealed_run(&self) -> Output {
        let run = output(&mut self.run(false, &[]));
        assert_eq!(run.status.code(), Some(0), "run: {}", stderr(&run));
        let sealed = output(
            self.bringup()
                .arg("seal")
                .arg(&self.journal)
                .arg("-i")
                .arg(&self.key),
        );
        assert_eq!(sealed.status.code(), Some(0), "seal: {}", stderr(&sealed));
        sealed
    }

    fn verify(&self, signers: Option<&Path>) -> Output {
        let mut cmd = self.bringup();
        cmd.arg("verify").arg(&self.journal);
        if let Some(s) = signers {
            cmd.arg("--allowed-signers").arg(s);
        }
        output(&mut cmd)
    }

    fn sig(&self) -> PathBuf {
        self.lab.path("journal/run.jsonl.sig")
    }

    fn message(&self) -> PathBuf {
        self.lab.path("journal/run.jsonl.seal")
    }

    /// `ssh-keygen -Y verify` alone, as the README tells an auditor to run it.
    fn keygen_verify(&self, signers: &Path) -> Output {
        let message = fs::File::open(self.message()).expect("open the signed message");
        Command::new("ssh-keygen")
            .args([
                "-Y",
                "verify",
                "-n",
                NAMESPACE,
                "-I",
                "auditor@example",
                "-f",
            ])
            .arg(signers)
            .arg("-s")
            .arg(self.sig())
            .stdin(message)
            .output()
            .expect("ssh-keygen runs")
    }
}

/// A passphrase-less ed25519 key the agent helper can hold.
fn new_key(path: &Path) -> String {
    agent_key(path, "")
}

fn last_line_head(journal: &Path) -> (u64, String) {
    let events = read_journal(journal);
    let last = events.last().expect("events");
    (
        last["seq"].as_u64().expect("seq"),
        last["hash"].as_str().expect("hash").to_string(),
    )
}

#[test]
fn a_journal_sealed_with_a_key_file_verifies_with_its_signer_and_ssh_keygen_agrees() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let sealed = rig.sealed_run();
    let (seq, hash) = last_line_head(&rig.journal);
    assert_eq!(
        fs::read_to_string(rig.message()).expect("seal message"),
        format!("bringup-journal-seal v1\nseq {seq}\nhash {hash}\n"),
        "the signed message names the journal's last seq and hash"
    );
    assert!(
        stdout(&sealed).contains(&format!("at seq {seq}")),
        "{}",
        stdout(&sealed)
    );
    let v = rig.verify(Some(&rig.signers));
    assert_eq!(v.status.code(), Some(0), "verify: {}", stderr(&v));
    assert!(
        stdout(&v).contains("signature: good, by 'auditor@example'"),
        "{}",
        stdout(&v)
    );
    let k = rig.keygen_verify(&rig.signers);
    assert!(k.status.success(), "ssh-keygen: {}", stderr(&k));
    assert!(stdout(&k).contains("Good \"bringup-journal\" signature for auditor@example"));
}

#[test]
fn run_with_seal_signs_with_the_agents_first_key() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let agent = Agent::start(&rig.lab);
    agent.add(&rig.lab, &rig.key);
    // Only the agent can sign now: the private key file is gone.
    fs::remove_file(&rig.key).expect("remove the key file");
    let run = output(
        rig.run(false, &["--seal"])
            .env("SSH_AUTH_SOCK", &agent.sock),
    );
    assert_eq!(run.status.code(), Some(0), "run: {}", stderr(&run));
    assert!(
        stderr(&run).contains("with the ssh-agent's first key ('agent-test')"),
        "{}",
        stderr(&run)
    );
    let (seq, _) = last_line_head(&rig.journal);
    let v = rig.verify(Some(&rig.signers));
    assert_eq!(v.status.code(), Some(0), "verify: {}", stderr(&v));
    assert!(
        stdout(&v).contains(&format!(
            "signed head: seq {seq} is the journal's last event"
        )),
        "{}",
        stdout(&v)
    );
    assert!(rig.keygen_verify(&rig.signers).status.success());
}

#[test]
fn seal_without_an_agent_or_key_says_how_to_give_one() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let run = output(&mut rig.run(false, &[]));
    assert_eq!(run.status.code(), Some(0), "run: {}", stderr(&run));
    let s = output(rig.bringup().arg("seal").arg(&rig.journal));
    assert_eq!(s.status.code(), Some(2));
    assert!(stderr(&s).contains("pass -i KEY"), "{}", stderr(&s));
    assert!(!rig.sig().exists(), "no signature is left behind");
}

#[test]
fn a_sealed_journal_with_its_last_line_dropped_fails_while_the_signature_itself_is_good() {
    crate::require!(SshClient);
    let rig = Rig::new();
    rig.sealed_run();
    let (seq, _) = last_line_head(&rig.journal);
    let text = fs::read_to_string(&rig.journal).expect("journal");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    fs::write(&rig.journal, format!("{}\n", lines.join("\n"))).expect("cut the journal");

    let plain = rig.verify(None);
    assert_eq!(
        plain.status.code(),
        Some(1),
        "even without signers the cut shows"
    );
    let v = rig.verify(Some(&rig.signers));
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stderr(&v).contains(&format!(
            "the signed head seq {seq} is missing: the journal was cut"
        )),
        "{}",
        stderr(&v)
    );
    assert!(stdout(&v).contains("signature: good"), "{}", stdout(&v));
    assert!(
        rig.keygen_verify(&rig.signers).status.success(),
        "ssh-keygen agrees the signature is genuine: it is the journal that lost its head"
    );
}

#[test]
fn a_rewritten_and_rehashed_chain_fails_at_the_signed_head() {
    crate::require!(SshClient);
    let rig = Rig::new();
    rig.sealed_run();
    let (seq, _) = last_line_head(&rig.journal);
    crate::support::drill::rechain(&rig.journal, |l| {
        l.replace("\"tester\"", "\"someone-else\"")
    });
    let sig = fs::read(rig.sig()).expect("sig");
    let message = fs::read(rig.message()).expect("message");
    // The chain alone is intact again: only the seal can tell.
    fs::rename(rig.sig(), rig.lab.path("away.sig")).expect("move sig");
    fs::rename(rig.message(), rig.lab.path("away.seal")).expect("move seal");
    assert_eq!(
        rig.verify(None).status.code(),
        Some(0),
        "the rehashed chain links"
    );
    fs::write(rig.sig(), sig).expect("restore sig");
    fs::write(rig.message(), message).expect("restore seal");

    let v = rig.verify(Some(&rig.signers));
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stderr(&v).contains(&format!("hash at seq {seq} differs from the signed one")),
        "{}",
        stderr(&v)
    );
    let again = output(
        rig.bringup()
            .arg("seal")
            .arg(&rig.journal)
            .arg("-i")
            .arg(&rig.key),
    );
    assert_eq!(
        again.status.code(),
        Some(1),
        "a rewritten journal is not resealed"
    );
    assert!(
        stderr(&again).contains("cut or rewritten"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn an_unsealed_journal_says_unsealed_and_still_checks_the_chain() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let run = output(&mut rig.run(false, &[]));
    assert_eq!(run.status.code(), Some(0), "run: {}", stderr(&run));
    let v = rig.verify(None);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert!(
        stdout(&v).contains("unsealed: no signature")
            && stdout(&v).contains("a cut tail cannot be detected"),
        "{}",
        stdout(&v)
    );
    let with = rig.verify(Some(&rig.signers));
    assert_eq!(with.status.code(), Some(1), "signers ask for a seal");
    assert!(stderr(&with).contains("unsealed"), "{}", stderr(&with));

    let text = fs::read_to_string(&rig.journal).expect("journal");
    fs::write(&rig.journal, text.replacen("\"tester\"", "\"other\"", 1)).expect("tamper");
    let broken = rig.verify(None);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stdout(&broken).contains("FAILED: first bad seq 1"),
        "{}",
        stdout(&broken)
    );
}

#[test]
fn a_signature_by_a_key_not_among_the_allowed_signers_fails() {
    crate::require!(SshClient);
    let rig = Rig::new();
    rig.sealed_run();
    let other = new_key(&rig.lab.path("other_ed25519"));
    let strangers = rig.lab.path("other_signers");
    fs::write(&strangers, format!("auditor@example {other}\n")).expect("write signers");
    let v = rig.verify(Some(&strangers));
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stderr(&v).contains("the signature is not valid for any signer in"),
        "{}",
        stderr(&v)
    );
    assert!(
        !rig.keygen_verify(&strangers).status.success(),
        "ssh-keygen rejects it too"
    );
}

#[test]
fn events_appended_after_the_seal_are_reported_unsigned() {
    crate::require!(SshClient);
    let rig = Rig::new();
    rig.sealed_run();
    let (seq, _) = last_line_head(&rig.journal);
    let resumed = output(&mut rig.run(true, &[]));
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "resume: {}",
        stderr(&resumed)
    );
    let (last, _) = last_line_head(&rig.journal);
    assert!(last > seq, "the resumed run appended events");
    let v = rig.verify(Some(&rig.signers));
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert!(
        stdout(&v).contains(&format!(
            "unsigned: {} event(s) after the signed seq {seq} (seq {}–{last})",
            last - seq,
            seq + 1
        )),
        "{}",
        stdout(&v)
    );
}

#[test]
fn seal_refuses_a_journal_a_run_is_still_writing_and_a_broken_chain() {
    crate::require!(SshClient);
    let rig = Rig::new();
    let slow = RUNBOOK.replace("echo starting;", "sleep 3;");
    fs::write(&rig.runbook, slow).expect("write runbook");
    let mut running = rig.run(false, &[]).spawn().expect("spawn run");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rig.journal.exists()
        || fs::read_to_string(&rig.journal).is_ok_and(|t| !t.contains("\"restore\""))
    {
        assert!(Instant::now() < deadline, "the restore never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let busy = output(
        rig.bringup()
            .arg("seal")
            .arg(&rig.journal)
            .arg("-i")
            .arg(&rig.key),
    );
    assert_eq!(busy.status.code(), Some(2), "{}", stderr(&busy));
    assert!(
        stderr(&busy).contains("is being written by pid"),
        "{}",
        stderr(&busy)
    );
    assert!(running.wait().expect("run ends").success());

    let text = fs::read_to_string(&rig.journal).expect("journal");
    fs::write(&rig.journal, text.replacen("\"tester\"", "\"other\"", 1)).expect("tamper");
    let broken = output(
        rig.bringup()
            .arg("seal")
            .arg(&rig.journal)
            .arg("-i")
            .arg(&rig.key),
    );
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains("is broken at seq 1"),
        "{}",
        stderr(&broken)
    );
    assert!(!rig.sig().exists(), "nothing is sealed");
}
