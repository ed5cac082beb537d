//! The config directory format: one JSON file per process, named after it.
//!
//! [`ProcSpec::parse`] validates a file's bytes and reports every problem it
//! finds at once, so one log line tells the writer all that is wrong.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod lifecycle;

pub use cycles::{AfterCycle, after_cycles};
pub use lifecycle::{Lifecycle, Restart, STOP_SIGNALS, stop_signal};
pub use log::LogTarget;
pub use ready::{
    DEFAULT_PERIOD, DEFAULT_TIMEOUT, MAX_READY_FD, Ready, ReadyKind, StartOrder, check_after,
    check_http, check_tcp,
};

mod cycles;
mod log;
mod ready;
mod settings;

pub use settings::{
    EnvFile, Limit, NICE_RANGE, Resource, Rlimit, check_cwd, parse_rlimit_assignment, parse_umask,
};

/// A process name: a config file name that the monitor will run.
///
/// Non-empty, no `/`, no control character (a newline or an ESC would reach
/// the log), and not a name the monitor ignores ([`is_ignored`]: a leading
/// `.`, a write in progress, an editor or package-manager leftover).
///
/// Validated once, where a name comes in: the config directory's reader and
/// the message parser (through serde: a string that is not a valid name
/// makes the whole message invalid) produce `Name`s, so nothing past them
/// checks again. Serialized as the plain string.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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
    /// The name contains a control character (newline, ESC, ...).
    #[error("name {0:?} contains a control character")]
    Control(String),
    /// The name looks like an editor backup or swap file, a temporary file or
    /// a package manager's copy (`web~`, `#web#`, `web.swp`, `web.dpkg-old`,
    /// ...), so the monitor would ignore it.
    #[error(
        "name {0:?} looks like an editor or package-manager leftover, which the monitor ignores"
    )]
    Leftover(String),
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
        } else if s.chars().any(char::is_control) {
            Err(NameError::Control(s))
        } else if s.starts_with('.') {
            Err(NameError::Dot(s))
        } else if s.ends_with(".new") {
            Err(NameError::New(s))
        } else if is_ignored(&s) {
            Err(NameError::Leftover(s))
        } else {
            Ok(Name(s))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;

    fn try_from(s: String) -> Result<Self, NameError> {
        Name::new(s)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
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

/// The name endings of files that are not configs: `.new` (a write not yet
/// renamed into place), editor backups and swap files (`~`, `.swp`, `.swx`),
/// temporary and backup copies (`.tmp`, `.bak`, `.orig`, the last one also
/// left by `patch`), and the copies dpkg and rpm leave next to a config they
/// did not overwrite or did replace.
pub const IGNORED_SUFFIXES: &[&str] = &[
    ".new",
    "~",
    ".swp",
    ".swx",
    ".tmp",
    ".bak",
    ".orig",
    ".dpkg-old",
    ".dpkg-new",
    ".dpkg-dist",
    ".rpmnew",
    ".rpmsave",
];

/// Whether a directory entry is skipped by the monitor, the checkers and
/// `ctl status`: dot entries (including a ConfigMap's `..data` and
/// timestamped directories), Emacs auto-save files (`#NAME#`), and names
/// ending in one of [`IGNORED_SUFFIXES`]. `cp web web~` must not start a
/// second copy of `web`.
pub fn is_ignored(file_name: &str) -> bool {
    is_hidden_or_partial(file_name)
        || (file_name.len() >= 2 && file_name.starts_with('#') && file_name.ends_with('#'))
        || IGNORED_SUFFIXES.iter().any(|s| file_name.ends_with(s))
}

/// Whether a directory entry is a dot entry or a write in progress
/// (`*.new`): the entries the messages directory skips. Its other names are
/// messages, whatever they are called (the original's are `NNNMessage.PID`),
/// so editor leftovers there are read and deleted like any message.
pub fn is_hidden_or_partial(file_name: &str) -> bool {
    file_name.starts_with('.') || file_name.ends_with(".new")
}

/// The longest config text, in bytes, that a child can be given: it is
/// passed as `NCOLONY_CONFIG=TEXT`, and Linux limits one environment string
/// (with its NUL) to `MAX_ARG_STRLEN`, 32 pages of 4 KiB (128 KiB); a longer
/// one makes every `execve` fail with "Argument list too long".
pub const MAX_CONFIG_LEN: u64 = 32 * 4096 - "NCOLONY_CONFIG=".len() as u64 - 1;

/// The problem with a config of `len` bytes, if it is too large to pass on
/// in `NCOLONY_CONFIG` (see [`MAX_CONFIG_LEN`]).
pub fn config_too_large(len: u64) -> Option<String> {
    (len > MAX_CONFIG_LEN).then(|| {
        format!(
            "file is {len} bytes, more than the {MAX_CONFIG_LEN} bytes that fit in \
             NCOLONY_CONFIG (Linux limits one environment string to 128 KiB)"
        )
    })
}

/// The top-level keys the monitor reads.
pub const KNOWN_KEYS: &[&str] = &[
    "args",
    "env",
    "env_inherit",
    "uid",
    "gid",
    "group",
    "restart",
    "success_exit_codes",
    "essential",
    "stop_signal",
    "killtime",
    "cwd",
    "umask",
    "rlimits",
    "nice",
    "env_file",
    "log",
    "ready",
    "after",
    "watchdog",
];

/// A top-level key of a config file that the monitor does not read and that
/// is not namespaced (extension keys, such as `ncolony.beatcheck`, contain a
/// `.`): most likely a misspelling. Its `Display` is the warning to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key as written.
    pub key: String,
    /// The known key closest to it, if one is close enough.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown key {:?} (ignored)", self.key)?;
        if let Some(known) = self.suggestion {
            write!(f, "; did you mean {known:?}?")?;
        }
        Ok(())
    }
}

