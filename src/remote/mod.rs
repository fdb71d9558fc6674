//! `watch`: the dashboard fed by a remote `serve` instead of a local
//! listener.
//!
//! [`RemoteApi`] carries out the action keys through the server's HTTP API
//! (`POST /api/instances/{id}/register`, `…/status`, …), so the instance
//! tokens never leave the server. [`spawn_feed`] follows the server's
//! Server-Sent Events stream (`GET /api/events`) and turns it into the same
//! [`Msg`](crate::app::Msg)s a local dashboard gets: [`Msg::Snapshot`](crate::app::Msg::Snapshot), [`Msg::Webhook`](crate::app::Msg::Webhook),
//! [`Msg::Row`](crate::app::Msg::Row), and [`Msg::Link`](crate::app::Msg::Link) for the state of the link itself.
//!
//! When the stream is lost the feed reconnects by itself, with exponential
//! backoff and jitter, and resumes with `Last-Event-ID` set to the `seq` of
//! the last event it received: the server first sends every stored event
//! after it, then a snapshot, so nothing sent while the link was down is
//! missed.
//!
//! The API token travels only in the `Authorization` header; it is kept as a
//! [`Secret`](crate::model::Secret) and a sensitive header value, and never appears in an error,
//! a log line or the screen.

mod client;
mod connect;
mod feed;
mod sse;

use std::time::Duration;

pub use client::RemoteApi;
pub use feed::{backoff, spawn_feed};
pub use sse::{SseError, SseEvent, SseParser};

/// Timeout of one API call, and of connecting to the event stream.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The stream is taken for dead after this long without a byte (the server
/// sends keep-alive comments far more often).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// First delay of the reconnection backoff.
pub const RETRY_BASE: Duration = Duration::from_millis(500);
/// Longest delay between two reconnection attempts.
pub const RETRY_CAP: Duration = Duration::from_secs(10);
/// Delay between attempts the server refused (401, 403, 404, …): retried,
/// but slowly, since waiting rarely fixes them.
pub const REFUSED_RETRY: Duration = Duration::from_secs(30);
/// A connection that delivered its snapshot and lasted this long was
/// healthy: when it ends, the feed tries again at once.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(1);
/// Largest event the stream may send (a snapshot of a very large fleet).
pub const MAX_EVENT_BYTES: usize = 64 << 20;
