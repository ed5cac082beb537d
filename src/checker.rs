//! What the two checkers (`beatcheck` and `httpcheck`) share: their
//! arguments ([`args`]), their view of the config directory ([`scan`]), the
//! queue of RESTART messages they send to the monitor ([`outbox`]), and the
//! loop that ties them to a checker's engine ([`run`]). Each checker holds
//! only its own engine and actions; neither imports the other.

pub(crate) mod args;
pub(crate) mod outbox;
pub(crate) mod run;
pub(crate) mod scan;
