//! Hosts that said the same thing, told once, as `clush -b` gathers them: [`gather`] groups
//! hosts by a key (what they printed, after masking, with how they ended), [`names`] says a
//! group's hosts in few characters as node ranges (`h[001-041,043-198]`), and [`Digest`]
//! tells one host's output from another's whatever the chunks it came in. The TUI's step
//! pane, `run`'s end-of-step lines and the reports' "What failed" all fold with these, so
//! they group and name hosts alike. Pure: no IO.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;

use sha2::{Digest as _, Sha256};

use crate::runbook::model::HostId;

/// A step on more hosts than this is "many": the step pane folds its hosts, and `run` prints
/// its output by group at its end instead of line by line (a few hosts' lines, labelled,
/// read well interleaved; dozens do not).
pub const FOLD_ABOVE: usize = 4;

/// Hosts whose key is the same, in the order they were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<K, H = HostId> {
    pub key: K,
    pub hosts: Vec<H>,
}

impl<K> Group<K> {
    /// The group's line: a host's name alone, or `198 hosts: h[001-198]`, the names cut to
    /// about `width` characters (the count always says how many).
    pub fn heading(&self, width: usize) -> String {
        heading(&self.hosts, width)
    }
}

/// Group hosts by key. Groups come in the order of their first host, hosts within a group in
/// the order given: with a service's hosts in runbook order, the picture does not reorder
/// itself as output streams in.
/// Up to this many groups, a key is looked for among them in turn.
const LINEAR_GROUPS: usize = 8;

/// Hosts may be given by reference (`&HostId`): a screen folding a thousand hosts a frame
/// copies none of them.
pub fn gather<K, H, I>(items: I) -> Vec<Group<K, H>>
where
    K: Eq + Hash + Clone,
    I: IntoIterator<Item = (H, K)>,
{
    let mut at: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<Group<K, H>> = Vec::new();
    for (host, key) in items {
        // Hosts mostly agree: the groups so far are few, and comparing with them is cheaper
        // than hashing every key.
        let found = if groups.len() <= LINEAR_GROUPS {
            groups.iter().position(|g| g.key == key)
        } else {
            at.get(&key).copied()
        };
        if let Some(i) = found {
            groups[i].hosts.push(host);
        } else {
            at.insert(key.clone(), groups.len());
            groups.push(Group {
                key,
                hosts: vec![host],
            });
        }
    }
    groups
}

/// `h042`, or `198 hosts: h[001-041,043-198]`.
pub fn heading(hosts: &[HostId], width: usize) -> String {
    match hosts {
        [one] => one.to_string(),
        _ => format!("{} hosts: {}", hosts.len(), names(hosts, width)),
    }
}

/// The hosts' names as node ranges, sorted: `h[001-041,043-198]`, `db1,web[1-3]`. When that
/// is longer than `width` characters, the first and last names around an ellipsis:
/// `h001 … h998` (a count beside it says how many).
pub fn names(hosts: &[HostId], width: usize) -> String {
    let full = ranges(hosts);
    if full.chars().count() <= width || hosts.len() < 2 {
        return full;
    }
    let sorted = sorted(hosts);
    match (sorted.first(), sorted.last()) {
        (Some(first), Some(last)) => format!("{} … {}", first.whole, last.whole),
        _ => full,
    }
}

/// A host name cut at its last run of digits: `web`, `12`, `.dc1` (no digits: all prefix).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Name<'a> {
    prefix: &'a str,
    suffix: &'a str,
    /// Digits written with leading zeros are kept at their width (`007`); 0 when not padded.
    pad: usize,
    number: Option<u64>,
    whole: &'a str,
}

impl<'a> Name<'a> {
    fn parse(whole: &'a str) -> Name<'a> {
        let bytes = whole.as_bytes();
        let end = bytes.iter().rposition(u8::is_ascii_digit).map(|i| i + 1);
        let parsed = end.and_then(|end| {
            let start = bytes[..end]
                .iter()
                .rposition(|b| !b.is_ascii_digit())
                .map_or(0, |i| i + 1);
            let digits = &whole[start..end];
            // Past 18 digits it is not a counter; the name stands alone.
            let number = digits.parse::<u64>().ok().filter(|_| digits.len() <= 18)?;
            let pad = if digits.len() > 1 && digits.starts_with('0') {
                digits.len()
            } else {
                0
            };
            Some(Name {
                prefix: &whole[..start],
                suffix: &whole[end..],
                pad,
                number: Some(number),
                whole,
            })
        });
        parsed.unwrap_or(Name {
            prefix: whole,
            suffix: "",
            pad: 0,
            number: None,
            whole,
        })
    }
}

/// The names parsed and sorted as node sets sort them, each once.
fn sorted(hosts: &[HostId]) -> Vec<Name<'_>> {
    let mut names: Vec<Name<'_>> = hosts.iter().map(|h| Name::parse(h.as_str())).collect();
    // `h100` joins `h001`…`h099`: an unpadded number as wide as a padded set is one of it.
    let padded: Vec<(&str, &str, usize)> = names
        .iter()
        .filter(|n| n.pad > 0)
        .map(|n| (n.prefix, n.suffix, n.pad))
        .collect();
    for n in &mut names {
        if let Some(number) = n.number.filter(|_| n.pad == 0) {
            let width = number.to_string().len();
            if padded.contains(&(n.prefix, n.suffix, width)) {
                n.pad = width;
            }
        }
    }
    names.sort();
    names.dedup_by(|a, b| a.whole == b.whole);
    names
}

