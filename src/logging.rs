//! Where the monitor's and the side programs' output goes: their log lines
//! (through `tracing`) and, for the monitor and the scheduler, their
//! children's lines.

/// Logs go to stderr, filtered by `NCOLONY_LOG` (default `info`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NCOLONY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .init();
}
