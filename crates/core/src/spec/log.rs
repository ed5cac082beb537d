//! The `log` key of a config file: where a process's output goes.

use serde_json::{Map, Value};

use super::{kind, unknown_fields};

/// The `log` key: where a process's stdout and stderr go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// `"log": "stderr"`: the monitor's stderr, even with `--log-dir`.
    Stderr,
    /// `"log": {...}`: a file, each field defaulting to the monitor's option.
    File {
        /// The file (`"path"`); relative to `--log-dir`; `NAME.log` there when unset.
        path: Option<String>,
        /// Rotate past this many bytes (`"max_bytes"`, at least 1).
        max_bytes: Option<u64>,
        /// Keep this many rotated files (`"backups"`).
        backups: Option<u32>,
    },
}

/// The fields a `log` object may have.
const FIELDS: &[&str] = &["path", "max_bytes", "backups"];

/// Reads `log` (optional: `None` means the monitor's defaults), appending
/// one problem per bad field to `problems`.
pub(super) fn parse(map: &Map<String, Value>, problems: &mut Vec<String>) -> Option<LogTarget> {
    let fields = match map.get("log")? {
        Value::Null => return None,
        Value::String(s) if s == "stderr" => return Some(LogTarget::Stderr),
        Value::Object(fields) => fields,
        other => {
            let found = match other {
                Value::String(s) => format!("{s:?}"),
                other => kind(other).to_owned(),
            };
            problems.push(format!(
                "\"log\" must be \"stderr\" or an object with \"path\", \"max_bytes\" \
                 and \"backups\", found {found}"
            ));
            return None;
        }
    };
    let before = problems.len();
    unknown_fields("log", fields, FIELDS, problems);
    let path = match fields.get("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => {
            problems.push("\"log.path\" must not be empty".to_owned());
            None
        }
        Some(Value::String(s)) if s.contains('\0') => {
            problems.push("\"log.path\" contains a NUL byte".to_owned());
            None
        }
        // A relative path stays under --log-dir.
        Some(Value::String(s)) if !s.starts_with('/') && s.split('/').any(|c| c == "..") => {
            problems.push(format!(
                "\"log.path\" {s:?}: a relative path must stay in --log-dir (no \"..\")"
            ));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            problems.push(format!(
                "\"log.path\" must be a string, found {}",
                kind(other)
            ));
            None
        }
    };
    let max_bytes = match fields.get("max_bytes") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(0) => {
                problems.push("\"log.max_bytes\" must be at least 1".to_owned());
                None
            }
            Some(n) => Some(n),
            None if v.as_i64().is_some_and(|n| n < 0) => {
                problems.push(format!("\"log.max_bytes\" must be at least 1, found {v}"));
                None
            }
            None => {
                problems.push(format!(
                    "\"log.max_bytes\" must be an integer of at least 1, found {}",
                    shown(v)
                ));
                None
            }
        },
    };
    let backups = match fields.get("backups") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None if v.as_i64().is_some_and(|n| n < 0) => {
                problems.push(format!("\"log.backups\" must not be negative, found {v}"));
                None
            }
            None => {
                problems.push(format!(
                    "\"log.backups\" must be an integer from 0 to {}, found {}",
                    u32::MAX,
                    shown(v)
                ));
                None
            }
        },
    };
    (problems.len() == before).then_some(LogTarget::File {
        path,
        max_bytes,
        backups,
    })
}

