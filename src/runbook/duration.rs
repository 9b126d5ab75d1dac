//! Durations as runbooks write them: "500ms", "30s", "5m", "1h30m", "2d". Parsing only.
//!
//! The units are `ms`, `s`, `m`, `h` and `d`, nothing else: `2M` could be minutes or months
//! and `1y` a year of 365 or 366 days, so an ambiguous unit is an error, not a guess.

use std::time::Duration;

/// The longest duration a runbook may write: a year. Longer is a typo, and adding it to a
/// clock reading would overflow where the run waits for it.
pub const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// The shape `parse` reads, as a JSON Schema (ECMA-262) pattern for editors: one or more
/// whole numbers each with a unit, spaces allowed between. The range is `parse`'s to check.
pub const PATTERN: &str = r"^\s*([0-9]+\s*(ms|s|m|h|d)\s*)+$";

/// What a diagnostic shows under a bad duration.
pub const UNITS_HELP: &str = "units are ms, s, m, h and d (minutes are 'm'); write it like '500ms', '30s', '5m', '1h30m' or '2d'";

/// A duration that could not be read: the message names the value, `help` what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub help: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.message, self.help)
    }
}

fn unit_millis(unit: &str) -> Option<u128> {
    Some(match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    })
}

/// Why `unit` is not one of ours, in words: the ambiguous ones say what they might mean.
fn unknown_unit(text: &str, unit: &str) -> String {
    let why = match unit {
        "M" => " ('M' could mean minutes or months)",
        "y" | "Y" | "yr" | "year" | "years" => " (years differ in length)",
        "w" | "W" | "week" | "weeks" => " (write weeks as days, '7d')",
        "mo" | "mon" | "month" | "months" => " (months differ in length)",
        "min" | "mins" | "minute" | "minutes" => " (minutes are 'm')",
        "sec" | "secs" | "second" | "seconds" => " (seconds are 's')",
        "hr" | "hrs" | "hour" | "hours" => " (hours are 'h')",
        "day" | "days" => " (days are 'd')",
        "us" | "µs" | "ns" => " (the smallest unit is 'ms')",
        _ => "",
    };
    format!("bad duration '{text}': unknown unit '{unit}'{why}")
}

/// Parse a runbook duration; the error says what went wrong in words an operator can act on.
pub fn parse(text: &str) -> Result<Duration, Error> {
    let bad = |message: String| Error {
        message,
        help: UNITS_HELP.to_string(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad("empty duration".to_string()));
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error {
            message: format!("bad duration '{text}': no unit"),
            help: format!(
                "write '{trimmed}s' for seconds or '{trimmed}ms' for milliseconds; {UNITS_HELP}"
            ),
        });
    }
    let mut total: u128 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad(format!(
                "bad duration '{text}': expected a number at '{rest}'"
            )));
        }
        let (number, after) = rest.split_at(digits);
        let after = after.trim_start();
        let unit_len = after.len() - after.trim_start_matches(char::is_alphabetic).len();
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            let why = after
                .chars()
                .next()
                .map_or_else(|| "no unit".to_string(), |c| format!("'{c}' is not a unit"));
            return Err(bad(format!(
                "bad duration '{text}': {why} after '{number}'"
            )));
        }
        let Some(per) = unit_millis(unit) else {
            return Err(bad(unknown_unit(text, unit)));
        };
        let Ok(n) = number.parse::<u128>() else {
            return Err(too_long(text));
        };
        total = n
            .checked_mul(per)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| too_long(text))?;
        rest = after.trim_start();
    }
    if total > MAX.as_millis() {
        return Err(too_long(text));
    }
    let millis = u64::try_from(total).map_err(|_| too_long(text))?;
    Ok(Duration::from_millis(millis))
}

fn too_long(text: &str) -> Error {
    Error {
        message: format!("duration '{text}' is too long"),
        help: "at most a year ('365d') is allowed".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_pattern_accepts_what_parse_accepts_and_rejects_what_it_rejects() {
        let re = regex::Regex::new(PATTERN).expect("the pattern compiles");
        for ok in [
            "500ms",
            "30s",
            "5m",
            "1h30m",
            "1h 30m",
            "2d",
            "1m30s250ms",
            " 0s ",
        ] {
            assert!(parse(ok).is_ok() && re.is_match(ok), "{ok}");
        }
        for bad in ["", "30", "2M", "1y", "5 min", "1.5h", "-1s", "s", "10us"] {
            assert!(parse(bad).is_err() && !re.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn accepts_the_forms_the_spec_names() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse("1m30s250ms"), Ok(Duration::from_millis(90_250)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn a_number_without_unit_is_rejected_with_a_fix() {
        let e = parse("30").expect_err("no unit");
        assert!(e.message.contains("'30'"), "{e}");
        assert!(e.help.contains("'30s'"), "{e}");
        assert!(parse("1h30").is_err(), "a trailing number needs a unit too");
    }

    #[test]
    fn units_other_than_ms_s_m_h_d_are_rejected_and_the_units_listed() {
        for (text, why) in [
            ("2M", "minutes or months"),
            ("1y", "years"),
            ("1w", "'7d'"),
            ("5min", "minutes are 'm'"),
            ("10sec", "seconds are 's'"),
            ("3us", "'ms'"),
            ("5 parsecs", "unknown unit 'parsecs'"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.message.contains(&format!("'{text}'")), "{e}");
            assert!(e.message.contains(why), "{text}: {e}");
            assert!(e.help.contains("ms, s, m, h and d"), "{e}");
        }
    }

    #[test]
    fn garbage_and_negative_durations_are_rejected() {
        assert!(parse("soon").is_err());
        assert!(parse("-5s").is_err());
        assert!(parse("1.5s").is_err());
        assert!(parse("").is_err());
        assert!(parse("s").is_err());
    }

    #[test]
    fn durations_longer_than_a_year_are_rejected() {
        assert_eq!(parse("365d"), Ok(MAX));
        let e = parse("99999999999h").expect_err("too long");
        assert!(e.message.contains("'99999999999h' is too long"), "{e}");
        // Past u64 seconds, where the clock arithmetic would have panicked.
        assert!(parse("4000000000000000h").is_err());
        assert!(parse("999999999999999999999999999999999999999999d").is_err());
    }
}
