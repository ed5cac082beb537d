//! Watching the two directories. inotify only says "look again"; a full
//! rescan (on every event batch and every `--frequency` tick, see
//! [`super::configdir`]) decides what changed, so a lost or coalesced event
//! costs latency, never correctness.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use ncolony_core::spec::is_ignored;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::configdir::list_dir;

/// The messages directory: requests handled in file-name order, each deleted.
#[derive(Debug)]
pub(crate) struct MessagesDir {
    path: PathBuf,
    listing_failed: bool,
    /// Entries that could not be removed (e.g. directories), logged once.
    stuck: HashMap<String, (u64, u64)>,
}

impl MessagesDir {
    /// A messages directory.
    pub(crate) fn new(path: PathBuf) -> Self {
        MessagesDir {
            path,
            listing_failed: false,
            stuck: HashMap::new(),
        }
    }

    /// Takes every pending message file, in name order: returns each file's
    /// path and bytes, having deleted it. Problems are logged.
    pub(crate) fn take(&mut self) -> Vec<(PathBuf, Vec<u8>)> {
        let Some(entries) = list_dir(&self.path, &mut self.listing_failed, "messages") else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !is_ignored(n))
            .collect();
        names.sort();
        let mut stuck = HashMap::new();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let path = self.path.join(&name);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if meta.is_dir() {
                let key = (meta.dev(), meta.ino());
                if self.stuck.get(&name) != Some(&key) {
                    tracing::error!(
                        "message {}: is a directory, not a message; ignored",
                        path.display()
                    );
                }
                stuck.insert(name, key);
                continue;
            }
            let bytes = fs::read(&path);
            // An empty file is most likely `echo ... > FILE` caught between
            // its create and its write: leave it, the write's CLOSE_WRITE
            // brings us back. One that stays empty is dropped later.
            if bytes.as_ref().is_ok_and(|b| b.is_empty()) && is_fresh(&meta) {
                continue;
            }
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    let key = (meta.dev(), meta.ino());
                    if self.stuck.get(&name) != Some(&key) {
                        tracing::error!("message {}: cannot delete: {e}; ignored", path.display());
                    }
                    stuck.insert(name, key);
                }
                continue;
            }
            match bytes {
                Ok(bytes) if bytes.is_empty() => {
                    tracing::error!("message {}: empty file; deleted", path.display())
                }
                Ok(bytes) => out.push((path, bytes)),
                Err(e) => tracing::error!("message {}: cannot read: {e}; deleted", path.display()),
            }
        }
        self.stuck = stuck;
        out
    }
}

/// How long an empty message file is taken for a write in progress.
const EMPTY_MESSAGE_GRACE: Duration = Duration::from_secs(2);

/// Whether a file was modified within [`EMPTY_MESSAGE_GRACE`] of now (or its
/// age cannot be told).
fn is_fresh(meta: &fs::Metadata) -> bool {
    let Ok(modified) = meta.modified() else {
        return true;
    };
    let now = std::time::SystemTime::now();
    let age = now
        .duration_since(modified)
        .or_else(|_| modified.duration_since(now))
        .unwrap_or_default();
    age < EMPTY_MESSAGE_GRACE
}

/// One watched directory: its path and its watch, when armed.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    wd: Option<WatchDescriptor>,
}

/// The inotify watches on both directories, registered with the loop.
pub(crate) struct Watches {
    fd: AsyncFd<Inotify>,
    config: Watched,
    messages: Watched,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watches")
            .field("config", &self.config)
            .field("messages", &self.messages)
            .finish()
    }
}

/// What the watches ask for: anything that can change what a rescan sees.
/// `MODIFY` is left out on purpose: a writer's `CLOSE_WRITE` follows.
fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
}

/// Which directories need a rescan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dirty {
    /// The config directory changed.
    pub(crate) config: bool,
    /// The messages directory changed.
    pub(crate) messages: bool,
}

impl Watches {
    /// Sets up inotify (non-blocking, close-on-exec) on both directories.
    /// Must run inside the runtime.
    pub(crate) fn new(config: &Path, messages: &Path) -> io::Result<Self> {
        // SAFETY: `Inotify` owns its descriptor, keeps it open until dropped,
        // and always returns the same one from `as_raw_fd`.
        let fd = unsafe { AsyncFd::register_with_interest(Inotify::init()?, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        let mut w = Watches {
            fd,
            config: Watched {
                path: config.to_owned(),
                wd: None,
            },
            messages: Watched {
                path: messages.to_owned(),
                wd: None,
            },
        };
        w.rearm();
        Ok(w)
    }

    /// (Re-)adds any watch that is missing, e.g. after a directory was
    /// replaced. Called at start and on every tick.
    pub(crate) fn rearm(&mut self) {
        for w in [&mut self.config, &mut self.messages] {
            if w.wd.is_none() {
                match self.fd.get_ref().watches().add(&w.path, mask()) {
                    Ok(d) => w.wd = Some(d),
                    Err(e) => {
                        tracing::warn!("cannot watch {}: {e}; relying on polling", w.path.display())
                    }
                }
            }
        }
    }

    /// Waits for events, reads every queued one, and says which directories
    /// need a rescan. An overflow means both.
    pub(crate) async fn wait(&mut self) -> io::Result<Dirty> {
        let mut guard = self.fd.readable_mut().await?;
        let mut buf = [0u8; 4096];
        let mut dirty = Dirty::default();
        let mut lost = Vec::new();
        loop {
            let events = match guard.get_inner_mut().read_events(&mut buf) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(e) => return Err(e),
            };
            for event in events {
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    dirty.config = true;
                    dirty.messages = true;
                    continue;
                }
                let gone = event
                    .mask
                    .intersects(EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF);
                // A write in progress (`NAME.new`) cannot change what a
                // rescan sees; its rename to `NAME` is the event that counts.
                let in_progress = event
                    .name
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".new"));
                if in_progress && !gone {
                    continue;
                }
                if self.config.wd.as_ref() == Some(&event.wd) {
                    dirty.config = true;
                } else if self.messages.wd.as_ref() == Some(&event.wd) {
                    dirty.messages = true;
                }
                if gone {
                    lost.push(event.wd.clone());
                }
            }
        }
        drop(guard);
        for w in [&mut self.config, &mut self.messages] {
            if w.wd.as_ref().is_some_and(|wd| lost.contains(wd)) {
                tracing::warn!(
                    "{} was removed or moved; watching again when it is back",
                    w.path.display()
                );
                w.wd = None;
            }
        }
        Ok(dirty)
    }
}