/// Every name, sorted, runs of numbers under one prefix and suffix folded into ranges.
fn ranges(hosts: &[HostId]) -> String {
    let names = sorted(hosts);
    let mut out = String::new();
    let mut i = 0;
    while i < names.len() {
        let n = &names[i];
        let mut j = i + 1;
        while j < names.len()
            && n.number.is_some()
            && names[j].number.is_some()
            && (names[j].prefix, names[j].suffix, names[j].pad) == (n.prefix, n.suffix, n.pad)
        {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j - i == 1 {
            out.push_str(n.whole);
        } else {
            let numbers: Vec<u64> = names[i..j].iter().filter_map(|m| m.number).collect();
            let _ = write!(out, "{}[{}]{}", n.prefix, spans(&numbers, n.pad), n.suffix);
        }
        i = j;
    }
    out
}

/// Sorted numbers as `1-3,5`, each at `pad` digits.
fn spans(numbers: &[u64], pad: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < numbers.len() {
        let mut j = i;
        while j + 1 < numbers.len() && numbers[j + 1] == numbers[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "{:0pad$}", numbers[i]);
        if j > i {
            let _ = write!(out, "-{:0pad$}", numbers[j]);
        }
        i = j + 1;
    }
    out
}

/// What one host printed, as a digest of every byte in order: chunks cut anywhere give the
/// same value. SHA-256, so a host cannot print its way into another group.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    hasher: Sha256,
    bytes: u64,
}

/// A [`Digest`]'s value: equal for equal output.
pub type Fingerprint = [u8; 32];

impl Digest {
    pub fn update(&mut self, text: &str) {
        self.hasher.update(text.as_bytes());
        self.bytes += text.len() as u64;
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn value(&self) -> Fingerprint {
        self.hasher.clone().finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<HostId> {
        names.iter().map(|n| HostId::new(*n)).collect()
    }

    fn numbered(from: u32, to: u32) -> Vec<HostId> {
        (from..=to)
            .map(|i| HostId::new(format!("h{i:03}")))
            .collect()
    }

    #[test]
    fn identical_keys_gather_in_the_order_of_their_first_host() {
        let items = [("a", "ok"), ("b", "boom"), ("c", "ok"), ("d", "ok")]
            .map(|(h, k)| (HostId::new(h), k));
        let groups = gather(items);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].key, "ok");
        assert_eq!(groups[0].hosts, hosts(&["a", "c", "d"]));
        assert_eq!(groups[1].hosts, hosts(&["b"]));
    }

    #[test]
    fn numbered_hosts_fold_into_ranges_with_their_padding() {
        let mut all = numbered(1, 41);
        all.extend(numbered(43, 198));
        assert_eq!(names(&all, 80), "h[001-041,043-198]");
        assert_eq!(heading(&all, 80), "197 hosts: h[001-041,043-198]");
        assert_eq!(
            names(&hosts(&["web3", "web1", "web2", "db1"]), 80),
            "db1,web[1-3]"
        );
        assert_eq!(names(&hosts(&["h9", "h10", "h11"]), 80), "h[9-11]");
        assert_eq!(names(&hosts(&["h099", "h100"]), 80), "h[099-100]");
        assert_eq!(
            names(&hosts(&["r1n01.dc", "r1n02.dc", "alpha", "beta"]), 80),
            "alpha,beta,r1n[01-02].dc"
        );
    }

    #[test]
    fn a_single_host_is_its_name() {
        assert_eq!(heading(&hosts(&["h042"]), 80), "h042");
    }

    #[test]
    fn a_list_too_long_for_its_width_is_cut_to_its_first_and_last_names() {
        let odd: Vec<HostId> = (1..=999)
            .step_by(2)
            .map(|i| HostId::new(format!("h{i:03}")))
            .collect();
        assert_eq!(heading(&odd, 40), "500 hosts: h001 … h999");
        // What fits stays whole.
        assert_eq!(names(&numbered(1, 198), 40), "h[001-198]");
    }

    #[test]
    fn a_digest_does_not_depend_on_where_chunks_were_cut() {
        let mut a = Digest::default();
        a.update("hello\nwor");
        a.update("ld\n");
        let mut b = Digest::default();
        b.update("hello\nworld\n");
        assert_eq!(a.value(), b.value());
        b.update("!");
        assert_ne!(a.value(), b.value());
        assert_eq!(a.bytes(), 12);
    }
}
