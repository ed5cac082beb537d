//! Child output: every line a child writes goes to stderr as `[NAME] line`,
//! bytes passed through undecoded (or, in the JSON log format, as
//! `{"ts","name","line"}` with invalid UTF-8 replaced), or to the process's
//! log file (stamped there: [`crate::logfiles`]), lines longer than
//! [`MAX_LINE`] cut into pieces, and a partial last line flushed at EOF. Output is data, not logs:
//! it bypasses `tracing`, but takes the same non-blocking queue
//! ([`crate::logging`]), so a stuck stderr never stalls anything and lines
//! keep their order.
//!
//! One line splitter ([`Lines`]) serves two readers: [`relay`], a small task
//! on the monitor's loop thread per child, and [`relay_blocking`], a thread
//! of its own for the scheduler's one job.

use std::cell::RefCell;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::unix::pipe;

use crate::logfiles::{self, LogFile};
use crate::logging;

/// Longest line kept before it is written out in pieces (the monitor's and
/// the scheduler's documented cap).
pub(crate) const MAX_LINE: usize = 64 * 1024;
/// Bytes read from one child before letting the rest of the loop run: a
/// whole pipe's worth (64 KiB by default), so a chatty child costs one read
/// per pipeful.
const READ_CHUNK: usize = 64 * 1024;

/// Copies a child's output to stderr, or to its log `file` if it has one,
/// line by line, until EOF (every writer, including grandchildren holding
/// the pipe, has closed it). A partial last line is flushed at EOF. Every
/// byte read is counted in `bytes` (a name's counter outlives its children:
/// the metrics' `ncolony_log_bytes_total`).
pub(crate) async fn relay(
    name: String,
    fd: OwnedFd,
    bytes: Arc<AtomicU64>,
    file: Option<Arc<LogFile>>,
) {
    let rx = match pipe::Receiver::from_owned_fd(fd) {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!(name = %name, "cannot read the child's output: {e}");
            return;
        }
    };
    // A file's lines are stamped by its writer, not prefixed here.
    let mut lines = match file {
        Some(_) => Lines::raw(MAX_LINE),
        None => Lines::new(&name, MAX_LINE),
    };
    loop {
        if rx.readable().await.is_err() {
            break;
        }
        let read = if file.is_some() {
            read_raw(&rx, &mut lines, &bytes)
        } else {
            read_chunk(&rx, &mut lines, &bytes)
        };
        match read {
            Ok(None) => break,
            Ok(Some(lines)) => {
                // Waits only while stderr (or the disk) is slow, not stuck:
                // the child then waits on its pipe, never the loop.
                send(file.as_ref(), lines).await;
                // Let other children and the supervisor run between chunks,
                // so a chatty child never stalls the loop.
                tokio::task::yield_now().await;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(name = %name, "reading the child's output: {e}");
                break;
            }
        }
    }
    if let Some(last) = lines.finish() {
        send(file.as_ref(), last).await;
    }
    if let Some(file) = file {
        logfiles::end(file).await;
    }
}

/// Hands complete lines to the log file's queue, or to stderr's.
async fn send(file: Option<&Arc<LogFile>>, lines: Vec<u8>) {
    match file {
        Some(file) => logfiles::write(file, lines).await,
        None => logging::write_child(lines).await,
    }
}

/// Copies a child's output to stderr as [`relay`] does, from a thread of
/// its own that may block (the scheduler has no event loop to keep free).
pub(crate) fn relay_blocking(name: &str, mut reader: impl Read) {
    let mut lines = Lines::new(name, MAX_LINE);
    let mut buf = vec![0; READ_CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => logging::write_child_blocking(lines.split(&buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(name = %name, "reading the child's output: {e}");
                break;
            }
        }
    }
    if let Some(last) = lines.finish() {
        logging::write_child_blocking(last);
    }
}

/// Reads one chunk and returns its complete lines (`None` at EOF). The read buffer is shared by every relay on the thread
/// rather than held in each task, so an idle child costs a few hundred
/// bytes, not a buffer.
fn read_chunk(
    rx: &pipe::Receiver,
    lines: &mut Lines,
    bytes: &AtomicU64,
) -> io::Result<Option<Vec<u8>>> {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
    }
    BUF.with_borrow_mut(|buf| {
        let n = rx.try_read(buf)?;
        bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok((n > 0).then(|| lines.split(&buf[..n])))
    })
}

/// [`read_chunk`] for a raw splitter (a log file's lines): reads straight
/// into a chunk buffer after the held partial line, so that in the usual
/// case the lines are handed on without being copied.
fn read_raw(
    rx: &pipe::Receiver,
    lines: &mut Lines,
    bytes: &AtomicU64,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = logging::buffer(lines.partial.len() + READ_CHUNK);
    buf.extend_from_slice(&lines.partial);
    let held = buf.len();
    let n = match rx.try_read_buf(&mut buf) {
        Ok(n) => n,
        Err(e) => {
            logging::recycle(buf);
            return Err(e);
        }
    };
    bytes.fetch_add(n as u64, Ordering::Relaxed);
    if n == 0 {
        logging::recycle(buf);
        return Ok(None);
    }
    Ok(Some(lines.split_read(buf, held)))
}

