//! The time the side programs' engines ([`crate::checks`],
//! [`crate::schedule`]) are fed: one reading of both clocks.
//!
//! Deadlines are [`Instant`]s, as in [`crate::monitor`], so a wall-clock
//! change never moves a timer and every loop can wait on the earliest of its
//! deadlines directly. But two of the engines decide by the wall clock:
//! beatcheck compares file mtimes, and cron times are local wall times. So
//! `now` carries the wall clock read at the same moment. The core never
//! reads either: the shell does, and passes them in.

use std::time::{Duration, Instant, SystemTime};

/// The monotonic and the wall clock, read together by the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The monotonic clock: what deadlines are measured on.
    pub mono: Instant,
    /// The wall clock at the same moment: what mtimes and cron times are
    /// measured on.
    pub wall: SystemTime,
}

impl Now {
    /// Both clocks as the shell just read them.
    pub fn new(mono: Instant, wall: SystemTime) -> Self {
        Now { mono, wall }
    }

    /// The wall time at monotonic `t`, as if the wall clock runs steadily
    /// from now on (or ran steadily until now); `None` if out of range.
    pub fn wall_at(&self, t: Instant) -> Option<SystemTime> {
        if t >= self.mono {
            self.wall.checked_add(t - self.mono)
        } else {
            self.wall.checked_sub(self.mono - t)
        }
    }

    /// `self` moved on by `d` on both clocks (for fake clocks in tests).
    pub fn after(&self, d: Duration) -> Option<Now> {
        Some(Now {
            mono: self.mono.checked_add(d)?,
            wall: self.wall.checked_add(d)?,
        })
    }
}

/// `t + d`, or about 136 years after `t` if that does not fit (every time
/// the engines add is capped well below that).
pub fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(u32::MAX.into())))
        .unwrap_or(t)
}

/// The tests' fake clocks, `d` after their origin: the wall clock reads
/// `UNIX_EPOCH + d`, and both only move by hand.
#[cfg(test)]
pub(crate) fn fake(d: Duration) -> Now {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    // Any instant will do as the origin.
    #[expect(clippy::disallowed_methods, reason = "the fake clock's origin")]
    let origin = *ORIGIN.get_or_init(Instant::now);
    Now::new(origin, SystemTime::UNIX_EPOCH)
        .after(d)
        .expect("a fake time in range")
}
