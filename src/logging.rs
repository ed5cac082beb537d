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
//! A stderr that is read, only slower than children write, is not stuck:
//! then the relays of children's output wait for room (a relay pauses, so
//! its child waits on its pipe, as it would on any pipe; the program's loop
//! never waits), and nothing is lost. Children's output may fill only part
//! of the queue, so the program's own log lines still fit meanwhile.
//!
//! Not `tracing-appender`'s non-blocking writer: its queue bounds lines, not
//! bytes (children's lines can be 64 KiB each), it cannot say where lines
//! were dropped, and its guard prints to stdout when the queue is full at
//! exit, which can block or panic on the very stream that is stuck.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

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
/// A write to stderr that has not progressed for this long means stderr is
/// stuck: children's lines are then dropped rather than waited for.
const STALL: Duration = Duration::from_millis(500);
/// How often a relay waiting for room in the queue looks again.
const RETRY_ROOM: Duration = Duration::from_millis(10);

/// Spare buffers kept for the next chunks of children's lines.
const SPARE_BUFFERS: usize = 32;
/// Buffers bigger than this are not kept (a chunk is at most a 64 KiB read
/// and its prefixes).
const SPARE_MAX: usize = 128 << 10;

static SPARES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The smallest buffer [`buffer`] takes from the spares.
const SPARE_MIN: usize = 16 << 10;

/// An empty buffer for a chunk of lines, one written before if there is
/// one: a chatty child's chunks then cost no allocation (and no fresh
/// pages to fault in) each.
///
/// The queues count a chunk's bytes, not its capacity: a small chunk gets
/// a buffer of its own size, never a spare, so that queued small chunks
/// cannot hold many times the queue's bound.
pub(crate) fn buffer(capacity: usize) -> Vec<u8> {
    if capacity < SPARE_MIN {
        return Vec::with_capacity(capacity);
    }
    let spare = SPARES.lock().unwrap_or_else(PoisonError::into_inner).pop();
    match spare {
        Some(mut buf) => {
            buf.reserve(capacity);
            buf
        }
        None => Vec::with_capacity(capacity),
    }
}

/// Gives back a chunk's buffer once its lines are written, for [`buffer`].
pub(crate) fn recycle(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > SPARE_MAX {
        return;
    }
    buf.clear();
    let mut spares = SPARES.lock().unwrap_or_else(PoisonError::into_inner);
    if spares.len() < SPARE_BUFFERS {
        spares.push(buf);
    }
}

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
        .with_ansi(false)
        // Its fallback for a failed write is `eprintln!`, which panics on a
        // closed stderr; our writer never fails anyway.
        .log_internal_errors(false)
        .event_format(Lines::new())
        .init();
    // Start the writer now rather than at the first line.
    queue();
    OutputGuard(())
}

/// How the program's own lines and its children's are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `TIMESTAMP  LEVEL message field=value` and `[NAME] line`.
    #[default]
    Text,
    /// One JSON object per line: `{"ts","level","msg",...fields}` and
    /// `{"ts","name","line"}`.
    Json,
}

static JSON: AtomicBool = AtomicBool::new(false);
static TIMESTAMPS: AtomicBool = AtomicBool::new(true);

/// Sets how lines are written from now on (the default is text with
/// timestamps): called by a program once its arguments are parsed, before
/// it logs anything or starts a child.
pub fn configure(format: LogFormat, timestamps: bool) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    TIMESTAMPS.store(timestamps, Ordering::Relaxed);
}

/// The format [`configure`] set.
pub(crate) fn format() -> LogFormat {
    if JSON.load(Ordering::Relaxed) {
        LogFormat::Json
    } else {
        LogFormat::Text
    }
}

/// Whether lines carry a timestamp, as [`configure`] set.
fn timestamps() -> bool {
    TIMESTAMPS.load(Ordering::Relaxed)
}

/// Now, as JSON lines carry it: RFC 3339, UTC, microseconds.
fn now_ts() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The configured timestamp for a JSON line: now, or none.
pub(crate) fn json_ts() -> Option<String> {
    timestamps().then(now_ts)
}

