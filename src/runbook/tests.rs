//! Loading runbook text end to end: groups, variables, defaults and diagnostics.

use std::path::Path;
use std::time::Duration;

use super::model::{HostId, StepAction, Transport};
use super::{Diagnostics, Runbook, load_str, parse_overrides};

const BASE: &str = r#"
[defaults]
timeout = "45s"
retries = 3
retry_delay = "2s"
user = "sre"

[vars]
site = "gasan"

[hosts.bastion]
[hosts.a]
jump = "bastion"
[hosts.b]
address = "10.0.0.2"
[hosts.c]
[hosts.probe]
transport = "local"

[groups]
ab = ["a", "b"]
bc = ["b", "c"]
all = ["@ab", "@bc", "a"]
"#;

fn load_text(text: &str, vars: &[&str]) -> Result<Runbook, Diagnostics> {
    let vars: Vec<String> = vars.iter().map(ToString::to_string).collect();
    let overrides = parse_overrides(&vars)?;
    load_str(text, Path::new("t.toml"), "0", &overrides, None)
}

fn with_service(service: &str) -> String {
    format!("{BASE}\n{service}")
}

fn errors(text: &str) -> Vec<String> {
    load_text(text, &[])
        .expect_err("runbook should be invalid")
        .0
}

const SIMPLE: &str = r#"
[[service]]
id = "s"
hosts = ["@all"]
  [[service.check]]
  name = "up"
  run = "curl {{site}} {{host}}"
  [[service.restore]]
  name = "start"
  run = "systemctl start x"
  hosts = ["probe", "@bc"]
  timeout = "1m"
"#;

#[test]
fn groups_expand_nested_in_order_without_duplicates() {
    let rb = load_text(&with_service(SIMPLE), &[]).expect("valid");
    let hosts: Vec<&str> = rb.services[0].hosts.iter().map(HostId::as_str).collect();
    assert_eq!(hosts, ["a", "b", "c"]);
    let all: Vec<&str> = rb.groups["all"].iter().map(HostId::as_str).collect();
    assert_eq!(all, ["a", "b", "c"]);
}

#[test]
fn step_hosts_default_to_the_service_and_may_name_other_known_hosts() {
    let rb = load_text(&with_service(SIMPLE), &[]).expect("valid");
    let s = &rb.services[0];
    assert_eq!(s.checks[0].hosts, s.hosts);
    let restore: Vec<&str> = s.restores[0].hosts.iter().map(HostId::as_str).collect();
    assert_eq!(restore, ["probe", "b", "c"]);
}

#[test]
fn steps_inherit_defaults_unless_they_override() {
    let rb = load_text(&with_service(SIMPLE), &[]).expect("valid");
    let s = &rb.services[0];
    assert_eq!(s.checks[0].timeout, Duration::from_secs(45));
    assert_eq!(s.checks[0].retries, 3);
    assert_eq!(s.checks[0].retry_delay, Duration::from_secs(2));
    assert_eq!(s.restores[0].timeout, Duration::from_secs(60));
    assert_eq!(s.tier, 1, "tier defaults to 1");
    assert_eq!(s.name, "s", "name defaults to the id");
}

#[test]
fn hosts_get_transport_address_and_jump() {
    let rb = load_text(&with_service(SIMPLE), &[]).expect("valid");
    assert_eq!(rb.hosts["a"].address, "a", "address defaults to the id");
    assert_eq!(rb.hosts["b"].address, "10.0.0.2");
    assert_eq!(
        rb.hosts["a"].jump.as_ref().map(HostId::as_str),
        Some("bastion")
    );
    assert_eq!(rb.hosts["probe"].transport, Transport::Local);
    assert_eq!(rb.defaults.user.as_deref(), Some("sre"));
}

#[test]
fn var_override_replaces_the_file_value_and_is_bound_as_a_shell_variable() {
    let rb = load_text(&with_service(SIMPLE), &["site=pan gyo"]).expect("valid");
    assert_eq!(rb.vars["site"], "pan gyo");
    let s = &rb.services[0];
    let e = rb.expand(&s.checks[0].action, &s.id, &s.hosts[0]);
    assert_eq!(
        e.text,
        "__bu_site='pan gyo'\n__bu_host=a\ncurl \"${__bu_site}\" \"${__bu_host}\""
    );
    assert_eq!(e.shown, "curl pan gyo a");
}

#[test]
fn var_override_for_an_undeclared_key_defines_it() {
    let svc = SIMPLE.replace("{{site}}", "{{extra}}");
    assert!(load_text(&with_service(&svc), &[]).is_err());
    let rb = load_text(&with_service(&svc), &["extra=1"]).expect("defined by --var");
    assert_eq!(rb.vars["extra"], "1");
}

