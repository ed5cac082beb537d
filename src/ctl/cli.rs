//! The `ncolony ctl` command line: flags as in the original's `ctl`, plus
//! restart groups, checker settings and `status`.

use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use ncolony_core::spec::{self, Resource, Rlimit};

use super::options::{check_nice, check_stop_signal};
use super::{AddOptions, Heartbeat, HttpCheck, Number, Places, ReadyCheck, ReadyKind, status};

/// Arguments of `ncolony ctl`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
--config and --messages go before the command. Every write is atomic; a running
monitor notices the change by itself.

Examples:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages add web --cmd /usr/bin/python3 --arg=-m --arg http.server
  export NCOLONY_CONFIG_DIR=/srv/colony/config NCOLONY_MESSAGES_DIR=/srv/colony/messages
  ncolony ctl restart web")]
pub struct CtlArgs {
    /// The config directory: one JSON file per process.
    #[arg(long, env = "NCOLONY_CONFIG_DIR", value_name = "DIR")]
    config: PathBuf,
    /// The messages directory: restart requests.
    #[arg(long, env = "NCOLONY_MESSAGES_DIR", value_name = "DIR")]
    messages: PathBuf,
    /// The monitor's state directory [default: MESSAGES/.ncolony].
    #[arg(long, env = "NCOLONY_STATE_DIR", value_name = "DIR")]
    state: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    command: CtlCommand,
}

/// The `ncolony ctl` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum CtlCommand {
    /// Add a process, or reconfigure it if it exists (writes CONFIG/NAME).
    #[command(after_help = "\
Examples:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages add web --cmd /usr/bin/python3 --arg=-m --arg http.server --env PYTHONUNBUFFERED=1 --group frontends
  ncolony ctl add worker --cmd /usr/local/bin/worker --heartbeat-status /run/colony/hearts --heartbeat-period 30")]
    Add(Box<AddArgs>),
    /// Remove a process (deletes CONFIG/NAME, which stops it).
    #[command(after_help = "\
Example:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages remove web")]
    Remove {
        /// The process name.
        name: String,
    },
    /// Restart a process (warns, but still sends, if it is not configured).
    #[command(after_help = "\
Example:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages restart web")]
    Restart {
        /// The process name.
        name: String,
    },
    /// Stop a process and keep it down, its config untouched, until `start`
    /// (warns, but still sends, if it is not configured).
    #[command(after_help = "\
Example:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages stop web")]
    Stop {
        /// The process name.
        name: String,
    },
    /// Release a process held by `stop` and start it now (warns, but still
    /// sends, if it is not configured).
    #[command(after_help = "\
Example:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages start web")]
    Start {
        /// The process name.
        name: String,
    },
    /// Restart every process.
    #[command(after_help = "\
Example:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages restart-all")]
    RestartAll,
    /// Restart every process in a restart group (warns, but still sends, if
    /// no process is in it).
    #[command(after_help = "\
Example:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages restart-group frontends")]
    RestartGroup {
        /// The group, as given to `add --group`.
        group: String,
    },
    /// Show what the monitor is doing with each process (exit 3 if no
    /// monitor runs); with --pid, the original listing of pid files.
    #[command(after_help = "\
Examples:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages status
  ncolony ctl status web --json
  ncolony ctl status --pid /run/colony --json")]
    Status(StatusArgs),
    /// Check config files as the monitor would, without touching the colony
    /// (exit 1 if any has a problem).
    #[command(after_help = "\
Examples:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages validate
  ncolony ctl validate web worker")]
    Validate {
        /// Only these processes (each must be configured); every one by default.
        names: Vec<String>,
    },
    /// Wait until processes are ready (every configured one by default):
    /// exit 0 silently, or 1 naming those not ready at the timeout.
    #[command(after_help = "\
Reads the status snapshot the monitor publishes; never talks to the monitor.
With no monitor running, nothing is ready.

Examples:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages wait
  ncolony ctl wait db web --timeout 30
  ncolony ctl wait --timeout 0      # one look: a container's readiness probe")]
    Wait {
        /// Only these processes; every configured one by default.
        names: Vec<String>,
        /// Give up after this many seconds (0: look once) [default: no limit].
        #[arg(long, value_name = "SECONDS", value_parser = non_negative)]
        timeout: Option<Number>,
    },
    /// Print the monitor's lifecycle events, oldest first.
    #[command(after_help = "\
