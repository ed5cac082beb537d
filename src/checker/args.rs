//! The arguments both checkers take.

use std::path::PathBuf;

use crate::args::positive_seconds;

/// Arguments of `ncolony beatcheck` and `ncolony httpcheck`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The config directory: one JSON file per process.
    #[arg(long, env = "NCOLONY_CONFIG_DIR")]
    pub config: PathBuf,
    /// The messages directory, where RESTART messages are written.
    #[arg(long, env = "NCOLONY_MESSAGES_DIR")]
    pub messages: PathBuf,
    /// Seconds between two rescans of the config directory, and for
    /// beatcheck between two checks (fractions allowed).
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub freq: f64,
}