#[test]
fn malformed_var_overrides_are_errors() {
    let e = load_text(&with_service(SIMPLE), &["novalue"]).expect_err("no '='");
    assert!(e.0[0].contains("--var 'nova…' is not KEY=VALUE"), "{e}");
    let e = load_text(&with_service(SIMPLE), &["=x", "host=h"]).expect_err("bad names");
    assert_eq!(e.0.len(), 2, "{e}");
    assert!(e.0[1].contains("built-in"), "{e}");
}

#[test]
fn a_malformed_var_never_echoes_its_value_and_says_the_form_expected() {
    for (bad, shown) in [
        ("tok:abc-s3cret-value", "'tok:…'"),
        ("hunter2-s3cret-value", "'hunt…'"),
        ("b@d name=s3cret-value", "'b@d name=…'"),
        ("host=s3cret-value", "'host=…'"),
    ] {
        let e = load_text(&with_service(SIMPLE), &[bad]).expect_err("malformed");
        let text = e.to_string();
        assert!(!text.contains("s3cret"), "{bad}: {text}");
        assert!(text.contains(shown), "{bad}: {text}");
        if !bad.starts_with("host=") {
            assert!(text.contains("--var KEY=VALUE"), "{bad}: {text}");
        }
    }
}

#[test]
fn unknown_variable_is_reported_with_a_suggestion() {
    let svc = SIMPLE.replace("{{site}}", "{{ sitee }}");
    let e = errors(&with_service(&svc));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("unknown variable 'sitee'"), "{e:?}");
    assert!(e[0].contains("did you mean 'site'?"), "{e:?}");
    // The caret points at the placeholder, not the whole command.
    assert!(e[0].contains("error: unknown variable"), "{e:?}");
    let line = e[0].lines().next().unwrap_or_default();
    assert!(line.starts_with("t.toml:"), "{line}");
    let col: usize = line
        .split(':')
        .nth(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    assert_eq!(col, "  run = \"curl ".len() + 1, "{line}");
}

#[test]
fn builtin_variables_need_no_declaration_but_cannot_be_redefined() {
    let svc = SIMPLE.replace("{{site}}", "{{address}} {{service}}");
    assert!(load_text(&with_service(&svc), &[]).is_ok());
    let text = with_service(SIMPLE).replace("site = \"gasan\"", "site = \"gasan\"\nhost = \"x\"");
    let e = errors(&text);
    assert!(e[0].contains("'host' would hide the built-in"), "{e:?}");
}

#[test]
fn secret_vars_count_as_declared_and_stay_unset_until_given() {
    let text = format!(
        "[runbook]\nname = \"n\"\nsecret_vars = [\"token\"]\n{}",
        with_service(&SIMPLE.replace("{{site}}", "{{token}}"))
    );
    let rb = load_text(&text, &[]).expect("valid without the secret");
    assert!(rb.secret_vars.contains("token"));
    assert!(!rb.vars.contains_key("token"));
    assert_eq!(rb.unset_secrets(), ["token"]);
    let rb = load_text(&text, &["token=s3cret"]).expect("valid");
    assert!(rb.unset_secrets().is_empty());
    let s = &rb.services[0];
    let e = rb.expand(&s.checks[0].action, &s.id, &s.hosts[0]);
    assert_eq!(
        e.text,
        "__bu_token=s3cret\n__bu_host=a\ncurl \"${__bu_token}\" \"${__bu_host}\""
    );
    assert_eq!(e.shown, "curl *** a");
}

#[test]
fn non_string_vars_are_taken_as_text() {
    let text = with_service(SIMPLE).replace("site = \"gasan\"", "site = 30");
    let rb = load_text(&text, &[]).expect("valid");
    assert_eq!(rb.vars["site"], "30");
}

#[test]
fn manual_steps_keep_their_instruction_unquoted() {
    let svc = SIMPLE.replace(
        "run = \"systemctl start x\"",
        "manual = \"Move VIP to {{site}}\"",
    );
    let rb = load_text(&with_service(&svc), &["site=a b"]).expect("valid");
    let s = &rb.services[0];
    assert!(matches!(s.restores[0].action, StepAction::Manual(_)));
    let e = rb.expand(&s.restores[0].action, &s.id, &s.hosts[0]);
    assert_eq!(e.text, "Move VIP to a b");
}