Examples:
  ncolony ctl events web --since 1h
  ncolony ctl events -n 20 --follow")]
    Events(EventsArgs),
    /// Print the last lines of a process's log file (with --log-dir or a
    /// "log" key), and with -f what follows, across rotations.
    #[command(after_help = "\
Examples:
  ncolony ctl --config /srv/colony/config --messages /srv/colony/messages tail web
  ncolony ctl tail web -n 100 -f")]
    Tail(TailArgs),
}

/// Arguments of `ncolony ctl events`.
#[derive(clap::Args, Debug)]
pub(crate) struct EventsArgs {
    /// Only the events of this process.
    pub name: Option<String>,
    /// Only events newer than this (`30s`, `10m`, `2h`, `1d`).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub since: Option<chrono::Duration>,
    /// Only the last N events.
    #[arg(short = 'n', value_name = "N")]
    pub lines: Option<usize>,
    /// Keep printing new events until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Print each event as its JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ncolony ctl tail`.
#[derive(clap::Args, Debug)]
pub(crate) struct TailArgs {
    /// The process name.
    pub name: String,
    /// How many lines to print.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
    pub lines: usize,
    /// Keep printing what is appended, across rotations, until interrupted.
    #[arg(short = 'f', long)]
    pub follow: bool,
}

/// `30s`, `10m`, `2h`, `1d`, or a number of seconds.
fn duration(s: &str) -> Result<chrono::Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30s, 10m, 2h or 1d"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "{s:?} is not a duration such as 30s, 10m, 2h or 1d"
            ));
        }
    };
    Ok(chrono::Duration::seconds(n.saturating_mul(secs)))
}

