//! `ncolony scheduler`. STUB: to be implemented.

use std::process::ExitCode;

/// Arguments of `ncolony scheduler`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `ncolony scheduler`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("scheduler is not implemented yet")
}
