//! The `ncolony` command line: parse arguments, set up logging, call the library.

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// A process supervisor: runs a colony of long-lived processes, restarts the
/// ones that die, and is reconfigured by dropping files into directories.
#[derive(Parser)]
#[command(name = "ncolony", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "\
Examples:
  ncolony monitor --config /srv/colony/config --messages /srv/colony/messages
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages add web --cmd /usr/bin/python3 --arg=-m --arg http.server
  ncolony COMMAND --help";

#[derive(Subcommand)]
enum Command {
    /// Run the supervisor on a config and a messages directory.
    #[command(after_help = "\
Example:
  ncolony monitor --config /srv/colony/config --messages /srv/colony/messages --pid /run/colony -k 10")]
    Monitor(ncolony::monitor::MonitorArgs),
    /// Add, remove and restart processes by writing the directories.
    Ctl(ncolony::ctl::CtlArgs),
    /// Restart processes whose heart stopped beating.
    #[command(after_help = "\
Example (run it under the monitor, like any other process):
  ncolony beatcheck --config /srv/colony/config --messages /srv/colony/messages --freq 2")]
    Beatcheck(ncolony::beatcheck::Args),
    /// Restart processes whose HTTP endpoint keeps failing.
    #[command(after_help = "\
Example (run it under the monitor, like any other process):
  ncolony httpcheck --config /srv/colony/config --messages /srv/colony/messages --freq 5")]
    Httpcheck(ncolony::httpcheck::Args),
    /// Run a short-lived command periodically.
    #[command(after_help = "\
Examples:
  ncolony scheduler --arg /usr/sbin/logrotate --arg /etc/logrotate.conf --cron '0 * * * *' --timeout 600 --grace 30
  ncolony scheduler --arg /bin/sh --arg -c --arg 'rm -f /tmp/app/*.old' --frequency 300 --timeout 60 --grace 5")]
    Scheduler(ncolony::scheduler::Args),
    /// Beat this process's heart (for shell scripts under the monitor).
    #[command(after_help = "\
Example:
  ncolony heart beat    # touch this process's status file once")]
    Heart(ncolony::heart::HeartArgs),
    /// Print a shell completion script for ncolony on stdout.
    #[command(after_help = "\
Examples:
  ncolony completions bash > ~/.local/share/bash-completion/completions/ncolony
  ncolony completions zsh > ~/.zfunc/_ncolony    # with fpath+=(~/.zfunc) in ~/.zshrc
  ncolony completions fish > ~/.config/fish/completions/ncolony.fish")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual (roff, every command) on stdout, or write one page per command.
    #[command(after_help = "\
Examples:
  ncolony man | man -l -
  ncolony man --dir /usr/local/share/man/man1    # ncolony.1, ncolony-monitor.1, ...")]
    Man {
        /// Write one page per command into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // First, so that even a usage error cannot block on or die of stderr.
    let _output = ncolony::logging::init();
    let parsed = command()
        .try_get_matches()
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches))
        .and_then(check);
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err)
            if !err.use_stderr()
                || err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            err.exit()
        }
        Err(err) => {
            let line = misplaced_ctl_option(&err).unwrap_or_else(|| one_line(&err));
            ncolony::logging::write_line(&format!("ncolony: {line}"));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Monitor(args) => ncolony::monitor::run(args),
        Command::Ctl(args) => ncolony::ctl::run(args),
        Command::Beatcheck(args) => ncolony::beatcheck::run(args),
        Command::Httpcheck(args) => ncolony::httpcheck::run(args),
        Command::Scheduler(args) => ncolony::scheduler::run(args),
        Command::Heart(args) => ncolony::heart::run(args),
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => man(dir),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            ncolony::logging::write_line(&format!("ncolony: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// The whole command tree, as parsed and as documented.
fn command() -> clap::Command {
    negatives_are_values(Cli::command())
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

/// The checks that involve more than one argument, so clap cannot make them
/// while parsing; they fail as usage errors all the same.
fn check(cli: Cli) -> Result<Cli, clap::Error> {
    if let Command::Monitor(args) = &cli.command {
        args.check()
            .map_err(|problem| command().error(ErrorKind::ArgumentConflict, problem))?;
    }
    Ok(cli)
}

/// A usage error on one line: clap's message and its tips, without the usage
/// block, e.g. `unrecognized subcommand 'monitr'; tip: a similar subcommand
/// exists: 'monitor' (see --help)`.
fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let message = text.split("\nUsage:").next().unwrap_or_default();
    let parts: Vec<String> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.contains("try '--help'"))
        .map(|line| {
            line.strip_prefix("error:")
                .unwrap_or(line)
                .trim()
                .to_owned()
        })
        .collect();
    let words: Vec<String> = parts
        .iter()
        .map(|part| part.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    format!("{} (see --help)", words.join("; "))
}

/// For `ncolony ctl SUBCOMMAND ... --config DIR`: the one line saying where
/// `--config` and `--messages` belong, since clap can only say that the
/// subcommand has no such option.
fn misplaced_ctl_option(err: &clap::Error) -> Option<String> {
    if err.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(invalid)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let option = ["--config", "--messages"].into_iter().find(|option| {
        invalid
            .strip_prefix(option)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
    })?;
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    // Nothing can come between `ncolony` and its subcommand but --help and
    // --version, which end parsing.
    if args.get(1).map(String::as_str) != Some("ctl") {
        return None;
    }
    let tree = command();
    let ctl = tree.find_subcommand("ctl")?;
    let sub = args[2..].iter().find_map(|arg| ctl.find_subcommand(arg))?;
    Some(format!(
        "{option} goes before the command: ncolony ctl --config DIR --messages DIR {} ...",
        sub.get_name()
    ))
}

/// `ncolony completions SHELL`: the script for the whole command tree.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "ncolony", &mut script);
    print(&script, "the completion script")
}

/// `ncolony man`: one page per command (`ncolony`, `ncolony-ctl`,
/// `ncolony-ctl-add`, ...), all on stdout in tree order, or each in its own
/// file (`ncolony-ctl-add.1`) under `--dir`.
fn man(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    let mut tree = command();
    // Building names each subcommand after its path (`ncolony-ctl-add`).
    tree.build();
    let source = format!("ncolony {}", env!("CARGO_PKG_VERSION"));
    let mut all = Vec::new();
    let mut stack = vec![tree];
    while let Some(cmd) = stack.pop() {
        let subs: Vec<clap::Command> = cmd
            .get_subcommands()
            // `help` is clap's own subcommand, added by `build`.
            .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
            .cloned()
            .collect();
        let page = clap_mangen::Man::new(cmd).source(source.as_str());
        let mut text = Vec::new();
        page.render(&mut text).context("rendering the man page")?;
        match &dir {
            Some(dir) => {
                let path = dir.join(page.get_filename());
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            None => all.extend(text),
        }
        stack.extend(subs.into_iter().rev());
    }
    if dir.is_some() {
        return Ok(ExitCode::SUCCESS);
    }
    print(&all, "the man page")
}

/// Writes `bytes` on stdout; a closed pipe (`| head`) is the reader's
/// choice, not a failure.
fn print(bytes: &[u8], what: &str) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow::Error::new(e).context(format!("writing {what} to stdout"))),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        fn visit(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let shown = cmd.get_after_help().map(ToString::to_string);
            let example = |text: &str| {
                text.split_once("Example")
                    .is_some_and(|(_, rest)| rest.contains("ncolony "))
            };
            if !shown.is_some_and(|text| example(&text)) {
                missing.push(path.to_owned());
            }
            for sub in cmd.get_subcommands() {
                visit(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        // Not built, so clap's own `help` subcommands are not in the tree.
        visit(&command(), "ncolony", &mut missing);
        assert!(missing.is_empty(), "no example in --help of {missing:?}");
    }
}
