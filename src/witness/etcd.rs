//! An etcd witness: `bringup/witness/NAME/<run>/<seq, 20 digits>` = the head's JSON, each
//! key written once by a transaction that requires it absent, so a head once witnessed is
//! never replaced through bringup (a second, different head at the same seq is refused and
//! reported: someone forked the journal). Through the same async client as shared runs.

use crate::journal::etcd::{Access, Compare, Etcd, Op, RunUrl, prefix_end};

use super::{Held, ReadError, WitnessedHead};

/// Where every witness lives.
pub const ROOT: &str = "bringup/witness/";
/// Keys read per request.
const PAGE: u64 = 512;

/// The prefix of `run`'s heads in the witness `url`.
pub fn prefix(url: &RunUrl, run: &str) -> String {
    format!("{ROOT}{}/{run}/", url.name)
}

/// Write `head` under its key, once.
pub async fn put(etcd: &mut Etcd, url: &RunUrl, head: &WitnessedHead) -> Result<(), String> {
    let key = format!("{}{:020}", prefix(url, &head.run), head.seq).into_bytes();
    let value = head.to_line().into_bytes();
    let result = etcd
        .txn(
            &[Compare::Absent { key: key.clone() }],
            &[Op::Put {
                key: key.clone(),
                value,
            }],
            &[Op::Get { key }],
        )
        .await
        .map_err(|e| e.to_string())?;
    if result.succeeded {
        return Ok(());
    }
    // Written before (a retry after an answer that was lost): the same head is fine.
    let before = result
        .gets
        .first()
        .and_then(|r| r.kvs.first())
        .and_then(|kv| serde_json::from_slice::<WitnessedHead>(&kv.value).ok());
    match before {
        Some(h) if h.hash == head.hash => Ok(()),
        Some(h) => Err(format!(
            "the witness already holds another head at seq {} (hash {}); this journal's is {}",
            head.seq, h.hash, head.hash
        )),
        None => Err(format!(
            "the witness holds something that is not a head at seq {}",
            head.seq
        )),
    }
}

/// The heads `url` holds for `run`, in seq order.
pub async fn read(url: &RunUrl, run: &str, access: &Access) -> Result<Held, ReadError> {
    let unreadable = |reason: String| ReadError::Unreadable {
        target: url.to_string(),
        reason,
    };
    let mut etcd = Etcd::connect_with(&url.endpoints, access)
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    let prefix = prefix(url, run).into_bytes();
    let end = prefix_end(&prefix);
    let mut from = prefix.clone();
    let mut revision = 0;
    let mut held = Held::default();
    loop {
        let page = etcd
            .range_at(&from, Some(&end), PAGE, revision)
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        if revision == 0 {
            revision = page.revision;
        }
        for kv in &page.kvs {
            let at = format!("key '{}'", String::from_utf8_lossy(&kv.key));
            match serde_json::from_slice::<WitnessedHead>(&kv.value) {
                Ok(found) if found.run == run => {
                    let expected = format!("{:020}", found.seq);
                    if kv.key.ends_with(expected.as_bytes()) {
                        held.heads.push(found);
                    } else {
                        held.bad
                            .push((at, format!("a head of seq {} under another key", found.seq)));
                    }
                }
                Ok(found) => held
                    .bad
                    .push((at, format!("a head of another run ('{}')", found.run))),
                Err(e) => held.bad.push((at, format!("not a head: {e}"))),
            }
        }
        match page.kvs.last() {
            Some(last) if page.more => {
                from.clone_from(&last.key);
                from.push(0);
            }
            _ => break,
        }
    }
    Ok(held)
}
