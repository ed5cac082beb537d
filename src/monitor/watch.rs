//! Watching the two directories. inotify only says "look again"; a full
//! rescan (on every event batch and every `--frequency` tick, see
//! [`super::configdir`]) decides what changed, so a lost or coalesced event
//! costs latency, never correctness.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use nix::errno::Errno;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// One watched directory: its path, its watch when armed, and why it is
/// not (as last logged, so a lasting failure is logged once).
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    wd: Option<WatchDescriptor>,
    failed: Option<String>,
}

impl Watched {
    fn new(path: &Path) -> Self {
        Watched {
            path: path.to_owned(),
            wd: None,
            failed: None,
        }
    }
}

/// The inotify watches on both directories, registered with the loop. With
/// no inotify instance to be had (`fs.inotify.max_user_instances` reached),
/// the monitor runs on the `--frequency` rescans alone and tries again at
/// each one.
pub(crate) struct Watches {
    /// `None` while inotify is unavailable.
    fd: Option<AsyncFd<Inotify>>,
    /// Why inotify is unavailable, as last logged.
    unavailable: Option<String>,
    /// The polling period, for log lines.
    period: Duration,
    config: Watched,
    messages: Watched,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watches")
            .field("inotify", &self.fd.is_some())
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

/// A new inotify instance (non-blocking, close-on-exec), registered with the
/// loop. Must run inside the runtime.
fn init() -> io::Result<AsyncFd<Inotify>> {
    // SAFETY: `Inotify` owns its descriptor, keeps it open until dropped,
    // and always returns the same one from `as_raw_fd`.
    unsafe { AsyncFd::register_with_interest(Inotify::init()?, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// Why inotify cannot be had, with the likely cause when the error alone
/// does not say it.
fn unavailable_reason(e: &io::Error) -> String {
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EMFILE) => format!(
            "{e}: the limit on inotify instances (fs.inotify.max_user_instances) \
             or on open files is reached"
        ),
        Some(Errno::ENFILE) => format!("{e}: the system-wide limit on open files is reached"),
        _ => e.to_string(),
    }
}

impl Watches {
    /// Sets up inotify on both directories, or falls back to polling every
    /// `period` (logged) when it cannot. Must run inside the runtime.
    pub(crate) fn new(config: &Path, messages: &Path, period: Duration) -> Self {
        let mut w = Watches {
            fd: None,
            unavailable: None,
            period,
            config: Watched::new(config),
            messages: Watched::new(messages),
        };
        w.rearm();
        w
    }

    /// Gets inotify back if it was unavailable, and (re-)adds any watch that
    /// is missing, e.g. after a directory was replaced. Called at start and
    /// on every tick; each failure is logged once, and its end once.
    pub(crate) fn rearm(&mut self) {
        if self.fd.is_none() {
            match init() {
                Ok(fd) => {
                    if self.unavailable.take().is_some() {
                        tracing::info!("inotify is available again; watching the directories");
                    }
                    self.fd = Some(fd);
                }
                Err(e) => {
                    let why = unavailable_reason(&e);
                    if self.unavailable.as_ref() != Some(&why) {
                        tracing::warn!(
                            "cannot use inotify: {why}; polling both directories every {}s \
                             (--frequency) instead, and trying inotify again at each poll",
                            self.period.as_secs_f64()
                        );
                    }
                    self.unavailable = Some(why);
                    return;
                }
            }
        }
        let Some(fd) = &self.fd else { return };
        for w in [&mut self.config, &mut self.messages] {
            if w.wd.is_none() {
                match fd.get_ref().watches().add(&w.path, mask()) {
                    Ok(d) => {
                        if w.failed.take().is_some() {
                            tracing::info!("watching {} again", w.path.display());
                        }
                        w.wd = Some(d);
                    }
                    Err(e) => {
                        let why = e.to_string();
                        if w.failed.as_ref() != Some(&why) {
                            tracing::warn!(
                                "cannot watch {}: {why}; relying on polling",
                                w.path.display()
                            );
                        }
                        w.failed = Some(why);
                    }
                }
            }
        }
    }

    /// Waits for events, reads every queued one, and says which directories
    /// need a rescan. An overflow means both.
    /// Without inotify, never returns: the ticks do the rescans.
    pub(crate) async fn wait(&mut self) -> io::Result<Dirty> {
        let Some(fd) = self.fd.as_mut() else {
            return std::future::pending().await;
        };
        let mut guard = fd.readable_mut().await?;
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
