//! The supervision state machine and NColony's restart policy (Twisted's
//! ProcessMonitor), sans I/O: fed [`Input`]s and the current time, it queues
//! [`Action`]s for the shell and reports its next deadline.
//!
//! This module is the API: [`Monitor`] takes the shell's inputs, parses and
//! validates config files, fans a RESTART-ALL or a RESTART-GROUP out to each
//! name, keeps the pid index and the monitor's mode (running, shutting down,
//! done), and hands each name's event to the one table that holds the whole
//! policy, `table::step` (in `monitor/table.rs`).
//!
//! It also keeps the colony's `after` graph, which no single name's step
//! can see: the cycles in it (each config in one refused, through the
//! invalid-config path), a reverse index so that a dependency's becoming
//! ready (or not) re-checks only its own dependents, and the order of a
//! shutdown or a RESTART-ALL (dependents first). A colony without `after`
//! or `ready` gets the same actions in the same order as before them.

mod table;
#[cfg(test)]
mod tests;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dirscan::Change;
use crate::message::Message;
use crate::spec::{Name, ProcSpec, after_cycles, check_after};
use table::{Ctx, Event, Mode, Proc};
use view::{EventKind, LifeEvent, ProcView, Record, Why};

pub use table::after_exit;

/// A process id, as the kernel gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub i32);

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal with this number killed it.
    Signal(i32),
}

impl Exit {
    /// Whether it is a clean exit (code 0).
    pub fn is_success(self) -> bool {
        self == Exit::Code(0)
    }

    /// The status a shell gives it: its exit code, or 128 + the signal's
    /// number (what the monitor exits with when an essential process ends).
    pub fn code(self) -> u8 {
        let code = match self {
            Exit::Code(code) => code,
            Exit::Signal(sig) => 128 + sig,
        };
        u8::try_from(code & 0xff).expect("masked to a byte")
    }
}

/// How a log line says it: `exit code 0`, `killed by SIGTERM`; after a
/// subject (`{:#}`, as in "job exited with code 0"): `exited with code 0`,
/// `killed by SIGTERM`. The one place an exit status is put in words.
impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::Code(code) if f.alternate() => write!(f, "exited with code {code}"),
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(sig) => match signal_name(sig) {
                Some(name) => write!(f, "killed by {name}"),
                None => write!(f, "killed by signal {sig}"),
            },
        }
    }
}

/// Linux's name for a standard signal number (1 to 31, as numbered on x86
/// and ARM); `None` for real-time signals and anything else. Here rather
/// than from `nix` because the core makes no system calls and has no libc.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let index = usize::try_from(sig).ok()?.checked_sub(1)?;
    NAMES.get(index).copied()
}

/// The signals the monitor sends, always to the child's whole process group:
/// a process's stop signal (`stop_signal`, SIGTERM by default), then SIGKILL
/// after its killtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// SIGTERM: please stop (the default stop signal).
    Term,
    /// SIGKILL: sent killtime after the stop signal.
    Kill,
    /// SIGINT, as a stop signal.
    Int,
    /// SIGQUIT, as a stop signal.
    Quit,
    /// SIGHUP, as a stop signal.
    Hup,
    /// SIGUSR1, as a stop signal.
    Usr1,
    /// SIGUSR2, as a stop signal.
    Usr2,
    /// SIGWINCH, as a stop signal.
    Winch,
}

/// The restart policy's numbers. Defaults are the original's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// A death sooner than this after start is "instant" (1 s).
    pub threshold: Duration,
    /// The first backoff delay, and the delay after a non-instant death (1 s).
    pub min_restart_delay: Duration,
    /// The cap on the doubling backoff delay (3600 s).
    pub max_restart_delay: Duration,
    /// Time between SIGTERM and SIGKILL when stopping (5 s).
    pub kill_time: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            threshold: Duration::from_secs(1),
            min_restart_delay: Duration::from_secs(1),
            max_restart_delay: Duration::from_secs(3600),
            kill_time: Duration::from_secs(5),
        }
    }
}

/// A fact the shell reports to the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// A change in the config directory: a file added or changed (its name
    /// and bytes, which the core parses and validates: an invalid one is
    /// handled as [`Input::Unusable`]), or removed, so its process must
    /// not run.
    Config(Change),
    /// A config file is present but cannot be read (unreadable, not a
    /// regular file, empty, too large, a symlink loop). A running process
    /// keeps its previous config; a name never seen valid does not run.
    Unusable {
        /// The process name.
        name: Name,
        /// What is wrong, one line naming the reason.
        problem: String,
    },
    /// A message from the messages directory.
    Message(Message),
    /// The shell spawned the process that [`Action::Spawn`] asked for.
    Spawned {
        /// The process name.
        name: Name,
        /// The child's pid (also its process group id).
        pid: Pid,
    },
    /// The shell could not spawn it; treated as an instant death.
    SpawnFailed {
        /// The process name.
        name: Name,
        /// What went wrong, for the log.
        error: String,
    },
    /// `waitpid` reaped this pid. Unknown pids are adopted orphans.
    Exited {
        /// The reaped pid.
        pid: Pid,
        /// How it ended.
        status: Exit,
        /// Whether other processes were still in its process group (whose
        /// id is `pid`) when the shell reaped it: daemonized grandchildren.
        group_alive: bool,
    },
    /// The process group of an exited child (see [`Monitor::draining`]) has
    /// no member left.
    GroupGone {
        /// The exited leader's pid, which is the group's id.
        pid: Pid,
    },
    /// SIGTERM or SIGINT: stop everything, then exit. A second one kills at once.
    Shutdown,
    /// What a child (or its readiness check) said of itself: a `ready`
    /// probe passed, its notification fd was written, or a datagram on the
    /// notify socket from its process group. A notice for a pid that is not
    /// the name's live child is stale and changes nothing.
    Notice {
        /// The process name.
        name: Name,
        /// The child it concerns (its process group leader).
        pid: Pid,
        /// What it said.
        notice: Notice,
    },
}

