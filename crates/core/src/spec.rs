//! The config directory format: one JSON file per process, named after it.
//!
//! [`ProcSpec::parse`] validates a file's bytes and reports every problem it
//! finds at once, so one log line tells the writer all that is wrong.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// A process name: a config file name that the monitor will run.
///
/// Non-empty, no `/`, no NUL, no leading `.` (hidden files and a Kubernetes
/// ConfigMap's `..data` entries), and not ending in `.new` (a write in progress).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is the empty string.
    #[error("name is empty")]
    Empty,
    /// The name contains a `/`.
    #[error("name {0:?} contains '/'")]
    Slash(String),
    /// The name contains a NUL byte.
    #[error("name {0:?} contains a NUL byte")]
    Nul(String),
    /// The name starts with `.`, so the monitor would ignore it.
    #[error("name {0:?} starts with '.', which the monitor ignores")]
    Dot(String),
    /// The name ends with `.new`, so the monitor would ignore it.
    #[error("name {0:?} ends with '.new', which the monitor ignores")]
    New(String),
}

impl Name {
    /// Validates `s` as a process name.
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if s.is_empty() {
            Err(NameError::Empty)
        } else if s.contains('/') {
            Err(NameError::Slash(s))
        } else if s.contains('\0') {
            Err(NameError::Nul(s))
        } else if s.starts_with('.') {
            Err(NameError::Dot(s))
        } else if s.ends_with(".new") {
            Err(NameError::New(s))
        } else {
            Ok(Name(s))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Whether a directory entry is skipped by the monitor and the checkers:
/// dot entries (including a ConfigMap's `..data` and timestamped directories)
/// and `.new` files that a writer has not yet renamed into place.
pub fn is_ignored(file_name: &str) -> bool {
    file_name.starts_with('.') || file_name.ends_with(".new")
}

/// A validated process configuration: what to run and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcSpec {
    /// `args[0]` is the executable, the rest its argv; never empty.
    pub args: Vec<String>,
    /// The child's environment before `env_inherit` and the `NCOLONY_*` variables.
    pub env: BTreeMap<String, String>,
    /// Variables copied from the monitor's environment ("" when unset).
    pub env_inherit: Vec<String>,
    /// Run as this user id (the monitor must be root).
    pub uid: Option<u32>,
    /// Run as this group id (the monitor must be root).
    pub gid: Option<u32>,
    /// The restart groups this process belongs to.
    pub groups: Vec<String>,
    /// The file's exact text, passed to the child as `NCOLONY_CONFIG`.
    pub text: String,
}

/// Every problem found in one config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("; "))]
pub struct SpecError {
    /// One lowercase fragment per problem, e.g. `"args" is missing`.
    pub problems: Vec<String>,
}

impl SpecError {
    fn one(problem: impl Into<String>) -> Self {
        SpecError {
            problems: vec![problem.into()],
        }
    }
}

impl ProcSpec {
    /// Parses and validates a config file's bytes.
    ///
    /// Keys other than `args`, `env`, `env_inherit`, `uid`, `gid` and `group`
    /// are allowed and ignored (side programs keep their settings there).
    pub fn parse(bytes: &[u8]) -> Result<Self, SpecError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| SpecError::one(format!("not UTF-8: {e}")))?
            .to_owned();
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| SpecError::one(format!("invalid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(SpecError::one(format!(
                "expected a JSON object, found {}",
                kind(&value)
            )));
        };
        let mut problems = Vec::new();
        let args = match map.get("args") {
            None => {
                problems.push("\"args\" is missing".to_owned());
                Vec::new()
            }
            Some(v) => strings(v, "args", &mut problems).unwrap_or_default(),
        };
        if map.contains_key("args") && args.is_empty() && problems.is_empty() {
            problems.push("\"args\" is empty".to_owned());
        }
        if args.first().is_some_and(|a| a.is_empty()) {
            problems.push("\"args[0]\" is an empty string".to_owned());
        }
        let mut env = BTreeMap::new();
        match map.get("env") {
            None | Some(Value::Null) => {}
            Some(Value::Object(vars)) => {
                for (k, v) in vars {
                    match v {
                        Value::String(s) => {
                            check_env_pair(k, s, &mut problems);
                            env.insert(k.clone(), s.clone());
                        }
                        other => problems.push(format!(
                            "\"env\".{k:?} must be a string, found {}",
                            kind(other)
                        )),
                    }
                }
            }
            Some(other) => problems.push(format!(
                "\"env\" must be an object of strings, found {}",
                kind(other)
            )),
        }
        let env_inherit = match map.get("env_inherit") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => strings(v, "env_inherit", &mut problems).unwrap_or_default(),
        };
        for var in &env_inherit {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                problems.push(format!(
                    "\"env_inherit\" has an invalid variable name {var:?}"
                ));
            }
        }
        let uid = id(&map, "uid", &mut problems);
        let gid = id(&map, "gid", &mut problems);
        let groups = match map.get("group") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => strings(v, "group", &mut problems).unwrap_or_default(),
        };
        if !problems.is_empty() {
            return Err(SpecError { problems });
        }
        Ok(ProcSpec {
            args,
            env,
            env_inherit,
            uid,
            gid,
            groups,
            text,
        })
    }

    /// The child's full environment: `env`, then `env_inherit` (looked up with
    /// `inherited`, "" when unset), then `NCOLONY_NAME` and `NCOLONY_CONFIG`.
    /// Nothing else from the monitor's environment reaches the child.
    pub fn child_env(
        &self,
        name: &Name,
        inherited: impl Fn(&str) -> Option<String>,
    ) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        for var in &self.env_inherit {
            env.insert(var.clone(), inherited(var).unwrap_or_default());
        }
        env.insert("NCOLONY_NAME".to_owned(), name.as_str().to_owned());
        env.insert("NCOLONY_CONFIG".to_owned(), self.text.clone());
        env
    }

    /// Whether this process is in restart group `group`.
    pub fn is_in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

