//! The command line of `ncolony monitor` and what follows from it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ncolony_core::monitor::Policy;

use crate::args::{positive_seconds, seconds};
use crate::logging::LogFormat;

/// Arguments of `ncolony monitor` (defaults are the original's).
#[derive(clap::Args, Debug, Clone)]
pub struct MonitorArgs {
    /// The config directory: one JSON file per process.
    #[arg(long, env = "NCOLONY_CONFIG_DIR")]
    pub config: PathBuf,
    /// The messages directory: restart requests, deleted once handled.
    #[arg(long, env = "NCOLONY_MESSAGES_DIR")]
    pub messages: PathBuf,
    /// Seconds between full rescans (the safety net; inotify reacts at once).
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub frequency: f64,
    /// Keep each running child's pid in DIR/NAME.
    #[arg(long, value_name = "DIR")]
    pub pid: Option<PathBuf>,
    /// Where the monitor publishes what it knows (default MESSAGES/.ncolony).
    #[arg(long, value_name = "DIR", env = "NCOLONY_STATE_DIR")]
    pub state: Option<PathBuf>,
    /// Rotate STATE/events.jsonl to events.jsonl.1 past this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub events_max_bytes: u64,
    /// A death sooner than this many seconds after start is instant.
    #[arg(short = 't', long, default_value_t = 1.0, value_parser = seconds)]
    pub threshold: f64,
    /// Seconds between SIGTERM and SIGKILL when stopping a child.
    #[arg(short = 'k', long, default_value_t = 5.0, value_parser = seconds)]
    pub killtime: f64,
    /// The first restart delay after an instant death, in seconds.
    #[arg(short = 'm', long, default_value_t = 1.0, value_parser = seconds)]
    pub minrestartdelay: f64,
    /// The cap on the doubling restart delay, in seconds.
    #[arg(short = 'M', long, default_value_t = 3600.0, value_parser = seconds)]
    pub maxrestartdelay: f64,
    /// The monitor's log on stderr: `text`, or `json` (one object per line).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text, env = "NCOLONY_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Whether log lines carry a timestamp (`false` when something else stamps them).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub log_timestamps: bool,
    /// Serve Prometheus metrics on http://ADDR/metrics (an IP and a port:
    /// `127.0.0.1:9100`, `[::1]:9100`; port 0 picks a free one, logged).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Write each process's output to DIR/NAME.log (stamped, rotated)
    /// instead of the monitor's stderr; created if missing.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Rotate a process's log file before it would pass this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 10 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub log_max_bytes: u64,
    /// Rotated log files kept per process (NAME.log.1 ... NAME.log.N); 0:
    /// the file is replaced.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub log_backups: u32,
}

impl MonitorArgs {
    /// The state directory: `--state`, else `MESSAGES/.ncolony` (a dot name,
    /// so the message scan and the original NColony skip it).
    pub fn state_dir(&self) -> PathBuf {
        self.state
            .clone()
            .unwrap_or_else(|| self.messages.join(".ncolony"))
    }

    /// Checks what no single option's value check can: that
    /// `--minrestartdelay` is at most `--maxrestartdelay`. The error is one
    /// line naming both, for the command line to report as a usage error.
    pub fn check(&self) -> Result<(), String> {
        if self.minrestartdelay > self.maxrestartdelay {
            return Err(format!(
                "--minrestartdelay ({}) is more than --maxrestartdelay ({})",
                self.minrestartdelay, self.maxrestartdelay
            ));
        }
        Ok(())
    }

    /// The restart policy the options describe.
    pub(crate) fn policy(&self) -> anyhow::Result<Policy> {
        // The command line has already refused this as a usage error; the
        // check stays for callers that build `MonitorArgs` themselves.
        self.check().map_err(anyhow::Error::msg)?;
        Ok(Policy {
            threshold: Duration::from_secs_f64(self.threshold),
            min_restart_delay: Duration::from_secs_f64(self.minrestartdelay),
            max_restart_delay: Duration::from_secs_f64(self.maxrestartdelay),
            kill_time: Duration::from_secs_f64(self.killtime),
        })
    }
}
