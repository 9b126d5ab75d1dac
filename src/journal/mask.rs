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
    "raw",
    "sha256",
];

/// Replaces every occurrence of any secret value by `***` (longest match first).
#[derive(Debug, Clone, Default)]
pub struct Masker {
    matcher: Option<AhoCorasick>,
    masks: Vec<&'static str>,
    /// The secret values, for [`StreamMasker`]'s look at a stream's tail.
    secrets: Vec<Vec<u8>>,
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
            secrets: secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
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

/// Masks a byte stream that arrives in pieces (a command's output), before it is cut into
/// lines or chunks: a secret split across two reads, or one that spans lines (a PEM key), is
/// masked as a whole.
///
/// It holds back only what could still become a secret: the longest tail of what it has seen
/// that is the beginning of some secret value (at most the longest secret − 1 bytes). Output
/// that cannot be part of a secret passes at once, so a command that prints and then waits is
/// not held up.
#[derive(Debug, Default)]
pub struct StreamMasker {
    masker: Masker,
    held: Vec<u8>,
}

impl StreamMasker {
    pub fn new(masker: Masker) -> StreamMasker {
        StreamMasker {
            masker,
            held: Vec::new(),
        }
    }

    /// Feed the next piece; returns what is safe to pass on (secrets masked).
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        let Some(matcher) = &self.masker.matcher else {
            return data.to_vec();
        };
        self.held.extend_from_slice(data);
        let hold = self.possible_secret_start();
        let cut = self.held.len() - hold;
        let mut out = Vec::with_capacity(self.held.len());
        let mut pos = 0;
        for m in matcher.find_iter(&self.held) {
            // A match starting in the held tail may grow into a longer secret: later.
            if m.start() >= cut {
                break;
            }
            out.extend_from_slice(&self.held[pos..m.start()]);
            out.extend_from_slice(SECRET_MASK.as_bytes());
            pos = m.end();
        }
        let keep_from = pos.max(cut);
        out.extend_from_slice(&self.held[pos..keep_from]);
        self.held.drain(..keep_from);
        out
    }

    /// The end of the stream: everything still held, masked.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        self.masker.mask_bytes(&held)
    }

    /// Length of the longest tail of `held` that is a proper beginning of some secret.
    fn possible_secret_start(&self) -> usize {
        let longest = self.masker.secrets.iter().map(Vec::len).max().unwrap_or(0);
        let max = longest.saturating_sub(1).min(self.held.len());
        (1..=max)
            .rev()
            .find(|&k| {
                let tail = &self.held[self.held.len() - k..];
                self.masker
                    .secrets
                    .iter()
                    .any(|s| s.len() > k && s.starts_with(tail))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `pieces` through a stream masker and return everything it passed on.
    fn stream(secrets: &[&str], pieces: &[&[u8]]) -> Vec<u8> {
        let secrets: Vec<String> = secrets.iter().map(ToString::to_string).collect();
        let mut m = StreamMasker::new(Masker::new(&secrets));
        let mut out = Vec::new();
        for p in pieces {
            out.extend(m.push(p));
        }
        out.extend(m.finish());
        out
    }

    #[test]
    fn a_secret_split_across_pieces_is_masked() {
        assert_eq!(stream(&["s3cret"], &[b"a s3", b"cr", b"et b"]), b"a *** b");
        // Split at every byte.
        let text = b"x=hunter2;y=hunter2";
        let pieces: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(stream(&["hunter2"], &pieces), b"x=***;y=***");
    }

    #[test]
    fn no_prefix_of_a_secret_is_passed_on_before_it_is_decided() {
        let mut m = StreamMasker::new(Masker::new(&["abcdef".to_string(), "abc".to_string()]));
        let first = m.push(b"ok\nxab");
        assert_eq!(first, b"ok\nx", "a possible secret start is held back");
        // `abc` alone would match, but `abcdef` may follow: still held.
        assert_eq!(m.push(b"c"), b"");
        assert_eq!(m.push(b"def!"), b"***!");
        let mut m = StreamMasker::new(Masker::new(&["abcdef".to_string(), "abc".to_string()]));
        assert_eq!(m.push(b"abc"), b"");
        assert_eq!(m.finish(), b"***");
    }

    #[test]
    fn a_multi_line_secret_is_masked_as_a_whole() {
        let pem = "-----BEGIN KEY-----\nAAAA\nBBBB\n-----END KEY-----";
        let output = format!("key:\n{pem}\ndone\n");
        let bytes = output.as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(7).collect();
        assert_eq!(stream(&[pem], &pieces), b"key:\n***\ndone\n");
    }

    #[test]
    fn output_that_cannot_be_a_secret_passes_at_once() {
        let mut m = StreamMasker::new(Masker::new(&["s3cret".to_string()]));
        assert_eq!(m.push(b"waiting...\n"), b"waiting...\n");
        let mut none = StreamMasker::default();
        assert_eq!(none.push(b"s3cret"), b"s3cret");
    }

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
