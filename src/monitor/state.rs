//! The state directory (`--state`, default `MESSAGES/.ncolony`) and the
//! record of the children the monitor started, `children.json`, which lets a
//! successor stop the survivors of a monitor that was SIGKILLed or crashed
//! before it starts a second copy of anything.
//!
//! The record is a JSON array of `{"name", "pid", "start_time"}` objects
//! (`start_time` is field 22 of `/proc/PID/stat`), replaced atomically, at
//! most once per loop wake-up.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::libc;
use serde::{Deserialize, Serialize};

use crate::atomic::{Durability, replace};
use crate::process::procfs::Stat;

/// The file in the state directory that records the running children.
pub(crate) const CHILDREN_FILE: &str = "children.json";

/// More than any real record (a million children); a bigger file is not ours.
const MAX_RECORD: u64 = 64 << 20;

/// Creates the state directory if needed. The error names it. It must not
/// be one of `others` (the config and messages directories), where its files
/// would be taken for configs or messages.
pub(crate) fn create_state_dir(dir: &Path, others: &[&Path]) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("--state {}", dir.display()))?;
    let meta = fs::metadata(dir).with_context(|| format!("--state {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("--state {}: not a directory", dir.display());
    }
    let id = (meta.dev(), meta.ino());
    for other in others {
        if fs::metadata(other).is_ok_and(|m| (m.dev(), m.ino()) == id) {
            bail!(
                "--state {}: is {}; its files would be read as configs or messages",
                dir.display(),
                other.display()
            );
        }
    }
    Ok(())
}

/// One child as recorded: enough to recognise the same process later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Recorded {
    /// The process name.
    pub(crate) name: String,
    /// Its pid, also its process group id.
    pub(crate) pid: i32,
    /// Field 22 of `/proc/PID/stat` when it was started.
    pub(crate) start_time: u64,
}

impl Recorded {
    /// Whether `pid` is still this very process: alive (not a zombie) with
    /// the recorded start time, so a reused pid is never taken for it.
    pub(crate) fn is_running(&self) -> bool {
        Stat::of(self.pid).is_some_and(|s| !s.is_zombie() && s.start_time == self.start_time)
    }
}

/// The children the monitor started and that have not been reaped yet,
/// mirrored to `STATE/children.json`.
#[derive(Debug)]
pub(crate) struct ChildrenRecord {
    dir: PathBuf,
    children: BTreeMap<i32, Recorded>,
    /// Changed since the last write attempt.
    dirty: bool,
    /// The last write error, logged once; cleared by a successful write.
    failing: Option<String>,
}

impl ChildrenRecord {
    /// An empty record kept in `dir`; nothing is written until it changes.
    pub(crate) fn new(dir: PathBuf) -> Self {
        ChildrenRecord {
            dir,
            children: BTreeMap::new(),
            dirty: false,
            failing: None,
        }
    }

    /// What the previous monitor left in the record: the children it had
    /// when it last wrote it. A missing file is an empty record; an unusable
    /// one is logged and taken as empty.
    pub(crate) fn previous(&self) -> Vec<Recorded> {
        let path = self.dir.join(CHILDREN_FILE);
        match read_bounded(&path) {
            Ok(None) => Vec::new(),
            Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(children) => children,
                Err(e) => {
                    tracing::error!("{}: {e}; ignored", path.display());
                    Vec::new()
                }
            },
            Err(e) => {
                tracing::error!("{}: {e}; ignored", path.display());
                Vec::new()
            }
        }
    }

    /// Records that `name` was started as `pid`. The start time is read now,
    /// while the pid is an unreaped child of ours and cannot be reused.
    pub(crate) fn started(&mut self, name: &str, pid: i32) {
        let Some(stat) = Stat::of(pid) else {
            // Only if /proc is not mounted: the child cannot be recognised
            // later, so it is not recorded.
            tracing::warn!(name, pid, "cannot read /proc/{pid}/stat; not recorded");
            return;
        };
        let child = Recorded {
            name: name.to_owned(),
            pid,
            start_time: stat.start_time,
        };
        self.children.insert(pid, child);
        self.dirty = true;
    }

    /// Records that `pid` was reaped.
    pub(crate) fn exited(&mut self, pid: i32) {
        if self.children.remove(&pid).is_some() {
            self.dirty = true;
        }
    }

    /// Marks the record as needing a write even if unchanged (a new file at
    /// start, overwriting the previous monitor's).
    pub(crate) fn touch(&mut self) {
        self.dirty = true;
    }

    /// Writes the record if it changed since the last attempt. A failure is
    /// logged once (again only if the error changes) and retried at the next
    /// change; supervision goes on either way.
    pub(crate) fn save(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let children: Vec<&Recorded> = self.children.values().collect();
        let mut bytes = serde_json::to_vec(&children).expect("a list of plain records serializes");
        bytes.push(b'\n');
        match replace(&self.dir, CHILDREN_FILE, &bytes, Durability::Atomic) {
            Ok(_) => {
                if self.failing.take().is_some() {
                    tracing::info!("{}: written again", self.path().display());
                }
            }
            Err(e) => {
                let error = e.to_string();
                if self.failing.as_deref() != Some(error.as_str()) {
                    tracing::error!(
                        "{}: {error}; a successor could not stop these children if this \
                         monitor crashed; retrying at the next change",
                        self.path().display()
                    );
                }
                self.failing = Some(error);
            }
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(CHILDREN_FILE)
    }
}

/// Reads a regular file without following a symlink or blocking on a FIFO,
/// up to [`MAX_RECORD`] bytes; `Ok(None)` when it does not exist.
pub(super) fn read_bounded(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    File::take(file, MAX_RECORD + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RECORD {
        return Err(io::Error::other(format!("larger than {MAX_RECORD} bytes")));
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_and_ends_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut record = ChildrenRecord::new(dir.path().to_owned());
        assert_eq!(record.previous(), Vec::new(), "no file is an empty record");
        let me = std::process::id() as i32;
        record.started("web", me);
        record.save();
        let previous = record.previous();
        assert_eq!(previous.len(), 1);
        assert_eq!(previous[0].name, "web");
        assert!(previous[0].is_running(), "this process is still itself");
        let other = Recorded {
            start_time: previous[0].start_time + 1,
            ..previous[0].clone()
        };
        assert!(!other.is_running(), "a different start time is not it");
        record.exited(me);
        record.save();
        assert_eq!(record.previous(), Vec::new());
    }

    #[test]
    fn an_unusable_record_is_empty_and_a_failed_write_is_retried() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(CHILDREN_FILE), b"{").expect("write");
        let gone = dir.path().join("gone");
        let mut record = ChildrenRecord::new(gone.clone());
        record.touch();
        record.save();
        assert!(record.failing.is_some());
        fs::create_dir(&gone).expect("mkdir");
        record.touch();
        record.save();
        assert!(record.failing.is_none());
        assert_eq!(
            ChildrenRecord::new(dir.path().to_owned()).previous(),
            Vec::new()
        );
    }
}
