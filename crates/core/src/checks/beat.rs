//! Heartbeat checking: a process whose config has an `ncolony.beatcheck`
//! section promises to touch its status file at least every `period`
//! seconds; once its grace is over, a status file older than that (or
//! missing) means the process is stuck and must be restarted.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

use super::{Reader, SectionError};
use crate::clock::Now;

/// The config key of the heartbeat section.
pub const KEY: &str = "ncolony.beatcheck";

/// A validated `"ncolony.beatcheck": {"status", "period", "grace"}` section.
#[derive(Clone, Debug, PartialEq)]
pub struct BeatSection {
    /// The status file, or a directory holding one file per process name.
    pub status: String,
    /// The longest time allowed between two beats.
    pub period: Duration,
    /// How many periods to wait, after the config changed or the checker
    /// started, before the first check.
    pub grace: f64,
}

impl BeatSection {
    /// The section of a parsed config: `Ok(None)` when it has none, every
    /// missing or mistyped key in the error.
    pub fn from_config(config: &Map<String, Value>) -> Result<Option<Self>, SectionError> {
        let Some(mut r) = Reader::open(config, KEY)? else {
            return Ok(None);
        };
        let status = r.string("status");
        let period = r.number("period", true);
        let grace = r.number("grace", false);
        r.finish(BeatSection {
            status,
            period: Duration::from_secs_f64(period),
            grace,
        })
    }

    /// `period * grace`: how long a process is left alone after its config
    /// changed, the checker started, or it was last restarted.
    pub fn grace_time(&self) -> Duration {
        self.period.mul_f64(self.grace)
    }

    /// How often a heart should beat: three times a period, so that one
    /// missed beat or a late timer is not taken for a stopped heart.
    pub fn beat_interval(&self) -> Duration {
        self.period / 3
    }
}

/// Whether a process counts as stopped at `now`: its grace is over (it ends
/// at `grace_end`), and its last beat (the status file's mtime, `None` when
/// there is no such file) is more than a period ago.
pub fn is_stale(
    section: &BeatSection,
    grace_end: SystemTime,
    last_beat: Option<SystemTime>,
    now: SystemTime,
) -> bool {
    if now <= grace_end {
        return false;
    }
    match last_beat {
        None => true,
        Some(beat) => beat.checked_add(section.period).is_some_and(|t| t < now),
    }
}

/// A fact the shell reports to [`BeatChecks`].
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A config file with a valid heartbeat section is new or changed.
    Configured {
        /// The process name.
        name: String,
        /// Its heartbeat section.
        section: BeatSection,
        /// The config file's mtime: its grace starts then (or at the
        /// checker's start, whichever is later).
        changed: SystemTime,
    },
    /// A config file is gone, has no heartbeat section or a bad one.
    Removed {
        /// The process name.
        name: String,
    },
    /// The answer to [`Action::ReadBeat`].
    Beat {
        /// The process name.
        name: String,
        /// Its status file's mtime; `None` when there is no such file.
        last: Option<SystemTime>,
    },
}

/// Something [`BeatChecks`] asks the shell to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read the process's last beat, the mtime of its status file (`status`,
    /// or `status/NAME` when that is a directory), and answer with
    /// [`Input::Beat`].
    ReadBeat {
        /// The process name.
        name: String,
        /// The section's `status` path.
        status: String,
    },
    /// Its heart has stopped: send a RESTART message for it.
    Restart {
        /// The process name.
        name: String,
    },
}

/// One process being checked.
#[derive(Clone, Debug)]
struct Watched {
    section: BeatSection,
    /// Not checked until after this.
    grace_end: SystemTime,
}

/// `t + d`, or the far future if that does not fit.
fn after(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(u32::MAX.into()))
}

/// Every process with a heartbeat section, and when its grace ends: fed
/// [`Input`]s and the time, it queues [`Action`]s and reports its next
/// deadline (the monitor's shape, see [`crate::monitor::Monitor`]).
///
/// After [`BeatChecks::handle`] and [`BeatChecks::handle_timeout`] the shell
/// drains [`BeatChecks::poll_action`] (answering each `ReadBeat` with
/// `handle` as it goes) and waits until [`BeatChecks::poll_timeout`].
#[derive(Clone, Debug)]
pub struct BeatChecks {
    start: SystemTime,
    every: Duration,
    next_check: Instant,
    procs: BTreeMap<String, Watched>,
    actions: VecDeque<Action>,
}

