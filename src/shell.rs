//! The OS shell around the pure core: the only place with syscalls. One
//! thread, one event loop; spawn, reap, watch, output and signals each in
//! their own module.

mod args;
pub(crate) mod configdir;
mod event_loop;
mod messagesdir;
mod output;
mod pidfiles;
mod procfs;
mod reap;
pub(crate) mod spawn;
mod state;
mod strays;
mod watch;

pub use args::MonitorArgs;
pub use event_loop::run;
