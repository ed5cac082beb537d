//! Listing a directory: the one walk over entry names that the config and
//! messages readers, `ctl` and `/proc` readers stand on.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::Path;

/// The name of every entry in `dir`, in no particular order. A listing that
/// fails part way is an error, not a shorter list: a name it missed would
/// look removed.
pub(crate) fn names(dir: &Path) -> io::Result<Vec<OsString>> {
    fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect()
}

/// [`names`], for a directory the caller rescans: a failure is logged once
/// (and its end once), and gives `None` so that the caller keeps what it has
/// and retries later.
pub(crate) fn list_dir(path: &Path, failed: &mut bool, what: &str) -> Option<Vec<OsString>> {
    match names(path) {
        Ok(names) => {
            if std::mem::take(failed) {
                tracing::info!("{what} directory {} is back", path.display());
            }
            Some(names)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_or_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["a", ".b", "c.new"] {
            fs::write(dir.path().join(name), "").expect("write");
        }
        fs::create_dir(dir.path().join("d")).expect("mkdir");
        let mut got = names(dir.path()).expect("listed");
        got.sort();
        assert_eq!(got, [".b", "a", "c.new", "d"]);
        assert!(names(&dir.path().join("missing")).is_err());
        let mut failed = false;
        assert!(list_dir(&dir.path().join("missing"), &mut failed, "config").is_none());
        assert!(failed);
        assert_eq!(
            list_dir(dir.path(), &mut failed, "config").map(|n| n.len()),
            Some(4)
        );
        assert!(!failed);
    }
}
