//! The config directory as last scanned, shared by the monitor and the
//! checkers. A rescan stats every entry (following symlinks, so a ConfigMap's
//! `NAME -> ..data/NAME` works) and re-reads only those whose identity
//! (device, inode, size, mtime, ctime) changed; the core's [`dirscan::diff`]
//! then compares contents, as the original does.
//!
//! Any entry may be hostile: a FIFO, a device, a symlink loop, huge,
//! unreadable, or oddly named. Only regular files are opened (non-blocking,
//! checked again after the open) and read with a size bound. A present file
//! that cannot be used is reported as [`Unusable`], once per change of its
//! identity, and keeps its last usable content in the comparison: only a file
//! that is really gone is a removal, so a `chmod` or a half-written file
//! never stops a healthy process.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ncolony_core::dirscan::{self, Change, Snapshot};
use ncolony_core::spec::{MAX_CONFIG_LEN, Name, NameError, config_too_large, is_ignored};

use crate::dirs::entry::{Opened, Symlinks, not_regular, open_regular, read_bounded};
use crate::dirs::listing::list_dir;

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

/// One entry as last seen: its identity (of the file, or of the link itself
/// when the link cannot be followed), its last usable bytes, if any, and
/// what was wrong with it at the last look.
#[derive(Debug)]
struct Seen {
    id: FileId,
    content: Option<Arc<[u8]>>,
    mtime: SystemTime,
    problem: Option<String>,
}

/// A config file that is present but cannot be used (unreadable, too large,
/// not a regular file, empty, a symlink loop). Its last usable content, if
/// any, stays in the comparison, so it is not a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unusable {
    /// The process name.
    pub(crate) name: Name,
    /// What is wrong, for the log.
    pub(crate) problem: String,
}

/// What one rescan found.
#[derive(Debug, Default)]
pub(crate) struct Rescan {
    /// What changed in the comparison of contents.
    pub(crate) changes: Vec<Change>,
    /// Files that became unusable (or changed while unusable) since the
    /// last scan: each is reported once per change of its identity.
    pub(crate) unusable: Vec<Unusable>,
}

/// The config directory as last scanned.
#[derive(Debug)]
pub(crate) struct ConfigDir {
    path: PathBuf,
    seen: HashMap<String, Seen>,
    snapshot: Snapshot,
    listing_failed: bool,
    /// Entries that are not configs and were logged (a bad name, a dangling
    /// symlink), with the identity of the entry itself, so each is logged
    /// once and again only when it changes.
    noted: HashMap<OsString, FileId>,
}

