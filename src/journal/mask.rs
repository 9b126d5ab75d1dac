//! Secret masking for everything the journal writes: every string of an event, and output
//! bytes. The writer applies it, so no caller can forget to. No IO here.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use memchr::memmem;
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

/// Secrets up to this length are found by one Aho-Corasick automaton; longer ones (a key, a
/// certificate chain) each by a substring search, whose memory does not grow with the secret.
/// An automaton over a 1 MiB secret took 512 MiB (a DFA) or 50 MB while built (an NFA).
const LONG_SECRET: usize = 256;
/// Past this many bytes of short secrets, the automaton is an NFA rather than a DFA (whose
/// table grows by about 512 bytes for each byte of the secrets).
const DFA_BYTES: usize = 4096;
/// A form a shell makes of a secret shorter than this is not masked (it would mask words).
const MIN_FORM: usize = 4;

/// Replaces every occurrence of any secret value by `***` (longest match first), in the
/// forms a shell makes of it too (SPEC "Edges"): trailing `\r`, `\n` and spaces trimmed, a
/// leading UTF-8 BOM removed. Cheap to clone: what it searches with is shared.
#[derive(Clone, Default)]
pub struct Masker {
    inner: Option<Arc<Inner>>,
}

/// Never the secrets: how many forms it masks.
impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("forms", &self.forms().count())
            .finish()
    }
}

struct Inner {
    /// Every form of length up to [`LONG_SECRET`].
    short: Option<AhoCorasick>,
    /// The forms of `short`'s patterns, for [`StreamMasker`]'s look at a stream's tail.
    short_forms: Vec<Vec<u8>>,
    /// One search per longer form (or every form, if the automaton could not be built),
    /// longest first.
    long: Vec<memmem::Finder<'static>>,
}

