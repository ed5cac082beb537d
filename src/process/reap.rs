//! The reaper: the only caller of `wait*()` in the monitor. It reaps our
//! children and every orphan the kernel hands us as subreaper or PID 1.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use ncolony_core::monitor::{self, Exit};
use nix::errno::Errno;
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

/// How a process that `std` waited for ended, in the core's terms (whose
/// `Display` says it in words); `None` for a status that is not an end (a
/// stop or continue, which only come when asked for).
pub(crate) fn exit_of(status: ExitStatus) -> Option<Exit> {
    match (status.code(), status.signal()) {
        (Some(code), _) => Some(Exit::Code(code)),
        (None, Some(sig)) => Some(Exit::Signal(sig)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_statuses_become_exits() {
        // Raw wait statuses: code 3 is 3 << 8; killed by signal 15 is 15.
        assert_eq!(exit_of(ExitStatus::from_raw(3 << 8)), Some(Exit::Code(3)));
        assert_eq!(exit_of(ExitStatus::from_raw(0)), Some(Exit::Code(0)));
        assert_eq!(exit_of(ExitStatus::from_raw(15)), Some(Exit::Signal(15)));
        // Stopped by SIGSTOP (0x7f marks a stop).
        assert_eq!(exit_of(ExitStatus::from_raw((19 << 8) | 0x7f)), None);
    }
}
