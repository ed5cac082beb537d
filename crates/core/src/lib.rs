//! The pure core of ncolony: the on-disk formats, the directory diff, and the
//! supervision state machine with NColony's restart policy.
//!
//! Nothing here performs I/O, reads a clock or spawns a process: the shell
//! (the `ncolony` crate) feeds [`monitor::Monitor`] inputs and the current time,
//! and carries out the actions it returns. That is what makes every policy
//! decision testable deterministically with a fake clock.
#![forbid(unsafe_code)]

pub mod checks;
pub mod clock;
pub mod dirscan;
pub mod message;
pub mod monitor;
pub mod schedule;
pub mod spec;

pub use message::Message;
pub use spec::{Name, ProcSpec};
