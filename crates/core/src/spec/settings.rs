//! The process settings of a config file: `cwd`, `umask`, `rlimits`, `nice`
//! and `env_file`. Each parser reports one problem naming its key; the
//! shell applies the values between fork and exec.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::kind;

/// A resource limit's name, as the `rlimits` key spells it (`RLIMIT_NOFILE`
/// is `nofile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// Open files (`RLIMIT_NOFILE`).
    Nofile,
    /// Processes of the user (`RLIMIT_NPROC`).
    Nproc,
    /// Core file size in bytes (`RLIMIT_CORE`).
    Core,
    /// Address space in bytes (`RLIMIT_AS`).
    As,
    /// Data segment in bytes (`RLIMIT_DATA`).
    Data,
    /// Stack in bytes (`RLIMIT_STACK`).
    Stack,
    /// File size in bytes (`RLIMIT_FSIZE`).
    Fsize,
    /// Locked memory in bytes (`RLIMIT_MEMLOCK`).
    Memlock,
    /// CPU time in seconds (`RLIMIT_CPU`).
    Cpu,
    /// Nice ceiling, 20 - nice (`RLIMIT_NICE`).
    Nice,
    /// Real-time priority (`RLIMIT_RTPRIO`).
    Rtprio,
    /// POSIX message queue bytes (`RLIMIT_MSGQUEUE`).
    Msgqueue,
    /// Queued signals (`RLIMIT_SIGPENDING`).
    Sigpending,
    /// File locks (`RLIMIT_LOCKS`).
    Locks,
    /// Resident set size in bytes (`RLIMIT_RSS`).
    Rss,
}

impl Resource {
    /// Every resource, in the order the README lists them.
    pub const ALL: [Resource; 15] = [
        Resource::Nofile,
        Resource::Nproc,
        Resource::Core,
        Resource::As,
        Resource::Data,
        Resource::Stack,
        Resource::Fsize,
        Resource::Memlock,
        Resource::Cpu,
        Resource::Nice,
        Resource::Rtprio,
        Resource::Msgqueue,
        Resource::Sigpending,
        Resource::Locks,
        Resource::Rss,
    ];

    /// The name in `rlimits` (`nofile`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Nofile => "nofile",
            Resource::Nproc => "nproc",
            Resource::Core => "core",
            Resource::As => "as",
            Resource::Data => "data",
            Resource::Stack => "stack",
            Resource::Fsize => "fsize",
            Resource::Memlock => "memlock",
            Resource::Cpu => "cpu",
            Resource::Nice => "nice",
            Resource::Rtprio => "rtprio",
            Resource::Msgqueue => "msgqueue",
            Resource::Sigpending => "sigpending",
            Resource::Locks => "locks",
            Resource::Rss => "rss",
        }
    }

    /// The resource called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }

    fn known() -> String {
        Resource::ALL.map(Resource::name).join(", ")
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One side of a resource limit: a number or no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// At most this much (`RLIM_INFINITY` is [`Limit::Unlimited`]).
    Value(u64),
    /// No limit (`RLIM_INFINITY`).
    Unlimited,
}

impl Limit {
    /// The value for `setrlimit`, `RLIM_INFINITY` being `u64::MAX`.
    pub fn as_raw(self) -> u64 {
        match self {
            Limit::Value(v) => v,
            Limit::Unlimited => u64::MAX,
        }
    }

    /// The limit as JSON: the number, or `"unlimited"`.
    pub fn to_json(self) -> Value {
        match self {
            Limit::Value(v) => v.into(),
            Limit::Unlimited => "unlimited".into(),
        }
    }

    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) if s == "unlimited" => Some(Limit::Unlimited),
            Value::Number(n) => n.as_u64().map(Limit::Value),
            _ => None,
        }
    }
}

