//! The identity library against OpenSSH's real `ssh-keygen`, with keys made in a temporary
//! folder: what is accepted, and every reason a request is refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration as ChronoDuration, Utc};

use super::*;
use crate::engine::{Decision, Phase, StepRef};
use crate::runbook::model::ServiceId;

const RUN: &str = "pangyo-fire";

fn run_hash() -> String {
    "ab".repeat(32)
}

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A new ed25519 key pair named `name`; its private key file.
    fn key(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen runs");
        assert!(status.success());
        path
    }

    fn public(key: &Path) -> String {
        let text = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
        let mut words = text.split_whitespace();
        format!(
            "{} {}",
            words.next().expect("type"),
            words.next().expect("key")
        )
    }

    fn fingerprint(key: &Path) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(key.with_extension("pub"))
            .output()
            .expect("ssh-keygen -l");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("fingerprint")
            .to_string()
    }

    /// An allowed signers file of these lines (`principal[ options]`, key).
    fn signers(&self, lines: &[(&str, &Path)]) -> Signers {
        let mut text = String::new();
        for (who, key) in lines {
            text.push_str(who);
            text.push(' ');
            text.push_str(&Lab::public(key));
            text.push('\n');
        }
        let path = self.dir.path().join("allowed_signers");
        std::fs::write(&path, text).expect("write signers");
        Signers::load(&path).expect("signers parse")
    }
}

fn note(operator: &str, text: &str) -> RequestMessage {
    RequestMessage::new(
        RUN,
        &run_hash(),
        operator,
        Utc::now(),
        Ask::Note { text: text.into() },
    )
    .expect("a message")
}

fn signed(message: &RequestMessage, key: &Path) -> SignedRequest {
    sign(message, &SigningKey::File(key.to_path_buf())).expect("signs")
}

fn refusal(verdict: Verdict) -> Refused {
    match verdict {
        Verdict::Refused(r) => r,
        Verdict::Accepted(a) => panic!("accepted: {a:?}"),
    }
}

#[test]
fn the_signed_message_reads_back_exactly_and_only_in_its_own_form() {
    let message = RequestMessage::new(
        RUN,
        &run_hash(),
        "alice",
        Utc::now(),
        Ask::Approval {
            step: StepRef {
                service: ServiceId::new("x"),
                phase: Phase::Restore,
                index: 0,
            },
            decision: Decision::Approved,
        },
    )
    .expect("message");
    let text = message.text().expect("text");
    assert!(text.starts_with(&format!(
        "bringup-request v1\nrun {RUN}\nrun-hash {}\noperator alice\nnonce ",
        run_hash()
    )));
    assert_eq!(RequestMessage::parse(&text), Ok(message.clone()));
    for bad in [
        text.replace("run-hash", "run_hash"),
        text.replace("\"decision\":\"approved\"", "\"decision\": \"approved\""),
        text.replace('\n', "\r\n"),
        format!("{text}extra\n"),
        text.trim_end().to_string(),
    ] {
        assert!(RequestMessage::parse(&bad).is_err(), "{bad:?}");
    }
    let two_lines = RequestMessage::new(RUN, &run_hash(), "alice\nbob", Utc::now(), Ask::RunPlan);
    assert!(matches!(two_lines, Err(MessageError::NotOneLine { .. })));
    assert_ne!(note("alice", "a").nonce, note("alice", "a").nonce);
}

#[test]
fn a_valid_signature_is_verified_with_its_principal_and_fingerprint_and_not_twice() {
    let lab = Lab::new();
    let alice = lab.key("alice");
    let signers = lab.signers(&[("alice", &alice)]);
    let mut verifier = Verifier::new(RUN, &run_hash(), Some(signers), Vec::new());
    let request = signed(&note("alice", "netops paged"), &alice);
    let Verdict::Accepted(accepted) = verifier.check(&request, Utc::now()) else {
        panic!("refused a valid request");
    };
    assert_eq!(accepted.operator, "alice");
    assert_eq!(accepted.provenance.identity, Some(Identity::Verified));
    assert_eq!(
        accepted.provenance.key.as_deref(),
        Some(Lab::fingerprint(&alice).as_str())
    );
    assert_eq!(
        accepted.ask,
        Ask::Note {
            text: "netops paged".into()
        }
    );
    // The same bytes again: replayed.
    let again = refusal(verifier.check(&request, Utc::now()));
    assert_eq!(again.reason, Refusal::Replayed);
    assert_eq!(again.operator, "alice");
    // A nonce read back from the journal after a resume counts as seen too.
    let later = signed(&note("alice", "after resume"), &alice);
    let nonce = RequestMessage::parse(&later.message).expect("parses").nonce;
    let mut resumed = Verifier::new(
        RUN,
        &run_hash(),
        Some(lab.signers(&[("alice", &alice)])),
        Vec::new(),
    );
    resumed.remember(&nonce);
    assert_eq!(
        refusal(resumed.check(&later, Utc::now())).reason,
        Refusal::Replayed
    );
}

