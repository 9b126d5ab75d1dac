//! Unknown host keys met on the way through a jump host, against real OpenSSH servers on
//! loopback: the key the jump host offered waits for an operator, who can accept exactly it.

use std::time::Duration;

use crate::support::sshd::Lab;
use bringup::exec::Executor;
use bringup::runbook::model::HostId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const STEP: Duration = Duration::from_secs(20);

async fn run(exec: &Executor, host: &str, command: &str) -> bringup::exec::StepResult {
    let (tx, mut rx) = mpsc::channel(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let result = exec
        .run(
            &HostId::new(host),
            command,
            STEP,
            tx,
            CancellationToken::new(),
        )
        .await;
    drain.await.expect("drain");
    result
}

#[tokio::test]
async fn a_jump_hosts_unknown_key_waits_under_the_jump_host_and_accepting_it_opens_the_way() {
    crate::require!(Sshd);
    let lab = Lab::new();
    // Neither key is known and there is no --accept-new-host-keys: the operator decides.
    let (bastion, inner, rb) = lab.jump_pair();
    let exec = Executor::new(&rb, lab.options());
    let db = HostId::new("db-1");
    let jump = HostId::new("bastion");

    let refused = run(&exec, "db-1", "true").await;
    let text = refused.error.as_deref().unwrap_or_default();
    assert!(text.contains("host 'bastion': unknown host key"), "{text}");

    // The key waits as the jump host's, at the jump host's address, not as db-1's.
    let waiting = exec
        .pending_host_key(&jump)
        .expect("the jump host's key waits");
    assert_eq!(waiting.fingerprint(), bastion.fingerprint());
    assert_eq!(waiting.port, bastion.ports[0]);
    assert!(
        exec.pending_host_key(&db).is_none(),
        "db-1 offered no key yet"
    );
    let (owner, key) = exec
        .host_key_in_the_way(&db)
        .expect("db-1 is stopped by a key");
    assert_eq!(owner, jump);
    assert_eq!(key.fingerprint(), bastion.fingerprint());

    exec.accept_host_key(&jump, &bastion.fingerprint())
        .expect("the jump host's key is accepted");
    assert!(exec.pending_host_key(&jump).is_none());
    lab.assert_recorded(&bastion, "");

    // Through the jump host now; db-1's own key is the next one in the way.
    let refused = run(&exec, "db-1", "true").await;
    let text = refused.error.as_deref().unwrap_or_default();
    assert!(text.contains("host 'db-1': unknown host key"), "{text}");
    let (owner, key) = exec.host_key_in_the_way(&db).expect("db-1's own key waits");
    assert_eq!(owner, db);
    assert_eq!(key.fingerprint(), inner.fingerprint());
    exec.accept_host_key(&db, &inner.fingerprint())
        .expect("db-1's key is accepted");

    let (tx, mut rx) = mpsc::channel(64);
    let result = exec
        .run(&db, "echo through", STEP, tx, CancellationToken::new())
        .await;
    assert_eq!(result.exit_code, Some(0), "{result:?}");
    assert_eq!(rx.recv().await.as_deref(), Some(&b"through\n"[..]));
    assert!(exec.host_key_in_the_way(&db).is_none());
    exec.shutdown().await;
}
