//! The checkers' view of the config directory: a rescan on every tick that
//! stats each entry and re-reads only those whose identity changed, then
//! reports which files were added, changed or removed, by content.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use ncolony_core::dirscan::{self, Change, Snapshot};
use ncolony_core::spec::is_ignored;

/// What identifies a file's version without reading it.
type FileId = (u64, u64, u64, i64, i64, i64, i64);

fn file_id(m: &fs::Metadata) -> FileId {
    (
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// One entry as last seen: its identity, its bytes (when a readable,
/// non-empty regular file) and its mtime.
#[derive(Debug)]
struct Seen {
    id: FileId,
    content: Option<Arc<[u8]>>,
    mtime: SystemTime,
}

/// A config file that is new or whose content changed.
#[derive(Debug)]
pub(crate) struct Updated {
    /// The process name.
    pub(crate) name: String,
    /// The file's bytes.
    pub(crate) content: Arc<[u8]>,
    /// The file's mtime.
    pub(crate) mtime: SystemTime,
}

/// What changed in the config directory since the last scan.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Files added or changed.
    pub(crate) updated: Vec<Updated>,
    /// Files gone (or no longer readable regular files).
    pub(crate) removed: Vec<String>,
}

/// The config directory as last scanned.
#[derive(Debug)]
pub(crate) struct ConfigScan {
    path: PathBuf,
    seen: BTreeMap<String, Seen>,
    snapshot: Snapshot,
    listing_failed: bool,
}

impl ConfigScan {
    /// A config directory not yet scanned.
    pub(crate) fn new(path: PathBuf) -> Self {
        ConfigScan {
            path,
            seen: BTreeMap::new(),
            snapshot: Snapshot::new(),
            listing_failed: false,
        }
    }

    /// The path of a config file, for messages.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Rescans. If the directory cannot be listed, nothing changes (logged
    /// once until it can be listed again).
    pub(crate) fn rescan(&mut self) -> Changes {
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => {
                if self.listing_failed {
                    tracing::info!("config directory {} is back", self.path.display());
                }
                self.listing_failed = false;
                entries
            }
            Err(e) => {
                if !self.listing_failed {
                    tracing::error!(
                        "cannot list config directory {}: {e}; keeping the current checks and retrying",
                        self.path.display()
                    );
                }
                self.listing_failed = true;
                return Changes::default();
            }
        };
        let mut seen = BTreeMap::new();
        let mut snapshot = Snapshot::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if is_ignored(&name) {
                continue;
            }
            let path = self.path.join(&name);
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::debug!("config {}: {e}; ignored", path.display());
                    continue;
                }
            };
            let id = file_id(&meta);
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let content = match self.seen.remove(&name) {
                Some(old) if old.id == id => old.content,
                _ => read(&path, &meta),
            };
            if let Some(bytes) = &content {
                snapshot.insert(name.clone(), bytes.clone());
            }
            seen.insert(name, Seen { id, content, mtime });
        }
        let mut changes = Changes::default();
        for change in dirscan::diff(&self.snapshot, &snapshot) {
            match change {
                Change::Added { name, content } | Change::Changed { name, content } => {
                    let mtime = seen.get(&name).map_or(SystemTime::UNIX_EPOCH, |s| s.mtime);
                    changes.updated.push(Updated {
                        name,
                        content,
                        mtime,
                    });
                }
                Change::Removed { name } => changes.removed.push(name),
            }
        }
        self.seen = seen;
        self.snapshot = snapshot;
        changes
    }
}

/// A regular, non-empty file's bytes (an empty file is a write in progress).
fn read(path: &std::path::Path, meta: &fs::Metadata) -> Option<Arc<[u8]>> {
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    match fs::read(path) {
        Ok(bytes) => Some(Arc::from(bytes)),
        Err(e) => {
            tracing::error!(
                "config {}: cannot read: {e}; not checking it",
                path.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescan_reports_added_changed_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut scan = ConfigScan::new(dir.path().to_owned());
        fs::write(dir.path().join("a"), "1").expect("write");
        fs::write(dir.path().join("b.new"), "1").expect("write");
        fs::write(dir.path().join(".hidden"), "1").expect("write");
        let c = scan.rescan();
        assert_eq!(c.updated.len(), 1);
        assert_eq!(c.updated[0].name, "a");
        assert!(scan.rescan().updated.is_empty());
        fs::write(dir.path().join("a"), "22").expect("write");
        let c = scan.rescan();
        assert_eq!(&*c.updated[0].content, b"22");
        fs::remove_file(dir.path().join("a")).expect("rm");
        assert_eq!(scan.rescan().removed, ["a"]);
    }
}
