//! The ssh transport against real OpenSSH servers on loopback: output, exit codes, session
//! reuse, timeouts that stop the command on the host, connection, authentication and host
//! key failures, jump hosts, ssh_config aliases, fan-out, and bounded output memory.

use std::fmt::Write as _;
use std::time::Duration;

use crate::support::procs::{processes_with, unique};
use crate::support::sshd::{Lab, Sshd, current_user, fingerprint_of, free_ports, keygen, runbook};
use bringup::engine::state::StepOutcome;
use bringup::exec::{ExecError, ExecOptions, Executor, StepResult};
use bringup::runbook::model::{HostId, Runbook};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const STEP: Duration = Duration::from_secs(20);

/// Run one command and collect its output lines.
async fn run(
    exec: &Executor,
    host: &str,
    command: &str,
    timeout: Duration,
) -> (StepResult, Vec<String>) {
    let (tx, mut rx) = mpsc::channel(64);
    let collect = tokio::spawn(async move {
        let mut bytes = Vec::new();
        while let Some(chunk) = rx.recv().await {
            bytes.extend(chunk);
        }
        bringup::exec::lines::split_lines(&bytes)
    });
    let result = exec
        .run(
            &HostId::new(host),
            command,
            timeout,
            tx,
            CancellationToken::new(),
        )
        .await;
    (result, collect.await.expect("collector"))
}

fn error_text(result: &StepResult) -> &str {
    result.error.as_deref().unwrap_or("")
}

fn one_host(lab: &Lab, port: u16) -> Runbook {
    runbook(vec![lab.host("web-1", port)])
}

/// A lab, one sshd whose key the lab trusts, and an executor for its one host `web-1`.
fn trusted_host() -> (Lab, Sshd, Executor) {
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    lab.trust(&sshd);
    let exec = Executor::new(&one_host(&lab, sshd.ports[0]), lab.options());
    (lab, sshd, exec)
}

#[tokio::test]
async fn output_streams_in_order_with_stderr_merged_and_exit_code_reported() {
    crate::require!(Sshd);
    let (_lab, _sshd, exec) = trusted_host();
    let (result, lines) = run(
        &exec,
        "web-1",
        "echo one; echo two >&2; sleep 0.2; echo three; printf 'no newline'; exit 7",
        STEP,
    )
    .await;
    assert_eq!(result.outcome, StepOutcome::Ok, "{result:?}");
    assert_eq!(result.exit_code, Some(7));
    assert_eq!(lines, ["one", "two", "three", "no newline"]);
}

/// A script far beyond the channel window and the pipe buffer, whose command reads stdin.
fn big_script() -> String {
    let mut script = String::new();
    for i in 0..40_000 {
        let _ = writeln!(
            script,
            "# filler line {i} to make the script larger than any window"
        );
    }
    script.push_str("echo start; cat; read x; echo \"read[$x]\"; seq 1 20000 | tail -n 1");
    script
}

#[tokio::test]
async fn a_large_script_arrives_whole_and_its_command_gets_no_stdin() {
    crate::require!(Sshd);
    let (_lab, _sshd, exec) = trusted_host();
    let script = big_script();
    assert!(script.len() > 2 * 1024 * 1024, "{}", script.len());
    let (result, lines) = run(&exec, "web-1", &script, STEP).await;
    assert_eq!(
        (result.outcome, result.exit_code),
        (StepOutcome::Ok, Some(0)),
        "{result:?}"
    );
    assert_eq!(lines, ["start", "read[]", "20000"]);
    // A command that never reads its standard input ends at once too.
    let (result, lines) = run(&exec, "web-1", "echo quick", STEP).await;
    assert_eq!(
        (result.exit_code, lines),
        (Some(0), vec!["quick".to_string()])
    );
}

