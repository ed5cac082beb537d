//! The scheduler's decisions: when its job is due, that only one copy ever
//! runs (a run still going when the next is due delays that one until it
//! ends), SIGTERM at the timeout, SIGKILL a grace later, and a clean stop.
//!
//! Times are `Duration`s since an epoch the caller picks.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// When runs are due.
pub trait Trigger: fmt::Debug {
    /// The first due time strictly after `t`, or `None` for never again.
    fn next_after(&self, t: Duration) -> Option<Duration>;
}

/// Every `period`, on a grid starting at `anchor`: a late wake-up does not
/// shift later runs, and missed slots are skipped, not made up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Every {
    /// A due time; the others are whole periods away from it.
    pub anchor: Duration,
    /// Time between two due times; never zero.
    pub period: Duration,
}

impl Trigger for Every {
    fn next_after(&self, t: Duration) -> Option<Duration> {
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

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start the job now, then report [`Schedule::exited`] (or
    /// [`Schedule::exited`] at once if it could not be started).
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
        term_at: Option<Duration>,
        /// When to send SIGKILL, until it is sent.
        kill_at: Option<Duration>,
    },
}

/// The scheduler's state machine: fed the time and the job's exits, it
/// queues [`Action`]s and reports its next deadline.
#[derive(Debug)]
pub struct Schedule {
    trigger: Box<dyn Trigger + Send>,
    limits: Limits,
    next_due: Option<Duration>,
    job: Job,
    /// A run came due while the job was running.
    pending: bool,
    stopping: bool,
    actions: VecDeque<Action>,
}

impl Schedule {
    /// A schedule whose first run is due at `first` (`None`: never).
    pub fn new(trigger: Box<dyn Trigger + Send>, limits: Limits, first: Option<Duration>) -> Self {
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
    pub fn next_due(&self) -> Option<Duration> {
        self.next_due
    }

    /// Whether the job is running.
    pub fn is_running(&self) -> bool {
        matches!(self.job, Job::Running { .. })
    }

    fn start(&mut self, now: Duration) {
        let term_at = now.saturating_add(self.limits.timeout);
        self.job = Job::Running {
            term_at: Some(term_at),
            kill_at: Some(term_at.saturating_add(self.limits.grace)),
        };
        self.actions.push_back(Action::Start);
    }

    /// Fires every deadline at or before `now`; a spurious call does nothing.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(due) = self.next_due.filter(|due| *due <= now) {
            // Never before the slot that just fired, even if woken early.
            self.next_due = self.trigger.next_after(now.max(due));
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
    pub fn exited(&mut self, now: Duration) {
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
    pub fn shutdown(&mut self, now: Duration) {
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
                let by = now.saturating_add(self.limits.grace);
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
    pub fn poll_timeout(&self) -> Option<Duration> {
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
                anchor: s(0.0),
                period: s(period),
            };
            let limits = Limits {
                timeout: s(timeout),
                grace: s(grace),
            };
            let mut h = Harness {
                now: s(0.0),
                sched: Schedule::new(Box::new(trigger), limits, Some(s(0.0))),
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
            while let Some(t) = self.sched.poll_timeout().filter(|t| *t <= until) {
                self.now = self.now.max(t);
                self.sched.handle_timeout(self.now);
                self.drain();
            }
            self.now = until;
        }

        fn exited(&mut self) {
            self.sched.exited(self.now);
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
            anchor: s(10.0),
            period: s(5.0),
        };
        assert_eq!(e.next_after(s(0.0)), Some(s(10.0)));
        assert_eq!(e.next_after(s(10.0)), Some(s(15.0)));
        assert_eq!(e.next_after(s(14.9)), Some(s(15.0)));
        assert_eq!(e.next_after(s(31.0)), Some(s(35.0)));
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
        assert_eq!(h.sched.next_due(), Some(s(20.0)));
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
        assert_eq!(h.sched.poll_timeout(), Some(s(10.0)));
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
        h.sched.shutdown(h.now);
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
        h.sched.shutdown(h.now);
        h.drain();
        assert_eq!(h.take(), [(1.0, Action::Exit)]);
    }

    #[test]
    fn spurious_and_early_timeouts_do_nothing() {
        let mut h = Harness::every(10.0, 5.0, 2.0);
        h.take();
        h.sched.handle_timeout(s(0.5));
        h.drain();
        assert!(h.take().is_empty());
    }
}
