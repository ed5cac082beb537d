//! Running one copy of the job: its own process group, its output relayed
//! line by line to stderr as `[job] line` (through the non-blocking output
//! queue, like the scheduler's logs), and its exit reported by a waiter
//! thread. The scheduler is not a subreaper, so waiting on its one child
//! from a thread is safe here (unlike in the monitor).

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc::Sender;
use std::thread;

use nix::sys::signal::Signal;

use super::Event;
use crate::process::output::relay_blocking;
use crate::process::signal::signal_group;
use crate::process::spawn::clean_signals;

/// Starts `args` in a new process group, with stdout and stderr on one pipe
/// relayed to our stderr; its exit is sent to `events`. Returns its pid.
pub(super) fn spawn(args: &[String], events: Sender<Event>) -> std::io::Result<i32> {
    let (program, rest) = args
        .split_first()
        .ok_or_else(|| std::io::Error::other("no command to run"))?;
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    // The job starts with a clean signal state: our threads block SIGTERM
    // and SIGINT (a signal thread waits for them), and neither that mask nor
    // a signal we inherited ignored may reach the job, or it could ignore
    // our SIGTERM.
    // SAFETY: `clean_signals` is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(clean_signals);
    }
    let mut child = cmd.spawn()?;
    // Close our copies of the write end, so the relay sees EOF.
    drop(cmd);
    let pid = i32::try_from(child.id()).map_err(std::io::Error::other)?;
    thread::Builder::new()
        .name("job output".into())
        .spawn(move || relay_blocking("job", reader))?;
    thread::Builder::new()
        .name("job waiter".into())
        .spawn(move || {
            let status = child.wait();
            // The receiver only goes away when the program exits.
            let _ignored = events.send(Event::Exited { pid, status });
        })?;
    Ok(pid)
}

/// Sends `sig` to the job's process group (to the job alone if it left
/// it); a job already gone is fine.
pub(super) fn signal(pid: i32, sig: Signal) {
    if let Err(e) = signal_group(pid, sig) {
        tracing::error!(
            pid,
            "cannot send {sig} to the job's process group: {}",
            e.errno
        );
    }
}
