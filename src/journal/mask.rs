//! Secret masking for everything the journal writes: every string of an event, and output
//! bytes. The writer applies it, so no caller can forget to. No IO here.

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;

use crate::runbook::model::SECRET_MASK;

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
