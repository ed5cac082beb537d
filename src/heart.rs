//! The heart: how a process under the monitor tells `ncolony beatcheck` it
//! is alive.
//!
//! The protocol is a file's mtime. The monitor gives each child its config
//! text in `NCOLONY_CONFIG` and its name in `NCOLONY_NAME`. If the config has
//! `"ncolony.beatcheck": {"status": PATH, "period": S, "grace": N}`, the
//! process touches its status file (`PATH`, or `PATH/NAME` when `PATH` is a
//! directory) at least every `S` seconds; [`Heart`] does it every `S / 3`.
//! `ncolony heart beat` touches it once, for shell scripts.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use ncolony_core::checks::beat::{self, BeatSection};
use ncolony_core::checks::{SectionError, config_object};

/// Why a heart could not be set up or could not beat. Each message is a
/// lowercase fragment; the cause, when there is one, is its
/// [`source`](std::error::Error::source), so print the chain (`{:#}` through
/// `anyhow`) to see it all.
#[derive(Debug, thiserror::Error)]
pub enum HeartError {
    /// `NCOLONY_CONFIG` holds bytes that are not UTF-8.
    #[error("NCOLONY_CONFIG is not UTF-8")]
    NotUtf8,
    /// `NCOLONY_CONFIG` is set, but its text is no heart's config.
    #[error("NCOLONY_CONFIG")]
    Env(#[source] Box<HeartError>),
    /// The config text is not a JSON object.
    #[error("{0}")]
    Config(String),
    /// The `ncolony.beatcheck` section is bad.
    #[error(transparent)]
    Section(#[from] SectionError),
    /// The status path is a directory, so the file is named after the
    /// process, but the process has no name.
    #[error("status path {} is a directory but NCOLONY_NAME is not set", .0.display())]
    NoName(PathBuf),
    /// The status file could not be created or touched.
    #[error("beating heart {}", .path.display())]
    Beat {
        /// The status file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// Arguments of `ncolony heart`.
#[derive(clap::Args, Debug)]
pub struct HeartArgs {
    #[command(subcommand)]
    command: HeartCommand,
}

/// What `ncolony heart` does.
#[derive(clap::Subcommand, Debug)]
enum HeartCommand {
    /// Touch this process's status file once (from NCOLONY_CONFIG and
    /// NCOLONY_NAME, as set by the monitor).
    #[command(after_help = "\
Example (in a script run by the monitor, with an ncolony.beatcheck section):
  while ncolony heart beat; do sleep 3; done")]
    Beat,
}

/// Runs `ncolony heart`.
pub fn run(args: HeartArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        HeartCommand::Beat => {
            if std::env::var_os("NCOLONY_CONFIG").is_none() {
                bail!(
                    "NCOLONY_CONFIG is not set: `ncolony heart beat` is for processes run by `ncolony monitor`"
                );
            }
            let Some(heart) = Heart::from_env()? else {
                bail!(
                    "NCOLONY_CONFIG has no {:?} section: this process has no heart to beat",
                    beat::KEY
                );
            };
            heart.beat()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A process's heart: touches its status file so beatcheck sees it alive.
#[derive(Clone, Debug, PartialEq)]
pub struct Heart {
    status: PathBuf,
    name: Option<String>,
    period: Duration,
}

impl Heart {
    /// The heart the monitor configured for this process: `Ok(None)` when
    /// `NCOLONY_CONFIG` is unset or has no `ncolony.beatcheck` section (so
    /// any program may call this unconditionally); an error when the config
    /// or its section is bad.
    pub fn from_env() -> Result<Option<Heart>, HeartError> {
        let Some(config) = std::env::var_os("NCOLONY_CONFIG") else {
            return Ok(None);
        };
        let config = config.into_string().map_err(|_| HeartError::NotUtf8)?;
        let name = std::env::var("NCOLONY_NAME").ok();
        Heart::from_config(&config, name.as_deref()).map_err(|e| HeartError::Env(Box::new(e)))
    }

    /// The heart described by a config file's text, for process `name`
    /// (needed when the status path is a directory). `Ok(None)` when the
    /// config has no `ncolony.beatcheck` section.
    pub fn from_config(config: &str, name: Option<&str>) -> Result<Option<Heart>, HeartError> {
        let map = config_object(config.as_bytes()).map_err(HeartError::Config)?;
        let Some(section) = BeatSection::from_config(&map)? else {
            return Ok(None);
        };
        Ok(Some(Heart {
            status: PathBuf::from(&section.status),
            name: name.map(str::to_owned),
            period: section.period,
        }))
    }

    /// The file this heart touches: the status path, or `status/NAME` when
    /// the status path is a directory (checked at every beat).
    pub fn file(&self) -> Result<PathBuf, HeartError> {
        status_file(&self.status, self.name.as_deref())
    }

    /// The beatcheck period: the longest allowed time between two beats.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// How often to beat: a third of the period.
    pub fn interval(&self) -> Duration {
        (self.period / 3).max(Duration::from_millis(1))
    }

    /// Touches the status file: creates it if needed and sets its mtime to now.
    pub fn beat(&self) -> Result<(), HeartError> {
        let path = self.file()?;
        touch(&path).map_err(|source| HeartError::Beat { path, source })
    }

    /// Beats now and then every [`Heart::interval`] on a background thread,
    /// for as long as the process lives. Failures are logged and retried.
    pub fn spawn(self) -> std::io::Result<thread::JoinHandle<()>> {
        thread::Builder::new().name("heart".into()).spawn(move || {
            let mut failing = false;
            loop {
                failing = log_beat(&self, failing);
                thread::sleep(self.interval());
            }
        })
    }
}

/// Beats and logs a failure once per failing streak; returns whether it failed.
fn log_beat(heart: &Heart, failing: bool) -> bool {
    match heart.beat() {
        Ok(()) => {
            if failing {
                tracing::info!("heart beats again");
            }
            false
        }
        Err(e) => {
            if !failing {
                tracing::error!(
                    "{:#}; retrying every {:?}",
                    anyhow::Error::new(e),
                    heart.interval()
                );
            }
            true
        }
    }
}

/// The status file for process `name`: `status`, or `status/NAME` when
/// `status` is a directory.
pub(crate) fn status_file(status: &Path, name: Option<&str>) -> Result<PathBuf, HeartError> {
    if status.is_dir() {
        let Some(name) = name else {
            return Err(HeartError::NoName(status.to_owned()));
        };
        Ok(status.join(name))
    } else {
        Ok(status.to_owned())
    }
}

/// Creates `path` if needed (keeping its content) and sets its mtime to now.
fn touch(path: &Path) -> std::io::Result<()> {
    let file = File::options().append(true).create(true).open(path)?;
    file.set_modified(SystemTime::now())
}

/// A side program's own heart, beaten from its main loop (not a thread), so
/// a stuck loop stops the heart and beatcheck restarts the program.
#[derive(Debug)]
pub(crate) struct Pacemaker {
    heart: Option<Heart>,
    next: Instant,
    failing: bool,
}

impl Pacemaker {
    /// This program's heart, if its config (from the monitor) asks for one.
    /// A bad section is logged and the program runs without a heart.
    pub(crate) fn from_env() -> Self {
        let heart = match Heart::from_env() {
            Ok(heart) => heart,
            Err(e) => {
                // The whole chain: the variable, then what is wrong with it.
                tracing::error!("{:#}; running without a heart", anyhow::Error::new(e));
                None
            }
        };
        if let Some(h) = &heart {
            tracing::info!(
                "beating heart every {:?} (period {:?})",
                h.interval(),
                h.period()
            );
        }
        Pacemaker {
            heart,
            next: Instant::now(),
            failing: false,
        }
    }

    /// Beats if a beat is due at `now`.
    pub(crate) fn tick(&mut self, now: Instant) {
        let Some(heart) = &self.heart else { return };
        if now >= self.next {
            self.failing = log_beat(heart, self.failing);
            self.next = now + heart.interval();
        }
    }

    /// When the next beat is due, if there is a heart.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.heart.as_ref().map(|_| self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_without_a_section_have_no_heart() {
        assert_eq!(
            Heart::from_config(r#"{"args": ["x"]}"#, None).ok(),
            Some(None)
        );
        assert!(Heart::from_config("{", None).is_err());
        let bad = Heart::from_config(r#"{"ncolony.beatcheck": {"period": 3}}"#, None)
            .expect_err("bad section");
        assert!(
            format!("{bad:#}").contains("\"status\" is missing"),
            "{bad:#}"
        );
    }

    #[test]
    fn beat_touches_a_file_or_name_in_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("status");
        let text = serde_json::json!({"ncolony.beatcheck":
            {"status": file, "period": 3, "grace": 1}})
        .to_string();
        let heart = Heart::from_config(&text, Some("web"))
            .expect("valid")
            .expect("present");
        assert_eq!(heart.interval(), Duration::from_secs(1));
        heart.beat().expect("beat");
        assert!(file.is_file());

        let text = serde_json::json!({"ncolony.beatcheck":
            {"status": dir.path(), "period": 3, "grace": 1}})
        .to_string();
        let heart = Heart::from_config(&text, Some("web"))
            .expect("valid")
            .expect("present");
        heart.beat().expect("beat");
        assert!(dir.path().join("web").is_file());
        let nameless = Heart::from_config(&text, None)
            .expect("valid")
            .expect("present");
        assert!(nameless.beat().is_err());
    }

    /// The chain reads as the one line `ncolony heart beat` printed when
    /// these were `anyhow` errors with context.
    #[test]
    fn errors_chain_into_the_same_lines() {
        let chain = |e: HeartError| format!("{:#}", anyhow::Error::new(e));
        let bad = Heart::from_config("[]", None).expect_err("not an object");
        assert_eq!(
            chain(HeartError::Env(Box::new(bad))),
            "NCOLONY_CONFIG: expected a JSON object, found a list"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("no/such/dir/status");
        let text = serde_json::json!({"ncolony.beatcheck":
            {"status": missing, "period": 3, "grace": 1}})
        .to_string();
        let heart = Heart::from_config(&text, None)
            .expect("valid")
            .expect("present");
        assert_eq!(
            chain(heart.beat().expect_err("no directory")),
            format!(
                "beating heart {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
        assert_eq!(
            status_file(dir.path(), None)
                .expect_err("nameless")
                .to_string(),
            format!(
                "status path {} is a directory but NCOLONY_NAME is not set",
                dir.path().display()
            )
        );
    }
}
