//! What the monitor shows of itself: each name's status (for
//! `STATE/status.json`) and the lifecycle events (for `STATE/events.jsonl`).
//!
//! Nothing here decides anything. The API layer ([`super::Monitor`])
//! compares a name's state before and after each step of the table and
//! records what happened; [`state_of`] is the one place a table state is
//! put in the status's words, one match arm per state.

use std::time::{Duration, Instant};

use super::table::Proc;
use super::{Exit, Pid, Sig};
use crate::message::Message;
use crate::spec::Name;

/// A name's state as the status shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// A spawn is under way.
    Starting,
    /// Its process is alive.
    Running,
    /// Waiting out a restart delay.
    Backoff,
    /// Being stopped (or what is left of its process group is).
    Stopping,
    /// Kept down on request until released.
    Held,
    /// Exited and not restarted (its restart policy says so).
    Exited,
    /// Its config cannot be used and it has no valid one to run.
    Invalid,
    /// Not started yet: a name in its `after` is not ready.
    Waiting,
}

impl State {
    /// The state's word: `starting`, `running`, `backoff`, `stopping`,
    /// `held`, `exited`, `invalid` or `waiting`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Held => "held",
            State::Exited => "exited",
            State::Invalid => "invalid",
            State::Waiting => "waiting",
        }
    }
}

/// How a name's process last ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastExit {
    /// Its exit code or signal.
    pub status: Exit,
    /// When it was reaped.
    pub at: Instant,
    /// How long it had run.
    pub ran_for: Duration,
}

/// One configured name, as the status shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcView {
    /// The process name.
    pub name: Name,
    /// Its state.
    pub state: State,
    /// Its live child, if it has one.
    pub pid: Option<Pid>,
    /// When its live child was started.
    pub since: Option<Instant>,
    /// How many times it was started after its first start since the
    /// monitor came up (a start for a config change counts).
    pub restarts: u64,
    /// How its last process ended, if one has.
    pub last_exit: Option<LastExit>,
    /// When it starts again, while backing off.
    pub next_start: Option<Instant>,
    /// What is wrong with its config file, if it cannot be used.
    pub problem: Option<String>,
    /// Its restart policy's word (`always`).
    pub restart: &'static str,
    /// Whether it is ready: running and ready (at once without a `ready`
    /// key; with one, once it said so since this start), or exited
    /// successfully and not restarted (a one-shot task that is done). What
    /// `ctl wait` waits for. (A dependent's `after` asks more of a one-shot
    /// task, `restart` `never` or `on-failure`: that it exited successfully,
    /// whether or not it is ready while it runs.)
    pub ready: bool,
    /// While [`State::Waiting`]: the names in its `after` not ready yet.
    pub waiting_for: Vec<Name>,
    /// The last `STATUS=` text its live child sent.
    pub status_text: Option<String>,
}

/// Why the monitor stops a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// A RESTART (RESTART-ALL, RESTART-GROUP), or the rest of a crashed
    /// child's process group before its restart.
    Restart,
    /// Its config changed.
    ConfigChanged,
    /// Its config was removed.
    ConfigRemoved,
    /// It is held.
    Held,
    /// The monitor shuts down.
    Shutdown,
}

impl Why {
    /// The journal's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Restart => "restart",
            Why::ConfigChanged => "config_changed",
            Why::ConfigRemoved => "config_removed",
            Why::Held => "held",
            Why::Shutdown => "shutdown",
        }
    }
}

/// What happened, with the fields the journal gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The monitor came up.
    MonitorStarted,
    /// The monitor begins to shut down.
    MonitorStopping,
    /// A new config file.
    ConfigAdded,
    /// A config file with new content.
    ConfigChanged,
    /// A config file gone.
    ConfigRemoved,
    /// A config file that cannot be used.
    ConfigInvalid {
        /// What is wrong with it.
        problem: String,
    },
    /// A child was started.
    Spawned {
        /// Its pid.
        pid: Pid,
    },
    /// A child could not be started.
    SpawnFailed {
        /// Why.
        error: String,
    },
    /// A child was reaped.
    Exited {
        /// Its pid.
        pid: Pid,
        /// Its exit code or signal.
        status: Exit,
        /// How long it had run.
        ran_for: Duration,
    },
    /// A restart waits out a backoff delay.
    RestartScheduled {
        /// How long until it starts.
        delay: Duration,
    },
    /// A child is asked to stop.
    Stopping {
        /// Its pid (its process group's id).
        pid: Pid,
        /// The signal's name (`SIGTERM`).
        signal: &'static str,
        /// Why it is stopped.
        why: Why,
    },
    /// A child still running after killtime was sent SIGKILL.
    Killed {
        /// Its pid.
        pid: Pid,
    },
    /// A message was handled.
    Message {
        /// Its type (`RESTART`, `RESTART-ALL`, `RESTART-GROUP`).
        kind: &'static str,
    },
    /// A message file was refused.
    MessageRejected {
        /// The file.
        file: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A name is held.
    Held,
    /// A hold is released.
    Released,
    /// An adopted orphan was reaped.
    OrphanReaped {
        /// Its pid.
        pid: Pid,
        /// How it ended.
        status: Exit,
    },
    /// Its live child is ready.
    Ready {
        /// Its pid.
        pid: Pid,
    },
    /// Its live child did not become ready within its `ready.timeout`.
    ReadyTimeout {
        /// Its pid.
        pid: Pid,
    },
    /// Its live child sent no `WATCHDOG=1` within its `watchdog`.
    WatchdogTimeout {
        /// Its pid.
        pid: Pid,
    },
    /// It is not started yet: these names in its `after` are not ready.
    Waiting {
        /// What it waits for.
        on: Vec<Name>,
    },
}

