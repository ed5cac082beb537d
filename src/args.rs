//! Value parsers for command-line arguments shared by the subcommands.

/// A number of seconds from 0 to a year (fractions allowed): the monitor's
/// policy times and the scheduler's `--grace`.
pub(crate) fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e| format!("{s:?} is not a number of seconds: {e}"))?;
    if !v.is_finite() || !(0.0..=31_536_000.0).contains(&v) {
        return Err(format!("{s:?} must be between 0 and 31536000 seconds"));
    }
    Ok(v)
}

/// Like [`seconds`], but zero is refused: `--frequency`, `--freq`, `--timeout`.
pub(crate) fn positive_seconds(s: &str) -> Result<f64, String> {
    let v = seconds(s)?;
    if v == 0.0 {
        return Err(format!("{s:?} must be more than 0 seconds"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_checked() {
        assert_eq!(seconds("1.5"), Ok(1.5));
        assert_eq!(seconds("0"), Ok(0.0));
        assert!(seconds("-1").is_err());
        assert!(seconds("nan").is_err());
        assert!(seconds("inf").is_err());
        assert!(seconds("x").is_err());
        assert!(seconds("31536001").is_err());
        assert!(positive_seconds("0").is_err());
        assert_eq!(positive_seconds("0.25"), Ok(0.25));
    }
}
