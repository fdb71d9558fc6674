//! The headless service: the hub that owns its fleet ([`hub`]), the HTTP
//! API and its event stream, and the metrics with their exposition.

pub mod api;
pub mod events;
pub mod exposition;
pub mod hub;
pub mod metrics;
