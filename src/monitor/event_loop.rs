//! The monitor's one event loop: a single thread that turns signals,
//! directory events, child exits and timer expiries into core inputs, and
//! carries out the core's actions.

use std::fs;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ncolony_core::message::Message;
use ncolony_core::monitor::view::EventKind;
use ncolony_core::monitor::{Action, Input, Monitor, Pid, Policy, Sig};
use ncolony_core::spec::{Name, ProcSpec};
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

use super::args::MonitorArgs;
use super::holds::HoldsRecord;
use super::logs::{self, LogSettings};
use super::metrics::Metrics;
use super::pidfiles::PidFiles;
use super::publish::{Clocks, Journal, StatusFile};
use super::readiness::{Readiness, Told};
use super::state::{ChildrenRecord, create_state_dir};
use super::strays::{stop_orphans, stop_survivors};
use super::systemd::Systemd;
use super::watch::{Dirty, Watches};
use crate::dirs::config::{ConfigDir, Unusable};
use crate::dirs::messages::{MessagesDir, Pending, is_restart};
use crate::process::output::relay;
use crate::process::reap::reap_all;
use crate::process::signal::{self, group_alive};
use crate::process::spawn::{SpawnContext, spawn};

/// Runs the monitor until SIGTERM/SIGINT has stopped every child.
pub fn run(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    // First: every line from here on, the last error's too, takes the format.
    crate::logging::configure(args.log_format, args.log_timestamps);
    let policy = args.policy()?;
    for (flag, dir) in [("--config", &args.config), ("--messages", &args.messages)] {
        let meta = fs::metadata(dir).with_context(|| format!("{flag} {}", dir.display()))?;
        if !meta.is_dir() {
            bail!("{flag} {}: not a directory", dir.display());
        }
    }
    if let Some(dir) = &args.pid {
        fs::create_dir_all(dir).with_context(|| format!("--pid {}", dir.display()))?;
    }
    create_state_dir(&args.state_dir(), &[&args.config, &args.messages])?;
    let logs = LogSettings::new(&args)?;
    // Before the first child exists: orphans of our children come to us.
    nix::sys::prctl::set_child_subreaper(true).context(
        "cannot become a child subreaper (prctl PR_SET_CHILD_SUBREAPER); \
         orphans would escape: run on Linux 3.4 or later, or as PID 1",
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the event loop")?;
    let code = runtime.block_on(Shell::new(args, policy, logs)?.run())?;
    Ok(ExitCode::from(code))
}

/// The loop's state: the core, the directories, and what the OS needs.
struct Shell {
    args: MonitorArgs,
    monitor: Monitor,
    ctx: SpawnContext,
    config: ConfigDir,
    messages: MessagesDir,
    /// Output relays; finished ones are collected as the loop goes.
    relays: JoinSet<()>,
    pid_files: PidFiles,
    /// The children started and not yet reaped, as `STATE/children.json`.
    children: ChildrenRecord,
    /// The names a STOP holds, as `STATE/holds.json`.
    holds: HoldsRecord,
    /// `STATE/status.json`.
    status: StatusFile,
    /// `STATE/events.jsonl`.
    journal: Journal,
    /// Each name's count of output bytes, for the metrics; kept across its
    /// children's lives.
    log_bytes: std::collections::HashMap<Name, Arc<std::sync::atomic::AtomicU64>>,
    /// The metrics endpoint (`--metrics`), if it serves.
    metrics: Option<Metrics>,
    /// The notify socket, notification fds and ready probes.
    readiness: Readiness,
    /// The service manager that started the monitor, if it asked to be told.
    systemd: Option<Systemd>,
    /// Where each process's output goes (`--log-dir`, `"log"`).
    logs: LogSettings,
    /// The state directory's lock, held for the monitor's life so that ctl
    /// can tell it runs.
    _lock: Option<nix::fcntl::Flock<fs::File>>,
}

impl Shell {
    fn new(args: MonitorArgs, policy: Policy, logs: LogSettings) -> anyhow::Result<Self> {
        // Once: it raises the monitor's open-file limit, and remembers the
        // original for the children (the ready checks' too).
        let ctx = SpawnContext::init();
        Ok(Shell {
            monitor: Monitor::new(policy),
            readiness: Readiness::new(ctx.clone()),
            ctx,
            config: ConfigDir::new(args.config.clone()),
            messages: MessagesDir::new(args.messages.clone()),
            relays: JoinSet::new(),
            pid_files: PidFiles::new(args.pid.clone()),
            children: ChildrenRecord::new(args.state_dir()),
            holds: HoldsRecord::new(args.state_dir()),
            status: StatusFile::new(args.state_dir()),
            journal: Journal::new(args.state_dir(), args.events_max_bytes),
            log_bytes: std::collections::HashMap::new(),
            // Before any child starts: an address in use is fatal.
            metrics: args.metrics.map(Metrics::start).transpose()?,
            systemd: Systemd::from_env(),
            logs,
            _lock: crate::statefile::hold_lock(&args.state_dir()),
            args,
        })
    }

    async fn run(mut self) -> anyhow::Result<u8> {
        // Signal handlers first: as PID 1, a signal without one is dropped.
        let mut sigchld = signal(SignalKind::child()).context("handling SIGCHLD")?;
        let mut sigterm = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut sigint = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        let mut sighup = signal(SignalKind::hangup()).context("handling SIGHUP")?;
        let period = Duration::from_secs_f64(self.args.frequency);
        let mut watches = Watches::new(&self.args.config, &self.args.messages, period);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.readiness.open(&self.args.state_dir());

        tracing::info!(
            config = %self.args.config.display(),
            messages = %self.args.messages.display(),
            pid = std::process::id(),
            "monitor started"
        );
        self.monitor
            .journal(Instant::now(), None, EventKind::MonitorStarted);
        // Before starting anything: nothing may run twice.
        let previous = self.children.previous();
        stop_survivors(previous, Duration::from_secs_f64(self.args.killtime)).await;
        // The previous monitor's record is replaced even if nothing starts.
        self.children.touch();
        self.first_scan();
        if let Some(code) = self.drive()? {
            return Ok(self.finish(code).await);
        }
        self.children.save();
        self.save_holds();
        self.publish();
        // An empty colony is ready at once.
        if let Some(systemd) = &mut self.systemd {
            systemd.update(&self.monitor.view());
        }
        loop {
            let deadline = self.monitor.poll_timeout();
            let status_due = self.status.due();
            let publish = async {
                match status_due {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sigchld.recv() => self.reap(),
                _ = sigterm.recv() => self.shutdown("SIGTERM"),
                _ = sigint.recv() => self.shutdown("SIGINT"),
                _ = sighup.recv() => {
                    tracing::info!("SIGHUP: rescanning");
                    crate::logfiles::reopen();
                    self.rescan(Dirty { config: true, messages: true });
                }
                dirty = watches.wait() => match dirty {
                    Ok(dirty) => self.rescan(dirty),
                    Err(e) => {
                        tracing::error!("reading inotify events: {e}; rescanning");
                        self.rescan(Dirty { config: true, messages: true });
                    }
                },
                _ = tick.tick() => {
                    watches.rearm();
                    self.rescan(Dirty { config: true, messages: true });
                    // A safety net like the rescan: a lost SIGCHLD leaves no zombie.
                    self.reap();
                    // After the reap, so a file is never rewritten for a child just gone.
                    self.pid_files.refresh();
                }
                () = sleep => {
                    self.monitor.handle_timeout(Instant::now());
                    self.check_draining();
                }
                Some(_) = self.relays.join_next(), if !self.relays.is_empty() => {}
                told = self.readiness.next() => self.told(told),
                () = publish => {}
            }
            if let Some(code) = self.drive()? {
                return Ok(self.finish(code).await);
            }
            // One write for every spawn and exit of this wake-up.
            self.children.save();
            self.save_holds();
            self.publish();
        }
    }

    /// Keeps `STATE/holds.json` current; not while shutting down, when every
    /// state is forgotten but the holds must outlive this monitor.
    fn save_holds(&mut self) {
        if !self.monitor.is_shutting_down() {
            self.holds.save(self.monitor.held());
        }
    }

    /// The first look at both directories. The holds come first: the
    /// previous monitor's, then the STOPs and STARTs waiting in the messages
    /// directory (sent while no monitor ran, they still apply, in order), so
    /// that nothing held starts even once; then the configs; then the other
    /// messages. A hold whose name has no config is dropped.
    fn first_scan(&mut self) {
        let now = Instant::now();
        let mut held = self.holds.load();
        // Each STOP and START, in order: its name, type and file.
        let mut from_messages = Vec::new();
        let mut later = Vec::new();
        for pending in self.messages.take() {
            let file = pending.path.display().to_string();
            match Message::parse(&pending.bytes) {
                Ok(Message::Stop { name }) => {
                    tracing::info!("message {file}: STOP {name}");
                    from_messages.push((name.clone(), "STOP", file));
                    held.insert(name);
                }
                Ok(Message::Start { name }) => {
                    tracing::info!("message {file}: START {name}");
                    from_messages.push((name.clone(), "START", file));
                    held.remove(&name);
                }
                Ok(_) | Err(_) => later.push(pending),
            }
        }
        self.monitor.restore_holds(now, held);
        self.rescan(Dirty {
            config: true,
            messages: false,
        });
        for name in self.monitor.forget_unconfigured(now) {
            if !from_messages.iter().any(|(n, ..)| *n == name) {
                tracing::info!(name = %name, "held, but no longer configured; hold dropped");
            }
        }
        for (name, kind, file) in from_messages {
            if !self.monitor.is_configured(&name) {
                let problem = format!("{kind}: no configured process named {:?}", name.as_str());
                tracing::warn!("message {file}: {problem}; deleted");
                self.monitor
                    .journal(now, None, EventKind::MessageRejected { file, problem });
            } else if let Some(metrics) = &self.metrics {
                // Handled as a hold (the core never saw it as a message).
                metrics.count_message(kind);
            }
        }
        for pending in later {
            self.message(now, pending);
        }
    }

    /// After the core's Exit: stops the adopted orphans still alive, so the
    /// monitor leaves no process behind, then empties the record.
    async fn finish(&mut self, code: u8) -> u8 {
        let none_left = stop_orphans(Duration::from_secs_f64(self.args.killtime)).await;
        self.children.save();
        self.publish();
        if none_left {
            tracing::info!(code, "every child has stopped; exiting");
        }
        self.flush_output().await;
        code
    }

    /// Appends this wake-up's events to the journal, and rewrites the status
    /// snapshot if it changed and its coalescing delay is over.
    fn publish(&mut self) {
        let clocks = Clocks::now();
        while let Some(event) = self.monitor.poll_event() {
            if let Some(metrics) = &self.metrics {
                metrics.count(&event.kind);
            }
            self.journal.push(&clocks, &event);
        }
        self.journal.flush();
        if self.monitor.take_changed() {
            self.status.changed();
        }
        if let Some(systemd) = &mut self.systemd
            && self.monitor.is_shutting_down()
        {
            // Also when an essential process's end shut down from within the core.
            systemd.stopping();
        }
        let (monitor, metrics, log_bytes) = (&self.monitor, &self.metrics, &self.log_bytes);
        let systemd = &mut self.systemd;
        // One view for the status file, the metrics and the service
        // manager, taken when the status file is due (coalesced).
        self.status.save(|| {
            let view = monitor.view();
            if let Some(metrics) = metrics {
                metrics.publish(&clocks, &view, log_bytes);
            }
            if let Some(systemd) = systemd {
                systemd.update(&view);
            }
            view
        });
    }

    /// Carries out every queued action; `Some(code)` when the core says exit.
    fn drive(&mut self) -> anyhow::Result<Option<u8>> {
        while let Some(action) = self.monitor.poll_action() {
            match action {
                Action::Spawn { name, spec } => self.spawn(name, &spec),
                Action::Signal { name, pid, sig } => signal_group(&name, pid, sig),
                Action::Exit(code) => return Ok(Some(code)),
            }
        }
        Ok(None)
    }

    fn spawn(&mut self, name: Name, spec: &Arc<ProcSpec>) {
        let now = Instant::now();
        let extra = self.readiness.prepare(&name, spec);
        match spawn(&self.ctx, &name, spec, extra) {
            Ok(child) => {
                tracing::info!(name = %name, pid = child.pid, "started");
                self.readiness.started(&name, child.pid, spec);
                let bytes = Arc::clone(self.log_bytes.entry(name.clone()).or_default());
                let file = self.logs.resolve(&name, spec.log.as_ref());
                self.status.set_log(&name, logs::shown(file.as_deref()));
                self.relays
                    .spawn(relay(name.to_string(), child.output, bytes, file));
                self.pid_files.write(&name, child.pid);
                self.children.started(name.as_str(), child.pid);
                self.monitor.handle(
                    now,
                    Input::Spawned {
                        name,
                        pid: Pid(child.pid),
                    },
                );
            }
            Err(error) => {
                self.readiness.failed();
                self.monitor.handle(
                    now,
                    Input::SpawnFailed {
                        name,
                        error: error.to_string(),
                    },
                );
            }
        }
    }

    /// Reaps the whole batch first, so that the group check of each exited
    /// child does not count members that have exited too, then reports each
    /// exit and every draining group that is now empty.
    fn reap(&mut self) {
        let mut exits = Vec::new();
        if let Err(e) = reap_all(|pid, status| exits.push((pid, status))) {
            tracing::error!("waitpid: {e}");
        }
        let now = Instant::now();
        for (pid, status) in exits {
            // A ready check's command: its probe wants the exit, not the core.
            if self.readiness.probe_exited(pid.0, status) {
                continue;
            }
            self.readiness.exited(pid.0);
            let group_alive = match self.monitor.name_of(pid).cloned() {
                Some(name) => {
                    self.pid_files.remove(&name);
                    self.children.exited(pid.0);
                    group_alive(pid.0)
                }
                None => {
                    tracing::info!(pid = pid.0, %status, "reaped an adopted orphan");
                    false
                }
            };
            self.monitor.handle(
                now,
                Input::Exited {
                    pid,
                    status,
                    group_alive,
                },
            );
        }
        self.check_draining();
    }

    /// Tells the core about every group it drains that has no member left.
    fn check_draining(&mut self) {
        let empty: Vec<Pid> = self
            .monitor
            .draining()
            .filter(|pid| !group_alive(pid.0))
            .collect();
        let now = Instant::now();
        for pid in empty {
            self.monitor.handle(now, Input::GroupGone { pid });
        }
    }

    /// What children said of themselves (`READY=1`, a probe passed, ...).
    fn told(&mut self, told: Vec<Told>) {
        let now = Instant::now();
        for Told { name, pid, notice } in told {
            self.monitor
                .handle(now, Input::Notice { name, pid, notice });
        }
    }

    fn shutdown(&mut self, why: &str) {
        tracing::info!("{why}: stopping every child");
        if let Some(systemd) = &mut self.systemd {
            systemd.stopping();
        }
        self.monitor.handle(Instant::now(), Input::Shutdown);
    }

    fn rescan(&mut self, dirty: Dirty) {
        let now = Instant::now();
        if dirty.config {
            // The core parses and validates each file, and decides.
            let rescan = self.config.rescan();
            for Unusable { name, problem } in rescan.unusable {
                self.monitor.handle(now, Input::Unusable { name, problem });
            }
            for change in rescan.changes {
                self.monitor.handle(now, Input::Config(change));
            }
        }
        if dirty.messages {
            for pending in self.messages.take() {
                self.message(now, pending);
            }
        }
    }

    /// One message taken from the messages directory.
    fn message(&mut self, now: Instant, pending: Pending) {
        let file = pending.path.display().to_string();
        let rejected = match Message::parse(&pending.bytes) {
            // Nobody was there to handle it; the first start is the
            // restart it asked for.
            Ok(message) if pending.before_start && is_restart(&message) => {
                tracing::warn!(
                    "message {file}: {message} was sent before this monitor started; \
                     deleted without effect"
                );
                format!("{message} was sent before this monitor started")
            }
            // A hold needs a config to hold: one for a name that has none
            // would be forgotten at once.
            Ok(message)
                if hold_target(&message).is_some_and(|(_, n)| !self.monitor.is_configured(n)) =>
            {
                let (kind, name) = hold_target(&message).expect("checked by the guard");
                let problem = format!("{kind}: no configured process named {:?}", name.as_str());
                tracing::warn!("message {file}: {problem}; deleted");
                problem
            }
            Ok(message) => {
                tracing::info!("message {file}: {message}");
                self.monitor.handle(now, Input::Message(message));
                return;
            }
            Err(e) => {
                tracing::error!("message {file}: {e}; deleted");
                e.to_string()
            }
        };
        self.monitor.journal(
            now,
            None,
            EventKind::MessageRejected {
                file,
                problem: rejected,
            },
        );
    }

    /// Waits briefly for the relays to write what the children left in
    /// their pipes; grandchildren holding a pipe open are not waited for.
    async fn flush_output(&mut self) {
        let all = async { while self.relays.join_next().await.is_some() {} };
        // Not finishing in time only loses output of processes that outlive us.
        let _elapsed = tokio::time::timeout(Duration::from_millis(500), all).await;
        // The loop has nothing left to do: waiting for the disk is fine now.
        crate::logfiles::flush(Duration::from_secs(1));
    }
}

/// What a STOP or a START names, with its type; `None` for other messages.
fn hold_target(message: &Message) -> Option<(&'static str, &Name)> {
    match message {
        Message::Stop { name } => Some(("STOP", name)),
        Message::Start { name } => Some(("START", name)),
        Message::Restart { .. } | Message::RestartAll | Message::RestartGroup { .. } => None,
    }
}

/// Sends `sig` to the child's process group, so a stopped service leaves no
/// grandchildren behind; to the child alone if it has left its group.
fn signal_group(name: &Name, pid: Pid, sig: Sig) {
    let signal = match sig {
        Sig::Term => Signal::SIGTERM,
        Sig::Kill => Signal::SIGKILL,
        Sig::Int => Signal::SIGINT,
        Sig::Quit => Signal::SIGQUIT,
        Sig::Hup => Signal::SIGHUP,
        Sig::Usr1 => Signal::SIGUSR1,
        Sig::Usr2 => Signal::SIGUSR2,
        Sig::Winch => Signal::SIGWINCH,
    };
    tracing::info!(name = %name, pid = pid.0, signal = %signal, "stopping");
    if let Err(e) = signal::signal_group(pid.0, signal) {
        tracing::error!(name = %name, pid = pid.0, "{e}");
    }
}
