//! systemd's notification protocol (`sd_notify(3)`), both ways: the socket
//! the monitor owns for its children ([`NotifySocket`]: one unix datagram
//! socket, `SO_PASSCRED` on, read without blocking, each datagram with its
//! sender's pid), what a datagram says ([`parse`]), and the sender the
//! monitor uses itself when systemd started it with `NOTIFY_SOCKET`
//! ([`SdNotify`]).

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

use ncolony_core::monitor::Notice;
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, setsockopt, sockopt::PassCred,
};
use tokio::io::Interest;

/// The socket's file name in the state directory.
pub(crate) const SOCKET_FILE: &str = "notify";

/// The longest datagram read whole; a longer one is truncated by the
/// kernel, seen as such, and dropped (systemd's own limit is larger, but
/// no real notification comes near it).
pub(crate) const MAX_DATAGRAM: usize = 4096;

/// The most bytes `sun_path` holds for a path, its terminating NUL aside.
const SUN_PATH_MAX: usize = 107;

/// The children's notification socket.
pub(crate) struct NotifySocket {
    socket: tokio::net::UnixDatagram,
    /// What children get as `NOTIFY_SOCKET`: the path, or `@name` for an
    /// abstract socket.
    address: String,
}

/// One datagram read: who sent it, and its bytes.
#[derive(Debug)]
pub(crate) struct Datagram {
    /// The sender's pid, from `SCM_CREDENTIALS` (the kernel's word, not the
    /// sender's); `None` if the kernel attached none.
    pub(crate) pid: Option<i32>,
    /// Whether it was longer than [`MAX_DATAGRAM`] (then `len` is its true
    /// length and only the first bytes are in the buffer).
    pub(crate) truncated: bool,
    /// Its length.
    pub(crate) len: usize,
}

