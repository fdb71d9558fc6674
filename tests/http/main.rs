//! Everything over real loopback HTTP: the webhook listener and its
//! defences, the `serve` API, the Z-API client against the simulator, the
//! operator's actions below the screen, and the built `serve` binary.
//!
//! One test binary with modules; filter by module, e.g.
//! `cargo test --test http listener_security::`.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod discovery;
mod listener;
mod listener_security;
mod operator_actions;
mod relay;
mod serve;
mod zapi_client;
