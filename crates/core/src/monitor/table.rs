//! The restart policy as one table. [`step`] decides, for each state a name
//! can be in ([`Proc`], or none) and each [`Event`] that can befall it, the
//! next state and the actions, in one `match` with no catch-all arm: a new
//! state or event does not compile until every pair is decided, as in
//! s6-supervise's `actions[state][event]`. The cells that take more than a
//! line are the methods of [`Ctx`], which also queues the actions.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Action, Exit, Notice, Pid, Policy, Sig};
use crate::spec::{Name, ProcSpec, Restart};

/// The restart policy's contract (Twisted procmon): given how long a process
/// lived and the current delay, returns (wait before restart, next delay).
pub fn after_exit(p: &Policy, lived: Duration, delay: Duration) -> (Duration, Duration) {
    if lived >= p.threshold {
        (Duration::ZERO, p.min_restart_delay)
    } else {
        (delay, (delay * 2).min(p.max_restart_delay))
    }
}

/// What the monitor as a whole is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Supervising: what is configured runs.
    Running,
    /// Shutting down (SIGTERM or SIGINT): nothing is wanted any more; every
    /// child is being stopped. (Not `Draining`: that is a process group's.)
    ShuttingDown,
    /// Every child is gone after the shutdown and [`Action::Exit`] is queued.
    Done,
}

/// What should run for a name whose last valid config is `config`: that
/// config while the monitor runs, nothing once it shuts down.
pub(super) fn wanted(mode: Mode, config: Option<&Arc<ProcSpec>>) -> Option<&Arc<ProcSpec>> {
    match mode {
        Mode::Running => config,
        Mode::ShuttingDown | Mode::Done => None,
    }
}

/// What happens once a stopping process has exited (and the rest of its
/// process group with it).
#[derive(Clone, Debug)]
pub(super) enum Then {
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
    /// A STOP: keep it down ([`Proc::Held`]) until a START.
    Hold,
    /// It exited and its restart policy does not restart it: it stays
    /// [`Proc::Exited`] until a RESTART, a START or a new config.
    Exited {
        /// Whether that exit was a success (one of its success exit codes).
        ok: bool,
    },
    /// The monitor stopped it as failed (it did not become ready in time,
    /// or its watchdog went quiet): once it is gone, its restart policy
    /// decides as for a failure exit after `lived` (0 for a start that
    /// never became ready, so the backoff grows as for an instant death).
    Failed {
        /// How long it counts as having lived.
        lived: Duration,
    },
}

/// One supervised name's state; a name with none has no entry.
#[derive(Clone, Debug)]
pub(super) enum Proc {
    /// Waiting out a restart delay.
    Backoff {
        spec: Arc<ProcSpec>,
        until: Instant,
        delay: Duration,
    },
    /// A [`Action::Spawn`] is queued; the shell has not answered yet. What
    /// follows is decided when it answers, against what is wanted then: so
    /// configs, removals and restarts that come meanwhile need no record.
    Starting {
        spec: Arc<ProcSpec>,
        delay: Duration,
        /// A STOP came meanwhile: the child is stopped as soon as it runs.
        held: bool,
    },
    /// Alive since `since`, running `spec` (whose stop signal and killtime
    /// stop it).
    Running {
        pid: Pid,
        since: Instant,
        delay: Duration,
        spec: Arc<ProcSpec>,
        health: Health,
    },
    /// Not started: the names in `on` (from its `after`) are not ready (or,
    /// for a one-shot task, have not exited successfully). Re-checked on
    /// [`Event::Deps`] whenever one of them changes.
    Waiting {
        spec: Arc<ProcSpec>,
        delay: Duration,
        on: Vec<Name>,
    },
    /// Sent SIGTERM; SIGKILL follows unless it exits first.
    Stopping(Stop),
    /// Exited, but other members of its process group (whose id is the
    /// stop's `pid`) were still alive: daemonized grandchildren. The group
    /// has been sent SIGTERM; SIGKILL follows. Nothing is started for this
    /// name until [`Event::GroupGone`], so leftovers never overlap a new
    /// process (a port still held).
    Draining(Stop),
    /// Kept down by a STOP until a START; a new config is recorded (in
    /// what is wanted) and does not start it.
    Held,
    /// Exited, and its restart policy does not restart it; a RESTART, a
    /// START or a new config starts it again.
    Exited {
        /// The restart delay, kept for a RESTART.
        delay: Duration,
        /// Whether it exited successfully (one of its success exit codes):
        /// a one-shot task that did satisfies its dependents' `after`.
        ok: bool,
    },
}

/// A running child's readiness, and its one deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Health {
    /// Ready since this start (at once without a `ready` key).
    pub(super) ready: bool,
    /// Not ready: when its `ready.timeout` runs out. Ready with a
    /// `watchdog`: when the next `WATCHDOG=1` is due. Otherwise none.
    pub(super) deadline: Option<Instant>,
}

impl Health {
    /// A child of `spec` just spawned at `now`.
    fn new(spec: &ProcSpec, now: Instant) -> Health {
        match &spec.order.ready {
            None => Health {
                ready: true,
                deadline: None,
            },
            Some(ready) => Health {
                ready: false,
                deadline: Some(now + ready.timeout),
            },
        }
    }
}

