//! The runbook's JSON Schema: committed in sync with `bringup schema`, named by every bundled
//! runbook's `#:schema` line, accepting every bundled and valid corpus runbook, refusing unknown
//! keys as the parser does, and naming exactly the keys the parser accepts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn toml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("folder exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no runbooks in {dir}");
    files
}

fn schema() -> Value {
    bringup::runbook::schema::json_schema()
}

/// The schema compiled as draft 7, which its `$schema` names.
struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    fn is_valid(&self, doc: &Value) -> bool {
        self.schemas.validate(doc, self.index).is_ok()
    }
}

fn validator() -> Validator {
    let url = "https://bringup.invalid/bringup.schema.json";
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V7);
    compiler
        .add_resource(url, schema())
        .expect("the schema is a resource");
    let mut schemas = boon::Schemas::new();
    let index = compiler
        .compile(url, &mut schemas)
        .expect("the schema is a valid draft 7 schema");
    Validator { schemas, index }
}

/// A runbook as the JSON an editor's validator sees.
fn as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable");
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()));
    serde_json::to_value(table).expect("TOML as JSON")
}

/// Each innermost error as "what at where" (an `anyOf` or `$ref` error is its causes).
fn errors(validator: &Validator, doc: &Value) -> Vec<String> {
    fn leaves(e: &boon::ValidationError<'_, '_>, out: &mut Vec<String>) {
        if e.causes.is_empty() {
            out.push(format!("{} at {}", e.kind, e.instance_location));
        }
        for cause in &e.causes {
            leaves(cause, out);
        }
    }
    let mut out = Vec::new();
    if let Err(e) = validator.schemas.validate(doc, validator.index) {
        leaves(&e, &mut out);
    }
    out
}

#[test]
fn the_committed_schema_is_what_bringup_schema_prints() {
    let out = Command::cargo_bin("bringup")
        .expect("built")
        .arg("schema")
        .assert()
        .success();
    let printed = String::from_utf8(out.get_output().stdout.clone()).expect("utf-8");
    let committed =
        std::fs::read_to_string(root().join("runbooks/bringup.schema.json")).unwrap_or_default();
    assert!(
        printed == committed,
        "runbooks/bringup.schema.json is out of date with the runbook format; regenerate it with `cargo run -- schema > runbooks/bringup.schema.json` and commit it"
    );
    let parsed: Value = serde_json::from_str(&printed).expect("the schema is JSON");
    assert_eq!(parsed["$schema"], "http://json-schema.org/draft-07/schema#");
}

#[test]
fn every_bundled_runbook_names_the_schema_on_its_first_line() {
    for path in toml_files("runbooks") {
        let text = std::fs::read_to_string(&path).expect("readable");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "#:schema ./bringup.schema.json",
            "{}",
            path.display()
        );
        let named = path.with_file_name("bringup.schema.json");
        assert!(named.is_file(), "{} names a missing schema", path.display());
    }
}

