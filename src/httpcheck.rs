//! `ncolony httpcheck`: restarts processes whose HTTP endpoint keeps failing.
//!
//! For each config with an `ncolony.httpcheck` section it GETs the URL every
//! `period` (after `grace * period`), each probe on its own thread so a slow
//! URL never delays the others. A non-2xx answer, a refused connection or a
//! timeout is a failure; more than `maxBad` failures in a row send a RESTART
//! message, then the count starts afresh after a new grace. The config
//! directory is rescanned every `--freq` seconds. The decisions are
//! [`HttpChecks`]'; the loop is the checkers' shared one.

use std::process::ExitCode;
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use ncolony_core::checks::SectionError;
use ncolony_core::checks::http::{Action, HttpChecks, HttpSection, Input, Outcome, Probe};
use ncolony_core::clock::Now;
use serde_json::{Map, Value};

pub use crate::checker::args::Args;
use crate::checker::outbox::Outbox;
use crate::checker::run::{self, Checker};

/// Runs `ncolony httpcheck` until killed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    tracing::info!(
        "checking HTTP endpoints of {} (rescanning every {:?})",
        args.config.display(),
        Duration::from_secs_f64(args.freq)
    );
    let http = Http {
        checks: HttpChecks::new(),
        agent: agent(),
    };
    run::run(&args, http)
}

/// The HTTP check engine, and the client its probes use.
#[derive(Debug)]
struct Http {
    checks: HttpChecks,
    agent: ureq::Agent,
}

/// A probe's outcome, sent back by its thread.
#[derive(Debug)]
struct Probed {
    probe: Probe,
    outcome: Outcome,
}

impl Checker for Http {
    type Section = HttpSection;
    type Event = Probed;

    fn section(config: &Map<String, Value>) -> Result<Option<HttpSection>, SectionError> {
        HttpSection::from_config(config)
    }

    fn describe(name: &str, section: &HttpSection) {
        tracing::info!(
            name = %name,
            "checking {} every {:?} after a grace of {:?}",
            section.url,
            section.period,
            section.grace_time()
        );
    }

    fn is_watched(&self, name: &str) -> bool {
        self.checks.is_watched(name)
    }

    fn configured(&mut self, now: Now, name: String, section: HttpSection, _changed: SystemTime) {
        // The grace counts from when the config was seen, not its mtime.
        self.checks.handle(now, Input::Configured { name, section });
    }

    fn removed(&mut self, now: Now, name: String) {
        self.checks.handle(now, Input::Removed { name });
    }

    fn event(&mut self, now: Now, event: Probed) {
        let Probed { probe, outcome } = event;
        self.checks.handle(now, Input::Probed { probe, outcome });
    }

    fn handle_timeout(&mut self, now: Now) {
        self.checks.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.checks.poll_timeout()
    }

    fn act(&mut self, now: Now, outbox: &mut Outbox, events: &Sender<Probed>) {
        while let Some(action) = self.checks.poll_action() {
            match action {
                Action::Probe(probe) => {
                    if let Err(not_run) = start_probe(&self.agent, probe, events.clone()) {
                        self.event(now, not_run);
                    }
                }
                Action::Restart { name } => outbox.restart(name),
            }
        }
    }
}

/// The HTTP client (shared with the monitor's `ready.http`).
fn agent() -> ureq::Agent {
    crate::http::agent("ncolony-httpcheck")
}

/// GETs the probe's URL on a new thread, which sends back the outcome. If
/// no thread could be started (logged), the probe comes back at once as
/// [`Outcome::NotRun`]: our failure, not the process's.
fn start_probe(agent: &ureq::Agent, probe: Probe, tx: Sender<Probed>) -> Result<(), Probed> {
    let agent = agent.clone();
    let kept = probe.clone();
    let spawned = thread::Builder::new()
        .name(format!("probe {}", probe.name))
        .spawn(move || {
            let outcome = get(&agent, &probe.url, probe.timeout);
            // The receiver only goes away when the program exits.
            let _ignored = tx.send(Probed { probe, outcome });
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(name = %kept.name, "cannot start a probe thread: {e}; skipping this probe");
            Err(Probed {
                probe: kept,
                outcome: Outcome::NotRun(format!("cannot start a probe thread: {e}")),
            })
        }
    }
}

/// One GET with an overall timeout: a 2xx status code, or why it failed.
fn get(agent: &ureq::Agent, url: &str, timeout: Duration) -> Outcome {
    match crate::http::get(agent, url, timeout) {
        Ok(status) => Outcome::Ok { status },
        Err(e) => Outcome::Failed(e),
    }
}