#[test]
fn a_key_not_listed_and_another_operators_key_are_refused_with_their_reasons() {
    let lab = Lab::new();
    let alice = lab.key("alice");
    let mallory = lab.key("mallory");
    let signers = lab.signers(&[("alice", &alice), ("mallory", &mallory)]);
    let mut verifier = Verifier::new(RUN, &run_hash(), Some(signers), Vec::new());

    // mallory signs with her own key and claims to be alice.
    let forged = refusal(verifier.check(&signed(&note("alice", "x"), &mallory), Utc::now()));
    assert_eq!(
        forged.reason,
        Refusal::PrincipalDiffers {
            signers: vec!["mallory".into()]
        }
    );
    assert_eq!(forged.operator, "alice");
    assert_eq!(forged.key, Some(Lab::fingerprint(&mallory)));
    assert!(forged.reason.to_string().contains("belongs to 'mallory'"));

    // A key nobody listed.
    let stranger = lab.key("stranger");
    let unknown = refusal(verifier.check(&signed(&note("alice", "x"), &stranger), Utc::now()));
    assert_eq!(unknown.reason, Refusal::KeyNotListed);
    assert_eq!(unknown.key, Some(Lab::fingerprint(&stranger)));

    // alice's signature over bytes changed afterwards.
    let mut altered = signed(&note("alice", "restart db"), &alice);
    altered.message = altered.message.replace("restart db", "drop db!!!");
    let altered = refusal(verifier.check(&altered, Utc::now()));
    assert_eq!(
        altered.reason.code(),
        "bad_signature",
        "{:?}",
        altered.reason
    );
}

#[test]
fn an_unsigned_request_is_refused_when_signers_are_configured_and_unverified_without() {
    let lab = Lab::new();
    let alice = lab.key("alice");
    let request = unsigned(&note("alice", "x")).expect("unsigned");
    let mut checked = Verifier::new(
        RUN,
        &run_hash(),
        Some(lab.signers(&[("alice", &alice)])),
        Vec::new(),
    );
    let refused = refusal(checked.check(&request, Utc::now()));
    assert_eq!(refused.reason, Refusal::Unsigned);
    assert_eq!(refused.key, None);

    let mut open = Verifier::new(RUN, &run_hash(), None, Vec::new());
    let Verdict::Accepted(a) = open.check(&request, Utc::now()) else {
        panic!("no signers: accepted as unverified");
    };
    assert_eq!(a.provenance.identity, Some(Identity::Unverified));
    assert_eq!(a.provenance.key, None);
    // Signed, without signers: the signature is still checked, and the key recorded.
    let Verdict::Accepted(a) = open.check(&signed(&note("alice", "y"), &alice), Utc::now()) else {
        panic!("no signers: accepted as unverified");
    };
    assert_eq!(a.provenance.identity, Some(Identity::Unverified));
    assert_eq!(a.provenance.key, Some(Lab::fingerprint(&alice)));
    // Not JSON of a request at all (a plain `etcdctl put`).
    let junk = SignedRequest {
        message: r#"{"kind":"approval"}"#.into(),
        signature: None,
    };
    assert_eq!(
        refusal(open.check(&junk, Utc::now())).reason.code(),
        "unreadable"
    );
}