/// What a child says of itself (systemd's `sd_notify` words; a passed
/// probe or a written notification fd is [`Notice::Ready`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// `READY=1`: it is ready.
    Ready,
    /// `STATUS=...`: a line for the status.
    Status(String),
    /// `WATCHDOG=1`: it is alive.
    Watchdog,
    /// `STOPPING=1`: it is stopping of its own accord.
    Stopping,
    /// `RELOADING=1`: it is reloading its configuration.
    Reloading,
}

/// Something the core asks the shell to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start this process; answer with [`Input::Spawned`] or [`Input::SpawnFailed`].
    Spawn {
        /// The process name.
        name: Name,
        /// What to run.
        spec: Arc<ProcSpec>,
    },
    /// Send a signal to the process group of `pid`.
    Signal {
        /// The process name, for the log.
        name: Name,
        /// The child's pid, which is also its process group id.
        pid: Pid,
        /// Which signal.
        sig: Sig,
    },
    /// Every child is gone after a shutdown: exit with this code.
    Exit(u8),
}

/// The supervisor: what is wanted (configs) and what is (live processes).
///
/// Driven like quinn-proto's `Connection`. After every call to
/// [`handle`](Monitor::handle) or [`handle_timeout`](Monitor::handle_timeout),
/// the shell must:
///
/// 1. call [`poll_action`](Monitor::poll_action) until it returns `None`,
///    carrying out each action as it comes (answering a spawn with
///    [`Input::Spawned`] or [`Input::SpawnFailed`] at once is fine: that
///    `handle` only queues more actions for the same loop);
/// 2. then read [`poll_timeout`](Monitor::poll_timeout) again and re-arm
///    its one timer: any input may move the deadline, earlier or later, and
///    only these two calls do;
/// 3. after reaping and on every tick, check each group
///    [`draining`](Monitor::draining) lists and report the empty ones with
///    [`Input::GroupGone`].
///
/// [`Action::Exit`] comes once, after a shutdown, when no child is left.
#[derive(Debug)]
pub struct Monitor {
    policy: Policy,
    /// Each name's last valid config: what is wanted while running.
    wanted: BTreeMap<Name, Arc<ProcSpec>>,
    /// What is: each name with a state.
    procs: BTreeMap<Name, Proc>,
    /// The live children, by pid: inserted when spawned, removed when reaped.
    pids: HashMap<Pid, Name>,
    actions: VecDeque<Action>,
    mode: Mode,
    /// What the monitor exits with once every child is gone: 0, or an
    /// essential process's status.
    exit_code: u8,
    /// What the view remembers of each name (restarts, last exit, problem).
    records: BTreeMap<Name, Record>,
    /// The lifecycle events not yet taken by the shell.
    events: VecDeque<LifeEvent>,
    /// Whether the status changed since [`Monitor::take_changed`].
    changed: bool,
    /// Each present file's latest valid config (or, when its latest content
    /// is unusable, the one still in effect): the `after` graph in which
    /// cycles are looked for. A config in a cycle stays here but is not
    /// wanted.
    candidates: BTreeMap<Name, Arc<ProcSpec>>,
    /// The names refused for an `after` cycle, with the cycle's problem.
    cyclic: BTreeMap<Name, String>,
    /// Each name's `after` as the graph has it: its candidate's and its
    /// wanted config's, together.
    after: HashMap<Name, Vec<Name>>,
    /// The reverse of `after`: who lists a name. A dependency's change
    /// re-checks only these (never a scan of the colony).
    dependents: HashMap<Name, BTreeSet<Name>>,
    /// The names that satisfy a dependent's `after` now, as of the last
    /// step: a change either way re-checks their dependents.
    satisfied: HashSet<Name>,
    /// Dependents to re-check ([`Event::Deps`]) before the call returns.
    rechecks: VecDeque<Name>,
    /// An ordered stop (a shutdown, a RESTART-ALL or RESTART-GROUP): each
    /// name not yet given its event, which it gets once no dependent of it
    /// (in `order`) is still to be stopped or stopping.
    deferred: BTreeMap<Name, Event>,
    /// The ordered stop's dependents, by name (cycles left out).
    order: HashMap<Name, Vec<Name>>,
    /// The reverse of `order`: each dependent's deferred names, which it
    /// holds back. Fixed when the stop begins, as `order` is: a config
    /// edited or removed meanwhile (which changes `after`) must not lose
    /// a deferred name its turn.
    holds_back: HashMap<Name, Vec<Name>>,
    /// Deferred names to look at again.
    release_checks: VecDeque<Name>,
    /// How many times the cycles were looked for over the whole colony
    /// (for the tests: a change away from any cycle costs none).
    #[cfg(test)]
    cycle_scans: usize,
}

