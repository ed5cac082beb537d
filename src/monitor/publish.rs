//! What the monitor publishes in its state directory: the status snapshot
//! (`status.json`, replaced atomically, coalesced to at most one write per
//! [`COALESCE`]) and the journal (`events.jsonl`, appended once per loop
//! wake-up, rotated to `events.jsonl.1` past its size bound).
//!
//! Neither ever stops supervision: a failed write is logged once (again
//! only when the error changes), kept, and retried.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};
use ncolony_core::monitor::view::{EventKind, LifeEvent, ProcView};
use ncolony_core::monitor::{Exit, signal_name};
use ncolony_core::spec::Name;
use serde_json::{Map, Value, json};

use crate::atomic::{Durability, replace};
use crate::statefile::{
    ColonyStatus, EVENTS_BACKUP, EVENTS_FILE, LastExit, MonitorStatus, ProcessStatus, STATUS_FILE,
};

/// The least time between two writes of the status snapshot.
pub(crate) const COALESCE: Duration = Duration::from_millis(100);

/// How long a failing write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Journal lines kept while the journal cannot be written; beyond, new
/// lines are counted and dropped (a full disk must not grow the monitor).
const MAX_PENDING: usize = 1 << 20;

/// Both clocks read at one moment, to put the core's instants in wall time.
#[derive(Clone, Copy)]
pub(crate) struct Clocks {
    instant: Instant,
    wall: SystemTime,
}

impl Clocks {
    /// Reads both clocks now.
    pub(crate) fn now() -> Self {
        Clocks {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The wall-clock time of `at`, to the millisecond (what a reader
    /// needs, and what the journal's `ts` shows).
    pub(crate) fn wall(&self, at: Instant) -> DateTime<Utc> {
        let wall = if at <= self.instant {
            self.wall - (self.instant - at)
        } else {
            self.wall + (at - self.instant)
        };
        DateTime::<Utc>::from(wall).trunc_subsecs(3)
    }
}

/// A write that fails is logged once per distinct error.
#[derive(Default)]
struct Failing(Option<String>);

impl Failing {
    fn failed(&mut self, what: &str, error: &std::io::Error) {
        let error = error.to_string();
        if self.0.as_deref() != Some(error.as_str()) {
            tracing::error!("{what}: {error}; supervision goes on, retrying");
        }
        self.0 = Some(error);
    }

    fn succeeded(&mut self, what: &str) {
        if self.0.take().is_some() {
            tracing::info!("{what}: written again");
        }
    }
}

/// `STATE/status.json`, kept current.
pub(crate) struct StatusFile {
    dir: PathBuf,
    pid: u32,
    since: DateTime<Utc>,
    /// Something changed since the last write.
    pending: bool,
    /// The earliest next write.
    next: Instant,
    failing: Failing,
    /// Where each name's output goes, as the shell resolved it at its last
    /// start (a path, or `stderr`).
    logs: std::collections::HashMap<Name, String>,
}

impl StatusFile {
    /// The snapshot of this monitor, started now, in `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        StatusFile {
            dir,
            pid: std::process::id(),
            since: DateTime::<Utc>::from(SystemTime::now()).trunc_subsecs(3),
            pending: true,
            next: Instant::now(),
            failing: Failing::default(),
            logs: std::collections::HashMap::new(),
        }
    }

    /// Records where `name`'s output goes (its log file, or `stderr`).
    pub(crate) fn set_log(&mut self, name: &Name, log: String) {
        if self.logs.get(name) != Some(&log) {
            self.logs.insert(name.clone(), log);
            self.pending = true;
        }
    }

    /// Notes that the status changed.
    pub(crate) fn changed(&mut self) {
        self.pending = true;
    }

    /// When the loop must wake to write it, if it has anything to write.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.pending.then_some(self.next)
    }

