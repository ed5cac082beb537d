//! HTTP checking: a process whose config has an `ncolony.httpcheck` section
//! is probed with a GET every `period`, starting `grace * period` after its
//! config was seen; more than `maxBad` failures in a row ask for a restart.
//!
//! Times are `Duration`s since an epoch the caller picks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{Reader, SectionError};

/// The config key of the HTTP check section.
pub const KEY: &str = "ncolony.httpcheck";

/// A validated `"ncolony.httpcheck": {"url", "period", "timeout", "grace",
/// "maxBad"}` section.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSection {
    /// The URL to GET; any 2xx answer is a success.
    pub url: String,
    /// Time between two probes.
    pub period: Duration,
    /// How long one probe may take (capped at `period`).
    pub timeout: Duration,
    /// How many periods to wait before the first probe.
    pub grace: f64,
    /// How many failures in a row are tolerated; one more means a restart.
    pub max_bad: u32,
}

impl HttpSection {
    /// The section of a parsed config: `Ok(None)` when it has none, every
    /// missing or mistyped key in the error.
    pub fn from_config(config: &Map<String, Value>) -> Result<Option<Self>, SectionError> {
        let Some(mut r) = Reader::open(config, KEY)? else {
            return Ok(None);
        };
        let url = r.string("url");
        let period = r.number("period", true);
        let timeout = r.number("timeout", true);
        let grace = r.number("grace", false);
        let max_bad = r.count("maxBad");
        r.finish(HttpSection {
            url,
            period: Duration::from_secs_f64(period),
            timeout: Duration::from_secs_f64(timeout),
            grace,
            max_bad,
        })
    }

    /// The time before the first probe: `grace * period`.
    pub fn grace_time(&self) -> Duration {
        self.period.mul_f64(self.grace)
    }

    /// The time one probe may take: `timeout`, but never more than `period`,
    /// so at most one probe per process is in flight.
    pub fn probe_timeout(&self) -> Duration {
        self.timeout.min(self.period)
    }
}

/// A GET the shell should make now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The process the probe is for.
    pub name: String,
    /// The URL to GET.
    pub url: String,
    /// Give up (a failure) after this long.
    pub timeout: Duration,
    /// Hand this back with the result: results for an older config are ignored.
    pub generation: u64,
}

/// What a probe's result changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The probe was for a config that is gone or has changed since.
    Ignored,
    /// A success: the failure count is back to zero.
    Good,
    /// A failure, tolerated so far: `bad` in a row, at most `max_bad` allowed.
    Bad {
        /// Failures in a row, this one included.
        bad: u32,
        /// The section's `maxBad`.
        max_bad: u32,
    },
    /// More than `maxBad` failures in a row: restart the process. The count
    /// starts afresh and the grace starts again (at least one period).
    Restart {
        /// Failures in a row, this one included.
        bad: u32,
    },
}

/// One process being probed.
#[derive(Clone, Debug)]
struct Watched {
    section: HttpSection,
    generation: u64,
    next_probe: Duration,
    bad: u32,
    in_flight: bool,
}

/// Every process with an HTTP check section and its failure count.
#[derive(Clone, Debug, Default)]
pub struct HttpChecks {
    procs: BTreeMap<String, Watched>,
    generations: u64,
}

impl HttpChecks {
    /// No process checked yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks `name` with `section` (new or changed config) from `now` on:
    /// the count is zero, the first probe is a grace away, and the result of
    /// a probe still in flight for the old config will be ignored.
    pub fn watch(&mut self, name: &str, section: HttpSection, now: Duration) {
        self.generations += 1;
        let next_probe = now.saturating_add(section.grace_time());
        self.procs.insert(
            name.to_owned(),
            Watched {
                section,
                generation: self.generations,
                next_probe,
                bad: 0,
                in_flight: false,
            },
        );
    }

    /// Stops checking `name`.
    pub fn unwatch(&mut self, name: &str) {
        self.procs.remove(name);
    }

    /// Whether `name` is being checked.
    pub fn is_watched(&self, name: &str) -> bool {
        self.procs.contains_key(name)
    }

    /// The probes due at `now`, each marked in flight until
    /// [`HttpChecks::probe_done`]. The next probe of each is a period later.
    pub fn poll_probes(&mut self, now: Duration) -> Vec<Probe> {
        let mut due = Vec::new();
        for (name, w) in &mut self.procs {
            if w.in_flight || now < w.next_probe {
                continue;
            }
            w.in_flight = true;
            w.next_probe = now.saturating_add(w.section.period);
            due.push(Probe {
                name: name.clone(),
                url: w.section.url.clone(),
                timeout: w.section.probe_timeout(),
                generation: w.generation,
            });
        }
        due
    }

    /// Records a probe's result at `now`.
    pub fn probe_done(&mut self, name: &str, generation: u64, ok: bool, now: Duration) -> Verdict {
        let Some(w) = self.procs.get_mut(name) else {
            return Verdict::Ignored;
        };
        if w.generation != generation {
            return Verdict::Ignored;
        }
        w.in_flight = false;
        if ok {
            w.bad = 0;
            return Verdict::Good;
        }
        w.bad = w.bad.saturating_add(1);
        if w.bad > w.section.max_bad {
            let bad = w.bad;
            w.bad = 0;
            // A new grace, and at least a period even with `grace: 0`, so
            // the restarting process is not probed (and reported) at once.
            let quiet = w.section.grace_time().max(w.section.period);
            w.next_probe = now.saturating_add(quiet);
            Verdict::Restart { bad }
        } else {
            Verdict::Bad {
                bad: w.bad,
                max_bad: w.section.max_bad,
            }
        }
    }