#[tokio::test]
async fn a_command_killed_by_a_signal_reports_128_plus_the_signal() {
    crate::require!(Sshd);
    let (_lab, _sshd, exec) = trusted_host();
    let (result, _) = run(&exec, "web-1", "kill -9 $$", STEP).await;
    assert_eq!(
        (result.outcome, result.exit_code),
        (StepOutcome::Ok, Some(137)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_timeout_too_long_for_the_clock_does_not_panic_and_the_command_runs() {
    crate::require!(Sshd);
    let (_lab, _sshd, exec) = trusted_host();
    let (result, lines) = run(&exec, "web-1", "echo fine", Duration::MAX).await;
    assert_eq!(
        (result.outcome, result.exit_code),
        (StepOutcome::Ok, Some(0)),
        "{result:?}"
    );
    assert_eq!(lines, ["fine"]);
    exec.shutdown().await;
}

#[tokio::test]
async fn one_session_is_reused_for_every_step_on_a_host() {
    crate::require!(Sshd);
    let (_lab, sshd, exec) = trusted_host();
    for i in 0..5 {
        let (result, lines) = run(&exec, "web-1", &format!("echo step-{i}"), STEP).await;
        assert_eq!(result.exit_code, Some(0), "{result:?}");
        assert_eq!(lines, [format!("step-{i}")]);
    }
    assert_eq!(sshd.accepted(), 1, "sshd log:\n{}", sshd.log_text());
}

async fn wait_gone(marker: &str) -> String {
    for _ in 0..40 {
        let left = processes_with(marker);
        if left.is_empty() {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    processes_with(marker)
}

#[tokio::test]
async fn a_hung_command_is_killed_on_the_host_at_its_timeout() {
    crate::require!(Sshd);
    let (_lab, sshd, exec) = trusted_host();
    let marker = unique("300.");
    // A child that ignores SIGTERM too: only the group SIGKILL gets it.
    let command = format!("(trap '' TERM; sleep {marker}) & sleep {marker}; echo never");
    let (result, lines) = run(&exec, "web-1", &command, Duration::from_secs(1)).await;
    assert_eq!(result.outcome, StepOutcome::Timeout, "{result:?}");
    assert!(error_text(&result).contains("timed out"), "{result:?}");
    assert!(!lines.contains(&"never".to_string()));
    assert_eq!(wait_gone(&marker).await, "", "processes left on the host");
    // The session survives a timeout: the next step runs on it.
    let (next, _) = run(&exec, "web-1", "true", STEP).await;
    assert_eq!(next.exit_code, Some(0), "{next:?}");
    assert_eq!(sshd.accepted(), 1);
}

#[tokio::test]
async fn cancel_stops_the_command_on_the_host_and_reports_an_error() {
    crate::require!(Sshd);
    let (_lab, _sshd, exec) = trusted_host();
    let marker = unique("301.");
    let cancel = CancellationToken::new();
    let (tx, _rx) = mpsc::channel(8);
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        trigger.cancel();
    });
    let result = exec
        .run(
            &HostId::new("web-1"),
            &format!("sleep {marker}"),
            STEP,
            tx,
            cancel,
        )
        .await;
    assert_eq!(result.outcome, StepOutcome::Error, "{result:?}");
    assert!(error_text(&result).contains("cancelled"), "{result:?}");
    assert_eq!(wait_gone(&marker).await, "");
}

#[tokio::test]
async fn connection_refused_is_an_error_naming_host_and_address() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let port = free_ports(1)[0];
    let exec = Executor::new(&one_host(&lab, port), lab.options());
    let (result, _) = run(&exec, "web-1", "true", STEP).await;
    assert_eq!(result.outcome, StepOutcome::Error);
    let text = error_text(&result);
    assert!(text.contains("'web-1'"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("cannot connect"), "{text}");
}

#[tokio::test]
async fn a_wrong_key_is_an_authentication_error_naming_host_and_user() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    lab.trust(&sshd);
    let stranger = lab.path("stranger_ed25519");
    keygen(&stranger, "ed25519");
    let mut host = lab.host("web-1", sshd.ports[0]);
    host.identity = Some(stranger);
    let exec = Executor::new(&runbook(vec![host]), lab.options());
    let (result, _) = run(&exec, "web-1", "echo should-not-run", STEP).await;
    assert_eq!(result.outcome, StepOutcome::Error, "{result:?}");
    let text = error_text(&result);
    assert!(text.contains("authentication failed"), "{text}");
    assert!(text.contains("'web-1'"), "{text}");
    assert!(
        text.contains(&format!("user '{}'", current_user())),
        "{text}"
    );
    assert!(
        text.contains("stranger_ed25519"),
        "names the key tried: {text}"
    );
}

#[tokio::test]
async fn an_unknown_host_key_is_refused_then_accepted_with_the_flag() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    let rb = one_host(&lab, sshd.ports[0]);
    let marker = lab.path("ran");
    let command = format!("touch {}", marker.display());

    let (refused, _) = run(&Executor::new(&rb, lab.options()), "web-1", &command, STEP).await;
    assert_eq!(refused.outcome, StepOutcome::Error);
    let text = error_text(&refused);
    assert!(text.contains("unknown host key"), "{text}");
    assert!(
        text.contains(&sshd.fingerprint()),
        "shows the fingerprint: {text}"
    );
    assert!(!marker.exists(), "nothing runs on an unknown host");

    let accepting = ExecOptions {
        accept_new_host_keys: true,
        ..lab.options()
    };
    let (accepted, _) = run(&Executor::new(&rb, accepting), "web-1", &command, STEP).await;
    assert_eq!(accepted.exit_code, Some(0), "{accepted:?}");
    lab.assert_recorded(&sshd, "");

    // Recorded keys are trusted from then on, without the flag.
    let (again, _) = run(&Executor::new(&rb, lab.options()), "web-1", "true", STEP).await;
    assert_eq!(again.exit_code, Some(0), "{again:?}");
}

#[tokio::test]
async fn a_probe_reports_an_unknown_key_and_the_operator_accepts_that_exact_key() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    let exec = Executor::new(&one_host(&lab, sshd.ports[0]), lab.options());
    let host = HostId::new("web-1");
    let err = exec.probe(&host).await.expect_err("unknown key");
    let ExecError::UnknownHostKey { fingerprint, .. } = &err else {
        panic!("expected an unknown host key, got {err}");
    };
    assert_eq!(fingerprint, &sshd.fingerprint());
    let wrong = exec.accept_host_key(&host, "SHA256:not-the-key");
    assert!(wrong.is_err(), "a different fingerprint is not accepted");
    exec.accept_host_key(&host, fingerprint).expect("accept");
    exec.probe(&host).await.expect("trusted after acceptance");
    assert_eq!(sshd.accepted(), 1, "the probe authenticated once");
}

