//! The config keys that say how a process is restarted and stopped:
//! `restart`, `success_exit_codes`, `essential`, `stop_signal`, `killtime`.
//! The table (`monitor/table.rs`) decides on them; here they are only read
//! and validated, each bad value one problem naming its key.

use std::time::Duration;

use serde_json::{Map, Value};

use super::kind;
use crate::monitor::{Exit, Sig};

/// When a process that exited is started again (`"restart"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Restart {
    /// `"always"`, the original's behaviour: every exit is restarted.
    #[default]
    Always,
    /// `"on-failure"`: not after an exit whose code is a success code.
    OnFailure,
    /// `"never"`: it stays exited until a RESTART, a START or a new config.
    Never,
}

impl Restart {
    /// Every policy, in the order the README lists them.
    pub const ALL: [Restart; 3] = [Restart::Always, Restart::OnFailure, Restart::Never];

    /// The policy a config file's word names, if it names one.
    pub fn from_word(word: &str) -> Option<Restart> {
        Restart::ALL.into_iter().find(|r| r.as_str() == word)
    }

    /// The word the config file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::Never => "never",
        }
    }
}

/// How a process is restarted and stopped; the defaults are the original's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    /// `"restart"`: which exits are restarted.
    pub restart: Restart,
    /// `"success_exit_codes"` (default `[0]`): the codes `on-failure` takes
    /// for success.
    pub success_exit_codes: Vec<i32>,
    /// `"essential"`: once it exits for good, the whole colony stops and the
    /// monitor exits with its status.
    pub essential: bool,
    /// `"stop_signal"` (default TERM): what stopping it sends first.
    pub stop_signal: Sig,
    /// `"killtime"`: its own time between the stop signal and SIGKILL,
    /// instead of the monitor's `--killtime`.
    pub killtime: Option<Duration>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            restart: Restart::Always,
            success_exit_codes: vec![0],
            essential: false,
            stop_signal: Sig::Term,
            killtime: None,
        }
    }
}

impl Lifecycle {
    /// Whether an exit with `status` is restarted.
    pub fn restarts(&self, status: Exit) -> bool {
        match (self.restart, status) {
            (Restart::Always, _) => true,
            (Restart::OnFailure, _) => !self.is_success(status),
            (Restart::Never, _) => false,
        }
    }

    /// Whether `status` is a success: an exit with one of
    /// `success_exit_codes` (never a signal).
    pub fn is_success(&self, status: Exit) -> bool {
        matches!(status, Exit::Code(code) if self.success_exit_codes.contains(&code))
    }

    /// Reads the keys from a config object, pushing one problem per bad key.
    pub(super) fn parse(map: &Map<String, Value>, problems: &mut Vec<String>) -> Self {
        let mut out = Lifecycle::default();
        match map.get("restart") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => match Restart::from_word(s) {
                Some(restart) => out.restart = restart,
                None => problems.push(format!(
                    "\"restart\" must be \"always\", \"on-failure\" or \"never\", found {s:?}"
                )),
            },
            Some(other) => problems.push(format!(
                "\"restart\" must be \"always\", \"on-failure\" or \"never\", found {}",
                kind(other)
            )),
        }
        match map.get("success_exit_codes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let codes: Option<Vec<i32>> = items
                    .iter()
                    .map(|v| {
                        v.as_u64()
                            .filter(|c| *c <= 255)
                            .and_then(|c| i32::try_from(c).ok())
                    })
                    .collect();
                match codes {
                    Some(codes) => out.success_exit_codes = codes,
                    None => problems.push(format!(
                        "\"success_exit_codes\" must be a list of exit codes (0 to 255), found {}",
                        Value::Array(items.clone())
                    )),
                }
            }
            Some(other) => problems.push(format!(
                "\"success_exit_codes\" must be a list of exit codes (0 to 255), found {}",
                kind(other)
            )),
        }
        match map.get("essential") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => out.essential = *b,
            Some(other) => problems.push(format!(
                "\"essential\" must be true or false, found {}",
                kind(other)
            )),
        }
        match map.get("stop_signal") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => match stop_signal(s) {
                Some(sig) => out.stop_signal = sig,
                None => problems.push(format!(
                    "\"stop_signal\" must be one of {} (with or without SIG), found {s:?}",
                    STOP_SIGNALS.join(", ")
                )),
            },
            Some(other) => problems.push(format!(
                "\"stop_signal\" must be a signal name such as \"TERM\", found {}",
                kind(other)
            )),
        }
        match map.get("killtime") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => match n
                .as_f64()
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            {
                Some(d) => out.killtime = Some(d),
                None => problems.push(format!(
                    "\"killtime\" must be a non-negative number of seconds, found {n}"
                )),
            },
            Some(other) => problems.push(format!(
                "\"killtime\" must be a number of seconds, found {}",
                kind(other)
            )),
        }
        out
    }
}

