//! `bringup validate` and `bringup plan` as a user runs them: exit codes, diagnostics on
//! stderr with file:line:col, quoted values and suggestions, and the printed plan.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn bringup() -> Command {
    Command::cargo_bin("bringup").expect("the bringup binary is built")
}

fn fixture(kind: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/runbooks")
        .join(kind)
        .join(name)
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture folder exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Run `validate` on an invalid fixture: exit 2, nothing on stdout, and the stderr returned.
fn invalid(name: &str) -> String {
    let path = fixture("invalid", name);
    let out = bringup()
        .arg("validate")
        .arg(&path)
        .assert()
        .code(2)
        .stdout("");
    String::from_utf8(out.get_output().stderr.clone()).expect("utf-8 stderr")
}

fn assert_has(stderr: &str, needles: &[&str]) {
    for n in needles {
        assert!(stderr.contains(n), "missing {n:?} in:\n{stderr}");
    }
}

#[test]
fn every_valid_fixture_and_shipped_runbook_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = toml_files(&root.join("tests/runbooks/valid"));
    files.extend(toml_files(&root.join("runbooks")));
    assert!(files.len() >= 5, "fixtures found: {files:?}");
    for f in files {
        bringup()
            .arg("validate")
            .arg(&f)
            .assert()
            .code(0)
            .stdout(predicate::str::contains("is valid"))
            .stderr("");
    }
}

#[test]
fn every_invalid_fixture_fails_with_exit_2_and_a_located_error() {
    let files = toml_files(&fixture("invalid", ""));
    assert!(files.len() >= 15, "fixtures found: {files:?}");
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let out = bringup().arg("validate").arg(&f).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&format!("{name}:")),
            "{name}: no location in\n{stderr}"
        );
        assert!(
            stderr.contains(": error: "),
            "{name}: no error in\n{stderr}"
        );
    }
}

#[test]
fn syntax_error_names_the_position() {
    let e = invalid("syntax.toml");
    assert_has(&e, &["syntax.toml:1:9: error: ", "expected ']'"]);
}

#[test]
fn unknown_key_suggests_the_closest_key() {
    let e = invalid("unknown-key.toml");
    assert_has(
        &e,
        &[
            "unknown-key.toml:6:1: error: unknown key 'depnds_on' in [[service]] 'web'",
            "help: did you mean 'depends_on'?",
            "6 | depnds_on = []",
        ],
    );
}

#[test]
fn duplicate_service_id_points_at_the_second_and_names_the_first_line() {
    let e = invalid("duplicate-id.toml");
    assert_has(
        &e,
        &[
            "duplicate-id.toml:11:6: error: duplicate service id 'web'",
            "first defined on line 4",
        ],
    );
}

#[test]
fn missing_dependency_suggests_the_closest_service() {
    let e = invalid("missing-dependency.toml");
    assert_has(
        &e,
        &[
            "missing-dependency.toml:13:15: error: service 'web' depends on unknown service 'auht'",
            "help: did you mean 'auth'?",
        ],
    );
}

#[test]
fn dependency_cycle_prints_every_member_in_order() {
    let e = invalid("cycle.toml");
    assert_has(
        &e,
        &["cycle.toml:4:6: error: dependency cycle: 'a' → 'c' → 'b' → 'a'"],
    );
    assert_eq!(
        e.matches("dependency cycle").count(),
        1,
        "one report per cycle:\n{e}"
    );
}

#[test]
fn dependency_on_a_later_tier_is_an_error() {
    let e = invalid("later-tier.toml");
    assert_has(
        &e,
        &[
            "later-tier.toml:7:15: error: service 'messaging' (tier 1) depends on 'mail' of a later tier (5)",
        ],
    );
}

#[test]
fn unknown_host_group_and_jump_suggest_the_known_name() {
    assert_has(
        &invalid("unknown-host.toml"),
        &[
            "unknown-host.toml:5:10: error: unknown host 'msg-gw-l'",
            "did you mean 'msg-gw-1'?",
        ],
    );
    assert_has(
        &invalid("unknown-group.toml"),
        &[
            "unknown-group.toml:8:10: error: unknown group '@mesaging'",
            "did you mean '@messaging'?",
        ],
    );
    assert_has(
        &invalid("unknown-jump.toml"),
        &[
            "unknown-jump.toml:5:8: error: jump host 'bastoin' is not a known host",
            "did you mean 'bastion'?",
        ],
    );
    assert_has(
        &invalid("unknown-transport.toml"),
        &[
            "unknown-transport.toml:2:13: error: unknown transport 'shh'",
            "did you mean 'ssh'?",
        ],
    );
}

