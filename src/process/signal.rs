//! Signals to children, for the monitor and the scheduler alike: every
//! child runs in its own process group (see [`super::spawn`]), so a stop
//! signal goes to the whole group and leaves no grandchildren behind.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// A signal that could not be delivered (other than to a process or group
/// that is already gone, which is not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{call} {signal}: {errno}")]
pub(crate) struct SignalError {
    /// The call that failed: `killpg`, or `kill` for a child that left its group.
    pub(crate) call: &'static str,
    /// The signal.
    pub(crate) signal: Signal,
    /// Why it failed.
    pub(crate) errno: Errno,
}

/// Sends `signal` to the process group `pid` leads; to `pid` alone when the
/// group is empty because the child left it (`setsid`, `setpgid`). A group
/// and a process that are both gone are not an error: the child has exited.
pub(crate) fn signal_group(pid: i32, signal: Signal) -> Result<(), SignalError> {
    let target = Pid::from_raw(pid);
    match killpg(target, signal) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => signal_one(pid, signal),
        Err(errno) => Err(SignalError {
            call: "killpg",
            signal,
            errno,
        }),
    }
}

/// Sends `signal` to `pid` alone; a process already gone is not an error.
pub(crate) fn signal_one(pid: i32, signal: Signal) -> Result<(), SignalError> {
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(SignalError {
            call: "kill",
            signal,
            errno,
        }),
    }
}

/// Whether process group `pgid` has a member left (signal 0 to the group).
/// `EPERM` means a member exists that we may not signal (it changed its
/// uid): still alive. Any other error is taken as empty, so a draining
/// group can never be waited for forever because of it.
pub(crate) fn group_alive(pgid: i32) -> bool {
    match killpg(Pid::from_raw(pgid), None) {
        Ok(()) | Err(Errno::EPERM) => true,
        Err(Errno::ESRCH) => false,
        Err(e) => {
            tracing::error!(pgid, "checking process group {pgid}: {e}; taken as empty");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::procfs::{Stat, group_has_live_member};
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// Polls `done` for up to ten seconds.
    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn the_whole_group_is_signalled_and_a_gone_one_is_fine() {
        // A child in its own group, with a grandchild in the same group.
        let mut child = Command::new("/bin/sh")
            .args(["-c", "sleep 30 & echo $!; wait"])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let pid = i32::try_from(child.id()).expect("pid fits");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the grandchild's pid");
        let grandchild: i32 = line.trim().parse().expect("a pid");
        assert_eq!(Stat::of(grandchild).map(|s| s.pgrp), Some(pid));
        assert!(group_alive(pid));
        signal_group(pid, Signal::SIGKILL).expect("signalled");
        let status = child.wait().expect("reap the child");
        assert_eq!(status.signal(), Some(9));
        // The grandchild went too (someone else reaps it).
        wait_until("the grandchild to die", || !group_has_live_member(pid));
        // Group and process gone: not an error.
        assert_eq!(signal_group(pid, Signal::SIGTERM), Ok(()));
    }

    #[test]
    fn a_child_outside_its_group_is_signalled_alone() {
        // In our own process group: no group has its pid as id.
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = i32::try_from(child.id()).expect("pid fits");
        signal_group(pid, Signal::SIGKILL).expect("signalled");
        let mut status = None;
        wait_until("the child to die", || {
            status = child.try_wait().expect("try_wait");
            status.is_some()
        });
        assert_eq!(status.and_then(|s| s.signal()), Some(9));
    }
}