/// The stop signals a config may name, each also with a `SIG` prefix.
pub const STOP_SIGNALS: [&str; 8] = [
    "TERM", "INT", "QUIT", "HUP", "USR1", "USR2", "KILL", "WINCH",
];

/// A stop signal's name, as `stop_signal` takes it: `TERM` or `SIGTERM`.
pub fn stop_signal(name: &str) -> Option<Sig> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    Some(match bare {
        "TERM" => Sig::Term,
        "INT" => Sig::Int,
        "QUIT" => Sig::Quit,
        "HUP" => Sig::Hup,
        "USR1" => Sig::Usr1,
        "USR2" => Sig::Usr2,
        "KILL" => Sig::Kill,
        "WINCH" => Sig::Winch,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::ProcSpec;
    use super::*;

    fn parse(extra: &str) -> Result<Lifecycle, String> {
        let text = format!(r#"{{"args": ["x"]{extra}}}"#);
        ProcSpec::parse(text.as_bytes())
            .map(|s| s.lifecycle)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_originals() {
        let l = parse("").expect("valid");
        assert_eq!(l, Lifecycle::default());
        assert!(l.restarts(Exit::Code(0)) && l.restarts(Exit::Signal(9)));
    }

    #[test]
    fn every_key_parses() {
        let l = parse(
            r#", "restart": "on-failure", "success_exit_codes": [0, 3], "essential": true,
                "stop_signal": "SIGUSR1", "killtime": 0.5"#,
        )
        .expect("valid");
        assert_eq!(l.restart, Restart::OnFailure);
        assert_eq!(l.success_exit_codes, [0, 3]);
        assert!(l.essential);
        assert_eq!(l.stop_signal, Sig::Usr1);
        assert_eq!(l.killtime, Some(Duration::from_millis(500)));
        assert!(!l.restarts(Exit::Code(3)) && l.restarts(Exit::Code(1)));
        assert!(l.restarts(Exit::Signal(15)));
        assert_eq!(
            parse(r#", "stop_signal": "WINCH""#).map(|l| l.stop_signal),
            Ok(Sig::Winch)
        );
        let never = parse(r#", "restart": "never""#).expect("valid");
        assert!(!never.restarts(Exit::Code(1)) && !never.restarts(Exit::Signal(9)));
    }

    #[test]
    fn each_bad_value_is_one_problem_naming_its_key() {
        for (extra, key) in [
            (r#", "restart": "sometimes""#, "\"restart\""),
            (r#", "restart": 1"#, "\"restart\""),
            (
                r#", "success_exit_codes": [0, 256]"#,
                "\"success_exit_codes\"",
            ),
            (r#", "success_exit_codes": [-1]"#, "\"success_exit_codes\""),
            (r#", "success_exit_codes": ["0"]"#, "\"success_exit_codes\""),
            (r#", "success_exit_codes": 0"#, "\"success_exit_codes\""),
            (r#", "essential": "yes""#, "\"essential\""),
            (r#", "stop_signal": "STOP""#, "\"stop_signal\""),
            (r#", "stop_signal": 15"#, "\"stop_signal\""),
            (r#", "killtime": -1"#, "\"killtime\""),
            (r#", "killtime": "5""#, "\"killtime\""),
        ] {
            let problem = parse(extra).expect_err(extra);
            assert!(problem.starts_with(key), "{extra}: {problem}");
            assert!(
                !problem.contains("; "),
                "{extra}: one problem, got {problem}"
            );
        }
    }
}
