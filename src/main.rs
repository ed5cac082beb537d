//! The `ncolony` command line: parse arguments, set up logging, call the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A process supervisor: runs a colony of long-lived processes, restarts the
/// ones that die, and is reconfigured by dropping files into directories.
#[derive(Parser)]
#[command(name = "ncolony", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the supervisor on a config and a messages directory.
    Monitor(ncolony::shell::MonitorArgs),
    /// Add, remove and restart processes by writing the directories.
    Ctl(ncolony::ctl::CtlArgs),
    /// Restart processes whose heart stopped beating.
    Beatcheck(ncolony::beatcheck::Args),
    /// Restart processes whose HTTP endpoint keeps failing.
    Httpcheck(ncolony::httpcheck::Args),
    /// Run a short-lived command periodically.
    Scheduler(ncolony::scheduler::Args),
    /// Beat this process's heart (for shell scripts under the monitor).
    Heart(ncolony::heart::HeartArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Monitor(args) => ncolony::shell::run(args),
        Command::Ctl(args) => ncolony::ctl::run(args),
        Command::Beatcheck(args) => ncolony::beatcheck::run(args),
        Command::Httpcheck(args) => ncolony::httpcheck::run(args),
        Command::Scheduler(args) => ncolony::scheduler::run(args),
        Command::Heart(args) => ncolony::heart::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ncolony: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `NCOLONY_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NCOLONY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .init();
}
