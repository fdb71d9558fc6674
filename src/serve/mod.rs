//! The headless service: the hub that owns its fleet ([`hub`]), the HTTP
//! API and its event stream (the metrics are [`crate::metrics`], which the
//! listener counts into too).

pub mod api;
mod connect;
pub mod events;
mod forward;
pub mod hub;
