//! `ncolony ctl` and the library behind it (the original's `ctllib`): add,
//! remove and restart processes by writing a colony's two directories.
//!
//! Everything here only writes files; a running monitor (this one or the
//! original `twistd ncolony`) notices them. A config file is what the
//! original's `ctllib.add` writes, byte for byte, and a message is the JSON
//! the original sends. Every write is atomic: a temporary `.NAME.PID.SEQ.new`
//! sibling is written, flushed and renamed into place.
//!
//! ```
//! use ncolony::ctl::{self, AddOptions, Heartbeat, Places};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let (config, messages) = (tmp.path().join("config"), tmp.path().join("messages"));
//! # std::fs::create_dir(&config)?;
//! # std::fs::create_dir(&messages)?;
//! let places = Places::new(&config, &messages);
//! let web = AddOptions::new("/usr/bin/python3")
//!     .arg("-m")
//!     .arg("http.server")
//!     .env("PYTHONUNBUFFERED", "1")
//!     .group("frontends")
//!     .heartbeat(Heartbeat::new("/run/beats"));
//! ctl::add(&places, "web", &web)?;
//! assert_eq!(
//!     std::fs::read_to_string(config.join("web"))?,
//!     r#"{"args": ["/usr/bin/python3", "-m", "http.server"], "env": {"PYTHONUNBUFFERED": "1"}, "#.to_owned()
//!         + r#""group": ["frontends"], "ncolony.beatcheck": {"status": "/run/beats", "period": 10, "grace": 3}}"#
//! );
//!
//! ctl::restart(&places, "web")?; // {"type": "RESTART", "name": "web"}
//! ctl::restart_group(&places, "frontends")?;
//! ctl::restart_all(&places)?;
//! let listed = ctl::status(&places, None)?;
//! assert_eq!(listed[0].name, "web");
//! ctl::remove(&places, "web")?;
//! # Ok(())
//! # }
//! ```

mod cli;
mod pyjson;
mod status;
mod write;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ncolony_core::Message;
use ncolony_core::spec::{self, Name, NameError, ProcSpec, SpecError};
use serde_json::{Map, Value, json};

pub use cli::{CtlArgs, run};
pub use status::{ProcState, ProcStatus, status};

/// Where a colony's two directories are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Places {
    /// The config directory: one JSON file per process.
    pub config: PathBuf,
    /// The messages directory: restart requests.
    pub messages: PathBuf,
}

impl Places {
    /// A colony with this config directory and this messages directory.
    pub fn new(config: impl Into<PathBuf>, messages: impl Into<PathBuf>) -> Self {
        Places {
            config: config.into(),
            messages: messages.into(),
        }
    }
}

