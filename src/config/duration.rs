//! Parsing of human durations (`900`, `30s`, `15m`, `12h`, `7d`) used by every TTL setting.

use std::time::Duration;

/// Parses whole seconds or a number followed by one of `s`, `m`, `h`, `d`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, ""),
    };
    if digits.is_empty() {
        return Err(format!(
            "{raw:?} is not a duration (use 900, 30s, 15m, 12h or 7d)"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is too large"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?} has an unknown unit (use s, m, h or d)")),
    };
    n.checked_mul(mult)
        .filter(|s| *s <= 10 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{raw:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_seconds_and_units() {
        assert_eq!(parse_duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "s", "15x", "1.5h", "-3", "99999999999999999999", "1m2"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }
}
