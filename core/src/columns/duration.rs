//! The one duration parser: `30s`, `5m`, `1h30m`, ... into nanoseconds.

use crate::error::{Error, Result};

/// Parses a duration such as `30s`, `5m`, `1h`, `1d`, `1w`, `250ms`, `10us`, `5ns` or a sum
/// such as `1h30m` into nanoseconds (> 0). Units: `ns us ms s m h d w`; whole numbers only.
pub fn parse_duration(text: &str) -> Result<i64> {
    parse_duration_param(text, "duration")
}

/// [`parse_duration`] for the parameter `name`, which errors name.
pub fn parse_duration_param(text: &str, name: &str) -> Result<i64> {
    let bad = |why: &str| {
        Error::param(
            name,
            format!("`{text}` is not a duration ({why}); use e.g. 30s, 5m, 1h, 1d, 1h30m"),
        )
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("a number must come first"));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| bad("number too large"))?;
        rest = &rest[digits..];
        if rest.starts_with(['.', ',']) {
            return Err(bad("whole numbers only: write 1h30m, not 1.5h"));
        }
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 604_800_000_000_000,
            "" => return Err(bad("missing unit")),
            _ => return Err(bad("unknown unit")),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too long"))?;
    }
    if total <= 0 {
        return Err(bad("must be > 0"));
    }
    Ok(total)
}

/// A positive number of seconds (finite, at least 1 ns) into nanoseconds; `name` is the
/// parameter named in the error.
pub fn parse_seconds(seconds: f64, name: &str) -> Result<i64> {
    let ns = (seconds * 1e9).round();
    if !(seconds.is_finite() && (1.0..9.2e18).contains(&ns)) {
        return Err(Error::param(
            name,
            format!(
                "{seconds} is not a positive number of seconds (at least 1 ns, at most ~292 years)"
            ),
        ));
    }
    Ok(ns as i64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), 300_000_000_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("250ms").unwrap(), 250_000_000);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
        let e = parse_duration_param("1.5h", "window")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`window`") && e.contains("whole numbers"), "{e}");
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds(60.0, "window").unwrap(), 60_000_000_000);
        assert_eq!(parse_seconds(0.5, "window").unwrap(), 500_000_000);
        assert!(parse_seconds(0.0, "window").is_err());
        assert!(parse_seconds(-1.0, "window").is_err());
        assert!(parse_seconds(f64::NAN, "window").is_err());
        assert!(parse_seconds(f64::INFINITY, "window").is_err());
        assert!(parse_seconds(1e300, "window").is_err());
    }
}
