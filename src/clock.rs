//! Reading the clocks the side programs' engines are fed (see
//! [`ncolony_core::clock`]): the one place the scheduler and the checkers
//! read both at once.

use std::time::{Instant, SystemTime};

use ncolony_core::clock::Now;

/// Both clocks, read now.
pub(crate) fn read_clocks() -> Now {
    Now::new(Instant::now(), SystemTime::now())
}
