//! Integration tests: side.
