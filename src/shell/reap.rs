//! The reaper: the only caller of `wait*()` in the monitor. It reaps our
//! children and every orphan the kernel hands us as subreaper or PID 1.

use ncolony_core::monitor::{self, Exit};
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Reaps every exited pid without blocking, calling `exited` for each.
pub(crate) fn reap_all(mut exited: impl FnMut(monitor::Pid, Exit)) -> nix::Result<()> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
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