impl BeatChecks {
    /// A checker that started at `now` and checks every `every` from then
    /// on: no process is checked before its grace after `now` is over.
    pub fn new(now: Now, every: Duration) -> Self {
        BeatChecks {
            start: now.wall,
            every,
            next_check: now.mono,
            procs: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// Feeds one input at `now`.
    pub fn handle(&mut self, now: Now, input: Input) {
        match input {
            Input::Configured {
                name,
                section,
                changed,
            } => {
                let grace_end = after(changed.max(self.start), section.grace_time());
                self.procs.insert(name, Watched { section, grace_end });
            }
            Input::Removed { name } => {
                self.procs.remove(&name);
            }
            Input::Beat { name, last } => self.beat(now.wall, name, last),
        }
    }

    /// A process's last beat: if its heart has stopped, it gets a fresh grace
    /// from `now` (at least one period, even with `grace: 0`), so one that is
    /// being restarted is not reported again before it could have beaten.
    fn beat(&mut self, now: SystemTime, name: String, last: Option<SystemTime>) {
        let Some(w) = self.procs.get_mut(&name) else {
            return;
        };
        if is_stale(&w.section, w.grace_end, last, now) {
            let quiet = w.section.grace_time().max(w.section.period);
            w.grace_end = after(now, quiet);
            tracing::warn!(name = %name, "heart stopped beating; asking for a restart");
            self.actions.push_back(Action::Restart { name });
        }
    }

    /// Checks every process past its grace, if a check is due at `now`
    /// (they are `every` apart); a spurious call does nothing.
    pub fn handle_timeout(&mut self, now: Now) {
        if now.mono < self.next_check {
            return;
        }
        self.next_check = now.mono.checked_add(self.every).unwrap_or(now.mono);
        for (name, w) in &self.procs {
            // No file system look-up while in grace.
            if now.wall > w.grace_end {
                self.actions.push_back(Action::ReadBeat {
                    name: name.clone(),
                    status: w.section.status.clone(),
                });
            }
        }
    }

    /// When the next check is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_check)
    }

    /// The next action for the shell, in name order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether `name` is being checked.
    pub fn is_watched(&self, name: &str) -> bool {
        self.procs.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::checks::config_object;

    fn at(secs: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000) + Duration::from_secs_f64(secs)
    }

    /// The fake clocks at wall time `wall`: the monotonic one moves with it.
    fn now(wall: SystemTime) -> Now {
        crate::clock::fake(wall.duration_since(UNIX_EPOCH).expect("after the epoch"))
    }

    /// A checker started at `start` that checks whenever asked.
    fn started(start: SystemTime) -> BeatChecks {
        BeatChecks::new(now(start), Duration::ZERO)
    }

    /// The tests' plumbing: each call drives the engine's inputs and actions.
    impl BeatChecks {
        fn watch(&mut self, name: &str, section: BeatSection, changed: SystemTime) {
            let input = Input::Configured {
                name: name.into(),
                section,
                changed,
            };
            self.handle(now(changed), input);
        }

        fn unwatch(&mut self, name: &str) {
            let input = Input::Removed { name: name.into() };
            self.handle(now(self.start), input);
        }

        /// One check at `wall`: the processes asked to restart.
        fn check(
            &mut self,
            wall: SystemTime,
            mut last_beat: impl FnMut(&str, &BeatSection) -> Option<SystemTime>,
        ) -> Vec<String> {
            self.handle_timeout(now(wall));
            let mut restarts = Vec::new();
            while let Some(action) = self.poll_action() {
                match action {
                    Action::ReadBeat { name, .. } => {
                        let last = last_beat(&name, &self.procs[&name].section);
                        self.handle(now(wall), Input::Beat { name, last });
                    }
                    Action::Restart { name } => restarts.push(name),
                }
            }
            restarts
        }
    }

    fn section(period: u64, grace: f64) -> BeatSection {
        BeatSection {
            status: "/run/x".into(),
            period: Duration::from_secs(period),
            grace,
        }
    }

    fn parse(text: &str) -> Result<Option<BeatSection>, SectionError> {
        BeatSection::from_config(&config_object(text.as_bytes()).expect("object"))
    }

    #[test]
    fn sections_parse_and_name_bad_keys() {
        assert_eq!(parse(r#"{"args": ["x"]}"#), Ok(None));
        let s = parse(r#"{"ncolony.beatcheck": {"status": "/s", "period": 1.5, "grace": 2}}"#)
            .expect("valid")
            .expect("present");
        assert_eq!(s.period, Duration::from_millis(1500));
        assert_eq!(s.grace_time(), Duration::from_secs(3));
        assert_eq!(s.beat_interval(), Duration::from_millis(500));
        let e = parse(r#"{"ncolony.beatcheck": {"status": 3, "grace": -1}}"#).expect_err("bad");
        assert_eq!(e.problems.len(), 3, "{e}");
        let text = e.to_string();
        assert!(
            text.contains(r#""ncolony.beatcheck"."status" must be a string"#),
            "{text}"
        );
        assert!(
            text.contains(r#""ncolony.beatcheck"."period" is missing"#),
            "{text}"
        );
        assert!(
            text.contains(r#""ncolony.beatcheck"."grace" must be a non-negative"#),
            "{text}"
        );
        let e = parse(r#"{"ncolony.beatcheck": {"status": "/s", "period": 0, "grace": 1}}"#)
            .expect_err("zero period");
        assert!(
            e.to_string()
                .contains(r#""period" must be a positive number"#),
            "{e}"
        );
        let e = parse(r#"{"ncolony.beatcheck": "yes"}"#).expect_err("not an object");
        assert!(
            e.to_string().contains("must be an object, found a string"),
            "{e}"
        );
    }

    #[test]
    fn fresh_and_stale_beats() {
        let s = section(10, 2.0);
        let from = at(20.0);
        // In grace (until 20 s): never stale, even with no beat at all.
        assert!(!is_stale(&s, from, None, at(20.0)));
        // After grace: no status file is stale.
        assert!(is_stale(&s, from, None, at(20.1)));
        // A beat within the period is fresh; one older than a period is not.
        assert!(!is_stale(&s, from, Some(at(15.0)), at(25.0)));
        assert!(is_stale(&s, from, Some(at(14.9)), at(25.0)));
        // A beat from the future (clock skew) counts as fresh.
        assert!(!is_stale(&s, from, Some(at(100.0)), at(25.0)));
    }

    #[test]
    fn grace_starts_at_the_later_of_change_and_start_and_restarts_after_a_report() {
        let mut checks = started(at(100.0));
        // The config is older than the checker: grace counts from the start.
        checks.watch("web", section(1, 3.0), at(0.0));
        let never = |_: &str, _: &BeatSection| None;
        assert!(checks.check(at(103.0), never).is_empty());
        assert_eq!(checks.check(at(103.5), never), ["web"]);
        // Reported once, then left alone for another grace.
        assert!(checks.check(at(104.0), never).is_empty());
        assert!(checks.check(at(106.5), never).is_empty());
        assert_eq!(checks.check(at(106.6), never), ["web"]);
        // A config changed after the start gets its grace from the change.
        checks.watch("web", section(1, 3.0), at(200.0));
        assert!(checks.check(at(202.0), never).is_empty());
        assert_eq!(checks.check(at(203.1), never), ["web"]);
    }

    #[test]
    fn with_no_grace_a_reported_process_still_gets_a_period_to_beat() {
        let mut checks = started(at(0.0));
        checks.watch("web", section(2, 0.0), at(0.0));
        let never = |_: &str, _: &BeatSection| None;
        assert_eq!(checks.check(at(0.1), never), ["web"]);
        assert!(checks.check(at(2.0), never).is_empty());
        assert_eq!(checks.check(at(2.2), never), ["web"]);
    }

    #[test]
    fn only_stopped_hearts_are_reported_and_unwatched_ones_never() {
        let mut checks = started(at(0.0));
        checks.watch("alive", section(1, 1.0), at(0.0));
        checks.watch("dead", section(1, 1.0), at(0.0));
        checks.watch("gone", section(1, 1.0), at(0.0));
        checks.unwatch("gone");
        assert!(!checks.is_watched("gone"));
        let now = at(10.0);
        let beats = |name: &str, _: &BeatSection| match name {
            "alive" => Some(at(9.5)),
            _ => Some(at(2.0)),
        };
        assert_eq!(checks.check(now, beats), ["dead"]);
    }

    #[test]
    fn checks_come_every_period_and_skip_processes_in_grace() {
        let every = Duration::from_secs(2);
        let mut checks = BeatChecks::new(now(at(0.0)), every);
        for (name, grace) in [("web", 1.0), ("late", 100.0)] {
            let input = Input::Configured {
                name: name.into(),
                section: section(1, grace),
                changed: at(0.0),
            };
            checks.handle(now(at(0.0)), input);
        }
        assert_eq!(checks.poll_timeout(), Some(now(at(0.0)).mono));
        // Due since 0; "web" is past its grace, "late" is not read at all.
        checks.handle_timeout(now(at(1.5)));
        let read = Action::ReadBeat {
            name: "web".into(),
            status: "/run/x".into(),
        };
        assert_eq!(checks.poll_action(), Some(read));
        assert_eq!(checks.poll_action(), None);
        // The next check is `every` after the last one, not before.
        assert_eq!(checks.poll_timeout(), Some(now(at(3.5)).mono));
        checks.handle_timeout(now(at(3.4)));
        assert_eq!(checks.poll_action(), None);
        // A fresh beat asks for nothing.
        checks.handle_timeout(now(at(3.5)));
        assert!(checks.poll_action().is_some());
        let beat = Input::Beat {
            name: "web".into(),
            last: Some(at(3.0)),
        };
        checks.handle(now(at(3.5)), beat);
        assert_eq!(checks.poll_action(), None);
    }
}
