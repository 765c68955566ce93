//! A run's report: named values in the order they were added, printed as a
//! table for people or as one JSON object for scripts. The JSON object
//! opens with the format version, the time the run started and the command
//! line, so a results file says what made it.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::fields::{self, Field, Unit};

/// The JSON layout's version: bumped when a field changes meaning or goes
/// away, not when one is added.
pub(crate) const FORMAT_VERSION: u64 = 1;

enum Value {
    Int(u64),
    Float(f64),
    Str(String),
}

/// Named values in the order they were added.
#[derive(Default)]
pub(crate) struct Report {
    fields: Vec<(Field, Value)>,
}

/// What made a report: when and by which command line.
pub(crate) struct Origin {
    pub started: SystemTime,
    pub command: Vec<String>,
}

impl Origin {
    /// This process, starting now.
    pub(crate) fn now() -> Origin {
        Origin {
            started: SystemTime::now(),
            command: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        }
    }
}

impl Report {
    pub(crate) fn new() -> Report {
        Report::default()
    }

    pub(crate) fn int(&mut self, field: Field, v: u64) {
        self.fields.push((field, Value::Int(v)));
    }

    pub(crate) fn float(&mut self, field: Field, v: f64) {
        self.fields.push((field, Value::Float(v)));
    }

    pub(crate) fn str(&mut self, field: Field, v: &str) {
        self.fields.push((field, Value::Str(v.to_owned())));
    }

    pub(crate) fn to_json(&self, origin: &Origin) -> String {
        let mut out = String::from("{");
        let _ = write!(
            out,
            "\"{}\": {FORMAT_VERSION}, \"{}\": ",
            fields::FORMAT_VERSION.key,
            fields::TIMESTAMP.key
        );
        json_string(&mut out, &rfc3339(origin.started));
        let _ = write!(out, ", \"{}\": [", fields::COMMAND.key);
        for (i, arg) in origin.command.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            json_string(&mut out, arg);
        }
        out.push(']');
        for (f, v) in &self.fields {
            let _ = write!(out, ", \"{}\": ", f.key);
            match v {
                Value::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                // JSON has no NaN or infinity.
                Value::Float(f) if !f.is_finite() => out.push_str("null"),
                Value::Float(f) => {
                    let _ = write!(out, "{}", round(*f));
                }
                Value::Str(s) => json_string(&mut out, s),
            }
        }
        out.push('}');
        out
    }

    /// A title line from the mode and the server, then one row per value:
    /// label, number (right-aligned, thousands separated) and unit.
    pub(crate) fn to_text(&self) -> String {
        struct Row {
            label: &'static str,
            value: String,
            unit: &'static str,
            number: bool,
        }
        let title = |f: Field| {
            self.fields.iter().find_map(|(g, v)| match v {
                Value::Str(s) if g.key == f.key => Some(s.as_str()),
                _ => None,
            })
        };
        let mut out = String::new();
        let mode = title(fields::MODE).unwrap_or("bench");
        let _ = match title(fields::SERVER) {
            Some(server) => writeln!(out, "{mode}: {server}"),
            None => writeln!(out, "{mode}"),
        };
        let rows: Vec<Row> = self
            .fields
            .iter()
            .filter(|(f, _)| f.key != fields::MODE.key && f.key != fields::SERVER.key)
            .map(|(f, v)| {
                let unit = match f.unit {
                    Unit::Plain | Unit::Text => "",
                    Unit::Suffix(u) => u,
                    Unit::Percent => "%",
                };
                let value = match (v, f.unit) {
                    (Value::Str(s), _) => s.clone(),
                    (Value::Int(n), Unit::Text) => n.to_string(),
                    (Value::Int(n), _) => group(&n.to_string()),
                    (Value::Float(x), Unit::Percent) => format!("{:.1}", x * 100.0),
                    (Value::Float(x), _) => text_float(*x),
                };
                let number = !matches!(v, Value::Str(_));
                Row {
                    label: f.label,
                    value,
                    unit: if number { unit } else { "" },
                    number,
                }
            })
            .collect();
        let label_w = rows.iter().map(|r| r.label.chars().count()).max();
        let label_w = label_w.unwrap_or(0);
        let number_w = rows
            .iter()
            .filter(|r| r.number)
            .map(|r| r.value.chars().count())
            .max();
        let number_w = number_w.unwrap_or(0);
        for r in rows {
            let (label, value, unit) = (r.label, r.value, r.unit);
            let line = if r.number {
                format!("  {label:<label_w$}  {value:>number_w$} {unit}")
            } else {
                format!("  {label:<label_w$}  {value}")
            };
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Four significant decimals are plenty for a benchmark figure.
fn round(f: f64) -> f64 {
    if f == 0.0 || !f.is_finite() {
        return f;
    }
    let digits = 4 - f.abs().log10().ceil() as i32;
    let scale = 10f64.powi(digits.clamp(0, 9));
    (f * scale).round() / scale
}

/// A float for the table: four significant digits, thousands separated.
fn text_float(f: f64) -> String {
    if !f.is_finite() {
        return "–".to_owned();
    }
    let s = round(f).to_string();
    match s.split_once('.') {
        Some((int, frac)) => format!("{}.{frac}", group(int)),
        None => group(&s),
    }
}

/// `1234567` as `1,234,567` (a leading minus sign is kept apart).
pub(crate) fn group(digits: &str) -> String {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits),
    };
    let mut out = String::from(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `2026-12-01T02:43:37.123Z`: RFC 3339 in UTC, to the millisecond.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01: Howard
/// Hinnant's `civil_from_days` (chrono-compatible algorithms,
/// <https://howardhinnant.github.io/date_algorithms.html>).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn origin() -> Origin {
        Origin {
            started: UNIX_EPOCH + Duration::from_millis(1_795_920_217_005),
            command: vec!["netloop".into(), "bench".into(), "a\"b".into()],
        }
    }

    #[test]
    fn json_opens_with_the_origin_then_escapes_and_orders() {
        let mut r = Report::new();
        r.str(fields::MODE, "a\"b");
        r.int(fields::REQUESTS, 3);
        r.float(fields::RPS, 1.23456);
        r.float(fields::P99_US, f64::NAN);
        assert_eq!(
            r.to_json(&origin()),
            r#"{"format_version": 1, "timestamp": "2026-11-29T02:43:37.005Z", "command": ["netloop", "bench", "a\"b"], "mode": "a\"b", "requests": 3, "rps": 1.235, "p99_us": null}"#
        );
    }

    #[test]
    fn text_is_a_table_with_units() {
        let mut r = Report::new();
        r.str(fields::MODE, "pingpong");
        r.str(fields::SERVER, "127.0.0.1:7000");
        r.int(fields::REQUESTS, 732_117);
        r.float(fields::RPS, 183_026.3);
        r.float(fields::P50_US, 261.23);
        r.float(fields::SERVER_CPU_UTIL, 0.985);
        r.str(fields::LABEL, "netloop");
        assert_eq!(
            r.to_text(),
            "pingpong: 127.0.0.1:7000\n\
             \x20 requests        732,117\n\
             \x20 throughput      183,026 req/s\n\
             \x20 latency p50       261.2 µs\n\
             \x20 server CPU use     98.5 %\n\
             \x20 label           netloop\n"
        );
    }

    #[test]
    fn dates_across_leap_years() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59.000Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn thousands() {
        assert_eq!(group("0"), "0");
        assert_eq!(group("999"), "999");
        assert_eq!(group("1000"), "1,000");
        assert_eq!(group("-1234567"), "-1,234,567");
    }
}