#[tokio::test]
async fn a_changed_host_key_is_refused_even_with_the_accept_flag() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    let old = lab.path("old_host_ed25519");
    let old_public = keygen(&old, "ed25519");
    let old_key: Vec<&str> = old_public.split_whitespace().take(2).collect();
    std::fs::write(
        &lab.user_known_hosts,
        format!("[127.0.0.1]:{} {}\n", sshd.ports[0], old_key.join(" ")),
    )
    .expect("write known_hosts");
    let old_fp = fingerprint_of(&old.with_extension("pub"));
    let marker = lab.path("ran");
    let options = ExecOptions {
        accept_new_host_keys: true,
        ..lab.options()
    };
    let exec = Executor::new(&one_host(&lab, sshd.ports[0]), options);
    let (result, _) = run(&exec, "web-1", &format!("touch {}", marker.display()), STEP).await;
    assert_eq!(result.outcome, StepOutcome::Error);
    let text = error_text(&result);
    assert!(text.contains("HOST KEY CHANGED"), "{text}");
    assert!(text.contains(&old_fp), "names the known key: {text}");
    assert!(
        text.contains(&sshd.fingerprint()),
        "names the offered key: {text}"
    );
    assert!(!marker.exists(), "nothing runs on a host whose key changed");
    assert!(
        !lab.bringup_known_hosts.exists(),
        "the new key was not recorded"
    );
}

#[tokio::test]
async fn a_hashed_known_hosts_entry_is_accepted() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    Lab::write_known_hosts(&lab.user_known_hosts, &sshd.known_hosts_lines(), true);
    let text = std::fs::read_to_string(&lab.user_known_hosts).expect("read");
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.0.1"),
        "hashed: {text}"
    );
    let exec = Executor::new(&one_host(&lab, sshd.ports[0]), lab.options());
    let (result, _) = run(&exec, "web-1", "true", STEP).await;
    assert_eq!(result.exit_code, Some(0), "{result:?}");
}

