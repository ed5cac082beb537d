//! Per-process log files: a child's lines written to its own file, each
//! line stamped, the file rotated past its size bound and reopened when
//! someone else moved it (logrotate) or on SIGHUP.
//!
//! The monitor's loop never touches a log file. A child's relay hands its
//! complete lines to the same bounded queue machinery as stderr's
//! ([`crate::logging::Queue`]), a queue of its own, whose one writer thread
//! owns every open log file. When the queue is full the relay waits (so the
//! child waits on its pipe; the loop goes on); nothing is dropped. The
//! writer formats and writes a whole batch to each file at once (one write
//! per file per batch of up to 64 KiB, not per line), and checks that the
//! path still names the file it holds open once per batch, not per line.
//!
//! A file that cannot be created or written (a missing or unwritable
//! directory, a full disk) is one log line naming the path and the error;
//! the process's lines then go to the monitor's stderr as `[NAME] line`
//! until the file can be opened again (tried at most once a second; the
//! recovery is logged). Supervision never waits for any of it.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::logging::{self, Entry, Limits, Queue, Sink};

/// Bytes of lines the queue holds at most (children may fill three
/// quarters of it; nothing else is queued here).
const MAX_QUEUED_BYTES: usize = 8 << 20;
/// Lines the queue holds at most.
const MAX_QUEUED_LINES: usize = 128 * 1024;
/// How long a file that could not be opened or written is left before it
/// is tried again; its lines go to stderr meanwhile.
const RETRY: Duration = Duration::from_secs(1);
/// About how many bytes of lines the writer takes at a time.
const BATCH: usize = 128 << 10;
/// How long the writer lets lines gather once some have come: a line is in
/// its file a millisecond later, and a chatty child costs a few big writes
/// and wake-ups a megabyte instead of one per read.
const LINGER: Duration = Duration::from_millis(1);
/// The length of a line's stamp: `2026-12-01T23:42:00.123456Z` and a space.
pub(crate) const STAMP_LEN: usize = 28;

/// Where one process's output goes: its file and how it is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFile {
    /// The process name, for the stderr fallback and the messages.
    pub(crate) name: String,
    /// The file (absolute).
    pub(crate) path: PathBuf,
    /// Rotate before a write would take the file past this many bytes.
    pub(crate) max_bytes: u64,
    /// Rotated files kept (`PATH.1` ... `PATH.N`); 0: the file is replaced.
    pub(crate) backups: u32,
    /// Missing directories under this one are created (the `--log-dir`).
    pub(crate) create_under: Option<PathBuf>,
}

/// What each queued chunk of lines carries: whose file, and when they
/// were read (their stamp).
pub(crate) struct Chunk {
    file: Arc<LogFile>,
    at: SystemTime,
    /// The relay's last entry: the file may be closed once written.
    end: bool,
}

/// Bumped by [`reopen`]; the writer reopens every file when it changes.
static REOPEN: AtomicU64 = AtomicU64::new(0);

static FILES: OnceLock<Arc<Queue<Files>>> = OnceLock::new();

/// The log files' queue and writer thread, started on first use.
fn queue() -> &'static Queue<Files> {
    FILES.get_or_init(|| {
        Queue::start_batching(
            Limits {
                bytes: MAX_QUEUED_BYTES,
                lines: MAX_QUEUED_LINES,
                // A slow disk makes relays wait; lines are never dropped.
                stall: Duration::MAX,
            },
            Files::default(),
            BATCH,
            LINGER,
        )
    })
}

/// Queues a child's complete lines (each ending in `\n`, undecoded) for
/// its file, stamped now; waits (asynchronously) while the queue is full.
pub(crate) async fn write(file: &Arc<LogFile>, lines: Vec<u8>) {
    if lines.is_empty() {
        return;
    }
    let chunk = Chunk {
        file: Arc::clone(file),
        at: SystemTime::now(),
        end: false,
    };
    queue().push_child_async(chunk, lines).await;
}

