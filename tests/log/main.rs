//! The durable event log and what feeds it: the store against real files,
//! durability across concurrency and kill -9, and property tests of the
//! webhook body parser.
//!
//! One test binary with modules; filter by module, e.g.
//! `cargo test --test log durability::`.

#[path = "../common/mod.rs"]
mod common;

mod durability;
mod parser_props;
mod report;
mod store;
