//! The messages directory: requests handled in file-name order, each deleted
//! once read. Anyone can write there, so it is read as a hostile directory:
//! only regular files are opened (never a FIFO, a device, a socket or a
//! symlink, whose open or read could block the loop or never end), opened
//! non-blocking without following symlinks, checked again on the open
//! descriptor, and read with a size bound. Anything else is left alone and
//! logged once, as a directory always was.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ncolony_core::message::Message;
use ncolony_core::spec::is_hidden_or_partial;
use nix::errno::Errno;

use crate::dirs::entry::{Opened, Symlinks, not_regular, open_regular, read_bounded};
use crate::dirs::listing::list_dir;

/// The largest message file read. A message is a small JSON object (the
/// longest the original writes is well under 1 KiB); a bigger file is refused
/// unread, so a huge or endless one costs neither memory nor time.
pub(crate) const MAX_MESSAGE_BYTES: u64 = 64 * 1024;

/// How long an empty message file is taken for a write in progress.
const EMPTY_MESSAGE_GRACE: Duration = Duration::from_secs(2);

/// How far a file's mtime may lag the wall clock for the same instant: the
/// kernel stamps files from its coarse clock, one timer tick (at most 10 ms)
/// behind. A message written just after the start must not look older.
const FILE_CLOCK_SLACK: Duration = Duration::from_millis(100);

/// A message file taken from the directory (already deleted).
#[derive(Debug)]
pub(crate) struct Pending {
    /// Where the file was, for log lines.
    pub(crate) path: PathBuf,
    /// Its bytes, at most [`MAX_MESSAGE_BYTES`].
    pub(crate) bytes: Vec<u8>,
    /// Whether it was written before this monitor started (by its mtime):
    /// a request nobody was there to handle.
    pub(crate) before_start: bool,
}

/// An entry left in the directory, and why; logged again only if it changes.
#[derive(Debug, PartialEq, Eq)]
struct Left {
    dev: u64,
    ino: u64,
    why: String,
}

impl Left {
    fn new(meta: &fs::Metadata, why: String) -> Self {
        Left {
            dev: meta.dev(),
            ino: meta.ino(),
            why,
        }
    }
}

/// What one entry turned out to be.
enum Entry {
    /// A message, read and deleted.
    Taken(Pending),
    /// Left in place for good (logged once).
    Left(Left),
    /// Nothing to do this scan: gone, changed under us, or an empty file
    /// still being written.
    Skip,
}

impl Entry {
    /// An entry that is not a regular file: never opened (or, when it was
    /// swapped in after the check, never read) and never deleted, as the
    /// monitor only deletes what it has read.
    fn left_alone(meta: &fs::Metadata, what: &str) -> Self {
        Entry::Left(Left::new(
            meta,
            format!("is {what}, not a regular file; left alone"),
        ))
    }
}

/// The messages directory.
#[derive(Debug)]
pub(crate) struct MessagesDir {
    path: PathBuf,
    listing_failed: bool,
    /// The wall clock when the monitor started; older messages were sent
    /// while no monitor was running.
    started: SystemTime,
    /// Entries left alone (directories, FIFOs, devices, sockets, symlinks,
    /// undeletable files), each logged once.
    left: HashMap<String, Left>,
}