/// Whether a name in state `proc` with config `spec` satisfies the `after`
/// of another: a one-shot task (`restart` `never` or `on-failure`) once its
/// last start exited successfully; any other once it runs and is ready.
/// Not configured (yet): never.
pub(super) fn satisfies(proc: Option<&Proc>, spec: Option<&Arc<ProcSpec>>) -> bool {
    let Some(spec) = spec else {
        return false;
    };
    match (spec.lifecycle.restart, proc) {
        (Restart::Always, Some(Proc::Running { health, .. })) => health.ready,
        (Restart::OnFailure | Restart::Never, Some(Proc::Exited { ok, .. })) => *ok,
        (
            Restart::Always,
            None
            | Some(
                Proc::Backoff { .. }
                | Proc::Starting { .. }
                | Proc::Stopping(_)
                | Proc::Draining(_)
                | Proc::Held
                | Proc::Waiting { .. }
                | Proc::Exited { .. },
            ),
        )
        | (
            Restart::OnFailure | Restart::Never,
            None
            | Some(
                Proc::Backoff { .. }
                | Proc::Starting { .. }
                | Proc::Running { .. }
                | Proc::Stopping(_)
                | Proc::Draining(_)
                | Proc::Held
                | Proc::Waiting { .. },
            ),
        ) => false,
    }
}

/// A stop under way: of a child ([`Proc::Stopping`]) or of what is left of
/// its process group ([`Proc::Draining`]).
#[derive(Clone, Debug)]
pub(super) struct Stop {
    /// The child's pid, which is also its process group's id.
    pid: Pid,
    /// When SIGKILL is due; `None` once it has been sent.
    kill_at: Option<Instant>,
    /// The restart delay, kept for what follows.
    delay: Duration,
    /// What happens once it is all gone.
    then: Then,
}

impl Stop {
    /// The same stop, with `then` happening once it is over.
    fn then(self, then: Then) -> Stop {
        Stop { then, ..self }
    }

    /// A new config came: it starts once this stop is over, unless a STOP
    /// holds the name (which keeps the config, in what is wanted, for START).
    fn configured(self, spec: Arc<ProcSpec>) -> Stop {
        match self.then {
            Then::Hold => self,
            Then::Restart
            | Then::RestartAt(_)
            | Then::Start(_)
            | Then::Remove
            | Then::Exited { .. }
            | Then::Failed { .. } => self.then(Then::Start(spec)),
        }
    }

    /// A START: what a STOP held, or what exited for good, starts again
    /// once this stop is over.
    fn released(self) -> Stop {
        match self.then {
            Then::Hold | Then::Exited { .. } => self.then(Then::Restart),
            Then::Restart
            | Then::RestartAt(_)
            | Then::Start(_)
            | Then::Remove
            | Then::Failed { .. } => self,
        }
    }
}

impl Proc {
    /// The state's deadline, if it has one: when [`Event::Timeout`] is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Proc::Backoff { until, .. } => Some(*until),
            Proc::Stopping(stop) | Proc::Draining(stop) => stop.kill_at,
            Proc::Running { health, .. } => health.deadline,
            Proc::Starting { .. } | Proc::Waiting { .. } | Proc::Held | Proc::Exited { .. } => None,
        }
    }

    /// Whether it is held by a STOP, or will be once its stop is over.
    pub(super) fn is_held(&self) -> bool {
        match self {
            Proc::Held | Proc::Starting { held: true, .. } => true,
            Proc::Stopping(stop) | Proc::Draining(stop) => matches!(stop.then, Then::Hold),
            Proc::Backoff { .. }
            | Proc::Starting { held: false, .. }
            | Proc::Running { .. }
            | Proc::Waiting { .. }
            | Proc::Exited { .. } => false,
        }
    }

    /// The pid of its live child, if it has one (running or stopping).
    pub(super) fn live_pid(&self) -> Option<Pid> {
        match self {
            Proc::Running { pid, .. } | Proc::Stopping(Stop { pid, .. }) => Some(*pid),
            Proc::Backoff { .. }
            | Proc::Starting { .. }
            | Proc::Draining(_)
            | Proc::Waiting { .. }
            | Proc::Held
            | Proc::Exited { .. } => None,
        }
    }

    /// The process group it waits for, if it is draining one.
    pub(super) fn draining_group(&self) -> Option<Pid> {
        match self {
            Proc::Draining(stop) => Some(stop.pid),
            Proc::Backoff { .. }
            | Proc::Starting { .. }
            | Proc::Running { .. }
            | Proc::Stopping(_)
            | Proc::Waiting { .. }
            | Proc::Held
            | Proc::Exited { .. } => None,
        }
    }

    /// Whether its child is being stopped, or is still to answer a spawn:
    /// what an ordered stop (a shutdown, a RESTART-ALL) waits out in a
    /// dependent before it stops the dependency.
    pub(super) fn is_busy(&self) -> bool {
        match self {
            Proc::Starting { .. } | Proc::Stopping(_) | Proc::Draining(_) => true,
            Proc::Backoff { .. }
            | Proc::Running { .. }
            | Proc::Waiting { .. }
            | Proc::Held
            | Proc::Exited { .. } => false,
        }
    }
}