/// Arguments of `ncolony ctl add`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("ready_kind").multiple(false).args(
    ["ready_notify", "ready_fd", "ready_file", "ready_tcp", "ready_http", "ready_exec"]
))]
pub(crate) struct AddArgs {
    /// The process name: the config file's name (no '/', no leading '.',
    /// not ending in '.new').
    pub name: String,
    /// The executable (args[0]): an absolute path, or a bare name the
    /// monitor looks up on PATH.
    #[arg(long, value_name = "CMD")]
    pub cmd: String,
    /// Append an argument (repeatable; `--arg -x` works).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Set an environment variable of the child (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Run as this user id (the monitor must be root).
    #[arg(long)]
    pub uid: Option<u32>,
    /// Run as this group id (the monitor must be root).
    #[arg(long)]
    pub gid: Option<u32>,
    /// A JSON object whose keys are merged into the config last (they win).
    #[arg(long, value_name = "FILE")]
    pub extras: Option<PathBuf>,
    /// Copy this variable from the monitor's environment (repeatable).
    #[arg(long = "env-inherit", value_name = "VAR")]
    pub env_inherit: Vec<String>,
    /// Put the process in this restart group (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Run the process in this directory (absolute).
    #[arg(long, value_name = "DIR", value_parser = cwd_flag)]
    pub cwd: Option<String>,
    /// The file-mode creation mask, in octal (e.g. 027).
    #[arg(long, value_name = "OCTAL", value_parser = umask_flag)]
    pub umask: Option<u32>,
    /// The signal that stops the process [default: TERM].
    #[arg(long, value_name = "SIGNAL", value_parser = stop_signal_flag)]
    pub stop_signal: Option<String>,
    /// Seconds between the stop signal and SIGKILL for this process
    /// (overrides the monitor's --killtime).
    #[arg(long, value_name = "SECONDS", value_parser = non_negative)]
    pub killtime: Option<Number>,
    /// Set a resource limit: NAME=N, NAME=SOFT:HARD or NAME=unlimited
    /// (repeatable; NAME as in setrlimit: nofile, nproc, core, as, ...).
    #[arg(long = "rlimit", value_name = "NAME=VALUE", value_parser = rlimit_flag)]
    pub rlimits: Vec<(Resource, Rlimit)>,
    /// The nice value, -20 to 19.
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = nice_flag)]
    pub nice: Option<i32>,
    /// Read KEY=VALUE lines from this file at each start (repeatable;
    /// absolute; -PATH when a missing file is fine).
    #[arg(long = "env-file", value_name = "PATH", allow_hyphen_values = true, value_parser = env_file_flag)]
    pub env_files: Vec<String>,
    /// When to restart the process once it exits.
    #[arg(long, value_name = "POLICY", value_parser = clap::builder::PossibleValuesParser::new(spec::Restart::ALL.map(spec::Restart::as_str)))]
    pub restart: Option<String>,
    /// An exit code that counts as success for --restart on-failure (repeatable).
    #[arg(long = "success-exit-code", value_name = "N")]
    pub success_exit_codes: Vec<u8>,
    /// Stop the colony, and exit with this process's status, once it has
    /// exited for good.
    #[arg(long)]
    pub essential: bool,
    /// Start only once this process is ready, or, if it is a one-shot task
    /// (restart never/on-failure), has exited successfully (repeatable).
    #[arg(long = "after", value_name = "NAME")]
    pub after: Vec<String>,
    /// Ready once it sends READY=1 to $NOTIFY_SOCKET (systemd's sd_notify).
    #[arg(long)]
    pub ready_notify: bool,
    /// Ready once it writes a newline to this fd, 3 or more (s6's notification-fd).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub ready_fd: Option<i32>,
    /// Ready once this path exists.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<String>,
    /// Ready once a TCP connection to HOST:PORT succeeds.
    #[arg(long, value_name = "HOST:PORT")]
    pub ready_tcp: Option<String>,
    /// Ready once a GET of this URL answers 2xx (no redirects followed).
    #[arg(long, value_name = "URL")]
    pub ready_http: Option<String>,
    /// Ready once this command (an absolute path) exits 0; run with the
    /// process's environment, user and directory.
    #[arg(long, value_name = "CMD")]
    pub ready_exec: Option<String>,
    /// An argument of --ready-exec's command (repeatable).
    #[arg(
        long = "ready-exec-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        requires = "ready_exec"
    )]
    pub ready_exec_args: Vec<String>,
    /// Seconds a start may take to become ready [default: 60].
    #[arg(long, value_name = "SECONDS", requires = "ready_kind", value_parser = positive)]
    pub ready_timeout: Option<Number>,
    /// Seconds between two checks of --ready-file/-tcp/-http/-exec [default: 1].
    #[arg(long, value_name = "SECONDS", requires = "ready_kind", value_parser = positive)]
    pub ready_period: Option<Number>,
    /// With --ready-notify: restart the process when no WATCHDOG=1 comes
    /// for this many seconds.
    #[arg(long, value_name = "SECONDS", requires = "ready_notify", value_parser = positive)]
    pub watchdog: Option<Number>,
    /// Enable heartbeat checking: the status file (or directory) the process touches.
    #[arg(long, value_name = "PATH")]
    pub heartbeat_status: Option<String>,
    /// Seconds without a heartbeat before a restart [default: 10].
    #[arg(long, value_name = "SECONDS", requires = "heartbeat_status", value_parser = positive)]
    pub heartbeat_period: Option<Number>,
    /// Periods a new process is given to start beating [default: 3].
    #[arg(long, value_name = "N", requires = "heartbeat_status", value_parser = non_negative)]
    pub heartbeat_grace: Option<Number>,
    /// Enable HTTP health checking: the URL to GET.
    #[arg(long, value_name = "URL")]
    pub http_check: Option<String>,
    /// Seconds between HTTP checks [default: 10].
    #[arg(long, value_name = "SECONDS", requires = "http_check", value_parser = positive)]
    pub http_period: Option<Number>,
    /// Seconds before an HTTP check fails [default: 5].
    #[arg(long, value_name = "SECONDS", requires = "http_check", value_parser = positive)]
    pub http_timeout: Option<Number>,
    /// Periods before the first HTTP check [default: 3].
    #[arg(long, value_name = "N", requires = "http_check", value_parser = non_negative)]
    pub http_grace: Option<Number>,
    /// Failures in a row that are tolerated before a restart [default: 2].
    #[arg(long, value_name = "N", requires = "http_check")]
    pub http_max_bad: Option<u32>,
}

/// Arguments of `ncolony ctl status`.
#[derive(clap::Args, Debug)]
pub(crate) struct StatusArgs {
    /// Only these processes.
    pub names: Vec<String>,
    /// The monitor's --pid directory: the original listing, tab-separated,
    /// of which processes have a live pid file.
    #[arg(long, value_name = "DIR")]
    pub pid: Option<PathBuf>,
    /// Print one JSON object (with --pid: one JSON array).
    #[arg(long)]
    pub json: bool,
}

fn positive(s: &str) -> Result<Number, String> {
    let n: Number = s.parse()?;
    if n.as_f64() > 0.0 {
        Ok(n)
    } else {
        Err(format!("{s:?} must be more than 0"))
    }
}

fn cwd_flag(s: &str) -> Result<String, String> {
    spec::check_cwd(s).map(|()| s.to_owned())
}

