//! How the monitor learns that a child is ready, or what else it says of
//! itself (the `ready` key's protocols), turned into [`Input::Notice`]s for
//! the core: the notify socket (systemd's `sd_notify`), s6's notification
//! fd, and the polled probes (`file`, `tcp`, `http`, `exec`).
//!
//! Nothing here waits on the event loop: the socket is read without
//! blocking, a bounded batch per wake-up; each fd and each probe is a task
//! of its own (a blocking check on the runtime's blocking pool), ended when
//! its child exits or is ready. An `exec` probe's child is reaped by the
//! one reaper like any other; its exit comes back here
//! ([`Readiness::probe_exited`]) and is not taken for an adopted orphan.
//!
//! [`Input::Notice`]: ncolony_core::monitor::Input::Notice

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ncolony_core::monitor::{Exit, Notice, Pid};
use ncolony_core::spec::{Name, ProcSpec, ReadyKind, StartOrder};
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::unistd::{getpgid, pipe2};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};

use crate::process::notify::{Datagram, MAX_DATAGRAM, NotifySocket, Word, parse};
use crate::process::output::relay;
use crate::process::spawn::{Extra, SpawnContext, spawn};

/// Datagrams read per wake-up before the loop does anything else: a flood
/// is read at this pace, interleaved with everything else.
const BATCH: usize = 64;

/// What a child said, for the core.
#[derive(Debug)]
pub(crate) struct Told {
    /// The process name.
    pub(crate) name: Name,
    /// The child it concerns (the one the monitor started).
    pub(crate) pid: Pid,
    /// What it said.
    pub(crate) notice: Notice,
}

/// The exec probes' children, by pid: where their exits go.
type ProbeExits = Arc<Mutex<HashMap<i32, oneshot::Sender<Exit>>>>;

/// The readiness side of the children.
pub(crate) struct Readiness {
    ctx: SpawnContext,
    socket: Option<NotifySocket>,
    /// The live children whose config says `notify`: pid -> name.
    notify: HashMap<i32, Name>,
    /// The pid each child last named in `MAINPID=` while in its group:
    /// main pid -> child (one a child).
    main_pids: HashMap<i32, i32>,
    /// The read end of the notification fd of the start under way.
    pending_fd: Option<OwnedFd>,
    /// Each live child's task (fd reader or probe), aborted when it exits.
    tasks: HashMap<i32, AbortHandle>,
    set: JoinSet<()>,
    tx: mpsc::UnboundedSender<Told>,
    rx: mpsc::UnboundedReceiver<Told>,
    probes: ProbeExits,
    agent: Option<ureq::Agent>,
    buf: Vec<u8>,
    /// The last error reading the socket, logged once.
    failing: Option<String>,
}

