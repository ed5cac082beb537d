//! HTTP checking: a process whose config has an `ncolony.httpcheck` section
//! is probed with a GET every `period`, starting `grace * period` after its
//! config was seen; more than `maxBad` failures in a row ask for a restart.
//!
//! Deadlines are monotonic ([`Now::mono`]); the wall clock plays no part.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{Reader, SectionError};
use crate::clock::{Now, later};

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

/// A GET the shell should make now ([`Action::Probe`]), handed back with its
/// [`Outcome`] in [`Input::Probed`].
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

/// How a probe went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The URL answered 2xx.
    Ok {
        /// The status code.
        status: u16,
    },
    /// A failure that counts against the process: a non-2xx answer, a
    /// transport error, a timeout. The reason is for the log.
    Failed(String),
    /// The probe could not be made (no thread to run it on): our failure,
    /// not the process's, so it counts neither way.
    NotRun(String),
}

impl Outcome {
    /// For the log: `HTTP 200`, or the reason.
    fn why(&self) -> String {
        match self {
            Outcome::Ok { status } => format!("HTTP {status}"),
            Outcome::Failed(why) | Outcome::NotRun(why) => why.clone(),
        }
    }
}

/// A fact the shell reports to [`HttpChecks`].
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A config file with a valid HTTP check section is new or changed.
    Configured {
        /// The process name.
        name: String,
        /// Its HTTP check section.
        section: HttpSection,
    },
    /// A config file is gone, has no HTTP check section or a bad one.
    Removed {
        /// The process name.
        name: String,
    },
    /// A probe asked for with [`Action::Probe`] has ended (or never ran).
    Probed {
        /// The probe, as it was handed out.
        probe: Probe,
        /// How it went.
        outcome: Outcome,
    },
}

/// Something [`HttpChecks`] asks the shell to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Make this probe without blocking the loop; answer with
    /// [`Input::Probed`].
    Probe(Probe),
    /// More than `maxBad` failures in a row: send a RESTART message for it.
    Restart {
        /// The process name.
        name: String,
    },
}

/// What a probe's result changed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// The probe was for a config that is gone or has changed since.
    Ignored,
    /// The probe did not run: the count stays as it was.
    NotRun,
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
    next_probe: Instant,
    bad: u32,
    in_flight: bool,
}

/// Every process with an HTTP check section and its failure count: fed
/// [`Input`]s and the time, it queues [`Action`]s and reports its next
/// deadline (the monitor's shape, see [`crate::monitor::Monitor`]).
///
/// After [`HttpChecks::handle`] and [`HttpChecks::handle_timeout`] the shell
/// drains [`HttpChecks::poll_action`] and waits until
/// [`HttpChecks::poll_timeout`] or the next probe's outcome.
#[derive(Clone, Debug, Default)]
pub struct HttpChecks {
    procs: BTreeMap<String, Watched>,
    generations: u64,
    actions: VecDeque<Action>,
}

impl HttpChecks {
    /// No process checked yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one input at `now`.
    pub fn handle(&mut self, now: Now, input: Input) {
        match input {
            Input::Configured { name, section } => self.configure(name, section, now.mono),
            Input::Removed { name } => {
                self.procs.remove(&name);
            }
            Input::Probed { probe, outcome } => {
                let verdict = self.record(&probe.name, probe.generation, &outcome, now.mono);
                let Probe { name, url, .. } = probe;
                let why = outcome.why();
                match verdict {
                    Verdict::Ignored | Verdict::Good => {
                        tracing::debug!(name = %name, url = %url, "{why}");
                    }
                    Verdict::NotRun => {
                        tracing::debug!(name = %name, url = %url, "not probed: {why}");
                    }
                    Verdict::Bad { bad, max_bad } => {
                        tracing::warn!(name = %name, url = %url, "check failed ({bad} in a row, maxBad {max_bad}): {why}");
                    }
                    Verdict::Restart { bad } => {
                        tracing::warn!(name = %name, url = %url, "check failed ({bad} in a row, more than maxBad {}): {why}; asking for a restart", bad - 1);
                        self.actions.push_back(Action::Restart { name });
                    }
                }
            }
        }
    }

    /// Checks `name` with `section` (new or changed config) from `now` on:
    /// the count is zero, the first probe is a grace away, and the result of
    /// a probe still in flight for the old config will be ignored.
    fn configure(&mut self, name: String, section: HttpSection, now: Instant) {
        self.generations += 1;
        let next_probe = later(now, section.grace_time());
        self.procs.insert(
            name,
            Watched {
                section,
                generation: self.generations,
                next_probe,
                bad: 0,
                in_flight: false,
            },
        );
    }

    /// Whether `name` is being checked.
    pub fn is_watched(&self, name: &str) -> bool {
        self.procs.contains_key(name)
    }

