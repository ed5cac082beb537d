//! `ncolony monitor --metrics ADDR`: the Prometheus endpoint.
//!
//! The server runs on a thread of its own with a small tokio runtime, so
//! that nothing a client does can reach the event loop. The loop hands it a
//! snapshot of the status view whenever it publishes the status (an `Arc`
//! swapped under a mutex held for nothing longer, never waited on for a
//! scrape) and counts the messages it handles in atomics; output byte
//! counts are the relays' own atomics. Each scrape renders the latest
//! snapshot ([`render`]) with the monitor's memory and descriptors read
//! from `/proc/self` there and then. Idle, the server sleeps in `epoll`
//! with no timer: no wake-ups.
//!
//! Hostile clients are bounded: at most [`MAX_CONNECTIONS`] at once (past
//! that a new connection is accepted and closed at once, so a flood can
//! hold neither memory nor the listen backlog), [`HEAD_TIMEOUT`] to send a
//! whole request head of at most [`http::MAX_HEAD`] bytes (else 408 or 400
//! and close), [`WRITE_TIMEOUT`] to take the answer. One request per
//! connection.

mod http;
mod render;

use std::collections::HashMap;
use std::fs;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ncolony_core::monitor::view::{EventKind, ProcView};
use ncolony_core::spec::Name;
use nix::sys::signal::{SigSet, SigmaskHow};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use self::http::{Head, Route};
use self::render::{CONTENT_TYPE, Own, Row, Snapshot, render};
use super::publish::Clocks;

/// Connections served at once; more are closed as soon as accepted.
const MAX_CONNECTIONS: usize = 64;

/// How long a client has, from its connection, to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client has to take the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// After answering, what the client still sends is read and dropped, for at
/// most this long and [`LINGER_BYTES`], so that closing does not reset the
/// connection before the client has read the answer.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

/// The values of `ncolony_messages_total`'s `type` label: the message
/// types, and `rejected` for a message file refused (not JSON, an unknown
/// type, sent before the monitor started, a STOP or START naming no
/// configured process).
const MESSAGE_TYPES: [&str; 6] = [
    "RESTART",
    "RESTART-ALL",
    "RESTART-GROUP",
    "STOP",
    "START",
    REJECTED,
];
const REJECTED: &str = "rejected";

/// What the event loop and the server share.
struct Shared {
    /// The colony as of the last status publication.
    snapshot: Mutex<Arc<Snapshot>>,
    /// Each of [`MESSAGE_TYPES`]' count.
    messages: [AtomicU64; MESSAGE_TYPES.len()],
    /// When the monitor started, in Unix seconds.
    start_time: f64,
}

