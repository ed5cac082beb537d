//! Atomic file replacement: write a hidden temporary sibling, then rename it
//! over the target, so a reader sees the old file or the new one, never a
//! part. Used by ctl for configs and messages, and by the monitor for its pid
//! files and state directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes this process's temporary files from each other.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// The longest file name Linux file systems accept.
const NAME_MAX: usize = 255;

/// Writes `bytes` to `dir/name` atomically: a temporary sibling is written,
/// flushed to disk and renamed over `name`, so a reader sees the old file or
/// the new one, never a part.
///
/// The temporary name is `.NAME.PID.SEQ.new`: it ends in `.new` (which this
/// monitor, the original and its checkers all skip) and starts with `.` (which
/// Kubernetes-style tools and the original's message glob skip), and unlike a
/// fixed `NAME.new` it cannot be clobbered by a concurrent writer of the same
/// name.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    replace(dir, name, bytes, Durability::Synced)
}

/// Whether [`replace`] flushes the file and its directory to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `fsync` the file before the rename and the directory after it: the
    /// change survives a power loss (configs, messages).
    Synced,
    /// Only atomic: enough for files that describe live processes, which a
    /// power loss ends anyway (pid files, the state directory).
    Atomic,
}

/// Writes `dir/name` atomically like [`write_atomic`], flushing to disk only
/// when `durability` asks for it.
pub(crate) fn replace(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    durability: Durability,
) -> io::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(temp_name(name));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        // Best effort: the write already failed, and a leftover `.new` file
        // is skipped by every reader anyway.
        let _cleanup = fs::remove_file(&tmp);
        return Err(e);
    }
    if durability == Durability::Synced {
        sync_dir(dir);
    }
    Ok(path)
}

/// Flushes a directory's entries (a rename or unlink) to disk.
pub(crate) fn sync_dir(dir: &Path) {
    // Durability only: some file systems refuse fsync on a directory, and
    // the rename itself has already happened, so a failure is not an error.
    if let Ok(d) = File::open(dir) {
        let _durability_only = d.sync_all();
    }
}

fn temp_name(name: &str) -> String {
    let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let tmp = format!(".{name}.{pid}.{seq}.new");
    if tmp.len() <= NAME_MAX {
        tmp
    } else {
        format!(".ncolony-tmp.{pid}.{seq}.new")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_get_a_short_temporary_name() {
        let long = "x".repeat(250);
        assert!(temp_name(&long).len() <= NAME_MAX);
        assert!(temp_name("web").starts_with(".web."));
        assert!(temp_name("web").ends_with(".new"));
    }

    #[test]
    fn replace_writes_the_whole_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = replace(dir.path(), "x", b"1", Durability::Atomic).expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"1");
        write_atomic(dir.path(), "x", b"22").expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"22");
        assert_eq!(
            fs::read_dir(dir.path()).expect("list").count(),
            1,
            "no temporary left"
        );
    }
}
