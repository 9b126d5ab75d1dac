//! How the people in a journal are known (SPEC "Who did it"): counts of the events made from
//! requests by identity, and of requests refused, in the one sentence every report prints.

use serde::Serialize;

use crate::journal::event::{Event, Identity};

/// Counts over a journal's events made from requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identities {
    /// Signed requests checked against the run's allowed signers.
    pub verified: usize,
    /// Requests from other processes taken on their word (no allowed signers).
    pub unverified: usize,
    /// Typed at the executing process's own terminal.
    pub local: usize,
    /// Events from journals older than identities (nothing recorded).
    pub unrecorded: usize,
    /// `request_refused` events.
    pub refused: usize,
}

impl Identities {
    /// Count one event.
    pub fn push(&mut self, event: &Event) {
        if matches!(event, Event::RequestRefused { .. }) {
            self.refused += 1;
        }
        if let Some(p) = event.provenance() {
            match p.identity {
                Some(Identity::Verified) => self.verified += 1,
                Some(Identity::Unverified) => self.unverified += 1,
                Some(Identity::Local) => self.local += 1,
                None => self.unrecorded += 1,
            }
        }
    }

    /// Whether some operator's act was not verified (unverified, or not recorded at all).
    pub fn any_unverified(&self) -> bool {
        self.unverified > 0 || self.unrecorded > 0
    }

    /// One sentence for a report's supporting information.
    pub fn sentence(&self) -> String {
        let mut parts = Vec::new();
        if self.unverified > 0 {
            parts.push(format!(
                "NOT VERIFIED: {} act(s) came from other processes and were taken on their operators' word (no allowed signers: `[runbook] operators` or `--operators`)",
                self.unverified
            ));
        }
        if self.unrecorded > 0 {
            parts.push(format!(
                "NOT VERIFIED: {} act(s) were journaled before bringup recorded identities",
                self.unrecorded
            ));
        }
        if self.verified > 0 {
            parts.push(format!(
                "{} act(s) signed and verified against allowed signers",
                self.verified
            ));
        }
        if self.local > 0 {
            parts.push(format!(
                "{} act(s) typed at the executing process's own terminal",
                self.local
            ));
        }
        if self.refused > 0 {
            parts.push(format!("{} request(s) refused", self.refused));
        }
        if parts.is_empty() {
            return "no operator acted through a request".to_string();
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::Provenance;

    fn note(identity: Option<Identity>) -> Event {
        Event::Note {
            operator: "kim".into(),
            text: "x".into(),
            provenance: Provenance {
                identity,
                key: None,
                nonce: None,
            },
        }
    }

    #[test]
    fn the_sentence_says_not_verified_whenever_an_act_was_not() {
        let mut ids = Identities::default();
        ids.push(&note(Some(Identity::Verified)));
        ids.push(&note(Some(Identity::Local)));
        assert!(!ids.any_unverified());
        assert!(
            !ids.sentence().contains("NOT VERIFIED"),
            "{}",
            ids.sentence()
        );
        ids.push(&note(Some(Identity::Unverified)));
        assert!(ids.any_unverified());
        assert!(ids.sentence().starts_with("NOT VERIFIED: 1 act(s)"));
        let mut old = Identities::default();
        old.push(&note(None));
        assert!(
            old.sentence()
                .contains("before bringup recorded identities")
        );
        old.push(&Event::RequestRefused {
            operator: "alice".into(),
            key: None,
            reason: "unsigned".into(),
            code: Some("unsigned".into()),
            asked: None,
        });
        assert!(old.sentence().ends_with("1 request(s) refused"));
    }
}