impl EventKind {
    /// The journal's `event` word.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::MonitorStarted => "monitor_started",
            EventKind::MonitorStopping => "monitor_stopping",
            EventKind::ConfigAdded => "config_added",
            EventKind::ConfigChanged => "config_changed",
            EventKind::ConfigRemoved => "config_removed",
            EventKind::ConfigInvalid { .. } => "config_invalid",
            EventKind::Spawned { .. } => "spawned",
            EventKind::SpawnFailed { .. } => "spawn_failed",
            EventKind::Exited { .. } => "exited",
            EventKind::RestartScheduled { .. } => "restart_scheduled",
            EventKind::Stopping { .. } => "stopping",
            EventKind::Killed { .. } => "killed",
            EventKind::Message { .. } => "message",
            EventKind::MessageRejected { .. } => "message_rejected",
            EventKind::Held => "held",
            EventKind::Released => "released",
            EventKind::OrphanReaped { .. } => "orphan_reaped",
            EventKind::Ready { .. } => "ready",
            EventKind::ReadyTimeout { .. } => "ready_timeout",
            EventKind::WatchdogTimeout { .. } => "watchdog_timeout",
            EventKind::Waiting { .. } => "waiting",
        }
    }
}

/// One lifecycle event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifeEvent {
    /// When it happened.
    pub at: Instant,
    /// The name it concerns; `None` for the monitor's own events.
    pub name: Option<Name>,
    /// What happened.
    pub kind: EventKind,
}

/// What the view remembers of a name between steps.
#[derive(Clone, Debug, Default)]
pub(super) struct Record {
    /// Started at least once since the monitor came up.
    pub(super) started: bool,
    pub(super) restarts: u64,
    /// When its live child was started.
    pub(super) since: Option<Instant>,
    pub(super) last_exit: Option<LastExit>,
    /// The problem of its config file, while it cannot be used.
    pub(super) problem: Option<String>,
    /// The last `STATUS=` text of its live child (cleared at each start).
    pub(super) status_text: Option<String>,
}

/// A table state in the status's words: its state, and when it starts
/// again if it waits to. One arm per state of the table.
pub(super) fn state_of(proc: &Proc) -> (State, Option<Instant>) {
    match proc {
        Proc::Backoff { until, .. } => (State::Backoff, Some(*until)),
        Proc::Starting { .. } => (State::Starting, None),
        Proc::Running { .. } => (State::Running, None),
        Proc::Stopping(_) | Proc::Draining(_) => (State::Stopping, None),
        Proc::Held => (State::Held, None),
        Proc::Exited { .. } => (State::Exited, None),
        Proc::Waiting { .. } => (State::Waiting, None),
    }
}

/// Whether the status calls it ready: running and ready (at once without a
/// `ready` key; with one, once it said so since this start), or exited
/// successfully and not restarted (a one-shot task that is done).
pub(super) fn is_ready(proc: &Proc) -> bool {
    match proc {
        Proc::Running { health, .. } => health.ready,
        Proc::Exited { ok, .. } => *ok,
        Proc::Backoff { .. }
        | Proc::Starting { .. }
        | Proc::Stopping(_)
        | Proc::Draining(_)
        | Proc::Held
        | Proc::Waiting { .. } => false,
    }
}

/// A `STATUS=` text as the status keeps it: control characters (a newline,
/// an ESC that would reach a terminal through `ctl status`) become spaces,
/// and it is cut to [`MAX_STATUS_CHARS`].
pub(super) fn status_text(text: &str) -> String {
    text.chars()
        .take(MAX_STATUS_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The longest `STATUS=` text the status keeps, in characters.
pub const MAX_STATUS_CHARS: usize = 256;

/// A signal's name for the journal.
pub(super) fn signal_name(sig: Sig) -> &'static str {
    match sig {
        Sig::Term => "SIGTERM",
        Sig::Kill => "SIGKILL",
        Sig::Int => "SIGINT",
        Sig::Quit => "SIGQUIT",
        Sig::Hup => "SIGHUP",
        Sig::Usr1 => "SIGUSR1",
        Sig::Usr2 => "SIGUSR2",
        Sig::Winch => "SIGWINCH",
    }
}

/// A message's type, as its `"type"` key says it.
pub(super) fn message_kind(message: &Message) -> &'static str {
    match message {
        Message::Restart { .. } => "RESTART",
        Message::RestartAll => "RESTART-ALL",
        Message::RestartGroup { .. } => "RESTART-GROUP",
        Message::Stop { .. } => "STOP",
        Message::Start { .. } => "START",
    }
}

/// The one name a message concerns, if it names one.
pub(super) fn message_name(message: &Message) -> Option<&Name> {
    match message {
        Message::Restart { name } | Message::Stop { name } | Message::Start { name } => Some(name),
        Message::RestartAll | Message::RestartGroup { .. } => None,
    }
}