/// Why a ctl operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlError {
    /// The process name could not be a config file the monitor runs.
    #[error("invalid NAME {name:?}")]
    Name {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        #[source]
        source: NameError,
    },
    /// A restart group name is empty.
    #[error("invalid group {0:?}: a group name must not be empty")]
    Group(String),
    /// An `--env` setting is not `KEY=VALUE` with a non-empty KEY.
    #[error("invalid --env {0:?}: expected KEY=VALUE with a non-empty KEY")]
    Env(String),
    /// An extras file could not be read.
    #[error("reading --extras file {}", path.display())]
    ReadExtras {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Extras are not a JSON object.
    #[error("--extras {origin}: {problem}")]
    Extras {
        /// The file name, or "text" for extras given as a string.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// A number option is out of range.
    #[error("invalid {what}: {problem}")]
    Value {
        /// The option, e.g. `--heartbeat-period`.
        what: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The config would not be accepted by the monitor, so it is not written.
    #[error("the config for {name:?} would be refused by the monitor")]
    Invalid {
        /// The process name.
        name: String,
        /// Every problem with the config.
        #[source]
        source: SpecError,
    },
    /// One of the two directories is missing or unusable.
    #[error("{which} directory {}", path.display())]
    Dir {
        /// `config` or `messages`.
        which: &'static str,
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// One of the two directories is not a directory.
    #[error("{which} directory {} is not a directory", path.display())]
    NotDir {
        /// `config` or `messages`.
        which: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// `remove` was asked for a process that has no config file.
    #[error("no process {name:?} is configured in {}", dir.display())]
    NotConfigured {
        /// The name.
        name: String,
        /// The config directory.
        dir: PathBuf,
    },
    /// `--cmd` is a relative path, which the monitor would resolve against
    /// its own working directory, not ctl's.
    #[error(
        "invalid --cmd {cmd:?}: a relative path is resolved in the monitor's working directory, \
         not this one; give an absolute path{} or a bare name to look up on PATH",
        absolute.as_ref().map(|p| format!(" such as {:?}", p.display().to_string())).unwrap_or_default()
    )]
    RelativeCmd {
        /// The command as given.
        cmd: String,
        /// What it names from ctl's working directory, when that is known.
        absolute: Option<PathBuf>,
    },
    /// Reading or writing a file failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done, e.g. `writing`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

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

    fn to_json(self) -> Value {
        match self {
            Number::Int(i) => i.into(),
            // A non-finite float becomes `null` (serde_json has no NaN);
            // `add` refuses those (`check`) before anything is written.
            Number::Float(f) => f.into(),
        }
    }

    fn check(self, what: &'static str, zero_ok: bool) -> Result<(), CtlError> {
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

/// Heartbeat checking for a process (`"ncolony.beatcheck"`), read by
/// `ncolony beatcheck` and the heart: restart the process when `status` has
/// not been touched for `period` seconds, once `period * grace` seconds have
/// passed since its config changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    /// The status file the process touches, or a directory holding one file
    /// per process name. Use an absolute path: the checker resolves it.
    pub status: String,
    /// Seconds without a beat after which the process is restarted.
    pub period: Number,
    /// How many periods a freshly configured process is given to start beating.
    pub grace: Number,
}

impl Heartbeat {
    /// Heartbeats on `status`, with the default period (10) and grace (3).
    pub fn new(status: impl Into<String>) -> Self {
        Heartbeat {
            status: status.into(),
            period: Number::Int(10),
            grace: Number::Int(3),
        }
    }

    /// Sets the period, in seconds.
    pub fn period(mut self, period: impl Into<Number>) -> Self {
        self.period = period.into();
        self
    }

    /// Sets the grace, in periods.
    pub fn grace(mut self, grace: impl Into<Number>) -> Self {
        self.grace = grace.into();
        self
    }

    fn check(&self) -> Result<(), CtlError> {
        self.period.check("--heartbeat-period", false)?;
        self.grace.check("--heartbeat-grace", true)
    }

    fn to_json(&self) -> Value {
        json!({
            "status": self.status,
            "period": self.period.to_json(),
            "grace": self.grace.to_json(),
        })
    }
}

/// HTTP health checking for a process (`"ncolony.httpcheck"`), read by
/// `ncolony httpcheck`: GET `url` every `period` seconds (giving up after
/// `timeout`), starting `grace` periods after the config changed, and restart
/// the process after more than `max_bad` failures in a row.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpCheck {
    /// The URL to GET.
    pub url: String,
    /// Seconds between checks.
    pub period: Number,
    /// Seconds before a check counts as failed.
    pub timeout: Number,
    /// Periods to wait before the first check.
    pub grace: Number,
    /// Failures in a row that are tolerated (`maxBad`).
    pub max_bad: u32,
}

impl HttpCheck {
    /// Checks `url` with the defaults: period 10, timeout 5, grace 3, max bad 2.
    pub fn new(url: impl Into<String>) -> Self {
        HttpCheck {
            url: url.into(),
            period: Number::Int(10),
            timeout: Number::Int(5),
            grace: Number::Int(3),
            max_bad: 2,
        }
    }

    /// Sets the period, in seconds.
    pub fn period(mut self, period: impl Into<Number>) -> Self {
        self.period = period.into();
        self
    }

    /// Sets the timeout, in seconds.
    pub fn timeout(mut self, timeout: impl Into<Number>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Sets the grace, in periods.
    pub fn grace(mut self, grace: impl Into<Number>) -> Self {
        self.grace = grace.into();
        self
    }

    /// Sets how many failures in a row are tolerated.
    pub fn max_bad(mut self, max_bad: u32) -> Self {
        self.max_bad = max_bad;
        self
    }

    fn check(&self) -> Result<(), CtlError> {
        if self.url.is_empty() {
            return Err(CtlError::Value {
                what: "--http-check",
                problem: "the URL is empty".to_owned(),
            });
        }
        self.period.check("--http-period", false)?;
        self.timeout.check("--http-timeout", false)?;
        self.grace.check("--http-grace", true)
    }

    fn to_json(&self) -> Value {
        json!({
            "url": self.url,
            "period": self.period.to_json(),
            "timeout": self.timeout.to_json(),
            "grace": self.grace.to_json(),
            "maxBad": self.max_bad,
        })
    }
}

/// What [`add`] writes: the command and everything about how to run it.
///
/// Keys appear in the file in the original's order: `args`, `env`, `uid`,
/// `gid`, `env_inherit`, then `group`, `ncolony.beatcheck`,
/// `ncolony.httpcheck`, then the extras. A key is only written when it was
/// set (`env` after the first [`env`](Self::env), and so on). Extras are
/// merged last and win over every other key, as in the original.
#[derive(Clone, Debug)]
pub struct AddOptions {
    cmd: String,
    args: Vec<String>,
    env: Option<Vec<(String, String)>>,
    uid: Option<u32>,
    gid: Option<u32>,
    env_inherit: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    heartbeat: Option<Heartbeat>,
    http_check: Option<HttpCheck>,
    extras: Map<String, Value>,
}

impl AddOptions {
    /// Runs the executable `cmd` (`args[0]`) with no arguments.
    pub fn new(cmd: impl Into<String>) -> Self {
        AddOptions {
            cmd: cmd.into(),
            args: Vec::new(),
            env: None,
            uid: None,
            gid: None,
            env_inherit: None,
            groups: None,
            heartbeat: None,
            http_check: None,
            extras: Map::new(),
        }
    }

    /// Appends one command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable of the child; setting a key again
    /// replaces its value.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        let env = self.env.get_or_insert_with(Vec::new);
        match env.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => env.push((key, value)),
        }
        self
    }

    /// Sets an environment variable from `KEY=VALUE` (split at the first `=`),
    /// as `--env` does.
    pub fn env_assignment(self, assignment: &str) -> Result<Self, CtlError> {
        match assignment.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok(self.env(key, value)),
            _ => Err(CtlError::Env(assignment.to_owned())),
        }
    }

    /// Runs the process as this user id (the monitor must be root).
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the process as this group id (the monitor must be root).
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// Copies the variable `var` from the monitor's environment.
    pub fn env_inherit(mut self, var: impl Into<String>) -> Self {
        self.env_inherit
            .get_or_insert_with(Vec::new)
            .push(var.into());
        self
    }

    /// Adds the process to restart group `group`.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.groups.get_or_insert_with(Vec::new).push(group.into());
        self
    }

    /// Enables heartbeat checking (`"ncolony.beatcheck"`).
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    /// Enables HTTP health checking (`"ncolony.httpcheck"`).
    pub fn http_check(mut self, check: HttpCheck) -> Self {
        self.http_check = Some(check);
        self
    }

    /// Sets one extra key, which wins over any other setting of that key.
    pub fn extra(mut self, key: impl Into<String>, value: &serde_json::Value) -> Self {
        self.extras.insert(key.into(), value.clone());
        self
    }

    /// Merges the keys of a JSON object, in their order, into the extras.
    pub fn extras_json(self, text: &str) -> Result<Self, CtlError> {
        self.merge_extras("text".to_owned(), text)
    }

    /// Merges the JSON object in `path` into the extras, as `--extras` does.
    pub fn extras_file(self, path: impl AsRef<Path>) -> Result<Self, CtlError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| CtlError::ReadExtras {
            path: path.to_owned(),
            source,
        })?;
        self.merge_extras(path.display().to_string(), &text)
    }

    fn merge_extras(mut self, origin: String, text: &str) -> Result<Self, CtlError> {
        let value: Value = serde_json::from_str(text).map_err(|e| CtlError::Extras {
            origin: origin.clone(),
            problem: format!("invalid JSON: {e}"),
        })?;
        match value {
            Value::Object(obj) => {
                // Like `dict.update`: a key already there keeps its place.
                self.extras.extend(obj);
                Ok(self)
            }
            other => Err(CtlError::Extras {
                origin,
                problem: format!("expected a JSON object, found {}", spec::kind(&other)),
            }),
        }
    }

    /// The config file's text, byte-identical to what the original's
    /// `ctllib.add` writes for the same settings (with `group` and the
    /// checkers passed to it as extras).
    pub fn config_text(&self) -> String {
        let mut details = Map::new();
        let args = std::iter::once(&self.cmd).chain(&self.args);
        details.insert("args".into(), args.cloned().collect());
        if let Some(env) = &self.env {
            let vars = env
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())));
            details.insert("env".into(), vars.collect());
        }
        if let Some(uid) = self.uid {
            details.insert("uid".into(), uid.into());
        }
        if let Some(gid) = self.gid {
            details.insert("gid".into(), gid.into());
        }
        if let Some(vars) = &self.env_inherit {
            details.insert("env_inherit".into(), vars.clone().into());
        }
        if let Some(groups) = &self.groups {
            details.insert("group".into(), groups.clone().into());
        }
        if let Some(heartbeat) = &self.heartbeat {
            details.insert("ncolony.beatcheck".into(), heartbeat.to_json());
        }
        if let Some(check) = &self.http_check {
            details.insert("ncolony.httpcheck".into(), check.to_json());
        }
        // Like `dict.update`: an extra replaces a key in its place.
        details.extend(self.extras.clone());
        pyjson::dumps(&details)
    }

    fn check(&self) -> Result<(), CtlError> {
        for group in self.groups.iter().flatten() {
            check_group(group)?;
        }
        if let Some(heartbeat) = &self.heartbeat {
            heartbeat.check()?;
        }
        if let Some(check) = &self.http_check {
            check.check()?;
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<Name, CtlError> {
    Name::new(name).map_err(|source| CtlError::Name {
        name: name.to_owned(),
        source,
    })
}

fn check_group(group: &str) -> Result<(), CtlError> {
    if group.is_empty() {
        Err(CtlError::Group(group.to_owned()))
    } else {
        Ok(())
    }
}

/// Checks that `path` is an existing directory.
fn check_dir(which: &'static str, path: &Path) -> Result<(), CtlError> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(CtlError::NotDir {
            which,
            path: path.to_owned(),
        }),
        Err(source) => Err(CtlError::Dir {
            which,
            path: path.to_owned(),
            source,
        }),
    }
}

