//! The supervision state machine and NColony's restart policy (Twisted's
//! ProcessMonitor), sans I/O: fed [`Input`]s and the current time, it queues
//! [`Action`]s for the shell and reports its next deadline.

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
    /// A config file disappeared or became invalid: the process must not run.
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

/// The supervisor: what is wanted (configs) and what is (live processes).
#[derive(Debug)]
pub struct Monitor {
    policy: Policy,
}

impl Monitor {
    /// A monitor with no processes.
    pub fn new(policy: Policy) -> Self {
        Monitor { policy }
    }

    /// Feeds one input at time `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        let _ = (now, input, self.policy);
        todo!()
    }

    /// Fires every deadline `<= now`; a spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
        todo!()
    }

    /// The earliest pending deadline (a restart or a kill), if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// The next action for the shell, in the order decided.
    pub fn poll_action(&mut self) -> Option<Action> {
        todo!()
    }

    /// The name of the live child with this pid, if it is one of ours.
    pub fn name_of(&self, pid: Pid) -> Option<&Name> {
        let _ = pid;
        todo!()
    }
}
