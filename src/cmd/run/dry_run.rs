//! `run --dry-run`: every command per host after expansion, then reachability, host keys and
//! authentication per host. Changes nothing on any host.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::RunArgs;
use crate::driver::Signals;
use crate::outcome::Exit;
use crate::runbook::model::{HostId, Runbook, ServiceId};
use crate::session::{NewHostKeys, Scope, Selection};
use crate::text::visible;

pub(super) async fn dry_run(runbook: &Arc<Runbook>, args: &RunArgs) -> ExitCode {
    // Probes can wait up to a host's connect_timeout: a signal ends them with a word, not a kill.
    let mut signals = Signals::listen();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Dry run of '{}': nothing is changed. Commands per host after expansion:",
        runbook.name
    );
    // What the run would touch: the services --only names and what they depend on.
    let only: Vec<ServiceId> = args.open.only.iter().map(ServiceId::new).collect();
    let selection = Selection::new(runbook, &only, Scope::Restore);
    for service in selection.services(runbook) {
        let _ = writeln!(
            out,
            "\n[tier {}] {} — {}",
            service.tier, service.id, service.name
        );
        let phases = [("check", &service.checks), ("restore", &service.restores)];
        for (phase, steps) in phases {
            for step in steps {
                let confirm = if step.confirm.asks() {
                    "  (asks first)"
                } else {
                    ""
                };
                let _ = writeln!(out, "  {phase} '{}'{confirm}", step.name);
                for host in &step.hosts {
                    let expanded = runbook.expand(&step.action, &service.id, host);
                    let shown = match step.action {
                        crate::runbook::model::StepAction::Run(_) => expanded.shown,
                        crate::runbook::model::StepAction::Manual(_) => {
                            format!("(manual) {}", expanded.shown)
                        }
                    };
                    let _ = writeln!(out, "    {host}: {}", visible(&shown));
                }
            }
        }
    }
    drop(out);
    let keys = if args.open.accept_new_host_keys {
        NewHostKeys::Accept
    } else {
        NewHostKeys::Ask
    };
    let exec = crate::session::executor(runbook, keys);
    let mut hosts: Vec<&HostId> = selection
        .services(runbook)
        .flat_map(|s| s.hosts.iter())
        .collect();
    hosts.sort();
    hosts.dedup();
    println!(
        "\nHosts ({}): reachability, host key, authentication",
        hosts.len()
    );
    let probes = tokio::select! {
        probes = futures::future::join_all(hosts.iter().map(|h| exec.probe(h))) => probes,
        signal = signals.next() => {
            println!(
                "\nDry run {} before every host answered. Nothing was changed.",
                signal.word()
            );
            return ExitCode::from(Exit::Interrupted);
        }
    };
    let accepted: std::collections::HashMap<HostId, String> =
        exec.take_accepted_keys().into_iter().collect();
    let mut failures = 0;
    for (host, result) in hosts.iter().zip(probes) {
        match result {
            Ok(()) => match accepted.get(*host) {
                Some(fp) => println!(
                    "  ✓ {host} (new host key {fp} recorded, as --accept-new-host-keys asked)"
                ),
                None => println!("  ✓ {host}"),
            },
            Err(e) => {
                failures += 1;
                println!("  ✗ {host}: {}", visible(&e.to_string()));
            }
        }
    }
    exec.shutdown().await;
    let changed = if accepted.is_empty() {
        "Nothing was changed.".to_string()
    } else {
        format!(
            "Nothing was changed on the hosts; {} new host key(s) were recorded in bringup's known_hosts.",
            accepted.len()
        )
    };
    if failures == 0 {
        println!("\nEvery host answered. {changed}");
        ExitCode::SUCCESS
    } else {
        println!("\n{failures} host(s) cannot be used as they are. {changed}");
        ExitCode::from(1)
    }
}