#[test]
fn observers_by_namespace_or_by_runbook_are_refused_whatever_they_sign() {
    let lab = Lab::new();
    let alice = lab.key("alice");
    let olga = lab.key("olga");
    let bob = lab.key("bob");
    let signers = lab.signers(&[
        ("alice", &alice),
        ("olga namespaces=\"bringup-observe\"", &olga),
        ("bob", &bob),
    ]);
    assert!(signers.is_observer("olga"));
    let mut verifier = Verifier::new(RUN, &run_hash(), Some(signers), vec!["bob".to_string()]);
    let olga_says = refusal(verifier.check(&signed(&note("olga", "x"), &olga), Utc::now()));
    assert_eq!(olga_says.reason, Refusal::Observer);
    assert_eq!(olga_says.key, Some(Lab::fingerprint(&olga)));
    let bob_says = refusal(verifier.check(&signed(&note("bob", "x"), &bob), Utc::now()));
    assert_eq!(bob_says.reason, Refusal::Observer);
    // olga's key claiming to be alice is still not alice.
    let as_alice = refusal(verifier.check(&signed(&note("alice", "x"), &olga), Utc::now()));
    assert_eq!(
        as_alice.reason,
        Refusal::PrincipalDiffers {
            signers: vec!["olga".into()]
        }
    );
}

#[test]
fn another_runs_request_and_one_out_of_its_time_are_refused() {
    let lab = Lab::new();
    let alice = lab.key("alice");
    let signers = lab.signers(&[("alice", &alice)]);
    let mut verifier = Verifier::new(RUN, &run_hash(), Some(signers), Vec::new());

    // The same name, made again: another run_started hash.
    let other = RequestMessage::new(RUN, &"cd".repeat(32), "alice", Utc::now(), Ask::RunPlan)
        .expect("message");
    assert_eq!(
        refusal(verifier.check(&signed(&other, &alice), Utc::now())).reason,
        Refusal::OtherRun { run: RUN.into() }
    );
    let renamed = RequestMessage::new("drill-7", &run_hash(), "alice", Utc::now(), Ask::RunPlan)
        .expect("message");
    assert_eq!(
        refusal(verifier.check(&signed(&renamed, &alice), Utc::now())).reason,
        Refusal::OtherRun {
            run: "drill-7".into()
        }
    );

    let old = RequestMessage::new(
        RUN,
        &run_hash(),
        "alice",
        Utc::now() - ChronoDuration::minutes(30),
        Ask::RunPlan,
    )
    .expect("message");
    assert_eq!(
        refusal(verifier.check(&signed(&old, &alice), Utc::now()))
            .reason
            .code(),
        "too_old"
    );
    let ahead = RequestMessage::new(
        RUN,
        &run_hash(),
        "alice",
        Utc::now() + ChronoDuration::minutes(30),
        Ask::RunPlan,
    )
    .expect("message");
    assert_eq!(
        refusal(verifier.check(&signed(&ahead, &alice), Utc::now()))
            .reason
            .code(),
        "in_future"
    );
    // Refused requests leave no nonce behind: the run can still take alice's next one.
    let Verdict::Accepted(_) = verifier.check(&signed(&note("alice", "ok"), &alice), Utc::now())
    else {
        panic!("a fresh request is accepted");
    };
}

#[test]
fn a_signature_made_for_another_namespace_is_not_a_request() {
    let lab = Lab::new();
    let alice = lab.key("alice");
    let signers = lab.signers(&[("alice", &alice)]);
    let mut verifier = Verifier::new(RUN, &run_hash(), Some(signers), Vec::new());
    let message = note("alice", "x");
    let text = message.text().expect("text");
    // A journal seal's signature over the same bytes.
    let sig = crate::sshsig::sign(
        crate::journal::seal::NAMESPACE,
        &alice,
        false,
        text.as_bytes(),
    )
    .expect("signs");
    let request = SignedRequest {
        message: text,
        signature: Some(String::from_utf8_lossy(&sig).into_owned()),
    };
    let refused = refusal(verifier.check(&request, Utc::now()));
    assert_eq!(refused.reason.code(), "bad_signature");
    assert!(refused.reason.to_string().contains("bringup-journal"));
}

#[test]
fn an_agent_that_did_not_answer_a_signing_says_to_confirm_or_check_it_or_pass_a_key_file() {
    let e = sign_error(
        KeygenError::AgentSilent {
            after: crate::sshsig::AGENT_SIGN_TIMEOUT,
            socket: "/tmp/agent.sock".into(),
        },
        &SigningKey::Agent,
        "the ssh-agent's first key",
    );
    assert_eq!(
        e.to_string(),
        "the ssh-agent did not answer in 60 s: if the key asks for confirmation (ssh-add -c), \
         confirm it when the agent asks; otherwise check that the ssh-agent at SSH_AUTH_SOCK \
         ('/tmp/agent.sock') answers (ssh-add -l); or pass --sign-key KEY"
    );
}