/// Something that befalls one name. The API ([`super::Monitor`]) turns the
/// shell's inputs into these: it fans a RESTART-ALL or a RESTART-GROUP out
/// to one [`Event::Restart`] per name, finds the name of a pid, and tells of
/// a config only when what should run for the name changes.
#[derive(Clone, Debug)]
pub(super) enum Event {
    /// What should run is now this config (a new name, or a new content).
    Configured(Arc<ProcSpec>),
    /// Nothing should run any more: its config file is gone.
    Removed,
    /// Its config file is present but unusable: this problem. What is
    /// wanted does not change.
    Invalid(String),
    /// A RESTART for it (or a RESTART-ALL, a RESTART-GROUP).
    Restart,
    /// The shell spawned a child for it with this pid.
    Spawned(Pid),
    /// The shell could not spawn it: this error.
    SpawnFailed(String),
    /// A child indexed under this name was reaped.
    Exited {
        pid: Pid,
        status: Exit,
        /// Whether other members of its process group were still alive.
        group_alive: bool,
    },
    /// The process group it drains has no member left.
    GroupGone,
    /// Its deadline ([`Proc::deadline`]) has come.
    Timeout,
    /// The monitor begins to shut down (the first SIGTERM or SIGINT).
    Shutdown,
    /// A second SIGTERM or SIGINT while shutting down: kill what is left now.
    Kill,
    /// A STOP for it: stop it and keep it down.
    Hold,
    /// A START for it: release a hold and start it now.
    Release,
    /// A name in its `after` became ready or stopped being so (or was
    /// configured, removed, restarted): a waiting start checks again.
    Deps,
    /// Its live child `pid` said this of itself (never `Status`: the API
    /// keeps that text).
    Notice(Pid, Notice),
}

/// What a step needs to know about the world, and where its actions go.
pub(super) struct Ctx<'a> {
    pub(super) policy: &'a Policy,
    pub(super) now: Instant,
    pub(super) mode: Mode,
    pub(super) name: &'a Name,
    /// The name's last valid config, if any.
    pub(super) config: Option<&'a Arc<ProcSpec>>,
    /// The actions for the shell, in the order decided.
    pub(super) actions: &'a mut VecDeque<Action>,
    /// Set by the step when an essential process has exited for good: the
    /// monitor then stops the colony and exits with this status.
    pub(super) ended: Option<Exit>,
    /// Whether a name in an `after` is satisfied now (see [`satisfies`]).
    pub(super) gate: &'a dyn Fn(&Name) -> bool,
}

