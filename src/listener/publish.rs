//! Where an accepted webhook goes when the log is not this process's own:
//! a [`Publish`] holds it elsewhere (with `[cluster]`, a JetStream stream,
//! see `crate::cluster`) before the listener answers 200. The listener
//! knows only this trait, so it does not depend on the engine behind it.

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::parse::Route;
use crate::model::InstanceId;

/// One accepted webhook, as the listener took it: what a consumer needs to
/// parse it again exactly as the listener did
/// ([`parse_webhook`](super::parse::parse_webhook) of `body`, `route`,
/// `received`).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub instance_id: InstanceId,
    pub route: Route,
    pub received: DateTime<Utc>,
    /// The body's fingerprint ([`crate::store::fingerprint`]) when the body
    /// has its own `momment`, so a retry can be told from a new event.
    pub fingerprint: Option<u64>,
    /// The body, byte for byte.
    pub body: Bytes,
}

/// Holds accepted webhooks somewhere durable before they are answered.
pub trait Publish: Send + Sync + 'static {
    /// Resolves once `msg` is held (200), or with why not (503: the sender
    /// retries). Never waits longer than the implementation's own timeout.
    fn publish(&self, msg: Outgoing) -> BoxFuture<'static, Result<(), String>>;

    /// Why webhooks cannot be held right now, if they cannot: `/healthz`
    /// answers 503 with it, so a load balancer routes elsewhere.
    fn unhealthy(&self) -> Option<String>;
}

/// The name of `route` in a published message's headers.
pub fn route_name(route: Route) -> &'static str {
    match route {
        Route::Disconnected => "disconnected",
        Route::Connected => "connected",
        Route::Any => "any",
    }
}

/// The route named `name` by [`route_name`].
pub fn route_named(name: &str) -> Option<Route> {
    match name {
        "disconnected" => Some(Route::Disconnected),
        "connected" => Some(Route::Connected),
        "any" => Some(Route::Any),
        _ => None,
    }
}