/// Adds (or reconfigures) process `name`: writes `CONFIG/NAME` atomically and
/// returns its path. A config the monitor would refuse (say, extras that
/// replace `args` with a number) is not written.
pub fn add(places: &Places, name: &str, options: &AddOptions) -> Result<PathBuf, CtlError> {
    let name = check_name(name)?;
    options.check()?;
    check_dir("config", &places.config)?;
    let text = options.config_text();
    ProcSpec::parse(text.as_bytes()).map_err(|source| CtlError::Invalid {
        name: name.to_string(),
        source,
    })?;
    crate::atomic::write_atomic(&places.config, name.as_str(), text.as_bytes()).map_err(|source| {
        CtlError::Io {
            action: "writing",
            path: places.config.join(name.as_str()),
            source,
        }
    })
}

/// Removes process `name`: deletes its config file, which stops it.
/// It is an error if there is no such file, as in the original.
pub fn remove(places: &Places, name: &str) -> Result<(), CtlError> {
    let name = check_name(name)?;
    check_dir("config", &places.config)?;
    let path = places.config.join(name.as_str());
    match fs::remove_file(&path) {
        Ok(()) => {
            crate::atomic::sync_dir(&places.config);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CtlError::NotConfigured {
            name: name.to_string(),
            dir: places.config.clone(),
        }),
        Err(source) => Err(CtlError::Io {
            action: "removing",
            path,
            source,
        }),
    }
}