/// How similar (Jaro-Winkler, 0 to 1) a key must be to a known one to be
/// suggested: close enough for a typo, a transposition or a missing `_`
/// (`grup`, `agrs`, `envinherit`), not for an unrelated word.
const SUGGESTION_SIMILARITY: f64 = 0.8;

/// The top-level keys of a config object that are neither read by the
/// monitor ([`KNOWN_KEYS`]) nor namespaced (containing a `.`), sorted, each
/// with the closest known key. `ctl` can warn with the same list.
pub fn unknown_keys(map: &serde_json::Map<String, Value>) -> Vec<UnknownKey> {
    // Sorted whatever the map's order (serde_json's `preserve_order` is a
    // feature some builds turn on), so the warnings are the same for the
    // same text.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys.into_iter()
        .filter(|k| !k.contains('.') && !KNOWN_KEYS.contains(&k.as_str()))
        .map(|k| {
            let lower = k.to_lowercase();
            let suggestion = KNOWN_KEYS
                .iter()
                .map(|known| (strsim::jaro_winkler(&lower, known), *known))
                .filter(|(score, _)| *score >= SUGGESTION_SIMILARITY)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, known)| known);
            UnknownKey {
                key: k.clone(),
                suggestion,
            }
        })
        .collect()
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
    /// How it is restarted and stopped (`restart`, `essential`,
    /// `stop_signal`, `killtime`, ...).
    pub lifecycle: Lifecycle,
    /// The working directory (`"cwd"`, absolute); the monitor's when unset.
    pub cwd: Option<String>,
    /// The file-mode creation mask (`"umask"`); the monitor's when unset.
    pub umask: Option<u32>,
    /// Resource limits to set (`"rlimits"`); the rest are the monitor's.
    pub rlimits: BTreeMap<Resource, Rlimit>,
    /// The nice value (`"nice"`, -20 to 19); the monitor's when unset.
    pub nice: Option<i32>,
    /// Environment files read at each start (`"env_file"`), in order.
    pub env_files: Vec<EnvFile>,
    /// Where its output goes (`"log"`); `None`: the monitor's `--log-dir`, or stderr.
    pub log: Option<LogTarget>,
    /// Start order and readiness (`"ready"`, `"after"`, `"watchdog"`).
    pub order: StartOrder,
    /// The file's exact text, passed to the child as `NCOLONY_CONFIG`.
    pub text: String,
    /// Keys that look misspelled ([`unknown_keys`]); the monitor warns once
    /// per file content and runs the process anyway.
    pub unknown_keys: Vec<UnknownKey>,
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
    /// are allowed and ignored (side programs keep their settings there);
    /// those without a `.` are listed in [`ProcSpec::unknown_keys`]. A text
    /// longer than [`MAX_CONFIG_LEN`] is refused: no child could be given it.
    pub fn parse(bytes: &[u8]) -> Result<Self, SpecError> {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if let Some(problem) = config_too_large(len) {
            return Err(SpecError::one(problem));
        }
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
        let lifecycle = Lifecycle::parse(&map, &mut problems);
        let cwd = settings::cwd(&map, &mut problems);
        let umask = settings::umask(&map, &mut problems);
        let rlimits = settings::rlimits(&map, &mut problems);
        let nice = settings::nice(&map, &mut problems);
        let env_files = settings::env_files(&map, &mut problems);
        let log = log::parse(&map, &mut problems);
        let order = ready::parse(&map, &mut problems);
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
            lifecycle,
            cwd,
            umask,
            rlimits,
            nice,
            env_files,
            log,
            order,
            text,
            unknown_keys: unknown_keys(&map),
        })
    }

    /// The child's full environment: `from_files` (what the `env_file`s
    /// set), then `env`, then `env_inherit` (looked up with `inherited`, ""
    /// when unset), then `NCOLONY_NAME` and `NCOLONY_CONFIG`, each winning
    /// over the ones before. Nothing else from the monitor's environment
    /// reaches the child.
    pub fn child_env(
        &self,
        name: &Name,
        from_files: BTreeMap<String, String>,
        inherited: impl Fn(&str) -> Option<String>,
    ) -> BTreeMap<String, String> {
        let mut env = from_files;
        env.extend(self.env.clone());
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

/// One problem for each field of the object `key` not in `known`, sorted:
/// `"log" has an unknown field "pth" (known: "path", "max_bytes")`.
fn unknown_fields(
    key: &str,
    fields: &serde_json::Map<String, Value>,
    known: &[&str],
    problems: &mut Vec<String>,
) {
    let mut unknown: Vec<&String> = fields
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    unknown.sort();
    let listed: Vec<String> = known.iter().map(|k| format!("{k:?}")).collect();
    for field in unknown {
        problems.push(format!(
            "{key:?} has an unknown field {field:?} (known: {})",
            listed.join(", ")
        ));
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
        let files = BTreeMap::from([
            ("A".to_owned(), "file".to_owned()),
            ("F".to_owned(), "file".to_owned()),
            ("B".to_owned(), "file".to_owned()),
        ]);
        let env = spec.child_env(&name, files, |v| {
            (v == "B").then(|| "from-monitor".to_owned())
        });
        assert_eq!(env["F"], "file");
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "from-monitor");
        assert_eq!(env["UNSET"], "");
        assert_eq!(env["NCOLONY_NAME"], "web");
        assert_eq!(env["NCOLONY_CONFIG"], text);
        assert_eq!(env.len(), 6);
    }

    #[test]
    fn names_are_validated() {
        assert!(Name::new("web-1.conf").is_ok());
        assert!(Name::new("x".repeat(255)).is_ok());
        assert!(Name::new("caf\u{e9}#1").is_ok());
        for bad in ["", "a/b", ".hidden", "..data", "web.new", "a\0b"] {
            assert!(Name::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(is_ignored("..data") && is_ignored("x.new") && !is_ignored("x"));
        // The messages directory skips only dot names and writes in progress.
        assert!(is_hidden_or_partial(".x") && is_hidden_or_partial("x.new"));
        assert!(!is_hidden_or_partial("web~") && !is_hidden_or_partial("1Message.2.tmp"));
    }

    #[test]
    fn editor_and_package_manager_leftovers_are_ignored_and_refused() {
        for leftover in [
            "web~",
            "#web#",
            "web.swp",
            "web.swx",
            "web.tmp",
            "web.bak",
            "web.orig",
            "web.dpkg-old",
            "web.dpkg-new",
            "web.dpkg-dist",
            "web.rpmnew",
            "web.rpmsave",
        ] {
            assert!(is_ignored(leftover), "{leftover:?} not ignored");
            assert_eq!(
                Name::new(leftover),
                Err(NameError::Leftover(leftover.to_owned()))
            );
        }
        for name in [
            "web", "#web", "web#", "web.swp2", "swp", "tmp", "web-bak", "#",
        ] {
            assert!(!is_ignored(name), "{name:?} ignored");
            assert!(Name::new(name).is_ok(), "{name:?} refused");
        }
    }

    #[test]
    fn control_characters_in_names_are_refused_and_escaped() {
        for bad in ["a\nb", "a\x1b[31mred", "tab\there", "del\x7f", "c1\u{85}"] {
            let err = Name::new(bad).expect_err("control character accepted");
            assert_eq!(err, NameError::Control(bad.to_owned()));
            let shown = err.to_string();
            assert!(
                !shown.chars().any(char::is_control),
                "raw control character in {shown:?}"
            );
        }
    }

    #[test]
    fn a_config_too_large_for_ncolony_config_is_refused() {
        // `NCOLONY_CONFIG=` + text + NUL must fit in MAX_ARG_STRLEN.
        assert_eq!(MAX_CONFIG_LEN + 15 + 1, 131_072);
        let pad = |len: usize| {
            let head = r#"{"args": ["x"], "pad": ""#;
            let fill = len - head.len() - 2;
            format!("{head}{}\"}}", "a".repeat(fill))
        };
        let max = usize::try_from(MAX_CONFIG_LEN).expect("small");
        let fits = pad(max);
        assert_eq!(fits.len(), max);
        assert!(ProcSpec::parse(fits.as_bytes()).is_ok());
        let over = pad(max + 1);
        let err = ProcSpec::parse(over.as_bytes()).expect_err("too large");
        assert_eq!(
            err.to_string(),
            "file is 131057 bytes, more than the 131056 bytes that fit in NCOLONY_CONFIG \
             (Linux limits one environment string to 128 KiB)"
        );
        assert_eq!(config_too_large(MAX_CONFIG_LEN), None);
    }

    #[test]
    fn unknown_keys_are_listed_with_the_closest_known_one() {
        let text = r#"{"args": ["x"], "grup": ["g"], "ncolony.beatcheck": {}, "agrs": 1,
                       "envinherit": [], "Env": {}, "comment": "hi", "x.y": 2}"#;
        let spec = ProcSpec::parse(text.as_bytes()).expect("valid");
        let shown: Vec<String> = spec.unknown_keys.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                r#"unknown key "Env" (ignored); did you mean "env"?"#,
                r#"unknown key "agrs" (ignored); did you mean "args"?"#,
                r#"unknown key "comment" (ignored)"#,
                r#"unknown key "envinherit" (ignored); did you mean "env_inherit"?"#,
                r#"unknown key "grup" (ignored); did you mean "group"?"#,
            ]
        );
        let clean = ProcSpec::parse(br#"{"args": ["x"], "group": [], "a.b": 1}"#).expect("valid");
        assert!(clean.unknown_keys.is_empty());
    }

    #[test]
    fn process_settings_parse() {
        let text = r#"{"args": ["x"], "cwd": "/srv/app", "umask": "027", "nice": -5,
                       "rlimits": {"nofile": 4096, "core": "unlimited", "nproc": [10, 20],
                                   "as": [1024, "unlimited"]},
                       "env_file": ["/etc/a.env", "-/etc/b.env"]}"#;
        let spec = ProcSpec::parse(text.as_bytes()).expect("valid");
        assert_eq!(spec.cwd.as_deref(), Some("/srv/app"));
        assert_eq!(spec.umask, Some(0o027));
        assert_eq!(spec.nice, Some(-5));
        let same = |n| Rlimit {
            soft: Limit::Value(n),
            hard: Limit::Value(n),
        };
        assert_eq!(spec.rlimits[&Resource::Nofile], same(4096));
        assert_eq!(
            spec.rlimits[&Resource::Core],
            Rlimit {
                soft: Limit::Unlimited,
                hard: Limit::Unlimited
            }
        );
        assert_eq!(
            spec.rlimits[&Resource::Nproc],
            Rlimit {
                soft: Limit::Value(10),
                hard: Limit::Value(20)
            }
        );
        assert_eq!(spec.rlimits[&Resource::As].hard, Limit::Unlimited);
        assert_eq!(
            spec.env_files,
            [
                EnvFile {
                    path: "/etc/a.env".into(),
                    optional: false
                },
                EnvFile {
                    path: "/etc/b.env".into(),
                    optional: true
                }
            ]
        );
        let one = ProcSpec::parse(br#"{"args": ["x"], "env_file": "/e"}"#).expect("valid");
        assert_eq!(one.env_files.len(), 1);
        let none = ProcSpec::parse(br#"{"args": ["x"], "cwd": null, "nice": null}"#).expect("ok");
        assert!(none.cwd.is_none() && none.nice.is_none() && none.rlimits.is_empty());
        // Every name the README lists is known.
        for r in Resource::ALL {
            assert_eq!(Resource::from_name(r.name()), Some(r));
        }
        assert!(spec.unknown_keys.is_empty());
    }

    #[test]
    fn bad_process_settings_name_their_key() {
        let p = |extra: &str| problems(&format!(r#"{{"args": ["x"], {extra}}}"#));
        assert_eq!(
            p(r#""rlimits": {"nofile": "lots"}"#),
            r#""rlimits"."nofile" must be a non-negative integer, "unlimited" or [soft, hard], found "lots""#
        );
        assert!(p(r#""rlimits": {"nofile": -1}"#).contains("found -1"));
        assert!(p(r#""rlimits": {"nofile": [1, 2, 3]}"#).contains("found [1,2,3]"));
        assert!(p(r#""rlimits": {"nofile": 1.5}"#).contains("\"rlimits\".\"nofile\" must be"));
        assert_eq!(
            p(r#""rlimits": {"nofile": [20, 10]}"#),
            r#""rlimits"."nofile" soft limit 20 is above its hard limit 10"#
        );
        assert_eq!(
            p(r#""rlimits": {"nofile": ["unlimited", 10]}"#),
            r#""rlimits"."nofile" soft limit unlimited is above its hard limit 10"#
        );
        assert!(
            p(r#""rlimits": {"files": 1}"#)
                .starts_with(r#""rlimits" has an unknown limit "files" (known: nofile, nproc"#)
        );
        assert!(p(r#""rlimits": [1]"#).contains("\"rlimits\" must be an object"));
        assert_eq!(
            p(r#""cwd": "srv""#),
            r#""cwd" must be an absolute path, found "srv""#
        );
        assert!(p(r#""cwd": 3"#).contains("\"cwd\" must be an absolute path, found a number"));
        assert!(p(r#""cwd": """#).contains("\"cwd\" must be an absolute path"));
        for bad in [r#""27a""#, r#""""#, r#""8""#, r#""01777""#, r#""1000""#] {
            assert!(
                p(&format!(r#""umask": {bad}"#)).starts_with("\"umask\" must be a string of octal"),
                "{bad}"
            );
        }
        assert!(p(r#""umask": 27"#).ends_with("found 27"));
        assert_eq!(
            p(r#""nice": 20"#),
            r#""nice" must be an integer from -20 to 19, found 20"#
        );
        assert!(p(r#""nice": -21"#).contains("found -21"));
        assert!(p(r#""nice": "5""#).contains(r#"found "5""#));
        assert!(p(r#""nice": 1.0"#).contains("\"nice\" must be"));
        assert_eq!(
            p(r#""env_file": "a.env""#),
            r#""env_file" must be an absolute path (optionally prefixed with "-"), found "a.env""#
        );
        assert!(
            p(r#""env_file": ["/a", "-b"]"#).starts_with("\"env_file[1]\" must be an absolute")
        );
        assert!(
            p(r#""env_file": ["/a", 1]"#)
                .contains("\"env_file[1]\" must be an absolute path, found a number")
        );
        assert!(p(r#""env_file": {}"#).contains("\"env_file\" must be an absolute path or a list"));
    }

    #[test]
    fn umask_and_rlimit_strings_parse() {
        assert_eq!(parse_umask("027"), Ok(0o27));
        assert_eq!(parse_umask("0"), Ok(0));
        assert_eq!(parse_umask("0777"), Ok(0o777));
        assert!(parse_umask("-1").is_err() && parse_umask("0o27").is_err());
        let r = |s: &str| s.parse::<Rlimit>();
        assert_eq!(
            r("1024"),
            Ok(Rlimit {
                soft: Limit::Value(1024),
                hard: Limit::Value(1024)
            })
        );
        assert_eq!(
            r("1:unlimited"),
            Ok(Rlimit {
                soft: Limit::Value(1),
                hard: Limit::Unlimited
            })
        );
        assert_eq!(
            r("unlimited").map(Rlimit::to_json),
            Ok(serde_json::json!("unlimited"))
        );
        assert_eq!(r("1:2").map(Rlimit::to_json), Ok(serde_json::json!([1, 2])));
        assert_eq!(r("5").map(Rlimit::to_json), Ok(serde_json::json!(5)));
        assert!(
            r("2:1")
                .expect_err("soft above hard")
                .contains("above its hard limit")
        );
        assert!(r("lots").is_err() && r("-1").is_err() && r("1:").is_err() && r("").is_err());
        assert_eq!(
            parse_rlimit_assignment("nofile=1:2").map(|(res, _)| res),
            Ok(Resource::Nofile)
        );
        assert!(
            parse_rlimit_assignment("nofiles=1")
                .expect_err("unknown")
                .contains("unknown limit")
        );
        assert!(parse_rlimit_assignment("nofile").is_err());
        assert!(EnvFile::parse("-").is_err() && EnvFile::parse("/a").is_ok());
        assert!(check_cwd("/").is_ok() && check_cwd("./x").is_err());
    }
}
