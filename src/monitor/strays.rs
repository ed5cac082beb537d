//! Processes the monitor must stop although the core does not supervise
//! them: the survivors of a previous monitor (found through the state
//! directory's children record) before anything starts, and at shutdown
//! every orphan it adopted (daemonized grandchildren, `setsid` escapees).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::state::Recorded;
use crate::process::procfs::{
    Stat, environ_has, group_has_live_member, live_children_of, live_where,
};
use crate::process::reap::reap_all;
use crate::process::signal;

/// How often the stopping loops look again.
const POLL: Duration = Duration::from_millis(10);

/// How long to wait for processes to go after SIGKILL before giving up on
/// them (one stuck in uninterruptible sleep cannot be waited for forever).
const AFTER_KILL: Duration = Duration::from_secs(5);

/// Stops the process group of every recorded child of a previous monitor
/// that is still running (see [`left_running`]): SIGTERM, SIGKILL after
/// `kill_time`, and waits (bounded) until they are gone, so nothing runs
/// twice.
pub(crate) async fn stop_survivors(previous: Vec<Recorded>, kill_time: Duration) {
    let me = std::process::id() as i32;
    let mut survivors = Vec::new();
    for child in previous {
        if child.pid <= 1 || child.pid == me {
            continue;
        }
        let left = left_running(&child);
        if left.is_empty() {
            continue;
        }
        for pid in left {
            tracing::info!(
                "stopping {} pid={pid} left running by a previous monitor",
                child.name
            );
        }
        signal_group(child.pid, Signal::SIGTERM);
        survivors.push(child);
    }
    if survivors.is_empty() {
        return;
    }
    let is_gone = |c: &Recorded| !c.is_running() && !group_has_live_member(c.pid);
    let kill_at = Instant::now() + kill_time;
    let mut killed = false;
    loop {
        // As PID 1 the survivors' orphans come to us; reap them.
        if let Err(e) = reap_all(|_, _| {}) {
            tracing::error!("waitpid: {e}");
        }
        let left: Vec<&Recorded> = survivors.iter().filter(|c| !is_gone(c)).collect();
        if left.is_empty() {
            return;
        }
        let now = Instant::now();
        if !killed && now >= kill_at {
            for child in &left {
                tracing::warn!(
                    "{} pid={} (left by a previous monitor) still running after killtime; killing",
                    child.name,
                    child.pid
                );
                signal_group(child.pid, Signal::SIGKILL);
            }
            killed = true;
        } else if killed && now >= kill_at + AFTER_KILL {
            for child in left {
                tracing::error!(
                    "{} pid={} (left by a previous monitor) did not die of SIGKILL; starting anyway",
                    child.name,
                    child.pid
                );
            }
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What still runs of a previous monitor's child: the child itself if its
/// pid is still the same process (same start time); else, when it has
/// exited, the members of its process group that it left behind (its
/// grandchildren, which the parent-death signal does not reach). A group
/// member counts only if it started after the child and has the child's
/// `NCOLONY_NAME` in its environment, so a group that reuses the id is
/// never taken for it.
fn left_running(child: &Recorded) -> Vec<i32> {
    match Stat::of(child.pid) {
        // The pid now belongs to another process: so does the group.
        Some(stat) if stat.start_time != child.start_time => Vec::new(),
        Some(stat) if !stat.is_zombie() => vec![child.pid],
        _ => {
            let var = format!("NCOLONY_NAME={}", child.name);
            live_where(|s| s.pgrp == child.pid && s.start_time >= child.start_time)
                .into_iter()
                .filter(|&pid| environ_has(pid, &var))
                .collect()
        }
    }
}

/// At shutdown, once every supervised child is gone: stops every process
/// still parented to the monitor (adopted orphans: daemonized grandchildren,
/// `setsid` escapees, and their children as they are re-parented in turn),
/// SIGTERM then SIGKILL after `kill_time`, reaping as they go. Returns
/// whether `waitpid` said no child is left.
pub(crate) async fn stop_orphans(kill_time: Duration) -> bool {
    let me = std::process::id() as i32;
    let kill_at = Instant::now() + kill_time;
    let mut termed: HashSet<i32> = HashSet::new();
    let mut killed: HashSet<i32> = HashSet::new();
    loop {
        let reaped = reap_all(|pid, status| {
            tracing::info!(pid = pid.0, %status, "reaped an adopted orphan");
        });
        match reaped {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => {
                tracing::error!("waitpid: {e}; not waiting for adopted orphans");
                return false;
            }
        }
        let now = Instant::now();
        if now >= kill_at + AFTER_KILL {
            let left = live_children_of(me);
            tracing::error!(
                "{} adopted orphan(s) did not die of SIGKILL ({left:?}); exiting anyway",
                left.len()
            );
            return false;
        }
        for pid in live_children_of(me) {
            if now >= kill_at {
                if killed.insert(pid) {
                    tracing::warn!(pid, "adopted orphan still running after killtime; killing");
                    signal_one(pid, Signal::SIGKILL);
                }
            } else if termed.insert(pid) {
                tracing::info!(pid, comm = %comm(pid), "stopping an adopted orphan");
                signal_one(pid, Signal::SIGTERM);
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The command name of `pid`, for the log.
fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}

/// `sig` to the process group `pid` leads, or to `pid` alone if it left it.
fn signal_group(pid: i32, sig: Signal) {
    if let Err(e) = signal::signal_group(pid, sig) {
        tracing::error!(pid, "{e}");
    }
}

/// `sig` to `pid` alone.
fn signal_one(pid: i32, sig: Signal) {
    if let Err(e) = signal::signal_one(pid, sig) {
        tracing::error!(pid, "{e}");
    }
}