#[tokio::test]
async fn a_host_behind_a_jump_host_is_reached_through_it() {
    crate::require!(Sshd);
    let lab = Lab::new();
    // debug1 makes the bastion log each direct-tcpip request, the proof the hop was used.
    let bastion = lab.sshd_on(&free_ports(1), None, "LogLevel DEBUG1\n");
    let inner = lab.sshd(1);
    lab.trust(&bastion);
    lab.trust(&inner);
    let mut db = lab.host("db-1", inner.ports[0]);
    db.jump = Some(HostId::new("bastion"));
    let rb = runbook(vec![db, lab.host("bastion", bastion.ports[0])]);
    let exec = Executor::new(&rb, lab.options());
    for i in 0..2 {
        let (result, lines) = run(&exec, "db-1", &format!("echo via-jump-{i}"), STEP).await;
        assert_eq!(result.exit_code, Some(0), "{result:?}");
        assert_eq!(lines, [format!("via-jump-{i}")]);
    }
    let log = bastion.log_text();
    assert!(
        log.contains(&format!("target 127.0.0.1 port {}", inner.ports[0])),
        "bastion log:\n{log}"
    );
    assert_eq!(inner.accepted(), 1, "the tunnelled session is reused");
    exec.shutdown().await;
}

#[tokio::test]
async fn host_keys_accepted_on_the_way_through_a_jump_host_are_handed_on_to_be_journaled() {
    crate::require!(Sshd);
    let lab = Lab::new();
    // Neither key is known: --accept-new-host-keys records both, the jump host's first.
    let (bastion, inner, rb) = lab.jump_pair();
    let exec = Executor::new(
        &rb,
        ExecOptions {
            accept_new_host_keys: true,
            ..lab.options()
        },
    );
    let (result, lines) = run(&exec, "db-1", "echo through", STEP).await;
    assert_eq!(result.exit_code, Some(0), "{result:?}");
    assert_eq!(lines, ["through"]);
    assert_eq!(
        exec.take_accepted_keys(),
        [
            (HostId::new("bastion"), bastion.fingerprint()),
            (HostId::new("db-1"), inner.fingerprint()),
        ]
    );
    exec.shutdown().await;
}

#[tokio::test]
async fn an_ssh_config_alias_supplies_hostname_port_user_and_identity() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(1);
    lab.trust(&sshd);
    std::fs::write(
        &lab.ssh_config,
        format!(
            "Host web-alias\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n",
            sshd.ports[0],
            current_user(),
            lab.client_key.display()
        ),
    )
    .expect("write ssh_config");
    let mut host = lab.host("web-1", 22);
    host.address = "web-alias".into();
    host.port = None;
    host.user = None;
    host.identity = None;
    let exec = Executor::new(&runbook(vec![host]), lab.options());
    let (result, lines) = run(&exec, "web-1", "echo via-alias", STEP).await;
    assert_eq!(result.exit_code, Some(0), "{result:?}");
    assert_eq!(lines, ["via-alias"]);
}

#[tokio::test]
async fn twenty_hosts_run_in_parallel() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let first = lab.sshd(16);
    let second = lab.sshd(4);
    lab.trust(&first);
    lab.trust(&second);
    let ports: Vec<u16> = first.ports.iter().chain(&second.ports).copied().collect();
    let hosts = ports
        .iter()
        .enumerate()
        .map(|(i, p)| lab.host(&format!("h{i}"), *p))
        .collect();
    let exec = Executor::new(&runbook(hosts), lab.options());
    let rendezvous = lab.path("rendezvous");
    std::fs::create_dir(&rendezvous).expect("mkdir");
    // Each command waits until all twenty have arrived: only parallel execution passes.
    let mut tasks = Vec::new();
    for i in 0..ports.len() {
        let exec = exec.clone();
        let command = format!(
            "cd {dir} && touch h{i} && n=0; while [ $(ls | wc -l) -lt 20 ] && [ $n -lt 300 ]; do sleep 0.05; n=$((n+1)); done; ls | wc -l",
            dir = rendezvous.display()
        );
        tasks.push(tokio::spawn(async move {
            run(&exec, &format!("h{i}"), &command, STEP).await
        }));
    }
    for task in tasks {
        let (result, lines) = task.await.expect("task");
        assert_eq!(result.exit_code, Some(0), "{result:?}");
        assert_eq!(lines, ["20"], "every host saw all twenty at once");
    }
}

