//! Reaching a team's etcd as SPEC "Shared runs (etcd)" says: TLS (`--etcd-ca`, and a client
//! certificate with `--etcd-cert`/`--etcd-key`) and user authentication (`--etcd-user` /
//! `ETCD_USER` with `ETCD_PASSWORD`), on a real single-member etcd on loopback whose
//! certificates the test makes with the `openssl` CLI.

use crate::support::etcd::{Cluster, Options, Wait as _};
use crate::support::run::{bringup_cmd, stderr, stdout};
use bringup::journal::Event;
use bringup::journal::etcd::{Access, EtcdStore, RunUrl, StoreError};
use chrono::{DateTime, Utc};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T08:14:03.120Z")
        .expect("literal")
        .with_timezone(&Utc)
}

fn note(text: &str) -> Event {
    Event::Note {
        operator: "kim".into(),
        text: text.into(),
        provenance: bringup::journal::event::Provenance::default(),
    }
}

/// A run of `n` notes written as `access` says.
fn write_run(url: &str, access: &Access, n: usize) {
    let mut store = EtcdStore::open_with(&RunUrl::parse(url).expect("url"), access)
        .wait()
        .expect("open");
    for i in 0..n {
        store
            .append(&note(&format!("n{i}")), t0())
            .wait()
            .expect("append");
    }
}

/// `bringup` with no etcd credentials from the test's own environment.
fn bringup() -> assert_cmd::Command {
    let mut cmd = bringup_cmd();
    cmd.env_remove("ETCD_USER").env_remove("ETCD_PASSWORD");
    cmd
}

/// The cluster's CA and client certificate, with `key` (the cluster's own client key if none).
fn tls_args(cmd: &mut assert_cmd::Command, cluster: &Cluster, key: Option<&std::path::Path>) {
    let certs = cluster.certs.as_ref().expect("a TLS cluster");
    cmd.arg("--etcd-ca")
        .arg(&certs.ca)
        .arg("--etcd-cert")
        .arg(&certs.cert)
        .arg("--etcd-key")
        .arg(key.unwrap_or(&certs.key));
}

#[test]
fn pull_over_tls_with_the_ca_works_and_plain_http_says_to_pass_the_ca() {
    crate::require!(Etcd, Openssl);
    let cluster = Cluster::start_with(&Options {
        members: 1,
        tls: true,
        ..Options::default()
    });
    let url = cluster.url("tls");
    write_run(&url, &cluster.access, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let pulled = dir.path().join("tls.jsonl");

    let mut pull = bringup();
    pull.args(["pull", &url, "-o"]).arg(&pulled);
    tls_args(&mut pull, &cluster, None);
    let out = pull.output().expect("pull");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("from https://{}", cluster.endpoints[0])),
        "{}",
        stdout(&out)
    );
    let out = bringup()
        .arg("verify")
        .arg(&pulled)
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("events: 4"), "{}", stdout(&out));

    // The same client key as `openssl ecparam`/`ec` and cfssl write it (SEC1, "BEGIN EC
    // PRIVATE KEY") rather than PKCS#8: the same key, so it works the same.
    let certs = cluster.certs.as_ref().expect("a TLS cluster");
    let sec1 = dir.path().join("client-sec1.key");
    let converted = std::process::Command::new("openssl")
        .args(["ec", "-in"])
        .arg(&certs.key)
        .arg("-out")
        .arg(&sec1)
        .output()
        .expect("openssl ec");
    assert!(converted.status.success(), "{}", stderr(&converted));
    assert!(
        std::fs::read_to_string(&sec1)
            .expect("SEC1 key")
            .starts_with("-----BEGIN EC PRIVATE KEY-----")
    );
    let mut verify = bringup();
    verify.args(["verify", &url]);
    tls_args(&mut verify, &cluster, Some(&sec1));
    let out = verify.output().expect("verify");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("events: 4"), "{}", stdout(&out));

    // Plain HTTP to a TLS member: exit 2, saying to pass the CA.
    let out = bringup()
        .args(["pull", &url, "-o"])
        .arg(dir.path().join("plain.jsonl"))
        .output()
        .expect("pull");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    eprintln!("plain HTTP to TLS: {err}");
    assert!(
        err.contains(&format!("'http://{}'", cluster.endpoints[0])) && err.contains("--etcd-ca"),
        "{err}"
    );
    assert!(!dir.path().join("plain.jsonl").exists());
}

