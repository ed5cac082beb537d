//! Sending RESTART messages to the monitor through [`crate::ctl::restart`]
//! (atomic writes, names that sort in send order). Restarts that cannot be
//! written (the messages directory is missing, say) stay queued and are
//! retried on every flush, so a checker survives a directory that comes and
//! goes.

use std::path::PathBuf;

use crate::ctl::{self, Places};

/// Restarts waiting to be written to the messages directory.
#[derive(Debug)]
pub(crate) struct Outbox {
    places: Places,
    queue: Vec<String>,
    failing: bool,
}

impl Outbox {
    /// An empty outbox for the colony at `config` and `messages`.
    pub(crate) fn new(config: PathBuf, messages: PathBuf) -> Self {
        Outbox {
            places: Places::new(config, messages),
            queue: Vec::new(),
            failing: false,
        }
    }

    /// Queues a restart of `name` (once: one already waiting is not repeated).
    pub(crate) fn restart(&mut self, name: String) {
        if !self.queue.contains(&name) {
            self.queue.push(name);
        }
    }

    /// Writes every queued restart, in order; stops at the first failure
    /// (logged once per failing streak) and keeps the rest for next time.
    pub(crate) fn flush(&mut self) {
        while let Some(name) = self.queue.first() {
            match ctl::restart(&self.places, name) {
                Ok(path) => {
                    tracing::info!(name = %name, "sent RESTART as {}", path.display());
                    self.failing = false;
                    self.queue.remove(0);
                }
                Err(e) => {
                    if !self.failing {
                        tracing::error!(
                            "cannot send RESTART for {name:?} to {}: {e:#}; {} restart(s) queued, retrying",
                            self.places.messages.display(),
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
    use std::fs;

    use ncolony_core::Message;

    use super::*;

    #[test]
    fn queued_restarts_wait_for_the_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("messages");
        let mut out = Outbox::new(tmp.path().to_owned(), dir.clone());
        out.restart("web".into());
        out.restart("web".into());
        out.flush();
        fs::create_dir(&dir).expect("mkdir");
        out.flush();
        let files: Vec<_> = fs::read_dir(&dir).expect("list").flatten().collect();
        assert_eq!(files.len(), 1);
        let bytes = fs::read(files[0].path()).expect("read");
        let m = Message::Restart {
            name: ncolony_core::Name::new("web").expect("valid name"),
        };
        assert_eq!(Message::parse(&bytes).expect("valid"), m);
    }
}