/// Asks the monitor to restart process `name` (`{"type": "RESTART", ...}`).
/// Returns the message file's path.
pub fn restart(places: &Places, name: &str) -> Result<PathBuf, CtlError> {
    let name = check_name(name)?;
    send(places, &Message::Restart { name })
}

/// Asks the monitor to restart every process (`{"type": "RESTART-ALL"}`).
pub fn restart_all(places: &Places) -> Result<PathBuf, CtlError> {
    send(places, &Message::RestartAll)
}

/// Asks the monitor to restart every process in `group`
/// (`{"type": "RESTART-GROUP", "group": ...}`).
pub fn restart_group(places: &Places, group: &str) -> Result<PathBuf, CtlError> {
    check_group(group)?;
    send(
        places,
        &Message::RestartGroup {
            group: group.to_owned(),
        },
    )
}

/// Why a restart of `name` will likely do nothing, in one line naming the
/// config directory: no such config, an invalid one, or an unreadable
/// directory. `None` when `name` is configured and valid.
pub(crate) fn unconfigured_name(places: &Places, name: &str) -> Option<String> {
    let dir = places.config.display();
    match status::configs(places) {
        Err(e) => Some(format!(
            "could not check that {name:?} is configured: {:#}",
            anyhow::Error::new(e)
        )),
        Ok(list) => match list.into_iter().find(|(n, _)| n == name) {
            None => Some(format!("no process {name:?} is configured in {dir}")),
            Some((_, Err(problem))) => Some(format!(
                "the config of {name:?} in {dir} is invalid ({problem}), so the monitor does not run it"
            )),
            Some((_, Ok(_))) => None,
        },
    }
}

