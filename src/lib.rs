//! ncolony: a process supervisor for a colony of long-lived processes,
//! reconfigured at run time through two directories, compatible with the
//! original Python/Twisted NColony.
//!
//! The pure supervision core lives in the `ncolony-core` crate (re-exported
//! here as [`core`]): no syscalls, no clock. Everything else here talks to
//! the OS: [`monitor`] is the shell around the core; [`ctl`] writes the
//! directories; the side programs ([`beatcheck`], [`httpcheck`],
//! [`scheduler`], [`heart`]) run under the monitor, one concern each. They
//! share the directory readers (`dirs`), the child-process toolkit
//! (`process`), the checkers' common parts (`checker`), atomic file writes
//! (`atomic`) and the one output path ([`logging`]). See ARCHITECTURE.md.

pub use ncolony_core as core;

mod args;
mod atomic;
mod checker;
mod clock;
mod dirs;
mod http;
mod logfiles;
pub mod logging;
mod process;
mod statefile;

pub mod beatcheck;
pub mod ctl;
pub mod heart;
pub mod httpcheck;
pub mod monitor;
pub mod scheduler;