#[test]
fn bad_duration_shows_the_value_and_the_accepted_forms() {
    let e = invalid("bad-duration.toml");
    assert_has(
        &e,
        &[
            "bad-duration.toml:6:7: error: bad duration 'half an hour'",
            "'1h30m'",
        ],
    );
}

#[test]
fn ambiguous_or_missing_duration_units_are_errors_that_list_the_units() {
    let e = invalid("ambiguous-duration.toml");
    assert_has(
        &e,
        &[
            "ambiguous-duration.toml:2:15: error: bad duration '1w': unknown unit 'w'",
            "ambiguous-duration.toml:9:7: error: bad duration '2M': unknown unit 'M' ('M' could mean minutes or months)",
            "ambiguous-duration.toml:13:13: error: bad duration '1y': unknown unit 'y'",
            "ambiguous-duration.toml:18:13: error: bad duration '30': no unit",
            "help: units are ms, s, m, h and d",
            "4 problems found",
        ],
    );
}

#[test]
fn a_zero_timeout_and_a_sub_second_connect_timeout_are_errors_naming_the_minimum() {
    let e = invalid("too-short-timeout.toml");
    assert_has(
        &e,
        &[
            "too-short-timeout.toml:2:19: error: connect_timeout '500ms' is too short",
            "the minimum is '1s'",
            "too-short-timeout.toml:12:13: error: timeout '0s' is too short",
            "the minimum is '100ms'",
        ],
    );
}

#[test]
fn a_local_host_cannot_be_a_jump_host() {
    assert_has(
        &invalid("local-jump.toml"),
        &[
            "local-jump.toml:6:8: error: jump host 'operator' of host 'a' runs locally",
            "name an SSH host as 'jump'",
        ],
    );
}

#[test]
fn a_step_needs_exactly_one_of_run_and_manual() {
    assert_has(
        &invalid("run-and-manual.toml"),
        &["run-and-manual.toml:9:12: error: check step 'up' of 'web' has both 'run' and 'manual'"],
    );
    assert_has(
        &invalid("neither-run-nor-manual.toml"),
        &[
            "neither-run-nor-manual.toml:7:10: error: check step 'up' of 'web' has neither 'run' nor 'manual'",
        ],
    );
}

#[test]
fn a_service_without_a_check_is_an_error() {
    assert_has(
        &invalid("no-check.toml"),
        &["no-check.toml:4:6: error: service 'web' has no check"],
    );
}

#[test]
fn unknown_variable_points_at_the_placeholder() {
    let e = invalid("unknown-variable.toml");
    assert_has(
        &e,
        &[
            "unknown-variable.toml:11:26: error: unknown variable 'stie'",
            "did you mean 'site'?",
            "^^^^^^^^",
        ],
    );
}

#[test]
fn a_placeholder_inside_single_quotes_points_at_it_and_says_what_to_do() {
    let e = invalid("placeholder-in-single-quotes.toml");
    assert_has(
        &e,
        &[
            "placeholder-in-single-quotes.toml:14:46: error: placeholder inside single quotes: '{{ops_token}}'",
            "^^^^^^^^^^^^^",
            "help: nothing expands inside '…': move the placeholder outside the quotes",
            "or use double quotes",
            "1 problem",
        ],
    );
}

#[test]
fn a_placeholder_in_a_quoted_heredoc_or_a_single_quoted_sh_c_is_an_error() {
    let e = invalid("placeholder-in-quoted-heredoc.toml");
    assert_has(
        &e,
        &[
            "placeholder-in-quoted-heredoc.toml:10:8: error: placeholder inside a quoted here-document: '{{site}}'",
            "write the delimiter unquoted (<<EOF)",
            "placeholder-in-quoted-heredoc.toml:12:16: error: placeholder inside single quotes: '{{site}}'",
        ],
    );
}

#[test]
fn bad_regex_is_reported_with_the_pattern() {
    assert_has(
        &invalid("bad-regex.toml"),
        &["bad-regex.toml:9:19: error: bad regex 'status: (ok'"],
    );
}

#[test]
fn wrong_value_type_is_reported_in_plain_words() {
    assert_has(
        &invalid("wrong-type.toml"),
        &["wrong-type.toml:5:8: error: invalid type: 'first' is a string, expected a whole number"],
    );
}

