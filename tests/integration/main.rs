//! Integration tests: one test binary that drives the built `ncolony`.

mod support;

mod cli;
mod core_rules;
mod ctl;
mod hostile_configs;
mod hostile_messages;
mod hostile_output;
mod interop;
mod log_format;
mod log_lines;
mod logs;
mod metrics;
mod monitor;
mod order;
mod policy;
mod readiness;
mod settings;
mod side;
mod status;
mod strays;
