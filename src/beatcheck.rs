//! `ncolony beatcheck`: restarts processes whose heart stopped beating.
//!
//! Every `--freq` seconds it rescans the config directory, and for each
//! process whose config has an `ncolony.beatcheck` section checks the mtime
//! of its status file (see [`crate::heart`]). A process past its grace whose
//! status file is older than its period (or missing) gets a RESTART message,
//! and a fresh grace so it is not reported again while it restarts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use ncolony_core::checks::beat::{BeatChecks, BeatSection};

use crate::args::positive_seconds;
use crate::checker::outbox::Outbox;
use crate::checker::scan::{ConfigScan, section};
use crate::heart::{Pacemaker, status_file};

/// Arguments of `ncolony beatcheck`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The config directory: one JSON file per process.
    #[arg(long, env = "NCOLONY_CONFIG_DIR")]
    pub config: PathBuf,
    /// The messages directory, where RESTART messages are written.
    #[arg(long, env = "NCOLONY_MESSAGES_DIR")]
    pub messages: PathBuf,
    /// Seconds between two checks (fractions allowed).
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub freq: f64,
}

/// Runs `ncolony beatcheck` until killed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let freq = Duration::from_secs_f64(args.freq);
    let mut heart = Pacemaker::from_env();
    let mut checks = BeatChecks::new(SystemTime::now());
    let mut scan = ConfigScan::new(args.config.clone());
    let mut outbox = Outbox::new(args.config.clone(), args.messages.clone());
    tracing::info!(
        "checking heartbeats in {} every {:?}",
        args.config.display(),
        freq
    );
    let mut next_check = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_check {
            apply_changes(&mut scan, &mut checks);
            let stale = checks.check(SystemTime::now(), last_beat);
            for name in stale {
                tracing::warn!(name = %name, "heart stopped beating; asking for a restart");
                outbox.restart(name);
            }
            outbox.flush();
            next_check = now + freq;
        }
        heart.tick(now);
        let wake = heart.deadline().map_or(next_check, |h| h.min(next_check));
        thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
}

/// Rescans the config directory and updates the checks: a new or changed
/// file is (re)parsed, and a bad one is logged (once per content) and not
/// checked.
fn apply_changes(scan: &mut ConfigScan, checks: &mut BeatChecks) {
    let changes = scan.rescan();
    for name in changes.removed {
        if checks.is_watched(&name) {
            tracing::info!(name = %name, "config removed; no longer checking");
        }
        checks.unwatch(&name);
    }
    for u in changes.updated {
        let file = scan.file(&u.name);
        match section(&file, &u.content, BeatSection::from_config) {
            Some(section) => {
                tracing::info!(
                    name = %u.name,
                    "checking heartbeat of {} every {:?} after a grace of {:?}",
                    section.status,
                    section.period,
                    section.grace_time()
                );
                checks.watch(&u.name, section, u.mtime);
            }
            None => checks.unwatch(&u.name),
        }
    }
}

/// A process's last beat: its status file's mtime, `None` if there is none.
fn last_beat(name: &str, section: &BeatSection) -> Option<SystemTime> {
    let file = status_file(Path::new(&section.status), Some(name)).ok()?;
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}
