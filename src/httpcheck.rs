//! `ncolony httpcheck`. STUB: to be implemented.

use std::process::ExitCode;

/// Arguments of `ncolony httpcheck`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `ncolony httpcheck`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("httpcheck is not implemented yet")
}
