//! `ncolony httpcheck`: restarts processes whose HTTP endpoint keeps failing.
//!
//! For each config with an `ncolony.httpcheck` section it GETs the URL every
//! `period` (after `grace * period`), each probe on its own thread so a slow
//! URL never delays the others. A non-2xx answer, a refused connection or a
//! timeout is a failure; more than `maxBad` failures in a row send a RESTART
//! message, then the count starts afresh after a new grace. The config
//! directory is rescanned every `--freq` seconds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use ncolony_core::checks::http::{HttpChecks, HttpSection, Probe, Verdict};

use crate::args::positive_seconds;
use crate::checker::outbox::Outbox;
use crate::checker::scan::{ConfigScan, section};
use crate::heart::Pacemaker;

/// Arguments of `ncolony httpcheck`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The config directory: one JSON file per process.
    #[arg(long, env = "NCOLONY_CONFIG_DIR")]
    pub config: PathBuf,
    /// The messages directory, where RESTART messages are written.
    #[arg(long, env = "NCOLONY_MESSAGES_DIR")]
    pub messages: PathBuf,
    /// Seconds between two rescans of the config directory (fractions allowed).
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub freq: f64,
}

/// A probe's result, sent back by its thread.
#[derive(Debug)]
struct Outcome {
    probe: Probe,
    result: Result<u16, String>,
}

/// Runs `ncolony httpcheck` until killed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let freq = Duration::from_secs_f64(args.freq);
    let epoch = Instant::now();
    let mut heart = Pacemaker::from_env();
    let mut checks = HttpChecks::new();
    let mut scan = ConfigScan::new(args.config.clone());
    let mut outbox = Outbox::new(args.config.clone(), args.messages.clone());
    let agent = agent();
    let (tx, rx) = mpsc::channel::<Outcome>();
    tracing::info!(
        "checking HTTP endpoints of {} (rescanning every {:?})",
        args.config.display(),
        freq
    );
    let mut next_scan = epoch;
    loop {
        let now = Instant::now();
        if now >= next_scan {
            apply_changes(&mut scan, &mut checks, now - epoch);
            outbox.flush();
            next_scan = now + freq;
        }
        for probe in checks.poll_probes(now - epoch) {
            if let Err(probe) = start_probe(&agent, probe, tx.clone()) {
                // Our failure, not the process's: do not count it against it.
                checks.probe_done(&probe.name, probe.generation, true, now - epoch);
            }
        }
        heart.tick(now);
        let mut wake = next_scan;
        if let Some(t) = checks.poll_timeout() {
            wake = wake.min(epoch + t);
        }
        if let Some(t) = heart.deadline() {
            wake = wake.min(t);
        }
        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(outcome) => {
                handle(&mut checks, &mut outbox, outcome, epoch);
                while let Ok(outcome) = rx.try_recv() {
                    handle(&mut checks, &mut outbox, outcome, epoch);
                }
                outbox.flush();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                anyhow::bail!("probe results channel closed unexpectedly")
            }
        }
    }
}

/// The HTTP client: no proxy (the endpoints are the colony's own), and no
/// redirects followed: the checked URL itself must answer 2xx.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent(concat!("ncolony-httpcheck/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// GETs the probe's URL on a new thread, which sends back the outcome.
/// Gives the probe back if no thread could be started (logged).
fn start_probe(agent: &ureq::Agent, probe: Probe, tx: Sender<Outcome>) -> Result<(), Probe> {
    let agent = agent.clone();
    let kept = probe.clone();
    let spawned = thread::Builder::new()
        .name(format!("probe {}", probe.name))
        .spawn(move || {
            let result = get(&agent, &probe.url, probe.timeout);
            // The receiver only goes away when the program exits.
            let _ignored = tx.send(Outcome { probe, result });
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(name = %kept.name, "cannot start a probe thread: {e}; skipping this probe");
            Err(kept)
        }
    }
}

/// One GET with an overall timeout: the 2xx status code, or why it failed.
fn get(agent: &ureq::Agent, url: &str, timeout: Duration) -> Result<u16, String> {
    let response = agent
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(format!("answered {status}"))
    }
}

/// Records a probe's outcome; a restart verdict queues a RESTART message.
fn handle(checks: &mut HttpChecks, outbox: &mut Outbox, outcome: Outcome, epoch: Instant) {
    let Outcome { probe, result } = outcome;
    let ok = result.is_ok();
    let verdict = checks.probe_done(&probe.name, probe.generation, ok, epoch.elapsed());
    let why = match &result {
        Ok(code) => format!("HTTP {code}"),
        Err(e) => e.clone(),
    };
    match verdict {
        Verdict::Ignored | Verdict::Good => {
            tracing::debug!(name = %probe.name, url = %probe.url, "{why}");
        }
        Verdict::Bad { bad, max_bad } => {
            tracing::warn!(name = %probe.name, url = %probe.url, "check failed ({bad} in a row, maxBad {max_bad}): {why}");
        }
        Verdict::Restart { bad } => {
            tracing::warn!(name = %probe.name, url = %probe.url, "check failed ({bad} in a row, more than maxBad {}): {why}; asking for a restart", bad - 1);
            outbox.restart(probe.name);
        }
    }
}

/// Rescans the config directory and updates the checks.
fn apply_changes(scan: &mut ConfigScan, checks: &mut HttpChecks, now: Duration) {
    let changes = scan.rescan();
    for name in changes.removed {
        if checks.is_watched(&name) {
            tracing::info!(name = %name, "config removed; no longer checking");
        }
        checks.unwatch(&name);
    }
    for u in changes.updated {
        match section(&scan.file(&u.name), &u.content, HttpSection::from_config) {
            Some(section) => {
                tracing::info!(
                    name = %u.name,
                    "checking {} every {:?} after a grace of {:?}",
                    section.url,
                    section.period,
                    section.grace_time()
                );
                checks.watch(&u.name, section, now);
            }
            None => checks.unwatch(&u.name),
        }
    }
}
