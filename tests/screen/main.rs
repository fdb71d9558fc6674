//! The screen: what the view draws, as insta snapshots and cell styles.
//!
//! One test binary with modules (each binary links the crate again, so a few
//! binaries with modules build faster than one per file). Filter by module:
//! `cargo test --test screen render::`.

mod accounts;
mod connect;
mod failures;
mod render;
mod sizes;