#[tokio::test]
async fn concurrency_bounds_commands_in_flight() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(4);
    lab.trust(&sshd);
    let hosts = sshd
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| lab.host(&format!("h{i}"), *p))
        .collect();
    let mut rb = runbook(hosts);
    rb.defaults.concurrency = 2;
    let exec = Executor::new(&rb, lab.options());
    let dir = lab.path("running");
    std::fs::create_dir(&dir).expect("mkdir");
    let mut tasks = Vec::new();
    for i in 0..4 {
        let exec = exec.clone();
        let command = format!(
            "cd {} && touch h{i} && ls | wc -l && sleep 0.5 && rm h{i}",
            dir.display()
        );
        tasks.push(tokio::spawn(async move {
            run(&exec, &format!("h{i}"), &command, STEP).await
        }));
    }
    for task in tasks {
        let (result, lines) = task.await.expect("task");
        assert_eq!(result.exit_code, Some(0), "{result:?}");
        let running: usize = lines[0].trim().parse().expect("a count");
        assert!(
            running <= 2,
            "{running} commands ran at once with concurrency 2"
        );
    }
}

#[tokio::test]
async fn probes_wait_for_a_concurrency_slot_like_commands() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let sshd = lab.sshd(2);
    lab.trust(&sshd);
    let mut rb = runbook(vec![
        lab.host("h0", sshd.ports[0]),
        lab.host("h1", sshd.ports[1]),
    ]);
    rb.defaults.concurrency = 1;
    let exec = Executor::new(&rb, lab.options());
    let done = lab.path("done");
    let command = format!("echo started; sleep 1; touch {}", done.display());
    let (tx, mut rx) = mpsc::channel(8);
    let runner = exec.clone();
    let running = tokio::spawn(async move {
        runner
            .run(
                &HostId::new("h0"),
                &command,
                STEP,
                tx,
                CancellationToken::new(),
            )
            .await
    });
    assert_eq!(rx.recv().await.as_deref(), Some(&b"started\n"[..]));
    // The only slot is taken: the probe of h1 waits until the command on h0 is done.
    exec.probe(&HostId::new("h1")).await.expect("h1 probes");
    assert!(done.exists(), "the probe ran while every slot was taken");
    assert_eq!(running.await.expect("task").exit_code, Some(0));
}

#[tokio::test]
async fn fifty_megabytes_stream_through_a_bounded_channel() {
    crate::require!(Sshd);
    let (lab, _sshd, exec) = trusted_host();
    let done = lab.path("done");
    let command = format!(
        "head -c 50000000 /dev/zero | tr '\\000' x | fold -w 99; touch {}",
        done.display()
    );
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    let exec2 = exec.clone();
    let step = tokio::spawn(async move {
        exec2
            .run(
                &HostId::new("web-1"),
                &command,
                Duration::from_secs(120),
                tx,
                CancellationToken::new(),
            )
            .await
    });
    // Nobody reads for a while: the command must be held back, not buffered without bound.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !done.exists(),
        "the command finished while nothing read its output"
    );
    let (mut bytes, mut lines) = (0_usize, 0_usize);
    while let Some(chunk) = rx.recv().await {
        assert!(chunk.len() <= bringup::exec::lines::CHUNK_BYTES);
        assert!(chunk.iter().all(|&b| b == b'x' || b == b'\n'));
        lines += chunk.split(|&b| b == b'\n').count() - 1;
        bytes += chunk.len();
    }
    let result = step.await.expect("step");
    assert_eq!(result.exit_code, Some(0), "{result:?}");
    assert_eq!(bytes, 50_000_000 + lines);
    // `fold` ends every full line with a newline; the last, partial line has none.
    assert_eq!(lines, 50_000_000 / 99);
    assert!(done.exists());
}