impl ConfigDir {
    /// A config directory not yet scanned.
    pub(crate) fn new(path: PathBuf) -> Self {
        ConfigDir {
            path,
            seen: HashMap::new(),
            snapshot: Snapshot::new(),
            listing_failed: false,
            noted: HashMap::new(),
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
    pub(crate) fn rescan(&mut self) -> Rescan {
        let Some(names) = list_dir(&self.path, &mut self.listing_failed, "config") else {
            return Rescan::default();
        };
        let mut seen = HashMap::with_capacity(self.seen.len());
        let mut snapshot = Snapshot::new();
        let mut noted = HashMap::new();
        let mut unusable = Vec::new();
        for file_name in names {
            let path = self.path.join(&file_name);
            let name = match entry_name(&file_name) {
                EntryName::Ignored => continue,
                EntryName::Config(name) => Ok(name),
                EntryName::Refused(e) => Err(e.to_string()),
                // Debug formatting escapes the bytes that are not UTF-8.
                EntryName::NotUtf8 => Err(format!("name {file_name:?} is not UTF-8")),
            };
            let name = match name {
                Ok(name) => name,
                Err(problem) => {
                    self.note(&mut noted, file_name, &path, || {
                        format!(
                            "config directory {}: {problem}; not running it",
                            self.path.display()
                        )
                    });
                    continue;
                }
            };
            let (id, mtime, meta) = match fs::metadata(&path) {
                Ok(meta) => (FileId::of(&meta), mtime_of(&meta), Ok(meta)),
                Err(e) => match fs::symlink_metadata(&path) {
                    // Gone between listing and stat.
                    Err(_) => continue,
                    // A dangling symlink: what it names is gone.
                    Ok(link) if e.kind() == io::ErrorKind::NotFound && link.is_symlink() => {
                        self.note(&mut noted, file_name, &path, || {
                            let target = fs::read_link(&path).unwrap_or_default();
                            format!(
                                "config {name}: dangling symbolic link to {target:?}; not running it"
                            )
                        });
                        continue;
                    }
                    Ok(_) if e.kind() == io::ErrorKind::NotFound => continue,
                    // A symlink loop, a path that cannot be searched, ...
                    Ok(link) => (FileId::of(&link), mtime_of(&link), Err(e.to_string())),
                },
            };
            let previous = self.seen.remove(name.as_str());
            let (content, problem) = match previous {
                // Unchanged and fine: not even re-read.
                Some(s) if s.id == id && s.problem.is_none() => (s.content, None),
                // New, changed, or unusable at the last look: an unusable one
                // is looked at again (a transient error must not stick until
                // the file changes), but reported only when it has changed.
                previous => match meta.and_then(|meta| read_config(&path, &meta)) {
                    Ok(bytes) => (Some(bytes), None),
                    Err(problem) => {
                        let (kept, reported) = match previous {
                            Some(s) => {
                                (s.content, s.id == id && s.problem == Some(problem.clone()))
                            }
                            None => (None, false),
                        };
                        if !reported {
                            unusable.push(Unusable {
                                name: name.clone(),
                                problem: problem.clone(),
                            });
                        }
                        // Not a removal: keep what it held.
                        (kept, Some(problem))
                    }
                },
            };
            if let Some(bytes) = &content {
                snapshot.insert(name.clone(), bytes.clone());
            }
            seen.insert(
                name.to_string(),
                Seen {
                    id,
                    content,
                    mtime,
                    problem,
                },
            );
        }
        let changes = dirscan::diff(&self.snapshot, &snapshot);
        self.seen = seen;
        self.snapshot = snapshot;
        self.noted = noted;
        Rescan { changes, unusable }
    }

    /// Logs `line()` for an entry that is not a config, unless it was
    /// logged already and has not changed since; records it in `noted`.
    fn note(
        &self,
        noted: &mut HashMap<OsString, FileId>,
        file_name: OsString,
        path: &Path,
        line: impl FnOnce() -> String,
    ) {
        // Gone between listing and lstat: nothing to say.
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        let id = FileId::of(&meta);
        if self.noted.get(&file_name) != Some(&id) {
            tracing::error!("{}", line());
        }
        noted.insert(file_name, id);
    }
}

fn mtime_of(meta: &fs::Metadata) -> SystemTime {
    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Reads a config file that is new or changed, given what `stat` said of
/// it; `Err(problem)` when it cannot be used. Only a regular file is opened,
/// non-blocking (a FIFO swapped in after the stat must not block the loop)
/// and checked again once open; at most [`MAX_CONFIG_LEN`] + 1 bytes are
/// read, since a longer text could not be passed on in `NCOLONY_CONFIG`. An
/// empty file is taken as a write in progress (`cat > NAME`), not yet a config.
pub(crate) fn read_config(path: &Path, meta: &fs::Metadata) -> Result<Arc<[u8]>, String> {
    check_file(meta)?;
    let cannot_read = |e: io::Error| format!("cannot read: {e}");
    let (opened, file) = match open_regular(path, Symlinks::Follow).map_err(cannot_read)? {
        Opened::File(opened, file) => (opened, file),
        Opened::NotRegular(_, what) => return Err(format!("is {what}, not a regular file")),
    };
    check_file(&opened)?;
    let Some(bytes) = read_bounded(&file, &opened, MAX_CONFIG_LEN).map_err(cannot_read)? else {
        // It grew after the stat.
        return Err(config_too_large(MAX_CONFIG_LEN + 1).unwrap_or_default());
    };
    if bytes.is_empty() {
        return Err(EMPTY.to_owned());
    }
    Ok(Arc::from(bytes))
}

const EMPTY: &str = "empty file (a write in progress?)";

/// Whether what `stat` says is a config that can be read.
fn check_file(meta: &fs::Metadata) -> Result<(), String> {
    if let Some(what) = not_regular(meta) {
        return Err(format!("is {what}, not a regular file"));
    }
    if let Some(problem) = config_too_large(meta.len()) {
        return Err(problem);
    }
    if meta.len() == 0 {
        return Err(EMPTY.to_owned());
    }
    Ok(())
}

/// What an entry of the config directory is, by its name alone; the
/// monitor and `ctl` decide alike.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EntryName {
    /// Not a config (a dot entry, a write in progress, an editor's leftover).
    Ignored,
    /// The config of this process.
    Config(Name),
    /// A config the monitor refuses to run because of its name.
    Refused(NameError),
    /// A name that is not UTF-8, which no process can have.
    NotUtf8,
}

/// Sorts a config directory entry by its name (see [`EntryName`]).
pub(crate) fn entry_name(file_name: &OsStr) -> EntryName {
    // Ignored whatever its bytes: a dot entry that is not UTF-8 is no config.
    if is_ignored(&file_name.to_string_lossy()) {
        return EntryName::Ignored;
    }
    match file_name.to_str().map(Name::new) {
        Some(Ok(name)) => EntryName::Config(name),
        Some(Err(e)) => EntryName::Refused(e),
        None => EntryName::NotUtf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::time::Duration;

    fn names(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Added { name, .. } => format!("+{name}"),
                Change::Changed { name, .. } => format!("~{name}"),
                Change::Removed { name } => format!("-{name}"),
            })
            .collect()
    }

    fn problems(rescan: &Rescan) -> Vec<String> {
        rescan
            .unusable
            .iter()
            .map(|u| format!("{}: {}", u.name, u.problem))
            .collect()
    }

    #[test]
    fn names_sort_entries_alike_for_the_monitor_and_ctl() {
        let sorted = |name: &[u8]| entry_name(OsStr::from_bytes(name));
        assert_eq!(
            sorted(b"web"),
            EntryName::Config(Name::new("web").expect("valid"))
        );
        for ignored in [&b".hidden"[..], b"web.new", b"web~", b"#web#", b".\xff"] {
            assert_eq!(sorted(ignored), EntryName::Ignored, "{ignored:?}");
        }
        assert!(matches!(sorted(b"a\tb"), EntryName::Refused(_)));
        assert_eq!(sorted(b"bad\xff"), EntryName::NotUtf8);
    }

    fn mkfifo(path: &Path) {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
    }

    #[test]
    fn a_present_but_unusable_file_is_never_a_removal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let web = dir.path().join("web");
        let mut config = ConfigDir::new(dir.path().to_owned());
        fs::write(&web, "1").expect("write");
        assert_eq!(names(&config.rescan().changes), ["+web"]);
        // Swapped for a FIFO: reported once, its content kept.
        fs::remove_file(&web).expect("rm");
        mkfifo(&web);
        let rescan = config.rescan();
        assert!(rescan.changes.is_empty(), "{:?}", rescan.changes);
        assert_eq!(problems(&rescan), ["web: is a FIFO, not a regular file"]);
        let rescan = config.rescan();
        assert!(rescan.changes.is_empty() && rescan.unusable.is_empty());
        // Truncated (a write in progress): the same.
        fs::remove_file(&web).expect("rm");
        fs::write(&web, "").expect("write");
        let rescan = config.rescan();
        assert!(rescan.changes.is_empty());
        assert_eq!(
            problems(&rescan),
            ["web: empty file (a write in progress?)"]
        );
        // The same bytes back: nothing to do; new bytes: a change.
        fs::write(&web, "1").expect("write");
        let rescan = config.rescan();
        assert!(rescan.changes.is_empty() && rescan.unusable.is_empty());
        // (A new size: a same-size rewrite within one timestamp tick has
        // the same identity, which only the next write would reveal.)
        fs::write(&web, "22").expect("write");
        assert_eq!(names(&config.rescan().changes), ["~web"]);
        // Only a file really gone is a removal.
        fs::remove_file(&web).expect("rm");
        assert_eq!(names(&config.rescan().changes), ["-web"]);
    }

