//! Reading the two directories that anyone may write, shared by the monitor,
//! the checkers and `ctl`: the config directory as last scanned
//! ([`config`]), the messages directory's pending requests ([`messages`]),
//! the careful reading of one entry that both rest on ([`entry`]), and the
//! one directory listing ([`listing`]).

pub(crate) mod config;
pub(crate) mod entry;
pub(crate) mod listing;
pub(crate) mod messages;
