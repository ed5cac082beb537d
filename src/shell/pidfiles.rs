//! `--pid DIR`: one file per running child, `DIR/NAME` holding its pid, as
//! the original's `TransportDirectoryDict` writes them.

use std::fs;
use std::path::PathBuf;

use ncolony_core::spec::Name;

use crate::atomic::{Durability, replace};

/// The pid files, when `--pid` was given.
#[derive(Debug)]
pub(crate) struct PidFiles {
    dir: Option<PathBuf>,
}

impl PidFiles {
    /// Pid files in `dir`, or none.
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        PidFiles { dir }
    }

    /// Records that `name` runs as `pid`.
    pub(crate) fn write(&self, name: &Name, pid: i32) {
        let Some(dir) = &self.dir else { return };
        if let Err(e) = replace(
            dir,
            name.as_str(),
            pid.to_string().as_bytes(),
            Durability::Atomic,
        ) {
            tracing::error!("pid file {}: {e}", dir.join(name.as_str()).display());
        }
    }

    /// Records that `name` no longer runs.
    pub(crate) fn remove(&self, name: &Name) {
        let Some(dir) = &self.dir else { return };
        let path = dir.join(name.as_str());
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!("pid file {}: {e}", path.display());
        }
    }
}