#[tokio::test]
async fn aes_gcm_is_negotiated_where_aes_is_in_hardware_and_a_cbc_only_server_is_refused() {
    crate::require!(Sshd);
    let lab = Lab::new();
    // debug1 makes sshd log the cipher each direction negotiated. The client's order decides:
    // sshd picks the first cipher in the client's list that it has.
    let sshd = lab.sshd_on(&free_ports(1), None, "LogLevel DEBUG1\n");
    lab.trust(&sshd);
    let exec = Executor::new(&one_host(&lab, sshd.ports[0]), lab.options());
    let (result, _) = run(&exec, "web-1", "true", STEP).await;
    assert_eq!(result.exit_code, Some(0), "{result:?}");
    exec.shutdown().await;
    let want = if bringup::exec::ciphers::aes_in_hardware() {
        "aes128-gcm@openssh.com"
    } else {
        "chacha20-poly1305@openssh.com"
    };
    let log = sshd.log_text();
    for direction in ["client->server", "server->client"] {
        assert!(
            log.contains(&format!("kex: {direction} cipher: {want} ")),
            "{direction} should use {want}; sshd log:\n{log}"
        );
    }

    // A server that offers only CBC modes and 3DES gets no session: bringup never offers them.
    let weak = lab.sshd_on(
        &free_ports(1),
        None,
        "Ciphers aes128-cbc,aes256-cbc,3des-cbc\n",
    );
    lab.trust(&weak);
    let exec = Executor::new(&one_host(&lab, weak.ports[0]), lab.options());
    let (result, _) = run(&exec, "web-1", "true", STEP).await;
    assert_eq!(result.exit_code, None, "{result:?}");
    assert!(
        error_text(&result).contains("handshake"),
        "{}",
        error_text(&result)
    );
    exec.shutdown().await;
}

/// Every cipher bringup offers, with MACs of both kinds where the cipher takes one (the MAC
/// over the plain text, and encrypt-then-MAC): the packet's middle is decrypted in one call
/// (vendor/libssh2-sys/PATCHED.md), and that must give the same bytes as one block at a time.
const CIPHER_SUITES: &[(&str, &str)] = &[
    ("aes128-gcm@openssh.com", ""),
    ("aes256-gcm@openssh.com", ""),
    ("chacha20-poly1305@openssh.com", ""),
    ("aes128-ctr", "hmac-sha2-256"),
    ("aes192-ctr", "hmac-sha2-512-etm@openssh.com"),
    ("aes256-ctr", "hmac-sha2-256-etm@openssh.com"),
];

#[tokio::test]
async fn every_offered_cipher_delivers_output_byte_for_byte_whatever_the_packet_sizes_and_refuses_a_flipped_bit()
 {
    crate::require!(Sshd);
    let lab = Lab::new();
    // Bytes of every value, from a fixed generator (xorshift), and a writer that sends them
    // in pieces of odd and even sizes around the cipher's block and the channel's packet
    // (1 to 70,000 bytes), so packets of every length and alignment arrive.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..3_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect();
    let file = lab.path("data.bin");
    std::fs::write(&file, &data).expect("write data");
    let writer = lab.path("pieces.py");
    std::fs::write(
        &writer,
        "import sys\n\
         data = open(sys.argv[1], 'rb').read()\n\
         sizes = [1, 15, 16, 17, 31, 32, 33, 255, 4095, 16384, 32767, 32768, 32769, 65537, 70000]\n\
         i = n = 0\n\
         while i < len(data):\n\
         \x20   size = sizes[n % len(sizes)]\n\
         \x20   sys.stdout.buffer.write(data[i:i + size])\n\
         \x20   sys.stdout.buffer.flush()\n\
         \x20   i += size\n\
         \x20   n += 1\n",
    )
    .expect("write writer");
    let command = format!("python3 {} {}", writer.display(), file.display());
    for (cipher, mac) in CIPHER_SUITES {
        let mut config = format!("Ciphers {cipher}\n");
        if !mac.is_empty() {
            let _ = writeln!(config, "MACs {mac}");
        }
        let sshd = lab.sshd_on(&free_ports(1), None, &config);
        lab.trust(&sshd);
        let suite = format!("{cipher} {mac}");
        // Straight to sshd: reads as large as the socket gives.
        let (result, got) = run_bytes(&lab, sshd.ports[0], &command).await;
        assert_eq!(result.exit_code, Some(0), "{suite}: {result:?}");
        assert_eq!(got.len(), data.len(), "{suite}: length");
        let first_diff = got.iter().zip(&data).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "{suite}: bytes differ");

        // Through a relay that hands the server's bytes on in pieces of 1 to 4,095 bytes:
        // packets arrive cut anywhere, and the middle of a packet is decrypted in parts.
        let relay = Relay::start(&lab, &sshd, None);
        let (result, got) = run_bytes(&lab, relay.port, &command).await;
        assert_eq!(result.exit_code, Some(0), "{suite} relayed: {result:?}");
        assert_eq!(got.len(), data.len(), "{suite} relayed: length");
        let first_diff = got.iter().zip(&data).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "{suite} relayed: bytes differ");

        // One bit flipped a megabyte into the server's stream: the packet fails its
        // authentication, the step ends in an error, and nothing after it is delivered.
        let relay = Relay::start(&lab, &sshd, Some(1_000_000));
        let (result, got) = run_bytes(&lab, relay.port, &command).await;
        assert_eq!(result.exit_code, None, "{suite} tampered: {result:?}");
        assert_eq!(
            result.outcome,
            StepOutcome::Error,
            "{suite} tampered: {result:?}"
        );
        assert!(
            got.len() < 1_000_000,
            "{suite} tampered: {} bytes",
            got.len()
        );
        assert!(
            got.iter().zip(&data).all(|(a, b)| a == b),
            "{suite} tampered: a byte that was not sent was delivered"
        );
    }
}

