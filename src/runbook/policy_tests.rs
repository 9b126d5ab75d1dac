//! `undo`, `on_fail`, `only` and `confirm_timeout` read from runbook text: values, defaults,
//! and diagnostics at file:line:col like every other key.

use std::path::Path;
use std::time::Duration;

use super::model::{OnFail, Only, Runbook, StepAction};
use super::{Diagnostics, load_str};

const HEAD: &str = "[vars]\nsite = \"gasan\"\n[hosts.a]\ntransport = \"local\"\n";

fn load(text: &str) -> Result<Runbook, Diagnostics> {
    load_str(
        &format!("{HEAD}{text}"),
        Path::new("t.toml"),
        "0",
        &[],
        None,
    )
}

fn errors(text: &str) -> String {
    load(text).expect_err("invalid").to_string()
}

fn service(restore_keys: &str, service_keys: &str) -> String {
    format!(
        "[[service]]\nid = \"vip\"\nhosts = [\"a\"]\n{service_keys}\n[[service.check]]\nname = \"up\"\nrun = \"true\"\n[[service.restore]]\nname = \"move\"\nrun = \"ip addr add 10.0.0.1/32 dev eth0\"\n{restore_keys}\n"
    )
}

#[test]
fn undo_is_a_command_under_the_rules_of_run() {
    let rb = load(&service(
        "undo = \"echo \\\"moving back to {{site}}\\\" {{host}}\"",
        "",
    ))
    .expect("valid");
    let step = &rb.services[0].restores[0];
    let Some(StepAction::Run(undo)) = &step.policy.undo else {
        panic!("undo read: {step:?}");
    };
    assert_eq!(undo.source, "echo \"moving back to {{site}}\" {{host}}");
    // Values are data: bound as shell variables, never spliced.
    let expanded = rb.expand(
        step.policy.undo.as_ref().expect("undo"),
        &rb.services[0].id,
        &super::model::HostId::new("a"),
    );
    assert!(
        expanded.text.contains("__bu_site=gasan"),
        "{}",
        expanded.text
    );
    assert_eq!(expanded.shown, "echo \"moving back to gasan\" a");
}

#[test]
fn an_undo_placeholder_in_single_quotes_or_unknown_is_an_error_at_its_line() {
    let e = errors(&service("undo = \"echo '{{site}}'\"", ""));
    assert!(e.contains("t.toml:15:15"), "{e}");
    assert!(
        e.contains("placeholder inside single quotes: '{{site}}'"),
        "{e}"
    );
    let e = errors(&service("undo = \"echo {{sight}}\"", ""));
    assert!(e.contains("unknown variable 'sight'"), "{e}");
    assert!(e.contains("t.toml:15:14"), "{e}");
}

#[test]
fn undo_belongs_to_run_restore_steps_only() {
    let check_undo = "[[service]]\nid = \"vip\"\nhosts = [\"a\"]\n[[service.check]]\nname = \"up\"\nrun = \"true\"\nundo = \"false\"\n";
    let e = errors(check_undo);
    assert!(e.contains("check step 'up' of 'vip' has 'undo'"), "{e}");
    let manual = service("undo = \"true\"", "").replace(
        "run = \"ip addr add 10.0.0.1/32 dev eth0\"",
        "manual = \"ask netops\"",
    );
    let e = errors(&manual);
    assert!(e.contains("manual step 'move' of 'vip' has 'undo'"), "{e}");
}

#[test]
fn on_fail_is_stop_or_undo_per_service_with_a_default() {
    let rb = load(&service("", "")).expect("valid");
    assert_eq!(rb.services[0].on_fail, OnFail::Stop);
    let rb = load(&service("", "on_fail = \"undo\"")).expect("valid");
    assert_eq!(rb.services[0].on_fail, OnFail::Undo);
    let rb = load(&format!(
        "[defaults]\non_fail = \"undo\"\n{}",
        service("", "")
    ))
    .expect("valid");
    assert_eq!(rb.services[0].on_fail, OnFail::Undo);
    let e = errors(&service("", "on_fail = \"undoo\""));
    assert!(e.contains("t.toml:8:11"), "{e}");
    assert!(e.contains("on_fail 'undoo' is not a policy"), "{e}");
    assert!(e.contains("did you mean 'undo'"), "{e}");
}

#[test]
fn only_is_a_mode_of_restore_steps() {
    let rb = load(&service("only = \"drill\"", "")).expect("valid");
    assert_eq!(rb.services[0].restores[0].policy.only, Some(Only::Drill));
    let e = errors(&service("only = \"dril\"", ""));
    assert!(e.contains("only 'dril' is not a mode"), "{e}");
    assert!(e.contains("did you mean 'drill'"), "{e}");
    let check_only = "[[service]]\nid = \"vip\"\nhosts = [\"a\"]\n[[service.check]]\nname = \"up\"\nrun = \"true\"\nonly = \"drill\"\n";
    assert!(errors(check_only).contains("check step 'up' of 'vip' has 'only'"));
}

#[test]
fn confirm_timeout_needs_confirm_and_falls_back_to_the_default() {
    let rb = load(&service("confirm = true\nconfirm_timeout = \"10m\"", "")).expect("valid");
    assert_eq!(
        rb.services[0].restores[0].policy.confirm_timeout,
        Some(Duration::from_secs(600))
    );
    let rb = load(&format!(
        "[defaults]\nconfirm_timeout = \"2m\"\n{}",
        service("confirm = true", "")
    ))
    .expect("valid");
    assert_eq!(
        rb.services[0].restores[0].policy.confirm_timeout,
        Some(Duration::from_secs(120))
    );
    // A default does not make a step ask.
    let rb = load(&format!(
        "[defaults]\nconfirm_timeout = \"2m\"\n{}",
        service("", "")
    ))
    .expect("valid");
    assert_eq!(rb.services[0].restores[0].policy.confirm_timeout, None);
    let e = errors(&service("confirm_timeout = \"10m\"", ""));
    assert!(e.contains("has 'confirm_timeout' but does not ask"), "{e}");
    let e = errors(&service(
        "confirm = true\nconfirm_timeout = \"10 minutes\"",
        "",
    ));
    assert!(e.contains("t.toml:16:19"), "{e}");
    let e = errors(&service("confirm = true\nconfirm_timeout = \"0s\"", ""));
    assert!(e.contains("confirm_timeout '0s' is too short"), "{e}");
}
