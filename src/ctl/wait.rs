//! `ncolony ctl wait`: until the named processes (every configured one by
//! default) are ready, reading the status snapshot the monitor publishes
//! (never talking to the monitor), polled every [`POLL`].

use std::path::Path;
use std::time::{Duration, Instant};

use super::{CtlError, Places, colony_status};

/// How often the snapshot is read again (the monitor rewrites it at most
/// every 100 ms too).
pub const POLL: Duration = Duration::from_millis(100);

/// What [`wait`] found at its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waited {
    /// Whether a monitor was running at the last look.
    pub monitor_running: bool,
    /// The processes not ready at the last look, each with its state
    /// (`waiting`, `starting`, ..., or `not configured`); empty when every
    /// one is ready.
    pub not_ready: Vec<(String, String)>,
}

impl Waited {
    /// Whether every process waited for is ready.
    pub fn is_ready(&self) -> bool {
        self.monitor_running && self.not_ready.is_empty()
    }
}

/// Waits until each of `names` (every configured process when empty) is
/// ready, or `timeout` has passed (`None`: no limit; zero: one look). With
/// no monitor running nothing is ready. Returns what the last look found.
pub fn wait(
    places: &Places,
    state: Option<&Path>,
    names: &[String],
    timeout: Option<Duration>,
) -> Result<Waited, CtlError> {
    // A timeout past what the clock can hold is no limit.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let found = look(places, state, names)?;
        if found.is_ready() {
            return Ok(found);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(found);
        }
        let pause = deadline.map_or(POLL, |d| POLL.min(d - now));
        std::thread::sleep(pause);
    }
}

/// One look at the snapshot.
fn look(places: &Places, state: Option<&Path>, names: &[String]) -> Result<Waited, CtlError> {
    let colony = colony_status(places, state)?;
    let mut not_ready = Vec::new();
    if names.is_empty() {
        for p in &colony.processes {
            if !(colony.monitor.running && p.ready) {
                not_ready.push((p.name.clone(), p.state.clone()));
            }
        }
    } else {
        for name in names {
            match colony.processes.iter().find(|p| &p.name == name) {
                Some(p) if colony.monitor.running && p.ready => {}
                Some(p) => not_ready.push((p.name.clone(), p.state.clone())),
                None => not_ready.push((name.clone(), "not configured".to_owned())),
            }
        }
    }
    Ok(Waited {
        monitor_running: colony.monitor.running,
        not_ready,
    })
}