/// A value as a problem shows it: numbers as written, others by kind.
fn shown(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(json: &str) -> (Option<LogTarget>, Vec<String>) {
        let value: Value = serde_json::from_str(json).expect("test JSON");
        let Value::Object(map) = value else {
            panic!("test JSON is an object")
        };
        let mut problems = Vec::new();
        let target = parse(&map, &mut problems);
        (target, problems)
    }

    fn problems(json: &str) -> Vec<String> {
        let (target, problems) = parsed(json);
        assert_eq!(target, None, "{json} parsed despite {problems:?}");
        assert!(!problems.is_empty(), "{json} has no problem");
        problems
    }

    #[test]
    fn absent_or_null_is_the_monitors_default() {
        assert_eq!(parsed("{}"), (None, vec![]));
        assert_eq!(parsed(r#"{"log": null}"#), (None, vec![]));
    }

    #[test]
    fn stderr_and_objects_parse() {
        assert_eq!(
            parsed(r#"{"log": "stderr"}"#),
            (Some(LogTarget::Stderr), vec![])
        );
        assert_eq!(
            parsed(r#"{"log": {}}"#),
            (
                Some(LogTarget::File {
                    path: None,
                    max_bytes: None,
                    backups: None
                }),
                vec![]
            )
        );
        assert_eq!(
            parsed(r#"{"log": {"path": "/var/log/web.log", "max_bytes": 10485760, "backups": 0}}"#),
            (
                Some(LogTarget::File {
                    path: Some("/var/log/web.log".into()),
                    max_bytes: Some(10_485_760),
                    backups: Some(0)
                }),
                vec![]
            )
        );
        assert_eq!(
            parsed(r#"{"log": {"path": "web/out.log", "max_bytes": 1, "backups": null}}"#).0,
            Some(LogTarget::File {
                path: Some("web/out.log".into()),
                max_bytes: Some(1),
                backups: None
            })
        );
    }

    #[test]
    fn bad_sections_name_the_key() {
        assert_eq!(
            problems(r#"{"log": {"max_bytes": 0}}"#),
            ["\"log.max_bytes\" must be at least 1"]
        );
        assert_eq!(
            problems(r#"{"log": {"max_bytes": -5}}"#),
            ["\"log.max_bytes\" must be at least 1, found -5"]
        );
        assert_eq!(
            problems(r#"{"log": {"max_bytes": "10M"}}"#),
            ["\"log.max_bytes\" must be an integer of at least 1, found a string"]
        );
        assert_eq!(
            problems(r#"{"log": {"max_bytes": 1.5}}"#),
            ["\"log.max_bytes\" must be an integer of at least 1, found 1.5"]
        );
        assert_eq!(
            problems(r#"{"log": {"backups": -1}}"#),
            ["\"log.backups\" must not be negative, found -1"]
        );
        assert_eq!(
            problems(r#"{"log": {"backups": true}}"#),
            ["\"log.backups\" must be an integer from 0 to 4294967295, found a boolean"]
        );
        assert_eq!(
            problems(r#"{"log": {"path": 3}}"#),
            ["\"log.path\" must be a string, found a number"]
        );
        assert_eq!(
            problems(r#"{"log": {"path": ""}}"#),
            ["\"log.path\" must not be empty"]
        );
        assert_eq!(
            problems(r#"{"log": {"path": "web/../../x.log"}}"#),
            [
                "\"log.path\" \"web/../../x.log\": a relative path must stay in --log-dir (no \"..\")"
            ]
        );
        assert_eq!(
            problems(r#"{"log": {"pth": "/x", "max": 3}}"#),
            [
                "\"log\" has an unknown field \"max\" (known: \"path\", \"max_bytes\", \"backups\")",
                "\"log\" has an unknown field \"pth\" (known: \"path\", \"max_bytes\", \"backups\")"
            ]
        );
        assert_eq!(
            problems(r#"{"log": "file"}"#),
            [
                "\"log\" must be \"stderr\" or an object with \"path\", \"max_bytes\" and \
                 \"backups\", found \"file\""
            ]
        );
        assert_eq!(
            problems(r#"{"log": 7}"#),
            [
                "\"log\" must be \"stderr\" or an object with \"path\", \"max_bytes\" and \
                 \"backups\", found a number"
            ]
        );
    }

    #[test]
    fn every_problem_of_a_section_is_reported() {
        assert_eq!(
            problems(r#"{"log": {"max_bytes": 0, "backups": -2}}"#).len(),
            2
        );
    }

    #[test]
    fn a_bad_section_makes_the_config_invalid() {
        let err =
            crate::spec::ProcSpec::parse(br#"{"args": ["/bin/true"], "log": {"max_bytes": 0}}"#)
                .expect_err("refused");
        assert_eq!(err.problems, ["\"log.max_bytes\" must be at least 1"]);
        let spec = crate::spec::ProcSpec::parse(br#"{"args": ["/bin/true"], "log": "stderr"}"#)
            .expect("valid");
        assert_eq!(spec.log, Some(LogTarget::Stderr));
    }
}