/// Cuts one child's output into `PREFIX line` records (or JSON ones).
#[derive(Debug)]
pub(crate) struct Lines {
    /// How each line is written out.
    records: logging::ChildRecords,
    /// The start of a line whose newline has not come yet.
    partial: Vec<u8>,
    /// Longest line kept before it is cut.
    max: usize,
}

impl Lines {
    /// A splitter prefixing each line with `[name] ` (or writing JSON
    /// lines, if that is the configured log format) and cutting lines at
    /// `max` bytes.
    pub(crate) fn new(name: &str, max: usize) -> Self {
        Self::with_format(name, max, logging::format())
    }

    /// A splitter that leaves lines as they are (no prefix), cutting them
    /// at `max` bytes: for a log file, whose writer stamps them.
    pub(crate) fn raw(max: usize) -> Self {
        Lines {
            records: logging::ChildRecords::Raw,
            partial: Vec::new(),
            max: max.max(1),
        }
    }

    fn with_format(name: &str, max: usize, format: logging::LogFormat) -> Self {
        Lines {
            records: logging::ChildRecords::for_stderr(name, format),
            partial: Vec::new(),
            max: max.max(1),
        }
    }

    /// Takes the next bytes read and returns every complete line, prefixed.
    /// A line longer than the cap is cut into pieces of the cap's length
    /// (one of exactly the cap is kept whole), so no record is longer and
    /// no more than the cap is ever held.
    pub(crate) fn split(&mut self, data: &[u8]) -> Vec<u8> {
        if self.records == logging::ChildRecords::Raw
            && let Some(out) = self.split_raw(data)
        {
            return out;
        }
        let mut out = logging::buffer(data.len() + data.len() / 8);
        let mut rest = data;
        while !rest.is_empty() {
            let (mut body, ended) = match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    let body = &rest[..i];
                    rest = &rest[i + 1..];
                    (body, true)
                }
                None => (std::mem::take(&mut rest), false),
            };
            // More than fits: the line is over the cap, so a full piece goes out.
            while body.len() > self.max - self.partial.len() {
                let (head, tail) = body.split_at(self.max - self.partial.len());
                self.emit(&mut out, head);
                body = tail;
            }
            if ended {
                self.emit(&mut out, body);
            } else {
                self.partial.extend_from_slice(body);
            }
        }
        if self.partial.is_empty() && self.partial.capacity() > self.max {
            self.partial.shrink_to_fit();
        }
        out
    }

    /// [`Lines::split`] for a raw splitter of what `buf` holds past `held`,
    /// its first `held` bytes being a copy of the partial line: in the
    /// usual case (no line over the cap) `buf` itself, cut after its last
    /// newline.
    pub(crate) fn split_read(&mut self, mut buf: Vec<u8>, held: usize) -> Vec<u8> {
        let fits = |buf: &[u8]| uncut_end(held, &buf[held..], self.max).map(|end| held + end);
        match (self.records == logging::ChildRecords::Raw)
            .then(|| fits(&buf))
            .flatten()
        {
            Some(end) => {
                self.partial.clear();
                self.partial.extend_from_slice(&buf[end..]);
                buf.truncate(end);
                if buf.capacity() > 4 * buf.len().max(4096) {
                    // A short read: the queue counts bytes, not the chunk's
                    // capacity, so a few lines are copied out of it and the
                    // chunk is reused.
                    let lines = buf.clone();
                    logging::recycle(buf);
                    return lines;
                }
                buf
            }
            None => {
                let out = self.split(&buf[held..]);
                logging::recycle(buf);
                out
            }
        }
    }

    /// [`Lines::split`] without a prefix, in the usual case of no line over
    /// the cap: the complete lines in one copy. `None` (nothing taken) when
    /// a line must be cut, or there is no complete line.
    fn split_raw(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        let end = uncut_end(self.partial.len(), data, self.max)?;
        let (lines, tail) = data.split_at(end);
        let mut out = logging::buffer(self.partial.len() + lines.len());
        out.append(&mut self.partial);
        out.extend_from_slice(lines);
        self.partial.extend_from_slice(tail);
        Some(out)
    }

    /// Appends to `out` the held start of the line, then `rest`, as one record.
    fn emit(&mut self, out: &mut Vec<u8>, rest: &[u8]) {
        self.records.push(out, &mut self.partial, rest);
    }

    /// At EOF: the partial last line, prefixed and ended, if there is one.
    pub(crate) fn finish(&mut self) -> Option<Vec<u8>> {
        if self.partial.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(self.partial.len() + 64);
        self.emit(&mut out, &[]);
        Some(out)
    }
}

