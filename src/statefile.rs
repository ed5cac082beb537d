//! The formats of what the monitor publishes in its state directory, shared
//! by the writer (the monitor) and the readers (`ctl status`, `ctl events`
//! and the `ncolony::ctl` library, which return these very types):
//! `status.json` ([`ColonyStatus`]), `events.jsonl` ([`Event`], one a line)
//! and `lock`, which the monitor holds (`flock`) for as long as it runs.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The status snapshot's file name.
pub(crate) const STATUS_FILE: &str = "status.json";
/// The journal's file name; its one backup adds `.1`.
pub(crate) const EVENTS_FILE: &str = "events.jsonl";
/// The journal's backup, the older events.
pub(crate) const EVENTS_BACKUP: &str = "events.jsonl.1";
/// The file the monitor holds locked while it runs.
pub(crate) const LOCK_FILE: &str = "lock";

/// What a colony is doing: its monitor, and every configured process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColonyStatus {
    /// The monitor.
    pub monitor: MonitorStatus,
    /// Every configured process, sorted by name.
    pub processes: Vec<ProcessStatus>,
}

/// The monitor, as the status shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorStatus {
    /// Whether a monitor holds the state directory's lock right now.
    pub running: bool,
    /// Its pid (`None` when none runs).
    pub pid: Option<u32>,
    /// When it started.
    pub since: Option<DateTime<Utc>>,
    /// Its version, as the monitor wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One configured process, as the status shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessStatus {
    /// The process name.
    pub name: String,
    /// `starting`, `running`, `backoff`, `stopping`, `held`, `exited`,
    /// `invalid`, `waiting`; or, with no monitor running, `configured`.
    pub state: String,
    /// Its live child.
    pub pid: Option<i32>,
    /// When its live child started.
    pub since: Option<DateTime<Utc>>,
    /// How many times it was started again since the monitor came up.
    pub restarts: u64,
    /// How its last process ended.
    pub last_exit: Option<LastExit>,
    /// When it starts again, while backing off.
    pub next_start: Option<DateTime<Utc>>,
    /// What is wrong with its config file.
    pub problem: Option<String>,
    /// Its restart policy (`always`), when known.
    pub restart: Option<String>,
    /// Whether its live child is ready (see the `ready` key); false in a
    /// snapshot written before readiness existed.
    #[serde(default)]
    pub ready: bool,
    /// While `waiting`: the names in its `after` that are not ready yet.
    #[serde(default)]
    pub waiting_for: Vec<String>,
    /// The last `STATUS=` text its live child sent on the notify socket.
    #[serde(default)]
    pub status_text: Option<String>,
    /// Where its output goes, as the monitor resolved it when it last
    /// started it: its log file's path, or `stderr`; `None` before that.
    #[serde(default)]
    pub log: Option<String>,
}

/// How a process last ended: `code` or `signal`, when, after how long.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastExit {
    /// Its exit code, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The signal that killed it (`SIGKILL`), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// When it was reaped.
    pub at: DateTime<Utc>,
    /// How long it had run, in seconds.
    pub ran_for: f64,
}

/// One line of the journal: `{"ts", "event", "name", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened.
    pub ts: DateTime<Utc>,
    /// What happened: `spawned`, `exited`, ...
    pub event: String,
    /// The process it concerns; `None` for the monitor's own events.
    #[serde(default)]
    pub name: Option<String>,
    /// The event's other fields (`pid`, `code`, `signal`, `ran_for`, ...).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// Takes the state directory's lock for the monitor's life: `None`, logged,
/// when it cannot (another monitor holds it, or the file cannot be made);
/// supervision does not depend on it.
pub(crate) fn hold_lock(dir: &Path) -> Option<Flock<File>> {
    let path = dir.join(LOCK_FILE);
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) => {
            tracing::error!(
                "{}: {e}; ctl cannot tell that this monitor runs",
                path.display()
            );
            return None;
        }
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Some(lock),
        Err((_, e)) => {
            tracing::error!(
                "{}: {e}; another monitor may be using this state directory",
                path.display()
            );
            None
        }
    }
}

/// Whether a monitor holds the lock in `dir` right now. A missing lock file
/// means none ever ran there.
pub(crate) fn is_locked(dir: &Path) -> io::Result<bool> {
    let file = match File::open(dir.join(LOCK_FILE)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        // Released when dropped: it only tested.
        Ok(_tested) => Ok(false),
        Err((_, Errno::EWOULDBLOCK)) => Ok(true),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_from_before_readiness_still_reads() {
        let old = r#"{"monitor": {"running": true, "pid": 1, "since": null},
            "processes": [{"name": "web", "state": "running", "pid": 7, "since": null,
            "restarts": 0, "last_exit": null, "next_start": null, "problem": null,
            "restart": "always"}]}"#;
        let status: ColonyStatus = serde_json::from_str(old).expect("an old snapshot reads");
        let web = &status.processes[0];
        assert!(!web.ready && web.waiting_for.is_empty() && web.status_text.is_none());
    }
}