impl Monitor {
    /// A monitor with no processes.
    pub fn new(policy: Policy) -> Self {
        Monitor {
            policy,
            wanted: BTreeMap::new(),
            procs: BTreeMap::new(),
            pids: HashMap::new(),
            actions: VecDeque::new(),
            mode: Mode::Running,
            exit_code: 0,
            records: BTreeMap::new(),
            events: VecDeque::new(),
            changed: false,
            candidates: BTreeMap::new(),
            cyclic: BTreeMap::new(),
            after: HashMap::new(),
            dependents: HashMap::new(),
            satisfied: HashSet::new(),
            rechecks: VecDeque::new(),
            deferred: BTreeMap::new(),
            order: HashMap::new(),
            holds_back: HashMap::new(),
            release_checks: VecDeque::new(),
            #[cfg(test)]
            cycle_scans: 0,
        }
    }

    /// Feeds one input at time `now`. Poll again afterwards (see [`Monitor`]).
    pub fn handle(&mut self, now: Instant, input: Input) {
        if let Input::Message(message) = &input {
            let kind = view::message_kind(message);
            self.note(
                now,
                view::message_name(message),
                EventKind::Message { kind },
            );
        }
        match input {
            Input::Config(Change::Added { name, content }) => {
                self.config_file(now, name, &content, EventKind::ConfigAdded);
            }
            Input::Config(Change::Changed { name, content }) => {
                self.config_file(now, name, &content, EventKind::ConfigChanged);
            }
            Input::Config(Change::Removed { name }) => {
                tracing::info!(name = %name, "config removed");
                self.note(now, Some(&name), EventKind::ConfigRemoved);
                if let Some(record) = self.records.get_mut(&name) {
                    record.problem = None;
                }
                self.candidates.remove(&name);
                self.want(now, name.clone(), None);
                if !self.cyclic.is_empty() {
                    self.check_cycles(now, &name);
                }
                self.forget_if_gone(&name);
            }
            Input::Unusable { name, problem } => self.unusable(now, name, problem),
            Input::Message(Message::Restart { name }) => {
                if self.is_shutting_down() && self.deferred.contains_key(&name) {
                    tracing::warn!(name = %name, "RESTART: shutting down; stopped in order");
                } else if self.procs.contains_key(&name) {
                    // An explicit request: now, even in an ordered restart.
                    self.deferred.remove(&name);
                    self.step(now, name, Event::Restart);
                } else {
                    tracing::warn!("RESTART: no process named {:?}", name.as_str());
                }
            }
            Input::Message(Message::Stop { name }) => self.hold(now, name, Event::Hold, "STOP"),
            Input::Message(Message::Start { name }) => {
                self.hold(now, name, Event::Release, "START");
            }
            Input::Message(Message::RestartAll) => {
                let names: Vec<Name> = self.procs.keys().cloned().collect();
                self.restart_ordered(now, names);
            }
            Input::Message(Message::RestartGroup { group }) => {
                let names: Vec<Name> = self
                    .wanted
                    .iter()
                    .filter(|(name, spec)| {
                        spec.is_in_group(&group) && self.procs.contains_key(*name)
                    })
                    .map(|(name, _)| name.clone())
                    .collect();
                if names.is_empty() {
                    tracing::warn!("RESTART-GROUP: no process in group {group:?}");
                }
                self.restart_ordered(now, names);
            }
            Input::Spawned { name, pid } => {
                self.pids.insert(pid, name.clone());
                self.step(now, name, Event::Spawned(pid));
            }
            Input::SpawnFailed { name, error } => self.step(now, name, Event::SpawnFailed(error)),
            Input::Exited {
                pid,
                status,
                group_alive,
            } => match self.pids.remove(&pid) {
                Some(name) => self.step(
                    now,
                    name,
                    Event::Exited {
                        pid,
                        status,
                        group_alive,
                    },
                ),
                None => {
                    tracing::debug!(pid = pid.0, %status, "reaped a process that is not ours");
                    self.note(now, None, EventKind::OrphanReaped { pid, status });
                }
            },
            Input::GroupGone { pid } => {
                let name = self
                    .procs
                    .iter()
                    .find(|(_, p)| p.draining_group() == Some(pid))
                    .map(|(name, _)| name.clone());
                match name {
                    Some(name) => self.step(now, name, Event::GroupGone),
                    None => {
                        tracing::debug!(pid = pid.0, "process group gone, but it was not draining");
                    }
                }
            }
            Input::Shutdown => self.shutdown(now),
            Input::Notice { name, pid, notice } => {
                if self.pids.get(&pid) != Some(&name) {
                    tracing::debug!(name = %name, pid = pid.0, "stale notice (not its live child); ignored");
                } else if let Notice::Status(text) = notice {
                    let text = view::status_text(&text);
                    let record = self.records.entry(name).or_default();
                    if record.status_text.as_ref() != Some(&text) {
                        record.status_text = Some(text);
                        self.changed = true;
                    }
                } else {
                    self.step(now, name, Event::Notice(pid, notice));
                }
            }
        }
        self.flush(now);
        self.maybe_exit();
    }

