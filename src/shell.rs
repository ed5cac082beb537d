//! The OS shell around the pure core: the only place with syscalls. One
//! thread, one event loop; spawn, reap, watch, output and signals each in
//! their own module.

pub(crate) mod configdir;
mod event_loop;
mod output;
mod reap;
pub(crate) mod spawn;
mod watch;

pub use event_loop::{MonitorArgs, run};
