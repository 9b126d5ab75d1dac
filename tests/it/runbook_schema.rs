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

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::new(&schema()).expect("the schema is a valid draft 7 schema")
}

/// A runbook as the JSON an editor's validator sees.
fn as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable");
    let table: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()));
    serde_json::to_value(table).expect("TOML as JSON")
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
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
            errors
                .iter()
                .any(|e| e.contains("Additional properties are not allowed")),
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