    /// Stops every child in reverse `after` order, then exits; a second
    /// call kills what is left at once.
    fn shutdown(&mut self, now: Instant) {
        match self.mode {
            Mode::Running => {
                self.note(now, None, EventKind::MonitorStopping);
                self.mode = Mode::ShuttingDown;
                let names: Vec<Name> = self.procs.keys().cloned().collect();
                self.stop_ordered(names, &Event::Shutdown);
            }
            Mode::ShuttingDown | Mode::Done => {
                // What still waits for its dependents gets its stop signal
                // now, and then, with everything else, SIGKILL.
                for (name, event) in std::mem::take(&mut self.deferred) {
                    self.step(now, name, event);
                }
                self.order.clear();
                self.holds_back.clear();
                let names: Vec<Name> = self.procs.keys().cloned().collect();
                for name in names {
                    self.step(now, name, Event::Kill);
                }
            }
        }
    }

    /// A RESTART-ALL or a RESTART-GROUP of `names`: each is stopped once
    /// its dependents among them are, and every start waits for its
    /// `after` as always, so they start again in order. While shutting
    /// down, the ordered stop in progress is left alone.
    fn restart_ordered(&mut self, now: Instant, names: Vec<Name>) {
        match self.mode {
            Mode::Running => self.stop_ordered(names, &Event::Restart),
            Mode::ShuttingDown | Mode::Done => {
                for name in names {
                    if !self.deferred.contains_key(&name) {
                        self.step(now, name, Event::Restart);
                    }
                }
            }
        }
    }

    /// Gives each of `names` `event` in reverse `after` order: at once to
    /// those no other of them (still to be stopped, or being stopped) lists
    /// in its `after`, to the others once those are done ([`flush`]).
    /// Cycles (configs refused, but a name's previous config still in the
    /// graph) are left out of the order, so it always ends. Linear in the
    /// names and their `after` lists.
    ///
    /// [`flush`]: Monitor::flush
    fn stop_ordered(&mut self, names: Vec<Name>, event: &Event) {
        for name in &names {
            self.deferred.insert(name.clone(), event.clone());
        }
        // The order of what runs: the wanted configs' `after` (a config
        // refused for a cycle is not in effect, so not in the order).
        let empty: &[Name] = &[];
        let graph = |n: &Name| {
            self.wanted
                .get(n)
                .map_or(empty, |spec| spec.order.after.as_slice())
        };
        let mut component: HashMap<Name, usize> = HashMap::new();
        let cycles = after_cycles(self.deferred.keys().map(|n| (n, graph(n))));
        for (i, cycle) in cycles.into_iter().enumerate() {
            for member in cycle.members {
                component.insert(member, i);
            }
        }
        let mut order: HashMap<Name, Vec<Name>> = HashMap::new();
        let mut holds_back: HashMap<Name, Vec<Name>> = HashMap::new();
        for name in self.deferred.keys() {
            for dep in graph(name) {
                let same = component
                    .get(name)
                    .is_some_and(|c| component.get(dep) == Some(c));
                if self.deferred.contains_key(dep) && !same {
                    order.entry(dep.clone()).or_default().push(name.clone());
                    holds_back
                        .entry(name.clone())
                        .or_default()
                        .push(dep.clone());
                }
            }
        }
        self.order = order;
        self.holds_back = holds_back;
        for name in &names {
            self.settle(name);
        }
        self.release_checks.extend(names);
    }

    /// Whether a deferred name may have its event now: it has no running
    /// child to stop (held back, a restart's backoff or a waiting start
    /// would go ahead on their own), or its dependents (in the ordered
    /// stop) are all done: given their event, and not stopping or starting.
    fn releasable(&self, name: &Name) -> bool {
        if !matches!(self.procs.get(name), Some(Proc::Running { .. })) {
            return true;
        }
        self.order.get(name).is_none_or(|dependents| {
            dependents.iter().all(|d| {
                !self.deferred.contains_key(d) && !self.procs.get(d).is_some_and(Proc::is_busy)
            })
        })
    }

    /// Carries out what steps left to do: dependents to re-check, deferred
    /// names to release, until neither has any (each name's turn comes
    /// from a change of one it is linked to, so this is linear overall).
    fn flush(&mut self, now: Instant) {
        loop {
            if let Some(name) = self.rechecks.pop_front() {
                if matches!(self.procs.get(&name), Some(Proc::Waiting { .. })) {
                    self.step(now, name, Event::Deps);
                }
            } else if let Some(name) = self.release_checks.pop_front() {
                if self.deferred.contains_key(&name) && self.releasable(&name) {
                    let event = self.deferred.remove(&name).expect("checked just above");
                    // Its turn: no longer held back, it may count as ready
                    // again (when its event changes nothing).
                    self.step(now, name, event);
                }
                if self.deferred.is_empty() {
                    self.order.clear();
                    self.holds_back.clear();
                }
            } else {
                break;
            }
        }
    }