/// Like [`unconfigured_name`], for a restart group: `None` when some valid
/// config puts a process in `group`.
pub(crate) fn unconfigured_group(places: &Places, group: &str) -> Option<String> {
    let dir = places.config.display();
    match status::configs(places) {
        Err(e) => Some(format!(
            "could not check that group {group:?} has processes: {:#}",
            anyhow::Error::new(e)
        )),
        Ok(list) => {
            let in_group = |spec: &ProcSpec| spec.groups.iter().any(|g| g == group);
            if list
                .iter()
                .any(|(_, spec)| spec.as_ref().is_ok_and(in_group))
            {
                None
            } else {
                Some(format!(
                    "no process configured in {dir} is in group {group:?}"
                ))
            }
        }
    }
}

/// The message as the original writes it (`json.dumps` of a dict).
/// `Message`'s serde form is the original's dict: `type` first, then fields.
fn message_text(message: &Message) -> String {
    pyjson::dumps(message)
}

/// Drops `message` into the messages directory under a name that sorts in
/// send order.
fn send(places: &Places, message: &Message) -> Result<PathBuf, CtlError> {
    let dir = &places.messages;
    check_dir("messages", dir)?;
    let io_error = |source| CtlError::Io {
        action: "writing a message in",
        path: dir.clone(),
        source,
    };
    let file = write::message_name(dir).map_err(io_error)?;
    crate::atomic::write_atomic(dir, &file, message_text(message).as_bytes()).map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_written_like_the_original() {
        for (m, text) in [
            (
                Message::Restart {
                    name: Name::new("web").expect("valid name"),
                },
                r#"{"type": "RESTART", "name": "web"}"#,
            ),
            (Message::RestartAll, r#"{"type": "RESTART-ALL"}"#),
            (
                Message::RestartGroup { group: "fe".into() },
                r#"{"type": "RESTART-GROUP", "group": "fe"}"#,
            ),
        ] {
            assert_eq!(message_text(&m), text);
            assert_eq!(Message::parse(text.as_bytes()).expect("parses"), m);
        }
    }

    #[test]
    fn config_keys_come_in_the_original_order() {
        let options = AddOptions::new("/bin/x")
            .extras_json(r#"{"zz": 1, "args": ["/bin/y"]}"#)
            .expect("valid extras")
            .group("g")
            .env_inherit("HOME")
            .gid(2)
            .uid(1)
            .env("B", "1")
            .env("A", "2")
            .env("B", "3")
            .http_check(HttpCheck::new("http://x/").period(2.5).max_bad(0))
            .heartbeat(Heartbeat::new("/s").grace(0));
        assert_eq!(
            options.config_text(),
            concat!(
                r#"{"args": ["/bin/y"], "env": {"B": "3", "A": "2"}, "uid": 1, "gid": 2, "#,
                r#""env_inherit": ["HOME"], "group": ["g"], "#,
                r#""ncolony.beatcheck": {"status": "/s", "period": 10, "grace": 0}, "#,
                r#""ncolony.httpcheck": {"url": "http://x/", "period": 2.5, "timeout": 5, "#,
                r#""grace": 3, "maxBad": 0}, "zz": 1}"#
            )
        );
    }

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

    #[test]
    fn env_assignments_split_at_the_first_equals() {
        let o = AddOptions::new("x")
            .env_assignment("A=b=c")
            .expect("valid")
            .env_assignment("E=")
            .expect("valid");
        assert_eq!(
            o.config_text(),
            r#"{"args": ["x"], "env": {"A": "b=c", "E": ""}}"#
        );
        assert!(matches!(
            AddOptions::new("x").env_assignment("NOEQUALS"),
            Err(CtlError::Env(_))
        ));
        assert!(matches!(
            AddOptions::new("x").env_assignment("=v"),
            Err(CtlError::Env(_))
        ));
    }
}
