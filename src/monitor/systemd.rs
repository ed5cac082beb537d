//! The monitor under a service manager that gave it `NOTIFY_SOCKET`
//! (systemd's `Type=notify`): `READY=1` once every configured process is
//! ready for the first time, `STATUS=N running, M waiting` whenever that
//! changes, and `STOPPING=1` when the monitor shuts down.

use ncolony_core::monitor::view::{ProcView, State};

use crate::process::notify::SdNotify;

/// What the service manager has been told.
pub(crate) struct Systemd {
    sender: SdNotify,
    ready_sent: bool,
    stopping_sent: bool,
    status: Option<String>,
}

impl Systemd {
    /// From the monitor's own `NOTIFY_SOCKET`, if it has one.
    pub(crate) fn from_env() -> Option<Self> {
        let value = std::env::var("NOTIFY_SOCKET").ok()?;
        Some(Systemd {
            sender: SdNotify::new(&value)?,
            ready_sent: false,
            stopping_sent: false,
            status: None,
        })
    }

    /// Tells what changed in `view` (called after a change, at most once
    /// per loop wake-up).
    pub(crate) fn update(&mut self, view: &[ProcView]) {
        // Never READY=1 once stopping: the processes stopped since are
        // settled, not ready.
        if !self.ready_sent && !self.stopping_sent && view.iter().all(is_settled) {
            self.sender.send("READY=1");
            self.ready_sent = true;
        }
        let count = |state| view.iter().filter(|v| v.state == state).count();
        let status = format!(
            "STATUS={} running, {} waiting",
            count(State::Running),
            count(State::Waiting)
        );
        if self.status.as_ref() != Some(&status) {
            self.sender.send(&status);
            self.status = Some(status);
        }
    }

    /// The monitor begins to shut down (a signal, or an essential
    /// process's end); said once.
    pub(crate) fn stopping(&mut self) {
        if !self.stopping_sent {
            self.stopping_sent = true;
            self.sender.send("STOPPING=1");
        }
    }
}

/// Whether a process no longer holds the colony's readiness back: it is
/// ready, or it is not going to run (held, invalid, or exited for good, as
/// a finished one-shot task has).
fn is_settled(v: &ProcView) -> bool {
    v.ready || matches!(v.state, State::Held | State::Invalid | State::Exited)
}
