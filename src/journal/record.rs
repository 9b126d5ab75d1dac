//! One journal line: the envelope (`seq`, `ts`, `prev`, `hash`) around an event, how it is
//! encoded and hashed, and how a line is checked and parsed. No file IO here.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::journal::event::{Event, OutputFile};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The text that separates a line's hashed part from its hash.
const HASH_KEY: &str = ",\"hash\":";

/// One parsed, checked journal line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub event: Event,
    pub prev: String,
    pub hash: String,
}

/// Why a single line cannot be taken as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("unparsable line: {0}")]
    Unparsable(String),
    #[error("hash mismatch: the line hashes to {actual}, it records {recorded}")]
    HashMismatch { recorded: String, actual: String },
}

/// `ts` as journaled: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Encode one line (without its newline). `event` (an [`Event`], or its masked JSON value)
/// must serialize as an object whose first member is `kind`.
pub fn encode(
    seq: u64,
    ts: DateTime<Utc>,
    event: &impl serde::Serialize,
    prev: &str,
) -> Result<String, serde_json::Error> {
    encode_sized(seq, ts, event, prev, 0)
}

/// [`encode`], with room made at once for an event of about `size` bytes (a chunk of output).
pub fn encode_sized(
    seq: u64,
    ts: DateTime<Utc>,
    event: &impl serde::Serialize,
    prev: &str,
    size: usize,
) -> Result<String, serde_json::Error> {
    // The event is serialized straight into the line: an internally tagged enum serializes
    // as `{"kind":...}`, and its opening brace takes the place of the comma after `ts`.
    let ts = format_ts(ts);
    let seq = seq.to_string();
    let mut line: Vec<u8> = Vec::with_capacity(size + size / 8 + 256);
    line.extend_from_slice(b"{\"seq\":");
    line.extend_from_slice(seq.as_bytes());
    line.extend_from_slice(b",\"ts\":\"");
    line.extend_from_slice(ts.as_bytes());
    line.push(b'"');
    let brace = line.len();
    serde_json::to_writer(&mut line, event)?;
    if line.get(brace) != Some(&b'{') || line.last() != Some(&b'}') {
        return Err(serde::ser::Error::custom(
            "an event must serialize as a JSON object",
        ));
    }
    line[brace] = b',';
    line.pop();
    if line.len() == brace + 1 {
        // An object with no members: no comma of its own before `prev`.
        line.pop();
    }
    line.extend_from_slice(b",\"prev\":\"");
    line.extend_from_slice(prev.as_bytes());
    line.extend_from_slice(b"\"}");
    // serde_json writes UTF-8, and the rest is ASCII.
    let mut line = String::from_utf8(line)
        .map_err(|e| serde::ser::Error::custom(format!("not UTF-8: {e}")))?;
    let hash = sha256_hex(line.as_bytes());
    line.pop();
    line.push_str(HASH_KEY);
    line.push('"');
    line.push_str(&hash);
    line.push_str("\"}");
    Ok(line)
}

/// Whether a journal line records step output, told from its first bytes without parsing
/// it: [`encode`] puts `kind` right after `seq` and `ts`.
pub fn is_output_line(line: &[u8]) -> bool {
    const HEAD: usize = 96;
    memchr::memmem::find(&line[..line.len().min(HEAD)], b",\"kind\":\"step_output\"").is_some()
}

/// Check a line's own hash: split at the last `,"hash":`, require a 64-hex string and `}` after
/// it, and hash the part before it followed by `}`. Returns the recorded hash.
pub fn check_hash(line: &[u8]) -> Result<&str, LineError> {
    let at = memrfind(line, HASH_KEY.as_bytes())
        .ok_or_else(|| LineError::Unparsable("no \"hash\" member at the end".to_string()))?;
    let tail = &line[at + HASH_KEY.len()..];
    let recorded = tail
        .strip_prefix(b"\"")
        .and_then(|t| t.strip_suffix(b"\"}"))
        .filter(|h| h.len() == 64 && h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or_else(|| {
            LineError::Unparsable(
                "\"hash\" is not the last member or not 64 lowercase hex digits".to_string(),
            )
        })?;
    let mut hasher = Sha256::new();
    hasher.update(&line[..at]);
    hasher.update(b"}");
    let actual = hex::encode(hasher.finalize());
    // Checked above to be ASCII hex.
    let recorded = std::str::from_utf8(recorded).unwrap_or_default();
    if actual == recorded {
        Ok(recorded)
    } else {
        Err(LineError::HashMismatch {
            recorded: recorded.to_string(),
            actual,
        })
    }
}

fn memrfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The envelope alone, plus an output file reference: what verification needs, cheap to parse.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub kind: String,
    pub prev: String,
    pub hash: String,
    #[serde(default)]
    pub file: Option<OutputFile>,
    #[serde(default)]
    pub raw: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
}