#[test]
fn a_plain_name_that_is_a_group_gets_told_to_use_at() {
    let svc = SIMPLE.replace("[\"@all\"]", "[\"all\"]");
    let e = errors(&with_service(&svc));
    assert!(
        e.iter()
            .any(|d| d.contains("unknown host 'all'") && d.contains("write '@all'")),
        "{e:?}"
    );
}

#[test]
fn groups_that_include_each_other_are_reported() {
    let text = with_service(SIMPLE).replace("bc = [\"b\", \"c\"]", "bc = [\"b\", \"@all\"]");
    let e = errors(&text);
    assert!(
        e.iter().any(|d| d.contains("groups include each other")),
        "{e:?}"
    );
}

#[test]
fn jump_loops_are_reported_once() {
    let text = with_service(SIMPLE).replace("[hosts.bastion]", "[hosts.bastion]\njump = \"a\"");
    let e = errors(&text);
    let loops: Vec<_> = e.iter().filter(|d| d.contains("jump hosts loop")).collect();
    assert_eq!(loops.len(), 1, "{e:?}");
    assert!(
        loops[0].contains("'a' → 'bastion' → 'a'")
            || loops[0].contains("'bastion' → 'a' → 'bastion'"),
        "{e:?}"
    );
}

#[test]
fn a_run_step_with_no_host_is_an_error_but_a_manual_one_is_not() {
    let svc =
        "[[service]]\nid = \"s\"\n[[service.check]]\nname = \"ask\"\nmanual = \"Is it up?\"\n";
    assert!(load_text(&with_service(svc), &[]).is_ok());
    let svc = "[[service]]\nid = \"s\"\n[[service.check]]\nname = \"up\"\nrun = \"true\"\n";
    let e = errors(&with_service(svc));
    assert!(e[0].contains("has no host to run on"), "{e:?}");
}

#[test]
fn duplicate_step_names_in_one_phase_are_errors() {
    let svc = SIMPLE.replace("name = \"start\"", "name = \"up\"");
    assert!(
        load_text(&with_service(&svc), &[]).is_ok(),
        "check and restore may share a name"
    );
    let svc = format!("{SIMPLE}  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n");
    let e = errors(&with_service(&svc));
    assert!(e[0].contains("duplicate check step name 'up'"), "{e:?}");
}

#[test]
fn errors_come_out_in_file_order() {
    let text = with_service(&SIMPLE.replace("\"1m\"", "\"1 fortnight\""))
        .replace("retries = 3", "retries = -1");
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:?}");
    let line = |d: &str| -> usize {
        d.split(':')
            .nth(1)
            .and_then(|l| l.parse().ok())
            .unwrap_or(0)
    };
    assert!(line(&e[0]) < line(&e[1]), "{e:?}");
}

#[test]
fn expect_exit_outside_0_to_255_is_an_error_naming_the_value() {
    for bad in ["300", "-1"] {
        let svc = SIMPLE.replace(
            "name = \"up\"",
            &format!("name = \"up\"\n  expect_exit = {bad}"),
        );
        let e = errors(&with_service(&svc));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains(&format!("expect_exit '{bad}' is not an exit code")),
            "{e:?}"
        );
        assert!(e[0].contains("help: exit codes run from 0 to 255"), "{e:?}");
    }
    let svc = SIMPLE.replace("name = \"up\"", "name = \"up\"\n  expect_exit = 255");
    let rb = load_text(&with_service(&svc), &[]).expect("255 is an exit code");
    assert_eq!(rb.services[0].checks[0].expect_exit, 255);
}

#[test]
fn retries_and_durations_too_large_to_mean_anything_are_errors() {
    let text = with_service(SIMPLE)
        .replace("retries = 3", "retries = 4294967295")
        .replace("retry_delay = \"2s\"", "retry_delay = \"99999999999h\"");
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("retries '4294967295' is too many"), "{e:?}");
    assert!(
        e[1].contains("duration '99999999999h' is too long"),
        "{e:?}"
    );
    let ok = with_service(SIMPLE).replace("retries = 3", "retries = 10000");
    assert_eq!(load_text(&ok, &[]).expect("valid").defaults.retries, 10_000);
}

#[test]
fn a_runbook_without_services_is_an_error() {
    for text in ["", BASE] {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:1:1: error: the runbook has no [[service]]"),
            "{e:?}"
        );
    }
}

#[test]
fn a_group_name_must_be_usable_after_an_at_sign() {
    let text = with_service(SIMPLE).replace("[groups]\n", "[groups]\n\"g g\" = [\"a\"]\n");
    let e = errors(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("group name 'g g' has characters names may not have"),
        "{e:?}"
    );
}

