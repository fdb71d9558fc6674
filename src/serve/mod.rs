//! The headless service's parts over the hub (`crate::hub`, moving here):
//! the HTTP API and its event stream, and the metrics with their exposition.

pub mod api;
pub mod events;
pub mod exposition;
pub mod metrics;