impl Envelope {
    /// The side file the line references, if any.
    pub fn output_file(&self) -> Option<OutputFile> {
        crate::journal::event::side_file(
            self.raw.as_ref(),
            self.size,
            self.sha256.as_ref(),
            self.file.as_ref(),
        )
    }

    pub fn parse(line: &[u8]) -> Result<Envelope, LineError> {
        serde_json::from_slice(line).map_err(|e| LineError::Unparsable(e.to_string()))
    }
}

/// Parse a line fully (envelope and event), without checking its hash.
pub fn parse(line: &[u8]) -> Result<Record, LineError> {
    parse_with(line, &Envelope::parse(line)?)
}

/// Parse a line's event, its envelope already parsed. The event's tagged form ignores the
/// envelope's members, so the line is read once with no flattening.
pub fn parse_with(line: &[u8], env: &Envelope) -> Result<Record, LineError> {
    let event: Event =
        serde_json::from_slice(line).map_err(|e| LineError::Unparsable(e.to_string()))?;
    Ok(Record {
        seq: env.seq,
        ts: env.ts,
        event,
        prev: env.prev.clone(),
        hash: env.hash.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_line_is_told_by_its_kind_and_not_by_text_that_looks_like_it() {
        let output = Event::output_text(
            crate::runbook::model::ServiceId::new("db"),
            "probe".into(),
            crate::runbook::model::HostId::new("h1"),
            "x\n".into(),
        );
        let line = encode(123_456, Utc::now(), &output, GENESIS).expect("encodes");
        assert!(is_output_line(line.as_bytes()));
        let sneaky = Event::Note {
            operator: "kim".into(),
            text: ",\"kind\":\"step_output\"".into(),
            provenance: crate::journal::event::Provenance::default(),
        };
        let line = encode(7, Utc::now(), &sneaky, GENESIS).expect("encodes");
        assert!(!is_output_line(line.as_bytes()), "{line}");
    }

    fn note() -> Event {
        Event::Note {
            operator: "kim".into(),
            text: "a \"quoted\" ,\"hash\": inside".into(),
            provenance: crate::journal::event::Provenance::default(),
        }
    }

    fn ts() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T08:14:03.12Z")
            .expect("valid literal")
            .with_timezone(&Utc)
    }

    #[test]
    fn encoded_line_has_envelope_order_and_hash_last() {
        let line = encode(7, ts(), &note(), GENESIS).expect("encodes");
        assert!(line.starts_with(
            r#"{"seq":7,"ts":"2026-11-22T08:14:03.120Z","kind":"note","operator":"kim""#
        ));
        let recorded = check_hash(line.as_bytes()).expect("own hash verifies");
        assert!(line.ends_with(&format!(",\"hash\":\"{recorded}\"}}")));
        let cut = line.rfind(",\"hash\":").expect("has hash");
        assert_eq!(
            recorded,
            sha256_hex(format!("{}}}", &line[..cut]).as_bytes())
        );
    }

    #[test]
    fn parse_round_trips_the_event() {
        let line = encode(1, ts(), &note(), GENESIS).expect("encodes");
        let r = parse(line.as_bytes()).expect("parses");
        assert_eq!(
            (r.seq, r.ts, r.event, r.prev.as_str()),
            (1, ts(), note(), GENESIS)
        );
    }

    #[test]
    fn changed_byte_is_a_hash_mismatch() {
        let line = encode(1, ts(), &note(), GENESIS)
            .expect("encodes")
            .replace("kim", "lee");
        assert!(matches!(
            check_hash(line.as_bytes()),
            Err(LineError::HashMismatch { .. })
        ));
    }

    #[test]
    fn a_var_named_hash_does_not_confuse_the_split() {
        let ev = Event::RunStarted {
            executor: None,
            about: Box::default(),
            runbook: "r".into(),
            runbook_sha256: "x".into(),
            operator: "o".into(),
            vars: [("hash".to_string(), "v".to_string())]
                .into_iter()
                .collect(),
            version: "0".into(),
            mode: crate::engine::state::Mode::Drill,
            services: vec![],
            incident_start: None,
            scenario: None,
        };
        let line = encode(1, ts(), &ev, GENESIS).expect("encodes");
        assert!(check_hash(line.as_bytes()).is_ok());
    }
}