#[test]
fn a_run_command_binds_each_value_once_and_references_it_in_every_context() {
    let svc = SIMPLE.replace(
        "run = \"curl {{site}} {{host}}\"",
        r#"run = '''echo {{site}} "at {{site}}"; sh -c "printf %s {{site}}"'''"#,
    );
    let rb = load_text(
        &with_service(&svc),
        &["site=$(touch x); `id` \"q\" 'q'\nnext"],
    )
    .expect("valid");
    let s = &rb.services[0];
    let e = rb.expand(&s.checks[0].action, &s.id, &s.hosts[0]);
    let (binding, rest) = e
        .text
        .split_once("\nexport __bu_site\n")
        .expect("bound, then exported");
    assert!(binding.starts_with("__bu_site="), "{binding}");
    // The assignment, read by a real shell, gives back the value byte for byte.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{binding}\nprintf '%s' \"$__bu_site\""))
        .output()
        .expect("sh runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), rb.vars["site"]);
    assert_eq!(
        rest, r#"echo "${__bu_site}" "at ${__bu_site}"; sh -c "printf %s \"\${__bu_site}\"""#,
        "the command holds references only"
    );
    assert_eq!(
        e.shown,
        "echo $(touch x); `id` \"q\" 'q'\nnext \"at $(touch x); `id` \"q\" 'q'\nnext\"; sh -c \"printf %s $(touch x); `id` \"q\" 'q'\nnext\"",
        "the shown form is the command as written, with the value in place"
    );
}

#[test]
fn a_placeholder_inside_single_quotes_is_an_error_but_not_in_a_manual_step() {
    let svc = SIMPLE.replace("curl {{site}} {{host}}", "curl '{{site}}' {{host}}");
    let e = errors(&with_service(&svc));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("placeholder inside single quotes: '{{site}}'"),
        "{}",
        e[0]
    );
    let svc = SIMPLE.replace(
        "run = \"systemctl start x\"",
        "manual = \"Say 'moving to {{site}}' on the bridge\"",
    );
    assert!(load_text(&with_service(&svc), &[]).is_ok());
}

mod drills {
    use super::super::{load_str, model::ServiceId};
    use std::path::Path;
    use std::time::Duration;

    const SRC: &str = r#"
[vars]
site = "gasan"
[hosts.a]
transport = "local"
[[service]]
id = "web"
tier = 2
hosts = ["a"]
depends_on = ["db"]
drill_every = "30d"
  [[service.check]]
  name = "c"
  run = "true"
  [[service.inject]]
  name = "i"
  run = "true"
[[service]]
id = "db"
tier = 1
hosts = ["a"]
  [[service.check]]
  name = "c"
  run = "true"
  [[service.inject]]
  name = "i"
  run = "true"
[[scenario]]
id = "all"
inject = ["web", "@tier:1", "web"]
[[guard]]
name = "g"
run = "echo {{site}} {{host}}"
hosts = ["a"]
"#;

    #[test]
    fn scenario_services_are_expanded_deduplicated_and_in_plan_order() {
        let rb = load_str(SRC, Path::new("d.toml"), "", &[], None).expect("valid");
        let sc = rb.drills.scenario("all").expect("scenario");
        assert_eq!(sc.name, "all", "the name defaults to the id");
        assert_eq!(sc.services, [ServiceId::new("db"), ServiceId::new("web")]);
    }

    #[test]
    fn guards_default_to_every_10s_and_expand_like_checks() {
        let rb = load_str(SRC, Path::new("d.toml"), "", &[], None).expect("valid");
        let g = &rb.drills.guards[0];
        assert_eq!(g.every, Duration::from_secs(10));
        let e = rb.expand_guard(g, &super::super::HostId::new("a"));
        assert_eq!(e.shown, "echo gasan a");
        assert!(
            e.text.contains("__bu_site=gasan"),
            "values bound as data: {}",
            e.text
        );
    }

    #[test]
    fn drill_every_falls_back_from_the_service_to_the_runbook() {
        let src = SRC.replacen("[vars]", "[runbook]\ndrill_every = \"90d\"\n[vars]", 1);
        let rb = load_str(&src, Path::new("d.toml"), "", &[], None).expect("valid");
        let day = 86_400;
        assert_eq!(
            rb.drills.every_for(&ServiceId::new("web")),
            Some(Duration::from_secs(30 * day))
        );
        assert_eq!(
            rb.drills.every_for(&ServiceId::new("db")),
            Some(Duration::from_secs(90 * day))
        );
    }

