//! `ncolony monitor`: the OS shell around the pure core
//! ([`ncolony_core::monitor`]). One thread, one event loop that turns signals,
//! directory events, child exits and timer expiries into core inputs and
//! carries out the core's actions; its command line, pid files, state
//! directory, watches, the stopping of strays and the metrics endpoint each in
//! their own module.
//! Reading the directories is [`crate::dirs`]'s job and running children
//! [`crate::process`]'s, both shared with the side programs.

mod args;
mod event_loop;
mod holds;
mod logs;
mod metrics;
mod pidfiles;
mod publish;
mod readiness;
mod state;
mod strays;
mod systemd;
mod watch;

pub use args::MonitorArgs;
pub use event_loop::run;
