//! The reaper: the only caller of `wait*()` in the monitor. It reaps our
//! children and every orphan the kernel hands us as subreaper or PID 1.

use ncolony_core::monitor::{self, Exit};
use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Reaps every exited pid without blocking, calling `exited` for each.
/// Returns whether the monitor has no child left at all (`ECHILD`).
pub(crate) fn reap_all(mut exited: impl FnMut(monitor::Pid, Exit)) -> nix::Result<bool> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return Ok(false),
            Err(Errno::ECHILD) => return Ok(true),
            Ok(WaitStatus::Exited(pid, code)) => {
                exited(monitor::Pid(pid.as_raw()), Exit::Code(code))
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                exited(monitor::Pid(pid.as_raw()), Exit::Signal(sig as i32));
            }
            // Stops and continues are not exits; without WUNTRACED they do not come.
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
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