#[test]
fn several_errors_in_one_file_are_all_reported_in_file_order() {
    let e = invalid("many-errors.toml");
    let expected = [
        "many-errors.toml:3:1: error: unknown key 'timout' in [defaults]",
        "many-errors.toml:9:15: error: unknown host 'b'",
        "many-errors.toml:10:1: error: unknown key 'depnds_on'",
        "many-errors.toml:13:15: error: unknown variable 'sit'",
        "many-errors.toml:16:6: error: service 'web' has no check",
        "many-errors.toml:18:23: error: service 'web' depends on unknown service 'cache'",
        "many-errors.toml:19:7: error: bad duration 'soon'",
    ];
    let mut last = 0;
    for line in expected {
        let at = e
            .find(line)
            .unwrap_or_else(|| panic!("missing {line:?} in:\n{e}"));
        assert!(at >= last, "{line:?} out of order in:\n{e}");
        last = at;
    }
    assert_has(&e, &["7 problems found"]);
}

#[test]
fn a_missing_file_is_named_and_exits_2() {
    bringup()
        .args(["validate", "no/such/runbook.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read runbook 'no/such/runbook.toml'",
        ));
}

#[test]
fn a_malformed_var_is_an_error_and_an_undeclared_one_defines_it() {
    let rb = fixture("invalid", "unknown-variable.toml");
    bringup()
        .arg("validate")
        .arg(&rb)
        .args(["--var", "stie"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--var 'stie' is not KEY=VALUE"));
    bringup()
        .arg("validate")
        .arg(&rb)
        .args(["--var", "stie=x"])
        .assert()
        .code(0);
}

#[test]
fn plan_takes_a_variable_from_the_environment_like_validate() {
    let rb = fixture("invalid", "unknown-variable.toml");
    bringup()
        .arg("plan")
        .arg(&rb)
        .args(["--var-env", "stie=BRINGUP_TEST_PLAN_SITE"])
        .env("BRINGUP_TEST_PLAN_SITE", "x")
        .assert()
        .code(0);
    bringup()
        .arg("plan")
        .arg(&rb)
        .args(["--var-env", "stie=BRINGUP_TEST_PLAN_SITE"])
        .env_remove("BRINGUP_TEST_PLAN_SITE")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "'BRINGUP_TEST_PLAN_SITE' is not set",
        ));
}

#[test]
fn validate_prints_the_plan_tier_by_tier_with_waves() {
    let rb = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/pangyo-dc-fire.toml");
    let out = bringup().arg("validate").arg(&rb).assert().code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_has(
        &stdout,
        &[
            "TIER 1 —",
            "wave 1",
            "wave 2",
            "2 hosts",
            "RTO 45m",
            "after infra-dns, db-main",
        ],
    );
    let pos = |id: &str| {
        stdout
            .find(&format!("    {id} "))
            .unwrap_or_else(|| panic!("{id} missing:\n{stdout}"))
    };
    assert!(pos("talk-messaging") < pos("media-transfer"));
    assert!(pos("media-transfer") < pos("pc-login"));
    assert!(pos("pc-login") < pos("mail-smtp"));
}

#[test]
fn plan_prints_mermaid_and_dot_with_tiers_as_groups() {
    let rb = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/network-error.toml");
    bringup()
        .arg("plan")
        .arg(&rb)
        .args(["--format", "mermaid"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::starts_with("flowchart LR")
                .and(predicate::str::contains("subgraph tier1[\"Tier 1\"]")),
        );
    bringup()
        .arg("plan")
        .arg(&rb)
        .args(["--format", "dot"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("subgraph cluster_tier_2").and(predicate::str::contains(
                "\"edge-routing\" -> \"load-balancers\";",
            )),
        );
    bringup()
        .arg("plan")
        .arg(&rb)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("TIER 3 — 1 service, 1 wave"));
}

#[test]
fn plan_of_an_invalid_runbook_exits_2_with_diagnostics() {
    bringup()
        .arg("plan")
        .arg(fixture("invalid", "cycle.toml"))
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("dependency cycle"));
}

#[test]
fn values_out_of_range_are_errors_not_crashes_later() {
    let e = invalid("out-of-range.toml");
    assert_has(
        &e,
        &[
            "out-of-range.toml:9:17: error: expect_exit '300' is not an exit code",
            "out-of-range.toml:10:13: error: duration '99999999999h' is too long",
            "out-of-range.toml:11:13: error: retries '4294967295' is too many",
        ],
    );
}

#[test]
fn an_empty_runbook_is_an_error() {
    let e = invalid("empty.toml");
    assert_has(
        &e,
        &["empty.toml:1:1: error: the runbook has no [[service]]"],
    );
}

#[test]
fn a_binary_file_or_a_directory_exits_2_without_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, b"name = 1\n\x00\xff\xfe garbage").expect("write");
    bringup()
        .arg("validate")
        .arg(&binary)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "binary.toml:2:2: error: the runbook is not UTF-8 text",
        ))
        .stderr(predicate::str::contains("panicked").not());
    bringup()
        .arg("validate")
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read runbook"))
        .stderr(predicate::str::contains("panicked").not());
}