/// One JSON line of the program's own: `{"ts","level","msg",...fields}`
/// (`ts` left out when `None`; `level` lowercase), ending in a newline. A
/// field whose name is already taken keeps its value under `_NAME`.
fn json_event(
    ts: Option<&str>,
    level: &str,
    msg: &str,
    fields: serde_json::Map<String, serde_json::Value>,
) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    if let Some(ts) = ts {
        obj.insert("ts".into(), ts.into());
    }
    obj.insert("level".into(), level.into());
    obj.insert("msg".into(), msg.into());
    for (mut key, value) in fields {
        while obj.contains_key(&key) {
            key.insert(0, '_');
        }
        obj.insert(key, value);
    }
    let mut line = serde_json::Value::Object(obj).to_string().into_bytes();
    line.push(b'\n');
    line
}

/// One JSON line for a child's output line: `{"ts","name","line"}` (`ts`
/// left out when `None`), the line's bytes decoded as UTF-8 with invalid
/// sequences replaced by U+FFFD, ending in a newline.
pub(crate) fn json_child(ts: Option<&str>, name: &str, line: &[u8]) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    if let Some(ts) = ts {
        obj.insert("ts".into(), ts.into());
    }
    obj.insert("name".into(), name.into());
    obj.insert("line".into(), String::from_utf8_lossy(line).into());
    let mut out = serde_json::Value::Object(obj).to_string().into_bytes();
    out.push(b'\n');
    out
}

/// How a child's lines are written out: `[NAME] line` or JSON records on
/// stderr (the log format's), or as they are (for a log file, whose writer
/// stamps them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChildRecords {
    /// `[NAME] ` before each line.
    Prefixed(Vec<u8>),
    /// `{"ts","name","line"}` records for this name.
    Json(String),
    /// The bytes as they are.
    Raw,
}

impl ChildRecords {
    /// How `name`'s lines show on stderr in `format`.
    pub(crate) fn for_stderr(name: &str, format: LogFormat) -> Self {
        match format {
            LogFormat::Text => ChildRecords::Prefixed(format!("[{name}] ").into_bytes()),
            LogFormat::Json => ChildRecords::Json(name.to_owned()),
        }
    }

    /// Appends to `out` one record of the line `head` then `rest` (without
    /// its newline), and empties `head`.
    pub(crate) fn push(&self, out: &mut Vec<u8>, head: &mut Vec<u8>, rest: &[u8]) {
        match self {
            ChildRecords::Json(name) => {
                head.extend_from_slice(rest);
                out.extend(json_child(json_ts().as_deref(), name, head));
            }
            ChildRecords::Prefixed(prefix) => {
                out.extend_from_slice(prefix);
                out.extend_from_slice(head);
                out.extend_from_slice(rest);
                out.push(b'\n');
            }
            ChildRecords::Raw => {
                out.extend_from_slice(head);
                out.extend_from_slice(rest);
                out.push(b'\n');
            }
        }
        head.clear();
    }
}

/// A child's complete lines (each ending in `\n`) as stderr shows them.
pub(crate) fn child_lines_for_stderr(name: &str, lines: &[u8]) -> Vec<u8> {
    let records = ChildRecords::for_stderr(name, format());
    let mut out = Vec::with_capacity(lines.len() + lines.len() / 4);
    let mut head = Vec::new();
    for line in lines.split_inclusive(|&b| b == b'\n') {
        records.push(
            &mut out,
            &mut head,
            line.strip_suffix(b"\n").unwrap_or(line),
        );
    }
    out
}

/// A line of the program's own that is not a `tracing` event (its last
/// word, the queue's notices): `text` as is, or a JSON line of `level`.
fn own_line(level: &str, text: &str) -> Vec<u8> {
    match format() {
        LogFormat::Json => json_event(json_ts().as_deref(), level, text, Default::default()),
        LogFormat::Text => {
            let mut line = Vec::with_capacity(text.len() + 1);
            line.extend_from_slice(text.as_bytes());
            line.push(b'\n');
            line
        }
    }
}

/// Writes `text` and a newline to stderr through the output queue (for the
/// program's last word, e.g. its fatal error): never blocks, never fails.
/// In JSON, it is the `msg` of an `error` line.
pub fn write_line(text: &str) {
    write(own_line("error", text));
}

/// The `tracing` event formatter: today's text lines (with or without the
/// timestamp), or JSON lines, as [`configure`] set.
struct Lines {
    stamped: Format<Full, SystemTime>,
    unstamped: Format<Full, ()>,
}

