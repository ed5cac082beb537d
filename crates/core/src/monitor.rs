//! The supervision state machine and NColony's restart policy (Twisted's
//! ProcessMonitor), sans I/O: fed [`Input`]s and the current time, it queues
//! [`Action`]s for the shell and reports its next deadline.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::message::Message;
use crate::spec::{Name, ProcSpec};

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
fn signal_name(sig: i32) -> Option<&'static str> {
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

/// The signals the monitor sends, always to the child's whole process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// SIGTERM: please stop.
    Term,
    /// SIGKILL: sent `kill_time` after SIGTERM.
    Kill,
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
    /// A config file appeared or its content changed, and it is valid.
    Configured {
        /// The process name (the file name).
        name: Name,
        /// Its validated config.
        spec: Arc<ProcSpec>,
    },
    /// A config file is present but cannot be used (invalid JSON, a bad
    /// key, unreadable, too large). A running process keeps its previous
    /// config; a name never seen valid does not run.
    Invalid {
        /// The process name.
        name: Name,
        /// What is wrong, one line naming the key or the reason.
        problem: String,
    },
    /// A config file disappeared: the process must not run.
    Removed {
        /// The process name.
        name: Name,
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

/// The restart policy's contract (Twisted procmon): given how long a process
/// lived and the current delay, returns (wait before restart, next delay).
pub fn after_exit(p: &Policy, lived: Duration, delay: Duration) -> (Duration, Duration) {
    if lived >= p.threshold {
        (Duration::ZERO, p.min_restart_delay)
    } else {
        (delay, (delay * 2).min(p.max_restart_delay))
    }
}

/// What happens once a stopping process has exited (and the rest of its
/// process group with it).
#[derive(Clone, Debug)]
enum Then {
    /// A RESTART (or a RESTART-ALL, a RESTART-GROUP): the monitor stopped
    /// it, it did not crash, so it starts again at once with its delay
    /// unchanged; its exit is no instant death.
    Restart,
    /// Start the wanted config again at this time: the restart policy's
    /// wait, counted from the exit that decided it.
    RestartAt(Instant),
    /// Its config changed: start this spec with a fresh delay.
    Start(Arc<ProcSpec>),
    /// Its config went away (or the monitor is shutting down): forget it.
    Remove,
}

/// One supervised name's state.
#[derive(Clone, Debug)]
enum Proc {
    /// Waiting out a restart delay.
    Backoff {
        spec: Arc<ProcSpec>,
        until: Instant,
        delay: Duration,
    },
    /// A [`Action::Spawn`] is queued; the shell has not answered yet.
    Starting {
        spec: Arc<ProcSpec>,
        delay: Duration,
    },
    /// Alive since `since`.
    Running {
        pid: Pid,
        since: Instant,
        delay: Duration,
    },
    /// Sent SIGTERM; SIGKILL follows at `kill_at` unless it exits first.
    Stopping {
        pid: Pid,
        kill_at: Option<Instant>,
        delay: Duration,
        then: Then,
    },
    /// Exited, but other members of its process group (whose id is `pid`)
    /// were still alive: daemonized grandchildren. The group has been sent
    /// SIGTERM; SIGKILL follows at `kill_at`. Nothing is started for this
    /// name until [`Input::GroupGone`], so leftovers never overlap a new
    /// process (a port still held); then `then` happens, with `delay`.
    Draining {
        pid: Pid,
        kill_at: Option<Instant>,
        delay: Duration,
        then: Then,
    },
}

impl Proc {
    /// A stopping or draining process with what follows replaced; any other
    /// state is returned as it is.
    fn then(mut self, next: Then) -> Proc {
        if let Proc::Stopping { then, .. } | Proc::Draining { then, .. } = &mut self {
            *then = next;
        }
        self
    }
}

/// The supervisor: what is wanted (configs) and what is (live processes).
#[derive(Debug)]
pub struct Monitor {
    policy: Policy,
    wanted: BTreeMap<Name, Arc<ProcSpec>>,
    procs: BTreeMap<Name, Proc>,
    pids: HashMap<Pid, Name>,
    actions: VecDeque<Action>,
    shutting_down: bool,
    exited: bool,
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
            shutting_down: false,
            exited: false,
        }
    }

    /// Feeds one input at time `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Configured { name, spec } => self.configured(now, name, spec),
            Input::Invalid { name, problem } => self.invalid(&name, &problem),
            Input::Removed { name } => self.removed(now, name),
            Input::Message(Message::Restart { name }) => match Name::new(name.as_str()) {
                Ok(name) if self.procs.contains_key(&name) => self.restart(now, &name),
                _ => tracing::warn!("RESTART: no process named {name:?}"),
            },
            Input::Message(Message::RestartAll) => {
                let names: Vec<Name> = self.procs.keys().cloned().collect();
                for name in names {
                    self.restart(now, &name);
                }
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
                for name in names {
                    self.restart(now, &name);
                }
            }
            Input::Spawned { name, pid } => self.spawned(now, name, pid),
            Input::SpawnFailed { name, error } => self.spawn_failed(now, name, &error),
            Input::Exited {
                pid,
                status,
                group_alive,
            } => self.exited(now, pid, status, group_alive),
            Input::GroupGone { pid } => self.group_gone(now, pid),
            Input::Shutdown => self.shutdown(now),
        }
        self.maybe_exit();
    }

    /// Fires every deadline `<= now`; a spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Name> = self
            .procs
            .iter()
            .filter(|(_, p)| deadline(p).is_some_and(|d| d <= now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            let Some(proc) = self.procs.remove(&name) else {
                continue;
            };
            let next = match proc {
                Proc::Backoff { spec, delay, .. } => self.start(name.clone(), spec, delay),
                Proc::Stopping {
                    pid, delay, then, ..
                } => {
                    tracing::warn!(name = %name, pid = pid.0, "still running after killtime; killing");
                    self.signal(&name, pid, Sig::Kill);
                    Proc::Stopping {
                        pid,
                        kill_at: None,
                        delay,
                        then,
                    }
                }
                Proc::Draining {
                    pid, delay, then, ..
                } => {
                    tracing::warn!(name = %name, pid = pid.0, "process group still running after killtime; killing");
                    self.signal(&name, pid, Sig::Kill);
                    Proc::Draining {
                        pid,
                        kill_at: None,
                        delay,
                        then,
                    }
                }
                other @ (Proc::Starting { .. } | Proc::Running { .. }) => other,
            };
            self.procs.insert(name, next);
        }
        self.maybe_exit();
    }

    /// The earliest pending deadline (a restart or a kill), if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.procs.values().filter_map(deadline).min()
    }

    /// The next action for the shell, in the order decided.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The process groups whose leader has exited while other members were
    /// still alive, waiting to be reported empty with [`Input::GroupGone`].
    /// The shell checks each after reaping and on every tick.
    pub fn draining(&self) -> impl Iterator<Item = Pid> + '_ {
        self.procs.values().filter_map(|p| match p {
            Proc::Draining { pid, .. } => Some(*pid),
            Proc::Backoff { .. }
            | Proc::Starting { .. }
            | Proc::Running { .. }
            | Proc::Stopping { .. } => None,
        })
    }

    /// The name of the live child with this pid, if it is one of ours.
    pub fn name_of(&self, pid: Pid) -> Option<&Name> {
        self.pids.get(&pid)
    }

    /// Whether `name` has a live child right now (running or stopping).
    pub fn pid_of(&self, name: &Name) -> Option<Pid> {
        match self.procs.get(name)? {
            Proc::Running { pid, .. } | Proc::Stopping { pid, .. } => Some(*pid),
            Proc::Backoff { .. } | Proc::Starting { .. } | Proc::Draining { .. } => None,
        }
    }

    fn configured(&mut self, now: Instant, name: Name, spec: Arc<ProcSpec>) {
        if self.wanted.get(&name).is_some_and(|old| **old == *spec) {
            return;
        }
        self.wanted.insert(name.clone(), Arc::clone(&spec));
        if self.shutting_down {
            return;
        }
        let min = self.policy.min_restart_delay;
        let next = match self.procs.remove(&name) {
            None | Some(Proc::Backoff { .. }) => self.start(name.clone(), spec, min),
            // The new spec is compared with the wanted one once it has a pid.
            Some(p @ Proc::Starting { .. }) => p,
            Some(Proc::Running { pid, delay, .. }) => {
                tracing::info!(name = %name, "config changed; restarting");
                self.stop(now, &name, pid, delay, Then::Start(spec))
            }
            // Started once the old process (and its group) is gone.
            Some(p @ (Proc::Stopping { .. } | Proc::Draining { .. })) => p.then(Then::Start(spec)),
        };
        self.procs.insert(name, next);
    }

    /// A config file that cannot be used changes nothing: a name with a
    /// valid config keeps it (and whatever its process is doing), as an
    /// editor's half-written save or a typo must not stop a healthy process;
    /// a name never seen valid does not run. The shell leaves the logging of
    /// the problem to this one line.
    fn invalid(&self, name: &Name, problem: &str) {
        let running = match self.procs.get(name) {
            Some(Proc::Starting { .. } | Proc::Running { .. } | Proc::Stopping { .. }) => true,
            Some(Proc::Backoff { .. } | Proc::Draining { .. }) | None => false,
        };
        if !self.wanted.contains_key(name) {
            tracing::error!("config {name}: {problem}; not running it");
        } else if running {
            tracing::error!(
                "config {name}: {problem}; keeping the running process with its previous config"
            );
        } else {
            tracing::error!("config {name}: {problem}; keeping its previous config");
        }
    }

    fn removed(&mut self, now: Instant, name: Name) {
        self.wanted.remove(&name);
        self.retire(now, &name, "config gone; stopping");
    }

    /// Stops `name` for good: a backoff is forgotten, a running process is
    /// stopped and then forgotten, a starting one once it has a pid.
    fn retire(&mut self, now: Instant, name: &Name, why: &str) {
        let Some(proc) = self.procs.remove(name) else {
            return;
        };
        let next = match proc {
            Proc::Backoff { .. } => return,
            p @ Proc::Starting { .. } => p,
            Proc::Running { pid, delay, .. } => {
                tracing::info!(name = %name, "{why}");
                self.stop(now, name, pid, delay, Then::Remove)
            }
            p @ (Proc::Stopping { .. } | Proc::Draining { .. }) => p.then(Then::Remove),
        };
        self.procs.insert(name.clone(), next);
    }

    fn restart(&mut self, now: Instant, name: &Name) {
        let Some(proc) = self.procs.remove(name) else {
            return;
        };
        let next = match proc {
            Proc::Backoff { spec, delay, .. } => self.start(name.clone(), spec, delay),
            // Requests handled together collapse to one restart: a process
            // already starting, or already on its way down, needs nothing more.
            p @ (Proc::Starting { .. } | Proc::Stopping { .. }) => p,
            Proc::Running { pid, delay, .. } => {
                tracing::info!(name = %name, "restarting on request");
                self.stop(now, name, pid, delay, Then::Restart)
            }
            // Its old group drains; a restart waiting out a backoff then
            // starts at once instead, as one in Backoff does.
            p @ Proc::Draining {
                then: Then::RestartAt(_),
                ..
            } => p.then(Then::Restart),
            p @ Proc::Draining { .. } => p,
        };
        self.procs.insert(name.clone(), next);
    }

    fn spawned(&mut self, now: Instant, name: Name, pid: Pid) {
        self.pids.insert(pid, name.clone());
        let proc = self.procs.remove(&name);
        let (spec, delay) = match proc {
            Some(Proc::Starting { spec, delay }) => (spec, delay),
            other => {
                // The shell started something the core did not ask for: never
                // lose it; stop it and keep whatever state the name had.
                tracing::error!(name = %name, pid = pid.0, "unexpected spawn; stopping it");
                self.signal(&name, pid, Sig::Term);
                if let Some(p) = other {
                    self.procs.insert(name, p);
                }
                return;
            }
        };
        let then = if self.shutting_down {
            Some(Then::Remove)
        } else {
            match self.wanted.get(&name) {
                None => Some(Then::Remove),
                Some(want) if !Arc::ptr_eq(want, &spec) && **want != *spec => {
                    Some(Then::Start(Arc::clone(want)))
                }
                Some(_) => None,
            }
        };
        let next = match then {
            Some(then) => self.stop(now, &name, pid, delay, then),
            None => Proc::Running {
                pid,
                since: now,
                delay,
            },
        };
        self.procs.insert(name, next);
    }

    fn spawn_failed(&mut self, now: Instant, name: Name, error: &str) {
        let delay = match self.procs.remove(&name) {
            Some(Proc::Starting { delay, .. }) => delay,
            other => {
                tracing::error!("{name}: cannot start: {error}");
                if let Some(p) = other {
                    self.procs.insert(name, p);
                }
                return;
            }
        };
        let spec = match self.wanted.get(&name) {
            Some(want) if !self.shutting_down => Arc::clone(want),
            _ => {
                tracing::error!("{name}: cannot start: {error}");
                return;
            }
        };
        // A failed spawn counts as an instant death.
        let (wait, next) = after_exit(&self.policy, Duration::ZERO, delay);
        tracing::error!(
            "{name}: cannot start: {error}; retrying in {}s",
            wait.as_secs_f64()
        );
        let until = now + wait;
        self.procs.insert(
            name,
            Proc::Backoff {
                spec,
                until,
                delay: next,
            },
        );
    }

    fn exited(&mut self, now: Instant, pid: Pid, status: Exit, group_alive: bool) {
        let Some(name) = self.pids.remove(&pid) else {
            tracing::debug!(pid = pid.0, %status, "reaped a process that is not ours");
            return;
        };
        let Some(proc) = self.procs.remove(&name) else {
            return;
        };
        // `kill_at` is `Some` when the group was already sent SIGTERM.
        let (kill_at, delay, then) = match proc {
            Proc::Running { pid: p, .. } | Proc::Stopping { pid: p, .. } if p != pid => {
                // A stale pid for this name; the current child is untouched.
                self.procs.insert(name, proc);
                return;
            }
            Proc::Running { since, delay, .. } => {
                if !group_alive {
                    tracing::warn!(name = %name, pid = pid.0, "exited ({status})");
                }
                match self.wanted.get(&name) {
                    Some(_) if !self.shutting_down => {
                        let lived = now.saturating_duration_since(since);
                        let (wait, next) = after_exit(&self.policy, lived, delay);
                        (None, next, Then::RestartAt(now + wait))
                    }
                    _ => (None, delay, Then::Remove),
                }
            }
            Proc::Stopping {
                kill_at,
                delay,
                then,
                ..
            } => {
                if !group_alive {
                    tracing::info!(name = %name, pid = pid.0, "stopped ({status})");
                }
                // The monitor stopped it: its lifetime says nothing about
                // crashing, so the delay is not touched.
                (Some(kill_at), delay, then)
            }
            p @ (Proc::Backoff { .. } | Proc::Starting { .. } | Proc::Draining { .. }) => {
                self.procs.insert(name, p);
                return;
            }
        };
        if !group_alive {
            self.finish(now, name, then, delay);
            return;
        }
        tracing::info!(
            pid = pid.0,
            "{name}: exited ({status}); stopping the rest of its process group"
        );
        let kill_at = match kill_at {
            // A stop in progress keeps its deadline (or its SIGKILL, sent).
            Some(kill_at) => kill_at,
            None => {
                self.signal(&name, pid, Sig::Term);
                Some(now + self.policy.kill_time)
            }
        };
        self.procs.insert(
            name,
            Proc::Draining {
                pid,
                kill_at,
                delay,
                then,
            },
        );
    }

    fn group_gone(&mut self, now: Instant, pid: Pid) {
        let name = self.procs.iter().find_map(|(name, p)| match p {
            Proc::Draining { pid: p, .. } if *p == pid => Some(name.clone()),
            _ => None,
        });
        let Some(name) = name else {
            tracing::debug!(pid = pid.0, "process group gone, but it was not draining");
            return;
        };
        if let Some(Proc::Draining { delay, then, .. }) = self.procs.remove(&name) {
            tracing::debug!(name = %name, pid = pid.0, "process group gone");
            self.finish(now, name, then, delay);
        }
    }

    /// Does what follows a process's exit once nothing of it is left:
    /// starts the wanted config (now or after its backoff), or forgets it.
    fn finish(&mut self, now: Instant, name: Name, then: Then, delay: Duration) {
        if self.shutting_down {
            return;
        }
        let wanted = self.wanted.get(&name).cloned();
        let (spec, until, delay) = match (then, wanted) {
            (Then::Remove, _) | (Then::Restart | Then::RestartAt(_), None) => return,
            (Then::Start(spec), _) => (spec, now, self.policy.min_restart_delay),
            (Then::Restart, Some(spec)) => (spec, now, delay),
            (Then::RestartAt(until), Some(spec)) => (spec, until, delay),
        };
        let proc = if until <= now {
            self.start(name.clone(), spec, delay)
        } else {
            tracing::info!(name = %name, "died within the threshold; restarting in {}s", (until - now).as_secs_f64());
            Proc::Backoff { spec, until, delay }
        };
        self.procs.insert(name, proc);
    }

    fn shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            for (name, proc) in &mut self.procs {
                if let Proc::Stopping { pid, kill_at, .. } | Proc::Draining { pid, kill_at, .. } =
                    proc
                {
                    *kill_at = None;
                    self.actions.push_back(Action::Signal {
                        name: name.clone(),
                        pid: *pid,
                        sig: Sig::Kill,
                    });
                }
            }
            return;
        }
        self.shutting_down = true;
        let names: Vec<Name> = self.procs.keys().cloned().collect();
        for name in names {
            self.retire(now, &name, "shutting down; stopping");
        }
    }

    /// Queues a spawn and returns the state to record.
    fn start(&mut self, name: Name, spec: Arc<ProcSpec>, delay: Duration) -> Proc {
        self.actions.push_back(Action::Spawn {
            name,
            spec: Arc::clone(&spec),
        });
        Proc::Starting { spec, delay }
    }

    /// Queues SIGTERM and returns the state to record.
    fn stop(&mut self, now: Instant, name: &Name, pid: Pid, delay: Duration, then: Then) -> Proc {
        self.signal(name, pid, Sig::Term);
        Proc::Stopping {
            pid,
            kill_at: Some(now + self.policy.kill_time),
            delay,
            then,
        }
    }

    fn signal(&mut self, name: &Name, pid: Pid, sig: Sig) {
        self.actions.push_back(Action::Signal {
            name: name.clone(),
            pid,
            sig,
        });
    }

    fn maybe_exit(&mut self) {
        if self.shutting_down && !self.exited && self.procs.is_empty() {
            self.exited = true;
            self.actions.push_back(Action::Exit(0));
        }
    }
}