    /// A STOP or a START: for a configured name, the table's; otherwise
    /// logged and dropped. While shutting down, a name stopped in order
    /// keeps its turn.
    fn hold(&mut self, now: Instant, name: Name, event: Event, what: &str) {
        if self.is_shutting_down() && self.deferred.contains_key(&name) {
            tracing::warn!(name = %name, "{what}: shutting down; stopped in order");
        } else if self.wanted.contains_key(&name) {
            self.step(now, name, event);
        } else {
            tracing::warn!("{what}: no configured process named {:?}", name.as_str());
        }
    }

    /// Holds `names` as STOP does, before the first config scan: the holds
    /// the previous monitor kept (and STOPs sent while none ran), so that
    /// nothing held starts even once. A name still without a config after
    /// the scan is dropped by [`forget_unconfigured`](Monitor::forget_unconfigured).
    pub fn restore_holds(&mut self, now: Instant, names: impl IntoIterator<Item = Name>) {
        for name in names {
            self.step(now, name, Event::Hold);
        }
        self.flush(now);
    }

    /// Drops the holds of names that have no config (see
    /// [`restore_holds`](Monitor::restore_holds)), returning them.
    pub fn forget_unconfigured(&mut self, now: Instant) -> Vec<Name> {
        let gone: Vec<Name> = self
            .procs
            .keys()
            .filter(|name| !self.wanted.contains_key(*name))
            .cloned()
            .collect();
        for name in &gone {
            self.step(now, name.clone(), Event::Removed);
        }
        self.flush(now);
        gone
    }