impl Lines {
    fn new() -> Lines {
        let stamped = Format::default().with_target(false).with_ansi(false);
        let unstamped = stamped.clone().without_time();
        Lines { stamped, unstamped }
    }
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        match (format(), timestamps()) {
            (LogFormat::Text, true) => self.stamped.format_event(ctx, writer, event),
            (LogFormat::Text, false) => {
                // Without the timestamp, the level's padding would lead the line.
                let mut line = String::new();
                self.unstamped
                    .format_event(ctx, Writer::new(&mut line), event)?;
                writer.write_str(line.trim_start())
            }
            (LogFormat::Json, _) => {
                let mut fields = JsonFields::default();
                event.record(&mut fields);
                let level = event.metadata().level().as_str().to_ascii_lowercase();
                let line = json_event(json_ts().as_deref(), &level, &fields.msg, fields.rest);
                writer.write_str(&String::from_utf8_lossy(&line))
            }
        }
    }
}

/// An event's fields: its message, and the rest as JSON values.
#[derive(Default)]
struct JsonFields {
    msg: String,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_value(field, format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_value(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_value(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_value(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_value(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_value(field, value.into());
    }
}

impl JsonFields {
    fn record_value(&mut self, field: &Field, value: serde_json::Value) {
        match (field.name(), value) {
            ("message", serde_json::Value::String(msg)) => self.msg = msg,
            (name, value) => {
                self.rest.insert(name.to_owned(), value);
            }
        }
    }
}

/// Queues complete output lines (each ending in `\n`) for stderr, or drops
/// them if the queue is full. Never waits.
pub(crate) fn write(lines: Vec<u8>) {
    if !lines.is_empty() {
        queue().push(lines);
    }
}

/// Queues a child's complete output lines for stderr: while the queue is
/// full but stderr is moving, waits (asynchronously: the loop goes on) for
/// room; once stderr is stuck, drops them.
pub(crate) async fn write_child(lines: Vec<u8>) {
    if !lines.is_empty() {
        queue().push_child_async((), lines).await;
    }
}

/// [`write_child`] for a relay on a thread of its own.
pub(crate) fn write_child_blocking(lines: Vec<u8>) {
    if !lines.is_empty() {
        queue().push_child_blocking(lines);
    }
}

/// Waits until everything queued has been written, at most `timeout`;
/// whether it all was.
fn flush(timeout: Duration) -> bool {
    OUTPUT.get().is_none_or(|q| q.flush(timeout))
}

/// The stderr queue's sink.
type Stderr = Stream<io::Stderr>;

static OUTPUT: OnceLock<Arc<Queue<Stderr>>> = OnceLock::new();

/// The process's output queue, started on first use.
fn queue() -> &'static Queue<Stderr> {
    OUTPUT.get_or_init(|| {
        Queue::start(
            Limits {
                bytes: MAX_QUEUED_BYTES,
                lines: MAX_QUEUED_LINES,
                stall: STALL,
            },
            Stream::new(io::stderr()),
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

/// How much a queue holds before it drops (or, for children, holds back)
/// lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Bytes queued or being written.
    pub(crate) bytes: usize,
    /// Lines queued or being written.
    pub(crate) lines: usize,
    /// How long without progress makes the sink stuck (children's lines
    /// are then dropped); `Duration::MAX`: never, they always wait.
    pub(crate) stall: Duration,
}

impl Limits {
    /// What children's output may fill: three quarters, so the program's
    /// own lines still fit while children's wait for room.
    fn for_children(self) -> Limits {
        Limits {
            bytes: self.bytes / 4 * 3,
            lines: self.lines / 4 * 3,
            stall: self.stall,
        }
    }
}

/// What a queue's writer thread writes to: stderr ([`Stream`]), or the
/// per-process log files (`crate::logfiles`). Each queued chunk carries a
/// [`Sink::To`] saying where it goes.
pub(crate) trait Sink: Send + 'static {
    /// Where a chunk goes (`()` for a sink with one place).
    type To: Send + 'static;
    /// Writes one batch, in queue order, emptying it; calls `progressed`
    /// after each write that took some bytes. An error counts the batch's
    /// lines as lost (said in a notice once a write works again).
    fn write(&mut self, batch: &mut Vec<Entry<Self::To>>, progressed: &dyn Fn()) -> io::Result<()>;
}

/// One entry of a batch handed to a [`Sink`].
#[derive(Debug)]
pub(crate) enum Entry<T> {
    /// Complete lines for `to`.
    Lines {
        /// Where they go.
        to: T,
        /// The lines, each ending in `\n`.
        text: Vec<u8>,
        /// How many there are (at least 1).
        lines: usize,
    },
    /// A notice of the queue's own (lines dropped or lost), a complete line.
    Notice(Vec<u8>),
}

/// A sink that is one byte stream (stderr): a batch is one write.
#[derive(Debug)]
pub(crate) struct Stream<W> {
    out: W,
    buf: Vec<u8>,
}

impl<W> Stream<W> {
    fn new(out: W) -> Self {
        Stream {
            out,
            buf: Vec::with_capacity(BATCH),
        }
    }
}

impl<W: Write + Send + 'static> Sink for Stream<W> {
    type To = ();

    fn write(&mut self, batch: &mut Vec<Entry<()>>, progressed: &dyn Fn()) -> io::Result<()> {
        self.buf.clear();
        for entry in batch.drain(..) {
            match entry {
                Entry::Lines { text, .. } | Entry::Notice(text) => {
                    self.buf.extend_from_slice(&text);
                    recycle(text);
                }
            }
        }
        let written = write_all(&mut self.out, &self.buf, progressed);
        if self.buf.capacity() > 4 * BATCH {
            self.buf = Vec::with_capacity(BATCH);
        }
        written
    }
}

/// An entry of the queue.
#[derive(Debug)]
enum Item<T> {
    /// One or more complete lines.
    Lines { to: T, text: Vec<u8>, lines: usize },
    /// This many lines were dropped here because the queue was full.
    Dropped(u64),
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<Item<T>>,
    /// Bytes and lines queued or being written: what the limits bound.
    bytes: usize,
    lines: usize,
    /// The writer waits for work, so a push must wake it.
    idle: bool,
    /// The writer is writing a batch taken off the queue.
    busy: bool,
    /// The writer is asked to hand its sink an empty batch (see
    /// [`Queue::poke`]).
    poked: bool,
    /// When the writer last took a batch or wrote some of it.
    progress: Option<Instant>,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State {
            items: VecDeque::new(),
            bytes: 0,
            lines: 0,
            idle: false,
            busy: false,
            poked: false,
            progress: None,
        }
    }
}

impl<T> State<T> {
    fn fits(&self, text: &[u8], lines: usize, limits: Limits) -> bool {
        self.bytes + text.len() <= limits.bytes && self.lines + lines <= limits.lines
    }

    /// Whether the sink has taken nothing for `stall`.
    fn is_stuck(&self, stall: Duration) -> bool {
        self.busy && self.progress.is_some_and(|t| t.elapsed() >= stall)
    }

    /// Counts `lines` as dropped at this point of the queue.
    fn drop_lines(&mut self, lines: usize) {
        let n = lines as u64;
        match self.items.back_mut() {
            Some(Item::Dropped(count)) => *count += n,
            _ => self.items.push_back(Item::Dropped(n)),
        }
    }
}

/// A bounded queue of output lines and the thread that writes it out.
pub(crate) struct Queue<S: Sink> {
    limits: Limits,
    state: Mutex<State<S::To>>,
    /// Signalled when work arrives for an idle writer.
    work: Condvar,
    /// Signalled when the writer has written everything.
    drained: Condvar,
    /// Signalled when the writer has made room (for waiting relays).
    room: tokio::sync::Notify,
    /// No writer thread could be started: callers write to the sink
    /// directly.
    direct: Option<Mutex<S>>,
    /// About how many bytes the writer takes for one batch.
    batch: usize,
    /// How long the writer waits, once work has come, for more to join
    /// it in one batch (none for stderr: a line goes out at once).
    linger: Duration,
}

impl<S: Sink> Queue<S> {
    /// Starts a writer thread that writes the queue to `sink`.
    pub(crate) fn start(limits: Limits, sink: S) -> Arc<Queue<S>> {
        Queue::start_batching(limits, sink, BATCH, Duration::ZERO)
    }

    /// [`Queue::start`], the writer taking about `batch` bytes at a time,
    /// after waiting `linger` for more work to join what came (fewer,
    /// bigger writes and wake-ups for a sink that can take them late).
    pub(crate) fn start_batching(
        limits: Limits,
        sink: S,
        batch: usize,
        linger: Duration,
    ) -> Arc<Queue<S>> {
        let new = |direct| Queue {
            limits,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            drained: Condvar::new(),
            room: tokio::sync::Notify::new(),
            direct,
            batch,
            linger,
        };
        let queue = Arc::new(new(None));
        let writer = queue.clone();
        // The sink goes to the thread, or comes back if none can start.
        let slot = Arc::new(Mutex::new(Some(sink)));
        let given = slot.clone();
        // The writer must never take a signal meant for the program (the
        // scheduler relies on every thread blocking SIGTERM), so it starts
        // with every signal blocked; ours are restored right after.
        let old = SigSet::all().thread_swap_mask(SigmaskHow::SIG_BLOCK).ok();
        let spawned = thread::Builder::new().name("output".into()).spawn(move || {
            let sink = given.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(sink) = sink {
                writer.run_writer(sink);
            }
        });
        if let Some(old) = old {
            // Restoring the mask we had cannot fail.
            let _restored = old.thread_set_mask();
        }
        match spawned {
            Ok(_) => queue,
            // A program out of threads (RLIMIT_NPROC) still gets its output.
            Err(_) => {
                let sink = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                Arc::new(new(sink.map(Mutex::new)))
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<S::To>> {
        // Nothing panics while holding the lock; if something did, the
        // counters are still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `text` (complete lines) for `to` unless that would pass the
    /// limits, in which case its lines are counted as dropped at this point.
    pub(crate) fn push_to(&self, to: S::To, text: Vec<u8>) {
        let _done = self.enqueue(to, text, false);
    }

    /// Queues a child's `text` for `to` if it fits in the children's part
    /// of the queue; else drops it if the sink is stuck, or hands it back
    /// to be tried again.
    pub(crate) fn push_child_to(&self, to: S::To, text: Vec<u8>) -> Result<(), (S::To, Vec<u8>)> {
        self.enqueue(to, text, true)
    }

    /// [`Queue::push_child_to`], waiting (asynchronously: the loop goes on)
    /// while it hands the lines back.
    pub(crate) async fn push_child_async(&self, mut to: S::To, mut text: Vec<u8>) {
        loop {
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            // Registered before trying, so room made meanwhile is not missed.
            room.as_mut().enable();
            match self.push_child_to(to, text) {
                Ok(()) => return,
                Err(back) => (to, text) = back,
            }
            // Woken as soon as the writer makes room; the timeout is for a
            // sink that has become stuck, whose lines are then dropped.
            let _room_or_timeout = tokio::time::timeout(RETRY_ROOM, room).await;
        }
    }

    /// Has the writer hand its sink a batch (empty if there is no work)
    /// soon, so that the sink acts on something it was told out of band
    /// (the log files' reopen on SIGHUP).
    pub(crate) fn poke(&self) {
        let mut st = self.lock();
        st.poked = true;
        if st.idle {
            st.idle = false;
            self.work.notify_one();
        }
    }

    fn enqueue(&self, to: S::To, text: Vec<u8>, child: bool) -> Result<(), (S::To, Vec<u8>)> {
        if let Some(sink) = &self.direct {
            let lines = memchr::memchr_iter(b'\n', &text).count().max(1);
            let mut batch = vec![Entry::Lines { to, text, lines }];
            let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
            // Nothing sensible can be done if the sink itself fails.
            let _ignored = sink.write(&mut batch, &|| {});
            return Ok(());
        }
        let lines = memchr::memchr_iter(b'\n', &text).count().max(1);
        let mut st = self.lock();
        let limits = if child {
            self.limits.for_children()
        } else {
            self.limits
        };
        if st.fits(&text, lines, limits) {
            st.bytes += text.len();
            st.lines += lines;
            st.items.push_back(Item::Lines { to, text, lines });
        } else if child && !st.is_stuck(self.limits.stall) {
            return Err((to, text));
        } else {
            st.drop_lines(lines);
        }
        if st.idle {
            st.idle = false;
            self.work.notify_one();
        }
        Ok(())
    }

    /// Waits until the queue is empty and written, at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
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
    fn run_writer(&self, mut sink: S) {
        let mut batch = Vec::new();
        // Lines lost to failed writes, and why: said once a write works.
        let mut lost: Option<(u64, String)> = None;
        loop {
            let taken = self.take_batch(&mut batch, lost.as_ref());
            let progressed = || self.lock().progress = Some(Instant::now());
            match sink.write(&mut batch, &progressed) {
                Ok(()) => lost = None,
                Err(e) => {
                    let (count, _) = lost.get_or_insert_with(|| (0, e.to_string()));
                    *count += taken.lines as u64 + taken.dropped;
                }
            }
            batch.clear();
            let mut st = self.lock();
            st.bytes -= taken.bytes;
            st.lines -= taken.lines;
            st.busy = false;
            if st.items.is_empty() {
                self.drained.notify_all();
            }
            drop(st);
            self.room.notify_waiters();
        }
    }

    /// Waits for work (or a [`poke`](Queue::poke)), then moves about
    /// [`BATCH`] bytes of it into `batch`, after the notice about lines
    /// `lost` to failed writes, if any.
    fn take_batch(&self, batch: &mut Vec<Entry<S::To>>, lost: Option<&(u64, String)>) -> Taken {
        if let Some((count, why)) = lost {
            batch.push(Entry::Notice(own_line(
                "warn",
                &format!("{count} output lines lost (writing stderr failed: {why})"),
            )));
        }
        let mut st = self.lock();
        while st.items.is_empty() && !st.poked {
            st.idle = true;
            st = self.work.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.idle = false;
        st.poked = false;
        st.busy = true;
        st.progress = Some(Instant::now());
        if !self.linger.is_zero() && st.bytes < self.batch {
            // Busy meanwhile: pushes do not wake us, flushes wait for us.
            drop(st);
            thread::sleep(self.linger);
            st = self.lock();
        }
        let mut taken = Taken::default();
        while taken.bytes < self.batch {
            match st.items.pop_front() {
                Some(Item::Lines { to, text, lines }) => {
                    taken.bytes += text.len();
                    taken.lines += lines;
                    batch.push(Entry::Lines { to, text, lines });
                }
                Some(Item::Dropped(n)) => {
                    batch.push(Entry::Notice(own_line(
                        "warn",
                        &format!("{n} output lines dropped (stderr was not being read)"),
                    )));
                    taken.dropped += n;
                }
                None => break,
            }
        }
        taken
    }
}

impl<W: Write + Send + 'static> Queue<Stream<W>> {
    /// [`Queue::push_to`] for a stream.
    fn push(&self, text: Vec<u8>) {
        self.push_to((), text);
    }

    /// [`Queue::push_child_to`] for a stream.
    fn push_child(&self, text: Vec<u8>) -> Result<(), Vec<u8>> {
        self.push_child_to((), text).map_err(|((), text)| text)
    }

    /// [`Queue::push_child`], sleeping while it hands the lines back.
    fn push_child_blocking(&self, mut text: Vec<u8>) {
        while let Err(back) = self.push_child(text) {
            text = back;
            thread::sleep(RETRY_ROOM);
        }
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

/// `write_all` that also waits out a full non-blocking sink, and calls
/// `progressed` after each write that took some bytes.
pub(crate) fn write_all(
    sink: &mut impl Write,
    mut buf: &[u8],
    progressed: &dyn Fn(),
) -> io::Result<()> {
    while !buf.is_empty() {
        match sink.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                progressed();
            }
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

    fn parse(line: &[u8]) -> serde_json::Value {
        assert_eq!(line.last(), Some(&b'\n'), "a line ends in a newline");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        serde_json::from_slice(line).expect("a JSON line")
    }

    #[test]
    fn json_event_lines_are_ts_level_msg_then_the_fields() {
        let mut fields = serde_json::Map::new();
        fields.insert("name".into(), "web".into());
        fields.insert("pid".into(), 42.into());
        fields.insert("msg".into(), "a field called msg".into());
        let line = json_event(
            Some("2026-12-01T23:42:00.123456Z"),
            "info",
            "started",
            fields,
        );
        let text = String::from_utf8(line.clone()).expect("UTF-8");
        assert_eq!(
            text,
            "{\"ts\":\"2026-12-01T23:42:00.123456Z\",\"level\":\"info\",\"msg\":\"started\",\
             \"name\":\"web\",\"pid\":42,\"_msg\":\"a field called msg\"}\n"
        );
        let value = parse(&line);
        assert_eq!(value["msg"], "started");
        let bare = parse(&json_event(None, "warn", "line\nbreak", Default::default()));
        assert_eq!(
            bare,
            serde_json::json!({"level": "warn", "msg": "line\nbreak"})
        );
    }

    #[test]
    fn json_child_lines_are_ts_name_line_with_invalid_utf8_replaced() {
        let line = json_child(Some("2026-12-01T23:42:00.000001Z"), "w", b"a\xffb \"q\"");
        assert_eq!(
            String::from_utf8(line).expect("UTF-8"),
            "{\"ts\":\"2026-12-01T23:42:00.000001Z\",\"name\":\"w\",\"line\":\"a\u{fffd}b \\\"q\\\"\"}\n"
        );
        let bare = parse(&json_child(None, "w", b""));
        assert_eq!(bare, serde_json::json!({"name": "w", "line": ""}));
    }

    #[test]
    fn json_timestamps_are_rfc3339_utc_with_microseconds() {
        let ts = now_ts();
        assert_eq!(ts.len(), "2026-12-01T23:42:00.123456Z".len(), "{ts}");
        assert!(ts.ends_with('Z'), "{ts}");
        assert!(chrono::DateTime::parse_from_rfc3339(&ts).is_ok(), "{ts}");
    }

    /// Pushes `first` and waits until the writer is blocked writing it.
    fn stuck(limits: Limits, first: &str) -> (Arc<Queue<Stream<Pipe>>>, Pipe) {
        let pipe = Pipe::shut();
        let queue = Queue::start(limits, Stream::new(pipe.clone()));
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
            stall: SOON,
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
            stall: SOON,
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
                stall: STALL,
            },
            Stream::new(pipe.clone()),
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
                stall: SOON,
            },
            Stream::new(sink),
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

    /// A sink that takes a while over every write, as a slow reader does.
    struct Slow(Pipe);

    impl Write for Slow {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            thread::sleep(Duration::from_millis(2));
            self.0.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_slow_sink_makes_children_wait_and_loses_nothing() {
        let pipe = Pipe::default();
        let limits = Limits {
            bytes: 1000,
            lines: 1000,
            stall: SOON,
        };
        let queue = Queue::start(limits, Stream::new(Slow(pipe.clone())));
        let mut want = String::new();
        for i in 0..300 {
            let line = format!("[w] {i:095}\n");
            want.push_str(&line);
            queue.push_child_blocking(line.into());
            assert!(queue.lock().bytes <= limits.for_children().bytes);
        }
        assert!(queue.flush(SOON));
        assert_eq!(pipe.text(), want);
    }

    #[test]
    fn a_stuck_sink_drops_children_lines_once_it_has_stalled() {
        let limits = Limits {
            bytes: 1000,
            lines: 1000,
            stall: Duration::from_millis(100),
        };
        let (queue, pipe) = stuck(limits, "first\n");
        let line = format!("{}\n", "x".repeat(99));
        let (done, pushed) = std::sync::mpsc::channel();
        let (q, l) = (queue.clone(), line.clone());
        thread::spawn(move || {
            for _ in 0..20 {
                q.push_child_blocking(l.clone().into());
            }
            let _ = done.send(());
        });
        assert!(
            pushed.recv_timeout(SOON).is_ok(),
            "children's lines kept waiting for a stuck sink"
        );
        pipe.open();
        assert!(queue.flush(SOON));
        // Seven fit in the children's 750 bytes.
        let want = format!(
            "first\n{}13 output lines dropped (stderr was not being read)\n",
            line.repeat(7)
        );
        assert_eq!(pipe.text(), want);
    }

    #[test]
    fn the_programs_lines_fit_while_childrens_wait() {
        let limits = Limits {
            bytes: 1000,
            lines: 1000,
            stall: SOON,
        };
        let (queue, pipe) = stuck(limits, "first\n");
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..7 {
            queue.push_child_blocking(line.clone().into());
        }
        assert!(queue.push_child(line.clone().into()).is_err());
        queue.push("started\n".into());
        pipe.open();
        assert!(queue.flush(SOON));
        assert_eq!(pipe.text(), format!("first\n{}started\n", line.repeat(7)));
    }

    #[test]
    fn flushing_a_stuck_sink_gives_up_in_time() {
        let limits = Limits {
            bytes: 1000,
            lines: 1000,
            stall: SOON,
        };
        let (queue, _pipe) = stuck(limits, "first\n");
        let start = Instant::now();
        assert!(!queue.flush(Duration::from_millis(100)));
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