    /// Writes the snapshot if it changed and its time has come.
    pub(crate) fn save(&mut self, view: impl FnOnce() -> Vec<ProcView>) {
        let clocks = Clocks::now();
        if !self.pending || clocks.instant < self.next {
            return;
        }
        let status = ColonyStatus {
            monitor: MonitorStatus {
                running: true,
                pid: Some(self.pid),
                since: Some(self.since),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            },
            processes: view()
                .iter()
                .map(|v| process(&clocks, v, self.logs.get(&v.name)))
                .collect(),
        };
        let mut bytes = serde_json::to_vec(&status).expect("plain data serializes");
        bytes.push(b'\n');
        let what = || self.dir.join(STATUS_FILE).display().to_string();
        match replace(&self.dir, STATUS_FILE, &bytes, Durability::Atomic) {
            Ok(_) => {
                self.failing.succeeded(&what());
                self.pending = false;
                self.next = clocks.instant + COALESCE;
            }
            Err(e) => {
                self.failing.failed(&what(), &e);
                self.next = clocks.instant + RETRY;
            }
        }
    }
}

/// One name's status in the file's terms.
fn process(clocks: &Clocks, v: &ProcView, log: Option<&String>) -> ProcessStatus {
    ProcessStatus {
        name: v.name.to_string(),
        state: v.state.as_str().to_owned(),
        pid: v.pid.map(|p| p.0),
        since: v.since.map(|at| clocks.wall(at)),
        restarts: v.restarts,
        last_exit: v.last_exit.map(|e| {
            let (code, signal) = exit_fields(e.status);
            LastExit {
                code,
                signal,
                at: clocks.wall(e.at),
                ran_for: millis(e.ran_for),
            }
        }),
        next_start: v.next_start.map(|at| clocks.wall(at)),
        problem: v.problem.clone(),
        restart: Some(v.restart.to_owned()),
        ready: v.ready,
        waiting_for: v.waiting_for.iter().map(|n| n.to_string()).collect(),
        status_text: v.status_text.clone(),
        log: log.cloned(),
    }
}

/// Seconds, to the millisecond.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// An exit as `code` or `signal` (its name, or its number as text).
fn exit_fields(status: Exit) -> (Option<i32>, Option<String>) {
    match status {
        Exit::Code(code) => (Some(code), None),
        Exit::Signal(sig) => (
            None,
            Some(signal_name(sig).map_or_else(|| format!("signal {sig}"), str::to_owned)),
        ),
    }
}

/// `STATE/events.jsonl`, appended.
pub(crate) struct Journal {
    dir: PathBuf,
    max_bytes: u64,
    /// Lines not written yet.
    pending: Vec<u8>,
    /// Lines dropped while the journal could not be written.
    dropped: u64,
    failing: Failing,
    /// No write before this (after a failure).
    next: Instant,
}

impl Journal {
    /// The journal in `dir`, rotated past `max_bytes`.
    pub(crate) fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Journal {
            dir,
            max_bytes,
            pending: Vec::new(),
            dropped: 0,
            failing: Failing::default(),
            next: Instant::now(),
        }
    }

    /// Queues one event for the next [`flush`](Journal::flush).
    pub(crate) fn push(&mut self, clocks: &Clocks, event: &LifeEvent) {
        if self.pending.len() > MAX_PENDING {
            self.dropped += 1;
            return;
        }
        let line = line(clocks, event);
        serde_json::to_writer(&mut self.pending, &line).expect("plain data serializes");
        self.pending.push(b'\n');
    }

    /// Appends what is queued, rotating first if the file is past its bound.
    pub(crate) fn flush(&mut self) {
        if self.pending.is_empty() || Instant::now() < self.next {
            return;
        }
        let path = self.dir.join(EVENTS_FILE);
        let written = (|| {
            let size = match fs::metadata(&path) {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e),
            };
            if size > 0 && size + self.pending.len() as u64 > self.max_bytes {
                fs::rename(&path, self.dir.join(EVENTS_BACKUP))?;
            }
            let mut file = OpenOptions::new().append(true).create(true).open(&path)?;
            file.write_all(&self.pending)
        })();
        match written {
            Ok(()) => {
                self.failing.succeeded(&path.display().to_string());
                self.pending.clear();
                if self.dropped > 0 {
                    tracing::warn!(
                        "{}: {} events were dropped while it could not be written",
                        path.display(),
                        std::mem::take(&mut self.dropped)
                    );
                }
            }
            Err(e) => {
                self.failing.failed(&path.display().to_string(), &e);
                self.next = Instant::now() + RETRY;
            }
        }
    }
}