    /// The names held by a STOP (or about to be, once their stop is over),
    /// sorted: what the shell keeps in the state directory. Meaningless
    /// once shutting down (see [`is_shutting_down`](Monitor::is_shutting_down)),
    /// when every state is being forgotten.
    pub fn held(&self) -> impl Iterator<Item = &Name> + '_ {
        self.procs
            .iter()
            .filter(|(_, p)| p.is_held())
            .map(|(name, _)| name)
    }

    /// Whether `name` has a valid config.
    pub fn is_configured(&self, name: &Name) -> bool {
        self.wanted.contains_key(name)
    }

    /// Whether the monitor is shutting down (a SIGTERM, or an essential
    /// process's end).
    pub fn is_shutting_down(&self) -> bool {
        match self.mode {
            Mode::Running => false,
            Mode::ShuttingDown | Mode::Done => true,
        }
    }

    /// Fires every deadline `<= now`; a spurious call is a no-op. Poll again
    /// afterwards (see [`Monitor`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Name> = self
            .procs
            .iter()
            .filter(|(_, p)| p.deadline().is_some_and(|d| d <= now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            self.step(now, name, Event::Timeout);
        }
        self.flush(now);
        self.maybe_exit();
    }

    /// The earliest pending deadline (a restart or a kill), if any. It
    /// changes only in [`handle`](Monitor::handle) and
    /// [`handle_timeout`](Monitor::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.procs.values().filter_map(Proc::deadline).min()
    }

    /// The next action for the shell, in the order decided.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The process groups whose leader has exited while other members were
    /// still alive, waiting to be reported empty with [`Input::GroupGone`].
    /// The shell checks each after reaping and on every tick.
    pub fn draining(&self) -> impl Iterator<Item = Pid> + '_ {
        self.procs.values().filter_map(Proc::draining_group)
    }

    /// The name of the live child with this pid, if it is one of ours.
    pub fn name_of(&self, pid: Pid) -> Option<&Name> {
        self.pids.get(&pid)
    }

    /// Whether `name` has a live child right now (running or stopping).
    pub fn pid_of(&self, name: &Name) -> Option<Pid> {
        self.procs.get(name)?.live_pid()
    }

    /// A config file's new bytes: parsed and validated here, each unknown
    /// key warned about (once per content, since this runs once per change),
    /// and an invalid one handled as a file that cannot be used.
    fn config_file(&mut self, now: Instant, name: Name, content: &[u8], kind: EventKind) {
        let parsed = ProcSpec::parse(content)
            .map_err(|e| e.to_string())
            .and_then(|spec| check_after(&name, &spec.order).map(|()| spec));
        match parsed {
            Ok(spec) => {
                for unknown in &spec.unknown_keys {
                    tracing::warn!("config {name}: {unknown}");
                }
                let spec = Arc::new(spec);
                self.candidates.insert(name.clone(), Arc::clone(&spec));
                self.reindex(&name);
                if let Some(problem) = self.check_cycles(now, &name) {
                    self.invalid(now, name, problem);
                    return;
                }
                tracing::info!(name = %name, "config loaded");
                self.note(now, Some(&name), kind);
                if let Some(record) = self.records.get_mut(&name) {
                    record.problem = None;
                }
                self.changed = true;
                self.want(now, name, Some(spec));
            }
            Err(problem) => self.unusable(now, name, problem),
        }
    }

    /// A config file whose latest content cannot be used: what is in
    /// effect for it (its previous config, or nothing) is what the `after`
    /// graph has of it, which may end a cycle it was in.
    fn unusable(&mut self, now: Instant, name: Name, problem: String) {
        match self.wanted.get(&name) {
            Some(spec) => self.candidates.insert(name.clone(), Arc::clone(spec)),
            None => self.candidates.remove(&name),
        };
        self.reindex(&name);
        if !self.cyclic.is_empty() {
            self.check_cycles(now, &name);
        }
        self.invalid(now, name, problem);
    }

    /// After `changed`'s candidate changed: the `after` cycles, each
    /// member refused with one problem naming the whole cycle, and those
    /// no longer in one given their config back. Returns `changed`'s
    /// problem, if it is in one (the caller refuses it). Only a cycle
    /// through `changed` can be new, and only a cycle `changed` is in can
    /// end or change: unless it is in a known one, a search from its
    /// `after` settles it, and only a cycle found (or one of its own to
    /// re-check) costs a pass over the colony. Other cycles, known or not,
    /// cost nothing: a colony with a cycle is not searched whole at each
    /// change elsewhere.
    fn check_cycles(&mut self, now: Instant, changed: &Name) -> Option<String> {
        if !self.cyclic.contains_key(changed) && !self.closes_cycle(changed) {
            return None;
        }
        #[cfg(test)]
        {
            self.cycle_scans += 1;
        }
        let found = after_cycles(
            self.candidates
                .iter()
                .map(|(n, spec)| (n, spec.order.after.as_slice())),
        );
        let mut cyclic = BTreeMap::new();
        for cycle in found {
            let problem = cycle.to_string();
            for member in cycle.members {
                cyclic.insert(member, problem.clone());
            }
        }
        let before = std::mem::replace(&mut self.cyclic, cyclic);
        for (name, problem) in &before {
            if name == changed || self.cyclic.contains_key(name) {
                continue;
            }
            let Some(record) = self.records.get_mut(name) else {
                continue;
            };
            if record.problem.as_ref() == Some(problem) {
                tracing::info!("config {name}: no longer in an \"after\" cycle");
                record.problem = None;
                self.changed = true;
                if let Some(spec) = self.candidates.get(name).cloned() {
                    self.want(now, name.clone(), Some(spec));
                }
            }
        }
        let news: Vec<(Name, String)> = self
            .cyclic
            .iter()
            .filter(|(name, problem)| *name != changed && before.get(*name) != Some(*problem))
            .map(|(name, problem)| (name.clone(), problem.clone()))
            .collect();
        for (name, problem) in news {
            self.invalid(now, name, problem);
        }
        self.cyclic.get(changed).cloned()
    }

    /// Whether `name`'s candidate closes a cycle: something lists it, and
    /// its `after` leads back to it (a search over the candidates, each
    /// name visited once).
    fn closes_cycle(&self, name: &Name) -> bool {
        let Some(spec) = self.candidates.get(name) else {
            return false;
        };
        if spec.order.after.is_empty() || self.dependents.get(name).is_none_or(BTreeSet::is_empty) {
            return false;
        }
        let mut seen: HashSet<&Name> = HashSet::new();
        let mut todo: Vec<&Name> = spec.order.after.iter().collect();
        while let Some(next) = todo.pop() {
            if next == name {
                return true;
            }
            if seen.insert(next)
                && let Some(spec) = self.candidates.get(next)
            {
                todo.extend(spec.order.after.iter());
            }
        }
        false
    }

    /// Records `name`'s `after` (its candidate's and its wanted config's)
    /// in the graph and its reverse.
    fn reindex(&mut self, name: &Name) {
        let mut after: Vec<Name> = Vec::new();
        for spec in [self.candidates.get(name), self.wanted.get(name)]
            .into_iter()
            .flatten()
        {
            for dep in &spec.order.after {
                if !after.contains(dep) {
                    after.push(dep.clone());
                }
            }
        }
        if let Some(old) = self.after.remove(name) {
            for dep in old {
                if let Some(set) = self.dependents.get_mut(&dep) {
                    set.remove(name);
                    if set.is_empty() {
                        self.dependents.remove(&dep);
                    }
                }
            }
        }
        for dep in &after {
            self.dependents
                .entry(dep.clone())
                .or_default()
                .insert(name.clone());
        }
        if !after.is_empty() {
            self.after.insert(name.clone(), after);
        }
    }

    /// Notes whether `name` satisfies its dependents' `after` now, and
    /// when that changed, queues them to check again. A name held back by
    /// an ordered stop does not: its dependents wait for its restart.
    fn settle(&mut self, name: &Name) {
        let now = !self.deferred.contains_key(name)
            && table::satisfies(self.procs.get(name), self.wanted.get(name));
        let before = if now {
            !self.satisfied.insert(name.clone())
        } else {
            self.satisfied.remove(name)
        };
        if before != now
            && let Some(dependents) = self.dependents.get(name)
        {
            self.rechecks.extend(dependents.iter().cloned());
        }
    }

    /// A config file that cannot be used: journaled, remembered for the
    /// status, and handed to the table (which changes nothing).
    fn invalid(&mut self, now: Instant, name: Name, problem: String) {
        self.note(
            now,
            Some(&name),
            EventKind::ConfigInvalid {
                problem: problem.clone(),
            },
        );
        self.records.entry(name.clone()).or_default().problem = Some(problem.clone());
        self.changed = true;
        self.step(now, name, Event::Invalid(problem));
    }

    /// Records `name`'s config (`None`: gone), and tells the table when what
    /// should run for it changes: the same config again, or any config once
    /// the monitor shuts down, changes nothing.
    fn want(&mut self, now: Instant, name: Name, config: Option<Arc<ProcSpec>>) {
        let before = table::wanted(self.mode, self.wanted.get(&name)).cloned();
        match config {
            Some(spec) => self.wanted.insert(name.clone(), spec),
            None => self.wanted.remove(&name),
        };
        self.reindex(&name);
        let event = match (before, table::wanted(self.mode, self.wanted.get(&name))) {
            (Some(old), Some(new)) if *old == **new => return,
            (None, None) => return,
            (Some(_) | None, Some(new)) => Event::Configured(Arc::clone(new)),
            (Some(_), None) => Event::Removed,
        };
        self.step(now, name, event);
    }

    /// Hands `event` to the table with `name`'s state, and records the next;
    /// then compares the two states for the view: what it shows of the
    /// name, and the events that happened.
    fn step(&mut self, now: Instant, name: Name, event: Event) {
        let proc = self.procs.remove(&name);
        let before_pid = proc.as_ref().and_then(Proc::live_pid);
        let was_starting = matches!(proc, Some(Proc::Starting { .. }));
        let was_held = proc.as_ref().is_some_and(Proc::is_held);
        let before_until = proc.as_ref().and_then(|p| view::state_of(p).1);
        let before_waiting = match &proc {
            Some(Proc::Waiting { on, .. }) => Some(on.clone()),
            _ => None,
        };
        let before_health = match &proc {
            Some(Proc::Running { health, .. }) => Some(health.ready),
            _ => None,
        };
        let why = match &event {
            Event::Configured(_) => Some(Why::ConfigChanged),
            Event::Removed => Some(Why::ConfigRemoved),
            Event::Restart => Some(Why::Restart),
            Event::Shutdown => Some(Why::Shutdown),
            Event::Hold => Some(Why::Held),
            Event::Release
            | Event::Invalid(_)
            | Event::Spawned(_)
            | Event::SpawnFailed(_)
            | Event::Exited { .. }
            | Event::GroupGone
            | Event::Timeout
            | Event::Kill
            | Event::Deps
            | Event::Notice(..) => None,
        };
        let first_action = self.actions.len();
        let noted = event.clone();
        let (procs, wanted, deferred) = (&self.procs, &self.wanted, &self.deferred);
        let gate = |dep: &Name| {
            !deferred.contains_key(dep) && table::satisfies(procs.get(dep), wanted.get(dep))
        };
        let mut ctx = Ctx {
            policy: &self.policy,
            now,
            mode: self.mode,
            name: &name,
            config: self.wanted.get(&name),
            actions: &mut self.actions,
            ended: None,
            gate: &gate,
        };
        let next = table::step(proc, event, &mut ctx);
        let ended = ctx.ended;
        self.changed = true;
        let record = self.records.entry(name.clone()).or_default();
        let mut events = Vec::new();
        let timed_out = matches!(noted, Event::Timeout);
        match noted {
            Event::Spawned(pid) if was_starting => {
                if record.started {
                    record.restarts += 1;
                }
                record.started = true;
                record.since = Some(now);
                record.status_text = None;
                events.push(EventKind::Spawned { pid });
            }
            Event::SpawnFailed(error) if was_starting => {
                events.push(EventKind::SpawnFailed { error });
            }
            Event::Exited { pid, status, .. } if before_pid == Some(pid) => {
                let ran_for = record
                    .since
                    .take()
                    .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
                record.last_exit = Some(view::LastExit {
                    status,
                    at: now,
                    ran_for,
                });
                events.push(EventKind::Exited {
                    pid,
                    status,
                    ran_for,
                });
            }
            _ => {}
        }
        match (&next, before_health) {
            // A running child stopped on its deadline: its ready timeout,
            // or (ready) its watchdog's.
            (Some(Proc::Stopping(_)), Some(ready)) if timed_out => {
                let pid = before_pid.expect("a running state has a pid");
                events.push(if ready {
                    EventKind::WatchdogTimeout { pid }
                } else {
                    EventKind::ReadyTimeout { pid }
                });
            }
            (
                Some(Proc::Running {
                    pid, health, spec, ..
                }),
                before,
            ) if health.ready && before != Some(true) && spec.order.ready.is_some() => {
                events.push(EventKind::Ready { pid: *pid });
            }
            _ => {}
        }
        for action in self.actions.range(first_action..) {
            if let Action::Signal { pid, sig, .. } = action {
                events.push(match sig {
                    Sig::Kill => EventKind::Killed { pid: *pid },
                    Sig::Term
                    | Sig::Int
                    | Sig::Quit
                    | Sig::Hup
                    | Sig::Usr1
                    | Sig::Usr2
                    | Sig::Winch => EventKind::Stopping {
                        pid: *pid,
                        signal: view::signal_name(*sig),
                        why: why.unwrap_or(match (self.mode, self.wanted.contains_key(&name)) {
                            (Mode::ShuttingDown | Mode::Done, _) => Why::Shutdown,
                            (Mode::Running, true) => Why::Restart,
                            (Mode::Running, false) => Why::ConfigRemoved,
                        }),
                    },
                });
            }
        }
        // Only a configured name's holds are news: the holds restored before
        // the first config scan, and dropped for names with no config, are not.
        if self.wanted.contains_key(&name) {
            match (was_held, next.as_ref().is_some_and(Proc::is_held)) {
                (false, true) => events.push(EventKind::Held),
                (true, false) => events.push(EventKind::Released),
                (false, false) | (true, true) => {}
            }
        }
        if let Some(until) = next.as_ref().and_then(|p| view::state_of(p).1)
            && before_until != Some(until)
        {
            events.push(EventKind::RestartScheduled {
                delay: until.saturating_duration_since(now),
            });
        }
        if let Some(Proc::Waiting { on, .. }) = &next
            && before_waiting.as_ref() != Some(on)
        {
            let names: Vec<&str> = on.iter().map(Name::as_str).collect();
            tracing::info!(name = %name, "waiting for {}", names.join(", "));
            events.push(EventKind::Waiting { on: on.clone() });
        }
        for kind in events {
            self.note(now, Some(&name), kind);
        }
        match next {
            Some(next) => {
                self.procs.insert(name.clone(), next);
            }
            None => self.forget_if_gone(&name),
        }
        self.settle(&name);
        if self.deferred.contains_key(&name) {
            // It may have no running child any more.
            self.release_checks.push_back(name.clone());
        }
        if !self.deferred.is_empty()
            && let Some(held) = self.holds_back.get(&name)
        {
            // One of the dependents an ordered stop waits out moved on
            // (by the stop's order, not the live `after`: its config may
            // have changed or gone since).
            self.release_checks.extend(
                held.iter()
                    .filter(|dep| self.deferred.contains_key(*dep))
                    .cloned(),
            );
        }
        if let Some(status) = ended {
            self.essential_ended(now, &name, status);
        }
    }

    /// An essential process exited for good: the colony stops (as on
    /// SIGTERM) and the monitor exits with its status.
    fn essential_ended(&mut self, now: Instant, name: &Name, status: Exit) {
        match self.mode {
            Mode::Running => {
                self.exit_code = status.code();
                tracing::warn!(
                    name = %name,
                    code = self.exit_code,
                    "essential process {status:#} and is not restarted; stopping every process, \
                     then exiting with {}",
                    self.exit_code
                );
                self.shutdown(now);
            }
            Mode::ShuttingDown | Mode::Done => {}
        }
    }

    /// Drops what the view remembers of a name that is neither configured,
    /// nor running, nor refused.
    fn forget_if_gone(&mut self, name: &Name) {
        let gone = !self.procs.contains_key(name)
            && !self.wanted.contains_key(name)
            && self.records.get(name).is_none_or(|r| r.problem.is_none());
        if gone {
            self.records.remove(name);
        }
    }

    /// Records a lifecycle event for the journal.
    fn note(&mut self, now: Instant, name: Option<&Name>, kind: EventKind) {
        self.events.push_back(LifeEvent {
            at: now,
            name: name.cloned(),
            kind,
        });
    }

    /// Records a lifecycle event the shell witnessed (the monitor's start,
    /// a rejected message), in order with the core's own.
    pub fn journal(&mut self, now: Instant, name: Option<&Name>, kind: EventKind) {
        self.note(now, name, kind);
    }

    /// The next lifecycle event for the journal, oldest first.
    pub fn poll_event(&mut self) -> Option<LifeEvent> {
        self.events.pop_front()
    }

    /// Whether the status may have changed since the last call (and resets
    /// it): the shell rewrites its snapshot only then.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Every configured (or refused) name as the status shows it, sorted by
    /// name.
    pub fn view(&self) -> Vec<ProcView> {
        let mut names: Vec<&Name> = self.wanted.keys().collect();
        names.extend(self.procs.keys());
        names.extend(
            self.records
                .iter()
                .filter(|(_, r)| r.problem.is_some())
                .map(|(name, _)| name),
        );
        names.sort();
        names.dedup();
        let empty = Record::default();
        names
            .into_iter()
            .map(|name| {
                let record = self.records.get(name).unwrap_or(&empty);
                let proc = self.procs.get(name);
                let (state, next_start) = match proc {
                    Some(p) => view::state_of(p),
                    None if self.wanted.contains_key(name) => (view::State::Exited, None),
                    None => (view::State::Invalid, None),
                };
                let pid = proc.and_then(Proc::live_pid);
                ProcView {
                    name: name.clone(),
                    state,
                    pid,
                    since: pid.and(record.since),
                    restarts: record.restarts,
                    last_exit: record.last_exit,
                    next_start,
                    problem: record.problem.clone(),
                    restart: self
                        .wanted
                        .get(name)
                        .map_or("always", |spec| spec.lifecycle.restart.as_str()),
                    ready: proc.is_some_and(view::is_ready),
                    waiting_for: match proc {
                        Some(Proc::Waiting { on, .. }) => on.clone(),
                        _ => Vec::new(),
                    },
                    status_text: pid.and(record.status_text.clone()),
                }
            })
            .collect()
    }

    /// Queues [`Action::Exit`] once, when a shutdown has nothing left.
    fn maybe_exit(&mut self) {
        match self.mode {
            Mode::ShuttingDown if self.procs.is_empty() => {
                self.mode = Mode::Done;
                self.actions.push_back(Action::Exit(self.exit_code));
            }
            Mode::Running | Mode::ShuttingDown | Mode::Done => {}
        }
    }
}
