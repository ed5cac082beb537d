//! The `log` key of a config file: where a process's output goes.

use serde_json::{Map, Value};

/// The `log` key: where a process's stdout and stderr go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// `"log": "stderr"`: the monitor's stderr, even with `--log-dir`.
    Stderr,
    /// `"log": {...}`: a file, each field defaulting to the monitor's option.
    File {
        /// The file (`"path"`); relative to `--log-dir`; `NAME.log` there when unset.
        path: Option<String>,
        /// Rotate past this many bytes (`"max_bytes"`, at least 1).
        max_bytes: Option<u64>,
        /// Keep this many rotated files (`"backups"`).
        backups: Option<u32>,
    },
}

/// Reads `log` (optional: `None` means the monitor's defaults), appending
/// one problem per bad field to `problems`.
pub(super) fn parse(_map: &Map<String, Value>, _problems: &mut Vec<String>) -> Option<LogTarget> {
    None
}
