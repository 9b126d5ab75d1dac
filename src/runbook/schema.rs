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
    constrain(&mut value);
    value
}

/// What `validate` refuses for the runbook's structure alone, written into the schema so an
/// editor flags it too: a step with both or neither of `run` and `manual`, a duration below
/// its minimum, `concurrency = 0`, a service with no check, a scenario that injects nothing,
/// a guard without `run` or `hosts`, a runbook without services. Only rules that hold
/// whatever the rest of the runbook says: the schema must never refuse a runbook `validate`
/// accepts. The minimums are the validator's own constants.
fn constrain(schema: &mut serde_json::Value) {
    use serde_json::json;

    use super::drill::MIN_GUARD_EVERY;
    use super::validate::{MIN_CONNECT_TIMEOUT, MIN_DRILL_EVERY, MIN_NOTICE_AFTER, MIN_TIMEOUT};

    let defs = &mut schema["definitions"];
    defs["RawStep"]["oneOf"] = json!([
        {"required": ["run"], "not": {"required": ["manual"]}},
        {"required": ["manual"], "not": {"required": ["run"]}},
    ]);
    for (def, key, min) in [
        ("RawDefaults", "timeout", MIN_TIMEOUT),
        ("RawDefaults", "connect_timeout", MIN_CONNECT_TIMEOUT),
        ("RawStep", "timeout", MIN_TIMEOUT),
        ("RawGuard", "timeout", MIN_TIMEOUT),
        ("RawGuard", "every", MIN_GUARD_EVERY),
        ("RawMeta", "notice_after", MIN_NOTICE_AFTER),
        ("RawMeta", "drill_every", MIN_DRILL_EVERY),
        ("RawService", "drill_every", MIN_DRILL_EVERY),
    ] {
        let property = &mut defs[def]["properties"][key];
        if let Some(all) = property.get_mut("allOf").and_then(|a| a.as_array_mut()) {
            all.push(json!({
                "not": {"pattern": shorter_than(min)},
                "description": format!("at least '{}'", humantime::format_duration(min)),
            }));
        }
    }
    defs["RawDefaults"]["properties"]["concurrency"]["minimum"] = json!(1);
    defs["RawService"]["required"] = json!(["id", "check"]);
    defs["RawService"]["properties"]["check"]["minItems"] = json!(1);
    defs["RawScenario"]["required"] = json!(["id", "inject"]);
    defs["RawScenario"]["properties"]["inject"]["minItems"] = json!(1);
    defs["RawGuard"]["required"] = json!(["name", "run", "hosts"]);
    defs["RawGuard"]["properties"]["hosts"]["minItems"] = json!(1);
    schema["required"] = json!(["service"]);
    schema["properties"]["service"]["minItems"] = json!(1);
}

/// A pattern matching the durations (as `duration::PATTERN` reads them) shorter than `min`:
/// every part zero but at most one, in a unit below `min`, whose value keeps it below `min`.
/// Several non-zero parts are never matched (their sum may reach `min`): no false alarm.
fn shorter_than(min: std::time::Duration) -> String {
    const UNITS: [(&str, u128); 5] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
    ];
    let min = min.as_millis();
    let small: Vec<String> = UNITS
        .iter()
        .filter(|(_, ms)| *ms < min)
        .map(|(unit, ms)| {
            // value * ms < min  ⟺  value < ceil(min / ms)
            let limit = min.div_ceil(*ms);
            format!("{}\\s*{unit}", below(limit))
        })
        .collect();
    let zero = "0+\\s*(ms|s|m|h|d)\\s*";
    let one = if small.is_empty() {
        String::new()
    } else {
        format!("(({})\\s*)?", small.join("|"))
    };
    format!("^\\s*({zero})*{one}({zero})*$")
}

/// A pattern matching decimal whole numbers (leading zeros allowed) below `n` (`n` ≥ 1).
fn below(n: u128) -> String {
    let digits = (n - 1).to_string();
    let len = digits.len();
    // Up to n - 1: fewer digits, or the same count and not above it, digit by digit.
    let mut alternatives = Vec::new();
    if len > 1 {
        alternatives.push(format!("[0-9]{{1,{}}}", len - 1));
    }
    let bytes = digits.as_bytes();
    for i in 0..len {
        let d = bytes[i] - b'0';
        let prefix = &digits[..i];
        let rest = len - i - 1;
        let tail = if rest == 0 {
            String::new()
        } else {
            format!("[0-9]{{{rest}}}")
        };
        if i == len - 1 {
            alternatives.push(format!("{prefix}[0-{d}]"));
        } else if d > 0 {
            alternatives.push(format!("{prefix}[0-{}]{tail}", d - 1));
        }
    }
    format!("0*({})", alternatives.join("|"))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{below, shorter_than};

    #[test]
    fn below_matches_exactly_the_numbers_under_its_bound() {
        for n in [1_u128, 7, 10, 60, 100, 999, 1000, 3600, 60_000] {
            let re = regex::Regex::new(&format!("^{}$", below(n))).expect("compiles");
            for v in 0..n + 50 {
                assert_eq!(re.is_match(&v.to_string()), v < n, "{v} < {n}");
            }
            assert!(re.is_match("000"), "leading zeros");
        }
    }

    #[test]
    fn shorter_than_catches_single_short_parts_and_never_a_long_enough_duration() {
        let re = regex::Regex::new(&shorter_than(Duration::from_millis(100))).expect("compiles");
        for short in ["0s", "50ms", "99ms", "0m50ms", "0 s", "0h0m0s"] {
            assert!(re.is_match(short), "{short}");
        }
        for ok in ["100ms", "1s", "50ms50ms", "1m", "2d", "0s100ms"] {
            assert!(!re.is_match(ok), "{ok}");
        }
        let hour = regex::Regex::new(&shorter_than(Duration::from_secs(3600))).expect("compiles");
        assert!(hour.is_match("59m") && hour.is_match("3599s"));
        assert!(!hour.is_match("60m") && !hour.is_match("1h") && !hour.is_match("30m30m"));
    }
}
