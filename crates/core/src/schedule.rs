//! The scheduler's decisions: when its job is due, that only one copy ever
//! runs (a run still going when the next is due delays that one until it
//! ends), SIGTERM at the timeout, SIGKILL a grace later, and a clean stop.
//!
//! Deadlines are monotonic [`Instant`]s; `now` also carries the wall clock
//! (see [`crate::clock`]), which a cron [`Trigger`] needs.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::clock::{Now, later};

/// When runs are due.
pub trait Trigger: fmt::Debug {
    /// The first due time strictly after `t`, or `None` for never again.
    /// `now` is the current time on both clocks, for triggers that count in
    /// wall time (cron): they work out `t`'s wall time from it.
    fn next_after(&self, t: Instant, now: Now) -> Option<Instant>;
}

/// Every `period`, on a grid starting at `anchor`: a late wake-up does not
/// shift later runs, and missed slots are skipped, not made up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Every {
    /// A due time; the others are whole periods away from it.
    pub anchor: Instant,
    /// Time between two due times; never zero.
    pub period: Duration,
}

impl Trigger for Every {
    fn next_after(&self, t: Instant, _now: Now) -> Option<Instant> {
        if self.period.is_zero() {
            return None;
        }
        if t < self.anchor {
            return Some(self.anchor);
        }
        let periods = (t - self.anchor).as_nanos() / self.period.as_nanos() + 1;
        let periods = u32::try_from(periods).ok()?;
        self.anchor.checked_add(self.period.checked_mul(periods)?)
    }
}

/// A fact the shell reports to [`Schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The job ended (or could not be started). A delayed run starts at once.
    Exited,
    /// Stop: no more runs; a running job gets SIGTERM now and SIGKILL a
    /// grace later (or sooner if that was already due), then
    /// [`Action::Exit`].
    Shutdown,
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start the job now, then report [`Input::Exited`] when it ends (at
    /// once if it could not be started).
    Start,
    /// A run was due while the job is still running: log it; the run starts
    /// when the job ends.
    Delayed,
    /// The job ran past its timeout (or we are stopping): SIGTERM its group.
    Term,
    /// The job outlived SIGTERM by the grace: SIGKILL its group.
    Kill,
    /// Stopping, and no job is running: exit.
    Exit,
}

/// The job's timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time from start to SIGTERM.
    pub timeout: Duration,
    /// Time from SIGTERM to SIGKILL.
    pub grace: Duration,
}

/// The job, if one is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    Idle,
    Running {
        /// When to send SIGTERM, until it is sent.
        term_at: Option<Instant>,
        /// When to send SIGKILL, until it is sent.
        kill_at: Option<Instant>,
    },
}

/// The scheduler's state machine: fed the time and the job's exits, it
/// queues [`Action`]s and reports its next deadline (the monitor's shape,
/// see [`crate::monitor::Monitor`]).
///
/// After [`Schedule::handle`] and [`Schedule::handle_timeout`] the shell
/// drains [`Schedule::poll_action`] and waits until [`Schedule::poll_timeout`]
/// or the next input.
#[derive(Debug)]
pub struct Schedule {
    trigger: Box<dyn Trigger + Send>,
    limits: Limits,
    next_due: Option<Instant>,
    job: Job,
    /// A run came due while the job was running.
    pending: bool,
    stopping: bool,
    actions: VecDeque<Action>,
}

impl Schedule {
    /// A schedule whose first run is due at `first` (`None`: never).
    pub fn new(trigger: Box<dyn Trigger + Send>, limits: Limits, first: Option<Instant>) -> Self {
        Schedule {
            trigger,
            limits,
            next_due: first,
            job: Job::Idle,
            pending: false,
            stopping: false,
            actions: VecDeque::new(),
        }
    }

    /// When the next run is due (`None`: never, or stopping).
    pub fn next_due(&self) -> Option<Instant> {
        self.next_due
    }

    /// Whether the job is running.
    pub fn is_running(&self) -> bool {
        matches!(self.job, Job::Running { .. })
    }

