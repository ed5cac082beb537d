//! `ncolony beatcheck`. STUB: to be implemented.

use std::process::ExitCode;

/// Arguments of `ncolony beatcheck`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `ncolony beatcheck`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("beatcheck is not implemented yet")
}
