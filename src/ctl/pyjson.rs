//! JSON exactly as the original writes it.
//!
//! The original ctl builds a Python `dict` and writes `json.dumps(dict)`: keys
//! in insertion order (an update keeps a key where it first appeared), `", "`
//! and `": "` separators, non-ASCII escaped as `\uXXXX`, and floats in
//! Python's `repr` form (`10.0`, `1e-05`, `1e+16`). `serde_json` sorts object
//! keys (without its `preserve_order` feature) and prints floats differently,
//! so this small ordered value type and writer reproduce the original's bytes.

use std::fmt::{self, Write as _};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose objects keep their keys in insertion order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// Any integer JSON number (covers both `i64` and `u64`).
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Obj),
}

/// A JSON object in insertion order, with Python `dict` semantics.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Obj(Vec<(String, Json)>);

impl Obj {
    /// Sets `key`; an existing key keeps its position (like `dict[key] = v`).
    pub(crate) fn insert(&mut self, key: impl Into<String>, value: Json) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Sets every key of `other` in its order (like `dict.update(other)`).
    pub(crate) fn update(&mut self, other: &Obj) {
        for (k, v) in &other.0 {
            self.insert(k.clone(), v.clone());
        }
    }

    /// Whether there are no keys.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::Str(s.to_owned())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::Str(s)
    }
}

impl From<Vec<String>> for Json {
    fn from(items: Vec<String>) -> Self {
        Json::Array(items.into_iter().map(Json::Str).collect())
    }
}

impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Json::Int(i.into()),
                (_, Some(u), _) => Json::Int(u.into()),
                (_, _, f) => Json::Float(f.unwrap_or(f64::NAN)),
            },
            Value::String(s) => Json::Str(s.clone()),
            Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            Value::Object(map) => {
                let mut obj = Obj::default();
                for (k, v) in map {
                    obj.insert(k.clone(), Json::from(v));
                }
                Json::Object(obj)
            }
        }
    }
}

impl Json {
    /// What kind of value this is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) | Json::Float(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "a list",
            Json::Object(_) => "an object",
        }
    }

    /// The text Python's `json.dumps(value)` produces.
    pub(crate) fn dumps(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Int(i) => push_fmt(out, format_args!("{i}")),
            Json::Float(f) => out.push_str(&py_float(*f)),
            Json::Str(s) => push_str(out, s),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(obj) => {
                out.push('{');
                for (i, (k, v)) in obj.0.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    push_str(out, k);
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn push_fmt(out: &mut String, args: fmt::Arguments<'_>) {
    // Writing into a String cannot fail.
    let _infallible = out.write_fmt(args);
}

/// A JSON string as `json.dumps` (with `ensure_ascii=True`) writes it.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_fmt(out, format_args!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
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

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Json, E> {
        Ok(Json::Int(i.into()))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Json, E> {
        Ok(Json::Int(u.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Json, E> {
        Ok(Json::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::Str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        // Duplicate keys: the last value wins at the first position, as in
        // Python's `json.loads`.
        let mut obj = Obj::default();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            obj.insert(k, v);
        }
        Ok(Json::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json {
        serde_json::from_str(text).expect("valid JSON")
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
        }
    }

    #[test]
    fn strings_are_ascii_escaped_like_python() {
        let s = Json::Str("é\u{7f}\u{1}\n\t\"\\/😀 ~".into());
        assert_eq!(s.dumps(), r#""\u00e9\u007f\u0001\n\t\"\\/\ud83d\ude00 ~""#);
    }

    #[test]
    fn objects_keep_insertion_order_and_python_separators() {
        let v = parse(r#"{"z": 1, "a": [1, 2.0, null, true], "m": {}, "l": []}"#);
        assert_eq!(
            v.dumps(),
            r#"{"z": 1, "a": [1, 2.0, null, true], "m": {}, "l": []}"#
        );
    }

    #[test]
    fn update_keeps_first_position_and_last_value() {
        let Json::Object(mut obj) = parse(r#"{"a": 1, "b": 2, "a": 3}"#) else {
            panic!("not an object");
        };
        assert_eq!(Json::Object(obj.clone()).dumps(), r#"{"a": 3, "b": 2}"#);
        let Json::Object(other) = parse(r#"{"c": 4, "b": 5}"#) else {
            panic!("not an object");
        };
        obj.update(&other);
        assert_eq!(Json::Object(obj).dumps(), r#"{"a": 3, "b": 5, "c": 4}"#);
    }

    #[test]
    fn big_and_negative_integers_stay_integers() {
        assert_eq!(
            parse("[18446744073709551615, -9223372036854775808]").dumps(),
            "[18446744073709551615, -9223372036854775808]"
        );
    }
}
