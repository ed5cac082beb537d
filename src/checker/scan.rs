//! The checkers' view of the config directory: the monitor's own scanner
//! ([`ConfigDir`]: stat every entry, re-read only changed ones, diff by
//! content), reporting each added or changed file with its mtime, which
//! starts its grace.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ncolony_core::checks::config_object;
use ncolony_core::dirscan::Change;
use serde_json::{Map, Value};

use crate::dirs::config::ConfigDir;

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
    /// Files gone (a file that cannot be read is not gone).
    pub(crate) removed: Vec<String>,
}

/// The config directory as last scanned.
#[derive(Debug)]
pub(crate) struct ConfigScan(ConfigDir);

impl ConfigScan {
    /// A config directory not yet scanned.
    pub(crate) fn new(path: PathBuf) -> Self {
        ConfigScan(ConfigDir::new(path))
    }

    /// The path of a config file, for messages.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.0.file(name)
    }

    /// Rescans. If the directory cannot be listed, nothing changes (logged
    /// once until it can be listed again).
    pub(crate) fn rescan(&mut self) -> Changes {
        let mut changes = Changes::default();
        let rescan = self.0.rescan();
        for bad in rescan.unusable {
            // Its last usable content stays checked, as the monitor keeps
            // its process running.
            tracing::error!(
                "config {}: {}; checking its last usable content, if any",
                bad.name,
                bad.problem
            );
        }
        for change in rescan.changes {
            match change {
                Change::Added { name, content } | Change::Changed { name, content } => {
                    let mtime = self
                        .0
                        .mtime(name.as_str())
                        .unwrap_or(SystemTime::UNIX_EPOCH);
                    changes.updated.push(Updated {
                        name: name.into(),
                        content,
                        mtime,
                    });
                }
                Change::Removed { name } => changes.removed.push(name.into()),
            }
        }
        changes
    }
}

/// A checker's section of a config file, via `from_config`; `None` when
/// there is none, or (logged, naming the file and the key) when the file or
/// the section is bad.
pub(crate) fn section<T, E: Display>(
    file: &Path,
    content: &[u8],
    from_config: impl FnOnce(&Map<String, Value>) -> Result<Option<T>, E>,
) -> Option<T> {
    let parsed =
        config_object(content).and_then(|map| from_config(&map).map_err(|e| e.to_string()));
    match parsed {
        Ok(section) => section,
        Err(e) => {
            tracing::error!("config {}: {e}; not checking it", file.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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