impl FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "unlimited" {
            return Ok(Limit::Unlimited);
        }
        s.parse::<u64>()
            .map(Limit::Value)
            .map_err(|_| format!("{s:?} is not a non-negative integer or \"unlimited\""))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Value(v) => write!(f, "{v}"),
            Limit::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// A resource limit: soft (what applies) and hard (the ceiling), soft never
/// above hard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft limit.
    pub soft: Limit,
    /// The hard limit.
    pub hard: Limit,
}

impl Rlimit {
    /// Soft and hard limits; refused when soft is above hard.
    pub fn new(soft: Limit, hard: Limit) -> Result<Self, String> {
        if soft.as_raw() > hard.as_raw() {
            return Err(format!("soft limit {soft} is above its hard limit {hard}"));
        }
        Ok(Rlimit { soft, hard })
    }

    /// The limit as JSON: one value when soft and hard agree, else
    /// `[soft, hard]`.
    pub fn to_json(self) -> Value {
        if self.soft == self.hard {
            self.soft.to_json()
        } else {
            Value::Array(vec![self.soft.to_json(), self.hard.to_json()])
        }
    }
}

impl FromStr for Rlimit {
    type Err = String;

    /// `N`, `unlimited` (both soft and hard), or `SOFT:HARD`: the form of
    /// `ctl add --rlimit NAME=VALUE`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None => {
                let limit = s.parse()?;
                Ok(Rlimit {
                    soft: limit,
                    hard: limit,
                })
            }
            Some((soft, hard)) => Rlimit::new(soft.parse()?, hard.parse()?),
        }
    }
}

/// Parses `NAME=VALUE` as `ctl add --rlimit` takes it (VALUE as
/// [`Rlimit::from_str`]).
pub fn parse_rlimit_assignment(s: &str) -> Result<(Resource, Rlimit), String> {
    let Some((name, value)) = s.split_once('=') else {
        return Err(format!("{s:?} is not NAME=VALUE"));
    };
    let resource = Resource::from_name(name)
        .ok_or_else(|| format!("unknown limit {name:?}; known: {}", Resource::known()))?;
    Ok((resource, value.parse()?))
}

/// An environment file to read at each start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFile {
    /// The absolute path (without the `-`).
    pub path: String,
    /// Whether a missing file is fine (the path was written `-PATH`).
    pub optional: bool,
}

impl EnvFile {
    /// Parses `PATH` or `-PATH`; the path must be absolute.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (optional, path) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if path.contains('\0') {
            return Err(format!("{s:?} contains a NUL byte"));
        }
        if !path.starts_with('/') {
            return Err(format!(
                "must be an absolute path (optionally prefixed with \"-\"), found {s:?}"
            ));
        }
        Ok(EnvFile {
            path: path.to_owned(),
            optional,
        })
    }
}

/// Parses a umask: a string of one to four octal digits, at most `777`
/// (`"027"`).
pub fn parse_umask(s: &str) -> Result<u32, String> {
    let ok = !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match ok.then(|| u32::from_str_radix(s, 8).ok()).flatten() {
        Some(mask) if mask <= 0o777 => Ok(mask),
        _ => Err(format!(
            "must be a string of octal digits from \"000\" to \"777\" such as \"027\", found {s:?}"
        )),
    }
}

/// Checks a working directory: an absolute path.
pub fn check_cwd(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        Err(format!("{s:?} contains a NUL byte"))
    } else if !s.starts_with('/') {
        Err(format!("must be an absolute path, found {s:?}"))
    } else {
        Ok(())
    }
}

/// The nice values a process may be given.
pub const NICE_RANGE: std::ops::RangeInclusive<i64> = -20..=19;

/// A value as the problem shows it: short values as JSON text, others by kind.
pub(super) fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= 40 {
        text
    } else {
        kind(v).to_owned()
    }
}

