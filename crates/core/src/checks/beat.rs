//! Heartbeat checking: a process whose config has an `ncolony.beatcheck`
//! section promises to touch its status file at least every `period`
//! seconds; once its grace is over, a status file older than that (or
//! missing) means the process is stuck and must be restarted.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::{Reader, SectionError};

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

/// Every process with a heartbeat section, and when its grace ends.
#[derive(Clone, Debug)]
pub struct BeatChecks {
    start: SystemTime,
    procs: BTreeMap<String, Watched>,
}

impl BeatChecks {
    /// A checker that started at `start`: no process is checked before its
    /// grace after `start` is over.
    pub fn new(start: SystemTime) -> Self {
        BeatChecks {
            start,
            procs: BTreeMap::new(),
        }
    }

    /// Checks `name` with `section` from now on. Its grace starts at
    /// `changed` (the config file's mtime) or at the checker's start,
    /// whichever is later.
    pub fn watch(&mut self, name: &str, section: BeatSection, changed: SystemTime) {
        let grace_end = after(changed.max(self.start), section.grace_time());
        self.procs
            .insert(name.to_owned(), Watched { section, grace_end });
    }

    /// Stops checking `name` (its config is gone, has no section, or a bad one).
    pub fn unwatch(&mut self, name: &str) {
        self.procs.remove(name);
    }

    /// Whether `name` is being checked.
    pub fn is_watched(&self, name: &str) -> bool {
        self.procs.contains_key(name)
    }

    /// The processes whose heart has stopped at `now`, in name order.
    /// `last_beat` gives a process's last beat (`None`: never). Each returned
    /// process gets a fresh grace from `now` (at least one period, even with
    /// `grace: 0`), so one that is being restarted is not reported again
    /// before it could have beaten.
    pub fn check(
        &mut self,
        now: SystemTime,
        mut last_beat: impl FnMut(&str, &BeatSection) -> Option<SystemTime>,
    ) -> Vec<String> {
        let mut stale = Vec::new();
        for (name, w) in &mut self.procs {
            // Skip the file system look-up while in grace.
            if now <= w.grace_end {
                continue;
            }
            if is_stale(&w.section, w.grace_end, last_beat(name, &w.section), now) {
                let quiet = w.section.grace_time().max(w.section.period);
                w.grace_end = after(now, quiet);
                stale.push(name.clone());
            }
        }
        stale
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
        let mut checks = BeatChecks::new(at(100.0));
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
        let mut checks = BeatChecks::new(at(0.0));
        checks.watch("web", section(2, 0.0), at(0.0));
        let never = |_: &str, _: &BeatSection| None;
        assert_eq!(checks.check(at(0.1), never), ["web"]);
        assert!(checks.check(at(2.0), never).is_empty());
        assert_eq!(checks.check(at(2.2), never), ["web"]);
    }

    #[test]
    fn only_stopped_hearts_are_reported_and_unwatched_ones_never() {
        let mut checks = BeatChecks::new(at(0.0));
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
}