#[test]
fn unreadable_or_non_pem_tls_files_are_named_in_quotes() {
    crate::require!(Openssl);
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "this is not a certificate\n").expect("write");
    let missing = dir.path().join("missing.pem");
    // Checked before any member is asked: no etcd needed.
    for (flag, file, why) in [
        ("--etcd-ca", &not_pem, "holds no PEM certificate"),
        ("--etcd-ca", &missing, "cannot read it"),
    ] {
        let out = bringup()
            .args(["verify", "etcd://127.0.0.1:1/run", flag])
            .arg(file)
            .output()
            .expect("verify");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("'{}'", file.display())) && err.contains(why),
            "{err}"
        );
    }
    let key = dir.path().join("key.pem");
    std::fs::write(
        &key,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let certs = crate::support::etcd::make_certs(dir.path());
    let out = bringup()
        .args(["verify", "etcd://127.0.0.1:1/run", "--etcd-ca"])
        .arg(&certs.ca)
        .arg("--etcd-cert")
        .arg(&certs.cert)
        .arg("--etcd-key")
        .arg(&key)
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("'{}'", key.display())) && err.contains("no PEM private key"),
        "{err}"
    );
}

fn verify_as_root(url: &str, password: Option<&str>) -> std::process::Output {
    let mut cmd = bringup();
    cmd.args(["verify", url, "--etcd-user", "root"]);
    if let Some(p) = password {
        cmd.env("ETCD_PASSWORD", p);
    }
    cmd.output().expect("verify")
}

#[test]
fn verify_as_an_etcd_user_works_with_etcd_password_and_a_wrong_one_exits_2() {
    crate::require!(Etcd);
    let mut cluster = Cluster::start_with(&Options {
        members: 1,
        ..Options::default()
    });
    cluster.enable_auth("s3cret pass");
    let url = cluster.url("auth");
    write_run(&url, &cluster.access, 3);

    let out = verify_as_root(&url, Some("s3cret pass"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("events: 3"), "{}", stdout(&out));
    // ETCD_USER works as --etcd-user does.
    let out = bringup()
        .args(["verify", &url])
        .env("ETCD_USER", "root")
        .env("ETCD_PASSWORD", "s3cret pass")
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", stderr(&out));

    let out = verify_as_root(&url, Some("wrong"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    eprintln!("wrong password: {err}");
    assert!(
        err.contains("did not accept user 'root'") && err.contains("ETCD_PASSWORD"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = verify_as_root(&url, None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--etcd-user 'root' needs its password")
            && stderr(&out).contains("set ETCD_PASSWORD"),
        "{}",
        stderr(&out)
    );

    let out = bringup().args(["verify", &url]).output().expect("verify");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pass --etcd-user NAME"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_expired_auth_token_is_renewed_once_and_the_request_sent_again() {
    crate::require!(Etcd);
    let mut cluster = Cluster::start_with(&Options {
        members: 1,
        auth_token_ttl: Some(1),
        ..Options::default()
    });
    cluster.enable_auth("pw");
    let url = RunUrl::parse(&cluster.url("ttl")).expect("url");
    let mut store = EtcdStore::open_with(&url, &cluster.access)
        .wait()
        .expect("open");
    store.append(&note("before"), t0()).wait().expect("append");
    // etcd forgets a simple token once it has been idle for its TTL (1 s here), checking
    // every second: after 3 s it is gone for sure.
    std::thread::sleep(std::time::Duration::from_secs(3));
    match store.append(&note("after"), t0()).wait() {
        Ok(a) => assert_eq!(a.seq, 2),
        Err(StoreError::Etcd { source, .. }) => {
            panic!("the expired token was not renewed: {source}")
        }
        Err(e) => panic!("append: {e}"),
    }
}