    /// Asks for the probes due at `now`, each in flight until its
    /// [`Input::Probed`]. The next probe of each is a period later.
    pub fn handle_timeout(&mut self, now: Now) {
        for (name, w) in &mut self.procs {
            if w.in_flight || now.mono < w.next_probe {
                continue;
            }
            w.in_flight = true;
            w.next_probe = later(now.mono, w.section.period);
            self.actions.push_back(Action::Probe(Probe {
                name: name.clone(),
                url: w.section.url.clone(),
                timeout: w.section.probe_timeout(),
                generation: w.generation,
            }));
        }
    }

    /// The next action for the shell, in the order decided.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Records a probe's outcome at `now`.
    fn record(&mut self, name: &str, generation: u64, outcome: &Outcome, now: Instant) -> Verdict {
        let Some(w) = self.procs.get_mut(name) else {
            return Verdict::Ignored;
        };
        if w.generation != generation {
            return Verdict::Ignored;
        }
        w.in_flight = false;
        match outcome {
            Outcome::NotRun(_) => return Verdict::NotRun,
            Outcome::Ok { .. } => {
                w.bad = 0;
                return Verdict::Good;
            }
            Outcome::Failed(_) => {}
        }
        w.bad = w.bad.saturating_add(1);
        if w.bad > w.section.max_bad {
            let bad = w.bad;
            w.bad = 0;
            // A new grace, and at least a period even with `grace: 0`, so
            // the restarting process is not probed (and reported) at once.
            let quiet = w.section.grace_time().max(w.section.period);
            w.next_probe = later(now, quiet);
            Verdict::Restart { bad }
        } else {
            Verdict::Bad {
                bad: w.bad,
                max_bad: w.section.max_bad,
            }
        }
    }

    /// When the next probe is due, if any process is waiting for one.
    pub fn poll_timeout(&self) -> Option<Instant> {
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

    /// The fake clock at `secs` (the wall clock plays no part here).
    fn now(secs: Duration) -> Now {
        crate::clock::fake(secs)
    }

    /// The deadline at `secs`.
    fn t(secs: f64) -> Instant {
        now(s(secs)).mono
    }

    /// The tests' plumbing: each call drives the engine's inputs and actions.
    impl HttpChecks {
        fn watch(&mut self, name: &str, section: HttpSection, at: Duration) {
            let name = name.into();
            self.handle(now(at), Input::Configured { name, section });
        }

        fn unwatch(&mut self, name: &str) {
            let name = name.into();
            self.handle(now(s(0.0)), Input::Removed { name });
        }

        fn poll_probes(&mut self, at: Duration) -> Vec<Probe> {
            self.handle_timeout(now(at));
            let mut probes = Vec::new();
            while let Some(action) = self.poll_action() {
                match action {
                    Action::Probe(p) => probes.push(p),
                    Action::Restart { name } => panic!("unexpected restart of {name}"),
                }
            }
            probes
        }

        fn probe_done(&mut self, name: &str, generation: u64, ok: bool, at: Duration) -> Verdict {
            let outcome = if ok {
                Outcome::Ok { status: 200 }
            } else {
                Outcome::Failed("answered 500".into())
            };
            self.record(name, generation, &outcome, now(at).mono)
        }
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
        assert_eq!(c.poll_timeout(), Some(t(12.0)));
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
        assert_eq!(c.poll_timeout(), Some(t(13.0)));
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
        assert_eq!(c.poll_timeout(), Some(t(9.5)));
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
        assert_eq!(c.poll_timeout(), Some(t(4.5)));
        c.unwatch("web");
        assert!(!c.is_watched("web"));
        assert_eq!(
            c.probe_done("web", old.generation, false, s(3.0)),
            Verdict::Ignored
        );
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn a_probe_that_did_not_run_counts_neither_way() {
        let mut c = HttpChecks::new();
        c.watch("web", section(1), s(0.0));
        let failed = || Outcome::Failed("answered 500".into());
        let probe = c.poll_probes(s(2.0)).pop().expect("due");
        c.handle(
            now(s(2.1)),
            Input::Probed {
                probe,
                outcome: failed(),
            },
        );
        assert_eq!(c.poll_action(), None, "one failure is within maxBad 1");
        // No thread for the probe: neither a success nor a failure.
        let probe = c.poll_probes(s(3.0)).pop().expect("due");
        let outcome = Outcome::NotRun("cannot start a probe thread".into());
        c.handle(now(s(3.0)), Input::Probed { probe, outcome });
        assert_eq!(c.poll_action(), None);
        assert_eq!(
            c.poll_timeout(),
            Some(t(4.0)),
            "the next probe a period later"
        );
        // So the next failure is the second in a row, one more than maxBad.
        let probe = c.poll_probes(s(4.0)).pop().expect("due");
        c.handle(
            now(s(4.1)),
            Input::Probed {
                probe,
                outcome: failed(),
            },
        );
        let restart = Action::Restart { name: "web".into() };
        assert_eq!(c.poll_action(), Some(restart));
    }
}
