//! `ncolony ctl` and the library API behind it (the original's `ctllib`):
//! add, remove and restart processes by writing the two directories.
//! STUB: to be implemented.

use std::path::PathBuf;
use std::process::ExitCode;

/// Where a colony's two directories are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Places {
    /// The config directory: one JSON file per process.
    pub config: PathBuf,
    /// The messages directory: restart requests.
    pub messages: PathBuf,
}

/// Arguments of `ncolony ctl`.
#[derive(clap::Args, Debug)]
pub struct CtlArgs {}

/// Runs `ncolony ctl`.
pub fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("ctl is not implemented yet")
}

/// Asks the monitor to restart `name`.
pub fn restart(places: &Places, name: &str) -> anyhow::Result<()> {
    let _ = (places, name);
    anyhow::bail!("ctl is not implemented yet")
}
