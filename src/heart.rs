//! The heart: beats for processes that run under the monitor. STUB.

use std::process::ExitCode;

/// Arguments of `ncolony heart`.
#[derive(clap::Args, Debug)]
pub struct HeartArgs {}

/// Runs `ncolony heart`.
pub fn run(args: HeartArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("heart is not implemented yet")
}
