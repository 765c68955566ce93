//! A flat, ordered report: printed as aligned text or as one JSON object.

use std::fmt::Write;

enum Value {
    Int(u64),
    Float(f64),
    Str(String),
}

/// Named values in the order they were added.
#[derive(Default)]
pub(crate) struct Report {
    fields: Vec<(&'static str, Value)>,
}

impl Report {
    pub(crate) fn new() -> Report {
        Report::default()
    }

    pub(crate) fn int(&mut self, name: &'static str, v: u64) {
        self.fields.push((name, Value::Int(v)));
    }

    pub(crate) fn float(&mut self, name: &'static str, v: f64) {
        self.fields.push((name, Value::Float(v)));
    }

    pub(crate) fn str(&mut self, name: &'static str, v: &str) {
        self.fields.push((name, Value::Str(v.to_owned())));
    }

    pub(crate) fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"{k}\": ");
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

    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.fields {
            let _ = match v {
                Value::Int(n) => writeln!(out, "{k:<22} {n}"),
                Value::Float(f) => writeln!(out, "{k:<22} {}", round(*f)),
                Value::Str(s) => writeln!(out, "{k:<22} {s}"),
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_and_orders() {
        let mut r = Report::new();
        r.str("mode", "a\"b");
        r.int("n", 3);
        r.float("x", 1.23456);
        r.float("bad", f64::NAN);
        assert_eq!(
            r.to_json(),
            r#"{"mode": "a\"b", "n": 3, "x": 1.235, "bad": null}"#
        );
    }
}
