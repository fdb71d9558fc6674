//! End to end: the built binary as operators and scripts run it: the
//! dashboard in a pseudo-terminal, `watch` against a real `serve`, and the
//! command line's exit codes.
//!
//! One test binary with modules; filter by module, e.g.
//! `cargo test --test e2e watch::`.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod connect;
mod dashboard;
mod discovery;
mod starting;
mod watch;
