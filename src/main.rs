//! The `ncolony` command line: parse arguments, set up logging, call the library.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    // First, so that even a usage error cannot block on or die of stderr.
    let _output = ncolony::logging::init();
    let parsed = negatives_are_values(Cli::command())
        .try_get_matches()
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err)
            if !err.use_stderr()
                || err.kind()
                    == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            err.exit()
        }
        Err(err) => {
            ncolony::logging::write_line(&format!("ncolony: {}", one_line(&err)));
            return ExitCode::from(2);
        }
    };
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
            ncolony::logging::write_line(&format!("ncolony: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Lets every option take a negative number as its value, so `--uid -1` or
/// `--threshold -1` reach the value check ("must be ...") instead of being
/// taken for an unknown flag.
fn negatives_are_values(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        let takes_values = arg.get_action().takes_values();
        arg.allow_negative_numbers(takes_values)
    })
    .mut_subcommands(negatives_are_values)
}

/// A usage error on one line: clap's message without its usage block and
/// tips, e.g. `the following required arguments were not provided: --config
/// <DIR> (see --help)`.
fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let message = text.split("\nUsage:").next().unwrap_or_default();
    let message = message
        .split("\n\n")
        .filter(|part| !part.trim_start().starts_with("tip:") && !part.contains("try '--help'"))
        .collect::<Vec<_>>()
        .join(" ");
    let words: Vec<&str> = message.split_whitespace().collect();
    let words = words.strip_prefix(&["error:"]).unwrap_or(&words);
    format!("{} (see --help)", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        negatives_are_values(Cli::command()).debug_assert();
    }
}
