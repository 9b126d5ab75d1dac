//! The runbook format as a JSON Schema (draft 7, which taplo-based editors read), generated
//! from the raw serde structs that parse runbooks, so the two cannot disagree about keys.
//! `runbooks/bringup.schema.json` is this text, committed for `#:schema` lines.

use schemars::generate::SchemaSettings;

use super::raw::RawDocument;

/// The address a published copy of the schema would have; editors show it as its id.
const TITLE: &str = "bringup runbook";

/// The schema as a JSON value.
pub fn json_schema() -> serde_json::Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawDocument>();
    schema.insert("title".to_string(), TITLE.into());
    let mut value = schema.to_value();
    drop_null(&mut value);
    value
}

/// TOML has no null: an absent key is how a runbook leaves a value unset. Take `null` out of
/// the types schemars gives `Option` fields, so an editor never offers it.
fn drop_null(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    map.insert("type".to_string(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if any.len() == 1 {
                    // `allOf` keeps the description beside the reference (draft 7 ignores
                    // siblings of `$ref`).
                    let any = std::mem::take(any);
                    map.remove("anyOf");
                    map.insert("allOf".to_string(), Value::Array(any));
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// The schema as committed: pretty-printed, ending in a newline.
pub fn text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema())
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// The keys `parse` accepts in each section, as (section path, keys): `hosts.*` is any host,
/// `service.check` a check step.
pub fn accepted_keys() -> &'static [(&'static str, &'static [&'static str])] {
    super::raw::ACCEPTED_KEYS
}
