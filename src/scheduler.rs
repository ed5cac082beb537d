//! `ncolony scheduler`: runs a short-lived command periodically, so the
//! monitor only ever has long-lived processes to look after.
//!
//! The command runs every `--frequency` seconds (first at start), or at the
//! times of a standard 5-field `--cron` expression (local time). Never two
//! copies at once: a run still going when the next is due delays that one
//! until it ends (logged). At `--timeout` seconds the job's process group
//! gets SIGTERM, and SIGKILL `--grace` seconds later. Each output line is
//! written to stderr as `[job] line` and each exit status is logged.
//! SIGTERM or SIGINT stops the scheduler: the job gets SIGTERM (SIGKILL a
//! grace later), then the scheduler exits 0.

mod job;

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, TimeZone};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use ncolony_core::clock::Now;
use ncolony_core::schedule::{Action, Every, Input, Limits, Schedule, Trigger};
use nix::sys::signal::{SigSet, Signal};

use crate::args::{positive_seconds, seconds};
use crate::clock::read_clocks;
use crate::heart::Pacemaker;
use crate::process::reap::exit_of;

/// Arguments of `ncolony scheduler`. Every mistake is a usage error (exit 2).
#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["frequency", "cron"])))]
pub struct Args {
    /// One argument of the command; repeat it: the first is the program
    /// (looked up on PATH), the rest its arguments.
    #[arg(
        long = "arg",
        value_name = "ARG",
        required = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
    /// Run every this many seconds (fractions allowed), first at start.
    #[arg(long, value_parser = positive_seconds)]
    pub frequency: Option<f64>,
    /// Run at the times of this standard 5-field cron expression
    /// ("MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK", local time) instead.
    #[arg(long, value_parser = parse_cron)]
    pub cron: Option<CronExpr>,
    /// Seconds the job may run before its process group gets SIGTERM.
    #[arg(long, value_parser = positive_seconds)]
    pub timeout: f64,
    /// Seconds between SIGTERM and SIGKILL (0: at once).
    #[arg(long, value_parser = seconds)]
    pub grace: f64,
}

/// A parsed 5-field cron expression.
#[derive(Clone, Debug)]
pub struct CronExpr {
    // Boxed: a parsed pattern is a few hundred bytes.
    cron: Box<Cron>,
    text: String,
}

impl FromStr for CronExpr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let fields = s.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "{s:?} has {fields} fields; a cron expression has 5: minute hour day-of-month month day-of-week"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(s)
            .map_err(|e| format!("{s:?} is not a valid cron expression: {e}"))?;
        Ok(CronExpr {
            cron: Box::new(cron),
            text: s.to_owned(),
        })
    }
}

fn parse_cron(s: &str) -> Result<CronExpr, String> {
    s.parse()
}

impl CronExpr {
    /// The time from `wall` to the first matching minute strictly after it.
    fn until_next<Tz: TimeZone>(&self, wall: &DateTime<Tz>) -> Option<Duration>
    where
        DateTime<Tz>: croner::CronDateTime,
    {
        let next = self.cron.find_next_occurrence(wall, false).ok()?;
        (next - wall.clone()).to_std().ok()
    }
}

/// Cron times on the scheduler's monotonic clock: each due time is worked
/// out from the wall clock (as the loop read it, passed in with `now`) when
/// it is asked for, so a clock change or DST shift moves the next run, not
/// every later one.
#[derive(Debug)]
struct CronTrigger {
    expr: CronExpr,
}

impl Trigger for CronTrigger {
    fn next_after(&self, t: Instant, now: Now) -> Option<Instant> {
        let wall_t: DateTime<chrono::Local> = now.wall_at(t)?.into();
        t.checked_add(self.expr.until_next(&wall_t)?)
    }
}

/// What the main loop waits for.
#[derive(Debug)]
enum Event {
    /// The job ended.
    Exited {
        pid: i32,
        status: std::io::Result<std::process::ExitStatus>,
    },
    /// SIGTERM or SIGINT.
    Signal(Signal),
}