    /// When the next probe is due, if any process is waiting for one.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.procs
            .values()
            .filter(|w| !w.in_flight)
            .map(|w| w.next_probe)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::config_object;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn section(max_bad: u32) -> HttpSection {
        HttpSection {
            url: "http://127.0.0.1:1/health".into(),
            period: s(1.0),
            timeout: s(5.0),
            grace: 2.0,
            max_bad,
        }
    }

    #[test]
    fn sections_parse_and_name_bad_keys() {
        let text = r#"{"ncolony.httpcheck": {"url": "http://x/", "period": 2, "timeout": 0.5,
                       "grace": 1, "maxBad": 3}}"#;
        let sec = HttpSection::from_config(&config_object(text.as_bytes()).expect("object"))
            .expect("valid")
            .expect("present");
        assert_eq!(sec.max_bad, 3);
        assert_eq!(sec.probe_timeout(), s(0.5));
        assert_eq!(
            section(0).probe_timeout(),
            s(1.0),
            "timeout is capped at period"
        );
        let text = r#"{"ncolony.httpcheck": {"url": "http://x/", "period": "2", "timeout": 1,
                       "grace": 1, "maxBad": 1.5}}"#;
        let e = HttpSection::from_config(&config_object(text.as_bytes()).expect("object"))
            .expect_err("bad");
        let msg = e.to_string();
        assert!(
            msg.contains(
                r#""ncolony.httpcheck"."period" must be a positive number, found a string"#
            ),
            "{msg}"
        );
        assert!(
            msg.contains(r#""ncolony.httpcheck"."maxBad" must be a non-negative integer"#),
            "{msg}"
        );
    }

    #[test]
    fn probes_start_after_grace_and_repeat_every_period() {
        let mut c = HttpChecks::new();
        c.watch("web", section(0), s(10.0));
        assert_eq!(c.poll_timeout(), Some(s(12.0)));
        assert!(c.poll_probes(s(11.9)).is_empty());
        let p = c.poll_probes(s(12.0));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "web");
        // In flight: no second probe, no deadline.
        assert!(c.poll_probes(s(20.0)).is_empty());
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(
            c.probe_done("web", p[0].generation, true, s(12.1)),
            Verdict::Good
        );
        assert_eq!(c.poll_timeout(), Some(s(13.0)));
    }

    #[test]
    fn more_than_max_bad_failures_in_a_row_restart_then_count_afresh() {
        let mut c = HttpChecks::new();
        c.watch("web", section(2), s(0.0));
        let mut now = s(2.0);
        let step = |c: &mut HttpChecks, now: &mut Duration, ok: bool| {
            let p = c.poll_probes(*now).pop().expect("a probe is due");
            *now += s(1.0);
            c.probe_done("web", p.generation, ok, *now - s(0.5))
        };
        let bad = |bad| Verdict::Bad { bad, max_bad: 2 };
        assert_eq!(step(&mut c, &mut now, false), bad(1));
        assert_eq!(step(&mut c, &mut now, false), bad(2));
        // A success resets the count.
        assert_eq!(step(&mut c, &mut now, true), Verdict::Good);
        assert_eq!(step(&mut c, &mut now, false), bad(1));
        assert_eq!(step(&mut c, &mut now, false), bad(2));
        assert_eq!(step(&mut c, &mut now, false), Verdict::Restart { bad: 3 });
        // Then the grace starts again (2 s from the result at 7.5 s) and the
        // count is back to zero.
        assert_eq!(c.poll_timeout(), Some(s(9.5)));
        assert!(c.poll_probes(s(9.4)).is_empty());
        now = s(9.5);
        assert_eq!(step(&mut c, &mut now, false), bad(1));
    }

    #[test]
    fn max_bad_zero_restarts_on_the_first_failure() {
        let mut c = HttpChecks::new();
        c.watch("web", section(0), s(0.0));
        let p = c.poll_probes(s(2.0)).pop().expect("due");
        assert_eq!(
            c.probe_done("web", p.generation, false, s(2.1)),
            Verdict::Restart { bad: 1 }
        );
    }

    #[test]
    fn results_for_an_old_or_removed_config_are_ignored() {
        let mut c = HttpChecks::new();
        c.watch("web", section(0), s(0.0));
        let old = c.poll_probes(s(2.0)).pop().expect("due");
        c.watch("web", section(0), s(2.5));
        assert_eq!(
            c.probe_done("web", old.generation, false, s(3.0)),
            Verdict::Ignored
        );
        assert_eq!(c.poll_timeout(), Some(s(4.5)));
        c.unwatch("web");
        assert!(!c.is_watched("web"));
        assert_eq!(
            c.probe_done("web", old.generation, false, s(3.0)),
            Verdict::Ignored
        );
        assert_eq!(c.poll_timeout(), None);
    }
}
