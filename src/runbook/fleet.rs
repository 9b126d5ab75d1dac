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

    const HEAD: &str = "[hosts.h1]\n[hosts.h2]\n[hosts.h3]\n[hosts.h4]\n";

    fn load(
        service_keys: &str,
        step_keys: &str,
        phase: &str,
    ) -> Result<crate::runbook::Runbook, Vec<String>> {
        let text = format!(
            "{HEAD}[[service]]\nid = \"web\"\nhosts = [\"h1\", \"h2\", \"h3\", \"h4\"]\n{service_keys}\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n  [[service.{phase}]]\n  name = \"fix\"\n  run = \"true\"\n{step_keys}\n"
        );
        crate::runbook::load_str(&text, std::path::Path::new("f.toml"), "0", &[], None)
            .map_err(|d| d.0)
    }

    fn error(service_keys: &str, step_keys: &str, phase: &str) -> String {
        let errors = load(service_keys, step_keys, phase).expect_err("invalid");
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].clone()
    }

    #[test]
    fn fleet_keys_are_read_into_the_model() {
        let rb = load(
            "min_healthy = \"75%\"",
            "  batch = \"50%\"\n  canary = 1\n  max_fail = 1",
            "restore",
        )
        .expect("valid");
        let service = &rb.services[0];
        assert_eq!(service.min_healthy, Some(HostCount::Percent(75)));
        assert_eq!(
            service.restores[0].fleet,
            Fleet {
                batch: Some(HostCount::Percent(50)),
                canary: Some(1),
                max_fail: HostCount::Hosts(1),
            }
        );
        let rb = load("", "  batch = 2\n  max_fail = \"25%\"", "inject").expect("valid");
        assert_eq!(
            rb.services[0].injects[0].fleet.max_fail,
            HostCount::Percent(25)
        );
    }

    #[test]
    fn out_of_bounds_fleet_keys_are_errors_at_their_line_and_column() {
        let e = error("", "  batch = \"150%\"", "restore");
        assert!(
            e.starts_with("f.toml:15:11: error: batch '150%' is over 100%"),
            "{e}"
        );
        let e = error("", "  max_fail = \"101%\"", "restore");
        assert!(e.contains("max_fail '101%' is over 100%"), "{e}");
        let e = error("", "  canary = 4", "restore");
        assert!(
            e.contains("canary '4' on restore step 'fix' of 'web' leaves none of its 4 hosts for after the question"),
            "{e}"
        );
        let e = error("", "  canary = 0", "restore");
        assert!(
            e.contains("canary '0' on restore step 'fix' of 'web' runs no host first"),
            "{e}"
        );
        let e = error("", "  batch = 0", "restore");
        assert!(e.contains("batch '0' counts no host"), "{e}");
        let e = error("", "  batch = \"0%\"", "restore");
        assert!(e.contains("batch '0%' counts no host"), "{e}");
        let e = error("", "  max_fail = 5", "restore");
        assert!(
            e.contains("max_fail '5' on restore step 'fix' of 'web' is more than its 4 hosts"),
            "{e}"
        );
        let e = error("", "  max_fail = -1", "restore");
        assert!(e.contains("max_fail '-1' is negative"), "{e}");
        let e = error("", "  batch = \"ten\"", "restore");
        assert!(
            e.contains("batch 'ten' is not a number of hosts or a percentage"),
            "{e}"
        );
        let e = error("min_healthy = 0", "", "restore");
        assert!(
            e.starts_with("f.toml:8:15: error: min_healthy '0' counts no host"),
            "{e}"
        );
        let e = error("min_healthy = 5", "", "restore");
        assert!(
            e.contains("min_healthy '5' of 'web' is more than its 4 hosts"),
            "{e}"
        );
        let e = error("min_healthy = \"120%\"", "", "restore");
        assert!(e.contains("min_healthy '120%' is over 100%"), "{e}");
    }

    #[test]
    fn fleet_keys_on_a_check_or_a_manual_step_are_errors() {
        let e = error("", "  max_fail = 1", "check");
        assert!(e.contains("'max_fail' on check step 'fix' of 'web'"), "{e}");
        assert!(
            e.contains("min_healthy"),
            "the help points to min_healthy: {e}"
        );
        let text = format!(
            "{HEAD}[[service]]\nid = \"web\"\nhosts = [\"h1\", \"h2\"]\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n  [[service.restore]]\n  name = \"call\"\n  manual = \"call netops\"\n  batch = 1\n"
        );
        let errors =
            crate::runbook::load_str(&text, std::path::Path::new("f.toml"), "0", &[], None)
                .expect_err("invalid")
                .0;
        assert!(
            errors[0].contains("'batch' on manual restore step 'call' of 'web'"),
            "{errors:?}"
        );
    }
}