impl Readiness {
    /// No socket yet: see [`open`](Self::open).
    pub(crate) fn new(ctx: SpawnContext) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Readiness {
            ctx,
            socket: None,
            notify: HashMap::new(),
            main_pids: HashMap::new(),
            pending_fd: None,
            tasks: HashMap::new(),
            set: JoinSet::new(),
            tx,
            rx,
            probes: Arc::default(),
            agent: None,
            buf: vec![0; MAX_DATAGRAM],
            failing: None,
        }
    }

    /// Binds the notify socket in the state directory (inside the loop's
    /// runtime). Without it, `notify` children get no `NOTIFY_SOCKET` and
    /// never become ready (their ready timeout says so); logged.
    pub(crate) fn open(&mut self, state_dir: &Path) {
        match NotifySocket::bind(state_dir) {
            Ok(socket) => {
                tracing::debug!("notify socket: {}", socket.address());
                self.socket = Some(socket);
            }
            Err(e) => tracing::error!(
                "{}: cannot bind the notify socket: {e}; processes with \"ready\": \
                 {{\"notify\": true}} cannot say they are ready",
                state_dir
                    .join(crate::process::notify::SOCKET_FILE)
                    .display()
            ),
        }
    }

    /// What the start of `spec` adds to its settings: `NOTIFY_SOCKET` (and
    /// the watchdog's variables), or the notification fd.
    pub(crate) fn prepare(&mut self, name: &Name, spec: &ProcSpec) -> Extra {
        let mut extra = Extra::default();
        let order: &StartOrder = &spec.order;
        match order.ready.as_ref().map(|r| &r.kind) {
            Some(ReadyKind::Notify) => {
                if let Some(socket) = &self.socket {
                    extra
                        .env
                        .push(("NOTIFY_SOCKET".to_owned(), socket.address().to_owned()));
                }
                if let Some(watchdog) = order.watchdog {
                    extra
                        .env
                        .push(("WATCHDOG_USEC".to_owned(), watchdog.as_micros().to_string()));
                    extra.watchdog_pid = true;
                }
            }
            Some(ReadyKind::Fd(n)) => match pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK) {
                Ok((read, write)) => {
                    self.pending_fd = Some(read);
                    extra.notify_fd = Some((write, *n));
                }
                Err(e) => tracing::error!(
                    name = %name,
                    "cannot make the notification pipe: {e}; it starts without fd {n} \
                     and cannot say it is ready"
                ),
            },
            _ => {}
        }
        extra
    }

    /// The start of `spec` failed: forgets what [`prepare`](Self::prepare) made.
    pub(crate) fn failed(&mut self) {
        self.pending_fd = None;
    }

    /// `spec` runs as `pid`: listens to it, or starts its probe.
    pub(crate) fn started(&mut self, name: &Name, pid: i32, spec: &ProcSpec) {
        let Some(ready) = &spec.order.ready else {
            return;
        };
        let told = Teller {
            name: name.clone(),
            pid: Pid(pid),
            tx: self.tx.clone(),
        };
        let (period, timeout) = (ready.period, ready.timeout);
        let handle = match &ready.kind {
            ReadyKind::Notify => {
                self.notify.insert(pid, name.clone());
                return;
            }
            ReadyKind::Fd(_) => match self.pending_fd.take() {
                Some(fd) => self.set.spawn(read_fd(fd, told)),
                None => return,
            },
            ReadyKind::File(path) => {
                let path = PathBuf::from(path);
                self.set.spawn(poll(told, period, move || {
                    let path = path.clone();
                    async move {
                        tokio::task::spawn_blocking(move || std::fs::metadata(path).is_ok())
                            .await
                            .unwrap_or(false)
                    }
                }))
            }
            ReadyKind::Tcp(address) => {
                let address = address.clone();
                let limit = period.max(Duration::from_secs(1));
                self.set.spawn(poll(told, period, move || {
                    let address = address.clone();
                    async move {
                        let connect = tokio::net::TcpStream::connect(address);
                        matches!(tokio::time::timeout(limit, connect).await, Ok(Ok(_)))
                    }
                }))
            }
            ReadyKind::Http(url) => {
                let agent = self
                    .agent
                    .get_or_insert_with(|| crate::http::agent("ncolony-monitor"))
                    .clone();
                let url = url.clone();
                let limit = period.max(Duration::from_secs(1));
                self.set.spawn(poll(told, period, move || {
                    let (agent, url) = (agent.clone(), url.clone());
                    async move {
                        tokio::task::spawn_blocking(move || {
                            crate::http::get(&agent, &url, limit).is_ok()
                        })
                        .await
                        .unwrap_or(false)
                    }
                }))
            }
            ReadyKind::Exec(command) => {
                let probe = ExecProbe {
                    ctx: self.ctx.clone(),
                    name: name.clone(),
                    spec: probe_spec(spec, command),
                    timeout,
                    exits: Arc::clone(&self.probes),
                    warned: Arc::default(),
                };
                self.set.spawn(poll(told, period, move || {
                    let probe = probe.clone();
                    async move { probe.run().await }
                }))
            }
        };
        self.tasks.insert(pid, handle);
    }

    /// `pid` was reaped: what listened to it or probed it stops.
    pub(crate) fn exited(&mut self, pid: i32) {
        self.notify.remove(&pid);
        self.main_pids.remove(&pid);
        self.main_pids.retain(|_, child| *child != pid);
        if let Some(task) = self.tasks.remove(&pid) {
            task.abort();
        }
    }

    /// Whether `pid` was an exec probe's child (its exit goes to the probe).
    pub(crate) fn probe_exited(&mut self, pid: i32, status: Exit) -> bool {
        let waiting = self
            .probes
            .lock()
            .expect("no probe panics holding the lock")
            .remove(&pid);
        match waiting {
            Some(tx) => {
                // The probe may have been aborted since; then nobody asks.
                let _gone = tx.send(status);
                true
            }
            None => false,
        }
    }

    /// The next notices: what the tasks found, or a batch of datagrams.
    pub(crate) async fn next(&mut self) -> Vec<Told> {
        // Finished tasks are collected as they end.
        while self.set.try_join_next().is_some() {}
        let readable = async {
            match &self.socket {
                Some(socket) => socket.readable().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(told) = self.rx.recv() => {
                let mut all = vec![told];
                while let Ok(more) = self.rx.try_recv() {
                    all.push(more);
                }
                all
            }
            ready = readable => match ready {
                Ok(()) => self.read_batch(),
                Err(e) => {
                    self.failed_reading(&e);
                    Vec::new()
                }
            },
        }
    }

    fn read_batch(&mut self) -> Vec<Told> {
        let mut out = Vec::new();
        for _ in 0..BATCH {
            let Some(socket) = &self.socket else { break };
            match socket.try_recv(&mut self.buf) {
                Ok(Some(d)) => {
                    self.failing = None;
                    self.datagram(&d, &mut out);
                }
                Ok(None) => return out,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed_reading(&e);
                    return out;
                }
            }
        }
        // A full batch: the rest waits for the next wake-up, after the
        // loop's other work (its select polls its branches in random order,
        // and the socket's readiness counts against tokio's task budget).
        // No await here: this future may be dropped at one, losing `out`.
        out
    }

    fn failed_reading(&mut self, e: &io::Error) {
        let text = e.to_string();
        if self.failing.as_deref() != Some(&text) {
            tracing::error!("reading the notify socket: {text}");
        }
        self.failing = Some(text);
    }

    /// Checks the sender, then turns the datagram's words into notices.
    fn datagram(&mut self, d: &Datagram, out: &mut Vec<Told>) {
        let Some(sender) = d.pid else {
            tracing::debug!("notify socket: a datagram without credentials; dropped");
            return;
        };
        if d.truncated {
            tracing::debug!(
                "notify socket: a datagram of {} bytes from pid {sender} (more than {MAX_DATAGRAM}); dropped",
                d.len
            );
            return;
        }
        let Some(child) = self.child_of(sender) else {
            tracing::debug!(
                "notify socket: a datagram from pid {sender}, not a process with \
                 \"ready\": {{\"notify\": true}} nor in one's process group; dropped"
            );
            return;
        };
        let name = self.notify[&child].clone();
        let words = match parse(&self.buf[..d.len]) {
            Ok(words) => words,
            Err(why) => {
                tracing::debug!(name = %name, "notify socket: a malformed datagram from pid {sender} ({why}); dropped");
                return;
            }
        };
        for word in words {
            match word {
                Word::Notice(notice) => out.push(Told {
                    name: name.clone(),
                    pid: Pid(child),
                    notice,
                }),
                Word::MainPid(main) if main == child || in_group(main, child) => {
                    // One main pid a child, as systemd keeps: the last said.
                    self.main_pids.retain(|_, c| *c != child);
                    if main != child {
                        self.main_pids.insert(main, child);
                    }
                }
                Word::MainPid(main) => tracing::debug!(
                    name = %name,
                    "notify socket: MAINPID={main} is not in the process group of pid {child}; ignored"
                ),
            }
        }
    }

    /// The notify child `sender` speaks for: itself, a pid it named in
    /// `MAINPID=`, or a member of its process group.
    fn child_of(&self, sender: i32) -> Option<i32> {
        if self.notify.contains_key(&sender) {
            return Some(sender);
        }
        if let Some(child) = self.main_pids.get(&sender) {
            return Some(*child);
        }
        let group = getpgid(Some(nix::unistd::Pid::from_raw(sender)))
            .ok()?
            .as_raw();
        self.notify.contains_key(&group).then_some(group)
    }
}

