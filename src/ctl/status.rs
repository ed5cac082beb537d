//! `ncolony ctl status`: the configured processes and, given the monitor's
//! `--pid` directory, whether each is running.

use std::fmt;
use std::fs;
use std::path::Path;

use ncolony_core::spec::ProcSpec;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde_json::{Map, Value};

use super::{CtlError, Places, pyjson};

/// One configured process, as [`status`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStatus {
    /// The process name (its config file's name).
    pub name: String,
    /// What is known about it.
    pub state: ProcState,
}

/// The state of a configured process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// The config is valid; no pid directory was given to say more.
    Configured,
    /// The monitor's pid file names a live process.
    Running {
        /// Its pid.
        pid: i32,
    },
    /// There is no pid file, or it names a process that is gone: the monitor
    /// is not running it (it may be between restarts, or not running at all).
    Stopped,
    /// The monitor refuses this config, so it does not run it.
    Invalid {
        /// Every problem, in one line.
        problem: String,
    },
}

impl ProcState {
    /// The state's one-word label: `configured`, `running`, `stopped` or `invalid`.
    pub fn label(&self) -> &'static str {
        match self {
            ProcState::Configured => "configured",
            ProcState::Running { .. } => "running",
            ProcState::Stopped => "stopped",
            ProcState::Invalid { .. } => "invalid",
        }
    }
}

impl fmt::Display for ProcStatus {
    /// `NAME<TAB>STATE`, plus `<TAB>PID` when running or `<TAB>PROBLEM` when
    /// invalid.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\t{}", self.name, self.state.label())?;
        match &self.state {
            ProcState::Running { pid } => write!(f, "\t{pid}"),
            ProcState::Invalid { problem } => write!(f, "\t{problem}"),
            ProcState::Configured | ProcState::Stopped => Ok(()),
        }
    }
}

impl ProcStatus {
    /// The status as a JSON object: `{"name": ..., "state": ...}` plus
    /// `"pid"` or `"problem"`.
    pub fn to_json(&self) -> String {
        pyjson::dumps(&self.json())
    }

    fn json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("name".into(), self.name.as_str().into());
        obj.insert("state".into(), self.state.label().into());
        match &self.state {
            ProcState::Running { pid } => obj.insert("pid".into(), (*pid).into()),
            ProcState::Invalid { problem } => obj.insert("problem".into(), problem.as_str().into()),
            ProcState::Configured | ProcState::Stopped => None,
        };
        Value::Object(obj)
    }
}

/// A list of statuses as a JSON array.
pub(crate) fn to_json_list(list: &[ProcStatus]) -> String {
    pyjson::dumps(&list.iter().map(ProcStatus::json).collect::<Vec<_>>())
}

/// Lists the processes configured in `places.config`, sorted by name, with
/// the entries the monitor skips (dot files, `*.new`, non-files) left out.
///
/// With `pid_dir` (the monitor's `--pid` directory), each valid one is
/// [`ProcState::Running`] or [`ProcState::Stopped`]; without it,
/// [`ProcState::Configured`].
pub fn status(places: &Places, pid_dir: Option<&Path>) -> Result<Vec<ProcStatus>, CtlError> {
    let list = configs(places)?
        .into_iter()
        .map(|(name, spec)| {
            let state = match spec {
                Err(problem) => ProcState::Invalid { problem },
                Ok(_) => match pid_dir {
                    None => ProcState::Configured,
                    Some(dir) => match live_pid(&dir.join(&name)) {
                        Some(pid) => ProcState::Running { pid },
                        None => ProcState::Stopped,
                    },
                },
            };
            ProcStatus { name, state }
        })
        .collect();
    Ok(list)
}

/// A config file's name and what it configures, or, when the monitor would
/// refuse it, the problem in one line.
pub(crate) type Config = (String, Result<ProcSpec, String>);

/// Every config file the monitor would read, sorted by name, its problems
/// in one line.
pub(crate) fn configs(places: &Places) -> Result<Vec<Config>, CtlError> {
    Ok(super::validate::read_configs(places)?
        .into_iter()
        .map(|(name, spec)| (name, spec.map_err(|problems| problems.join("; "))))
        .collect())
}

/// The pid in a pid file, if that process exists.
fn live_pid(pid_file: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    if pid <= 0 {
        return None;
    }
    // Signal 0 checks existence; EPERM means it exists under another user.
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => Some(pid),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json() {
        let running = ProcStatus {
            name: "web".into(),
            state: ProcState::Running { pid: 42 },
        };
        let invalid = ProcStatus {
            name: "db".into(),
            state: ProcState::Invalid {
                problem: "\"args\" is missing".into(),
            },
        };
        assert_eq!(running.to_string(), "web\trunning\t42");
        assert_eq!(invalid.to_string(), "db\tinvalid\t\"args\" is missing");
        assert_eq!(
            to_json_list(&[running, invalid]),
            r#"[{"name": "web", "state": "running", "pid": 42}, {"name": "db", "state": "invalid", "problem": "\"args\" is missing"}]"#
        );
    }
}