fn check_env_pair(k: &str, v: &str, problems: &mut Vec<String>) {
    if k.is_empty() || k.contains('=') || k.contains('\0') {
        problems.push(format!("\"env\" has an invalid variable name {k:?}"));
    }
    if v.contains('\0') {
        problems.push(format!("\"env\".{k:?} contains a NUL byte"));
    }
}

fn strings(v: &Value, key: &str, problems: &mut Vec<String>) -> Option<Vec<String>> {
    let Value::Array(items) = v else {
        problems.push(format!(
            "{key:?} must be a list of strings, found {}",
            kind(v)
        ));
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if s.contains('\0') => {
                problems.push(format!("\"{key}[{i}]\" contains a NUL byte"));
            }
            Value::String(s) => out.push(s.clone()),
            other => problems.push(format!(
                "\"{key}[{i}]\" must be a string, found {}",
                kind(other)
            )),
        }
    }
    Some(out)
}

fn id(map: &serde_json::Map<String, Value>, key: &str, problems: &mut Vec<String>) -> Option<u32> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(id) => Some(id),
            None => {
                problems.push(format!("{key:?} must be a non-negative integer, found {n}"));
                None
            }
        },
        Some(other) => {
            problems.push(format!("{key:?} must be an integer, found {}", kind(other)));
            None
        }
    }
}

/// A JSON value's kind, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> String {
        match ProcSpec::parse(text.as_bytes()) {
            Ok(spec) => panic!("expected an error, parsed {spec:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn minimal_file_parses_and_keeps_its_text() {
        let text = r#"{"args": ["/bin/sleep", "10"], "ncolony.beatcheck": {"period": 3}}"#;
        let spec = ProcSpec::parse(text.as_bytes()).expect("valid");
        assert_eq!(spec.args, ["/bin/sleep", "10"]);
        assert_eq!(spec.text, text);
        assert!(spec.env.is_empty() && spec.uid.is_none() && spec.groups.is_empty());
    }

    #[test]
    fn all_keys_parse() {
        let text = r#"{"args": ["x"], "env": {"A": "1"}, "env_inherit": ["HOME"],
                       "uid": 65534, "gid": 65534, "group": ["web", "all"]}"#;
        let spec = ProcSpec::parse(text.as_bytes()).expect("valid");
        assert_eq!(spec.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(spec.env_inherit, ["HOME"]);
        assert_eq!((spec.uid, spec.gid), (Some(65534), Some(65534)));
        assert!(spec.is_in_group("web") && !spec.is_in_group("db"));
    }

    #[test]
    fn bad_inputs_name_what_is_wrong() {
        assert!(problems("{").contains("invalid JSON"));
        assert!(problems("[]").contains("expected a JSON object, found a list"));
        assert!(problems("{}").contains("\"args\" is missing"));
        assert!(problems(r#"{"args": []}"#).contains("\"args\" is empty"));
        assert!(problems(r#"{"args": "ls"}"#).contains("\"args\" must be a list of strings"));
        assert!(problems(r#"{"args": ["ls", 3]}"#).contains("\"args[1]\" must be a string"));
        assert!(
            problems(r#"{"args": ["ls"], "env": {"A": 1}}"#)
                .contains("\"env\".\"A\" must be a string")
        );
        assert!(problems(r#"{"args": ["ls"], "env": []}"#).contains("\"env\" must be an object"));
        assert!(
            problems(r#"{"args": ["ls"], "uid": "root"}"#).contains("\"uid\" must be an integer")
        );
        assert!(
            problems(r#"{"args": ["ls"], "gid": -1}"#)
                .contains("\"gid\" must be a non-negative integer")
        );
        assert!(
            problems(r#"{"args": ["ls"], "gid": 1.5}"#).contains("\"gid\" must be a non-negative")
        );
        assert!(
            problems(r#"{"args": ["ls"], "group": "web"}"#).contains("\"group\" must be a list")
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = ProcSpec::parse(br#"{"env": 3, "uid": "x"}"#).expect_err("invalid");
        assert_eq!(err.problems.len(), 3, "{err}");
    }

    #[test]
    fn child_env_layers_env_then_inherit_then_ncolony_vars() {
        let text = r#"{"args": ["x"], "env": {"A": "1", "B": "2", "NCOLONY_NAME": "no"},
                       "env_inherit": ["B", "UNSET"]}"#;
        let spec = ProcSpec::parse(text.as_bytes()).expect("valid");
        let name = Name::new("web").expect("valid name");
        let env = spec.child_env(&name, |v| (v == "B").then(|| "from-monitor".to_owned()));
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "from-monitor");
        assert_eq!(env["UNSET"], "");
        assert_eq!(env["NCOLONY_NAME"], "web");
        assert_eq!(env["NCOLONY_CONFIG"], text);
        assert_eq!(env.len(), 5);
    }

    #[test]
    fn names_are_validated() {
        assert!(Name::new("web-1.conf").is_ok());
        for bad in ["", "a/b", ".hidden", "..data", "web.new", "a\0b"] {
            assert!(Name::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(is_ignored("..data") && is_ignored("x.new") && !is_ignored("x"));
    }
}
