//! What the two checkers (`beatcheck` and `httpcheck`) share: their view of
//! the config directory ([`scan`]) and the queue of RESTART messages they
//! send to the monitor ([`outbox`]).

pub(crate) mod outbox;
pub(crate) mod scan;