    fn start(&mut self, now: Instant) {
        let term_at = later(now, self.limits.timeout);
        self.job = Job::Running {
            term_at: Some(term_at),
            kill_at: Some(later(term_at, self.limits.grace)),
        };
        self.actions.push_back(Action::Start);
    }

    /// Feeds one input at `now`.
    pub fn handle(&mut self, now: Now, input: Input) {
        match input {
            Input::Exited => self.exited(now.mono),
            Input::Shutdown => self.shutdown(now.mono),
        }
    }

    /// Fires every deadline at or before `now`; a spurious call does nothing.
    pub fn handle_timeout(&mut self, clock: Now) {
        let now = clock.mono;
        if let Some(due) = self.next_due.filter(|due| *due <= now) {
            // Never before the slot that just fired, even if woken early.
            self.next_due = self.trigger.next_after(now.max(due), clock);
            match self.job {
                Job::Idle => self.start(now),
                Job::Running { .. } => {
                    self.pending = true;
                    self.actions.push_back(Action::Delayed);
                }
            }
        }
        if let Job::Running { term_at, kill_at } = &mut self.job {
            if term_at.is_some_and(|t| t <= now) {
                *term_at = None;
                self.actions.push_back(Action::Term);
            }
            if kill_at.is_some_and(|t| t <= now) {
                *kill_at = None;
                *term_at = None;
                self.actions.push_back(Action::Kill);
            }
        }
    }

    /// The job ended (or could not be started) at `now`. A delayed run
    /// starts at once.
    fn exited(&mut self, now: Instant) {
        self.job = Job::Idle;
        if self.stopping {
            self.actions.push_back(Action::Exit);
        } else if self.pending {
            self.pending = false;
            self.start(now);
        }
    }

    /// Stop at `now`: no more runs; a running job gets SIGTERM now and
    /// SIGKILL a grace later (or sooner if that was already due), then Exit.
    fn shutdown(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.next_due = None;
        self.pending = false;
        match &mut self.job {
            Job::Idle => self.actions.push_back(Action::Exit),
            Job::Running { term_at, kill_at } => {
                if term_at.take().is_some() {
                    self.actions.push_back(Action::Term);
                }
                let by = later(now, self.limits.grace);
                if let Some(k) = kill_at {
                    *k = (*k).min(by);
                }
            }
        }
    }