/// Runs `ncolony scheduler` until SIGTERM or SIGINT.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Block the stop signals before any thread starts, so every thread
    // inherits the mask and only the signal thread receives them. (The job
    // gets a clean mask: see `job::spawn`.)
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGTERM);
    stop.add(Signal::SIGINT);
    stop.thread_block().context("blocking SIGTERM and SIGINT")?;
    let (tx, rx) = mpsc::channel::<Event>();
    let signals = tx.clone();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while let Ok(sig) = stop.wait() {
                if signals.send(Event::Signal(sig)).is_err() {
                    return;
                }
            }
        })
        .context("starting the signal thread")?;

    let start = read_clocks();
    let limits = Limits {
        timeout: Duration::from_secs_f64(args.timeout),
        grace: Duration::from_secs_f64(args.grace),
    };
    let (trigger, first): (Box<dyn Trigger + Send>, _) = match (&args.cron, args.frequency) {
        (Some(expr), _) => {
            tracing::info!("running {:?} at cron times {:?}", args.args, expr.text);
            let trigger = CronTrigger { expr: expr.clone() };
            let first = trigger.next_after(start.mono, start);
            (Box::new(trigger), first)
        }
        (None, Some(freq)) => {
            tracing::info!("running {:?} every {freq}s", args.args);
            let period = Duration::from_secs_f64(freq);
            let every = Every {
                anchor: start.mono,
                period,
            };
            (Box::new(every), Some(start.mono))
        }
        (None, None) => anyhow::bail!("one of --frequency and --cron is needed"),
    };
    let mut sched = Schedule::new(trigger, limits, first);
    let mut heart = Pacemaker::from_env();
    let mut job: Option<(i32, Instant)> = None;
    let mut stopping = false;
    loop {
        sched.handle_timeout(read_clocks());
        while let Some(action) = sched.poll_action() {
            match action {
                Action::Start => match job::spawn(&args.args, tx.clone()) {
                    Ok(pid) => {
                        tracing::info!(pid, "job started");
                        job = Some((pid, Instant::now()));
                    }
                    Err(e) => {
                        tracing::error!(
                            "cannot start {:?}: {e}; trying again at the next due time",
                            args.args[0]
                        );
                        sched.handle(read_clocks(), Input::Exited);
                    }
                },
                Action::Delayed => {
                    let pid = job.map_or(0, |(pid, _)| pid);
                    tracing::warn!(
                        pid,
                        "job still running at its next due time; that run starts when it ends"
                    );
                }
                Action::Term => {
                    if let Some((pid, _)) = job {
                        if stopping {
                            tracing::info!(
                                pid,
                                "stopping: sending SIGTERM to the job's process group"
                            );
                        } else {
                            tracing::warn!(
                                pid,
                                "job ran past its {:?} timeout: sending SIGTERM to its process group",
                                limits.timeout
                            );
                        }
                        job::signal(pid, Signal::SIGTERM);
                    }
                }
                Action::Kill => {
                    if let Some((pid, _)) = job {
                        tracing::warn!(
                            pid,
                            "job still running {:?} after SIGTERM: sending SIGKILL to its process group",
                            limits.grace
                        );
                        job::signal(pid, Signal::SIGKILL);
                    }
                }
                Action::Exit => {
                    tracing::info!("stopped");
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        heart.tick(Instant::now());
        let mut wake = sched.poll_timeout();
        if let Some(h) = heart.deadline() {
            wake = Some(wake.map_or(h, |w| w.min(h)));
        }
        let event = match wake {
            Some(w) => match rx.recv_timeout(w.saturating_duration_since(Instant::now())) {
                Ok(event) => event,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => anyhow::bail!("event channel closed"),
            },
            None => rx.recv().context("event channel closed")?,
        };
        match event {
            Event::Exited { pid, status } => {
                let ran = job.take().map_or(Duration::ZERO, |(_, t)| t.elapsed());
                match status {
                    Ok(status) => match exit_of(status) {
                        Some(exit) if exit.is_success() => {
                            tracing::info!(pid, "job {exit:#} after {ran:.2?}");
                        }
                        Some(exit) => tracing::warn!(pid, "job {exit:#} after {ran:.2?}"),
                        None => tracing::warn!(pid, "job ended: {status} after {ran:.2?}"),
                    },
                    Err(e) => tracing::error!(pid, "waiting for the job: {e}"),
                }
                sched.handle(read_clocks(), Input::Exited);
            }
            Event::Signal(sig) => {
                tracing::info!("{sig} received; stopping");
                stopping = true;
                sched.handle(read_clocks(), Input::Shutdown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid time")
            .with_timezone(&Utc)
    }

    #[test]
    fn cron_expressions_must_have_five_valid_fields() {
        assert!("*/5 * * * *".parse::<CronExpr>().is_ok());
        assert!("0 3 * * mon-fri".parse::<CronExpr>().is_ok());
        for bad in ["", "* * * *", "0 * * * * *", "61 * * * *", "x * * * *"] {
            assert!(bad.parse::<CronExpr>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cron_next_run_is_the_next_matching_minute() {
        let every5: CronExpr = "*/5 * * * *".parse().expect("valid");
        let t = utc("2024-01-01T10:02:30Z");
        assert_eq!(every5.until_next(&t), Some(Duration::from_secs(150)));
        // Exactly on a match: the next one, not this one.
        let t = utc("2024-01-01T10:05:00Z");
        assert_eq!(every5.until_next(&t), Some(Duration::from_secs(300)));
        let nightly: CronExpr = "30 2 * * *".parse().expect("valid");
        let t = utc("2024-01-01T03:00:00Z");
        assert_eq!(
            nightly.until_next(&t),
            Some(Duration::from_secs(23 * 3600 + 1800))
        );
    }

    #[test]
    fn cron_trigger_counts_from_the_wall_clock_it_is_given() {
        let trigger = CronTrigger {
            expr: "*/5 * * * *".parse().expect("valid"),
        };
        // Not the real time: the trigger must use the clocks it is given.
        // (Every time zone's offset is a multiple of 5 minutes.)
        let mono = Instant::now();
        let now = Now::new(mono, utc("2024-01-01T10:02:30Z").into());
        let secs = Duration::from_secs;
        assert_eq!(trigger.next_after(mono, now), Some(mono + secs(150)));
        // A later `t` is that much later on the wall clock too.
        assert_eq!(
            trigger.next_after(mono + secs(90), now),
            Some(mono + secs(150))
        );
        assert_eq!(
            trigger.next_after(mono + secs(150), now),
            Some(mono + secs(450))
        );
    }
}
