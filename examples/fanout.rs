//! Fan one command out to many SSH endpoints with the library's `Executor`, or measure the
//! cost of one step on an already-open session. Used by `benches/ssh-fanout.sh`; it only
//! connects where it is told to and changes nothing but its own known_hosts scratch file.
//!
//! ```text
//! fanout --ports-file PORTS --key KEY --known-hosts FILE [--command true] [--concurrency 32]
//! fanout --ports-file PORTS --key KEY --known-hosts FILE --step-cost 200
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bringup::engine::state::StepOutcome;
use bringup::exec::{ExecOptions, Executor};
use bringup::runbook::model::{Defaults, Host, HostId, Runbook, Transport};
use clap::Parser;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// One loopback port per line; each is a host `h<N>` at 127.0.0.1.
    #[arg(long)]
    ports_file: PathBuf,
    /// Private key the servers accept.
    #[arg(long)]
    key: PathBuf,
    /// known_hosts holding the servers' keys.
    #[arg(long)]
    known_hosts: PathBuf,
    #[arg(long, default_value = "true")]
    command: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Instead of fanning out: run this many steps one after another on the first host's
    /// open session and print the median, p90 and minimum.
    #[arg(long)]
    step_cost: Option<usize>,
}

fn runbook(ports: &[u16], key: &Path, concurrency: usize) -> Runbook {
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let hosts = ports.iter().enumerate().map(|(i, port)| {
        let id = HostId::new(format!("h{i}"));
        let host = Host {
            id: id.clone(),
            transport: Transport::Ssh,
            address: "127.0.0.1".into(),
            port: Some(*port),
            user: Some(user.clone()),
            identity: Some(key.to_path_buf()),
            jump: None,
            tags: Vec::new(),
        };
        (id, host)
    });
    Runbook {
        notice: bringup::runbook::model::Notice::default(),
        notify: Vec::new(),
        name: "fanout".into(),
        description: String::new(),
        path: PathBuf::from("fanout.toml"),
        sha256: String::new(),
        defaults: Defaults {
            concurrency,
            ..Defaults::default()
        },
        vars: indexmap::IndexMap::new(),
        secret_vars: std::collections::BTreeSet::new(),
        hosts: hosts.collect(),
        groups: indexmap::IndexMap::new(),
        services: Vec::new(),
        drills: bringup::runbook::drill::Drills::default(),
        sites: bringup::runbook::sites::Sites::default(),
        operators: bringup::runbook::model::Operators::default(),
        witnesses: Vec::new(),
    }
}

async fn step(exec: &Executor, host: &HostId, command: &str) -> bool {
    let (tx, mut rx) = mpsc::channel(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let result = exec
        .run(
            host,
            command,
            Duration::from_secs(60),
            tx,
            CancellationToken::new(),
        )
        .await;
    let _ = drain.await;
    if result.outcome != StepOutcome::Ok || result.exit_code != Some(0) {
        eprintln!("{host}: {result:?}");
        return false;
    }
    true
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let ports: Vec<u16> = match std::fs::read_to_string(&args.ports_file) {
        Ok(text) => text.lines().filter_map(|l| l.trim().parse().ok()).collect(),
        Err(e) => {
            eprintln!("cannot read '{}': {e}", args.ports_file.display());
            return ExitCode::from(2);
        }
    };
    let scratch = std::env::temp_dir().join(format!("fanout-known-hosts-{}", std::process::id()));
    let options = ExecOptions {
        user_known_hosts: Some(args.known_hosts.clone()),
        known_hosts: Some(scratch),
        ssh_config: Some(PathBuf::from("/dev/null")),
        use_agent: false,
        ..ExecOptions::default()
    };
    let exec = Executor::new(&runbook(&ports, &args.key, args.concurrency), options);

    if let Some(n) = args.step_cost {
        let host = HostId::new("h0");
        if !step(&exec, &host, &args.command).await {
            return ExitCode::FAILURE;
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            if !step(&exec, &host, &args.command).await {
                return ExitCode::FAILURE;
            }
            times.push(started.elapsed());
        }
        times.sort();
        let at = |q: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = ((times.len() - 1) as f64 * q).round() as usize;
            times[i]
        };
        println!(
            "one step on an open session ({n} runs of '{}'): median {:.2?}, p90 {:.2?}, min {:.2?}",
            args.command,
            at(0.5),
            at(0.9),
            times[0]
        );
        exec.shutdown().await;
        return ExitCode::SUCCESS;
    }

    let started = Instant::now();
    let tasks: Vec<_> = (0..ports.len())
        .map(|i| {
            let exec = exec.clone();
            let command = args.command.clone();
            tokio::spawn(async move { step(&exec, &HostId::new(format!("h{i}")), &command).await })
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        if !task.await.unwrap_or(false) {
            failed += 1;
        }
    }
    exec.shutdown().await;
    eprintln!(
        "{} hosts, {failed} failed, {:.2?}",
        ports.len(),
        started.elapsed()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