    /// The next thing the shell must do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest deadline: the next due time, SIGTERM or SIGKILL.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let (term, kill) = match self.job {
            Job::Idle => (None, None),
            Job::Running { term_at, kill_at } => (term_at, kill_at),
        };
        [self.next_due, term, kill].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    /// The fake clocks, `d` after their origin.
    fn clock(d: Duration) -> Now {
        crate::clock::fake(d)
    }

    /// The deadline `secs` after the origin.
    fn t(secs: f64) -> Instant {
        clock(s(secs)).mono
    }

    /// How long after the origin `i` is.
    fn since(i: Instant) -> Duration {
        i - clock(Duration::ZERO).mono
    }

    /// A fake clock driving a schedule: `advance` moves time and fires
    /// deadlines one by one, collecting actions with their times.
    struct Harness {
        now: Duration,
        sched: Schedule,
        log: Vec<(Duration, Action)>,
    }

    impl Harness {
        fn every(period: f64, timeout: f64, grace: f64) -> Self {
            let trigger = Every {
                anchor: t(0.0),
                period: s(period),
            };
            let limits = Limits {
                timeout: s(timeout),
                grace: s(grace),
            };
            let mut h = Harness {
                now: s(0.0),
                sched: Schedule::new(Box::new(trigger), limits, Some(t(0.0))),
                log: Vec::new(),
            };
            h.advance(0.0);
            h
        }

        fn drain(&mut self) {
            while let Some(a) = self.sched.poll_action() {
                self.log.push((self.now, a));
            }
        }

        fn advance(&mut self, secs: f64) {
            let until = self.now + s(secs);
            while let Some(t) = self.sched.poll_timeout().map(since).filter(|t| *t <= until) {
                self.now = self.now.max(t);
                self.sched.handle_timeout(clock(self.now));
                self.drain();
            }
            self.now = until;
        }

        fn exited(&mut self) {
            self.sched.handle(clock(self.now), Input::Exited);
            self.drain();
        }

        fn take(&mut self) -> Vec<(f64, Action)> {
            self.log
                .drain(..)
                .map(|(t, a)| (t.as_secs_f64(), a))
                .collect()
        }
    }

    #[test]
    fn every_is_a_grid_that_skips_missed_slots() {
        let e = Every {
            anchor: t(10.0),
            period: s(5.0),
        };
        let now = clock(Duration::ZERO);
        assert_eq!(e.next_after(t(0.0), now), Some(t(10.0)));
        assert_eq!(e.next_after(t(10.0), now), Some(t(15.0)));
        assert_eq!(e.next_after(t(14.9), now), Some(t(15.0)));
        assert_eq!(e.next_after(t(31.0), now), Some(t(35.0)));
    }

    #[test]
    fn runs_at_start_then_every_period() {
        let mut h = Harness::every(10.0, 5.0, 1.0);
        assert_eq!(h.take(), [(0.0, Action::Start)]);
        h.advance(1.0);
        h.exited();
        h.advance(8.9);
        assert!(h.take().is_empty());
        h.advance(0.1);
        assert_eq!(h.take(), [(10.0, Action::Start)]);
        assert_eq!(h.sched.next_due(), Some(t(20.0)));
    }

    #[test]
    fn overrun_is_termed_at_timeout_and_killed_after_grace() {
        let mut h = Harness::every(10.0, 2.0, 1.0);
        h.advance(5.0);
        assert_eq!(
            h.take(),
            [
                (0.0, Action::Start),
                (2.0, Action::Term),
                (3.0, Action::Kill)
            ]
        );
        h.exited();
        // Nothing more is pending once it is killed.
        assert_eq!(h.sched.poll_timeout(), Some(t(10.0)));
    }

    #[test]
    fn a_job_still_running_when_due_delays_the_next_run_until_it_ends() {
        let mut h = Harness::every(1.0, 100.0, 1.0);
        h.advance(2.5);
        // Due at 1 and 2 while running: logged each time, one run pending.
        assert_eq!(
            h.take(),
            [
                (0.0, Action::Start),
                (1.0, Action::Delayed),
                (2.0, Action::Delayed)
            ]
        );
        h.exited();
        assert_eq!(
            h.take(),
            [(2.5, Action::Start)],
            "the delayed run starts at once"
        );
        h.advance(0.4);
        h.exited();
        // Back on the grid: the next run is at 3, not 3.5.
        h.advance(0.2);
        assert_eq!(h.take(), [(3.0, Action::Start)]);
    }

    #[test]
    fn never_two_copies_at_once() {
        let mut h = Harness::every(0.5, 100.0, 1.0);
        h.advance(10.0);
        let starts = h.take().iter().filter(|(_, a)| *a == Action::Start).count();
        assert_eq!(starts, 1);
    }

    #[test]
    fn shutdown_terms_then_kills_a_running_job_then_exits() {
        let mut h = Harness::every(10.0, 5.0, 2.0);
        h.advance(1.0);
        h.sched.handle(clock(h.now), Input::Shutdown);
        h.drain();
        h.advance(3.0);
        assert_eq!(
            h.take(),
            [
                (0.0, Action::Start),
                (1.0, Action::Term),
                (3.0, Action::Kill)
            ]
        );
        h.exited();
        assert_eq!(h.take(), [(4.0, Action::Exit)]);
        assert_eq!(h.sched.poll_timeout(), None);
    }

    #[test]
    fn shutdown_when_idle_exits_at_once() {
        let mut h = Harness::every(10.0, 5.0, 2.0);
        h.advance(1.0);
        h.exited();
        h.take();
        h.sched.handle(clock(h.now), Input::Shutdown);
        h.drain();
        assert_eq!(h.take(), [(1.0, Action::Exit)]);
    }

    #[test]
    fn spurious_and_early_timeouts_do_nothing() {
        let mut h = Harness::every(10.0, 5.0, 2.0);
        h.take();
        h.sched.handle_timeout(clock(s(0.5)));
        h.drain();
        assert!(h.take().is_empty());
    }
}
