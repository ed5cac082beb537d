//! Integration tests: one test binary that drives the built `ncolony`.

mod support;

mod cli;
mod core_rules;
mod ctl;
mod interop;
mod monitor;
mod side;