fn umask_flag(s: &str) -> Result<u32, String> {
    spec::parse_umask(s)
}

fn stop_signal_flag(s: &str) -> Result<String, String> {
    check_stop_signal(s).map(|()| s.to_owned())
}

fn rlimit_flag(s: &str) -> Result<(Resource, Rlimit), String> {
    spec::parse_rlimit_assignment(s)
}

fn nice_flag(s: &str) -> Result<i32, String> {
    let n: i32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a nice value from -20 to 19"))?;
    check_nice(n).map(|()| n)
}

fn env_file_flag(s: &str) -> Result<String, String> {
    spec::EnvFile::parse(s).map(|_| s.to_owned())
}

fn non_negative(s: &str) -> Result<Number, String> {
    let n: Number = s.parse()?;
    if n.as_f64() >= 0.0 {
        Ok(n)
    } else {
        Err(format!("{s:?} must be 0 or more"))
    }
}

/// Refuses a relative `--cmd` path (`./server`, `bin/server`): the monitor
/// would resolve it against its own working directory, which ctl cannot know
/// (it may have been started elsewhere, or run in another container), so
/// writing it as given would run the wrong file or none, and rewriting it
/// against ctl's directory could be just as wrong there. A bare name (no `/`)
/// is fine: the monitor looks it up on PATH.
fn check_cmd(cmd: &str) -> Result<(), super::CtlError> {
    let path = Path::new(cmd);
    if !cmd.contains('/') || path.is_absolute() {
        return Ok(());
    }
    // A suggestion only: if the working directory is gone, say less.
    let absolute = std::env::current_dir().ok().map(|dir| {
        path.components()
            .filter(|part| *part != Component::CurDir)
            .fold(dir, |acc, part| acc.join(part))
    });
    Err(super::CtlError::RelativeCmd {
        cmd: cmd.to_owned(),
        absolute,
    })
}

impl AddArgs {
    /// The one `--ready-*` kind given (clap refuses two).
    fn ready_kind(&self) -> Option<ReadyKind> {
        let kind = if self.ready_notify {
            ReadyKind::Notify
        } else if let Some(n) = self.ready_fd {
            ReadyKind::Fd(n)
        } else if let Some(path) = &self.ready_file {
            ReadyKind::File(path.clone())
        } else if let Some(address) = &self.ready_tcp {
            ReadyKind::Tcp(address.clone())
        } else if let Some(url) = &self.ready_http {
            ReadyKind::Http(url.clone())
        } else if let Some(cmd) = &self.ready_exec {
            let mut argv = vec![cmd.clone()];
            argv.extend(self.ready_exec_args.iter().cloned());
            ReadyKind::Exec(argv)
        } else {
            return None;
        };
        Some(kind)
    }

    /// The library options these flags stand for.
    fn options(&self) -> Result<AddOptions, super::CtlError> {
        check_cmd(&self.cmd)?;
        let mut o = AddOptions::new(self.cmd.as_str()).args(self.args.iter().cloned());
        for assignment in &self.env {
            o = o.env_assignment(assignment)?;
        }
        if let Some(uid) = self.uid {
            o = o.uid(uid);
        }
        if let Some(gid) = self.gid {
            o = o.gid(gid);
        }
        for var in &self.env_inherit {
            o = o.env_inherit(var.as_str());
        }
        for group in &self.groups {
            o = o.group(group.as_str());
        }
        if let Some(dir) = &self.cwd {
            o = o.cwd(dir.as_str());
        }
        if let Some(mask) = self.umask {
            o = o.umask(mask);
        }
        if let Some(nice) = self.nice {
            o = o.nice(nice);
        }
        for (resource, limit) in &self.rlimits {
            o = o.rlimit(*resource, *limit);
        }
        for file in &self.env_files {
            o = o.env_file(file.as_str());
        }
        if let Some(signal) = &self.stop_signal {
            o = o.stop_signal(signal.as_str());
        }
        if let Some(killtime) = self.killtime {
            o = o.killtime(killtime);
        }
        if let Some(policy) = &self.restart {
            o = o.restart(policy.as_str());
        }
        for code in &self.success_exit_codes {
            o = o.success_exit_code(*code);
        }
        if self.essential {
            o = o.essential(true);
        }
        for name in &self.after {
            o = o.after(name.as_str());
        }
        if let Some(kind) = self.ready_kind() {
            let mut r = ReadyCheck::new(kind);
            if let Some(period) = self.ready_period {
                r = r.period(period);
            }
            if let Some(timeout) = self.ready_timeout {
                r = r.timeout(timeout);
            }
            o = o.ready(r);
        }
        if let Some(watchdog) = self.watchdog {
            o = o.watchdog(watchdog);
        }
        if let Some(path) = &self.heartbeat_status {
            let mut h = Heartbeat::new(path.as_str());
            if let Some(period) = self.heartbeat_period {
                h = h.period(period);
            }
            if let Some(grace) = self.heartbeat_grace {
                h = h.grace(grace);
            }
            o = o.heartbeat(h);
        }
        if let Some(url) = &self.http_check {
            let mut c = HttpCheck::new(url.as_str());
            if let Some(period) = self.http_period {
                c = c.period(period);
            }
            if let Some(timeout) = self.http_timeout {
                c = c.timeout(timeout);
            }
            if let Some(grace) = self.http_grace {
                c = c.grace(grace);
            }
            if let Some(max_bad) = self.http_max_bad {
                c = c.max_bad(max_bad);
            }
            o = o.http_check(c);
        }
        if let Some(path) = &self.extras {
            o = o.extras_file(path)?;
        }
        Ok(o)
    }
}

