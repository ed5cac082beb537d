//! `ncolony ctl tail`: a process's log file, found the way the monitor
//! found it (the status snapshot records where each process's output goes),
//! its last lines, and what is appended, across rotations.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::colony::state_dir;
use super::{CtlError, Places};
use crate::statefile::{ColonyStatus, STATUS_FILE};

/// Where a process's output goes, as the monitor resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessLog {
    /// Its own log file.
    File(PathBuf),
    /// The monitor's stderr (no `--log-dir`, or `"log": "stderr"`).
    Stderr,
}

/// How much of a file is read at a time, back from its end, to find its
/// last lines.
const BLOCK: u64 = 64 << 10;
/// How far back `-f` looks for the file it held among the backups.
const MAX_BACKUPS_LOOKED_AT: u32 = 1000;

/// Where `name`'s output goes, from the status snapshot in the state
/// directory (`state`, default `MESSAGES/.ncolony`): the running monitor's,
/// or the last one's if none runs.
///
/// Fails when there is no snapshot (no monitor has run there), when it
/// does not list `name`, or when the monitor has not started `name` yet.
pub fn process_log(
    places: &Places,
    state: Option<&Path>,
    name: &str,
) -> Result<ProcessLog, CtlError> {
    let path = state_dir(places, state).join(STATUS_FILE);
    let error = |problem: String| CtlError::StateFile {
        path: path.clone(),
        problem,
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CtlError::NoSnapshot { path: path.clone() });
        }
        Err(e) => return Err(error(e.to_string())),
    };
    let status: ColonyStatus = serde_json::from_slice(&bytes).map_err(|e| error(e.to_string()))?;
    let Some(process) = status.processes.iter().find(|p| p.name == name) else {
        return Err(CtlError::NoSuchProcess {
            name: name.to_owned(),
            path,
        });
    };
    match process.log.as_deref() {
        None => Err(CtlError::LogNotKnown {
            name: name.to_owned(),
        }),
        Some("stderr") => Ok(ProcessLog::Stderr),
        Some(file) => Ok(ProcessLog::File(PathBuf::from(file))),
    }
}

/// The last `n` lines of the file at `path` (fewer if it has fewer; none
/// if it does not exist yet), as bytes.
pub fn last_lines(path: &Path, n: usize) -> Result<Vec<u8>, CtlError> {
    let io_error = |source| CtlError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    };
    match File::open(path) {
        Ok(mut file) => last_lines_of(&mut file, n)
            .map(|(text, _)| text)
            .map_err(io_error),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error(e)),
    }
}

/// The last `n` lines of `file` and the offset they end at (its size when
/// read), reading back from the end a block at a time: each block is
/// searched once, and the blocks are joined once at the end.
pub(crate) fn last_lines_of(file: &mut File, n: usize) -> io::Result<(Vec<u8>, u64)> {
    let end = file.seek(SeekFrom::End(0))?;
    if n == 0 {
        return Ok((Vec::new(), end));
    }
    // Newest first; the lines start in the last one at `from`.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut from = 0;
    let mut newlines = 0;
    let mut start = end;
    while start > 0 {
        let size = BLOCK.min(start);
        start -= size;
        let mut block = vec![0; usize::try_from(size).expect("a block fits in memory")];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        // A line starts after the (n)th newline before the end; the file's
        // last newline (a complete last line's) is not counted.
        let body = match blocks.is_empty() {
            true => block.strip_suffix(b"\n").unwrap_or(&block),
            false => &block[..],
        };
        let found = memchr::memrchr_iter(b'\n', body).find(|_| {
            newlines += 1;
            newlines == n
        });
        blocks.push(block);
        if let Some(at) = found {
            from = at + 1;
            break;
        }
    }
    let mut text = Vec::new();
    for (i, block) in blocks.iter().enumerate().rev() {
        let skip = if i + 1 == blocks.len() { from } else { 0 };
        text.extend_from_slice(&block[skip..]);
    }
    Ok((text, end))
}

/// Follows a log file as it grows, across rotations: the file held open is
/// read to its end before the new one at the path is opened, so no line is
/// lost to a rotation; a file truncated under us is read again from its
/// start.
pub(crate) struct Follow {
    path: PathBuf,
    file: Option<File>,
    /// Where the next read starts in `file`.
    pos: u64,
}

impl Follow {
    /// Follows `path` from `pos` in `file` (already open), or from the
    /// start of the file once it exists.
    pub(crate) fn new(path: &Path, file: Option<(File, u64)>) -> Self {
        let (file, pos) = match file {
            Some((file, pos)) => (Some(file), pos),
            None => (None, 0),
        };
        Follow {
            path: path.to_owned(),
            file,
            pos,
        }
    }

