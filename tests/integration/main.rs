//! Integration tests: one test binary that drives the built `ncolony`.

mod support;

mod core_rules;
mod ctl;
mod interop;
mod monitor;
mod side;
mod strays;
