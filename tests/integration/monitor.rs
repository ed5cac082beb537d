//! Integration tests: monitor.
