//! JSON exactly as the original writes it.
//!
//! The original ctl builds a Python `dict` and writes `json.dumps(dict)`.
//! Values here are `serde_json::Value`s: with serde_json's `preserve_order`
//! feature an object is an `IndexMap`, so keys stay in insertion order and
//! `Map::insert` of an existing key keeps its position, as `dict[key] = v`
//! does (and so does `Extend`, like `dict.update`). [`PyFormatter`] writes the
//! rest as Python does: `", "` and `": "` separators, floats in `repr` form
//! (`10.0`, `1e-05`, `1e+16`) and non-ASCII escaped as `\uXXXX`
//! (`ensure_ascii`).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// The text Python's `json.dumps(value)` produces.
pub(crate) fn dumps<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    value
        .serialize(&mut Serializer::with_formatter(&mut out, PyFormatter))
        .expect("values and messages have string keys and serialize into memory");
    String::from_utf8(out).expect("ensure_ascii output is ASCII")
}

/// serde_json's compact output with Python's separators, floats and
/// `ensure_ascii`. Quotes, backslashes and control characters are already
/// escaped the way Python escapes them (`\n`, `\u001f`; `/` is left alone).
struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(py_float(value).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        for c in s.chars() {
            if matches!(c, ' '..='~') {
                w.write_all(&[c as u8])?;
            } else {
                // DEL and everything above ASCII, as UTF-16 units (so a
                // surrogate pair above U+FFFF).
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// A float as Python's `repr` (which `json.dumps` uses) writes it: the
/// shortest digits that round-trip, in positional form unless the decimal
/// exponent is below -4 or above 15, and always with a `.` or an exponent.
pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits, e.g. "-1.25e-7".
    let sci = format!("{f:e}");
    let (sign, sci) = match sci.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", sci.as_str()),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // The value is 0.DIGITS * 10^decpt.
    let decpt = exp + 1;
    let n = digits.len() as i32;
    let body = if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let e = decpt - 1;
        let esign = if e < 0 { '-' } else { '+' };
        format!("{first}{dot}{rest}e{esign}{:02}", e.abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat(decpt.unsigned_abs() as usize))
    } else if decpt < n {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{int}.{frac}")
    } else {
        format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    fn object(text: &str) -> Map<String, Value> {
        match parse(text) {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn floats_are_written_like_python_repr() {
        // Each pair checked against CPython 3.11's json.dumps.
        for (f, py) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (10.0, "10.0"),
            (0.1, "0.1"),
            (2.5, "2.5"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e22, "1e+22"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-2.5e-7, "-2.5e-07"),
        ] {
            assert_eq!(py_float(f), py, "{f:?}");
            // And through the formatter, as a value and inside a list.
            assert_eq!(dumps(&json!(f)), py, "{f:?}");
            assert_eq!(dumps(&json!([f])), format!("[{py}]"), "{f:?}");
        }
    }

    #[test]
    fn strings_are_ascii_escaped_like_python() {
        let s = json!("é\u{7f}\u{1}\u{1f}\n\r\t\u{8}\u{c}\"\\/😀 ~");
        assert_eq!(
            dumps(&s),
            r#""\u00e9\u007f\u0001\u001f\n\r\t\b\f\"\\/\ud83d\ude00 ~""#
        );
        // Keys too.
        assert_eq!(dumps(&json!({"ü\n": "x"})), r#"{"\u00fc\n": "x"}"#);
    }

    #[test]
    fn objects_keep_insertion_order_and_python_separators() {
        let text = r#"{"z": 1, "a": [1, 2.0, null, true, false], "m": {}, "l": [], "n": {"y": "", "b": 1}}"#;
        assert_eq!(dumps(&parse(text)), text);
    }

    #[test]
    fn update_keeps_first_position_and_last_value() {
        // Duplicate keys: the last value wins at the first position, as in
        // Python's json.loads.
        let mut obj = object(r#"{"a": 1, "b": 2, "a": 3}"#);
        assert_eq!(dumps(&obj), r#"{"a": 3, "b": 2}"#);
        // dict[key] = v
        obj.insert("b".into(), json!(5));
        assert_eq!(dumps(&obj), r#"{"a": 3, "b": 5}"#);
        // dict.update(other)
        obj.extend(object(r#"{"c": 4, "a": 6}"#));
        assert_eq!(dumps(&obj), r#"{"a": 6, "b": 5, "c": 4}"#);
    }

    #[test]
    fn big_and_negative_integers_stay_integers() {
        let text = "[18446744073709551615, -9223372036854775808, 0, -1]";
        assert_eq!(dumps(&parse(text)), text);
    }
}