#[test]
fn every_bundled_and_valid_corpus_runbook_passes_the_schema() {
    let validator = validator();
    let mut files = toml_files("runbooks");
    files.extend(toml_files("tests/runbooks/valid"));
    for path in files {
        let errors = errors(&validator, &as_json(&path));
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

#[test]
fn invalid_corpus_runbooks_with_unknown_keys_fail_the_schema() {
    let validator = validator();
    let mut with_unknown_keys = 0;
    for path in toml_files("tests/runbooks/invalid") {
        let out = Command::cargo_bin("bringup")
            .expect("built")
            .arg("validate")
            .arg(&path)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.contains("unknown key") {
            continue;
        }
        with_unknown_keys += 1;
        let errors = errors(&validator, &as_json(&path));
        assert!(
            errors.iter().any(|e| e.contains("additionalProperties")),
            "{}: the parser reports an unknown key, the schema must too: {errors:#?}",
            path.display()
        );
    }
    assert!(
        with_unknown_keys >= 2,
        "the corpus has unknown-key runbooks"
    );
}

#[test]
fn a_misspelt_key_and_a_bad_duration_fail_the_schema_where_the_parser_fails() {
    let validator = validator();
    for (src, why) in [
        ("[defaults]\ntimout = \"1s\"\n", "misspelt key"),
        ("[defaults]\ntimeout = \"30\"\n", "duration without unit"),
        ("[defaults]\ntimeout = \"2M\"\n", "ambiguous unit"),
        ("[hosts.a]\ntransport = \"telnet\"\n", "unknown transport"),
        ("[[service]]\nname = \"no id\"\n", "missing id"),
    ] {
        let doc =
            serde_json::to_value(toml::from_str::<toml::Table>(src).expect("TOML")).expect("JSON");
        assert!(!validator.is_valid(&doc), "{why}: {src}");
        let path = tempfile::NamedTempFile::new().expect("temp");
        std::fs::write(path.path(), src).expect("write");
        Command::cargo_bin("bringup")
            .expect("built")
            .arg("validate")
            .arg(path.path())
            .assert()
            .code(2);
    }
}

fn resolve<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
    if let Some([only]) = node
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return resolve(schema, only);
    }
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().expect("a ref names a definition");
            &schema["definitions"][name]
        }
        None => node,
    }
}

/// The object schema of a section path like `service.check` or `hosts.*`.
fn section<'a>(schema: &'a Value, path: &str) -> &'a Value {
    let mut node = schema;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        node = resolve(schema, node);
        node = if part == "*" {
            &node["additionalProperties"]
        } else {
            &node["properties"][part]
        };
        node = resolve(schema, node);
        if node["type"] == "array" {
            node = resolve(schema, &node["items"]);
        }
    }
    resolve(schema, node)
}

