//! Durations on the command line: `10s`, `500ms`, `2m`, `1.5h`, `250us`;
//! a bare number is seconds, so the scripts written against the old
//! seconds-only options (`-d 4`, `-w 0.5`) keep working.

use std::time::Duration;

/// Parse `NUMBER[UNIT]`, UNIT one of `ns`, `us` (or `µs`), `ms`, `s`, `m`,
/// `h`; no unit means seconds. The number may have a fraction; it may not
/// be negative, and the result must fit a `Duration`.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ns, us, ms, s, m or h; no unit is seconds)"
            ))
        }
    };
    // `f64::from_str` also takes "inf", "NaN" and exponents; only plain
    // decimals reach it, since the split above stops at any other character.
    let value: f64 = match number.parse() {
        Ok(v) if number.chars().any(|c| c.is_ascii_digit()) => v,
        _ => {
            return Err(format!(
                "{text:?} is not a duration (e.g. 10s, 500ms, 2m, 1.5)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("100ns"), Ok(Duration::from_nanos(100)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        // A bare number is seconds, fractions included.
        assert_eq!(parse("4"), Ok(Duration::from_secs(4)));
        assert_eq!(parse("0.3"), Ok(Duration::from_millis(300)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse(" 2 s "), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "", "s", "-1", "-1s", "10x", "1e3", "inf", "NaN", "1..2", ".", "ten",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse("10sm").unwrap_err().contains("unknown unit"));
        assert!(parse("1000000000000000000000h")
            .unwrap_err()
            .contains("too long"));
    }
}
