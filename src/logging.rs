//! Where the monitor's and the side programs' output goes: their log lines
//! (through `tracing`), their children's `[NAME] line` lines and their last
//! error line all take one path to stderr.
//!
//! That path never blocks and never fails: a line is put on a bounded
//! in-memory queue and one writer thread writes the queue to stderr. When
//! stderr is not being read (a stalled log shipper, `| less` left paused),
//! the writer blocks, the queue fills, and further lines are dropped and
//! counted rather than waited for; once stderr drains, the writer writes
//! `N output lines dropped (stderr was not being read)` where they were
//! missing. When stderr is closed (its reader gone: EPIPE) or fails, the
//! output is discarded and the program carries on.
//!
//! Not `tracing-appender`'s non-blocking writer: its queue bounds lines, not
//! bytes (children's lines can be 64 KiB each), it cannot say where lines
//! were dropped, and its guard prints to stdout when the queue is full at
//! exit, which can block or panic on the very stream that is stuck.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow};

/// Bytes of output the queue holds at most while stderr is not read: a
/// minute of a busy colony's logs, or 64 children's 64 KiB lines.
const MAX_QUEUED_BYTES: usize = 4 << 20;
/// Lines the queue holds at most: short lines cost bookkeeping too.
const MAX_QUEUED_LINES: usize = 32 * 1024;
/// How long the exit path waits for queued output to reach stderr.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// About how many bytes the writer takes off the queue for one write.
const BATCH: usize = 64 * 1024;
/// How long the writer waits before retrying a non-blocking stderr that is
/// full (a file description someone else set `O_NONBLOCK` on).
const RETRY_FULL: Duration = Duration::from_millis(10);

/// Flushes the output queue (briefly) when dropped: hold it until the
/// program's last line is written.
#[must_use = "dropping the guard is what flushes the last lines"]
#[derive(Debug)]
pub struct OutputGuard(());

impl Drop for OutputGuard {
    fn drop(&mut self) {
        // Not draining in time (stderr stuck) loses the last lines only.
        let _drained = flush(FLUSH_TIMEOUT);
    }
}

/// Sends logs to stderr through the output queue, filtered by `NCOLONY_LOG`
/// (default `info`). Keep the guard until the program ends.
pub fn init() -> OutputGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NCOLONY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| QueueWriter)
        .with_target(false)
        .with_ansi(false)
        // Its fallback for a failed write is `eprintln!`, which panics on a
        // closed stderr; our writer never fails anyway.
        .log_internal_errors(false)
        .init();
    // Start the writer now rather than at the first line.
    queue();
    OutputGuard(())
}

/// Writes `text` and a newline to stderr through the output queue (for the
/// program's last word, e.g. its fatal error): never blocks, never fails.
pub fn write_line(text: &str) {
    let mut line = Vec::with_capacity(text.len() + 1);
    line.extend_from_slice(text.as_bytes());
    line.push(b'\n');
    write(line);
}

/// Queues complete output lines (each ending in `\n`, as children's lines
/// are relayed) for stderr, or drops them if the queue is full.
pub(crate) fn write(lines: Vec<u8>) {
    if !lines.is_empty() {
        queue().push(lines);
    }
}

/// Waits until everything queued has been written, at most `timeout`;
/// whether it all was.
fn flush(timeout: Duration) -> bool {
    OUTPUT.get().is_none_or(|q| q.flush(timeout))
}

static OUTPUT: OnceLock<Arc<Queue>> = OnceLock::new();

/// The process's output queue, started on first use.
fn queue() -> &'static Queue {
    OUTPUT.get_or_init(|| {
        Queue::start(
            Limits {
                bytes: MAX_QUEUED_BYTES,
                lines: MAX_QUEUED_LINES,
            },
            io::stderr(),
        )
    })
}

/// The `tracing` writer: each formatted event arrives in one `write`.
struct QueueWriter;

impl Write for QueueWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How much the queue holds before it drops lines.
#[derive(Debug, Clone, Copy)]
struct Limits {
    bytes: usize,
    lines: usize,
}

/// An entry of the queue.
#[derive(Debug)]
enum Item {
    /// One or more complete lines.
    Lines { text: Vec<u8>, lines: usize },
    /// This many lines were dropped here because the queue was full.
    Dropped(u64),
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Item>,
    /// Bytes and lines queued or being written: what the limits bound.
    bytes: usize,
    lines: usize,
    /// The writer waits for work, so a push must wake it.
    idle: bool,
    /// The writer is writing a batch taken off the queue.
    busy: bool,
}

/// A bounded queue of output lines and the thread that writes it out.
#[derive(Debug)]
struct Queue {
    limits: Limits,
    state: Mutex<State>,
    /// Signalled when work arrives for an idle writer.
    work: Condvar,
    /// Signalled when the writer has written everything.
    drained: Condvar,
    /// No writer thread could be started: callers write directly.
    direct: bool,
}