/// `"cwd"`: an absolute path.
pub(super) fn cwd(map: &Map<String, Value>, problems: &mut Vec<String>) -> Option<String> {
    match map.get("cwd")? {
        Value::Null => None,
        Value::String(s) => match check_cwd(s) {
            Ok(()) => Some(s.clone()),
            Err(e) => {
                problems.push(format!("\"cwd\" {e}"));
                None
            }
        },
        other => {
            problems.push(format!(
                "\"cwd\" must be an absolute path, found {}",
                kind(other)
            ));
            None
        }
    }
}

/// `"umask"`: a string of octal digits.
pub(super) fn umask(map: &Map<String, Value>, problems: &mut Vec<String>) -> Option<u32> {
    match map.get("umask")? {
        Value::Null => None,
        Value::String(s) => match parse_umask(s) {
            Ok(mask) => Some(mask),
            Err(e) => {
                problems.push(format!("\"umask\" {e}"));
                None
            }
        },
        other => {
            problems.push(format!(
                "\"umask\" must be a string of octal digits such as \"027\", found {}",
                shown(other)
            ));
            None
        }
    }
}

/// `"nice"`: an integer from -20 to 19.
pub(super) fn nice(map: &Map<String, Value>, problems: &mut Vec<String>) -> Option<i32> {
    let v = map.get("nice")?;
    if v.is_null() {
        return None;
    }
    match v.as_i64().filter(|n| NICE_RANGE.contains(n)) {
        Some(n) => i32::try_from(n).ok(),
        None => {
            problems.push(format!(
                "\"nice\" must be an integer from -20 to 19, found {}",
                shown(v)
            ));
            None
        }
    }
}

/// `"rlimits"`: an object from resource names to limits.
pub(super) fn rlimits(
    map: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> BTreeMap<Resource, Rlimit> {
    let mut out = BTreeMap::new();
    let limits = match map.get("rlimits") {
        None | Some(Value::Null) => return out,
        Some(Value::Object(limits)) => limits,
        Some(other) => {
            problems.push(format!(
                "\"rlimits\" must be an object from limit names to limits, found {}",
                kind(other)
            ));
            return out;
        }
    };
    for (name, value) in limits {
        let Some(resource) = Resource::from_name(name) else {
            problems.push(format!(
                "\"rlimits\" has an unknown limit {name:?} (known: {})",
                Resource::known()
            ));
            continue;
        };
        let parsed = match value {
            Value::Array(pair) if pair.len() == 2 => {
                match (Limit::from_json(&pair[0]), Limit::from_json(&pair[1])) {
                    (Some(soft), Some(hard)) => Some(Rlimit::new(soft, hard)),
                    _ => None,
                }
            }
            single => Limit::from_json(single).map(|l| Ok(Rlimit { soft: l, hard: l })),
        };
        match parsed {
            Some(Ok(limit)) => {
                out.insert(resource, limit);
            }
            Some(Err(e)) => problems.push(format!("\"rlimits\".{name:?} {e}")),
            None => problems.push(format!(
                "\"rlimits\".{name:?} must be a non-negative integer, \"unlimited\" or \
                 [soft, hard], found {}",
                shown(value)
            )),
        }
    }
    out
}

/// `"env_file"`: an absolute path or a list of them, each optionally `-`.
pub(super) fn env_files(map: &Map<String, Value>, problems: &mut Vec<String>) -> Vec<EnvFile> {
    let (items, listed) = match map.get("env_file") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::String(s)) => (vec![Value::String(s.clone())], false),
        Some(Value::Array(items)) => (items.clone(), true),
        Some(other) => {
            problems.push(format!(
                "\"env_file\" must be an absolute path or a list of them, found {}",
                kind(other)
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = if listed {
            format!("\"env_file[{i}]\"")
        } else {
            "\"env_file\"".to_owned()
        };
        match item {
            Value::String(s) => match EnvFile::parse(s) {
                Ok(file) => out.push(file),
                Err(e) => problems.push(format!("{key} {e}")),
            },
            other => problems.push(format!(
                "{key} must be an absolute path, found {}",
                kind(other)
            )),
        }
    }
    out
}
