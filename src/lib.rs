//! ncolony: a process supervisor for a colony of long-lived processes,
//! reconfigured at run time through two directories, compatible with the
//! original Python/Twisted NColony.
//!
//! The pure supervision core lives in the `ncolony-core` crate (re-exported
//! here as [`core`]); [`shell`] is the thin OS layer around it; [`ctl`] writes
//! the directories; the side programs ([`beatcheck`], [`httpcheck`],
//! [`scheduler`], [`heart`]) run under the monitor, one concern each.

pub use ncolony_core as core;

mod args;
mod atomic;
mod dirfile;
pub mod logging;

pub mod beatcheck;
pub mod ctl;
pub mod heart;
pub mod httpcheck;
pub mod scheduler;
pub mod shell;