/// One `ncolony: warning: ...` line on stderr, through the one output path
/// (a warning that cannot be written is lost, not a failure: the command
/// itself has succeeded).
fn warn(line: &str) {
    crate::logging::write_line(&format!("ncolony: warning: {line}"));
}

/// Writes `text` to stdout; a closed pipe (`| head`) is the reader's
/// choice, not a failure.
fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// Writes raw bytes (a log file's lines, undecoded) to stdout; whether the
/// reader is still there (a closed pipe, `| head`, is its choice, not a
/// failure).
fn print_bytes(bytes: &[u8]) -> anyhow::Result<bool> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        other => other.context("writing to stdout").map(|()| true),
    }
}

/// `ctl tail`: where the process's output goes, its last lines, then (with
/// -f) what is appended.
fn tail(places: &Places, state: Option<&Path>, t: &TailArgs) -> anyhow::Result<()> {
    let path = match super::process_log(places, state, &t.name)? {
        super::ProcessLog::File(path) => path,
        super::ProcessLog::Stderr => anyhow::bail!(
            "{:?} has no log file: its output goes to the monitor's stderr (run the monitor \
             with --log-dir, or give the process a \"log\" key, to have one)",
            t.name
        ),
    };
    let opened = match std::fs::File::open(&path) {
        Ok(mut file) => {
            let (text, end) = super::tail::last_lines_of(&mut file, t.lines)
                .with_context(|| format!("reading {}", path.display()))?;
            if !print_bytes(&text)? {
                return Ok(());
            }
            Some((file, end))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if t.follow {
        let mut follow = super::tail::Follow::new(&path, opened);
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let text = follow.poll();
            if !text.is_empty() && !print_bytes(&text)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// `ctl events`: the journal, filtered, then (with --follow) what comes.
fn events(places: &Places, state: Option<&Path>, e: &EventsArgs) -> anyhow::Result<()> {
    let (all, bad) = super::events(places, state)?;
    if bad > 0 {
        warn(&format!("{bad} journal lines could not be read; skipped"));
    }
    let cutoff = e.since.map(|d| chrono::Utc::now() - d);
    let keep = |ev: &super::Event| {
        e.name.as_ref().is_none_or(|n| ev.name.as_ref() == Some(n))
            && cutoff.is_none_or(|c| ev.ts >= c)
    };
    let show = |ev: &super::Event| {
        let mut line = if e.json {
            serde_json::to_string(ev).expect("plain data serializes")
        } else {
            super::show::event_line(ev)
        };
        line.push('\n');
        line
    };
    let mut list: Vec<&super::Event> = all.iter().filter(|ev| keep(ev)).collect();
    if let Some(n) = e.lines {
        list.drain(..list.len().saturating_sub(n));
    }
    print(&list.iter().map(|ev| show(ev)).collect::<String>())?;
    if e.follow {
        let dir = super::state_dir(places, state);
        let mut tail = super::colony::Tail::new(&dir);
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let text: String = tail.poll().iter().filter(|ev| keep(ev)).map(show).collect();
            print(&text)?;
        }
    }
    Ok(())
}

/// Runs `ncolony ctl`.
pub fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let places = Places::new(args.config, args.messages);
    match args.command {
        CtlCommand::Add(add) => {
            let options = add.options()?;
            super::add(&places, &add.name, &options)?;
        }
        CtlCommand::Remove { name } => super::remove(&places, &name)?,
        CtlCommand::Restart { name } => {
            super::restart(&places, &name)?;
            if let Some(why) = super::ops::unconfigured_name(&places, &name) {
                warn(&format!("{why}; the restart was sent anyway"));
            }
        }
        CtlCommand::Stop { name } => {
            super::stop(&places, &name)?;
            if let Some(why) = super::ops::unconfigured_name(&places, &name) {
                warn(&format!("{why}; the stop was sent anyway"));
            }
        }
        CtlCommand::Start { name } => {
            super::start(&places, &name)?;
            if let Some(why) = super::ops::unconfigured_name(&places, &name) {
                warn(&format!("{why}; the start was sent anyway"));
            }
        }
        CtlCommand::RestartAll => {
            super::restart_all(&places)?;
        }
        CtlCommand::RestartGroup { group } => {
            super::restart_group(&places, &group)?;
            if let Some(why) = super::ops::unconfigured_group(&places, &group) {
                warn(&format!("{why}; the restart was sent anyway"));
            }
        }
        CtlCommand::Status(s) if s.pid.is_some() => {
            let list = status(&places, s.pid.as_deref())?;
            let mut text = String::new();
            if s.json {
                text.push_str(&super::status::to_json_list(&list));
                text.push('\n');
            } else {
                for proc in &list {
                    text.push_str(&format!("{proc}\n"));
                }
            }
            print(&text)?;
        }
        CtlCommand::Status(s) => {
            let colony = super::colony_status(&places, args.state.as_deref())?;
            let mut list: Vec<&super::ProcessStatus> = colony.processes.iter().collect();
            if !s.names.is_empty() {
                for name in &s.names {
                    if !list.iter().any(|p| &p.name == name) {
                        anyhow::bail!("no process named {name:?}");
                    }
                }
                list.retain(|p| s.names.contains(&p.name));
            }
            let text = if s.json {
                let shown = super::ColonyStatus {
                    monitor: colony.monitor.clone(),
                    processes: list.iter().map(|p| (*p).clone()).collect(),
                };
                let mut text = serde_json::to_string(&shown).expect("plain data serializes");
                text.push('\n');
                text
            } else {
                let colour = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                super::show::status_table(&colony, &list, chrono::Utc::now(), colour)
            };
            print(&text)?;
            if !colony.monitor.running {
                return Ok(ExitCode::from(3));
            }
        }
        CtlCommand::Validate { names } => {
            let found = super::validate(&places, &names)?;
            let mut text = String::new();
            for line in found.problems.iter().chain(&found.warnings) {
                text.push_str(&format!("{line}\n"));
            }
            if found.is_ok() {
                let configs = if found.checked == 1 {
                    "config"
                } else {
                    "configs"
                };
                let warnings = match found.warnings.len() {
                    0 => String::new(),
                    1 => " (1 warning)".to_owned(),
                    n => format!(" ({n} warnings)"),
                };
                text.push_str(&format!(
                    "{} {configs} in {}: no problems{warnings}\n",
                    found.checked,
                    places.config.display()
                ));
            }
            print(&text)?;
            if !found.is_ok() {
                return Ok(ExitCode::FAILURE);
            }
        }
        CtlCommand::Events(e) => events(&places, args.state.as_deref(), &e)?,
        CtlCommand::Wait { names, timeout } => {
            // A timeout too long for a Duration is no limit.
            let timeout =
                timeout.and_then(|t| std::time::Duration::try_from_secs_f64(t.as_f64()).ok());
            let found = super::wait(&places, args.state.as_deref(), &names, timeout)?;
            if !found.is_ready() {
                let list: Vec<String> = found
                    .not_ready
                    .iter()
                    .map(|(name, state)| format!("{name} ({state})"))
                    .collect();
                let why = if found.monitor_running {
                    "not ready".to_owned()
                } else {
                    format!(
                        "no monitor is running on {}; not ready",
                        super::state_dir(&places, args.state.as_deref()).display()
                    )
                };
                let line = if list.is_empty() {
                    format!("ncolony: {why}")
                } else {
                    format!("ncolony: {why}: {}", list.join(", "))
                };
                crate::logging::write_line(&line);
                return Ok(ExitCode::FAILURE);
            }
        }
        CtlCommand::Tail(t) => tail(&places, args.state.as_deref(), &t)?,
    }
    Ok(ExitCode::SUCCESS)
}