    #[test]
    fn a_guard_may_not_use_the_service_placeholder() {
        let src = SRC.replace("echo {{site}} {{host}}", "echo {{service}}");
        let err = load_str(&src, Path::new("d.toml"), "", &[], None).expect_err("invalid");
        assert!(
            err.to_string().contains("unknown variable 'service'"),
            "{err}"
        );
    }
}

mod identity {
    //! `[runbook] operators` and `observers`, and `confirm = 2`, read from real files.

    use std::path::Path;

    use super::super::load;
    use super::{errors, with_service};
    use crate::runbook::model::Confirm;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIK0dSPF1ydBNl0OZzZvvAFSqC9U5tZVcEcHrc1xjeQyB";

    fn runbook(dir: &Path, meta: &str) -> std::path::PathBuf {
        let text = format!(
            "[runbook]\n{meta}\n[hosts.h]\ntransport = \"local\"\n[[service]]\nid = \"x\"\nhosts = [\"h\"]\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n"
        );
        let path = dir.join("rb.toml");
        std::fs::write(&path, text).expect("write");
        path
    }

    fn load_errors(path: &Path) -> String {
        load(path, &[])
            .expect_err("the runbook is invalid")
            .to_string()
    }

    #[test]
    fn operators_is_read_relative_to_the_runbooks_folder_and_observers_are_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("ops.allowed_signers"),
            format!("alice ssh-ed25519 {KEY}\n"),
        )
        .expect("write");
        let path = runbook(
            dir.path(),
            "operators = \"ops.allowed_signers\"\nobservers = [\"olga\", \"pat\"]",
        );
        let rb = load(&path, &[]).expect("valid");
        assert_eq!(
            rb.operators.signers.as_deref(),
            Some(dir.path().join("ops.allowed_signers").as_path())
        );
        assert_eq!(rb.operators.observers, ["olga", "pat"]);
    }

    #[test]
    fn a_missing_or_malformed_operators_file_is_named_at_its_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = runbook(dir.path(), "operators = \"nope.allowed_signers\"");
        let err = load_errors(&path);
        assert!(err.contains("rb.toml:2:13: error: operators '"), "{err}");
        assert!(
            err.contains("nope.allowed_signers' cannot be read: No such file or directory"),
            "{err}"
        );
        std::fs::write(
            dir.path().join("bad"),
            format!("alice ssh-ed25519 {KEY}\nbob namespace=\"x\" ssh-ed25519 {KEY}\n"),
        )
        .expect("write");
        let path = runbook(dir.path(), "operators = \"bad\"");
        let err = load_errors(&path);
        assert!(
            err.contains("line 2: unknown option 'namespace=\"x\"'"),
            "{err}"
        );
        let path = runbook(dir.path(), "operators = \"\"");
        assert!(load_errors(&path).contains("operators '' names no file"));
    }

    #[test]
    fn observers_must_be_a_list_of_principal_names() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = load_errors(&runbook(dir.path(), "observers = \"olga\""));
        assert!(
            err.contains("rb.toml:2:13: error: invalid type: 'olga' is a string, expected a list"),
            "{err}"
        );
        let err = load_errors(&runbook(dir.path(), "observers = [1]"));
        assert!(err.contains("rb.toml:2:14: error: invalid type"), "{err}");
        let err = load_errors(&runbook(
            dir.path(),
            "observers = [\"olga\", \"ol ga\", \"olga\"]",
        ));
        assert!(
            err.contains("observer 'ol ga' is not a principal name"),
            "{err}"
        );
        assert!(err.contains("observer 'olga' is listed twice"), "{err}");
    }

    fn confirm_of(value: &str) -> Result<Confirm, Vec<String>> {
        let text = with_service(&format!(
            "[[service]]\nid = \"s\"\nhosts = [\"a\"]\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n  [[service.restore]]\n  name = \"fix\"\n  run = \"true\"\n  confirm = {value}\n"
        ));
        match super::load_text(&text, &[]) {
            Ok(rb) => Ok(rb.services[0].restores[0].confirm),
            Err(_) => Err(errors(&text)),
        }
    }

    #[test]
    fn confirm_takes_true_false_one_or_two_people() {
        assert_eq!(confirm_of("true"), Ok(Confirm::One));
        assert_eq!(confirm_of("1"), Ok(Confirm::One));
        assert_eq!(confirm_of("2"), Ok(Confirm::Two));
        assert_eq!(confirm_of("false"), Ok(Confirm::No));
        for bad in ["3", "0", "\"yes\"", "-1"] {
            let errs = confirm_of(bad).expect_err(bad);
            assert!(
                errs[0].contains("expected true, false, 1 or 2"),
                "{bad}: {errs:?}"
            );
        }
    }
}