/// Run `command` on `web-1` at `127.0.0.1:port` and collect its output's bytes.
async fn run_bytes(lab: &Lab, port: u16, command: &str) -> (StepResult, Vec<u8>) {
    let exec = Executor::new(&one_host(lab, port), lab.options());
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    let collect = tokio::spawn(async move {
        let mut bytes = Vec::new();
        while let Some(chunk) = rx.recv().await {
            bytes.extend(chunk);
        }
        bytes
    });
    let result = exec
        .run(
            &HostId::new("web-1"),
            command,
            Duration::from_secs(60),
            tx,
            CancellationToken::new(),
        )
        .await;
    let got = collect.await.expect("collector");
    exec.shutdown().await;
    (result, got)
}

/// A TCP relay on loopback in front of an sshd, trusted under its own port: the client's
/// bytes pass as they come; the server's are written on in pieces of 1 to 4,095 bytes, and
/// with `flip` the byte at that offset of the server's stream has its low bit flipped. It
/// serves one connection and stops when either side closes.
struct Relay {
    port: u16,
}

impl Relay {
    fn start(lab: &Lab, sshd: &Sshd, flip: Option<usize>) -> Relay {
        use std::io::{Read as _, Write as _};
        use std::net::{Shutdown, TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a relay");
        let port = listener.local_addr().expect("relay address").port();
        let to = sshd.ports[0];
        let lines = sshd
            .known_hosts_lines()
            .replace(&format!(":{to} "), &format!(":{port} "));
        let mut known = std::fs::OpenOptions::new()
            .append(true)
            .open(&lab.user_known_hosts)
            .expect("known_hosts");
        known.write_all(lines.as_bytes()).expect("trust the relay");
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                return;
            };
            let _ = client.set_nodelay(true);
            let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone())
            else {
                return;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(Shutdown::Write);
            });
            let (mut server_in, mut client_out) = (server, client);
            let sizes = [1, 7, 15, 16, 17, 31, 33, 100, 1000, 4095, 2048, 513];
            let (mut buf, mut offset, mut piece) = (vec![0u8; 65536], 0usize, 0usize);
            loop {
                let n = match server_in.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if let Some(at) = flip.filter(|at| (offset..offset + n).contains(at)) {
                    buf[at - offset] ^= 1;
                }
                offset += n;
                let mut i = 0;
                while i < n {
                    let size = sizes[piece % sizes.len()].min(n - i);
                    if client_out.write_all(&buf[i..i + size]).is_err() {
                        return;
                    }
                    i += size;
                    piece += 1;
                }
            }
            let _ = client_out.shutdown(Shutdown::Write);
        });
        Relay { port }
    }
}
