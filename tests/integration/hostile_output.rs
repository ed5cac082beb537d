//! A stderr that is never read, or whose reader has gone, must neither
//! freeze nor kill the monitor or a side program.

use std::io::{PipeReader, Read};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

/// A process whose stderr is the write end of a pipe the test holds:
/// stopped (SIGTERM, then SIGKILL) on drop, with the pids it recorded.
struct Held {
    child: Child,
    /// Files of pids (one a line) to SIGKILL on drop.
    pid_files: Vec<std::path::PathBuf>,
}

impl Held {
    /// Spawns `cmd` with stderr on a new pipe; returns its read end.
    fn spawn(mut cmd: Command) -> (Held, PipeReader) {
        let (reader, writer) = std::io::pipe().expect("pipe");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(writer);
        let child = cmd.spawn().expect("spawn ncolony");
        // `cmd` held a copy of the write end: only the process keeps it now.
        drop(cmd);
        let held = Held {
            child,
            pid_files: Vec::new(),
        };
        (held, reader)
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    /// Waits for the process to exit; its exit code (None: a signal).
    fn wait_exit(&mut self, timeout: Duration) -> Option<Option<i32>> {
        wait_for(timeout, || match self.child.try_wait() {
            Ok(Some(status)) => Some(status.code()),
            _ => None,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill(self.pid(), 15);
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for file in &self.pid_files {
            let pids = std::fs::read_to_string(file).unwrap_or_default();
            for pid in pids.lines().filter_map(|l| l.trim().parse().ok()) {
                kill(pid, 9);
            }
        }
    }
}

/// A monitor on `c` with stderr on a pipe, restarting at once any child
/// that lived 0.1 s.
fn monitor(c: &Colony) -> (Held, PipeReader) {
    let cmd = c.monitor_command(&["--frequency", "600", "--threshold", "0.1"]);
    let (mut held, reader) = Held::spawn(cmd);
    for name in ["chatty", "crasher", "late"] {
        held.pid_files.push(c.work.join(format!("{name}.pids")));
    }
    (held, reader)
}

/// Configures a child that writes about a megabyte a second (enough to fill
/// a pipe at once) and ends when its output is gone.
fn add_chatty(c: &Colony) {
    let pids = c.work.join("chatty.pids");
    c.add_sh(
        "chatty",
        &format!(
            "echo $$ >> {}; while seq -f 'chatter %g of a chatty child' 2000; do sleep 0.05; done",
            pids.display()
        ),
    );
}

/// Configures a child that records its pid, lives 0.2 s and fails: the
/// monitor restarts it at once, so its starts count the loop's turns.
fn add_crasher(c: &Colony) {
    let pids = c.work.join("crasher.pids");
    c.add_sh(
        "crasher",
        &format!(
            "echo $$ >> {}; echo dying; sleep 0.2; exit 1",
            pids.display()
        ),
    );
}

/// Bytes waiting in a pipe (FIONREAD).
fn pending(reader: &PipeReader) -> i32 {
    unsafe extern "C" {
        fn ioctl(fd: i32, request: u64, ...) -> i32;
    }
    const FIONREAD: u64 = 0x541B;
    let mut n: i32 = 0;
    // SAFETY: FIONREAD writes one int to the pointer, which is valid.
    let rc = unsafe { ioctl(reader.as_raw_fd(), FIONREAD, &mut n as *mut i32) };
    assert_eq!(rc, 0, "ioctl FIONREAD");
    n
}

/// Reads `reader` on a thread until `needle` has been read; the text read
/// and the reader back, or None if that takes longer than `timeout`.
fn read_until(
    mut reader: PipeReader,
    needle: &'static str,
    timeout: Duration,
) -> Option<(String, PipeReader)> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&text).contains(needle) {
                let text = String::from_utf8_lossy(&text).into_owned();
                let _ = tx.send((text, reader));
                return;
            }
        }
    });
    rx.recv_timeout(timeout).ok()
}

const DROPPED: &str = " output lines dropped (stderr was not being read)\n";

#[test]
fn a_monitor_whose_stderr_is_not_read_keeps_supervising() {
    let c = Colony::new();
    add_chatty(&c);
    add_crasher(&c);
    let (mut m, reader) = monitor(&c);
    // The chatty child fills the pipe at once; the loop must not wait for it.
    assert!(
        wait_until(SOON, || pending(&reader) >= 32 * 1024),
        "the pipe never filled"
    );
    let starts = c.recorded_pids("crasher").len();
    assert!(
        wait_until(SOON, || c.recorded_pids("crasher").len() >= starts + 10),
        "the crashing child stopped being restarted: {:?}",
        c.recorded_pids("crasher")
    );
    c.add_sh("late", &c.pid_recorder("late"));
    let late = c.wait_pids("late", 1);
    assert!(is_alive(late));

    // Once the pipe is read again, the monitor says what it dropped.
    let (text, reader) = read_until(reader, DROPPED, SOON).expect("no `output lines dropped` line");
    let line = text
        .lines()
        .find(|l| l.ends_with(DROPPED.trim_end()))
        .expect("the notice is a line of its own");
    let count = line.split(' ').next().expect("a count");
    assert!(
        count.parse::<u64>().is_ok_and(|n| n > 0),
        "bad notice: {line:?}"
    );

    // Stuck again: SIGTERM still stops it promptly.
    assert!(
        wait_until(SOON, || pending(&reader) >= 32 * 1024),
        "the pipe never filled again"
    );
    let start = Instant::now();
    kill(m.pid(), 15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?} to stop",
        start.elapsed()
    );
    assert!(wait_until(SOON, || !is_alive(late)));
    drop(reader);
}

#[test]
fn a_monitor_whose_stderr_reader_is_gone_keeps_supervising() {
    let c = Colony::new();
    add_crasher(&c);
    let (mut m, reader) = monitor(&c);
    drop(reader);
    let starts = c.recorded_pids("crasher").len();
    assert!(
        wait_until(SOON, || c.recorded_pids("crasher").len() >= starts + 5),
        "the crashing child stopped being restarted: {:?}",
        c.recorded_pids("crasher")
    );
    assert_eq!(
        m.child.try_wait().expect("try_wait"),
        None,
        "the monitor died"
    );
    c.add_sh("late", &c.pid_recorder("late"));
    let late = c.wait_pids("late", 1);
    kill(m.pid(), 15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)));
    assert!(wait_until(SOON, || !is_alive(late)));
}

#[test]
fn a_scheduler_whose_stderr_is_not_read_runs_its_job_on_time() {
    let c = Colony::new();
    let ticks = c.work.join("ticks");
    // Each run writes more than a pipe holds.
    let script = format!(
        "echo tick >> {}; seq -f 'output line %g of the job' 5000",
        ticks.display()
    );
    let mut cmd = ncolony();
    cmd.args(["scheduler", "--arg", "/bin/sh", "--arg", "-c", "--arg"])
        .arg(&script)
        .args(["--frequency", "0.1", "--timeout", "60", "--grace", "1"]);
    let (mut s, reader) = Held::spawn(cmd);
    let runs = || {
        std::fs::read_to_string(&ticks)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(
        wait_until(SOON, || pending(&reader) >= 32 * 1024),
        "the pipe never filled"
    );
    let before = runs();
    let start = Instant::now();
    assert!(
        wait_until(SOON, || runs() >= before + 10),
        "the job stopped running: {} runs",
        runs()
    );
    // Ten runs 0.1 s apart, on a busy machine.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    kill(s.pid(), 15);
    assert_eq!(s.wait_exit(SOON), Some(Some(0)));
    drop(reader);
}