/// The table: `name`'s next state, given its state and what befell it.
pub(super) fn step(proc: Option<Proc>, event: Event, ctx: &mut Ctx<'_>) -> Option<Proc> {
    use Event as E;
    use Proc as P;
    let min = ctx.policy.min_restart_delay;
    match (proc, event) {
        // No process: a config starts one; a STOP holds the name (also one
        // whose config has yet to be read: a hold restored at start-up); a
        // START of a configured name starts it.
        (None, E::Configured(spec)) => Some(ctx.start(spec, min)),
        (None, E::Invalid(problem)) => ctx.invalid(&problem, false, None),
        (None, E::Spawned(pid)) => ctx.unexpected_spawn(pid, None),
        (None, E::SpawnFailed(error)) => ctx.cannot_start(&error, None),
        (None, E::Hold) => ctx.held(),
        (None, E::Release) => ctx.wanted().cloned().map(|spec| ctx.start(spec, min)),
        (
            None,
            E::Removed
            | E::Restart
            | E::Exited { .. }
            | E::GroupGone
            | E::Timeout
            | E::Shutdown
            | E::Kill
            | E::Deps
            | E::Notice(..),
        ) => None,

        // Backoff: a new config or a restart starts it now (a restart keeps
        // the delay); a removal or a shutdown forgets it; a STOP holds it.
        (Some(P::Backoff { .. }), E::Configured(spec)) => Some(ctx.start(spec, min)),
        (Some(P::Backoff { .. }), E::Removed | E::Shutdown) => None,
        (Some(p @ P::Backoff { .. }), E::Invalid(problem)) => ctx.invalid(&problem, false, Some(p)),
        (Some(P::Backoff { spec, delay, .. }), E::Restart | E::Timeout | E::Release) => {
            Some(ctx.start(spec, delay))
        }
        (Some(P::Backoff { .. }), E::Hold) => ctx.held(),
        (Some(p @ P::Backoff { .. }), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(p)),
        (Some(p @ P::Backoff { .. }), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(p)),
        (
            Some(p @ P::Backoff { .. }),
            E::Exited { .. } | E::GroupGone | E::Kill | E::Deps | E::Notice(..),
        ) => Some(p),

        // Starting: everything waits for the shell's answer, which is
        // checked against what is wanted by then; a STOP or a START only
        // marks what the answer leads to.
        (Some(P::Starting { spec, delay, held }), E::Spawned(pid)) => {
            Some(ctx.spawned(pid, &spec, delay, held))
        }
        (Some(P::Starting { delay, held, .. }), E::SpawnFailed(error)) => {
            ctx.spawn_failed(&error, delay, held)
        }
        (Some(p @ P::Starting { .. }), E::Invalid(problem)) => ctx.invalid(&problem, true, Some(p)),
        (Some(P::Starting { spec, delay, .. }), E::Hold) => Some(P::Starting {
            spec,
            delay,
            held: true,
        }),
        (Some(P::Starting { spec, delay, .. }), E::Release) => Some(P::Starting {
            spec,
            delay,
            held: false,
        }),
        (
            Some(p @ P::Starting { .. }),
            E::Configured(_)
            | E::Removed
            | E::Restart
            | E::Exited { .. }
            | E::GroupGone
            | E::Timeout
            | E::Shutdown
            | E::Kill
            | E::Deps
            | E::Notice(..),
        ) => Some(p),

        // Running: a new config, a removal, a restart, a STOP or a shutdown
        // stops it, each with what follows; an exit is the restart policy's.
        // Its deadline is its ready timeout, or once ready its watchdog's:
        // past it, it is stopped as failed. What it says moves its readiness.
        (
            Some(P::Running {
                pid,
                delay,
                spec: old,
                ..
            }),
            E::Configured(spec),
        ) => {
            tracing::info!(name = %ctx.name, "config changed; restarting");
            Some(ctx.stop(pid, &old, delay, Then::Start(spec)))
        }
        (
            Some(P::Running {
                pid, delay, spec, ..
            }),
            E::Removed,
        ) => {
            tracing::info!(name = %ctx.name, "config gone; stopping");
            Some(ctx.stop(pid, &spec, delay, Then::Remove))
        }
        (
            Some(P::Running {
                pid, delay, spec, ..
            }),
            E::Restart,
        ) => {
            tracing::info!(name = %ctx.name, "restarting on request");
            Some(ctx.stop(pid, &spec, delay, Then::Restart))
        }
        (
            Some(P::Running {
                pid, delay, spec, ..
            }),
            E::Hold,
        ) => {
            tracing::info!(name = %ctx.name, "STOP: stopping it and holding it down");
            Some(ctx.stop(pid, &spec, delay, Then::Hold))
        }
        (
            Some(P::Running {
                pid, delay, spec, ..
            }),
            E::Shutdown,
        ) => {
            tracing::info!(name = %ctx.name, "shutting down; stopping");
            Some(ctx.stop(pid, &spec, delay, Then::Remove))
        }
        (Some(p @ P::Running { .. }), E::Exited { pid, .. }) if p.live_pid() != Some(pid) => {
            // A stale pid for this name; the current child is untouched.
            Some(p)
        }
        (
            Some(P::Running {
                since, delay, spec, ..
            }),
            E::Exited {
                pid,
                status,
                group_alive,
            },
        ) => ctx.died(pid, status, group_alive, since, delay, &spec),
        (Some(p @ P::Running { .. }), E::Invalid(problem)) => ctx.invalid(&problem, true, Some(p)),
        (Some(p @ P::Running { .. }), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(p)),
        (Some(p @ P::Running { .. }), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(p)),
        (
            Some(P::Running {
                pid,
                since,
                delay,
                spec,
                health,
            }),
            E::Timeout,
        ) => Some(ctx.timed_out(pid, since, delay, spec, health)),
        (
            Some(P::Running {
                pid,
                since,
                delay,
                spec,
                health,
            }),
            E::Notice(from, notice),
        ) => Some(ctx.notice(pid, since, delay, spec, health, from, notice)),
        (Some(p @ P::Running { .. }), E::GroupGone | E::Kill | E::Release | E::Deps) => Some(p),

        // Stopping: a new config or a removal changes what follows (a held
        // one stays held with its new config); its exit (or its group's
        // end) is when it happens. A restart is one already, unless held;
        // a shutdown forgets it once it is gone.
        (Some(P::Stopping(stop)), E::Configured(spec)) => Some(P::Stopping(stop.configured(spec))),
        (Some(P::Stopping(stop)), E::Removed | E::Shutdown) => {
            Some(P::Stopping(stop.then(Then::Remove)))
        }
        (Some(P::Stopping(stop)), E::Timeout) => {
            tracing::warn!(name = %ctx.name, pid = stop.pid.0, "still running after killtime; killing");
            Some(P::Stopping(ctx.kill(stop)))
        }
        (Some(P::Stopping(stop)), E::Kill) => Some(P::Stopping(ctx.kill(stop))),
        (Some(P::Stopping(stop)), E::Exited { pid, .. }) if stop.pid != pid => {
            // A stale pid for this name; the current child is untouched.
            Some(P::Stopping(stop))
        }
        (
            Some(P::Stopping(stop)),
            E::Exited {
                status,
                group_alive,
                ..
            },
        ) => ctx.stopped(stop, status, group_alive),
        (Some(p @ P::Stopping(_)), E::Invalid(problem)) => ctx.invalid(&problem, true, Some(p)),
        (Some(p @ P::Stopping(_)), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(p)),
        (Some(p @ P::Stopping(_)), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(p)),
        (Some(P::Stopping(stop)), E::Restart) => Some(P::Stopping(ctx.restart_stopping(stop))),
        (Some(P::Stopping(stop)), E::Hold) => Some(P::Stopping(stop.then(Then::Hold))),
        (Some(P::Stopping(stop)), E::Release) => Some(P::Stopping(stop.released())),
        (Some(p @ P::Stopping(_)), E::GroupGone | E::Deps | E::Notice(..)) => Some(p),

        // Draining: nothing starts until the group is gone; inputs change
        // only what follows then. A restart waiting out a backoff starts
        // at once instead, as one in Backoff does.
        (Some(P::Draining(stop)), E::Configured(spec)) => Some(P::Draining(stop.configured(spec))),
        (Some(P::Draining(stop)), E::Removed | E::Shutdown) => {
            Some(P::Draining(stop.then(Then::Remove)))
        }
        (Some(P::Draining(stop)), E::Restart) => Some(P::Draining(ctx.restart_stopping(stop))),
        (Some(P::Draining(stop)), E::Hold) => Some(P::Draining(stop.then(Then::Hold))),
        (Some(P::Draining(stop)), E::Release) => Some(P::Draining(stop.released())),
        (Some(P::Draining(stop)), E::GroupGone) => {
            tracing::debug!(name = %ctx.name, pid = stop.pid.0, "process group gone");
            ctx.finish(stop.then, stop.delay)
        }
        (Some(P::Draining(stop)), E::Timeout) => {
            tracing::warn!(name = %ctx.name, pid = stop.pid.0, "process group still running after killtime; killing");
            Some(P::Draining(ctx.kill(stop)))
        }
        (Some(P::Draining(stop)), E::Kill) => Some(P::Draining(ctx.kill(stop))),
        (Some(p @ P::Draining(_)), E::Invalid(problem)) => ctx.invalid(&problem, false, Some(p)),
        (Some(p @ P::Draining(_)), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(p)),
        (Some(p @ P::Draining(_)), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(p)),
        (Some(p @ P::Draining(_)), E::Exited { .. } | E::Deps | E::Notice(..)) => Some(p),

        // Held: nothing starts it but a START; a new config is kept (in
        // what is wanted) for then; a removal or a shutdown forgets it.
        (Some(P::Held), E::Release) => {
            tracing::info!(name = %ctx.name, "START: released");
            ctx.wanted().cloned().map(|spec| ctx.start(spec, min))
        }
        (Some(P::Held), E::Restart) => {
            tracing::warn!(name = %ctx.name, "held by STOP; not restarting (send START to release it)");
            Some(P::Held)
        }
        (Some(P::Held), E::Configured(_)) => {
            tracing::info!(name = %ctx.name, "held by STOP; its new config starts on START");
            Some(P::Held)
        }
        (Some(P::Held), E::Removed | E::Shutdown) => None,
        (Some(P::Held), E::Invalid(problem)) => ctx.invalid(&problem, false, Some(P::Held)),
        (Some(P::Held), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(P::Held)),
        (Some(P::Held), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(P::Held)),
        (
            Some(P::Held),
            E::Hold
            | E::Exited { .. }
            | E::GroupGone
            | E::Timeout
            | E::Kill
            | E::Deps
            | E::Notice(..),
        ) => Some(P::Held),

        // Exited for good (its restart policy): a RESTART, a START or a new
        // config starts it again; a STOP holds it.
        (Some(P::Exited { .. }), E::Configured(spec)) => Some(ctx.start(spec, min)),
        (Some(P::Exited { delay, .. }), E::Restart | E::Release) => {
            ctx.wanted().cloned().map(|spec| ctx.start(spec, delay))
        }
        (Some(P::Exited { .. }), E::Hold) => ctx.held(),
        (Some(P::Exited { .. }), E::Removed | E::Shutdown) => None,
        (Some(p @ P::Exited { .. }), E::Invalid(problem)) => ctx.invalid(&problem, false, Some(p)),
        (Some(p @ P::Exited { .. }), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(p)),
        (Some(p @ P::Exited { .. }), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(p)),
        (
            Some(p @ P::Exited { .. }),
            E::Exited { .. } | E::GroupGone | E::Timeout | E::Kill | E::Deps | E::Notice(..),
        ) => Some(p),

        // Waiting for its `after`: every start is gated, so what would start
        // it (a new config, a restart, a START, a dependency's change)
        // checks its `after` again; a removal or a shutdown forgets it; a
        // STOP holds it.
        (Some(P::Waiting { .. }), E::Configured(spec)) => Some(ctx.start(spec, min)),
        (Some(P::Waiting { spec, delay, .. }), E::Restart | E::Release | E::Deps) => {
            Some(ctx.start(spec, delay))
        }
        (Some(P::Waiting { .. }), E::Removed | E::Shutdown) => None,
        (Some(P::Waiting { .. }), E::Hold) => ctx.held(),
        (Some(p @ P::Waiting { .. }), E::Invalid(problem)) => ctx.invalid(&problem, false, Some(p)),
        (Some(p @ P::Waiting { .. }), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(p)),
        (Some(p @ P::Waiting { .. }), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(p)),
        (
            Some(p @ P::Waiting { .. }),
            E::Exited { .. } | E::GroupGone | E::Timeout | E::Kill | E::Notice(..),
        ) => Some(p),
    }
}

