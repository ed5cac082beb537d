//! Numbers in config options, written as Python would write them.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::{CtlError, pyjson};

/// A JSON number for a config option: written as an integer (`10`) when given
/// as one, else as a float (`2.5`), exactly as Python would write it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer, e.g. `10`.
    Int(i64),
    /// A float, e.g. `2.5`.
    Float(f64),
}

impl Number {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    pub(super) fn to_json(self) -> Value {
        match self {
            Number::Int(i) => i.into(),
            // A non-finite float becomes `null` (serde_json has no NaN);
            // `add` refuses those (`check`) before anything is written.
            Number::Float(f) => f.into(),
        }
    }

    pub(super) fn check(self, what: &'static str, zero_ok: bool) -> Result<(), CtlError> {
        let v = self.as_f64();
        let ok = v.is_finite() && if zero_ok { v >= 0.0 } else { v > 0.0 };
        if ok {
            Ok(())
        } else {
            let bound = if zero_ok { "0 or more" } else { "more than 0" };
            Err(CtlError::Value {
                what,
                problem: format!("{self} is not a number {bound}"),
            })
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => f.write_str(&pyjson::py_float(*x)),
        }
    }
}

impl From<u32> for Number {
    fn from(i: u32) -> Self {
        Number::Int(i.into())
    }
}

impl From<f64> for Number {
    fn from(f: f64) -> Self {
        Number::Float(f)
    }
}

impl FromStr for Number {
    type Err = String;

    /// Parses `10` as an integer and `2.5` or `1e3` as a float; refuses
    /// anything that is not a finite number.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(i) = s.parse::<i64>() {
            return Ok(Number::Int(i));
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Number::Float(f)),
            _ => Err(format!("{s:?} is not a number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_int_or_float() {
        assert_eq!("10".parse(), Ok(Number::Int(10)));
        assert_eq!("2.5".parse(), Ok(Number::Float(2.5)));
        assert_eq!("1e1".parse(), Ok(Number::Float(10.0)));
        assert!("inf".parse::<Number>().is_err());
        assert!("ten".parse::<Number>().is_err());
        assert!(Number::Int(0).check("x", false).is_err());
        assert!(Number::Int(0).check("x", true).is_ok());
        assert!(Number::Float(-1.0).check("x", true).is_err());
    }
}
