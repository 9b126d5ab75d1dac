//! Durations as runbooks write them: "500ms", "30s", "5m", "1h30m". Parsing only.

use std::time::Duration;

/// The longest duration a runbook may write: a year. Longer is a typo, and adding it to a
/// clock reading would overflow where the run waits for it.
pub const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parse a runbook duration; the error says what went wrong in words an operator can act on.
pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration; write it like '30s', '5m' or '1h30m'".to_string());
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "bad duration '{text}': no unit; write '{trimmed}s' for seconds or '{trimmed}ms' for milliseconds"
        ));
    }
    let d = humantime::parse_duration(trimmed).map_err(|e| {
        let why = match e {
            humantime::DurationError::UnknownUnit { unit, .. } if !unit.is_empty() => {
                format!(": unknown unit '{unit}'")
            }
            humantime::DurationError::NumberOverflow => ": too long".to_string(),
            _ => String::new(),
        };
        format!("bad duration '{text}'{why}; write it like '500ms', '30s', '5m' or '1h30m'")
    })?;
    if d > MAX {
        return Err(format!(
            "duration '{text}' is too long; at most a year ('365d') is allowed"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_the_spec_names() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn a_number_without_unit_is_rejected_with_a_fix() {
        let e = parse("30").expect_err("no unit");
        assert!(e.contains("'30s'"), "{e}");
    }

    #[test]
    fn garbage_and_negative_durations_are_rejected() {
        assert!(parse("soon").is_err());
        assert!(parse("-5s").is_err());
        let e = parse("5 parsecs").expect_err("unknown unit");
        assert!(e.contains("unknown unit 'parsecs'"), "{e}");
        assert!(parse("").is_err());
    }

    #[test]
    fn durations_longer_than_a_year_are_rejected() {
        assert_eq!(parse("365d"), Ok(MAX));
        let e = parse("99999999999h").expect_err("too long");
        assert!(e.contains("'99999999999h' is too long"), "{e}");
        // Past u64 seconds, where the clock arithmetic would have panicked.
        assert!(parse("4000000000000000h").is_err());
    }
}