#[cfg(unix)]
#[test]
fn an_endless_file_is_refused_at_a_size_cap_instead_of_eating_memory() {
    bringup()
        .args(["validate", "/dev/zero"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read runbook '/dev/zero': it is larger than 64 MB",
        ));
}

#[test]
fn opening_a_missing_runbook_without_a_terminal_names_the_file_not_the_terminal() {
    bringup()
        .arg("tests/runbooks/no-such-runbook.toml")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read runbook 'tests/runbooks/no-such-runbook.toml'",
        ))
        .stderr(predicate::str::contains("needs a terminal").not());
}

#[test]
fn a_scenario_naming_an_unknown_service_suggests_the_closest() {
    assert_has(
        &invalid("scenario-unknown-service.toml"),
        &[
            "scenario-unknown-service.toml:26:11: error: scenario 'outage' injects unknown service 'mesaging'",
            "help: did you mean 'messaging'?",
        ],
    );
}

#[test]
fn a_scenario_naming_an_empty_tier_suggests_the_nearest_tier() {
    assert_has(
        &invalid("scenario-unknown-tier.toml"),
        &[
            "scenario-unknown-tier.toml:26:11: error: no service is in tier '3'",
            "help: did you mean '@tier:2'?",
        ],
    );
}

#[test]
fn a_scenario_service_without_an_inject_step_is_an_error() {
    assert_has(
        &invalid("scenario-no-inject-step.toml"),
        &[
            "scenario-no-inject-step.toml:26:11: error: scenario 'outage' injects 'mail', which has no [[service.inject]] step",
            "help: add a [[service.inject]] to 'mail'",
        ],
    );
}

#[test]
fn a_duplicate_scenario_id_names_the_first_line() {
    assert_has(
        &invalid("scenario-duplicate-id.toml"),
        &[
            "scenario-duplicate-id.toml:29:6: error: duplicate scenario id 'outage'",
            "first defined on line 24",
        ],
    );
}

#[test]
fn an_empty_inject_list_is_an_error() {
    assert_has(
        &invalid("scenario-empty-inject.toml"),
        &["scenario-empty-inject.toml:26:10: error: scenario 'outage' injects nothing"],
    );
}

#[test]
fn a_guard_without_run_or_with_an_unknown_host_is_an_error() {
    assert_has(
        &invalid("guard-without-run.toml"),
        &["guard-without-run.toml:24:8: error: guard 'api serving' has no 'run'"],
    );
    assert_has(
        &invalid("guard-unknown-host.toml"),
        &[
            "guard-unknown-host.toml:26:10: error: unknown host 'operatr'",
            "help: did you mean 'operator'?",
        ],
    );
}

#[test]
fn bad_drill_durations_are_each_located() {
    assert_has(
        &invalid("bad-drill-duration.toml"),
        &[
            "bad-drill-duration.toml:2:15: error: bad duration '3 months'",
            "bad-drill-duration.toml:10:15: error: bad duration '30days'",
            "bad-drill-duration.toml:19:9: error: every '500ms' is too short",
            "help: the minimum is '1s'",
        ],
    );
}

#[test]
fn a_guard_command_gets_the_same_placeholder_quoting_check_as_a_step() {
    assert_has(
        &invalid("guard-placeholder-in-single-quotes.toml"),
        &[
            "guard-placeholder-in-single-quotes.toml:28:25: error: placeholder inside single quotes: '{{url}}'",
        ],
    );
}

#[test]
fn validate_prints_scenarios_by_tier_in_plan_order_and_guards() {
    let out = bringup()
        .arg("validate")
        .arg(fixture("valid", "drills.toml"))
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_has(
        &stdout,
        &[
            "Drill scenarios (bringup drill RUNBOOK --scenario ID, or run --drill --scenario ID):",
            "  dc-loss · Whole datacenter lost · 3 services\n    Everything at once.\n    tier 1: dns\n    tier 2: auth, web\n",
            "  auth-only · auth-only · 1 service\n    tier 2: auth\n",
            "Guards (checked before and during a drill):\n  production still serving · on operator · every 5s\n",
            "Drill each service at least every 90d (dns: 30d).",
        ],
    );
}

#[test]
fn a_drill_every_shorter_than_an_hour_names_the_minimum_in_hours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("short.toml");
    let text = std::fs::read_to_string(fixture("valid", "drills.toml")).expect("fixture");
    std::fs::write(
        &path,
        text.replace("drill_every = \"90d\"", "drill_every = \"30m\""),
    )
    .expect("write");
    let out = bringup().arg("validate").arg(&path).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_has(
        &stderr,
        &[
            "short.toml:4:15: error: drill_every '30m' is too short",
            "help: the minimum is '1h'",
        ],
    );
}