impl MessagesDir {
    /// A messages directory; the monitor's start time is read now, so this
    /// is created before the first scan.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self::started_at(path, SystemTime::now())
    }

    /// A messages directory for a monitor that started at `started`.
    fn started_at(path: PathBuf, started: SystemTime) -> Self {
        MessagesDir {
            path,
            listing_failed: false,
            started,
            left: HashMap::new(),
        }
    }

    /// Takes every pending message file, in name order: returns each one,
    /// having deleted it. Problems are logged.
    pub(crate) fn take(&mut self) -> Vec<Pending> {
        let Some(names) = list_dir(&self.path, &mut self.listing_failed, "messages") else {
            return Vec::new();
        };
        let mut names: Vec<String> = names
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .filter(|n| !is_hidden_or_partial(n))
            .collect();
        names.sort();
        let mut left = HashMap::new();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let path = self.path.join(&name);
            match self.entry(&path) {
                Entry::Taken(pending) => out.push(pending),
                Entry::Left(now) => {
                    if self.left.get(&name) != Some(&now) {
                        tracing::error!("message {}: {}", path.display(), now.why);
                    }
                    left.insert(name, now);
                }
                Entry::Skip => {}
            }
        }
        self.left = left;
        out
    }

    /// Looks at one entry: reads and deletes it if it is a message.
    fn entry(&self, path: &Path) -> Entry {
        // Gone between the listing and now: nothing to do.
        let Ok(meta) = fs::symlink_metadata(path) else {
            return Entry::Skip;
        };
        if let Some(what) = not_regular(&meta) {
            return Entry::left_alone(&meta, what);
        }
        let (meta, read) = match open_regular(path, Symlinks::Refuse) {
            Ok(Opened::File(meta, file)) => {
                let read = read_bounded(&file, &meta, MAX_MESSAGE_BYTES);
                (meta, read)
            }
            Ok(Opened::NotRegular(meta, what)) => return Entry::left_alone(&meta, what),
            // Swapped for a symlink, a socket or nothing since the check:
            // the next scan (the swap's own event) sees what it is now.
            Err(e) if is_swapped(&e) => return Entry::Skip,
            Err(e) => (meta, Err(e)),
        };
        // An empty file is most likely `echo ... > FILE` caught between its
        // create and its write: leave it, the write's CLOSE_WRITE brings us
        // back. One that stays empty is dropped later.
        if matches!(&read, Ok(Some(b)) if b.is_empty()) && is_fresh(&meta) {
            return Entry::Skip;
        }
        if let Err(e) = fs::remove_file(path) {
            if e.kind() == io::ErrorKind::NotFound {
                return Entry::Skip;
            }
            return Entry::Left(Left::new(&meta, format!("cannot delete: {e}; ignored")));
        }
        match read {
            Ok(Some(bytes)) if bytes.is_empty() => {
                tracing::error!("message {}: empty file; deleted", path.display());
                Entry::Skip
            }
            Ok(Some(bytes)) => Entry::Taken(Pending {
                path: path.to_owned(),
                bytes,
                before_start: self.is_before_start(&meta),
            }),
            Ok(None) => {
                tracing::error!(
                    "message {}: larger than {} KiB, the bound for a message; deleted",
                    path.display(),
                    MAX_MESSAGE_BYTES / 1024
                );
                Entry::Skip
            }
            Err(e) => {
                tracing::error!("message {}: cannot read: {e}; deleted", path.display());
                Entry::Skip
            }
        }
    }

    /// Whether a file was last written before this monitor started, allowing
    /// for the file-system clock's lag. A file whose mtime cannot be told is
    /// taken as new: acting on a request beats losing it.
    fn is_before_start(&self, meta: &fs::Metadata) -> bool {
        meta.modified()
            .is_ok_and(|mtime| mtime + FILE_CLOCK_SLACK < self.started)
    }
}

/// Whether an open failed because the entry changed since it was checked:
/// removed (ENOENT), replaced by a symlink (ELOOP, from `O_NOFOLLOW`) or by a
/// socket (ENXIO).
fn is_swapped(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::ENOENT | Errno::ELOOP | Errno::ENXIO)
    )
}

/// Whether a file was modified within [`EMPTY_MESSAGE_GRACE`] of now (or its
/// age cannot be told).
fn is_fresh(meta: &fs::Metadata) -> bool {
    let Ok(modified) = meta.modified() else {
        return true;
    };
    let now = SystemTime::now();
    let age = now
        .duration_since(modified)
        .or_else(|_| modified.duration_since(now))
        .unwrap_or_default();
    age < EMPTY_MESSAGE_GRACE
}