impl Queue {
    /// Starts a writer thread that writes the queue to `sink`.
    fn start(limits: Limits, sink: impl Write + Send + 'static) -> Arc<Queue> {
        let new = |direct| Queue {
            limits,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            drained: Condvar::new(),
            direct,
        };
        let queue = Arc::new(new(false));
        let writer = queue.clone();
        // The writer must never take a signal meant for the program (the
        // scheduler relies on every thread blocking SIGTERM), so it starts
        // with every signal blocked; ours are restored right after.
        let old = SigSet::all().thread_swap_mask(SigmaskHow::SIG_BLOCK).ok();
        let spawned = thread::Builder::new()
            .name("output".into())
            .spawn(move || writer.run_writer(sink));
        if let Some(old) = old {
            // Restoring the mask we had cannot fail.
            let _restored = old.thread_set_mask();
        }
        match spawned {
            Ok(_) => queue,
            // A program out of threads (RLIMIT_NPROC) still gets its output.
            Err(_) => Arc::new(new(true)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the
        // counters are still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `text` (complete lines) unless that would pass the limits,
    /// in which case its lines are counted as dropped at this point.
    fn push(&self, text: Vec<u8>) {
        if self.direct {
            // Nothing sensible can be done if stderr itself is gone.
            let _ignored = io::stderr().write_all(&text);
            return;
        }
        let lines = text.iter().filter(|&&b| b == b'\n').count().max(1);
        let mut st = self.lock();
        if st.bytes + text.len() > self.limits.bytes || st.lines + lines > self.limits.lines {
            let n = lines as u64;
            match st.items.back_mut() {
                Some(Item::Dropped(count)) => *count += n,
                _ => st.items.push_back(Item::Dropped(n)),
            }
        } else {
            st.bytes += text.len();
            st.lines += lines;
            st.items.push_back(Item::Lines { text, lines });
        }
        if st.idle {
            st.idle = false;
            self.work.notify_one();
        }
    }

    /// Waits until the queue is empty and written, at most `timeout`.
    fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while !st.items.is_empty() || st.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .drained
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// The writer thread: takes batches off the queue and writes them; a
    /// stuck sink blocks only this thread.
    fn run_writer(&self, mut sink: impl Write) {
        let mut batch = Vec::with_capacity(BATCH);
        // Lines lost to failed writes, and why: said once a write works.
        let mut lost: Option<(u64, String)> = None;
        loop {
            let taken = self.take_batch(&mut batch, lost.as_ref());
            match write_all(&mut sink, &batch) {
                Ok(()) => lost = None,
                Err(e) => {
                    let (count, _) = lost.get_or_insert_with(|| (0, e.to_string()));
                    *count += taken.lines as u64 + taken.dropped;
                }
            }
            batch.clear();
            if batch.capacity() > 4 * BATCH {
                batch.shrink_to(BATCH);
            }
            let mut st = self.lock();
            st.bytes -= taken.bytes;
            st.lines -= taken.lines;
            st.busy = false;
            if st.items.is_empty() {
                self.drained.notify_all();
            }
        }
    }

    /// Waits for work, then moves about [`BATCH`] bytes of it into `batch`,
    /// after the notice about lines `lost` to failed writes, if any.
    fn take_batch(&self, batch: &mut Vec<u8>, lost: Option<&(u64, String)>) -> Taken {
        if let Some((count, why)) = lost {
            let _infallible = writeln!(
                batch,
                "{count} output lines lost (writing stderr failed: {why})"
            );
        }
        let mut st = self.lock();
        while st.items.is_empty() {
            st.idle = true;
            st = self.work.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.idle = false;
        st.busy = true;
        let mut taken = Taken::default();
        while batch.len() < BATCH {
            match st.items.pop_front() {
                Some(Item::Lines { text, lines }) => {
                    batch.extend_from_slice(&text);
                    taken.bytes += text.len();
                    taken.lines += lines;
                }
                Some(Item::Dropped(n)) => {
                    let _infallible = writeln!(
                        batch,
                        "{n} output lines dropped (stderr was not being read)"
                    );
                    taken.dropped += n;
                }
                None => break,
            }
        }
        taken
    }
}

/// What one batch took off the queue.
#[derive(Debug, Default)]
struct Taken {
    bytes: usize,
    lines: usize,
    /// Lines the batch's drop notices stand for.
    dropped: u64,
}

/// `write_all` that also waits out a full non-blocking sink.
fn write_all(sink: &mut impl Write, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match sink.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(RETRY_FULL),
            Err(e) => return Err(e),
        }
    }
    sink.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that blocks every write while its gate is shut, as a pipe
    /// nobody reads does, and keeps what it is given.
    #[derive(Clone, Default)]
    struct Pipe {
        gate: Arc<(Mutex<bool>, Condvar)>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Pipe {
        fn shut() -> Pipe {
            let pipe = Pipe::default();
            *pipe.gate.0.lock().expect("gate") = true;
            pipe
        }

        fn open(&self) {
            *self.gate.0.lock().expect("gate") = false;
            self.gate.1.notify_all();
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.got.lock().expect("got")).into_owned()
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut shut = self.gate.0.lock().expect("gate");
            while *shut {
                shut = self.gate.1.wait(shut).expect("gate");
            }
            self.got.lock().expect("got").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A sink whose first `failures` writes fail as a closed pipe's do.
    struct Closed {
        failures: usize,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Closed {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.failures > 0 {
                self.failures -= 1;
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.got.lock().expect("got").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const SOON: Duration = Duration::from_secs(10);

    /// Pushes `first` and waits until the writer is blocked writing it.
    fn stuck(limits: Limits, first: &str) -> (Arc<Queue>, Pipe) {
        let pipe = Pipe::shut();
        let queue = Queue::start(limits, pipe.clone());
        queue.push(first.into());
        let deadline = Instant::now() + SOON;
        while !queue.lock().busy {
            assert!(Instant::now() < deadline, "the writer never took a line");
            thread::yield_now();
        }
        (queue, pipe)
    }

    #[test]
    fn a_stuck_sink_bounds_the_bytes_and_counts_what_it_drops() {
        let limits = Limits {
            bytes: 1000,
            lines: 1000,
        };
        let (queue, pipe) = stuck(limits, "first\n");
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..20 {
            queue.push(line.clone().into());
            assert!(queue.lock().bytes <= limits.bytes);
        }
        // Fits again: later lines are kept, after the notice.
        queue.push("after\n".into());
        // A notice counts every line of the chunks it stands for.
        queue.push("p\nq\n".repeat(300).into());
        queue.push("p\nq\n".repeat(300).into());
        assert!(
            !queue.flush(Duration::from_millis(50)),
            "flushed while stuck"
        );
        pipe.open();
        assert!(queue.flush(SOON));
        let want = format!(
            "first\n{}11 output lines dropped (stderr was not being read)\nafter\n\
             1200 output lines dropped (stderr was not being read)\n",
            line.repeat(9)
        );
        assert_eq!(pipe.text(), want);
        let st = queue.lock();
        assert_eq!((st.bytes, st.lines, st.items.len()), (0, 0, 0));
    }

    #[test]
    fn a_stuck_sink_bounds_the_lines() {
        let limits = Limits {
            bytes: 1 << 20,
            lines: 5,
        };
        let (queue, pipe) = stuck(limits, "a\n");
        for i in 0..10 {
            queue.push(format!("{i}\n").into());
            assert!(queue.lock().lines <= limits.lines);
        }
        pipe.open();
        assert!(queue.flush(SOON));
        assert_eq!(
            pipe.text(),
            "a\n0\n1\n2\n3\n6 output lines dropped (stderr was not being read)\n"
        );
    }

    #[test]
    fn a_drained_queue_writes_everything_in_order() {
        let pipe = Pipe::default();
        let queue = Queue::start(
            Limits {
                bytes: MAX_QUEUED_BYTES,
                lines: MAX_QUEUED_LINES,
            },
            pipe.clone(),
        );
        let mut want = String::new();
        for i in 0..10_000 {
            let line = format!("[w] {i}\n");
            want.push_str(&line);
            queue.push(line.into());
        }
        assert!(queue.flush(SOON));
        assert_eq!(pipe.text(), want);
    }

    #[test]
    fn failed_writes_are_survived_and_said_once_writing_works() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Closed {
            failures: 2,
            got: got.clone(),
        };
        let queue = Queue::start(
            Limits {
                bytes: 1000,
                lines: 1000,
            },
            sink,
        );
        for line in ["one\n", "two\n"] {
            queue.push(line.into());
            assert!(queue.flush(SOON));
        }
        queue.push("three\n".into());
        assert!(queue.flush(SOON));
        let text = String::from_utf8_lossy(&got.lock().expect("got")).into_owned();
        assert_eq!(
            text,
            format!(
                "2 output lines lost (writing stderr failed: {})\nthree\n",
                io::Error::from(io::ErrorKind::BrokenPipe)
            )
        );
    }

    #[test]
    fn flushing_a_stuck_sink_gives_up_in_time() {
        let limits = Limits {
            bytes: 1000,
            lines: 1000,
        };
        let (queue, _pipe) = stuck(limits, "first\n");
        let start = Instant::now();
        assert!(!queue.flush(Duration::from_millis(100)));
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
