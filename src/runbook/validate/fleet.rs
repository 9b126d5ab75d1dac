//! The fleet keys (`batch`, `canary`, `max_fail` on restore and inject steps, `min_healthy`
//! on services) → [`Fleet`] and [`HostCount`]: each within the host list it counts, with a
//! `file:line:col` error naming the value otherwise.

use super::Validator;
use crate::runbook::diag::Diag;
use crate::runbook::fleet::{Fleet, HostCount};
use crate::runbook::raw::{RawCount, RawStep, S};

const COUNT_HELP: &str = "write a number of hosts, or a percentage of them such as \"10%\"";

/// Where a step's fleet keys are judged: its phase, names and host count.
pub(super) struct FleetCx<'a> {
    pub phase: &'a str,
    pub step: &'a str,
    pub service: &'a str,
    pub hosts: usize,
    pub manual: bool,
}

impl Validator<'_> {
    /// A step's `batch`, `canary` and `max_fail`.
    pub(super) fn fleet(&mut self, raw: &RawStep, cx: &FleetCx<'_>) -> Fleet {
        let keys = [
            ("batch", raw.batch.as_ref().map(S::span)),
            ("canary", raw.canary.as_ref().map(S::span)),
            ("max_fail", raw.max_fail.as_ref().map(S::span)),
        ];
        let (phase, step, service) = (cx.phase, cx.step, cx.service);
        if phase == "check" || cx.manual {
            for (key, span) in keys {
                let Some(span) = span else { continue };
                let diag = if cx.manual {
                    Diag::new(span, format!("'{key}' on manual {phase} step '{step}' of '{service}'"))
                        .help("a manual step is done once, by an operator; batch, canary and max_fail are for run steps")
                } else {
                    Diag::new(span, format!("'{key}' on check step '{step}' of '{service}'"))
                        .help("checks run on every host at once and change nothing; batch, canary and max_fail are for restore and inject steps (use min_healthy on the service for how many hosts must pass)")
                };
                self.error(diag);
            }
            return Fleet::default();
        }
        let what = format!("{phase} step '{step}' of '{service}'");
        let batch = raw.batch.as_ref().and_then(|b| self.count(b, "batch", 1));
        let canary = raw.canary.as_ref().and_then(|c| {
            let n = *c.get_ref() as usize;
            if n == 0 {
                self.error(
                    Diag::new(c.span(), format!("canary '0' on {what} runs no host first"))
                        .help("write how many hosts go first, or leave canary out"),
                );
                return None;
            }
            if n >= cx.hosts {
                self.error(
                    Diag::new(c.span(), format!("canary '{n}' on {what} leaves none of its {} hosts for after the question", cx.hosts))
                        .help(format!("a canary is the first few hosts: at most {}", cx.hosts.saturating_sub(1))),
                );
                return None;
            }
            Some(n)
        });
        let max_fail = raw
            .max_fail
            .as_ref()
            .and_then(|m| {
                let count = self.count(m, "max_fail", 0)?;
                if let HostCount::Hosts(n) = count
                    && n > cx.hosts
                {
                    self.error(
                        Diag::new(m.span(), format!("max_fail '{n}' on {what} is more than its {} hosts", cx.hosts))
                            .help("a failure budget counts hosts of the step: write at most its host count, or a percentage"),
                    );
                    return None;
                }
                Some(count)
            })
            .unwrap_or(HostCount::Hosts(0));
        Fleet {
            batch,
            canary,
            max_fail,
        }
    }

    /// A service's `min_healthy`, out of its `hosts`.
    pub(super) fn min_healthy(
        &mut self,
        raw: Option<&S<RawCount>>,
        service: &str,
        hosts: usize,
    ) -> Option<HostCount> {
        let raw = raw?;
        let count = self.count(raw, "min_healthy", 1)?;
        if hosts == 0 {
            self.error(
                Diag::new(
                    raw.span(),
                    format!("min_healthy on '{service}', which has no hosts"),
                )
                .help("give the service hosts = [...]: min_healthy counts them"),
            );
            return None;
        }
        if let HostCount::Hosts(n) = count
            && n > hosts
        {
            self.error(
                Diag::new(
                    raw.span(),
                    format!("min_healthy '{n}' of '{service}' is more than its {hosts} hosts"),
                )
                .help(
                    "the service could never be up: write at most its host count, or a percentage",
                ),
            );
            return None;
        }
        Some(count)
    }

    /// A number of hosts or a percentage, at least `min` (a percentage at least 1% when
    /// `min` is 1), at most 100%.
    fn count(&mut self, raw: &S<RawCount>, key: &str, min: usize) -> Option<HostCount> {
        let (count, shown) = match raw.get_ref() {
            RawCount::Number(n) => {
                let Ok(hosts) = usize::try_from(*n) else {
                    self.error(
                        Diag::new(raw.span(), format!("{key} '{n}' is negative")).help(COUNT_HELP),
                    );
                    return None;
                };
                (HostCount::Hosts(hosts), hosts.to_string())
            }
            RawCount::Text(text) => {
                let digits = text.trim().strip_suffix('%').map(str::trim);
                let Some(p) = digits
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<u32>().ok())
                else {
                    self.error(
                        Diag::new(
                            raw.span(),
                            format!("{key} '{text}' is not a number of hosts or a percentage"),
                        )
                        .help(COUNT_HELP),
                    );
                    return None;
                };
                if p > 100 {
                    self.error(
                        Diag::new(raw.span(), format!("{key} '{text}' is over 100%"))
                            .help("a percentage of a host list runs from 0% to 100%"),
                    );
                    return None;
                }
                (
                    HostCount::Percent(u8::try_from(p).unwrap_or(100)),
                    text.clone(),
                )
            }
        };
        let zero = match count {
            HostCount::Hosts(n) => n < min,
            HostCount::Percent(p) => usize::from(p) < min,
        };
        if zero {
            let help = match key {
                "batch" => {
                    "a batch of no host never runs: write 1 or more, or a percentage such as \"10%\"; leave batch out to run every host at once"
                }
                _ => {
                    "a service up with no healthy host is not up: write 1 or more, or leave min_healthy out for every host"
                }
            };
            self.error(Diag::new(raw.span(), format!("{key} '{shown}' counts no host")).help(help));
            return None;
        }
        Some(count)
    }
}