/// Says that a relay has written its last line to `file`, so that the
/// writer closes the file once no relay writes to it.
pub(crate) async fn end(file: Arc<LogFile>) {
    let chunk = Chunk {
        file,
        at: SystemTime::now(),
        end: true,
    };
    queue().push_child_async(chunk, Vec::new()).await;
}

/// Reopens every open log file (SIGHUP, after logrotate moved them), and
/// retries at once those that could not be opened. Never waits.
pub(crate) fn reopen() {
    REOPEN.fetch_add(1, Ordering::Relaxed);
    if let Some(queue) = FILES.get() {
        queue.poke();
    }
}

/// Waits until every queued line is in its file, at most `timeout`;
/// whether they all are.
pub(crate) fn flush(timeout: Duration) -> bool {
    FILES.get().is_none_or(|q| q.flush(timeout))
}

/// A line's stamp for `at`: RFC 3339 UTC with microseconds, and a space.
fn stamp(at: SystemTime) -> String {
    let mut ts = DateTime::<Utc>::from(at).to_rfc3339_opts(SecondsFormat::Micros, true);
    ts.push(' ');
    ts
}

/// Stamped lines (as [`Files`] writes them) with their stamps taken off.
fn unstamp(stamped: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(stamped.len());
    for line in stamped.split_inclusive(|&b| b == b'\n') {
        raw.extend_from_slice(line.get(STAMP_LEN..).unwrap_or(line));
    }
    raw
}

/// A file the writer holds open.
struct Open {
    file: File,
    /// Its device and inode, to tell whether the path still names it.
    id: (u64, u64),
    /// Its size as far as we know.
    size: u64,
    /// Stamped lines not written yet.
    pending: Vec<u8>,
    /// Whether the path was checked during this batch.
    checked: bool,
    /// A rotation that failed is not tried again before this.
    rotate_after: Option<Instant>,
    /// The relays' files writing here; closed once none is left.
    users: Vec<Arc<LogFile>>,
}

/// A path that could not be opened or written, and since when.
struct Failed {
    error: String,
    retry_at: Instant,
}

/// The writer thread's side: every open log file.
#[derive(Default)]
struct Files {
    open: HashMap<PathBuf, Open>,
    failed: HashMap<PathBuf, Failed>,
    /// The [`REOPEN`] count acted on.
    reopened: u64,
    /// The last stamp made, for the chunk it was made for.
    last_stamp: Option<(SystemTime, String)>,
    /// The paths this batch wrote to or ended a relay of: what is flushed
    /// and looked at for closing once the batch is in (not every open file).
    touched: Vec<PathBuf>,
}

impl Sink for Files {
    type To = Chunk;

    fn write(&mut self, batch: &mut Vec<Entry<Chunk>>, _progressed: &dyn Fn()) -> io::Result<()> {
        let wanted = REOPEN.load(Ordering::Relaxed);
        if wanted != self.reopened {
            self.reopened = wanted;
            self.reopen_all();
        }
        for entry in batch.drain(..) {
            match entry {
                Entry::Notice(text) => logging::write(text),
                Entry::Lines { to, text, lines } if !to.end => {
                    self.append(&to.file, to.at, &text, lines);
                    logging::recycle(text);
                }
                // Dropping the chunk's file is what lets it be closed.
                Entry::Lines { to, .. } => self.touched.push(to.file.path.clone()),
            }
        }
        let touched = std::mem::take(&mut self.touched);
        for path in &touched {
            self.write_pending(path);
        }
        for path in &touched {
            let Some(open) = self.open.get_mut(path) else {
                continue;
            };
            open.checked = false;
            // Only the writer's own reference left: no relay writes here.
            open.users.retain(|file| Arc::strong_count(file) > 1);
            if open.users.is_empty() {
                self.open.remove(path);
            }
        }
        self.touched = touched;
        self.touched.clear();
        Ok(())
    }
}