/// Whether `pid` is in the process group `group` leads.
fn in_group(pid: i32, group: i32) -> bool {
    getpgid(Some(nix::unistd::Pid::from_raw(pid))).is_ok_and(|g| g.as_raw() == group)
}

/// The process's own settings (environment, uid/gid, cwd, limits...) with
/// the probe's command line, and nothing of the readiness keys.
fn probe_spec(spec: &ProcSpec, command: &[String]) -> Arc<ProcSpec> {
    let mut probe = spec.clone();
    probe.args = command.to_vec();
    probe.order = StartOrder::default();
    Arc::new(probe)
}

/// Sends a start's notices to the loop.
#[derive(Clone)]
struct Teller {
    name: Name,
    pid: Pid,
    tx: mpsc::UnboundedSender<Told>,
}

impl Teller {
    fn ready(&self) {
        // The receiver lives as long as the loop.
        let _loop_gone = self.tx.send(Told {
            name: self.name.clone(),
            pid: self.pid,
            notice: Notice::Ready,
        });
    }
}

/// Runs `check` every `period` until it passes, then says the child is ready.
async fn poll<F, Fut>(told: Teller, period: Duration, check: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    loop {
        let started = Instant::now();
        if check().await {
            told.ready();
            return;
        }
        // A check that took long is not followed by a full period more.
        let left = period.saturating_sub(started.elapsed());
        tokio::time::sleep(left).await;
    }
}