/// A state's deadline, if it has one.
fn deadline(p: &Proc) -> Option<Instant> {
    match p {
        Proc::Backoff { until, .. } => Some(*until),
        Proc::Stopping { kill_at, .. } | Proc::Draining { kill_at, .. } => *kill_at,
        Proc::Starting { .. } | Proc::Running { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    /// A monitor with a fake clock and a fake pid allocator.
    struct Harness {
        m: Monitor,
        now: Instant,
        next_pid: i32,
    }

    /// The fake clock's origin: any instant will do, it only moves by hand.
    #[allow(clippy::disallowed_methods)]
    fn epoch() -> Instant {
        Instant::now()
    }

    fn spec(args: &str) -> Arc<ProcSpec> {
        let json = format!(r#"{{"args": ["{args}"], "group": ["g"]}}"#);
        Arc::new(ProcSpec::parse(json.as_bytes()).expect("valid spec"))
    }

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                m: Monitor::new(Policy::default()),
                now: epoch(),
                next_pid: 100,
            }
        }

        /// Feeds an input and answers every Spawn the way the shell does,
        /// returning the actions other than spawns plus the spawned pids.
        fn feed(&mut self, input: Input) -> Vec<Action> {
            self.m.handle(self.now, input);
            self.drain()
        }

        fn drain(&mut self) -> Vec<Action> {
            let mut out = Vec::new();
            while let Some(action) = self.m.poll_action() {
                if let Action::Spawn { name, .. } = &action {
                    self.next_pid += 1;
                    let pid = Pid(self.next_pid);
                    self.m.handle(
                        self.now,
                        Input::Spawned {
                            name: name.clone(),
                            pid,
                        },
                    );
                }
                out.push(action);
            }
            out
        }

        fn advance(&mut self, d: Duration) -> Vec<Action> {
            self.now += d;
            self.m.handle_timeout(self.now);
            self.drain()
        }

        fn configure(&mut self, n: &str, args: &str) -> Vec<Action> {
            self.feed(Input::Configured {
                name: name(n),
                spec: spec(args),
            })
        }

        fn pid(&self, n: &str) -> Pid {
            self.m.pid_of(&name(n)).expect("running")
        }

        fn exit(&mut self, pid: Pid) -> Vec<Action> {
            self.feed(Input::Exited {
                pid,
                status: Exit::Code(1),
                group_alive: false,
            })
        }

        /// The leader `pid` exits while the rest of its group lives on.
        fn exit_leaving_group(&mut self, pid: Pid) -> Vec<Action> {
            self.feed(Input::Exited {
                pid,
                status: Exit::Code(0),
                group_alive: true,
            })
        }

        /// The shell found the group of `pid` empty.
        fn gone(&mut self, pid: Pid) -> Vec<Action> {
            self.feed(Input::GroupGone { pid })
        }

        fn draining(&self) -> Vec<Pid> {
            self.m.draining().collect()
        }
    }

    fn spawns(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Spawn { name, .. } => Some(name.to_string()),
                _ => None,
            })
            .collect()
    }

    fn signals(actions: &[Action]) -> Vec<(Pid, Sig)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Signal { pid, sig, .. } => Some((*pid, *sig)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn exits_display_as_a_code_or_a_signal_name() {
        let shown = |e: Exit| e.to_string();
        assert_eq!(shown(Exit::Code(0)), "exit code 0");
        assert_eq!(shown(Exit::Code(3)), "exit code 3");
        assert_eq!(shown(Exit::Signal(1)), "killed by SIGHUP");
        assert_eq!(shown(Exit::Signal(9)), "killed by SIGKILL");
        assert_eq!(shown(Exit::Signal(15)), "killed by SIGTERM");
        assert_eq!(shown(Exit::Signal(31)), "killed by SIGSYS");
        assert_eq!(shown(Exit::Signal(34)), "killed by signal 34");
        assert_eq!(shown(Exit::Signal(0)), "killed by signal 0");
        assert_eq!(shown(Exit::Signal(-1)), "killed by signal -1");
        assert_eq!(format!("{:#}", Exit::Code(0)), "exited with code 0");
        assert_eq!(format!("{:#}", Exit::Code(2)), "exited with code 2");
        assert_eq!(format!("{:#}", Exit::Signal(15)), "killed by SIGTERM");
        assert_eq!(format!("{:#}", Exit::Signal(34)), "killed by signal 34");
        assert!(Exit::Code(0).is_success());
        assert!(!Exit::Code(1).is_success());
        assert!(!Exit::Signal(15).is_success());
    }

    #[test]
    fn a_new_config_starts_its_process_at_once() {
        let mut h = Harness::new();
        assert_eq!(spawns(&h.configure("a", "/bin/a")), ["a"]);
        assert_eq!(h.m.name_of(h.pid("a")), Some(&name("a")));
        assert_eq!(h.m.poll_timeout(), None);
    }

    #[test]
    fn the_same_config_again_changes_nothing() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        assert!(h.configure("a", "/bin/a").is_empty());
    }

    #[test]
    fn a_death_after_the_threshold_restarts_at_once_with_the_minimum_delay() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.now += 2 * SEC;
        assert_eq!(spawns(&h.exit(pid)), ["a"]);
        assert_ne!(h.pid("a"), pid);
    }

    #[test]
    fn instant_deaths_back_off_doubling_up_to_the_cap() {
        let mut h = Harness::new();
        h.m = Monitor::new(Policy {
            max_restart_delay: 5 * SEC,
            ..Policy::default()
        });
        h.configure("a", "/bin/a");
        // Waits: 1, 2, 4, then capped at 5.
        for wait in [1, 2, 4, 5, 5] {
            let pid = h.pid("a");
            assert!(spawns(&h.exit(pid)).is_empty(), "an instant death waits");
            assert_eq!(h.m.poll_timeout(), Some(h.now + wait * SEC));
            assert!(spawns(&h.advance(wait * SEC - Duration::from_millis(1))).is_empty());
            assert_eq!(spawns(&h.advance(Duration::from_millis(1))), ["a"]);
        }
        // Living past the threshold resets the delay.
        h.now += 2 * SEC;
        let pid = h.pid("a");
        assert_eq!(spawns(&h.exit(pid)), ["a"]);
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(h.m.poll_timeout(), Some(h.now + SEC));
    }

    #[test]
    fn a_failed_spawn_is_an_instant_death() {
        let mut h = Harness::new();
        h.m.handle(
            h.now,
            Input::Configured {
                name: name("a"),
                spec: spec("/nope"),
            },
        );
        assert!(matches!(h.m.poll_action(), Some(Action::Spawn { .. })));
        h.m.handle(
            h.now,
            Input::SpawnFailed {
                name: name("a"),
                error: "not found".into(),
            },
        );
        assert_eq!(h.m.poll_timeout(), Some(h.now + SEC));
        h.now += SEC;
        h.m.handle_timeout(h.now);
        assert!(matches!(h.m.poll_action(), Some(Action::Spawn { .. })));
        h.m.handle(
            h.now,
            Input::SpawnFailed {
                name: name("a"),
                error: "not found".into(),
            },
        );
        assert_eq!(h.m.poll_timeout(), Some(h.now + 2 * SEC));
        // Fixing the config starts it at once with a fresh delay.
        assert_eq!(spawns(&h.configure("a", "/bin/a")), ["a"]);
    }

    #[test]
    fn a_changed_config_stops_the_old_process_then_starts_the_new_one() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let old = h.pid("a");
        let acts = h.configure("a", "/bin/b");
        assert_eq!(signals(&acts), [(old, Sig::Term)]);
        assert!(spawns(&acts).is_empty(), "no overlap of old and new");
        let acts = h.exit(old);
        match &acts[..] {
            [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/b"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_removed_config_stops_its_process_for_good() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        let acts = h.feed(Input::Removed { name: name("a") });
        assert_eq!(signals(&acts), [(pid, Sig::Term)]);
        assert!(h.exit(pid).is_empty());
        assert_eq!(h.m.poll_timeout(), None);
        assert_eq!(h.m.name_of(pid), None);
    }

    #[test]
    fn removing_during_backoff_cancels_the_restart() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.exit(pid);
        assert!(h.m.poll_timeout().is_some());
        assert!(h.feed(Input::Removed { name: name("a") }).is_empty());
        assert_eq!(h.m.poll_timeout(), None);
        assert!(h.advance(10 * SEC).is_empty());
    }

    #[test]
    fn killtime_follows_sigterm_with_sigkill() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.feed(Input::Message(Message::Restart { name: "a".into() }));
        assert_eq!(h.m.poll_timeout(), Some(h.now + 5 * SEC));
        assert!(h.advance(5 * SEC - Duration::from_millis(1)).is_empty());
        assert_eq!(
            signals(&h.advance(Duration::from_millis(1))),
            [(pid, Sig::Kill)]
        );
        assert_eq!(h.m.poll_timeout(), None, "one SIGKILL only");
        // The restart policy applies: it lived long, so it restarts at once.
        assert_eq!(spawns(&h.exit(pid)), ["a"]);
    }

    #[test]
    fn a_restarted_young_process_is_no_instant_death() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.now += Duration::from_millis(10);
        h.feed(Input::Message(Message::Restart { name: "a".into() }));
        h.now += Duration::from_millis(10);
        assert_eq!(spawns(&h.exit(pid)), ["a"], "restarted at once");
        // Its own instant death afterwards waits the minimum, not double.
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(h.m.poll_timeout(), Some(h.now + SEC));
    }

    /// Three instant deaths in a row: the next one would wait 8 s.
    fn grown_delay(h: &mut Harness) {
        h.configure("a", "/bin/a");
        for wait in [1, 2, 4] {
            let pid = h.pid("a");
            h.exit(pid);
            h.advance(wait * SEC);
        }
    }

    #[test]
    fn a_restart_keeps_a_grown_delay_and_a_config_change_resets_it() {
        let mut h = Harness::new();
        grown_delay(&mut h);
        let pid = h.pid("a");
        h.feed(Input::Message(Message::Restart { name: "a".into() }));
        assert_eq!(spawns(&h.exit(pid)), ["a"]);
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(h.m.poll_timeout(), Some(h.now + 8 * SEC), "delay kept");

        let mut h = Harness::new();
        grown_delay(&mut h);
        let pid = h.pid("a");
        h.configure("a", "/bin/a2");
        assert_eq!(spawns(&h.exit(pid)), ["a"]);
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(
            h.m.poll_timeout(),
            Some(h.now + SEC),
            "a new config starts afresh"
        );
    }

    #[test]
    fn a_thousand_restarts_in_one_batch_are_one_restart() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        for i in 0..1000 {
            let message = match i % 3 {
                0 => Message::Restart { name: "a".into() },
                1 => Message::RestartAll,
                _ => Message::RestartGroup { group: "g".into() },
            };
            h.m.handle(h.now, Input::Message(message));
        }
        let acts = h.drain();
        assert_eq!(
            acts,
            [Action::Signal {
                name: name("a"),
                pid,
                sig: Sig::Term
            }]
        );
        let acts = h.exit(pid);
        assert_eq!(spawns(&acts), ["a"]);
        assert_eq!(acts.len(), 1, "{acts:?}");
        let pid = h.pid("a");
        assert!(h.advance(10 * SEC).is_empty(), "it stays running");
        assert_eq!(h.pid("a"), pid);
        h.now += Duration::from_millis(10);
        // Restarts asked while it starts, before the shell answered, add nothing.
        h.m.handle(h.now, Input::Message(Message::Restart { name: "a".into() }));
        h.m.handle(
            h.now,
            Input::Exited {
                pid,
                status: Exit::Signal(15),
                group_alive: false,
            },
        );
        for _ in 0..1000 {
            h.m.handle(h.now, Input::Message(Message::Restart { name: "a".into() }));
        }
        let acts = h.drain();
        assert_eq!(spawns(&acts), ["a"]);
        assert_eq!(
            signals(&acts),
            [(pid, Sig::Term)],
            "only the first one stopped it"
        );
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(
            h.m.poll_timeout(),
            Some(h.now + SEC),
            "delay at the minimum"
        );
    }

    #[test]
    fn restarts_over_time_never_grow_the_delay() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        for _ in 0..13 {
            let pid = h.pid("a");
            let acts = h.feed(Input::Message(Message::Restart { name: "a".into() }));
            assert_eq!(signals(&acts), [(pid, Sig::Term)]);
            h.now += Duration::from_millis(10);
            assert_eq!(spawns(&h.exit(pid)), ["a"], "restarted at once");
            h.now += Duration::from_millis(90);
        }
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(
            h.m.poll_timeout(),
            Some(h.now + SEC),
            "delay at the minimum"
        );
    }

    #[test]
    fn a_restart_while_draining_skips_the_backoff_and_keeps_the_delay() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.exit_leaving_group(pid);
        assert!(
            h.feed(Input::Message(Message::Restart { name: "a".into() }))
                .is_empty()
        );
        assert_eq!(spawns(&h.gone(pid)), ["a"], "no wait: it was asked for");
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(
            h.m.poll_timeout(),
            Some(h.now + 2 * SEC),
            "the doubled delay stands"
        );
    }

    #[test]
    fn restart_during_backoff_starts_now_and_keeps_the_delay() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.exit(pid);
        let acts = h.feed(Input::Message(Message::Restart { name: "a".into() }));
        assert_eq!(spawns(&acts), ["a"]);
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(
            h.m.poll_timeout(),
            Some(h.now + 2 * SEC),
            "delay kept doubling"
        );
    }

    #[test]
    fn restart_of_an_unknown_name_does_nothing() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        assert!(
            h.feed(Input::Message(Message::Restart { name: "b".into() }))
                .is_empty()
        );
        assert!(
            h.feed(Input::Message(Message::Restart {
                name: "../x".into()
            }))
            .is_empty()
        );
    }

    #[test]
    fn restart_all_and_restart_group() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        h.configure("b", "/bin/b");
        h.feed(Input::Configured {
            name: name("c"),
            spec: Arc::new(ProcSpec::parse(br#"{"args": ["/bin/c"]}"#).expect("valid")),
        });
        let (a, b, c) = (h.pid("a"), h.pid("b"), h.pid("c"));
        let acts = h.feed(Input::Message(Message::RestartGroup { group: "g".into() }));
        assert_eq!(signals(&acts), [(a, Sig::Term), (b, Sig::Term)]);
        for pid in [a, b] {
            h.now += 2 * SEC;
            h.exit(pid);
        }
        let acts = h.feed(Input::Message(Message::RestartAll));
        let (a, b) = (h.pid("a"), h.pid("b"));
        assert_eq!(
            signals(&acts),
            [(a, Sig::Term), (b, Sig::Term), (c, Sig::Term)]
        );
        let acts = h.feed(Input::Message(Message::RestartGroup {
            group: "none".into(),
        }));
        assert!(acts.is_empty());
    }

    #[test]
    fn inputs_while_starting_are_applied_once_it_has_a_pid() {
        let mut h = Harness::new();
        // Removed before the shell spawned it: stopped as soon as it runs.
        h.m.handle(
            h.now,
            Input::Configured {
                name: name("a"),
                spec: spec("/bin/a"),
            },
        );
        h.m.handle(h.now, Input::Removed { name: name("a") });
        let acts = h.drain();
        let pid = Pid(h.next_pid);
        assert_eq!(signals(&acts), [(pid, Sig::Term)]);
        assert!(h.exit(pid).is_empty());
        // Changed before it had a pid: the new spec replaces it.
        h.m.handle(
            h.now,
            Input::Configured {
                name: name("b"),
                spec: spec("/bin/b1"),
            },
        );
        h.m.handle(
            h.now,
            Input::Configured {
                name: name("b"),
                spec: spec("/bin/b2"),
            },
        );
        let acts = h.drain();
        let pid = Pid(h.next_pid);
        assert_eq!(signals(&acts), [(pid, Sig::Term)]);
        match &h.exit(pid)[..] {
            [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/b2"]),
            other => panic!("{other:?}"),
        }
        // Restarted before it had a pid: it is starting anyway, nothing more.
        h.m.handle(
            h.now,
            Input::Configured {
                name: name("c"),
                spec: spec("/bin/c"),
            },
        );
        h.m.handle(h.now, Input::Message(Message::Restart { name: "c".into() }));
        let acts = h.drain();
        assert_eq!(spawns(&acts), ["c"]);
        assert!(signals(&acts).is_empty(), "{acts:?}");
        assert_eq!(h.pid("c"), Pid(h.next_pid));
    }

    #[test]
    fn orphans_and_stale_pids_are_ignored() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        assert!(h.exit(Pid(9999)).is_empty());
        assert_eq!(h.pid("a"), pid);
    }

    #[test]
    fn shutdown_stops_everything_then_exits_once() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        h.configure("b", "/bin/b");
        h.configure("c", "/bin/c");
        let (a, b, c) = (h.pid("a"), h.pid("b"), h.pid("c"));
        h.exit(c); // c is in backoff: simply dropped
        let acts = h.feed(Input::Shutdown);
        assert_eq!(signals(&acts), [(a, Sig::Term), (b, Sig::Term)]);
        assert!(h.exit(a).is_empty(), "nothing restarts during shutdown");
        assert!(h.configure("d", "/bin/d").is_empty(), "nothing starts");
        assert!(h.feed(Input::Message(Message::RestartAll)).is_empty());
        assert_eq!(signals(&h.advance(5 * SEC)), [(b, Sig::Kill)]);
        assert_eq!(h.exit(b), [Action::Exit(0)]);
        assert!(h.feed(Input::Shutdown).is_empty(), "exit is said once");
    }

    #[test]
    fn shutdown_with_nothing_running_exits_at_once() {
        let mut h = Harness::new();
        assert_eq!(h.feed(Input::Shutdown), [Action::Exit(0)]);
    }

    #[test]
    fn a_second_shutdown_kills_at_once() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let a = h.pid("a");
        h.feed(Input::Shutdown);
        assert_eq!(signals(&h.feed(Input::Shutdown)), [(a, Sig::Kill)]);
        assert_eq!(h.exit(a), [Action::Exit(0)]);
    }

    #[test]
    fn an_exit_leaving_its_group_alive_stops_the_group_before_any_restart() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.now += 2 * SEC;
        let acts = h.exit_leaving_group(pid);
        assert_eq!(
            acts,
            [Action::Signal {
                name: name("a"),
                pid,
                sig: Sig::Term
            }]
        );
        assert_eq!(h.draining(), [pid]);
        assert_eq!(h.m.pid_of(&name("a")), None, "the leader is gone");
        assert!(h.advance(SEC).is_empty(), "nothing spawns while it drains");
        assert!(h.feed(Input::GroupGone { pid: Pid(9999) }).is_empty());
        // It lived past the threshold: it restarts as soon as the group is gone.
        assert_eq!(spawns(&h.gone(pid)), ["a"]);
        assert!(h.draining().is_empty());
        assert!(h.gone(pid).is_empty(), "a second report changes nothing");
    }

    #[test]
    fn a_draining_group_is_killed_at_killtime_exactly_once() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.now += 2 * SEC;
        h.exit_leaving_group(pid);
        assert_eq!(h.m.poll_timeout(), Some(h.now + 5 * SEC));
        assert!(h.advance(5 * SEC - Duration::from_millis(1)).is_empty());
        assert_eq!(
            signals(&h.advance(Duration::from_millis(1))),
            [(pid, Sig::Kill)]
        );
        assert_eq!(h.m.poll_timeout(), None, "one SIGKILL only");
        assert!(
            h.advance(100 * SEC).is_empty(),
            "and no spawn before it is gone"
        );
        assert_eq!(h.draining(), [pid]);
        assert_eq!(spawns(&h.gone(pid)), ["a"]);
    }

    #[test]
    fn a_draining_instant_death_restarts_after_its_backoff_counted_from_the_exit() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.now += Duration::from_millis(10);
        let exited_at = h.now;
        h.exit_leaving_group(pid);
        h.now += Duration::from_millis(300);
        assert!(h.gone(pid).is_empty(), "an instant death waits its delay");
        assert_eq!(h.m.poll_timeout(), Some(exited_at + SEC));
        assert!(h.advance(SEC - Duration::from_millis(301)).is_empty());
        assert_eq!(spawns(&h.advance(Duration::from_millis(1))), ["a"]);
        // The delay doubled; a group that drains past the wait restarts at once.
        let pid = h.pid("a");
        h.exit_leaving_group(pid);
        assert_eq!(signals(&h.advance(5 * SEC)), [(pid, Sig::Kill)]);
        assert_eq!(spawns(&h.gone(pid)), ["a"]);
        let pid = h.pid("a");
        h.exit(pid);
        assert_eq!(
            h.m.poll_timeout(),
            Some(h.now + 4 * SEC),
            "delay kept doubling"
        );
    }

    #[test]
    fn a_stop_in_progress_keeps_its_kill_deadline_while_the_group_drains() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.now += 2 * SEC;
        let acts = h.feed(Input::Message(Message::Restart { name: "a".into() }));
        assert_eq!(signals(&acts), [(pid, Sig::Term)]);
        h.now += 2 * SEC;
        assert!(
            h.exit_leaving_group(pid).is_empty(),
            "the group already had SIGTERM"
        );
        assert_eq!(h.m.poll_timeout(), Some(h.now + 3 * SEC));
        assert_eq!(signals(&h.advance(3 * SEC)), [(pid, Sig::Kill)]);
        assert_eq!(spawns(&h.gone(pid)), ["a"]);
        // A stop that already sent SIGKILL sends no second one.
        let pid = h.pid("a");
        h.feed(Input::Message(Message::Restart { name: "a".into() }));
        assert_eq!(signals(&h.advance(5 * SEC)), [(pid, Sig::Kill)]);
        assert!(h.exit_leaving_group(pid).is_empty());
        assert_eq!(h.m.poll_timeout(), None);
        assert_eq!(h.draining(), [pid]);
        assert_eq!(spawns(&h.gone(pid)), ["a"]);
    }

    #[test]
    fn inputs_while_draining_wait_for_the_group() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        h.configure("b", "/bin/b");
        h.configure("c", "/bin/c");
        let (a, b, c) = (h.pid("a"), h.pid("b"), h.pid("c"));
        h.now += 2 * SEC;
        // RESTART: nothing more to do; it restarts once drained.
        h.exit_leaving_group(a);
        assert!(
            h.feed(Input::Message(Message::Restart { name: "a".into() }))
                .is_empty()
        );
        assert_eq!(spawns(&h.gone(a)), ["a"]);
        // A changed config starts once drained.
        h.exit_leaving_group(b);
        assert!(h.configure("b", "/bin/b2").is_empty());
        match &h.gone(b)[..] {
            [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/b2"]),
            other => panic!("{other:?}"),
        }
        // A removal forgets it once drained.
        h.exit_leaving_group(c);
        assert!(h.feed(Input::Removed { name: name("c") }).is_empty());
        assert!(h.gone(c).is_empty());
        assert!(h.advance(100 * SEC).is_empty());
        assert_eq!(h.m.poll_timeout(), None);
        // A stop for a removal whose leader leaves its group: forgotten once drained.
        let b = h.pid("b");
        h.feed(Input::Removed { name: name("b") });
        h.exit_leaving_group(b);
        assert_eq!(h.draining(), [b]);
        assert!(h.gone(b).is_empty());
        assert!(h.advance(100 * SEC).is_empty());
        assert!(h.draining().is_empty());
        // A config that comes back while its old group drains starts once it is gone.
        let a = h.pid("a");
        h.feed(Input::Removed { name: name("a") });
        h.exit_leaving_group(a);
        assert!(h.configure("a", "/bin/a").is_empty());
        assert_eq!(spawns(&h.gone(a)), ["a"]);
    }

    #[test]
    fn shutdown_waits_for_draining_groups_and_a_second_one_kills_them() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        h.configure("b", "/bin/b");
        let (a, b) = (h.pid("a"), h.pid("b"));
        h.now += 2 * SEC;
        h.exit_leaving_group(a);
        let acts = h.feed(Input::Shutdown);
        assert_eq!(
            signals(&acts),
            [(b, Sig::Term)],
            "a's group already had SIGTERM"
        );
        assert!(h.exit(b).is_empty(), "no Exit while a group drains");
        assert_eq!(signals(&h.feed(Input::Shutdown)), [(a, Sig::Kill)]);
        assert_eq!(h.m.poll_timeout(), None);
        assert_eq!(h.gone(a), [Action::Exit(0)]);
        // Draining when the shutdown comes, exiting once it is gone.
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let a = h.pid("a");
        h.feed(Input::Shutdown);
        assert!(h.exit_leaving_group(a).is_empty());
        assert_eq!(signals(&h.advance(5 * SEC)), [(a, Sig::Kill)]);
        assert_eq!(h.gone(a), [Action::Exit(0)]);
    }

    fn invalid(n: &str) -> Input {
        Input::Invalid {
            name: name(n),
            problem: "invalid JSON at line 1".into(),
        }
    }

    #[test]
    fn an_invalid_edit_keeps_the_running_process_and_its_config() {
        let mut h = Harness::new();
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        assert!(h.feed(invalid("a")).is_empty());
        assert!(h.advance(100 * SEC).is_empty());
        assert_eq!(h.pid("a"), pid);
        // Fixed back to the same config: nothing to do.
        assert!(h.configure("a", "/bin/a").is_empty());
        // Broken again, then fixed to a different one: a reconfiguration.
        h.feed(invalid("a"));
        assert_eq!(signals(&h.configure("a", "/bin/a2")), [(pid, Sig::Term)]);
        match &h.exit(pid)[..] {
            [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/a2"]),
            other => panic!("{other:?}"),
        }
        // The previous config is still the one a crash restarts with.
        let pid = h.pid("a");
        h.feed(invalid("a"));
        h.now += 2 * SEC;
        match &h.exit(pid)[..] {
            [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/a2"]),
            other => panic!("{other:?}"),
        }
        // A removed file still stops it.
        let pid = h.pid("a");
        h.feed(invalid("a"));
        assert_eq!(
            signals(&h.feed(Input::Removed { name: name("a") })),
            [(pid, Sig::Term)]
        );
        assert!(h.exit(pid).is_empty());
    }

    #[test]
    fn an_invalid_edit_in_any_state_keeps_what_it_has() {
        let mut h = Harness::new();
        // In backoff: restarted with the previous config when the delay is up.
        h.configure("a", "/bin/a");
        let pid = h.pid("a");
        h.exit(pid);
        assert!(h.feed(invalid("a")).is_empty());
        assert_eq!(spawns(&h.advance(SEC)), ["a"]);
        // Starting: it still starts, and is not stopped once it has a pid.
        h.m.handle(
            h.now,
            Input::Configured {
                name: name("b"),
                spec: spec("/bin/b"),
            },
        );
        h.m.handle(h.now, invalid("b"));
        let acts = h.drain();
        assert_eq!(spawns(&acts), ["b"]);
        assert!(signals(&acts).is_empty());
        h.pid("b");
        // Stopping toward a new config: the new config still starts.
        h.configure("c", "/bin/c");
        let pid = h.pid("c");
        h.configure("c", "/bin/c2");
        assert!(h.feed(invalid("c")).is_empty());
        match &h.exit(pid)[..] {
            [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/c2"]),
            other => panic!("{other:?}"),
        }
        // Stopping on request: still restarted.
        let pid = h.pid("c");
        h.feed(Input::Message(Message::Restart { name: "c".into() }));
        assert!(h.feed(invalid("c")).is_empty());
        assert_eq!(spawns(&h.exit(pid)), ["c"]);
        // Draining: restarted once the group is gone.
        let pid = h.pid("c");
        h.now += 2 * SEC;
        h.exit_leaving_group(pid);
        assert!(h.feed(invalid("c")).is_empty());
        assert_eq!(spawns(&h.gone(pid)), ["c"]);
    }

    #[test]
    fn a_config_invalid_when_first_seen_never_runs() {
        let mut h = Harness::new();
        assert!(h.feed(invalid("a")).is_empty());
        assert!(h.advance(100 * SEC).is_empty());
        assert_eq!(h.m.pid_of(&name("a")), None);
        assert!(
            h.feed(Input::Message(Message::Restart { name: "a".into() }))
                .is_empty()
        );
        assert_eq!(h.feed(Input::Shutdown), [Action::Exit(0)]);
        // Once valid, it runs.
        let mut h = Harness::new();
        h.feed(invalid("a"));
        assert_eq!(spawns(&h.configure("a", "/bin/a")), ["a"]);
        // Removed, then back invalid: it stays stopped.
        let pid = h.pid("a");
        h.feed(Input::Removed { name: name("a") });
        assert!(h.feed(invalid("a")).is_empty());
        assert!(h.exit(pid).is_empty());
        assert!(h.advance(100 * SEC).is_empty());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Configure(u8, u8),
            Remove(u8),
            Invalid(u8),
            Restart(u8),
            RestartAll,
            Die(u8, bool),
            GroupGone(u8),
            Orphan,
            Advance(u16),
            FailNextSpawn,
            Shutdown,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..3u8, 0..2u8).prop_map(|(n, v)| Op::Configure(n, v)),
                (0..3u8).prop_map(Op::Remove),
                (0..3u8).prop_map(Op::Invalid),
                (0..3u8).prop_map(Op::Restart),
                Just(Op::RestartAll),
                (0..3u8, any::<bool>()).prop_map(|(n, g)| Op::Die(n, g)),
                (0..3u8).prop_map(Op::GroupGone),
                Just(Op::Orphan),
                (0..8000u16).prop_map(Op::Advance),
                Just(Op::FailNextSpawn),
                Just(Op::Shutdown),
            ]
        }

        proptest! {
            /// Whatever happens: at most one live child per name, every live
            /// child is known by pid, nothing spawns for a name while the
            /// group of its previous child drains, every draining group is
            /// reported, nothing spawns after shutdown, signals only go to
            /// live children or draining groups, and after shutdown plus
            /// exits the monitor says Exit exactly once, with nothing left.
            #[test]
            fn invariants_hold(ops in proptest::collection::vec(op(), 0..60)) {
                let mut m = Monitor::new(Policy::default());
                let mut now = epoch();
                let mut live: HashMap<Pid, String> = HashMap::new();
                // Groups whose leader exited while other members lived on.
                let mut groups: BTreeMap<Pid, String> = BTreeMap::new();
                let mut next_pid = 1;
                let mut fail_next = false;
                let mut shut = false;
                let mut exits = 0;
                let names = ["a", "b", "c"];
                for op in ops {
                    match op {
                        Op::Configure(n, v) => m.handle(now, Input::Configured {
                            name: name(names[n as usize]),
                            spec: spec(&format!("/bin/{v}")),
                        }),
                        Op::Remove(n) => m.handle(now, Input::Removed { name: name(names[n as usize]) }),
                        Op::Invalid(n) => m.handle(now, Input::Invalid { name: name(names[n as usize]), problem: "x".into() }),
                        Op::Restart(n) => m.handle(now, Input::Message(Message::Restart { name: names[n as usize].into() })),
                        Op::RestartAll => m.handle(now, Input::Message(Message::RestartAll)),
                        Op::Die(n, group_alive) => {
                            let pid = live.iter().find(|(_, v)| *v == names[n as usize]).map(|(p, _)| *p);
                            if let Some(pid) = pid {
                                if let Some(name) = live.remove(&pid).filter(|_| group_alive) {
                                    groups.insert(pid, name);
                                }
                                m.handle(now, Input::Exited { pid, status: Exit::Signal(9), group_alive });
                            }
                        }
                        Op::GroupGone(n) => {
                            let pid = groups.iter().find(|(_, v)| *v == names[n as usize]).map(|(p, _)| *p);
                            if let Some(pid) = pid {
                                groups.remove(&pid);
                                m.handle(now, Input::GroupGone { pid });
                            }
                        }
                        Op::Orphan => m.handle(now, Input::Exited { pid: Pid(-5), status: Exit::Code(0), group_alive: false }),
                        Op::Advance(ms) => {
                            now += Duration::from_millis(u64::from(ms));
                            m.handle_timeout(now);
                        }
                        Op::FailNextSpawn => fail_next = true,
                        Op::Shutdown => { shut = true; m.handle(now, Input::Shutdown) }
                    }
                    while let Some(action) = m.poll_action() {
                        match action {
                            Action::Spawn { name, .. } => {
                                prop_assert!(!shut, "spawned during shutdown");
                                prop_assert!(!live.values().any(|v| v == name.as_str()), "two children for {}", name);
                                prop_assert!(!groups.values().any(|v| v == name.as_str()), "{} spawned while its group drains", name);
                                if std::mem::take(&mut fail_next) {
                                    m.handle(now, Input::SpawnFailed { name, error: "x".into() });
                                } else {
                                    next_pid += 1;
                                    live.insert(Pid(next_pid), name.to_string());
                                    m.handle(now, Input::Spawned { name, pid: Pid(next_pid) });
                                }
                            }
                            Action::Signal { pid, .. } => prop_assert!(live.contains_key(&pid) || groups.contains_key(&pid), "signal to a dead pid"),
                            Action::Exit(code) => {
                                prop_assert_eq!(code, 0);
                                prop_assert!(live.is_empty() && groups.is_empty(), "Exit with children left");
                                exits += 1;
                            }
                        }
                    }
                    let mut draining: Vec<Pid> = m.draining().collect();
                    draining.sort();
                    prop_assert_eq!(draining, groups.keys().copied().collect::<Vec<_>>(), "draining groups");
                    for (pid, n) in &live {
                        prop_assert_eq!(m.name_of(*pid).map(Name::as_str), Some(n.as_str()), "lost a child");
                    }
                }
                // Shut down, let every child die, then every draining group
                // go: Exit comes exactly once, and only with nothing left.
                let mut last = vec![Input::Shutdown];
                last.extend(live.keys().map(|&pid| Input::Exited { pid, status: Exit::Signal(15), group_alive: false }));
                last.extend(groups.keys().map(|&pid| Input::GroupGone { pid }));
                for input in last {
                    match &input {
                        Input::Exited { pid, .. } => { live.remove(pid); }
                        Input::GroupGone { pid } => { groups.remove(pid); }
                        _ => {}
                    }
                    m.handle(now, input);
                    while let Some(action) = m.poll_action() {
                        match action {
                            Action::Exit(_) => {
                                prop_assert!(live.is_empty() && groups.is_empty(), "Exit with children left");
                                exits += 1;
                            }
                            Action::Spawn { .. } => prop_assert!(false, "spawn after shutdown"),
                            Action::Signal { .. } => {}
                        }
                    }
                }
                prop_assert_eq!(exits, 1);
            }
        }
    }
}
