//! Fleet keys, validated (SPEC "Fleets"): how many hosts a step runs on at a time (`batch`),
//! how many go first alone (`canary`), how many may fail (`max_fail`), and how many hosts make
//! a service up (`min_healthy`). Counts only: what they mean for a run is the engine's.

use std::fmt;

/// A number of hosts as written: a count, or a percentage of a host list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCount {
    Hosts(usize),
    /// 0 to 100.
    Percent(u8),
}

impl HostCount {
    /// This many of `total` hosts, a percentage rounded down (a budget or a floor is never
    /// more than written).
    pub fn floor_of(self, total: usize) -> usize {
        match self {
            HostCount::Hosts(n) => n.min(total),
            HostCount::Percent(p) => total * usize::from(p) / 100,
        }
    }

    /// This many of `total` hosts, a percentage rounded up (a batch of "10%" of 5 hosts is 1).
    pub fn ceil_of(self, total: usize) -> usize {
        match self {
            HostCount::Hosts(n) => n.min(total),
            HostCount::Percent(p) => (total * usize::from(p)).div_ceil(100),
        }
    }
}

impl fmt::Display for HostCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostCount::Hosts(n) => write!(f, "{n}"),
            HostCount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A restore or inject step's fleet keys. The default runs every host at once, asks nothing
/// in between and allows no failure: a step as it was before fleets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fleet {
    /// Hosts at a time, in the order of the service's `hosts`; `None`: all at once.
    pub batch: Option<HostCount>,
    /// The first this many hosts run alone, then an operator is asked before the rest.
    pub canary: Option<usize>,
    /// More failed hosts than this stop the step (default 0).
    pub max_fail: HostCount,
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet {
            batch: None,
            canary: None,
            max_fail: HostCount::Hosts(0),
        }
    }
}

impl Fleet {
    /// Hosts per batch for a step of `total` hosts (at least 1).
    pub fn batch_size(&self, total: usize) -> usize {
        self.batch.map_or(total, |b| b.ceil_of(total)).max(1)
    }

    /// How many failed hosts the step tolerates out of `total`.
    pub fn budget(&self, total: usize) -> usize {
        self.max_fail.floor_of(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_down_for_budgets_and_up_for_batches() {
        assert_eq!(HostCount::Percent(10).floor_of(15), 1);
        assert_eq!(HostCount::Percent(10).ceil_of(15), 2);
        assert_eq!(HostCount::Percent(10).ceil_of(1000), 100);
        assert_eq!(HostCount::Percent(100).floor_of(7), 7);
        assert_eq!(HostCount::Hosts(50).ceil_of(7), 7);
        let fleet = Fleet {
            batch: Some(HostCount::Percent(1)),
            ..Fleet::default()
        };
        assert_eq!(fleet.batch_size(10), 1);
        assert_eq!(Fleet::default().batch_size(40), 40);
        assert_eq!(Fleet::default().budget(40), 0);
    }
}