/// Where the complete lines of `data` end (just past its last newline),
/// if none of them needs cutting at `max` bytes, counting the `held` bytes
/// of a partial line before it, and what follows the last newline fits
/// too; `None` when a line must be cut, or there is no complete line.
fn uncut_end(held: usize, data: &[u8], max: usize) -> Option<usize> {
    let first = memchr::memchr(b'\n', data)?;
    let last = memchr::memrchr(b'\n', data)?;
    if held + first > max || data.len() - last - 1 > max {
        return None;
    }
    // Past the first newline, no line is longer than the chunk; look at
    // each only if the chunk is longer than the cap.
    if data.len() > max {
        let from = first + 1;
        let mut start = from;
        for end in memchr::memchr_iter(b'\n', &data[from..]).map(|i| i + from) {
            if end - start > max {
                return None;
            }
            start = end + 1;
        }
    }
    Some(last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prefixed_and_partials_kept() {
        let mut lines = Lines::new("w", MAX_LINE);
        assert_eq!(lines.split(b"one\ntw"), b"[w] one\n");
        assert_eq!(lines.split(b"o\n\xff\n"), b"[w] two\n[w] \xff\n");
        assert_eq!(lines.finish(), None);
        assert_eq!(lines.split(b"last"), b"");
        assert_eq!(lines.finish().as_deref(), Some(&b"[w] last\n"[..]));
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn json_lines_are_objects_with_name_and_lossy_line() {
        let mut lines = Lines::with_format("w", 3, logging::LogFormat::Json);
        let out = lines.split(b"ok\n\xffab\"cd\npart");
        let text = String::from_utf8(out).expect("JSON lines are UTF-8");
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        let bodies: Vec<&str> = records
            .iter()
            .map(|r| r["line"].as_str().unwrap_or("?"))
            .collect();
        // Cut at 3 bytes, as text lines are; the invalid byte is U+FFFD.
        assert_eq!(bodies, ["ok", "\u{fffd}ab", "\"cd", "par"]);
        for record in &records {
            assert_eq!(record["name"], "w");
            assert!(record["ts"].is_string(), "{record}");
        }
        let last = lines.finish().expect("the partial line");
        let last: serde_json::Value = serde_json::from_slice(&last).expect("a JSON line");
        assert_eq!(last["line"], "t");
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn raw_lines_are_kept_as_they_are_and_cut_at_the_cap() {
        let mut lines = Lines::raw(4);
        assert_eq!(lines.split(b"ab\ncd"), b"ab\n");
        assert_eq!(lines.split(b"e\nfghij\nk"), b"cde\nfghi\nj\n");
        assert_eq!(lines.split(b"lmnop"), b"klmn\n");
        assert_eq!(lines.split(b"\n"), b"op\n");
        assert_eq!(lines.split(b"abcd\n"), b"abcd\n");
        assert_eq!(lines.split(b"x"), b"");
        assert_eq!(lines.finish().as_deref(), Some(&b"x\n"[..]));
    }

    #[test]
    fn split_read_is_split_without_the_copy() {
        let mut lines = Lines::raw(4);
        let read = |lines: &mut Lines, data: &[u8]| {
            let mut buf = lines.partial.clone();
            let held = buf.len();
            buf.extend_from_slice(data);
            lines.split_read(buf, held)
        };
        assert_eq!(read(&mut lines, b"ab\ncd"), b"ab\n");
        assert_eq!(read(&mut lines, b"e\nfghij\nk"), b"cde\nfghi\nj\n");
        assert_eq!(read(&mut lines, b"lmnop"), b"klmn\n");
        assert_eq!(read(&mut lines, b"\n"), b"op\n");
        assert_eq!(read(&mut lines, b"ab\nc"), b"ab\n");
        assert_eq!(read(&mut lines, b"d\n"), b"cd\n");
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn a_short_read_is_not_queued_in_a_whole_chunk() {
        let mut lines = Lines::raw(MAX_LINE);
        let mut buf = Vec::with_capacity(READ_CHUNK);
        buf.extend_from_slice(b"one line\n");
        let out = lines.split_read(buf, 0);
        assert_eq!(out, b"one line\n");
        // The queue counts the bytes: what it holds is about that much.
        assert!(out.capacity() < 4096, "{}", out.capacity());
        logging::recycle(Vec::with_capacity(READ_CHUNK));
        let small = logging::buffer(100);
        assert!(small.capacity() < 4096, "{}", small.capacity());
    }

    #[test]
    fn long_lines_are_cut() {
        let mut lines = Lines::new("w", MAX_LINE);
        let data = vec![b'x'; MAX_LINE + 10];
        let out = lines.split(&data);
        assert_eq!(out.len(), 4 + MAX_LINE + 1);
        assert_eq!(lines.finish().map(|l| l.len()), Some(4 + 10 + 1));
        let mut short = Lines::new("w", 3);
        assert_eq!(
            short.split(b"abcdefg\nhi\n"),
            b"[w] abc\n[w] def\n[w] g\n[w] hi\n"
        );
        // The cap holds however the line arrives, and a line of exactly the
        // cap is not followed by an empty one.
        assert_eq!(short.split(b"ab"), b"");
        assert_eq!(short.split(b"cdefgh\nxyz"), b"[w] abc\n[w] def\n[w] gh\n");
        assert_eq!(short.split(b"\n"), b"[w] xyz\n");
        assert_eq!(short.finish(), None);
    }
}