    #[test]
    fn an_unusable_file_never_seen_usable_is_reported_not_added() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("adir")).expect("mkdir");
        symlink("loop", dir.path().join("loop")).expect("symlink");
        let mut config = ConfigDir::new(dir.path().to_owned());
        let rescan = config.rescan();
        assert!(rescan.changes.is_empty());
        let reported = problems(&rescan);
        assert_eq!(reported.len(), 2, "{reported:?}");
        assert_eq!(reported[0], "adir: is a directory, not a regular file");
        assert!(
            reported[1].starts_with("loop: Too many levels of symbolic links"),
            "{reported:?}"
        );
        // Once per change of identity, not once per rescan.
        assert!(config.rescan().unusable.is_empty());
    }

    #[test]
    fn a_config_too_large_for_ncolony_config_is_not_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let big = fs::File::create(dir.path().join("big")).expect("create");
        // Sparse: 100 MB that cost nothing, and would cost 100 MB to read.
        big.set_len(100_000_000).expect("set_len");
        let mut config = ConfigDir::new(dir.path().to_owned());
        let rescan = config.rescan();
        assert!(rescan.changes.is_empty());
        assert_eq!(
            problems(&rescan),
            [format!(
                "big: file is 100000000 bytes, more than the {MAX_CONFIG_LEN} bytes that fit \
                 in NCOLONY_CONFIG (Linux limits one environment string to 128 KiB)"
            )]
        );
        // Exactly the bound is fine.
        big.set_len(MAX_CONFIG_LEN).expect("set_len");
        let rescan = config.rescan();
        assert_eq!(names(&rescan.changes), ["+big"]);
    }

    #[test]
    fn a_fifo_swapped_in_after_the_stat_does_not_block() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("file");
        fs::write(&file, "1").expect("write");
        let stat = fs::metadata(&file).expect("stat");
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        // What the stat said was a regular file; the open finds a FIFO.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _sent = tx.send(read_config(&fifo, &stat));
        });
        let read = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("opening a FIFO blocked");
        assert_eq!(read, Err("is a FIFO, not a regular file".to_owned()));
    }

    #[test]
    fn leftovers_bad_names_and_dangling_symlinks_never_become_configs() {
        let dir = tempfile::tempdir().expect("temp dir");
        for leftover in [
            "web~",
            "#web#",
            "web.swp",
            "web.bak",
            "web.dpkg-old",
            "web.new",
        ] {
            fs::write(dir.path().join(leftover), "1").expect("write");
        }
        fs::write(dir.path().join("new\nline"), "1").expect("write");
        fs::write(dir.path().join("esc\x1b[2J"), "1").expect("write");
        fs::write(
            dir.path().join(std::ffi::OsStr::from_bytes(b"bad\xff")),
            "1",
        )
        .expect("write");
        symlink("nowhere", dir.path().join("dangling")).expect("symlink");
        fs::write(dir.path().join("web"), "1").expect("write");
        let mut config = ConfigDir::new(dir.path().to_owned());
        let rescan = config.rescan();
        assert_eq!(names(&rescan.changes), ["+web"]);
        assert!(rescan.unusable.is_empty(), "{:?}", rescan.unusable);
        assert_eq!(config.noted.len(), 4, "{:?}", config.noted);
    }
}