    /// The bytes appended since the last call.
    pub(crate) fn poll(&mut self) -> Vec<u8> {
        let current = std::fs::metadata(&self.path).ok();
        let open = self.file.as_ref().and_then(|f| f.metadata().ok());
        let same = match (&current, &open) {
            (Some(c), Some(o)) => (c.dev(), c.ino()) == (o.dev(), o.ino()),
            _ => false,
        };
        if same && current.as_ref().is_some_and(|c| c.len() < self.pos) {
            // Truncated (copytruncate): from its start again.
            self.pos = 0;
        }
        let mut out = self.drain();
        if current.is_some() && !same {
            // Rotated, replaced or created: the old file is read to its end
            // above; the backups rotated since it (more than one rotation
            // between two polls) whole, oldest first; then the new one from
            // its start.
            if let Some(held) = open {
                for newer in self.rotated_since(&held) {
                    if let Ok(mut bytes) = std::fs::read(&newer) {
                        out.append(&mut bytes);
                    }
                }
            }
            self.file = File::open(&self.path).ok();
            self.pos = 0;
            out.append(&mut self.drain());
        }
        out
    }

    /// The backups (`PATH.1`, `PATH.2`, ...) newer than the file `held`
    /// now is, oldest first; none if `held` is not among them (deleted,
    /// or moved elsewhere).
    fn rotated_since(&self, held: &std::fs::Metadata) -> Vec<PathBuf> {
        let backup = |i: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{i}"));
            PathBuf::from(name)
        };
        for k in 1..=MAX_BACKUPS_LOOKED_AT {
            let Ok(meta) = std::fs::metadata(backup(k)) else {
                return Vec::new();
            };
            if (meta.dev(), meta.ino()) == (held.dev(), held.ino()) {
                return (1..k).rev().map(backup).collect();
            }
        }
        Vec::new()
    }

    fn drain(&mut self) -> Vec<u8> {
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(self.pos)).is_ok() {
            // A read error leaves the rest for the next poll.
            let _partial_read = file.read_to_end(&mut bytes);
        }
        self.pos += bytes.len() as u64;
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(text: &str, n: usize) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        std::fs::write(&path, text).expect("write");
        String::from_utf8(last_lines(&path, n).expect("read")).expect("UTF-8")
    }

    #[test]
    fn the_last_lines() {
        assert_eq!(last("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last("a\nb\nc\n", 3), "a\nb\nc\n");
        assert_eq!(last("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(last("a\nb\nc", 1), "c");
        assert_eq!(last("a\nb\nc\n", 0), "");
        assert_eq!(last("", 5), "");
        let long: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(last(&long, 2), "line 19998\nline 19999\n");
        let many = last(&long, 15_000);
        assert_eq!(many.lines().count(), 15_000);
        assert!(many.starts_with("line 5000\n"));
    }

    #[test]
    fn following_reads_the_old_file_to_its_end_then_the_new_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.log");
        std::fs::write(&path, "one\n").expect("write");
        let mut file = File::open(&path).expect("open");
        let (_, end) = last_lines_of(&mut file, 10).expect("read");
        let mut follow = Follow::new(&path, Some((file, end)));
        assert_eq!(follow.poll(), b"");
        let append = |p: &Path, t: &str| {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
                .expect("open");
            f.write_all(t.as_bytes()).expect("append");
        };
        append(&path, "two\n");
        std::fs::rename(&path, dir.path().join("w.log.1")).expect("rotate");
        append(&dir.path().join("w.log.1"), "three\n");
        append(&path, "four\n");
        assert_eq!(follow.poll(), b"two\nthree\nfour\n");
        std::fs::write(&path, "").expect("truncate");
        append(&path, "5\n");
        assert_eq!(follow.poll(), b"5\n");
        // Two rotations between polls: the one in between is read too.
        let backup = |i| dir.path().join(format!("w.log.{i}"));
        append(&path, "6\n");
        std::fs::rename(backup(1), backup(2)).expect("rotate");
        std::fs::rename(&path, backup(1)).expect("rotate");
        append(&path, "7\n");
        std::fs::rename(backup(2), backup(3)).expect("rotate");
        std::fs::rename(backup(1), backup(2)).expect("rotate");
        std::fs::rename(&path, backup(1)).expect("rotate");
        append(&path, "8\n");
        assert_eq!(follow.poll(), b"6\n7\n8\n");
    }
}
