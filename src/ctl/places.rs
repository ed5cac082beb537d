//! Where a colony is: its two directories.

use std::fs;
use std::path::{Path, PathBuf};

use super::CtlError;

/// Where a colony's two directories are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Places {
    /// The config directory: one JSON file per process.
    pub config: PathBuf,
    /// The messages directory: restart requests.
    pub messages: PathBuf,
}

impl Places {
    /// A colony with this config directory and this messages directory.
    pub fn new(config: impl Into<PathBuf>, messages: impl Into<PathBuf>) -> Self {
        Places {
            config: config.into(),
            messages: messages.into(),
        }
    }
}

/// Checks that `path` is an existing directory.
pub(super) fn check_dir(which: &'static str, path: &Path) -> Result<(), CtlError> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(CtlError::NotDir {
            which,
            path: path.to_owned(),
        }),
        Err(source) => Err(CtlError::Dir {
            which,
            path: path.to_owned(),
            source,
        }),
    }
}
