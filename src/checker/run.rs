//! The loop both checkers run: rescan the config directory every `--freq`,
//! let the checker's engine decide, carry out what it asks (its own probes,
//! and RESTART messages through the [`Outbox`]), beat the program's own
//! heart, and sleep until the next deadline or the next event from the
//! checker's own threads.

use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use ncolony_core::checks::SectionError;
use ncolony_core::clock::Now;
use serde_json::{Map, Value};

use super::args::Args;
use super::outbox::Outbox;
use super::scan::{ConfigScan, section};
use crate::clock::read_clocks;
use crate::heart::Pacemaker;

/// What one checker adds to the shared loop: its config section, its
/// engine (fed like the monitor's core), and how it carries out the engine's
/// actions.
pub(crate) trait Checker {
    /// The checker's config section.
    type Section;
    /// What the checker's own threads send back (httpcheck: probe outcomes).
    type Event: Send + 'static;

    /// The section of a parsed config file, as the core reads it.
    fn section(config: &Map<String, Value>) -> Result<Option<Self::Section>, SectionError>;

    /// Logs what will be checked for `name` (a new or changed config).
    fn describe(name: &str, section: &Self::Section);

    /// Whether the engine checks `name`.
    fn is_watched(&self, name: &str) -> bool;

    /// Feeds the engine a new or changed section; `changed` is the config
    /// file's mtime.
    fn configured(&mut self, now: Now, name: String, section: Self::Section, changed: SystemTime);

    /// Feeds the engine a config that is gone or has no (usable) section.
    fn removed(&mut self, now: Now, name: String);

    /// Feeds the engine an event from the checker's own threads.
    fn event(&mut self, now: Now, event: Self::Event);

    /// The engine's `handle_timeout`.
    fn handle_timeout(&mut self, now: Now);

    /// The engine's `poll_timeout`.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Carries out every action the engine has queued, in order; restarts
    /// go to `outbox`, and `events` is for the checker's own threads.
    fn act(&mut self, now: Now, outbox: &mut Outbox, events: &Sender<Self::Event>);
}

/// Runs `checker` until the program is killed.
pub(crate) fn run<C: Checker>(args: &Args, mut checker: C) -> anyhow::Result<ExitCode> {
    let freq = Duration::from_secs_f64(args.freq);
    let mut heart = Pacemaker::from_env();
    let mut scan = ConfigScan::new(args.config.clone());
    let mut outbox = Outbox::new(args.config.clone(), args.messages.clone());
    // The loop keeps a sender, so the channel never closes under it.
    let (events, rx) = mpsc::channel::<C::Event>();
    let mut next_scan = read_clocks().mono;
    loop {
        let now = read_clocks();
        // The rescan comes first, so a check due at the same time sees it
        // (beatcheck's checks fall on the rescans: both are `--freq` apart,
        // from the same start).
        if now.mono >= next_scan {
            apply_changes(&mut scan, &mut checker, now);
            next_scan = now.mono + freq;
        }
        checker.handle_timeout(now);
        checker.act(now, &mut outbox, &events);
        outbox.flush();
        heart.tick(now.mono);
        let wake = [Some(next_scan), checker.poll_timeout(), heart.deadline()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_scan);
        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(event) => {
                checker.event(read_clocks(), event);
                while let Ok(event) = rx.try_recv() {
                    checker.event(read_clocks(), event);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the checker's event channel closed unexpectedly")
            }
        }
    }
}

/// Rescans the config directory and feeds the changes to the engine: a new
/// or changed file is (re)parsed, and a bad one is logged (once per content)
/// and not checked.
fn apply_changes<C: Checker>(scan: &mut ConfigScan, checker: &mut C, now: Now) {
    let changes = scan.rescan();
    for name in changes.removed {
        if checker.is_watched(&name) {
            tracing::info!(name = %name, "config removed; no longer checking");
        }
        checker.removed(now, name);
    }
    for u in changes.updated {
        match section(&scan.file(&u.name), &u.content, C::section) {
            Some(section) => {
                C::describe(&u.name, &section);
                checker.configured(now, u.name, section, u.mtime);
            }
            None => checker.removed(now, u.name),
        }
    }
}