impl Files {
    /// Stamps `text`'s lines into the pending bytes of `file`'s path,
    /// rotating where a line would take the file past its bound.
    fn append(&mut self, file: &Arc<LogFile>, at: SystemTime, text: &[u8], lines: usize) {
        if !self.ensure_open(file) {
            fallback(file, text);
            return;
        }
        let stamp = match &self.last_stamp {
            Some((when, stamp)) if *when == at => stamp.clone(),
            _ => {
                let made = stamp(at);
                self.last_stamp = Some((at, made.clone()));
                made
            }
        };
        // Out of the map while its lines are added: one lookup per chunk.
        let Some(mut open) = self.open.remove(&file.path) else {
            fallback(file, text);
            return;
        };
        let stamped = (text.len() + lines * STAMP_LEN) as u64;
        let held = open.size + open.pending.len() as u64;
        if text.ends_with(b"\n") && (held + stamped <= file.max_bytes || held == 0 && lines == 1) {
            // The usual case: the whole chunk fits, no line to look at twice.
            stamp_lines(&mut open.pending, stamp.as_bytes(), text, lines);
            self.open.insert(file.path.clone(), open);
            return;
        }
        let mut rest = text;
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            let (line, tail) = rest.split_at(end);
            let held = open.size + open.pending.len() as u64;
            let need = (STAMP_LEN + line.len()) as u64;
            let may_rotate = open.rotate_after.is_none_or(|t| Instant::now() >= t);
            if held > 0 && held + need > file.max_bytes && may_rotate {
                if let Err((e, lost)) = write_out(&mut open) {
                    self.failed_on(file, &e);
                    fallback(file, &lost);
                    fallback(file, rest);
                    return;
                }
                match self.rotate(file, open) {
                    Some(rotated) => open = rotated,
                    None => {
                        fallback(file, rest);
                        return;
                    }
                }
                continue;
            }
            open.pending.extend_from_slice(stamp.as_bytes());
            open.pending.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                open.pending.push(b'\n');
            }
            rest = tail;
        }
        self.open.insert(file.path.clone(), open);
    }

    /// Whether `file`'s path is open (opening it, or reopening it if the
    /// path names another file now, once per batch); `false` while it
    /// cannot be.
    fn ensure_open(&mut self, file: &Arc<LogFile>) -> bool {
        if let Some(open) = self.open.get_mut(&file.path) {
            if !open.users.iter().any(|u| Arc::ptr_eq(u, file)) {
                open.users.push(Arc::clone(file));
            }
            if open.checked {
                return true;
            }
            open.checked = true;
            self.touched.push(file.path.clone());
            match fs::metadata(&file.path) {
                Ok(meta) if (meta.dev(), meta.ino()) == open.id => {
                    // Someone may have truncated or appended to it.
                    open.size = meta.len();
                    return true;
                }
                // Renamed or deleted (logrotate): a new file at the path.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Cannot tell: keep writing where we were.
                Err(_) => return true,
            }
            self.write_pending(&file.path);
            let users = self
                .open
                .remove(&file.path)
                .map(|old| old.users)
                .unwrap_or_default();
            return self.reopen(file, users);
        }
        if self
            .failed
            .get(&file.path)
            .is_some_and(|f| Instant::now() < f.retry_at)
        {
            return false;
        }
        self.reopen(file, vec![Arc::clone(file)])
    }

    /// Opens `file`'s path for `users` (`file` among them); `false`, logged,
    /// if it cannot be opened.
    fn reopen(&mut self, file: &Arc<LogFile>, users: Vec<Arc<LogFile>>) -> bool {
        match self.opened(file, users) {
            Some(open) => {
                self.open.insert(file.path.clone(), open);
                self.touched.push(file.path.clone());
                true
            }
            None => false,
        }
    }

    /// `file`'s path, opened for `users`; `None`, logged, if it cannot be.
    fn opened(&mut self, file: &Arc<LogFile>, mut users: Vec<Arc<LogFile>>) -> Option<Open> {
        if !users.iter().any(|u| Arc::ptr_eq(u, file)) {
            users.push(Arc::clone(file));
        }
        match open(file) {
            // A failed path recovers at its first write, not at its open: a
            // full disk lets the file open, and fails the write.
            Ok((handle, id, size)) => Some(Open {
                file: handle,
                id,
                size,
                pending: Vec::new(),
                checked: true,
                rotate_after: None,
                users,
            }),
            Err(e) => {
                self.failed_on(file, &e);
                None
            }
        }
    }

    /// Notes that `file`'s path failed with `e`: logged once per distinct
    /// error, retried after [`RETRY`].
    fn failed_on(&mut self, file: &LogFile, e: &io::Error) {
        let error = e.to_string();
        let retry_at = Instant::now() + RETRY;
        let known = self
            .failed
            .get(&file.path)
            .is_some_and(|f| f.error == error);
        if !known {
            tracing::error!(
                name = %file.name,
                "log file {}: {error}; its output goes to the monitor's stderr until the file \
                 can be written (retried every second)",
                file.path.display()
            );
        }
        self.failed
            .insert(file.path.clone(), Failed { error, retry_at });
    }

    /// Writes what is pending for `path`. On failure, the lines not
    /// written go to stderr, the file is closed and retried later.
    fn write_pending(&mut self, path: &Path) {
        let Some(open) = self.open.get_mut(path) else {
            return;
        };
        let writes = !open.pending.is_empty();
        match write_out(open) {
            Ok(()) if writes => self.written(path),
            Ok(()) => {}
            Err((e, lost)) => {
                let open = self.open.remove(path).expect("looked up above");
                if let Some(file) = open.users.first() {
                    self.failed_on(file, &e);
                    fallback(file, &lost);
                }
            }
        }
    }

    /// `path` was written: if it had failed, it has recovered (logged).
    fn written(&mut self, path: &Path) {
        if self.failed.remove(path).is_some() {
            let name = self
                .open
                .get(path)
                .and_then(|open| open.users.first())
                .map_or("", |file| file.name.as_str());
            tracing::info!(name = %name, "log file {}: writing to it again", path.display());
        }
    }

    /// Rotates `file`, held `open`: `PATH.N-1` -> `PATH.N`, ..., `PATH` ->
    /// `PATH.1` (with no backups, `PATH` is removed), then a new `PATH`;
    /// `None` if that cannot be opened. A rotation that fails leaves the
    /// file as it is, written on.
    fn rotate(&mut self, file: &Arc<LogFile>, mut open: Open) -> Option<Open> {
        match shift(&file.path, file.backups) {
            Ok(()) => self.opened(file, std::mem::take(&mut open.users)),
            Err(e) => {
                tracing::error!(
                    name = %file.name,
                    "log file {}: cannot rotate it: {e}; writing on past its {} bytes, \
                     rotation retried in a second",
                    file.path.display(),
                    file.max_bytes
                );
                open.rotate_after = Some(Instant::now() + RETRY);
                Some(open)
            }
        }
    }

    /// SIGHUP: every open file is opened again by its path, and every
    /// failed one tried again now.
    fn reopen_all(&mut self) {
        for failed in self.failed.values_mut() {
            failed.retry_at = Instant::now();
        }
        let paths: Vec<PathBuf> = self.open.keys().cloned().collect();
        for path in paths {
            self.write_pending(&path);
            if let Some(old) = self.open.remove(&path)
                && let Some(file) = old.users.first().cloned()
            {
                self.reopen(&file, old.users);
            }
        }
        tracing::debug!("log files reopened");
    }
}

