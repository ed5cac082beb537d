//! The config directory as last scanned, shared by the monitor and the
//! checkers. A rescan stats every entry (following symlinks, so a ConfigMap's
//! `NAME -> ..data/NAME` works) and re-reads only those whose identity
//! (device, inode, size, mtime, ctime) changed; the core's [`dirscan::diff`]
//! then compares contents, as the original does.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ncolony_core::dirscan::{self, Change, Snapshot};
use ncolony_core::spec::is_ignored;

/// What identifies a file's version without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// One entry as last seen: its identity, and its bytes if it could be read
/// and is a regular file (otherwise the problem was logged once).
#[derive(Debug)]
struct Seen {
    id: FileId,
    content: Option<Arc<[u8]>>,
    mtime: SystemTime,
}

/// The config directory as last scanned.
#[derive(Debug)]
pub(crate) struct ConfigDir {
    path: PathBuf,
    seen: HashMap<String, Seen>,
    snapshot: Snapshot,
    listing_failed: bool,
}

impl ConfigDir {
    /// A config directory not yet scanned.
    pub(crate) fn new(path: PathBuf) -> Self {
        ConfigDir {
            path,
            seen: HashMap::new(),
            snapshot: Snapshot::new(),
            listing_failed: false,
        }
    }

    /// The path of a file in this directory, for messages.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The modification time of a config file as last scanned.
    pub(crate) fn mtime(&self, name: &str) -> Option<SystemTime> {
        self.seen.get(name).map(|s| s.mtime)
    }

    /// Rescans the directory and returns what changed since the last scan.
    /// If the directory cannot be listed, nothing changes (logged once).
    pub(crate) fn rescan(&mut self) -> Vec<Change> {
        let Some(entries) = list_dir(&self.path, &mut self.listing_failed, "config") else {
            return Vec::new();
        };
        let mut seen = HashMap::with_capacity(self.seen.len());
        let mut snapshot = Snapshot::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                tracing::debug!(
                    "ignoring a config file name that is not UTF-8: {:?}",
                    entry.file_name()
                );
                continue;
            };
            if is_ignored(&name) {
                continue;
            }
            let path = self.path.join(&name);
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                // Gone between listing and stat, or a dangling symlink.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::error!("config {}: {e}; ignored", path.display());
                    continue;
                }
            };
            let id = FileId::of(&meta);
            let previous = self.seen.remove(&name).filter(|s| s.id == id);
            let content = match previous {
                Some(s) => s.content,
                None => read_config(&path, &meta),
            };
            if let Some(bytes) = &content {
                snapshot.insert(name.clone(), bytes.clone());
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            seen.insert(name, Seen { id, content, mtime });
        }
        let changes = dirscan::diff(&self.snapshot, &snapshot);
        self.seen = seen;
        self.snapshot = snapshot;
        changes
    }
}

/// Reads a config file that is new or changed; `None` (logged) when it is
/// not a regular file or cannot be read. An empty file is taken as a write in
/// progress (`cat > NAME`), not yet a config.
fn read_config(path: &Path, meta: &fs::Metadata) -> Option<Arc<[u8]>> {
    if meta.is_dir() {
        tracing::error!(
            "config {}: is a directory, not a file; ignored",
            path.display()
        );
        return None;
    }
    if !meta.is_file() {
        tracing::error!("config {}: not a regular file; ignored", path.display());
        return None;
    }
    if meta.len() == 0 {
        tracing::warn!(
            "config {}: empty file; not running it until it has content",
            path.display()
        );
        return None;
    }
    match fs::read(path) {
        Ok(bytes) => Some(Arc::from(bytes)),
        Err(e) => {
            tracing::error!(
                "config {}: cannot read: {e}; ignored until it changes",
                path.display()
            );
            None
        }
    }
}

/// Lists a directory; a failure is logged once (and its end once), and gives
/// `None` so that the caller keeps what it has and retries later.
pub(crate) fn list_dir(path: &Path, failed: &mut bool, what: &str) -> Option<fs::ReadDir> {
    match fs::read_dir(path) {
        Ok(entries) => {
            if std::mem::take(failed) {
                tracing::info!("{what} directory {} is back", path.display());
            }
            Some(entries)
        }
        Err(e) => {
            if !std::mem::replace(failed, true) {
                tracing::error!(
                    "cannot list {what} directory {}: {e}; keeping the current state and retrying",
                    path.display()
                );
            }
            None
        }
    }
}
