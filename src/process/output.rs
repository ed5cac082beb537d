//! Child output: each child's pipe is read by a small task on the loop's
//! thread, and every line goes to stderr as `[NAME] line`, bytes passed
//! through undecoded. Output is data, not logs: it bypasses `tracing`, but
//! takes the same non-blocking queue ([`crate::logging`]), so a stuck stderr
//! never stalls the loop and lines keep their order.

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;

use tokio::net::unix::pipe;

use crate::logging;

/// Longest line kept before it is written out in pieces.
const MAX_LINE: usize = 64 * 1024;
/// Bytes read from one child before letting the rest of the loop run.
const READ_CHUNK: usize = 16 * 1024;

/// Copies a child's output to stderr, line by line, until EOF (every writer,
/// including grandchildren holding the pipe, has closed it). A partial last
/// line is flushed at EOF.
pub(crate) async fn relay(name: String, fd: OwnedFd) {
    let rx = match pipe::Receiver::from_owned_fd(fd) {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!(name = %name, "cannot read the child's output: {e}");
            return;
        }
    };
    let prefix = format!("[{name}] ");
    let mut partial: Vec<u8> = Vec::new();
    loop {
        if rx.readable().await.is_err() {
            break;
        }
        match read_chunk(&rx, &prefix, &mut partial) {
            Ok(None) => break,
            Ok(Some(lines)) => {
                // Waits only while stderr is slow, not stuck: the child then
                // waits on its pipe, never the loop.
                logging::write_child(lines).await;
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
    if !partial.is_empty() {
        let mut out = Vec::with_capacity(prefix.len() + partial.len() + 1);
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(&partial);
        out.push(b'\n');
        logging::write_child(out).await;
    }
}

/// Reads one chunk and returns its complete lines (`None` at EOF). The read
/// buffer is shared by every relay on the thread rather than held in each
/// task, so an idle child costs a few hundred bytes, not a buffer.
fn read_chunk(
    rx: &pipe::Receiver,
    prefix: &str,
    partial: &mut Vec<u8>,
) -> io::Result<Option<Vec<u8>>> {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
    }
    BUF.with_borrow_mut(|buf| {
        let n = rx.try_read(buf)?;
        Ok((n > 0).then(|| split_lines(prefix, partial, &buf[..n])))
    })
}

/// Appends `data` to `partial` and returns every complete line, prefixed. A
/// line longer than [`MAX_LINE`] is cut into pieces of that length.
fn split_lines(prefix: &str, partial: &mut Vec<u8>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(partial);
        out.extend_from_slice(&rest[..pos]);
        out.push(b'\n');
        partial.clear();
        rest = &rest[pos + 1..];
    }
    partial.extend_from_slice(rest);
    while partial.len() >= MAX_LINE {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(&partial[..MAX_LINE]);
        out.push(b'\n');
        partial.drain(..MAX_LINE);
    }
    if partial.is_empty() && partial.capacity() > MAX_LINE {
        partial.shrink_to_fit();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prefixed_and_partials_kept() {
        let mut partial = Vec::new();
        let out = split_lines("[w] ", &mut partial, b"one\ntw");
        assert_eq!(out, b"[w] one\n");
        let out = split_lines("[w] ", &mut partial, b"o\n\xff\n");
        assert_eq!(out, b"[w] two\n[w] \xff\n");
        assert!(partial.is_empty());
    }

    #[test]
    fn long_lines_are_cut() {
        let mut partial = Vec::new();
        let data = vec![b'x'; MAX_LINE + 10];
        let out = split_lines("[w] ", &mut partial, &data);
        assert_eq!(out.len(), 4 + MAX_LINE + 1);
        assert_eq!(partial.len(), 10);
    }
}