impl Ctx<'_> {
    /// What should run for this name now (see [`wanted`]).
    fn wanted(&self) -> Option<&Arc<ProcSpec>> {
        wanted(self.mode, self.config)
    }

    /// Queues a spawn, once every name in its `after` is satisfied: until
    /// then it waits (every start is gated, a restart's too).
    fn start(&mut self, spec: Arc<ProcSpec>, delay: Duration) -> Proc {
        let on: Vec<Name> = spec
            .order
            .after
            .iter()
            .filter(|dep| !(self.gate)(dep))
            .cloned()
            .collect();
        if !on.is_empty() {
            return Proc::Waiting { spec, delay, on };
        }
        self.actions.push_back(Action::Spawn {
            name: self.name.clone(),
            spec: Arc::clone(&spec),
        });
        Proc::Starting {
            spec,
            delay,
            held: false,
        }
    }

    /// Held by a STOP; nothing is, once the monitor shuts down.
    fn held(&self) -> Option<Proc> {
        match self.mode {
            Mode::Running => {
                tracing::info!(name = %self.name, "STOP: held down until START");
                Some(Proc::Held)
            }
            Mode::ShuttingDown | Mode::Done => None,
        }
    }

    /// When SIGKILL follows the stop signal of a process running `spec`:
    /// its own `killtime`, or the monitor's.
    fn kill_at(&self, spec: &ProcSpec) -> Instant {
        self.now + spec.lifecycle.killtime.unwrap_or(self.policy.kill_time)
    }

    /// Queues the stop signal of `spec`, with SIGKILL due at its killtime.
    fn stop(&mut self, pid: Pid, spec: &ProcSpec, delay: Duration, then: Then) -> Proc {
        self.signal(pid, spec.lifecycle.stop_signal);
        Proc::Stopping(Stop {
            pid,
            kill_at: Some(self.kill_at(spec)),
            delay,
            then,
        })
    }

    /// A RESTART while a stop is under way: it is one already, unless a
    /// STOP holds the name; one waiting out a backoff, or one that exited
    /// for good, starts at once when it is over.
    fn restart_stopping(&self, stop: Stop) -> Stop {
        match stop.then {
            Then::Hold => {
                tracing::warn!(name = %self.name, "held by STOP; not restarting (send START to release it)");
                stop
            }
            Then::RestartAt(_) | Then::Exited { .. } | Then::Failed { .. } => {
                stop.then(Then::Restart)
            }
            Then::Restart | Then::Start(_) | Then::Remove => stop,
        }
    }

    /// Queues SIGKILL now; none is due any more.
    fn kill(&mut self, stop: Stop) -> Stop {
        self.signal(stop.pid, Sig::Kill);
        Stop {
            kill_at: None,
            ..stop
        }
    }

    fn signal(&mut self, pid: Pid, sig: Sig) {
        self.actions.push_back(Action::Signal {
            name: self.name.clone(),
            pid,
            sig,
        });
    }

    /// The shell's child for a spawn asked for: it runs if it is still what
    /// is wanted; otherwise it is stopped toward what is.
    /// A STOP that came meanwhile (`held`) stops it at once, held.
    fn spawned(&mut self, pid: Pid, spec: &Arc<ProcSpec>, delay: Duration, held: bool) -> Proc {
        let then = match self.wanted() {
            None => Then::Remove,
            Some(_) if held => Then::Hold,
            Some(want) if !Arc::ptr_eq(want, spec) && **want != **spec => {
                Then::Start(Arc::clone(want))
            }
            Some(_) => {
                return Proc::Running {
                    pid,
                    since: self.now,
                    delay,
                    spec: Arc::clone(spec),
                    health: Health::new(spec, self.now),
                };
            }
        };
        self.stop(pid, spec, delay, then)
    }

    /// A spawn asked for failed: an instant death, retried after its
    /// backoff if it is still wanted.
    /// (A failed start is not an exit: it is retried whatever the restart
    /// policy.) Held by a STOP that came meanwhile, it stays held.
    fn spawn_failed(&mut self, error: &str, delay: Duration, held: bool) -> Option<Proc> {
        let Some(spec) = self.wanted().map(Arc::clone) else {
            tracing::error!("{}: cannot start: {error}", self.name);
            return None;
        };
        if held {
            tracing::error!("{}: cannot start: {error}; held by STOP", self.name);
            return Some(Proc::Held);
        }
        let (wait, next) = after_exit(self.policy, Duration::ZERO, delay);
        tracing::error!(
            "{}: cannot start: {error}; retrying in {}s",
            self.name,
            wait.as_secs_f64()
        );
        Some(Proc::Backoff {
            spec,
            until: self.now + wait,
            delay: next,
        })
    }

    /// The shell started something the core did not ask for: never lose it;
    /// stop it and keep whatever state the name had.
    fn unexpected_spawn(&mut self, pid: Pid, keep: Option<Proc>) -> Option<Proc> {
        tracing::error!(name = %self.name, pid = pid.0, "unexpected spawn; stopping it");
        self.signal(pid, Sig::Term);
        keep
    }

    /// A failure to spawn what was not being spawned: logged, nothing else.
    fn cannot_start(&self, error: &str, keep: Option<Proc>) -> Option<Proc> {
        tracing::error!("{}: cannot start: {error}", self.name);
        keep
    }

    /// A config file that cannot be used changes nothing: a name with a
    /// valid config keeps it (and whatever its process is doing), as an
    /// editor's half-written save or a typo must not stop a healthy process;
    /// a name never seen valid does not run. The problem is logged here only.
    fn invalid(&self, problem: &str, running: bool, keep: Option<Proc>) -> Option<Proc> {
        let name = self.name;
        if self.config.is_none() {
            tracing::error!("config {name}: {problem}; not running it");
        } else if running {
            tracing::error!(
                "config {name}: {problem}; keeping the running process with its previous config"
            );
        } else {
            tracing::error!("config {name}: {problem}; keeping its previous config");
        }
        keep
    }

    /// A running child died: its restart policy decides whether it starts
    /// again, the backoff when. An essential one that is not restarted
    /// ends the colony (`ended`).
    fn died(
        &mut self,
        pid: Pid,
        status: Exit,
        group_alive: bool,
        since: Instant,
        delay: Duration,
        spec: &ProcSpec,
    ) -> Option<Proc> {
        let lived = self.now.saturating_duration_since(since);
        let (delay, then) = self.after_death(status, false, lived, delay, spec);
        if !group_alive {
            if spec.lifecycle.is_success(status) {
                tracing::info!(name = %self.name, pid = pid.0, "exited ({status})");
            } else {
                tracing::warn!(name = %self.name, pid = pid.0, "exited ({status})");
            }
            return self.finish(then, delay);
        }
        self.leaves_group(pid, status);
        self.signal(pid, spec.lifecycle.stop_signal);
        Some(Proc::Draining(Stop {
            pid,
            kill_at: Some(self.kill_at(spec)),
            delay,
            then,
        }))
    }

    /// What its restart policy makes of a death after `lived`: a restart
    /// (after the backoff's wait), or none (exited for good; an essential
    /// one ends the colony). `failed`: the monitor stopped it as failed, so
    /// it counts as a failure whatever its status.
    fn after_death(
        &mut self,
        status: Exit,
        failed: bool,
        lived: Duration,
        delay: Duration,
        spec: &ProcSpec,
    ) -> (Duration, Then) {
        let restarts = if failed {
            spec.lifecycle.restart != Restart::Never
        } else {
            spec.lifecycle.restarts(status)
        };
        match self.wanted() {
            Some(_) if restarts => {
                let (wait, next) = after_exit(self.policy, lived, delay);
                (next, Then::RestartAt(self.now + wait))
            }
            Some(_) => {
                tracing::info!(
                    name = %self.name,
                    "{status:#}; not restarted (\"restart\": \"{}\")",
                    spec.lifecycle.restart.as_str()
                );
                if spec.lifecycle.essential {
                    self.ended = Some(status);
                }
                let ok = !failed && spec.lifecycle.is_success(status);
                (delay, Then::Exited { ok })
            }
            None => (delay, Then::Remove),
        }
    }

    /// A running child's deadline came: it did not become ready within its
    /// `ready.timeout` (its start counts as failed, as an instant death),
    /// or, ready, it sent no `WATCHDOG=1` within its `watchdog` (a failure
    /// after the time it lived). Either way it is stopped, and its restart
    /// policy decides once it is gone.
    fn timed_out(
        &mut self,
        pid: Pid,
        since: Instant,
        delay: Duration,
        spec: Arc<ProcSpec>,
        health: Health,
    ) -> Proc {
        if health.deadline.is_none_or(|d| d > self.now) {
            return Proc::Running {
                pid,
                since,
                delay,
                spec,
                health,
            };
        }
        match self.mode {
            Mode::Running => {}
            // Still running in a shutdown, it waits its turn (its
            // dependents stop first): its stop comes then, not now.
            Mode::ShuttingDown | Mode::Done => {
                return Proc::Running {
                    pid,
                    since,
                    delay,
                    spec,
                    health: Health {
                        deadline: None,
                        ..health
                    },
                };
            }
        }
        let lived = if health.ready {
            let secs = spec.order.watchdog.map_or(0.0, |d| d.as_secs_f64());
            tracing::warn!(
                name = %self.name,
                pid = pid.0,
                "no WATCHDOG=1 for {secs}s (\"watchdog\"); stopping it"
            );
            self.now.saturating_duration_since(since)
        } else {
            let secs = spec
                .order
                .ready
                .as_ref()
                .map_or(0.0, |r| r.timeout.as_secs_f64());
            tracing::warn!(
                name = %self.name,
                pid = pid.0,
                "not ready within {secs}s (\"ready.timeout\"); stopping it, its start counts as failed"
            );
            Duration::ZERO
        };
        self.stop(pid, &spec, delay, Then::Failed { lived })
    }

    /// What its live child said: `READY=1` makes it ready (and arms its
    /// watchdog); `WATCHDOG=1`, once ready, pushes the watchdog's deadline;
    /// `RELOADING=1` makes it not ready until `READY=1` again, within its
    /// `ready.timeout`, as systemd does; `STOPPING=1` makes it not ready
    /// and turns its watchdog off (its exit follows), but a child not
    /// ready yet keeps its ready timeout: one that says it and hangs is
    /// still stopped, and its dependents do not wait forever. A notice for
    /// another pid is stale.
    #[allow(clippy::too_many_arguments)]
    fn notice(
        &mut self,
        pid: Pid,
        since: Instant,
        delay: Duration,
        spec: Arc<ProcSpec>,
        health: Health,
        from: Pid,
        notice: Notice,
    ) -> Proc {
        let now = self.now;
        let watchdog = spec.order.watchdog;
        let health = match notice {
            // Another pid's is stale; a process without `ready` is ready
            // as long as it runs, whatever it says.
            _ if from != pid || spec.order.ready.is_none() => health,
            Notice::Ready if !health.ready => {
                tracing::info!(name = %self.name, pid = pid.0, "ready");
                Health {
                    ready: true,
                    deadline: watchdog.map(|w| now + w),
                }
            }
            Notice::Watchdog if health.ready => Health {
                ready: true,
                deadline: watchdog.map(|w| now + w),
            },
            Notice::Reloading if health.ready => {
                tracing::info!(name = %self.name, pid = pid.0, "reloading (RELOADING=1); not ready until READY=1");
                Health {
                    ready: false,
                    deadline: spec.order.ready.as_ref().map(|r| now + r.timeout),
                }
            }
            Notice::Stopping if health.ready => {
                tracing::info!(name = %self.name, pid = pid.0, "stopping of its own accord (STOPPING=1)");
                Health {
                    ready: false,
                    deadline: None,
                }
            }
            Notice::Stopping if health.deadline.is_some() => {
                tracing::info!(
                    name = %self.name,
                    pid = pid.0,
                    "stopping of its own accord (STOPPING=1) before READY=1; its ready timeout still holds"
                );
                health
            }
            Notice::Ready
            | Notice::Watchdog
            | Notice::Reloading
            | Notice::Stopping
            | Notice::Status(_) => health,
        };
        Proc::Running {
            pid,
            since,
            delay,
            spec,
            health,
        }
    }

    /// A child the monitor stopped has exited. Its lifetime says nothing
    /// about crashing, so the delay is not touched; unless it was stopped
    /// as failed, when its restart policy decides now.
    fn stopped(&mut self, stop: Stop, status: Exit, group_alive: bool) -> Option<Proc> {
        let stop = match stop.then {
            Then::Failed { lived } => match self.wanted().cloned() {
                Some(spec) => {
                    let (delay, then) = self.after_death(status, true, lived, stop.delay, &spec);
                    Stop {
                        delay,
                        then,
                        ..stop
                    }
                }
                None => stop.then(Then::Remove),
            },
            Then::Restart
            | Then::RestartAt(_)
            | Then::Start(_)
            | Then::Remove
            | Then::Hold
            | Then::Exited { .. } => stop,
        };
        if !group_alive {
            tracing::info!(name = %self.name, pid = stop.pid.0, "stopped ({status})");
            return self.finish(stop.then, stop.delay);
        }
        self.leaves_group(stop.pid, status);
        // The group already had SIGTERM: the stop keeps its deadline (or
        // its SIGKILL, sent).
        Some(Proc::Draining(stop))
    }

    fn leaves_group(&self, pid: Pid, status: Exit) {
        tracing::info!(
            pid = pid.0,
            "{}: exited ({status}); stopping the rest of its process group",
            self.name
        );
    }

    /// Does what follows a process's exit once nothing of it is left:
    /// starts what is wanted (now or after its backoff), or forgets it.
    fn finish(&mut self, then: Then, delay: Duration) -> Option<Proc> {
        let now = self.now;
        let (spec, until, delay) = match (then, self.wanted()) {
            (Then::Remove, Some(_) | None)
            | (
                Then::Start(_)
                | Then::Restart
                | Then::RestartAt(_)
                | Then::Hold
                | Then::Exited { .. }
                | Then::Failed { .. },
                None,
            ) => return None,
            (Then::Hold, Some(_)) => return Some(Proc::Held),
            (Then::Exited { ok }, Some(_)) => return Some(Proc::Exited { delay, ok }),
            // Not reached: `stopped` decides a failed stop at the child's
            // exit, with its status; a restart with the backoff is the safe
            // reading.
            (Then::Failed { lived }, Some(spec)) => {
                let (wait, next) = after_exit(self.policy, lived, delay);
                (Arc::clone(spec), now + wait, next)
            }
            (Then::Start(spec), Some(_)) => (spec, now, self.policy.min_restart_delay),
            (Then::Restart, Some(spec)) => (Arc::clone(spec), now, delay),
            (Then::RestartAt(until), Some(spec)) => (Arc::clone(spec), until, delay),
        };
        if until <= now {
            return Some(self.start(spec, delay));
        }
        tracing::info!(
            name = %self.name,
            "died within the threshold; restarting in {}s",
            (until - now).as_secs_f64()
        );
        Some(Proc::Backoff { spec, until, delay })
    }
}
