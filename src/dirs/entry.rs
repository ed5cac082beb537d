//! Reading one entry of a directory that anyone may write (the config and
//! messages directories): only a regular file is opened, non-blocking (a FIFO
//! swapped in after the check must not wait for a writer), checked again on
//! the open descriptor, and read with a size bound, so a FIFO, a device, a
//! symlink to `/dev/zero` or a huge file costs neither time nor memory.
//! The monitor, the checkers and `ctl` all read entries through here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::OFlag;

/// What an entry is when it is not a regular file (`a FIFO`, `a directory`,
/// ...), for a log line; `None` for a regular file.
pub(crate) fn not_regular(meta: &fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_symlink() {
        Some("a symlink")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("an entry of unknown type")
    }
}

/// Whether [`open_regular`] follows a symlink in the last component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Symlinks {
    /// Follow it (the config directory: a ConfigMap's `NAME -> ..data/NAME`).
    Follow,
    /// Refuse it with `ELOOP` (the messages directory).
    Refuse,
}

/// An opened entry.
#[derive(Debug)]
pub(crate) enum Opened {
    /// A regular file, and its metadata from the descriptor.
    File(fs::Metadata, File),
    /// Not a regular file after all (it was swapped after the caller's
    /// check): its metadata and what it is.
    NotRegular(fs::Metadata, &'static str),
}

/// Opens an entry that looked like a regular file, without blocking, and
/// checks what the descriptor really is.
pub(crate) fn open_regular(path: &Path, symlinks: Symlinks) -> io::Result<Opened> {
    let mut flags = OFlag::O_NONBLOCK;
    if symlinks == Symlinks::Refuse {
        flags |= OFlag::O_NOFOLLOW;
    }
    // std adds O_CLOEXEC itself.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)?;
    let meta = file.metadata()?;
    Ok(match not_regular(&meta) {
        None => Opened::File(meta, file),
        Some(what) => Opened::NotRegular(meta, what),
    })
}

/// Reads at most `bound` bytes of an opened file; `None` when it holds more
/// (its size already says so, and then it is not read at all, or it grew
/// while being read). `meta` is the descriptor's metadata.
pub(crate) fn read_bounded(
    file: &File,
    meta: &fs::Metadata,
    bound: u64,
) -> io::Result<Option<Vec<u8>>> {
    if meta.len() > bound {
        return Ok(None);
    }
    // The size may be stale (the file is still being written): the bound
    // holds whatever it says.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(bound.saturating_add(1)).read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > bound {
        return Ok(None);
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_bound_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        fs::write(&path, b"12345").expect("write");
        let Opened::File(meta, file) = open_regular(&path, Symlinks::Refuse).expect("open") else {
            panic!("a regular file");
        };
        assert_eq!(
            read_bounded(&file, &meta, 5).expect("read"),
            Some(b"12345".to_vec())
        );
        let Opened::File(meta, file) = open_regular(&path, Symlinks::Refuse).expect("open") else {
            panic!("a regular file");
        };
        assert_eq!(read_bounded(&file, &meta, 4).expect("read"), None);
    }

    #[test]
    fn symlinks_are_followed_only_when_asked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("t");
        fs::write(&target, b"x").expect("write");
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(matches!(
            open_regular(&link, Symlinks::Follow),
            Ok(Opened::File(..))
        ));
        let e = open_regular(&link, Symlinks::Refuse).expect_err("refused");
        assert_eq!(e.raw_os_error(), Some(nix::libc::ELOOP));
    }

    #[test]
    fn a_fifo_opens_without_blocking_and_is_not_regular() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("p");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        assert!(matches!(
            open_regular(&fifo, Symlinks::Follow),
            Ok(Opened::NotRegular(_, "a FIFO"))
        ));
    }
}