/// An event as its journal line.
fn line(clocks: &Clocks, event: &LifeEvent) -> Value {
    let mut obj = Map::new();
    obj.insert(
        "ts".into(),
        clocks
            .wall(event.at)
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    obj.insert("event".into(), event.kind.as_str().into());
    obj.insert(
        "name".into(),
        event
            .name
            .as_ref()
            .map_or(Value::Null, |n| n.as_str().into()),
    );
    let exit = |obj: &mut Map<String, Value>, status: Exit| match exit_fields(status) {
        (Some(code), _) => obj.insert("code".into(), code.into()),
        (None, signal) => obj.insert("signal".into(), signal.into()),
    };
    match &event.kind {
        EventKind::MonitorStarted => {
            obj.insert("pid".into(), std::process::id().into());
            obj.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        }
        EventKind::MonitorStopping
        | EventKind::ConfigAdded
        | EventKind::ConfigChanged
        | EventKind::ConfigRemoved
        | EventKind::Held
        | EventKind::Released => {}
        EventKind::ConfigInvalid { problem } => {
            obj.insert("problem".into(), problem.as_str().into());
        }
        EventKind::Spawned { pid }
        | EventKind::Killed { pid }
        | EventKind::Ready { pid }
        | EventKind::ReadyTimeout { pid }
        | EventKind::WatchdogTimeout { pid } => {
            obj.insert("pid".into(), pid.0.into());
        }
        EventKind::SpawnFailed { error } => {
            obj.insert("error".into(), error.as_str().into());
        }
        EventKind::Exited {
            pid,
            status,
            ran_for,
        } => {
            obj.insert("pid".into(), pid.0.into());
            exit(&mut obj, *status);
            obj.insert("ran_for".into(), json!(millis(*ran_for)));
        }
        EventKind::RestartScheduled { delay } => {
            obj.insert("delay".into(), json!(millis(*delay)));
        }
        EventKind::Stopping { pid, signal, why } => {
            obj.insert("pid".into(), pid.0.into());
            obj.insert("signal".into(), (*signal).into());
            obj.insert("why".into(), why.as_str().into());
        }
        EventKind::Message { kind } => {
            obj.insert("type".into(), (*kind).into());
        }
        EventKind::MessageRejected { file, problem } => {
            obj.insert("file".into(), file.as_str().into());
            obj.insert("problem".into(), problem.as_str().into());
        }
        EventKind::OrphanReaped { pid, status } => {
            obj.insert("pid".into(), pid.0.into());
            exit(&mut obj, *status);
        }
        EventKind::Waiting { on } => {
            let on: Vec<Value> = on.iter().map(|n| n.as_str().into()).collect();
            obj.insert("on".into(), on.into());
        }
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncolony_core::monitor::Pid;

    fn event(kind: EventKind) -> LifeEvent {
        LifeEvent {
            at: Instant::now(),
            name: None,
            kind,
        }
    }

    #[test]
    fn the_journal_rotates_past_its_bound_keeping_one_backup() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut journal = Journal::new(dir.path().to_owned(), 300);
        let clocks = Clocks::now();
        for pid in 0..20 {
            journal.push(&clocks, &event(EventKind::Spawned { pid: Pid(pid) }));
            journal.flush();
        }
        let current = fs::read_to_string(dir.path().join(EVENTS_FILE)).expect("current");
        let backup = fs::read_to_string(dir.path().join(EVENTS_BACKUP)).expect("backup");
        assert!(current.len() <= 300 && backup.len() <= 300);
        assert!(current.ends_with("\"pid\":19}\n"), "{current}");
        let first: Value =
            serde_json::from_str(backup.lines().next().expect("a line")).expect("JSON");
        assert_eq!(first["event"], "spawned");
        assert!(first["ts"].as_str().expect("ts").ends_with('Z'));
    }

    #[test]
    fn a_failed_append_is_kept_and_retried() {
        let dir = tempfile::tempdir().expect("temp dir");
        let gone = dir.path().join("gone");
        let mut journal = Journal::new(gone.clone(), 1 << 20);
        journal.push(&Clocks::now(), &event(EventKind::MonitorStopping));
        journal.flush();
        assert!(journal.failing.0.is_some());
        fs::create_dir(&gone).expect("mkdir");
        journal.next = Instant::now();
        journal.flush();
        let text = fs::read_to_string(gone.join(EVENTS_FILE)).expect("written");
        assert!(text.contains("monitor_stopping"), "{text}");
    }
}