/// The forms of one secret to mask: as given (whatever its length), and, when different and
/// at least [`MIN_FORM`] bytes long, without its trailing whitespace, without a leading BOM,
/// and without both.
pub fn forms(secret: &str) -> Vec<&str> {
    let trim = |s: &str| s.trim_end_matches(['\r', '\n', ' ']).len();
    let unbom = secret.strip_prefix('\u{feff}').unwrap_or(secret);
    let mut forms = vec![secret];
    for form in [&secret[..trim(secret)], unbom, &unbom[..trim(unbom)]] {
        if form.len() >= MIN_FORM && !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

impl Masker {
    /// `secrets`: the values to hide (`Runbook::secret_values()`); empty values are ignored.
    pub fn new(secrets: &[String]) -> Masker {
        let mut all: Vec<&str> = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            for form in forms(secret) {
                if !all.contains(&form) {
                    all.push(form);
                }
            }
        }
        if all.is_empty() {
            return Masker::default();
        }
        let (mut short, mut long): (Vec<&str>, Vec<&str>) =
            all.into_iter().partition(|s| s.len() <= LONG_SECRET);
        let short_bytes: usize = short.iter().map(|s| s.len()).sum();
        let kind = (short_bytes > DFA_BYTES).then_some(AhoCorasickKind::ContiguousNFA);
        let matcher = if short.is_empty() {
            None
        } else {
            let built = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(kind)
                .build(&short)
                .ok();
            if built.is_none() {
                // Past the automaton's limits: each is searched for on its own instead.
                long.append(&mut short);
            }
            built
        };
        long.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Masker {
            inner: Some(Arc::new(Inner {
                short: matcher,
                short_forms: short.iter().map(|s| s.as_bytes().to_vec()).collect(),
                long: long
                    .iter()
                    .map(|s| memmem::Finder::new(s.as_bytes()).into_owned())
                    .collect(),
            })),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// Whether `text` holds a secret.
    fn is_match(&self, text: &[u8]) -> bool {
        self.matches(text).next().is_some()
    }

    /// Where the secrets are in `hay`: leftmost first, the longest of those starting at the
    /// same place, none overlapping.
    fn matches<'a>(&'a self, hay: &'a [u8]) -> Matches<'a> {
        Matches {
            inner: self.inner.as_deref(),
            hay,
            pos: 0,
            next_short: Next::Unsearched,
            next_long: vec![Next::Unsearched; self.inner.as_ref().map_or(0, |i| i.long.len())],
        }
    }

    /// `hay` with every match replaced by `***`; `None` when it holds none.
    fn replace(&self, hay: &[u8]) -> Option<Vec<u8>> {
        let mut found = self.matches(hay).peekable();
        found.peek()?;
        let mut out = Vec::with_capacity(hay.len());
        let mut pos = 0;
        for (start, end) in found {
            out.extend_from_slice(&hay[pos..start]);
            out.extend_from_slice(SECRET_MASK.as_bytes());
            pos = end;
        }
        out.extend_from_slice(&hay[pos..]);
        Some(out)
    }

    pub fn mask_str(&self, text: &str) -> String {
        self.masked_str(text).unwrap_or_else(|| text.to_string())
    }

    /// [`Masker::mask_str`] of a string already owned: given back as it is (no copy) when it
    /// holds no secret.
    pub fn mask_string(&self, text: String) -> String {
        self.masked_str(&text).unwrap_or(text)
    }

    /// `text` masked; `None` when it holds no secret.
    fn masked_str(&self, text: &str) -> Option<String> {
        // Every form is UTF-8 text, so matches in UTF-8 text start and end on characters.
        self.replace(text.as_bytes())
            .map(|bytes| String::from_utf8(bytes).unwrap_or_else(|e| lossy(e.as_bytes())))
    }

    pub fn mask_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        self.replace(bytes).unwrap_or_else(|| bytes.to_vec())
    }

    /// [`Masker::mask_bytes`] without a copy when nothing is masked.
    pub fn mask_bytes_cow<'a>(&self, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        self.replace(bytes)
            .map_or(std::borrow::Cow::Borrowed(bytes), std::borrow::Cow::Owned)
    }

    /// Every form masked (the long ones first), for [`StreamMasker`].
    fn forms(&self) -> impl Iterator<Item = &[u8]> {
        self.inner.iter().flat_map(|i| {
            i.long
                .iter()
                .map(memmem::Finder::needle)
                .chain(i.short_forms.iter().map(Vec::as_slice))
        })
    }

    /// Mask one event's JSON. Its member names are the journal's schema and the values of
    /// [`VOCABULARY`] members are bringup's own words: both stay, or a short secret would
    /// break the record (`exit_code` → `e***it_code`). Every other string is masked, and so
    /// are the names that are data: `vars` keys and the service ids of `run_finished`.
    pub fn mask_event(&self, value: &mut Value) {
        if self.is_empty() {
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
        if map.keys().any(|k| self.is_match(k.as_bytes())) {
            let old = std::mem::take(map);
            for (k, v) in old {
                map.insert(self.mask_str(&k), v);
            }
        }
    }

    /// Mask every string in a JSON value, object keys included.
    pub fn mask_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(masked) = self.masked_str(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_value(v)),
            Value::Object(map) => {
                self.mask_keys(map);
                map.values_mut().for_each(|v| self.mask_value(v));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The matches of [`Masker::matches`]: the automaton's next match and each long secret's next
/// occurrence are kept until the search passes them, so each is searched for once per match.
struct Matches<'a> {
    inner: Option<&'a Inner>,
    hay: &'a [u8],
    pos: usize,
    /// The automaton's leftmost-longest match from some earlier `pos`: still the
    /// leftmost-longest one from `pos` while it starts at or after `pos`.
    next_short: Next<(usize, usize)>,
    /// Each long form's next occurrence.
    next_long: Vec<Next<usize>>,
}

/// What a search found ahead, kept until the search passes it.
#[derive(Debug, Clone, Copy)]
enum Next<T> {
    /// Not searched yet, or passed: search again.
    Unsearched,
    At(T),
    /// None from here to the end.
    Nowhere,
}

impl Iterator for Matches<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let inner = self.inner?;
        if self.pos > self.hay.len() {
            return None;
        }
        let (hay, pos) = (self.hay, self.pos);
        let mut best: Option<(usize, usize)> = None;
        let mut consider = |found: (usize, usize)| {
            // Leftmost, then longest.
            if best.is_none_or(|(s, e)| found.0 < s || (found.0 == s && found.1 > e)) {
                best = Some(found);
            }
        };
        if let Some(ac) = &inner.short {
            let stale = match self.next_short {
                Next::Unsearched => true,
                Next::At((start, _)) => start < pos,
                Next::Nowhere => false,
            };
            if stale {
                let input = aho_corasick::Input::new(hay).range(pos..);
                self.next_short = ac
                    .find(input)
                    .map_or(Next::Nowhere, |m| Next::At((m.start(), m.end())));
            }
            if let Next::At(found) = self.next_short {
                consider(found);
            }
        }
        for (finder, next) in inner.long.iter().zip(self.next_long.iter_mut()) {
            let stale = match *next {
                Next::Unsearched => true,
                Next::At(start) => start < pos,
                Next::Nowhere => false,
            };
            if stale {
                *next = finder
                    .find(&hay[pos..])
                    .map_or(Next::Nowhere, |at| Next::At(at + pos));
            }
            if let Next::At(start) = *next {
                consider((start, start + finder.needle().len()));
            }
        }
        let (start, end) = best?;
        self.pos = end;
        Some((start, end))
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
#[derive(Default)]
pub struct StreamMasker {
    masker: Masker,
    held: Vec<u8>,
}

/// Never what it holds back (the beginning of a secret, maybe): only how much.
impl std::fmt::Debug for StreamMasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamMasker")
            .field("masker", &self.masker)
            .field("held", &self.held.len())
            .finish()
    }
}

impl StreamMasker {
    pub fn new(masker: Masker) -> StreamMasker {
        StreamMasker {
            masker,
            held: Vec::new(),
        }
    }

    /// Feed the next piece; returns what is safe to pass on (secrets masked): `data` itself
    /// when there is no secret to mask.
    pub fn push<'a>(&mut self, data: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if self.masker.is_empty() {
            return std::borrow::Cow::Borrowed(data);
        }
        self.held.extend_from_slice(data);
        let hold = self.possible_secret_start();
        let cut = self.held.len() - hold;
        let mut out = Vec::with_capacity(self.held.len());
        let mut pos = 0;
        for (start, end) in self.masker.matches(&self.held) {
            // A match starting in the held tail may grow into a longer secret: later.
            if start >= cut {
                break;
            }
            out.extend_from_slice(&self.held[pos..start]);
            out.extend_from_slice(SECRET_MASK.as_bytes());
            pos = end;
        }
        let keep_from = pos.max(cut);
        out.extend_from_slice(&self.held[pos..keep_from]);
        self.held.drain(..keep_from);
        std::borrow::Cow::Owned(out)
    }

    /// The end of the stream: everything still held, masked.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        self.masker.mask_bytes(&held)
    }

    /// Length of the longest tail of `held` that is a proper beginning of some secret.
    fn possible_secret_start(&self) -> usize {
        let held = &self.held;
        let mut longest = 0;
        for form in self.masker.forms() {
            let max = form.len().saturating_sub(1).min(held.len());
            if max <= longest {
                continue;
            }
            // Only a tail that starts with the form's first byte can be its beginning; the
            // first one found is the longest for this form.
            let from = held.len() - max;
            let fits = memchr::memchr_iter(form[0], &held[from..held.len() - longest])
                .map(|at| held.len() - (from + at))
                .find(|&k| form.starts_with(&held[held.len() - k..]));
            if let Some(k) = fits {
                longest = k;
            }
        }
        longest
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
            out.extend_from_slice(&m.push(p));
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
        assert_eq!(&*first, b"ok\nx", "a possible secret start is held back");
        // `abc` alone would match, but `abcdef` may follow: still held.
        assert_eq!(&*m.push(b"c"), b"");
        assert_eq!(&*m.push(b"def!"), b"***!");
        let mut m = StreamMasker::new(Masker::new(&["abcdef".to_string(), "abc".to_string()]));
        assert_eq!(&*m.push(b"abc"), b"");
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
        assert_eq!(&*m.push(b"waiting...\n"), b"waiting...\n");
        let mut none = StreamMasker::default();
        assert_eq!(&*none.push(b"s3cret"), b"s3cret");
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
    fn the_forms_a_shell_makes_are_masked_but_not_forms_shorter_than_four_bytes() {
        assert_eq!(forms("tok3n\n\n"), vec!["tok3n\n\n", "tok3n"]);
        assert_eq!(forms("tok3n\r"), vec!["tok3n\r", "tok3n"]);
        assert_eq!(
            forms("\u{feff}tok3n \n"),
            vec!["\u{feff}tok3n \n", "\u{feff}tok3n", "tok3n \n", "tok3n"]
        );
        // `ab\n` is masked as given; `ab` alone is too short to be told from a word.
        assert_eq!(forms("ab\n"), vec!["ab\n"]);
        let m = Masker::new(&["tok3n\n\n".to_string(), "\u{feff}bom-secret".to_string()]);
        assert_eq!(m.mask_str("x=tok3n; y=tok3n\n\n."), "x=***; y=***.");
        assert_eq!(m.mask_str("bom-secret"), "***");
        assert_eq!(stream(&["pass\r"], &[b"pa", b"ss\n"]), b"***\n");
    }

    #[test]
    fn a_long_secret_is_masked_whole_beside_short_ones_and_split_across_pieces() {
        let long: String = (b'a'..=b'z')
            .cycle()
            .take(100_000)
            .map(char::from)
            .collect();
        let text = format!("[{long}] pw [{}]", &long[..1000]);
        let m = Masker::new(&[long.clone(), "pw".to_string(), long[..1000].to_string()]);
        assert_eq!(m.mask_str(&text), "[***] *** [***]");
        let bytes = text.as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(4093).collect();
        assert_eq!(
            stream(&[&long, "pw", &long[..1000]], &pieces),
            b"[***] *** [***]"
        );
        // A short secret inside a long one: the long one, leftmost, wins.
        let m = Masker::new(&[long.clone(), "bcd".to_string()]);
        assert_eq!(m.mask_str(&format!("bcd {long}")), "*** ***");
    }

    /// Masking done the slow, obvious way: at each place, the longest secret found there.
    fn leftmost_longest(secrets: &[&str], text: &str) -> Vec<u8> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let here = secrets
                .iter()
                .filter(|s| bytes[i..].starts_with(s.as_bytes()))
                .map(|s| s.len())
                .max();
            if let Some(len) = here {
                out.extend_from_slice(SECRET_MASK.as_bytes());
                i += len;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn a_stream_cut_anywhere_is_masked_as_the_whole_with_long_and_short_secrets(
            parts in proptest::collection::vec(0usize..6, 0..40),
            cuts in proptest::collection::vec(1usize..700, 1..12),
        ) {
            // 301 and 280 bytes: searched for on their own; the others by the automaton.
            let long = format!("{}c", "ab".repeat(150));
            let other = format!("{}ba", "ab".repeat(139));
            let fragments = [long.as_str(), &long[..200], "ab", "c", "abca", other.as_str()];
            let whole: String = parts.iter().map(|&i| fragments[i]).collect();
            let secrets = [long.as_str(), other.as_str(), "abca", "bcab"];
            let owned: Vec<String> = secrets.iter().map(ToString::to_string).collect();
            let expected = Masker::new(&owned).mask_bytes(whole.as_bytes());
            proptest::prop_assert_eq!(&expected, &leftmost_longest(&secrets, &whole));
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut rest = whole.as_bytes();
            for &n in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (piece, after) = rest.split_at(n.min(rest.len()));
                pieces.push(piece);
                rest = after;
            }
            proptest::prop_assert_eq!(stream(&secrets, &pieces), expected);
        }
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
