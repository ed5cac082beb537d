//! `ncolony beatcheck`: restarts processes whose heart stopped beating.
//!
//! Every `--freq` seconds it rescans the config directory, and for each
//! process whose config has an `ncolony.beatcheck` section checks the mtime
//! of its status file (see [`crate::heart`]). A process past its grace whose
//! status file is older than its period (or missing) gets a RESTART message,
//! and a fresh grace so it is not reported again while it restarts. The
//! decisions are [`BeatChecks`]'; the loop is the checkers' shared one.

use std::convert::Infallible;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use ncolony_core::checks::SectionError;
use ncolony_core::checks::beat::{Action, BeatChecks, BeatSection, Input};
use ncolony_core::clock::Now;
use serde_json::{Map, Value};

pub use crate::checker::args::Args;
use crate::checker::outbox::Outbox;
use crate::checker::run::{self, Checker};
use crate::clock::read_clocks;
use crate::heart::status_file;

/// Runs `ncolony beatcheck` until killed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let freq = Duration::from_secs_f64(args.freq);
    tracing::info!(
        "checking heartbeats in {} every {:?}",
        args.config.display(),
        freq
    );
    let checks = BeatChecks::new(read_clocks(), freq);
    run::run(&args, Beat(checks))
}

/// The heartbeat engine, and reading the status files it asks about.
#[derive(Debug)]
struct Beat(BeatChecks);

impl Checker for Beat {
    type Section = BeatSection;
    type Event = Infallible;

    fn section(config: &Map<String, Value>) -> Result<Option<BeatSection>, SectionError> {
        BeatSection::from_config(config)
    }

    fn describe(name: &str, section: &BeatSection) {
        tracing::info!(
            name = %name,
            "checking heartbeat of {} every {:?} after a grace of {:?}",
            section.status,
            section.period,
            section.grace_time()
        );
    }

    fn is_watched(&self, name: &str) -> bool {
        self.0.is_watched(name)
    }

    fn configured(&mut self, now: Now, name: String, section: BeatSection, changed: SystemTime) {
        let input = Input::Configured {
            name,
            section,
            changed,
        };
        self.0.handle(now, input);
    }

    fn removed(&mut self, now: Now, name: String) {
        self.0.handle(now, Input::Removed { name });
    }

    fn event(&mut self, _now: Now, event: Infallible) {
        match event {}
    }

    fn handle_timeout(&mut self, now: Now) {
        self.0.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn act(&mut self, now: Now, outbox: &mut Outbox, _events: &Sender<Infallible>) {
        while let Some(action) = self.0.poll_action() {
            match action {
                Action::ReadBeat { name, status } => {
                    let last = last_beat(&name, &status);
                    self.0.handle(now, Input::Beat { name, last });
                }
                Action::Restart { name } => outbox.restart(name),
            }
        }
    }
}

/// A process's last beat: its status file's mtime, `None` if there is none.
fn last_beat(name: &str, status: &str) -> Option<SystemTime> {
    let file = status_file(Path::new(status), Some(name)).ok()?;
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}
