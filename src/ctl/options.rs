//! The builder of a config file: [`AddOptions`] and the checkers' sections
//! ([`Heartbeat`], [`HttpCheck`]).

use std::fs;
use std::path::Path;

use ncolony_core::spec::{self, Resource, Rlimit};
use serde_json::{Map, Value, json};

use super::{CtlError, Number, pyjson};

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

/// How a process says it is ready (`"ready"`): one kind, and optionally
/// `period` (polled kinds) and `timeout`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadyCheck {
    kind: spec::ReadyKind,
    period: Option<Number>,
    timeout: Option<Number>,
}

impl ReadyCheck {
    /// With this kind, the monitor's default period (1) and timeout (60).
    pub fn new(kind: spec::ReadyKind) -> Self {
        ReadyCheck {
            kind,
            period: None,
            timeout: None,
        }
    }

    /// Sets the seconds between two checks (`file`, `tcp`, `http`, `exec`).
    pub fn period(mut self, period: impl Into<Number>) -> Self {
        self.period = Some(period.into());
        self
    }

    /// Sets the seconds a start may take to become ready.
    pub fn timeout(mut self, timeout: impl Into<Number>) -> Self {
        self.timeout = Some(timeout.into());
        self
    }

    fn to_json(&self) -> Value {
        use spec::ReadyKind as K;
        let mut obj = Map::new();
        let (key, value): (&str, Value) = match &self.kind {
            K::Notify => ("notify", true.into()),
            K::Fd(n) => ("fd", (*n).into()),
            K::File(path) => ("file", path.as_str().into()),
            K::Tcp(address) => ("tcp", address.as_str().into()),
            K::Http(url) => ("http", url.as_str().into()),
            K::Exec(argv) => ("exec", argv.clone().into()),
        };
        obj.insert(key.into(), value);
        if let Some(period) = self.period {
            obj.insert("period".into(), period.to_json());
        }
        if let Some(timeout) = self.timeout {
            obj.insert("timeout".into(), timeout.to_json());
        }
        Value::Object(obj)
    }
}

/// What [`add`](super::add) writes: the command and everything about how to run it.
///
/// Keys appear in the file in the original's order: `args`, `env`, `uid`,
/// `gid`, `env_inherit`, then `group`, then the process settings (`cwd`,
/// `umask`, `nice`, `rlimits`, `env_file`, `stop_signal`, `killtime`,
/// `restart`, `success_exit_codes`, `essential`), then start order and
/// readiness (`after`, `ready`, `watchdog`), then `ncolony.beatcheck`,
/// `ncolony.httpcheck`, then the extras. A key is only written when it was
/// set (`env` after the first [`env`](Self::env), and so on), so a config
/// without the new settings is written exactly as before. Extras are
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
    cwd: Option<String>,
    umask: Option<u32>,
    nice: Option<i32>,
    rlimits: Option<Vec<(Resource, Rlimit)>>,
    env_files: Option<Vec<String>>,
    stop_signal: Option<String>,
    killtime: Option<Number>,
    restart: Option<String>,
    success_exit_codes: Option<Vec<u8>>,
    essential: Option<bool>,
    after: Option<Vec<String>>,
    ready: Option<ReadyCheck>,
    watchdog: Option<Number>,
    heartbeat: Option<Heartbeat>,
    http_check: Option<HttpCheck>,
    extras: Map<String, Value>,
}

/// Checks a stop signal name as the monitor does: one of
/// [`spec::STOP_SIGNALS`], with or without `SIG`.
pub(super) fn check_stop_signal(s: &str) -> Result<(), String> {
    match spec::stop_signal(s) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{s:?} is not a stop signal; one of {} (with or without SIG)",
            spec::STOP_SIGNALS.join(", ")
        )),
    }
}

/// Checks a restart policy as the monitor does: one of [`spec::Restart`]'s words.
pub(super) fn check_restart(s: &str) -> Result<(), String> {
    match spec::Restart::from_word(s) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{s:?} is not a restart policy; one of {}",
            spec::Restart::ALL.map(spec::Restart::as_str).join(", ")
        )),
    }
}