/// Appends `text`'s `lines` lines (complete ones) to `out`, each after
/// `stamp`.
fn stamp_lines(out: &mut Vec<u8>, stamp: &[u8], text: &[u8], lines: usize) {
    out.reserve(text.len() + lines * stamp.len());
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text) {
        out.extend_from_slice(stamp);
        out.extend_from_slice(&text[start..=end]);
        start = end + 1;
    }
}

/// Writes `open`'s pending lines; on failure, the error and the lines not
/// wholly written, unstamped (from the start of the first line not wholly
/// written: at worst a line's start is written twice, never lost).
fn write_out(open: &mut Open) -> Result<(), (io::Error, Vec<u8>)> {
    if open.pending.is_empty() {
        return Ok(());
    }
    let mut written = 0;
    let result = loop {
        match open.file.write(&open.pending[written..]) {
            Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                written += n;
                if written == open.pending.len() {
                    break Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    open.size += written as u64;
    match result {
        Ok(()) => {
            open.pending.clear();
            if open.pending.capacity() > 1 << 20 {
                open.pending.shrink_to(64 << 10);
            }
            Ok(())
        }
        Err(e) => {
            let from = open.pending[..written]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let lost = unstamp(&open.pending[from..]);
            open.pending.clear();
            Err((e, lost))
        }
    }
}

/// `PATH.i` as a path.
fn numbered(path: &Path, i: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

/// Moves `path` to `path.1`, shifting the backups up to `backups` (the
/// oldest is replaced); with no backups, removes `path`.
fn shift(path: &Path, backups: u32) -> io::Result<()> {
    let gone_ok = |r: io::Result<()>| match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    if backups == 0 {
        return gone_ok(fs::remove_file(path));
    }
    // The backups there are: `.1` up to the first gap (they are made in
    // order), at most as many as are kept; the last is replaced.
    let mut there = 0;
    while there < backups - 1 && numbered(path, there + 1).exists() {
        there += 1;
    }
    for i in (1..=there).rev() {
        gone_ok(fs::rename(numbered(path, i), numbered(path, i + 1)))?;
    }
    gone_ok(fs::rename(path, numbered(path, 1)))
}

/// Opens `file`'s path for appending, creating it (and, under the log
/// directory, its missing directories); its handle, identity and size. A
/// path that is not a regular file is refused: rotating `/dev/null` would
/// rename it.
fn open(file: &LogFile) -> io::Result<(File, (u64, u64), u64)> {
    // Refused before it is opened: opening a device can do something (a
    // tape rewinds); the check after the open is for a path swapped between.
    if let Ok(meta) = fs::metadata(&file.path) {
        not_regular(&meta)?;
    }
    let open = || {
        OpenOptions::new()
            .append(true)
            .create(true)
            // A FIFO must not block the writer (ENXIO without a reader), nor
            // a terminal become the monitor's controlling one.
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .open(&file.path)
    };
    let handle = match open() {
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                && file
                    .create_under
                    .as_ref()
                    .is_some_and(|dir| file.path.starts_with(dir)) =>
        {
            if let Some(parent) = file.path.parent() {
                fs::create_dir_all(parent)?;
            }
            open()?
        }
        other => other?,
    };
    let meta = handle.metadata()?;
    not_regular(&meta)?;
    Ok((handle, (meta.dev(), meta.ino()), meta.len()))
}

/// An error naming what `meta` is, unless it is a regular file.
fn not_regular(meta: &fs::Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    Err(io::Error::other(format!("is {what}, not a regular file")))
}

/// Writes `raw` lines of `file`'s process to the monitor's stderr, as
/// `[NAME] line` (or JSON), for when its file cannot be written.
fn fallback(file: &LogFile, raw: &[u8]) {
    if !raw.is_empty() {
        logging::write_child_blocking(logging::child_lines_for_stderr(&file.name, raw));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_file(dir: &Path, max_bytes: u64, backups: u32) -> Arc<LogFile> {
        Arc::new(LogFile {
            name: "w".into(),
            path: dir.join("w.log"),
            max_bytes,
            backups,
            create_under: Some(dir.to_owned()),
        })
    }

    #[test]
    fn a_device_or_a_directory_is_refused_naming_what_it_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, what) in [
            (PathBuf::from("/dev/null"), "is a device"),
            (dir.path().to_owned(), "is a directory"),
        ] {
            let file = LogFile {
                path,
                ..(*log_file(dir.path(), 100, 1)).clone()
            };
            let error = open(&file).expect_err("refused");
            assert!(error.to_string().starts_with(what), "{error}");
        }
    }

    fn write(files: &mut Files, file: &Arc<LogFile>, text: &str) {
        let mut batch = vec![Entry::Lines {
            to: Chunk {
                file: Arc::clone(file),
                at: SystemTime::now(),
                end: false,
            },
            text: text.as_bytes().to_vec(),
            lines: text.matches('\n').count(),
        }];
        files.write(&mut batch, &|| {}).expect("never fails");
    }

    fn bodies(path: &Path) -> Vec<String> {
        let text = fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .map(|l| {
                let (ts, body) = l.split_at(STAMP_LEN);
                assert!(
                    DateTime::parse_from_rfc3339(ts.trim_end()).is_ok(),
                    "stamp {ts:?}"
                );
                body.to_owned()
            })
            .collect()
    }

    #[test]
    fn lines_are_stamped_and_rotated_keeping_the_backups() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = log_file(dir.path(), 3 * (STAMP_LEN as u64 + 2), 2);
        let mut files = Files::default();
        write(&mut files, &file, "a\nb\nc\nd\ne\nf\ng\nh\n");
        assert_eq!(bodies(&file.path), ["g", "h"]);
        assert_eq!(bodies(&numbered(&file.path, 1)), ["d", "e", "f"]);
        assert_eq!(bodies(&numbered(&file.path, 2)), ["a", "b", "c"]);
        assert!(!numbered(&file.path, 3).exists());
        write(&mut files, &file, "i\nj\n");
        assert_eq!(bodies(&file.path), ["j"]);
        assert_eq!(bodies(&numbered(&file.path, 1)), ["g", "h", "i"]);
        assert_eq!(bodies(&numbered(&file.path, 2)), ["d", "e", "f"]);
        assert!(!numbered(&file.path, 3).exists());
    }

    #[test]
    fn no_backups_replaces_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = log_file(dir.path(), 2 * (STAMP_LEN as u64 + 2), 0);
        let mut files = Files::default();
        write(&mut files, &file, "a\nb\nc\n");
        assert_eq!(bodies(&file.path), ["c"]);
        assert!(!numbered(&file.path, 1).exists());
    }

    #[test]
    fn a_moved_file_is_reopened_at_the_next_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = log_file(dir.path(), 1 << 20, 5);
        let mut files = Files::default();
        write(&mut files, &file, "one\n");
        let moved = dir.path().join("moved");
        fs::rename(&file.path, &moved).expect("rename");
        write(&mut files, &file, "two\n");
        assert_eq!(bodies(&moved), ["one"]);
        assert_eq!(bodies(&file.path), ["two"]);
    }

    #[test]
    fn a_file_is_closed_once_no_relay_writes_to_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = log_file(dir.path(), 1 << 20, 5);
        let mut files = Files::default();
        write(&mut files, &file, "one\n");
        assert_eq!(files.open.len(), 1);
        let mut batch = vec![Entry::Lines {
            to: Chunk {
                file,
                at: SystemTime::now(),
                end: true,
            },
            text: Vec::new(),
            lines: 1,
        }];
        files.write(&mut batch, &|| {}).expect("never fails");
        assert!(files.open.is_empty());
    }

    #[test]
    fn unstamping_gives_back_the_lines() {
        let stamped = format!(
            "{}one\n{}two\n",
            stamp(SystemTime::now()),
            stamp(SystemTime::now())
        );
        assert_eq!(unstamp(stamped.as_bytes()), b"one\ntwo\n");
        assert_eq!(stamp(SystemTime::now()).len(), STAMP_LEN);
    }
}