impl Shared {
    fn snapshot(&self) -> Arc<Snapshot> {
        // Nothing panics while holding the lock; a poisoned one still
        // holds a whole snapshot.
        Arc::clone(&self.snapshot.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The event loop's side of a running metrics endpoint.
pub(crate) struct Metrics {
    shared: Arc<Shared>,
}

impl Metrics {
    /// Binds `addr` and starts serving on a thread of its own; an address
    /// that cannot be bound (in use, not ours) is an error naming it.
    pub(crate) fn start(addr: SocketAddr) -> anyhow::Result<Metrics> {
        let what = || format!("--metrics {addr}");
        let listener = std::net::TcpListener::bind(addr).with_context(what)?;
        listener.set_nonblocking(true).with_context(what)?;
        let bound = listener.local_addr().with_context(what)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("starting the metrics server")?;
        let listener = {
            // Registers the socket with the server's runtime, not the loop's.
            let _entered = runtime.enter();
            TcpListener::from_std(listener).with_context(what)?
        };
        // To the millisecond, as every other time the monitor shows.
        let start_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as f64
            / 1000.0;
        let shared = Arc::new(Shared {
            snapshot: Mutex::default(),
            messages: Default::default(),
            start_time,
        });
        let server = Arc::clone(&shared);
        // Signals are the event loop's: the server's thread blocks them
        // all, so each is delivered to the loop's thread.
        let old = SigSet::all().thread_swap_mask(SigmaskHow::SIG_BLOCK).ok();
        let spawned = thread::Builder::new()
            .name("metrics".into())
            .spawn(move || runtime.block_on(serve(listener, server)));
        if let Some(old) = old {
            // Restoring the mask we had cannot fail.
            let _restored = old.thread_set_mask();
        }
        spawned.context("starting the metrics server's thread")?;
        tracing::info!("serving metrics on http://{bound}/metrics");
        Ok(Metrics { shared })
    }

    /// Replaces the server's snapshot with `view` (the one the status file
    /// is written from, at the same moments); `log_bytes` holds each name's
    /// output counter.
    pub(crate) fn publish(
        &self,
        clocks: &Clocks,
        view: &[ProcView],
        log_bytes: &HashMap<Name, Arc<AtomicU64>>,
    ) {
        let rows = view
            .iter()
            .map(|v| Row {
                name: v.name.to_string(),
                state: v.state,
                ready: v.ready,
                restarts: v.restarts,
                start_time: v
                    .since
                    .map(|at| clocks.wall(at).timestamp_millis() as f64 / 1000.0),
                last_exit: v.last_exit.map(|e| e.status),
                log_bytes: log_bytes.get(&v.name).cloned().unwrap_or_default(),
            })
            .collect();
        let new = Arc::new(Snapshot { rows });
        let old = std::mem::replace(
            &mut *self
                .shared
                .snapshot
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            new,
        );
        // The old snapshot is freed here, after the lock is released.
        drop(old);
    }

    /// Counts a journal event that is a message handled or refused.
    pub(crate) fn count(&self, event: &EventKind) {
        match event {
            EventKind::Message { kind } => self.count_message(kind),
            EventKind::MessageRejected { .. } => self.count_message(REJECTED),
            _ => {}
        }
    }

    /// Counts one message of type `kind` (a message type or `rejected`).
    pub(crate) fn count_message(&self, kind: &str) {
        match MESSAGE_TYPES.iter().position(|t| *t == kind) {
            Some(i) => {
                self.shared.messages[i].fetch_add(1, Ordering::Relaxed);
            }
            None => tracing::debug!("metrics: no counter for message type {kind}"),
        }
    }
}

/// Accepts connections until the process exits.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    // Connections closed unserved since the limit was last reached.
    let mut refused = 0u64;
    let mut failing: Option<String> = None;
    loop {
        tokio::select! {
            // Finished connections first, so their slots are free.
            biased;
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) if connections.len() >= MAX_CONNECTIONS => {
                    if refused == 0 {
                        tracing::warn!(
                            "metrics: {MAX_CONNECTIONS} connections open; \
                             closing new ones at once until one ends"
                        );
                    }
                    refused += 1;
                    drop(stream);
                }
                Ok((stream, _peer)) => {
                    if refused > 0 {
                        tracing::info!(
                            "metrics: serving again; {} connections were closed unserved",
                            std::mem::take(&mut refused)
                        );
                    }
                    if failing.take().is_some() {
                        tracing::info!("metrics: accepting connections again");
                    }
                    connections.spawn(connection(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    let error = e.to_string();
                    if failing.as_deref() != Some(error.as_str()) {
                        tracing::error!("metrics: accepting a connection: {error}; retrying");
                    }
                    failing = Some(error);
                    // Out of descriptors, say: try again soon, not in a spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Serves one connection: one request, one answer, then closes.
async fn connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let answer = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Some(Route::Page { body })) => page(&shared, body),
        Ok(Some(route)) => http::refusal(route),
        // Closed, or failed, before a whole head: nobody to answer.
        Ok(None) => return,
        Err(_elapsed) => http::timed_out(),
    };
    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&answer).await?;
        // Our end is done: the client reads to the end of the answer.
        stream.shutdown().await
    })
    .await;
    // A client that stops reading, or resets, ends its connection; nothing
    // else is to be done about it.
    if let Ok(Ok(())) = written {
        let _drained = tokio::time::timeout(LINGER, drain(&mut stream)).await;
    }
}

/// Reads and drops what the client still sends, up to [`LINGER_BYTES`].
async fn drain(stream: &mut TcpStream) {
    let mut sink = [0; 4096];
    let mut left = LINGER_BYTES;
    while left > 0 {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Reads until the bytes are a whole request head, or cannot be one;
/// `None` if the client closed or the read failed first.
async fn read_head(stream: &mut TcpStream) -> Option<Route> {
    let mut received = vec![0; http::MAX_HEAD];
    let mut len = 0;
    loop {
        let n = stream.read(&mut received[len..]).await.ok()?;
        if n == 0 {
            return None;
        }
        len += n;
        // Past the bound, `parse` says Bad: `received[len..]` is never empty.
        if let Head::Done(route) = http::parse(&received[..len]) {
            return Some(route);
        }
    }
}

/// The answer to a scrape.
fn page(shared: &Shared, body: bool) -> Vec<u8> {
    let messages: Vec<(&str, u64)> = MESSAGE_TYPES
        .iter()
        .zip(&shared.messages)
        .map(|(kind, count)| (*kind, count.load(Ordering::Relaxed)))
        .collect();
    let own = Own {
        start_time: shared.start_time,
        resident_memory: fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| resident_memory(&status)),
        // Less the descriptor that lists them.
        open_fds: fs::read_dir("/proc/self/fd")
            .ok()
            .map(|fds| fds.count().saturating_sub(1) as u64),
    };
    let text = render(&shared.snapshot(), &messages, &own);
    http::response(
        "200 OK",
        &[("Content-Type", CONTENT_TYPE)],
        text.as_bytes(),
        body,
    )
}

/// `VmRSS` of a `/proc/PID/status` text, in bytes.
fn resident_memory(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncolony_core::message::Message;
    use ncolony_core::monitor::{Input, Monitor, Policy};
    use std::time::Instant;

    #[test]
    fn resident_memory_is_read_from_the_status_text() {
        let status = "Name:\tncolony\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(resident_memory(status), Some(5120 * 1024));
        assert_eq!(resident_memory("Name:\tx\n"), None);
    }

    /// Every message type the core journals has its own counter.
    #[test]
    fn every_message_type_has_a_counter() {
        let policy = Policy {
            threshold: Duration::from_secs(1),
            min_restart_delay: Duration::from_secs(1),
            max_restart_delay: Duration::from_secs(1),
            kill_time: Duration::from_secs(1),
        };
        let mut monitor = Monitor::new(policy);
        let mut kinds = Vec::new();
        for json in [
            r#"{"type": "RESTART", "name": "a"}"#,
            r#"{"type": "RESTART-ALL"}"#,
            r#"{"type": "RESTART-GROUP", "group": "g"}"#,
            r#"{"type": "STOP", "name": "a"}"#,
            r#"{"type": "START", "name": "a"}"#,
        ] {
            let message = Message::parse(json.as_bytes()).expect("a message");
            monitor.handle(Instant::now(), Input::Message(message));
            while let Some(event) = monitor.poll_event() {
                if let EventKind::Message { kind } = event.kind {
                    kinds.push(kind);
                }
            }
        }
        assert_eq!(kinds, MESSAGE_TYPES[..5]);
    }
}
