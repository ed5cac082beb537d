//! What the monitor publishes, read back: [`colony_status`] (the status
//! snapshot, or the config directory alone when no monitor runs) and
//! [`events`] (the journal, across its rotation). Both return the types the
//! monitor writes (`crate::statefile`), which `ctl status` and `ctl events`
//! print.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use super::status::configs;
use super::{CtlError, Places};
use crate::statefile::{
    ColonyStatus, EVENTS_BACKUP, EVENTS_FILE, Event, MonitorStatus, ProcessStatus, STATUS_FILE,
    is_locked,
};

/// More than any real status file or journal; a bigger file is not ours.
const MAX_FILE: u64 = 256 << 20;

/// The state directory: `state`, else `MESSAGES/.ncolony` as the monitor's
/// default.
pub fn state_dir(places: &Places, state: Option<&Path>) -> PathBuf {
    state.map_or_else(|| places.messages.join(".ncolony"), Path::to_owned)
}

/// The colony's status. With a monitor running (it holds `STATE/lock`), its
/// snapshot `STATE/status.json`; with none, every config file as
/// `configured` or `invalid`, no pid, and `monitor.running` false.
///
/// `state` is the state directory (default `MESSAGES/.ncolony`). An
/// unreadable or half-written snapshot is [`CtlError::StateFile`].
pub fn colony_status(places: &Places, state: Option<&Path>) -> Result<ColonyStatus, CtlError> {
    let dir = state_dir(places, state);
    let lock = dir.join(crate::statefile::LOCK_FILE);
    let running = is_locked(&dir).map_err(|e| CtlError::StateFile {
        path: lock,
        problem: e.to_string(),
    })?;
    let path = dir.join(STATUS_FILE);
    if running && let Some(bytes) = read(&path)? {
        let mut status: ColonyStatus =
            serde_json::from_slice(&bytes).map_err(|e| CtlError::StateFile {
                path: path.clone(),
                problem: e.to_string(),
            })?;
        status.monitor.running = true;
        return Ok(status);
    }
    // No monitor (or one not yet published): the config directory alone.
    let processes = configs(places)?
        .into_iter()
        .map(|(name, spec)| {
            let (state, problem) = match spec {
                Ok(_) => ("configured", None),
                Err(problem) => ("invalid", Some(problem)),
            };
            ProcessStatus {
                name,
                state: state.to_owned(),
                pid: None,
                since: None,
                restarts: 0,
                last_exit: None,
                next_start: None,
                problem,
                restart: None,
                ready: false,
                waiting_for: Vec::new(),
                status_text: None,
                log: None,
            }
        })
        .collect();
    Ok(ColonyStatus {
        monitor: MonitorStatus {
            running,
            pid: None,
            since: None,
            version: None,
        },
        processes,
    })
}

/// Every event in the journal, oldest first, across its rotation
/// (`events.jsonl.1`, then `events.jsonl`). Lines that cannot be parsed (a
/// line being appended, a damaged file) are skipped and counted in the
/// second value.
pub fn events(places: &Places, state: Option<&Path>) -> Result<(Vec<Event>, usize), CtlError> {
    let dir = state_dir(places, state);
    let mut list = Vec::new();
    let mut bad = 0;
    for file in [EVENTS_BACKUP, EVENTS_FILE] {
        if let Some(bytes) = read(&dir.join(file))? {
            let (mut parsed, skipped) = parse_events(&bytes);
            list.append(&mut parsed);
            bad += skipped;
        }
    }
    Ok((list, bad))
}

/// The complete lines of `bytes` as events, and how many could not be.
pub(crate) fn parse_events(bytes: &[u8]) -> (Vec<Event>, usize) {
    let mut list = Vec::new();
    let mut bad = 0;
    for line in bytes.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(event) => list.push(event),
            Err(_) => bad += 1,
        }
    }
    (list, bad)
}

/// A state file's bytes, bounded; `None` when it does not exist.
fn read(path: &Path) -> Result<Option<Vec<u8>>, CtlError> {
    let error = |e: io::Error| CtlError::StateFile {
        path: path.to_owned(),
        problem: e.to_string(),
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE).read_to_end(&mut bytes).map_err(error)?;
    Ok(Some(bytes))
}

/// Follows the journal as it grows, across rotations: the open file is
/// read to its end before the new one is opened, so no event is lost when
/// the monitor renames it to `events.jsonl.1`.
pub(crate) struct Tail {
    path: PathBuf,
    file: Option<File>,
    /// A line not complete yet.
    partial: Vec<u8>,
}

impl Tail {
    /// Starts at the journal's current end.
    pub(crate) fn new(dir: &Path) -> Self {
        let path = dir.join(EVENTS_FILE);
        let file = File::open(&path).ok().and_then(|mut f| {
            use std::io::Seek as _;
            f.seek(io::SeekFrom::End(0)).ok().map(|_| f)
        });
        Tail {
            path,
            file,
            partial: Vec::new(),
        }
    }

    /// The events appended since the last call.
    pub(crate) fn poll(&mut self) -> Vec<Event> {
        use std::os::unix::fs::MetadataExt as _;
        let mut events = self.drain();
        let current = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let open = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| (m.dev(), m.ino()));
        if current.is_some() && current != open {
            // Rotated (or created): the old file is read to its end above;
            // the new one is read from its start.
            self.file = File::open(&self.path).ok();
            self.partial.clear();
            events.append(&mut self.drain());
        }
        events
    }

    fn drain(&mut self) -> Vec<Event> {
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let mut bytes = std::mem::take(&mut self.partial);
        // A read error leaves the rest for the next poll.
        let _partial_read = file.read_to_end(&mut bytes);
        let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(end);
        parse_events(&bytes).0
    }
}
