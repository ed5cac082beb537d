//! Running one copy of the job: its own process group, its output relayed
//! line by line to stderr as `[job] line` (through the non-blocking output
//! queue, like the scheduler's logs), and its exit reported by a waiter
//! thread. The scheduler is not a subreaper, so waiting on its one child
//! from a thread is safe here (unlike in the monitor).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::thread;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::Event;
use crate::logging;
use crate::process::spawn::clean_signals;

/// Longest output line kept before it is written out in pieces.
const MAX_LINE: usize = 64 * 1024;

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
        .spawn(move || relay(reader))?;
    thread::Builder::new()
        .name("job waiter".into())
        .spawn(move || {
            let status = child.wait();
            // The receiver only goes away when the program exits.
            let _ignored = events.send(Event::Exited { pid, status });
        })?;
    Ok(pid)
}

/// Copies the job's output to stderr as `[job] line`, bytes undecoded,
/// until every writer (the job and anything it left behind) has closed it.
fn relay(reader: std::io::PipeReader) {
    let mut reader = BufReader::with_capacity(MAX_LINE, reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line);
        match read {
            Ok(0) => return,
            Ok(_) => {
                if line.last() != Some(&b'\n') {
                    line.push(b'\n');
                }
                let mut out = Vec::with_capacity(line.len() + 6);
                out.extend_from_slice(b"[job] ");
                out.extend_from_slice(&line);
                logging::write_child_blocking(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!("reading the job's output: {e}");
                return;
            }
        }
    }
}

/// Sends `sig` to the job's process group; a group already gone is fine.
pub(super) fn signal(pid: i32, sig: Signal) {
    match killpg(Pid::from_raw(pid), sig) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => tracing::error!(pid, "cannot send {sig} to the job's process group: {e}"),
    }
}

/// A job's exit status in words, and whether it was a success.
pub(super) fn describe(status: &ExitStatus) -> (String, bool) {
    if let Some(code) = status.code() {
        (format!("exited with code {code}"), code == 0)
    } else if let Some(sig) = status.signal() {
        let name =
            Signal::try_from(sig).map_or_else(|_| format!("signal {sig}"), |s| s.to_string());
        (format!("killed by {name}"), false)
    } else {
        (format!("ended: {status}"), false)
    }
}
