//! Secret masking for everything the journal writes: every string of an event, and output
//! bytes. The writer applies it, so no caller can forget to. No IO here.

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;

use crate::runbook::model::SECRET_MASK;

/// Event members whose values are closed vocabularies (kinds, phases, states, outcomes,
/// decisions, modes) or bringup's own facts, never text a `--var` value reaches.
const VOCABULARY: &[&str] = &[
    "kind",
    "phase",
    "outcome",
    "decision",
    "from",
    "to",
    "mode",
    "version",
    "runbook_sha256",
];

/// Replaces every occurrence of any secret value by `***` (longest match first).
#[derive(Debug, Clone, Default)]
pub struct Masker {
    matcher: Option<AhoCorasick>,
    masks: Vec<&'static str>,
}

impl Masker {
    /// `secrets`: the values to hide (`Runbook::secret_values()`); empty values are ignored.
    pub fn new(secrets: &[String]) -> Masker {
        let secrets: Vec<&str> = secrets
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        if secrets.is_empty() {
            return Masker::default();
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&secrets)
            .ok();
        Masker {
            masks: vec![SECRET_MASK; secrets.len()],
            matcher,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    pub fn mask_str(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) if m.is_match(text) => m.replace_all(text, &self.masks),
            _ => text.to_string(),
        }
    }

    pub fn mask_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        match &self.matcher {
            Some(m) => m.replace_all_bytes(bytes, &self.masks),
            None => bytes.to_vec(),
        }
    }

    /// Mask one event's JSON. Its member names are the journal's schema and the values of
    /// [`VOCABULARY`] members are bringup's own words: both stay, or a short secret would
    /// break the record (`exit_code` → `e***it_code`). Every other string is masked, and so
    /// are the names that are data: `vars` keys and the service ids of `run_finished`.
    pub fn mask_event(&self, value: &mut Value) {
        if self.matcher.is_none() {
            return;
        }
        let Value::Object(members) = value else {
            self.mask_value(value);
            return;
        };
        for (name, member) in members.iter_mut() {
            match (name.as_str(), member) {
                (name, _) if VOCABULARY.contains(&name) => {}
                // `run_finished`: service id → state.
                ("services", Value::Object(map)) => self.mask_keys(map),
                ("vars", member) => self.mask_value(member),
                (_, member) => self.mask_strings(member),
            }
        }
    }

    /// Mask string values at any depth, leaving object keys (schema) alone.
    fn mask_strings(&self, value: &mut Value) {
        match value {
            Value::String(_) => self.mask_value(value),
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_strings(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask_strings(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn mask_keys(&self, map: &mut serde_json::Map<String, Value>) {
        let Some(m) = &self.matcher else { return };
        if map.keys().any(|k| m.is_match(k.as_str())) {
            let old = std::mem::take(map);
            for (k, v) in old {
                map.insert(m.replace_all(&k, &self.masks), v);
            }
        }
    }

    /// Mask every string in a JSON value, object keys included.
    pub fn mask_value(&self, value: &mut Value) {
        let Some(m) = &self.matcher else { return };
        match value {
            Value::String(s) => {
                if m.is_match(s.as_str()) {
                    *s = m.replace_all(s, &self.masks);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_value(v)),
            Value::Object(map) => {
                if map.keys().any(|k| m.is_match(k.as_str())) {
                    let old = std::mem::take(map);
                    for (k, v) in old {
                        map.insert(m.replace_all(&k, &self.masks), v);
                    }
                }
                map.values_mut().for_each(|v| self.mask_value(v));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_secret_wins_and_every_occurrence_is_masked() {
        let m = Masker::new(&["pw".to_string(), "pw-long".to_string(), String::new()]);
        assert_eq!(m.mask_str("a pw-long b pw c"), "a *** b *** c");
        assert_eq!(m.mask_bytes(b"\xffpw\xfe"), b"\xff***\xfe".to_vec());
    }

    #[test]
    fn a_short_secret_masks_an_events_text_but_not_its_schema() {
        let m = Masker::new(&["x".to_string()]);
        let mut v = serde_json::json!({
            "kind": "step_finished", "service": "mx", "exit_code": 1, "outcome": "ok",
            "error": "exit 1, expected 0",
        });
        m.mask_event(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "kind": "step_finished", "service": "m***", "exit_code": 1, "outcome": "ok",
                "error": "e***it 1, e***pected 0",
            })
        );
        let mut v = serde_json::json!({
            "kind": "run_finished", "outcome": "restored", "services": {"mx": "restored"},
        });
        m.mask_event(&mut v);
        assert_eq!(v["services"], serde_json::json!({"m***": "restored"}));
        let mut v = serde_json::json!({"kind": "run_started", "vars": {"x": "x1"},
            "services": [{"id": "mx", "depends_on": ["x"], "rto_ms": 1}]});
        m.mask_event(&mut v);
        assert_eq!(v["vars"], serde_json::json!({"***": "***1"}));
        assert_eq!(
            v["services"],
            serde_json::json!([{"id": "m***", "depends_on": ["***"], "rto_ms": 1}])
        );
    }

    #[test]
    fn nested_strings_and_keys_are_masked() {
        let m = Masker::new(&["s3cret".to_string()]);
        let mut v = serde_json::json!({"a": ["x s3cret", {"s3cret": "s3cret"}], "n": 1});
        m.mask_value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x ***", {"***": "***"}], "n": 1})
        );
    }
}
