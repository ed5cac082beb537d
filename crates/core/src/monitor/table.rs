//! The restart policy as one table. [`step`] decides, for each state a name
//! can be in ([`Proc`], or none) and each [`Event`] that can befall it, the
//! next state and the actions, in one `match` with no catch-all arm: a new
//! state or event does not compile until every pair is decided, as in
//! s6-supervise's `actions[state][event]`. The cells that take more than a
//! line are the methods of [`Ctx`], which also queues the actions.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Action, Exit, Pid, Policy, Sig};
use crate::spec::{Name, ProcSpec};

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
    },
    /// Alive since `since`.
    Running {
        pid: Pid,
        since: Instant,
        delay: Duration,
    },
    /// Sent SIGTERM; SIGKILL follows unless it exits first.
    Stopping(Stop),
    /// Exited, but other members of its process group (whose id is the
    /// stop's `pid`) were still alive: daemonized grandchildren. The group
    /// has been sent SIGTERM; SIGKILL follows. Nothing is started for this
    /// name until [`Event::GroupGone`], so leftovers never overlap a new
    /// process (a port still held).
    Draining(Stop),
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
}

impl Proc {
    /// The state's deadline, if it has one: when [`Event::Timeout`] is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Proc::Backoff { until, .. } => Some(*until),
            Proc::Stopping(stop) | Proc::Draining(stop) => stop.kill_at,
            Proc::Starting { .. } | Proc::Running { .. } => None,
        }
    }

    /// The pid of its live child, if it has one (running or stopping).
    pub(super) fn live_pid(&self) -> Option<Pid> {
        match self {
            Proc::Running { pid, .. } | Proc::Stopping(Stop { pid, .. }) => Some(*pid),
            Proc::Backoff { .. } | Proc::Starting { .. } | Proc::Draining(_) => None,
        }
    }

    /// The process group it waits for, if it is draining one.
    pub(super) fn draining_group(&self) -> Option<Pid> {
        match self {
            Proc::Draining(stop) => Some(stop.pid),
            Proc::Backoff { .. }
            | Proc::Starting { .. }
            | Proc::Running { .. }
            | Proc::Stopping(_) => None,
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
}

/// The table: `name`'s next state, given its state and what befell it.
pub(super) fn step(proc: Option<Proc>, event: Event, ctx: &mut Ctx<'_>) -> Option<Proc> {
    use Event as E;
    use Proc as P;
    let min = ctx.policy.min_restart_delay;
    match (proc, event) {
        // No process: a config starts one; nothing else has anything to act on.
        (None, E::Configured(spec)) => Some(ctx.start(spec, min)),
        (None, E::Invalid(problem)) => ctx.invalid(&problem, false, None),
        (None, E::Spawned(pid)) => ctx.unexpected_spawn(pid, None),
        (None, E::SpawnFailed(error)) => ctx.cannot_start(&error, None),
        (
            None,
            E::Removed
            | E::Restart
            | E::Exited { .. }
            | E::GroupGone
            | E::Timeout
            | E::Shutdown
            | E::Kill,
        ) => None,

        // Backoff: a new config or a restart starts it now (a restart keeps
        // the delay); a removal or a shutdown forgets it.
        (Some(P::Backoff { .. }), E::Configured(spec)) => Some(ctx.start(spec, min)),
        (Some(P::Backoff { .. }), E::Removed | E::Shutdown) => None,
        (Some(p @ P::Backoff { .. }), E::Invalid(problem)) => ctx.invalid(&problem, false, Some(p)),
        (Some(P::Backoff { spec, delay, .. }), E::Restart | E::Timeout) => {
            Some(ctx.start(spec, delay))
        }
        (Some(p @ P::Backoff { .. }), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(p)),
        (Some(p @ P::Backoff { .. }), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(p)),
        (Some(p @ P::Backoff { .. }), E::Exited { .. } | E::GroupGone | E::Kill) => Some(p),

        // Starting: everything waits for the shell's answer, which is
        // checked against what is wanted by then.
        (Some(P::Starting { spec, delay }), E::Spawned(pid)) => {
            Some(ctx.spawned(pid, &spec, delay))
        }
        (Some(P::Starting { delay, .. }), E::SpawnFailed(error)) => ctx.spawn_failed(&error, delay),
        (Some(p @ P::Starting { .. }), E::Invalid(problem)) => ctx.invalid(&problem, true, Some(p)),
        (
            Some(p @ P::Starting { .. }),
            E::Configured(_)
            | E::Removed
            | E::Restart
            | E::Exited { .. }
            | E::GroupGone
            | E::Timeout
            | E::Shutdown
            | E::Kill,
        ) => Some(p),

        // Running: a new config, a removal, a restart or a shutdown stops
        // it, each with what follows; an exit is the restart policy's.
        (Some(P::Running { pid, delay, .. }), E::Configured(spec)) => {
            tracing::info!(name = %ctx.name, "config changed; restarting");
            Some(ctx.stop(pid, delay, Then::Start(spec)))
        }
        (Some(P::Running { pid, delay, .. }), E::Removed) => {
            tracing::info!(name = %ctx.name, "config gone; stopping");
            Some(ctx.stop(pid, delay, Then::Remove))
        }
        (Some(P::Running { pid, delay, .. }), E::Restart) => {
            tracing::info!(name = %ctx.name, "restarting on request");
            Some(ctx.stop(pid, delay, Then::Restart))
        }
        (Some(P::Running { pid, delay, .. }), E::Shutdown) => {
            tracing::info!(name = %ctx.name, "shutting down; stopping");
            Some(ctx.stop(pid, delay, Then::Remove))
        }
        (Some(p @ P::Running { .. }), E::Exited { pid, .. }) if p.live_pid() != Some(pid) => {
            // A stale pid for this name; the current child is untouched.
            Some(p)
        }
        (
            Some(P::Running { since, delay, .. }),
            E::Exited {
                pid,
                status,
                group_alive,
            },
        ) => ctx.died(pid, status, group_alive, since, delay),
        (Some(p @ P::Running { .. }), E::Invalid(problem)) => ctx.invalid(&problem, true, Some(p)),
        (Some(p @ P::Running { .. }), E::Spawned(pid)) => ctx.unexpected_spawn(pid, Some(p)),
        (Some(p @ P::Running { .. }), E::SpawnFailed(error)) => ctx.cannot_start(&error, Some(p)),
        (Some(p @ P::Running { .. }), E::GroupGone | E::Timeout | E::Kill) => Some(p),

        // Stopping: a new config or a removal changes what follows; its
        // exit (or its group's end) is when it happens. A restart is one
        // already; a shutdown forgets it once it is gone.
        (Some(P::Stopping(stop)), E::Configured(spec)) => {
            Some(P::Stopping(stop.then(Then::Start(spec))))
        }
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
        (Some(p @ P::Stopping(_)), E::Restart | E::GroupGone) => Some(p),

        // Draining: nothing starts until the group is gone; inputs change
        // only what follows then. A restart waiting out a backoff starts
        // at once instead, as one in Backoff does.
        (Some(P::Draining(stop)), E::Configured(spec)) => {
            Some(P::Draining(stop.then(Then::Start(spec))))
        }
        (Some(P::Draining(stop)), E::Removed | E::Shutdown) => {
            Some(P::Draining(stop.then(Then::Remove)))
        }
        (Some(P::Draining(stop)), E::Restart) => match stop.then {
            Then::RestartAt(_) => Some(P::Draining(stop.then(Then::Restart))),
            Then::Restart | Then::Start(_) | Then::Remove => Some(P::Draining(stop)),
        },
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
        (Some(p @ P::Draining(_)), E::Exited { .. }) => Some(p),
    }
}

impl Ctx<'_> {
    /// What should run for this name now (see [`wanted`]).
    fn wanted(&self) -> Option<&Arc<ProcSpec>> {
        wanted(self.mode, self.config)
    }

    /// Queues a spawn.
    fn start(&mut self, spec: Arc<ProcSpec>, delay: Duration) -> Proc {
        self.actions.push_back(Action::Spawn {
            name: self.name.clone(),
            spec: Arc::clone(&spec),
        });
        Proc::Starting { spec, delay }
    }

    /// Queues SIGTERM, with SIGKILL due at killtime.
    fn stop(&mut self, pid: Pid, delay: Duration, then: Then) -> Proc {
        self.signal(pid, Sig::Term);
        Proc::Stopping(Stop {
            pid,
            kill_at: Some(self.now + self.policy.kill_time),
            delay,
            then,
        })
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
    fn spawned(&mut self, pid: Pid, spec: &Arc<ProcSpec>, delay: Duration) -> Proc {
        let then = match self.wanted() {
            None => Then::Remove,
            Some(want) if !Arc::ptr_eq(want, spec) && **want != **spec => {
                Then::Start(Arc::clone(want))
            }
            Some(_) => {
                return Proc::Running {
                    pid,
                    since: self.now,
                    delay,
                };
            }
        };
        self.stop(pid, delay, then)
    }

    /// A spawn asked for failed: an instant death, retried after its
    /// backoff if it is still wanted.
    fn spawn_failed(&mut self, error: &str, delay: Duration) -> Option<Proc> {
        let Some(spec) = self.wanted().map(Arc::clone) else {
            tracing::error!("{}: cannot start: {error}", self.name);
            return None;
        };
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

    /// A running child died: the restart policy decides when it starts again.
    fn died(
        &mut self,
        pid: Pid,
        status: Exit,
        group_alive: bool,
        since: Instant,
        delay: Duration,
    ) -> Option<Proc> {
        let (delay, then) = match self.wanted() {
            Some(_) => {
                let lived = self.now.saturating_duration_since(since);
                let (wait, next) = after_exit(self.policy, lived, delay);
                (next, Then::RestartAt(self.now + wait))
            }
            None => (delay, Then::Remove),
        };
        if !group_alive {
            tracing::warn!(name = %self.name, pid = pid.0, "exited ({status})");
            return self.finish(then, delay);
        }
        self.leaves_group(pid, status);
        self.signal(pid, Sig::Term);
        Some(Proc::Draining(Stop {
            pid,
            kill_at: Some(self.now + self.policy.kill_time),
            delay,
            then,
        }))
    }

    /// A child the monitor stopped has exited. Its lifetime says nothing
    /// about crashing, so the delay is not touched.
    fn stopped(&mut self, stop: Stop, status: Exit, group_alive: bool) -> Option<Proc> {
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
            | (Then::Start(_) | Then::Restart | Then::RestartAt(_), None) => return None,
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
