//! The headless service's parts over the hub (`crate::hub`, moving here):
//! the HTTP API and its event stream (the metrics are [`crate::metrics`]).

pub mod api;
pub mod events;
