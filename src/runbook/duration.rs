//! Durations as runbooks write them: "500ms", "30s", "5m", "1h30m". Parsing only.

use std::time::Duration;

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
    humantime::parse_duration(trimmed).map_err(|e| {
        let why = match e {
            humantime::DurationError::UnknownUnit { unit, .. } if !unit.is_empty() => {
                format!(": unknown unit '{unit}'")
            }
            humantime::DurationError::NumberOverflow => ": too long".to_string(),
            _ => String::new(),
        };
        format!("bad duration '{text}'{why}; write it like '500ms', '30s', '5m' or '1h30m'")
    })
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
}
