//! The listener's [`Publish`] over JetStream: one message per accepted
//! webhook on `zapi.events.<instance>`, its body byte for byte, with
//! `Nats-Msg-Id` (the fingerprint, when the body has its own `momment`),
//! `Zapi-Route` and `Zapi-Received` (microseconds since the epoch), so
//! every replica parses it exactly as the listener did.
//!
//! Requests publish independently: the client pipelines them on its one
//! connection, and each waits only for its own PubAck.

use std::sync::Arc;

use async_nats::connection::State;
use async_nats::jetstream;
use futures::future::BoxFuture;

use crate::listener::publish::{Outgoing, Publish, route_name};
use crate::metrics::Metrics;

/// The header naming the route the webhook came on.
pub const ROUTE_HEADER: &str = "Zapi-Route";
/// The header with the receipt time, in microseconds since the epoch.
pub const RECEIVED_HEADER: &str = "Zapi-Received";

/// Publishes to the stream; answers once it holds the message.
pub struct Publisher {
    js: jetstream::Context,
    client: async_nats::Client,
    metrics: Arc<Metrics>,
}

impl Publisher {
    pub fn new(js: jetstream::Context, client: async_nats::Client, metrics: Arc<Metrics>) -> Self {
        Self {
            js,
            client,
            metrics,
        }
    }
}

/// The reason a replica cut off from NATS gives (`/healthz`, 503s).
pub fn unreachable(state: &State) -> Option<String> {
    match state {
        State::Connected => None,
        State::Pending => Some("cluster unreachable: connecting to NATS".into()),
        State::Disconnected => Some("cluster unreachable: NATS is not connected".into()),
    }
}

impl Publish for Publisher {
    fn publish(&self, msg: Outgoing) -> BoxFuture<'static, Result<(), String>> {
        let js = self.js.clone();
        let metrics = Arc::clone(&self.metrics);
        // not connected: 503 at once, rather than a message buffered for a
        // reconnect and a wait for its PubAck's timeout
        let cut_off = unreachable(&self.client.connection_state());
        Box::pin(async move {
            if let Some(reason) = cut_off {
                metrics.cluster_publish_failed();
                return Err(reason);
            }
            let result = publish_one(&js, msg).await;
            if result.is_err() {
                metrics.cluster_publish_failed();
            }
            result
        })
    }

    fn unhealthy(&self) -> Option<String> {
        unreachable(&self.client.connection_state())
    }
}

/// One message, and the wait for its PubAck (bounded by the context's
/// timeout, [`super::ACK_TIMEOUT`]).
async fn publish_one(js: &jetstream::Context, msg: Outgoing) -> Result<(), String> {
    let mut headers = async_nats::HeaderMap::new();
    if let Some(fp) = msg.fingerprint {
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{fp:016x}").as_str(),
        );
    }
    headers.insert(ROUTE_HEADER, route_name(msg.route));
    headers.insert(
        RECEIVED_HEADER,
        msg.received.timestamp_micros().to_string().as_str(),
    );
    let subject = super::subject_of(msg.instance_id.as_str());
    let ack = js
        .publish_with_headers(subject, headers, msg.body)
        .await
        .map_err(|e| format!("cluster: publish failed: {e}"))?;
    ack.await
        .map_err(|e| format!("cluster: the stream did not confirm the event: {e}"))?;
    Ok(())
}
