//! The checkers' decisions, sans I/O: the `ncolony.beatcheck` and
//! `ncolony.httpcheck` config sections, when a heart counts as stopped, and
//! when an HTTP endpoint has failed too often. (The scheduler's decisions
//! are [`crate::schedule`].)
//!
//! Both engines ([`beat::BeatChecks`], [`http::HttpChecks`]) have the
//! monitor's shape: `handle`, `handle_timeout`, `poll_timeout` and
//! `poll_action`. Like [`crate::monitor`], nothing here reads a clock: the
//! shell passes the current time in, as a [`crate::clock::Now`] (deadlines
//! are monotonic `Instant`s; beat checks compare file mtimes with its wall
//! clock), so tests run on a fake clock.

pub mod beat;
pub mod http;

use serde_json::{Map, Value};

use crate::spec::kind;

/// Every problem found in one checker section of a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("; "))]
pub struct SectionError {
    /// One lowercase fragment per problem, naming the key, e.g.
    /// `"ncolony.beatcheck"."period" is missing`.
    pub problems: Vec<String>,
}

/// The largest number of seconds (or count) a section may hold: about 31
/// years, so products like `period * grace` always fit in a `Duration`.
const MAX_NUMBER: f64 = 1e9;

/// Parses a config file's bytes into its JSON object. The error is one
/// lowercase fragment for the log.
pub fn config_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!("expected a JSON object, found {}", kind(&other))),
    }
}

/// Reads one section's keys, collecting every problem.
struct Reader<'a> {
    section: &'static str,
    map: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// The section `key` of `config`: `Ok(None)` when absent or null.
    fn open(
        config: &'a Map<String, Value>,
        section: &'static str,
    ) -> Result<Option<Self>, SectionError> {
        match config.get(section) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Reader {
                section,
                map,
                problems: Vec::new(),
            })),
            Some(other) => Err(SectionError {
                problems: vec![format!(
                    "{section:?} must be an object, found {}",
                    kind(other)
                )],
            }),
        }
    }

    fn problem(&mut self, key: &str, what: impl std::fmt::Display) {
        self.problems
            .push(format!("{:?}.{key:?} {what}", self.section));
    }

    fn get(&mut self, key: &str) -> Option<&'a Value> {
        let v = self.map.get(key);
        if v.is_none() {
            self.problem(key, "is missing");
        }
        v
    }

    /// A non-empty string.
    fn string(&mut self, key: &str) -> String {
        match self.get(key) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) => {
                self.problem(key, "is an empty string");
                String::new()
            }
            Some(other) => {
                self.problem(key, format!("must be a string, found {}", kind(other)));
                String::new()
            }
            None => String::new(),
        }
    }

    /// A number in `[0, MAX_NUMBER]`, or `(0, MAX_NUMBER]` when `positive`.
    fn number(&mut self, key: &str, positive: bool) -> f64 {
        let want = if positive {
            "a positive number"
        } else {
            "a non-negative number"
        };
        match self.get(key) {
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v)
                    if v.is_finite()
                        && (0.0..=MAX_NUMBER).contains(&v)
                        && !(positive && v == 0.0) =>
                {
                    v
                }
                _ => {
                    self.problem(
                        key,
                        format!("must be {want} (at most {MAX_NUMBER}), found {n}"),
                    );
                    0.0
                }
            },
            Some(other) => {
                self.problem(key, format!("must be {want}, found {}", kind(other)));
                0.0
            }
            None => 0.0,
        }
    }

    /// A non-negative integer.
    fn count(&mut self, key: &str) -> u32 {
        match self.get(key) {
            Some(Value::Number(n)) => match n.as_u64().and_then(|v| u32::try_from(v).ok()) {
                Some(v) => v,
                None => {
                    self.problem(key, format!("must be a non-negative integer, found {n}"));
                    0
                }
            },
            Some(other) => {
                self.problem(
                    key,
                    format!("must be a non-negative integer, found {}", kind(other)),
                );
                0
            }
            None => 0,
        }
    }

    fn finish<T>(self, value: T) -> Result<Option<T>, SectionError> {
        if self.problems.is_empty() {
            Ok(Some(value))
        } else {
            Err(SectionError {
                problems: self.problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_object_refuses_non_objects() {
        assert!(
            config_object(b"{")
                .expect_err("bad")
                .contains("invalid JSON")
        );
        assert!(
            config_object(b"[1]")
                .expect_err("bad")
                .contains("found a list")
        );
        assert!(config_object(br#"{"args": ["x"]}"#).is_ok());
    }
}
