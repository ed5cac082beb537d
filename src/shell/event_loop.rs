//! The monitor's one event loop.

use std::path::PathBuf;
use std::process::ExitCode;

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
    #[arg(long, default_value_t = 10.0)]
    pub frequency: f64,
    /// Keep each running child's pid in DIR/NAME.
    #[arg(long, value_name = "DIR")]
    pub pid: Option<PathBuf>,
    /// A death sooner than this many seconds after start is instant.
    #[arg(short = 't', long, default_value_t = 1.0)]
    pub threshold: f64,
    /// Seconds between SIGTERM and SIGKILL when stopping a child.
    #[arg(short = 'k', long, default_value_t = 5.0)]
    pub killtime: f64,
    /// The first restart delay after an instant death, in seconds.
    #[arg(short = 'm', long, default_value_t = 1.0)]
    pub minrestartdelay: f64,
    /// The cap on the doubling restart delay, in seconds.
    #[arg(short = 'M', long, default_value_t = 3600.0)]
    pub maxrestartdelay: f64,
}

/// Runs the monitor until SIGTERM/SIGINT has stopped every child.
pub fn run(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("monitor is not implemented yet")
}