/// Checks a nice value: -20 to 19.
pub(super) fn check_nice(n: i32) -> Result<(), String> {
    if spec::NICE_RANGE.contains(&i64::from(n)) {
        Ok(())
    } else {
        Err(format!("{n} is not a nice value from -20 to 19"))
    }
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
            cwd: None,
            umask: None,
            nice: None,
            rlimits: None,
            env_files: None,
            stop_signal: None,
            killtime: None,
            restart: None,
            success_exit_codes: None,
            essential: None,
            after: None,
            ready: None,
            watchdog: None,
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

    /// Runs the process in this directory (`"cwd"`, an absolute path).
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets the file-mode creation mask (`"umask"`, written as octal
    /// digits: `0o027` is `"027"`).
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }

    /// Sets the nice value (`"nice"`, -20 to 19).
    pub fn nice(mut self, nice: i32) -> Self {
        self.nice = Some(nice);
        self
    }

    /// Sets one resource limit (`"rlimits"`); setting one again replaces it.
    pub fn rlimit(mut self, resource: Resource, limit: Rlimit) -> Self {
        let limits = self.rlimits.get_or_insert_with(Vec::new);
        match limits.iter_mut().find(|(r, _)| *r == resource) {
            Some(slot) => slot.1 = limit,
            None => limits.push((resource, limit)),
        }
        self
    }

    /// Adds an environment file read at each start (`"env_file"`): an
    /// absolute path, `-PATH` when a missing file is fine.
    pub fn env_file(mut self, path: impl Into<String>) -> Self {
        self.env_files
            .get_or_insert_with(Vec::new)
            .push(path.into());
        self
    }

    /// Sets the signal that stops the process (`"stop_signal"`: `TERM`,
    /// `INT`, `QUIT`, `HUP`, `USR1`, `USR2`, `KILL`, `WINCH`, with or
    /// without `SIG`).
    pub fn stop_signal(mut self, signal: impl Into<String>) -> Self {
        self.stop_signal = Some(signal.into());
        self
    }

    /// Sets the seconds between the stop signal and SIGKILL for this
    /// process (`"killtime"`), overriding the monitor's `--killtime`.
    pub fn killtime(mut self, seconds: impl Into<Number>) -> Self {
        self.killtime = Some(seconds.into());
        self
    }

    /// Sets the restart policy (`"restart"`: `always`, `on-failure`, `never`).
    pub fn restart(mut self, policy: impl Into<String>) -> Self {
        self.restart = Some(policy.into());
        self
    }

    /// Adds an exit code that counts as success for `on-failure`
    /// (`"success_exit_codes"`).
    pub fn success_exit_code(mut self, code: u8) -> Self {
        self.success_exit_codes
            .get_or_insert_with(Vec::new)
            .push(code);
        self
    }

    /// Makes the process essential (`"essential"`): once it exits for good,
    /// the monitor stops the colony and exits with its status.
    pub fn essential(mut self, essential: bool) -> Self {
        self.essential = Some(essential);
        self
    }

    /// Starts the process only once `name` is ready (or, for a one-shot
    /// task, has exited successfully) (`"after"`; repeatable).
    pub fn after(mut self, name: impl Into<String>) -> Self {
        self.after.get_or_insert_with(Vec::new).push(name.into());
        self
    }

    /// Sets how the process says it is ready (`"ready"`).
    pub fn ready(mut self, ready: ReadyCheck) -> Self {
        self.ready = Some(ready);
        self
    }

    /// With a `notify` readiness, restarts the process when no
    /// `WATCHDOG=1` comes for this many seconds (`"watchdog"`).
    pub fn watchdog(mut self, seconds: impl Into<Number>) -> Self {
        self.watchdog = Some(seconds.into());
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
        self.insert_settings(&mut details);
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

    /// The process settings, in their order, when set.
    fn insert_settings(&self, details: &mut Map<String, Value>) {
        if let Some(dir) = &self.cwd {
            details.insert("cwd".into(), dir.as_str().into());
        }
        if let Some(mask) = self.umask {
            details.insert("umask".into(), format!("{mask:03o}").into());
        }
        if let Some(nice) = self.nice {
            details.insert("nice".into(), nice.into());
        }
        if let Some(limits) = &self.rlimits {
            let limits = limits
                .iter()
                .map(|(r, l)| (r.name().to_owned(), l.to_json()));
            details.insert("rlimits".into(), Value::Object(limits.collect()));
        }
        if let Some(files) = &self.env_files {
            details.insert("env_file".into(), files.clone().into());
        }
        if let Some(signal) = &self.stop_signal {
            details.insert("stop_signal".into(), signal.as_str().into());
        }
        if let Some(killtime) = self.killtime {
            details.insert("killtime".into(), killtime.to_json());
        }
        if let Some(policy) = &self.restart {
            details.insert("restart".into(), policy.as_str().into());
        }
        if let Some(codes) = &self.success_exit_codes {
            details.insert("success_exit_codes".into(), codes.clone().into());
        }
        if let Some(essential) = self.essential {
            details.insert("essential".into(), essential.into());
        }
        if let Some(names) = &self.after {
            details.insert("after".into(), names.clone().into());
        }
        if let Some(ready) = &self.ready {
            details.insert("ready".into(), ready.to_json());
        }
        if let Some(watchdog) = self.watchdog {
            details.insert("watchdog".into(), watchdog.to_json());
        }
    }

    /// Refuses what the monitor or a checker would refuse: an empty group, a
    /// non-positive period, an empty URL, a relative `cwd`, an unknown stop
    /// signal or restart policy...
    pub(super) fn check(&self) -> Result<(), CtlError> {
        for group in self.groups.iter().flatten() {
            check_group(group)?;
        }
        let value = |what: &'static str| move |problem: String| CtlError::Value { what, problem };
        if let Some(dir) = &self.cwd {
            spec::check_cwd(dir).map_err(value("--cwd"))?;
        }
        if let Some(mask) = self.umask.filter(|m| *m > 0o777) {
            return Err(value("--umask")(format!("{mask:o} is more than 777")));
        }
        if let Some(nice) = self.nice {
            check_nice(nice).map_err(value("--nice"))?;
        }
        for file in self.env_files.iter().flatten() {
            spec::EnvFile::parse(file).map_err(value("--env-file"))?;
        }
        if let Some(signal) = &self.stop_signal {
            check_stop_signal(signal).map_err(value("--stop-signal"))?;
        }
        if let Some(killtime) = self.killtime {
            killtime.check("--killtime", true)?;
        }
        if let Some(policy) = &self.restart {
            check_restart(policy).map_err(value("--restart"))?;
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

/// Refuses an empty restart group name.
pub(super) fn check_group(group: &str) -> Result<(), CtlError> {
    if group.is_empty() {
        Err(CtlError::Group(group.to_owned()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn process_settings_follow_the_original_keys_in_their_order() {
        let limit = |s: &str| s.parse::<Rlimit>().expect("valid");
        let options = AddOptions::new("/bin/x")
            .essential(true)
            .success_exit_code(0)
            .success_exit_code(3)
            .restart("on-failure")
            .killtime(2.5)
            .stop_signal("SIGINT")
            .env_file("/etc/a.env")
            .env_file("-/etc/b.env")
            .rlimit(Resource::Nofile, limit("1"))
            .rlimit(Resource::Core, limit("unlimited"))
            .rlimit(Resource::Nofile, limit("1024:4096"))
            .nice(-5)
            .umask(0o27)
            .cwd("/srv")
            .group("g")
            .env_inherit("HOME")
            .heartbeat(Heartbeat::new("/s"));
        assert_eq!(
            options.config_text(),
            concat!(
                r#"{"args": ["/bin/x"], "env_inherit": ["HOME"], "group": ["g"], "cwd": "/srv", "#,
                r#""umask": "027", "nice": -5, "rlimits": {"nofile": [1024, 4096], "core": "unlimited"}, "#,
                r#""env_file": ["/etc/a.env", "-/etc/b.env"], "stop_signal": "SIGINT", "killtime": 2.5, "#,
                r#""restart": "on-failure", "success_exit_codes": [0, 3], "essential": true, "#,
                r#""ncolony.beatcheck": {"status": "/s", "period": 10, "grace": 3}}"#
            )
        );
        assert!(options.check().is_ok());
        assert_eq!(
            AddOptions::new("x").umask(0).config_text(),
            r#"{"args": ["x"], "umask": "000"}"#
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_the_flag() {
        let refused = |o: AddOptions| match o.check() {
            Err(CtlError::Value { what, problem }) => format!("{what}: {problem}"),
            other => panic!("accepted: {other:?}"),
        };
        let x = || AddOptions::new("x");
        assert_eq!(
            refused(x().cwd("srv")),
            r#"--cwd: must be an absolute path, found "srv""#
        );
        assert!(refused(x().umask(0o1000)).starts_with("--umask"));
        assert!(refused(x().nice(20)).starts_with("--nice: 20 is not a nice value"));
        assert!(refused(x().nice(-21)).starts_with("--nice"));
        assert!(refused(x().env_file("a.env")).starts_with("--env-file: must be an absolute"));
        assert!(refused(x().stop_signal("STOP")).starts_with("--stop-signal: \"STOP\" is not"));
        assert!(refused(x().stop_signal("term")).starts_with("--stop-signal"));
        assert!(refused(x().restart("sometimes")).starts_with("--restart: \"sometimes\""));
        assert!(refused(x().killtime(-1.0)).starts_with("--killtime"));
        for ok in ["TERM", "SIGTERM", "WINCH", "SIGKILL"] {
            assert!(check_stop_signal(ok).is_ok(), "{ok}");
        }
        for ok in spec::Restart::ALL {
            assert!(check_restart(ok.as_str()).is_ok());
        }
    }
}
