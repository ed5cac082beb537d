//! Sending messages to the monitor: each is written as `NAME.new` and
//! renamed to `NAME` (the monitor ignores `.new` files), with names that
//! sort in send order. Messages that cannot be written (the directory is
//! missing, say) stay queued and are retried on every flush.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ncolony_core::Message;

/// A per-process counter, so two messages in the same nanosecond still
/// sort in send order.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A message file name that sorts after every earlier one from any sender
/// with a sane clock: nanoseconds since the epoch, zero-padded, then the
/// pid and a counter.
pub(crate) fn message_file_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:020}.{:010}.{n:06}", std::process::id())
}

/// Writes `message` into `dir` atomically.
pub(crate) fn send(dir: &std::path::Path, message: &Message) -> std::io::Result<PathBuf> {
    let name = message_file_name();
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}.new"));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&message.to_json())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().inspect_err(|_| {
        // Best effort: do not leave a half-written .new behind.
        let _ignored = fs::remove_file(&tmp);
    })?;
    Ok(path)
}

/// Messages waiting to be written to the messages directory.
#[derive(Debug)]
pub(crate) struct Outbox {
    dir: PathBuf,
    queue: Vec<Message>,
    failing: bool,
}

impl Outbox {
    /// An empty outbox for `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        Outbox {
            dir,
            queue: Vec::new(),
            failing: false,
        }
    }

    /// Queues `message` (once: a message already waiting is not repeated).
    pub(crate) fn push(&mut self, message: Message) {
        if !self.queue.contains(&message) {
            self.queue.push(message);
        }
    }

    /// Writes every queued message, in order; stops at the first failure
    /// (logged once per failing streak) and keeps the rest for next time.
    pub(crate) fn flush(&mut self) {
        while let Some(message) = self.queue.first() {
            match send(&self.dir, message) {
                Ok(path) => {
                    tracing::info!(
                        "sent {} as {}",
                        String::from_utf8_lossy(&message.to_json()),
                        path.display()
                    );
                    self.failing = false;
                    self.queue.remove(0);
                }
                Err(e) => {
                    if !self.failing {
                        tracing::error!(
                            "cannot write to messages directory {}: {e}; {} message(s) queued, retrying",
                            self.dir.display(),
                            self.queue.len()
                        );
                    }
                    self.failing = true;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_send_order() {
        let names: Vec<String> = (0..100).map(|_| message_file_name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn queued_messages_wait_for_the_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("messages");
        let mut out = Outbox::new(dir.clone());
        let m = Message::Restart { name: "web".into() };
        out.push(m.clone());
        out.push(m.clone());
        out.flush();
        fs::create_dir(&dir).expect("mkdir");
        out.flush();
        let files: Vec<_> = fs::read_dir(&dir).expect("list").flatten().collect();
        assert_eq!(files.len(), 1);
        let bytes = fs::read(files[0].path()).expect("read");
        assert_eq!(Message::parse(&bytes).expect("valid"), m);
    }
}
