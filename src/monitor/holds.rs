//! `STATE/holds.json`: the names a STOP holds down, so that a hold outlives
//! the monitor. A sorted JSON array of names, replaced atomically whenever
//! the set changes; a failure is logged once and retried at each wake-up,
//! and supervision goes on untouched.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ncolony_core::spec::Name;

use super::state::read_bounded;
use crate::atomic::{Durability, replace};

/// The file in the state directory that records the holds.
pub(crate) const HOLDS_FILE: &str = "holds.json";

/// The holds as last written to `STATE/holds.json`.
#[derive(Debug)]
pub(crate) struct HoldsRecord {
    dir: PathBuf,
    /// What the file holds (as read at start, then as last written).
    written: BTreeSet<Name>,
    /// The last write error, logged once; cleared by a successful write.
    failing: Option<String>,
}

impl HoldsRecord {
    /// The record kept in `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        HoldsRecord {
            dir,
            written: BTreeSet::new(),
            failing: None,
        }
    }

    /// The holds the previous monitor left. A missing file holds nothing;
    /// an unusable one (or an entry that is not a process name) is logged
    /// and skipped.
    pub(crate) fn load(&mut self) -> BTreeSet<Name> {
        let path = self.dir.join(HOLDS_FILE);
        let names: Vec<String> = match read_bounded(&path) {
            Ok(None) => Vec::new(),
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!("{}: {e}; no process is held", path.display());
                Vec::new()
            }),
            Err(e) => {
                tracing::error!("{}: {e}; no process is held", path.display());
                Vec::new()
            }
        };
        self.written = names
            .into_iter()
            .filter_map(|n| match Name::new(n) {
                Ok(name) => Some(name),
                Err(e) => {
                    tracing::error!("{}: {e}; skipped", path.display());
                    None
                }
            })
            .collect();
        self.written.clone()
    }

    /// Writes `held` if it differs from what the file holds (or the last
    /// write failed).
    pub(crate) fn save<'a>(&mut self, held: impl Iterator<Item = &'a Name>) {
        let held: BTreeSet<Name> = held.cloned().collect();
        if held == self.written && self.failing.is_none() {
            return;
        }
        let mut bytes = serde_json::to_vec(&held).expect("a list of names serializes");
        bytes.push(b'\n');
        match replace(&self.dir, HOLDS_FILE, &bytes, Durability::Atomic) {
            Ok(_) => {
                if self.failing.take().is_some() {
                    tracing::info!("{}: written again", self.dir.join(HOLDS_FILE).display());
                }
                self.written = held;
            }
            Err(e) => {
                let error = e.to_string();
                if self.failing.as_deref() != Some(error.as_str()) {
                    tracing::error!(
                        "{}: {error}; holds would not survive a restart of the monitor; retrying",
                        self.dir.join(HOLDS_FILE).display()
                    );
                }
                self.failing = Some(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    #[test]
    fn holds_round_trip_and_a_failed_write_is_retried() {
        let dir = tempfile::tempdir().expect("temp dir");
        let gone = dir.path().join("gone");
        let mut record = HoldsRecord::new(gone.clone());
        assert!(record.load().is_empty(), "no file holds nothing");
        let held = [name("web"), name("db")];
        record.save(held.iter());
        assert!(record.failing.is_some(), "no directory: the write fails");
        std::fs::create_dir(&gone).expect("mkdir");
        record.save(held.iter());
        assert!(record.failing.is_none());
        let loaded = HoldsRecord::new(gone.clone()).load();
        assert_eq!(loaded, held.into_iter().collect());
        std::fs::write(gone.join(HOLDS_FILE), b"[\"ok\", \"../x\"").expect("write");
        assert!(
            HoldsRecord::new(gone.clone()).load().is_empty(),
            "corrupt: nothing held"
        );
        std::fs::write(gone.join(HOLDS_FILE), b"[\"ok\", \"../x\"]").expect("write");
        assert_eq!(
            HoldsRecord::new(gone).load(),
            [name("ok")].into_iter().collect()
        );
    }
}
