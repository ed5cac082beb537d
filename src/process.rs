//! Running child processes, shared by the monitor and the scheduler:
//! spawning (environment, uid/gid, process group, signal state), signalling
//! process groups, the one reaper, relaying output line by line, and
//! reading `/proc`.

pub(crate) mod envfile;
pub(crate) mod notify;
pub(crate) mod output;
pub(crate) mod procfs;
pub(crate) mod reap;
pub(crate) mod signal;
pub(crate) mod spawn;