/// s6's notification fd: ready at the first newline; EOF before one means
/// the child gave up on it. The read end is closed when this returns.
async fn read_fd(fd: OwnedFd, told: Teller) {
    let rx = match tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!(name = %told.name, "cannot read the notification fd: {e}");
            return;
        }
    };
    let mut buf = [0u8; 512];
    loop {
        if rx.readable().await.is_err() {
            return;
        }
        match rx.try_read(&mut buf) {
            Ok(0) => {
                tracing::debug!(name = %told.name, "the notification fd was closed before a newline");
                return;
            }
            Ok(n) if buf[..n].contains(&b'\n') => {
                told.ready();
                return;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                tracing::warn!(name = %told.name, "reading the notification fd: {e}");
                return;
            }
        }
    }
}

/// One run of an `exec` probe's command.
#[derive(Clone)]
struct ExecProbe {
    ctx: SpawnContext,
    name: Name,
    spec: Arc<ProcSpec>,
    timeout: Duration,
    exits: ProbeExits,
    /// Whether this start's checks have warned already: a check that keeps
    /// failing the same way is one line per start, the rest at debug.
    warned: Arc<std::sync::atomic::AtomicBool>,
}

/// Kills a probe's process group if the probe is dropped (aborted because
/// its child exited, or timed out) before the reaper saw it exit.
struct Running {
    pid: i32,
    exits: ProbeExits,
}

impl Drop for Running {
    fn drop(&mut self) {
        let waiting = self
            .exits
            .lock()
            .expect("no probe panics holding the lock")
            .contains_key(&self.pid);
        if waiting && let Err(e) = crate::process::signal::signal_group(self.pid, Signal::SIGKILL) {
            tracing::warn!("stopping the ready check pid={}: {e}", self.pid);
        }
        // Its exit still comes through the reaper, which finds no one
        // waiting and drops it (see `Readiness::probe_exited`).
    }
}

impl ExecProbe {
    /// Whether a warning now is this start's first.
    fn first_warning(&self) -> bool {
        !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the command exited 0 within the timeout.
    async fn run(&self) -> bool {
        let label = format!("{} ready", self.name);
        let child = match spawn(&self.ctx, &self.name, &self.spec, Extra::default()) {
            Ok(child) => child,
            Err(e) => {
                if self.first_warning() {
                    tracing::warn!(name = %self.name, "cannot run the ready check: {e}");
                } else {
                    tracing::debug!(name = %self.name, "cannot run the ready check: {e}");
                }
                return false;
            }
        };
        let (tx, rx) = oneshot::channel();
        self.exits
            .lock()
            .expect("no probe panics holding the lock")
            .insert(child.pid, tx);
        let running = Running {
            pid: child.pid,
            exits: Arc::clone(&self.exits),
        };
        tokio::spawn(relay(
            label,
            child.output,
            Arc::new(AtomicU64::new(0)),
            None,
        ));
        let passed = match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(status)) => {
                if !status.is_success() {
                    tracing::debug!(name = %self.name, "ready check: {status}");
                }
                status.is_success()
            }
            Ok(Err(_)) => false,
            Err(_) => {
                let what = format!(
                    "ready check pid={} still running after {:?}; killed",
                    child.pid, self.timeout
                );
                if self.first_warning() {
                    tracing::warn!(name = %self.name, "{what}");
                } else {
                    tracing::debug!(name = %self.name, "{what}");
                }
                false
            }
        };
        drop(running);
        passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_keeps_one_main_pid_the_last_it_named() {
        let mut readiness = Readiness::new(SpawnContext::init());
        // This test process's group stands for a notify child's; a sleep
        // started here is another member of it.
        let group = getpgid(None).expect("getpgid").as_raw();
        let me = std::process::id() as i32;
        let mut other = std::process::Command::new("/bin/sleep")
            .arg("10")
            .spawn()
            .expect("sleep");
        let other_pid = other.id() as i32;
        readiness
            .notify
            .insert(group, Name::new("web").expect("a name"));
        let say = |readiness: &mut Readiness, text: &str| {
            readiness.buf[..text.len()].copy_from_slice(text.as_bytes());
            let d = Datagram {
                pid: Some(me),
                truncated: false,
                len: text.len(),
            };
            readiness.datagram(&d, &mut Vec::new());
        };
        say(&mut readiness, &format!("MAINPID={me}"));
        say(&mut readiness, &format!("MAINPID={other_pid}"));
        assert_eq!(readiness.main_pids, HashMap::from([(other_pid, group)]));
        say(&mut readiness, &format!("MAINPID={group}"));
        assert!(readiness.main_pids.is_empty(), "{:?}", readiness.main_pids);
        let _ = other.kill();
        let _ = other.wait();
    }
}