/// Whether a message is a restart request, which must not act when it was
/// sent before the monitor started: the first start is the restart. No
/// catch-all arm, so a new message type has to decide.
pub(crate) fn is_restart(message: &Message) -> bool {
    match message {
        Message::Restart { .. } | Message::RestartAll | Message::RestartGroup { .. } => true,
        // A hold is no restart: a STOP sent while no monitor ran must still
        // keep the process down (the monitor applies these first).
        Message::Stop { .. } | Message::Start { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::sync::mpsc;

    fn dir() -> (tempfile::TempDir, MessagesDir) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let messages = MessagesDir::new(tmp.path().to_owned());
        (tmp, messages)
    }

    fn names(taken: &[Pending]) -> Vec<String> {
        taken
            .iter()
            .map(|p| {
                p.path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn only_regular_files_are_taken_and_the_rest_is_left_alone() {
        let (tmp, mut messages) = dir();
        let p = tmp.path();
        fs::write(p.join("2-second"), "b").expect("write");
        fs::write(p.join("1-first"), "a").expect("write");
        fs::write(p.join("target"), "t").expect("write");
        nix::unistd::mkfifo(&p.join("fifo"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        std::os::unix::fs::symlink("/dev/zero", p.join("zero")).expect("symlink");
        // A symlink to a regular file is not a message either.
        std::os::unix::fs::symlink(p.join("target"), p.join("link")).expect("symlink");
        fs::create_dir(p.join("dir")).expect("mkdir");
        let _socket = UnixListener::bind(p.join("socket")).expect("bind");
        let taken = messages.take();
        assert_eq!(names(&taken), ["1-first", "2-second", "target"]);
        assert_eq!(taken[0].bytes, b"a");
        let mut left: Vec<_> = messages
            .left
            .iter()
            .map(|(n, l)| (n.as_str(), l.why.as_str()))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ("dir", "is a directory, not a regular file; left alone"),
                ("fifo", "is a FIFO, not a regular file; left alone"),
                ("link", "is a symlink, not a regular file; left alone"),
                ("socket", "is a socket, not a regular file; left alone"),
                ("zero", "is a symlink, not a regular file; left alone"),
            ]
        );
        let mut remaining: Vec<_> = fs::read_dir(p)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        remaining.sort();
        assert_eq!(remaining, ["dir", "fifo", "link", "socket", "zero"]);
        // A second scan finds the same entries, unchanged: nothing new.
        assert!(messages.take().is_empty());
        assert_eq!(messages.left.len(), 5);
    }

    #[test]
    fn an_entry_swapped_after_the_check_is_never_read() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let fifo = tmp.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        // Open in a thread: a blocking open would wait for a writer forever.
        let (tx, rx) = mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            tx.send(
                open_regular(&path, Symlinks::Refuse)
                    .map(|o| matches!(o, Opened::NotRegular(_, "a FIFO"))),
            )
        });
        let opened = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("open blocked on a FIFO");
        assert!(opened.expect("opened"), "a FIFO was taken for a file");
        let link = tmp.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        let e = open_regular(&link, Symlinks::Refuse).expect_err("a symlink was followed");
        assert!(is_swapped(&e), "{e}");
    }

    #[test]
    fn files_over_the_bound_are_refused_unread_and_deleted() {
        let (tmp, mut messages) = dir();
        let p = tmp.path();
        let at_bound = vec![b' '; MAX_MESSAGE_BYTES as usize];
        fs::write(p.join("at-bound"), &at_bound).expect("write");
        fs::write(p.join("over"), [&at_bound[..], b" "].concat()).expect("write");
        let huge = fs::File::create(p.join("huge")).expect("create");
        huge.set_len(1 << 40).expect("sparse 1 TiB");
        let taken = messages.take();
        assert_eq!(names(&taken), ["at-bound"]);
        assert_eq!(taken[0].bytes.len() as u64, MAX_MESSAGE_BYTES);
        assert_eq!(
            fs::read_dir(p).expect("ls").count(),
            0,
            "refused files not deleted"
        );
    }

    #[test]
    fn a_file_that_grows_past_its_size_is_read_up_to_the_bound() {
        // The size said small, the content is longer (still being written):
        // the read stops at the bound.
        let tmp = tempfile::tempdir().expect("temp dir");
        let path = tmp.path().join("m");
        fs::write(&path, "{}").expect("write");
        let mut file = fs::File::open(&path).expect("open");
        let meta = file.metadata().expect("fstat");
        fs::write(&path, vec![b' '; 2 * MAX_MESSAGE_BYTES as usize]).expect("grow");
        assert!(matches!(
            read_bounded(&file, &meta, MAX_MESSAGE_BYTES),
            Ok(None)
        ));
        let read = std::io::Seek::stream_position(&mut file).expect("offset");
        assert_eq!(read, MAX_MESSAGE_BYTES + 1, "read past the bound");
    }

    #[test]
    fn messages_older_than_the_start_are_marked() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let started = SystemTime::now();
        let mut messages = MessagesDir::started_at(tmp.path().to_owned(), started);
        for (name, age) in [("old", 60_000), ("ms-old", 5), ("new", 0)] {
            let path = tmp.path().join(name);
            fs::write(&path, "{}").expect("write");
            let file = fs::File::options().write(true).open(&path).expect("open");
            file.set_modified(started - Duration::from_millis(age))
                .expect("mtime");
        }
        // The file-system clock lags the wall clock by a few ms: a file
        // stamped 5 ms before the start may have been written after it.
        let marks: Vec<_> = messages.take().iter().map(|p| p.before_start).collect();
        assert_eq!(marks, [false, false, true], "ms-old, new, old");
    }

    #[test]
    fn every_message_type_is_a_restart() {
        let name = ncolony_core::Name::new("web").expect("valid name");
        assert!(is_restart(&Message::Restart { name }));
        assert!(is_restart(&Message::RestartAll));
        assert!(is_restart(&Message::RestartGroup { group: "g".into() }));
    }
}