impl NotifySocket {
    /// Binds `DIR/notify` (replacing a stale socket left there), or, when
    /// that path is too long for `sun_path`, the abstract name
    /// `@ncolony-notify-PID` (said in a log line). Must be called inside
    /// the event loop's runtime.
    pub(crate) fn bind(dir: &Path) -> io::Result<Self> {
        // Children run in other directories, and clients take only an
        // absolute path (or an abstract name).
        let path = std::path::absolute(dir)?.join(SOCKET_FILE);
        let (std_socket, address) = if path.as_os_str().len() <= SUN_PATH_MAX {
            // Only a dead socket is ever replaced (a monitor's that is gone):
            // anything else there is not ours, and a live one is another
            // monitor's on the same state directory.
            if let Ok(meta) = std::fs::symlink_metadata(&path)
                && meta.file_type().is_socket()
            {
                match UnixDatagram::unbound()?.connect(&path) {
                    Ok(()) => {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            "another monitor listens there",
                        ));
                    }
                    Err(_) => std::fs::remove_file(&path)?,
                }
            }
            let socket = UnixDatagram::bind(&path)?;
            // Children may run as any user; the sender check is the
            // credentials, not the file's mode.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
            (socket, path.display().to_string())
        } else {
            let name = format!("ncolony-notify-{}", std::process::id());
            tracing::info!(
                "{}: longer than the {SUN_PATH_MAX} bytes a socket path may have; \
                 the notify socket is the abstract @{name} instead",
                path.display()
            );
            let socket = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name)?)?;
            (socket, format!("@{name}"))
        };
        setsockopt(&std_socket, PassCred, &true).map_err(io::Error::from)?;
        std_socket.set_nonblocking(true)?;
        let socket = tokio::net::UnixDatagram::from_std(std_socket)?;
        Ok(NotifySocket { socket, address })
    }

    /// What children get as `NOTIFY_SOCKET`.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Waits until a datagram can be read.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads one datagram into `buf` without blocking: `Ok(None)` when
    /// there is none. File descriptors a sender passed (`FDSTORE=1`) are
    /// closed at once: the monitor keeps none.
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        let fd = self.socket.as_raw_fd();
        let read = self.socket.try_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(buf)];
            // Room for the credentials and as many fds as one datagram can
            // pass (the kernel's SCM_MAX_FD): none is ever cut off, and all
            // are closed.
            let mut cmsg = nix::cmsg_space!(nix::libc::ucred, [std::os::fd::RawFd; 253]);
            let msg = recvmsg::<UnixAddr>(
                fd,
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(io::Error::from)?;
            let mut pid = None;
            // Control data cut off anyway: no credentials to trust, so the
            // datagram is dropped (no pid).
            let Ok(cmsgs) = msg.cmsgs() else {
                return Ok(Datagram {
                    pid: None,
                    truncated: true,
                    len: msg.bytes,
                });
            };
            for c in cmsgs {
                match c {
                    ControlMessageOwned::ScmCredentials(cred) => pid = Some(cred.pid()),
                    ControlMessageOwned::ScmRights(fds) => {
                        for raw in fds {
                            // SAFETY: the kernel just installed this fd for
                            // us, and nothing else refers to it.
                            drop(unsafe { OwnedFd::from_raw_fd(raw) });
                        }
                    }
                    _ => {}
                }
            }
            Ok(Datagram {
                pid,
                truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
                len: msg.bytes,
            })
        });
        match read {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One assignment of a datagram the monitor acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Word {
    /// `READY=1`, `STATUS=`, `WATCHDOG=1`, `STOPPING=1`, `RELOADING=1`.
    Notice(Notice),
    /// `MAINPID=N`.
    MainPid(i32),
}

/// The longest `STATUS=` text kept (more is cut at a character boundary).
pub(crate) const MAX_STATUS: usize = 512;

/// What a datagram says: its newline-separated `KEY=VALUE` assignments, in
/// order. Assignments the monitor has no use for (`ERRNO=`,
/// `EXTEND_TIMEOUT_USEC=`, `FDSTORE=1`, `WATCHDOG=trigger`, ...) are
/// skipped; a datagram that is not UTF-8 or has a line without `=` is
/// malformed (`Err`, naming why) and none of it applies.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Word>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    let mut words = Vec::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("{:?} is not KEY=VALUE", shorten(line, 40)));
        };
        let word = match (key, value) {
            ("READY", "1") => Word::Notice(Notice::Ready),
            ("WATCHDOG", "1") => Word::Notice(Notice::Watchdog),
            ("STOPPING", "1") => Word::Notice(Notice::Stopping),
            ("RELOADING", "1") => Word::Notice(Notice::Reloading),
            ("STATUS", text) => Word::Notice(Notice::Status(shorten(text, MAX_STATUS).to_owned())),
            ("MAINPID", n) => match n.parse::<i32>() {
                Ok(pid) if pid > 0 => Word::MainPid(pid),
                _ => return Err(format!("MAINPID={:?} is not a pid", shorten(n, 20))),
            },
            _ => continue,
        };
        words.push(word);
    }
    Ok(words)
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn shorten(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The monitor's own notifications to the service manager that started it
/// (systemd's `Type=notify`): sent without blocking; a failure is logged
/// once.
pub(crate) struct SdNotify {
    socket: UnixDatagram,
    address: SocketAddr,
    shown: String,
    failed: bool,
}

impl SdNotify {
    /// The sender for `NOTIFY_SOCKET`'s value (a path, or `@name` for an
    /// abstract socket); `None`, logged, for anything else.
    pub(crate) fn new(value: &str) -> Option<Self> {
        let address = if let Some(name) = value.strip_prefix('@') {
            SocketAddr::from_abstract_name(name)
        } else if value.starts_with('/') {
            SocketAddr::from_pathname(value)
        } else {
            tracing::warn!(
                "NOTIFY_SOCKET={value:?}: not a socket path or @name; \
                 the service manager is not told when the colony is ready"
            );
            return None;
        };
        let made = address.and_then(|address| {
            let socket = UnixDatagram::unbound()?;
            socket.set_nonblocking(true)?;
            Ok((socket, address))
        });
        match made {
            Ok((socket, address)) => Some(SdNotify {
                socket,
                address,
                shown: value.to_owned(),
                failed: false,
            }),
            Err(e) => {
                tracing::warn!(
                    "NOTIFY_SOCKET={value:?}: {e}; the service manager is not told \
                     when the colony is ready"
                );
                None
            }
        }
    }

    /// Sends one datagram (`READY=1`, `STATUS=...`); never waits.
    pub(crate) fn send(&mut self, text: &str) {
        match self.socket.send_to_addr(text.as_bytes(), &self.address) {
            Ok(_) => self.failed = false,
            Err(e) => {
                if !self.failed {
                    tracing::warn!("NOTIFY_SOCKET={}: sending {text:?}: {e}", self.shown);
                }
                self.failed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on a runtime with I/O, as the monitor's loop is.
    fn on_runtime(test: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime")
            .block_on(test);
    }

    #[test]
    fn datagrams_are_parsed_in_order_skipping_what_is_not_used() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=up: 3 workers\nERRNO=0\nMAINPID=42\nWATCHDOG=1\n"),
            Ok(vec![
                Word::Notice(Notice::Ready),
                Word::Notice(Notice::Status("up: 3 workers".into())),
                Word::MainPid(42),
                Word::Notice(Notice::Watchdog),
            ])
        );
        assert_eq!(
            parse(b"STOPPING=1\nRELOADING=1"),
            Ok(vec![
                Word::Notice(Notice::Stopping),
                Word::Notice(Notice::Reloading)
            ])
        );
        // READY=0 or WATCHDOG=trigger are not these notices.
        assert_eq!(parse(b"READY=0\nWATCHDOG=trigger"), Ok(vec![]));
        assert!(parse(b"READY").is_err());
        assert!(parse(b"READY=1\n\xff").is_err());
        assert!(parse(b"MAINPID=-3").is_err());
        let long = format!("STATUS={}", "\u{e9}".repeat(MAX_STATUS));
        match parse(long.as_bytes()).expect("valid").as_slice() {
            [Word::Notice(Notice::Status(s))] => assert!(s.len() <= MAX_STATUS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_relative_state_directory_still_gives_an_absolute_address() {
        on_runtime(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let cwd = std::env::current_dir().expect("cwd");
            let up = "../".repeat(cwd.components().count() - 1);
            let relative = Path::new(&up).join(dir.path().strip_prefix("/").expect("absolute"));
            assert!(relative.is_relative());
            let socket = NotifySocket::bind(&relative).expect("bind");
            assert!(socket.address().starts_with('/'), "{}", socket.address());
        });
    }

    #[test]
    fn a_dead_socket_is_replaced_and_a_live_one_left_alone() {
        on_runtime(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let first = NotifySocket::bind(dir.path()).expect("bind");
            let error = NotifySocket::bind(dir.path()).err().map(|e| e.kind());
            assert_eq!(error, Some(io::ErrorKind::AddrInUse));
            // The first still hears its children.
            let client = UnixDatagram::unbound().expect("client");
            client.send_to(b"READY=1", first.address()).expect("send");
            drop(first);
            // Gone, its file left behind: the next monitor takes the path.
            assert!(dir.path().join(SOCKET_FILE).exists());
            NotifySocket::bind(dir.path()).expect("a dead socket is replaced");
        });
    }

    #[test]
    fn passed_fds_are_all_closed_however_many() {
        use nix::sys::socket::{ControlMessage, sendmsg};
        on_runtime(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let socket = NotifySocket::bind(dir.path()).expect("bind");
            let client = UnixDatagram::unbound().expect("client");
            // Fds of a file no other test opens, counted by what they name.
            let passed = dir.path().join("passed");
            std::fs::write(&passed, "").expect("write");
            let files: Vec<std::fs::File> = (0..200)
                .map(|_| std::fs::File::open(&passed).expect("open"))
                .collect();
            let fds: Vec<std::os::fd::RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
            let open_fds = || {
                std::fs::read_dir("/proc/self/fd")
                    .expect("fds")
                    .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .filter(|target| *target == passed)
                    .count()
            };
            let before = open_fds();
            assert_eq!(before, 200);
            let addr = UnixAddr::new(dir.path().join(SOCKET_FILE).as_path()).expect("address");
            for _ in 0..5 {
                sendmsg(
                    client.as_raw_fd(),
                    &[std::io::IoSlice::new(b"READY=1")],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::empty(),
                    Some(&addr),
                )
                .expect("sendmsg");
            }
            let mut buf = vec![0; MAX_DATAGRAM];
            socket.readable().await.expect("readable");
            for _ in 0..5 {
                let d = socket
                    .try_recv(&mut buf)
                    .expect("recv")
                    .expect("a datagram");
                assert_eq!(&buf[..d.len], b"READY=1");
            }
            assert_eq!(open_fds(), before, "passed fds left open");
        });
    }

    #[test]
    fn a_datagram_carries_its_senders_pid_and_is_truncated_past_the_bound() {
        on_runtime(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let socket = NotifySocket::bind(dir.path()).expect("bind");
            let client = UnixDatagram::unbound().expect("client");
            client.send_to(b"READY=1", socket.address()).expect("send");
            client
                .send_to(&vec![b'x'; MAX_DATAGRAM + 10], socket.address())
                .expect("send");
            let mut buf = vec![0; MAX_DATAGRAM];
            socket.readable().await.expect("readable");
            let d = socket.try_recv(&mut buf).expect("recv").expect("one");
            assert_eq!(d.pid, Some(std::process::id() as i32));
            assert_eq!(&buf[..d.len], b"READY=1");
            let d = socket.try_recv(&mut buf).expect("recv").expect("two");
            assert!(d.truncated);
            assert!(socket.try_recv(&mut buf).expect("recv").is_none());
        });
    }

    #[test]
    fn a_long_state_directory_falls_back_to_an_abstract_socket() {
        on_runtime(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let deep = dir.path().join("d".repeat(120));
            std::fs::create_dir(&deep).expect("mkdir");
            let socket = NotifySocket::bind(&deep).expect("bind");
            assert!(socket.address().starts_with("@ncolony-notify-"));
            let mut sender = SdNotify::new(socket.address()).expect("sender");
            sender.send("READY=1");
            let mut buf = vec![0; MAX_DATAGRAM];
            socket.readable().await.expect("readable");
            let d = socket.try_recv(&mut buf).expect("recv").expect("one");
            assert_eq!(&buf[..d.len], b"READY=1");
        });
    }
}