#[test]
fn the_schema_names_exactly_the_keys_the_parser_accepts_and_no_others() {
    let schema = schema();
    for (path, keys) in bringup::runbook::schema::accepted_keys() {
        let object = section(&schema, path);
        let properties: BTreeSet<&str> = object["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("section '{path}' has no properties: {object}"))
            .keys()
            .map(String::as_str)
            .collect();
        let accepted: BTreeSet<&str> = keys.iter().copied().collect();
        assert_eq!(properties, accepted, "section '{path}'");
        assert_eq!(
            object["additionalProperties"],
            Value::Bool(false),
            "section '{path}' refuses unknown keys as the parser does"
        );
    }
}

/// Every (section path, key) written in a TOML document, with `hosts.*` for any host
/// (`sites.*` for any site).
fn written_keys(value: &toml::Value, path: &str, out: &mut BTreeSet<(String, String)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                out.insert((path.to_string(), k.clone()));
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (path, k.as_str()) {
                    ("", "vars" | "groups") => {}
                    ("", "hosts" | "sites") => {
                        if let toml::Value::Table(entries) = v {
                            for entry in entries.values() {
                                written_keys(entry, &format!("{k}.*"), out);
                            }
                        }
                    }
                    _ => written_keys(v, &child, out),
                }
            }
        }
        toml::Value::Array(items) => {
            for item in items {
                written_keys(item, path, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_runbook_that_writes_every_key_is_accepted_by_parser_and_schema_alike() {
    let path = root().join("tests/runbooks/valid/every-key.toml");
    Command::cargo_bin("bringup")
        .expect("built")
        .arg("validate")
        .arg(&path)
        .assert()
        .success();
    let errors = errors(&validator(), &as_json(&path));
    assert!(errors.is_empty(), "{errors:#?}");
    let doc: toml::Value =
        toml::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("TOML");
    // The three phases read one step type: a key written in any of them counts for all.
    let step = |path: &str| match path {
        "service.check" | "service.restore" | "service.inject" => "service.<step>".to_string(),
        other => other.to_string(),
    };
    let mut written = BTreeSet::new();
    written_keys(&doc, "", &mut written);
    let written: BTreeSet<(String, String)> =
        written.into_iter().map(|(p, k)| (step(&p), k)).collect();
    let accepted: BTreeSet<(String, String)> = bringup::runbook::schema::accepted_keys()
        .iter()
        .flat_map(|(path, keys)| keys.iter().map(|k| (step(path), (*k).to_string())))
        .collect();
    assert_eq!(
        written, accepted,
        "every-key.toml writes each accepted key once, and nothing else"
    );
}

/// The invalid corpus sorted by what `validate` refuses: the runbook's structure alone (a
/// type, a bound, a key that must or must not be there), which the schema refuses too, and
/// what needs the rest of the runbook or a parse of a text (ids, references, regexes,
/// placeholders), which a JSON Schema cannot see. A new corpus file must be sorted here.
const STRUCTURAL: &[&str] = &[
    "ambiguous-duration.toml",
    "bad-drill-duration.toml",
    "bad-duration.toml",
    "empty.toml",
    "guard-every-too-short.toml",
    "guard-without-hosts.toml",
    "guard-without-run.toml",
    "many-errors.toml",
    "neither-run-nor-manual.toml",
    "no-check.toml",
    "notice-after-too-short.toml",
    "out-of-range.toml",
    "run-and-manual.toml",
    "scenario-empty-inject.toml",
    "timeout-50ms.toml",
    "too-short-timeout.toml",
    "unknown-key.toml",
    "unknown-transport.toml",
    "wrong-type.toml",
    "zero-concurrency.toml",
];
const CROSS_REFERENCE: &[&str] = &[
    "bad-regex.toml",
    "cycle.toml",
    "duplicate-id.toml",
    "guard-placeholder-in-single-quotes.toml",
    "guard-unknown-host.toml",
    "later-tier.toml",
    "local-jump.toml",
    "missing-dependency.toml",
    "placeholder-in-quoted-heredoc.toml",
    "placeholder-in-single-quotes.toml",
    "scenario-duplicate-id.toml",
    "scenario-no-inject-step.toml",
    "scenario-unknown-service.toml",
    "scenario-unknown-tier.toml",
    "unknown-group.toml",
    "unknown-host.toml",
    "unknown-jump.toml",
    "unknown-variable.toml",
];
/// Not TOML at all: neither the parser nor an editor gets as far as the schema.
const NOT_TOML: &[&str] = &["syntax.toml"];

#[test]
fn every_structural_error_validate_reports_the_schema_reports_too() {
    let validator = validator();
    for path in toml_files("tests/runbooks/invalid") {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a file name");
        let sorted = [STRUCTURAL, CROSS_REFERENCE, NOT_TOML]
            .iter()
            .filter(|list| list.contains(&name))
            .count();
        assert_eq!(
            sorted, 1,
            "{name}: sort it into STRUCTURAL, CROSS_REFERENCE or NOT_TOML"
        );
        if !STRUCTURAL.contains(&name) {
            continue;
        }
        Command::cargo_bin("bringup")
            .expect("built")
            .arg("validate")
            .arg(&path)
            .assert()
            .code(2);
        assert!(
            !errors(&validator, &as_json(&path)).is_empty(),
            "{name}: validate refuses it for its structure, so the schema must too"
        );
    }
}

#[test]
fn the_schema_refuses_each_structural_error_alone_and_accepts_its_fix() {
    let validator = validator();
    let base = "[hosts.o]\ntransport = \"local\"\n";
    let service = "[[service]]\nid = \"s\"\nhosts = [\"o\"]\n";
    let check = "[[service.check]]\nname = \"c\"\n";
    let guard = "[[guard]]\nname = \"g\"\n";
    for (bad, good, why) in [
        (
            format!("{base}{service}{check}run = \"true\"\nmanual = \"look\"\n"),
            format!("{base}{service}{check}run = \"true\"\n"),
            "a step with both run and manual",
        ),
        (
            format!("{base}{service}{check}"),
            format!("{base}{service}{check}manual = \"look\"\n"),
            "a step with neither run nor manual",
        ),
        (
            format!("{base}{service}{check}run = \"true\"\ntimeout = \"0s\"\n"),
            format!("{base}{service}{check}run = \"true\"\ntimeout = \"100ms\"\n"),
            "timeout 0s",
        ),
        (
            format!("{base}{service}{check}run = \"true\"\ntimeout = \"0m50ms\"\n"),
            format!("{base}{service}{check}run = \"true\"\ntimeout = \"50ms50ms\"\n"),
            "timeout 50ms",
        ),
        (
            format!(
                "[defaults]\nconnect_timeout = \"999ms\"\n{base}{service}{check}run = \"true\"\n"
            ),
            format!("[defaults]\nconnect_timeout = \"1s\"\n{base}{service}{check}run = \"true\"\n"),
            "connect_timeout under 1s",
        ),
        (
            format!(
                "{base}{service}{check}run = \"true\"\n{guard}run = \"true\"\nhosts = [\"o\"]\nevery = \"500ms\"\n"
            ),
            format!(
                "{base}{service}{check}run = \"true\"\n{guard}run = \"true\"\nhosts = [\"o\"]\nevery = \"1s\"\n"
            ),
            "guard every 500ms",
        ),
        (
            format!("{base}{service}{check}run = \"true\"\n{guard}run = \"true\"\n"),
            format!(
                "{base}{service}{check}run = \"true\"\n{guard}run = \"true\"\nhosts = [\"o\"]\n"
            ),
            "a guard without hosts",
        ),
        (
            format!("[runbook]\nnotice_after = \"30s\"\n{base}{service}{check}run = \"true\"\n"),
            format!("[runbook]\nnotice_after = \"1m\"\n{base}{service}{check}run = \"true\"\n"),
            "notice_after 30s",
        ),
        (
            format!("[runbook]\ndrill_every = \"59m\"\n{base}{service}{check}run = \"true\"\n"),
            format!("[runbook]\ndrill_every = \"30m30m\"\n{base}{service}{check}run = \"true\"\n"),
            "drill_every under an hour",
        ),
        (
            format!("[defaults]\nconcurrency = 0\n{base}{service}{check}run = \"true\"\n"),
            format!("[defaults]\nconcurrency = 1\n{base}{service}{check}run = \"true\"\n"),
            "concurrency 0",
        ),
        (
            format!(
                "{base}{service}{check}run = \"true\"\n[[service.inject]]\nname = \"i\"\nrun = \"true\"\n[[scenario]]\nid = \"x\"\ninject = []\n"
            ),
            format!(
                "{base}{service}{check}run = \"true\"\n[[service.inject]]\nname = \"i\"\nrun = \"true\"\n[[scenario]]\nid = \"x\"\ninject = [\"s\"]\n"
            ),
            "an empty scenario inject",
        ),
    ] {
        for (src, valid) in [(&bad, false), (&good, true)] {
            let doc = serde_json::to_value(toml::from_str::<toml::Table>(src).expect("TOML"))
                .expect("JSON");
            let file = tempfile::NamedTempFile::new().expect("temp");
            std::fs::write(file.path(), src).expect("write");
            let validate = Command::cargo_bin("bringup")
                .expect("built")
                .arg("validate")
                .arg(file.path())
                .output()
                .expect("runs");
            assert_eq!(
                validate.status.success(),
                valid,
                "{why}: validate on\n{src}\n{}",
                String::from_utf8_lossy(&validate.stderr)
            );
            assert_eq!(
                validator.is_valid(&doc),
                valid,
                "{why}: the schema must agree with validate on\n{src}{:#?}",
                errors(&validator, &doc)
            );
        }
    }
}
