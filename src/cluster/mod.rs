//! `[cluster]`: several `serve` replicas sharing one NATS JetStream stream
//! (issue #17). Without a `[cluster]` table none of this runs and `serve`
//! keeps its embedded log as the one source of truth.
//!
//! - [`config`]: the `[cluster]` table;
//! - [`publish`]: the listener's [`Publish`](crate::listener::publish::Publish)
//!   over JetStream: a webhook is answered 200 only once the stream holds it
//!   (its PubAck), with `Nats-Msg-Id` = the body's fingerprint so the
//!   stream's duplicate window drops Z-API's retries across replicas;
//! - [`consume`]: every replica reads the whole stream (an ordered consumer)
//!   into its own event log, each record with the stream's sequence as its
//!   `seq`: replay, history, `/api/events`' `Last-Event-ID` and the hub
//!   work on that log as on a single `serve`'s, and a `seq` means the same
//!   event on every replica;
//! - [`lease`]: the leader, the one replica that polls Z-API, runs the
//!   alert commands and discovery: a key in a KV bucket whose entries
//!   expire after [`lease::LEASE_TTL`], renewed while the leader lives;
//! - [`share`]: what only the leader sees (its `/status`, `/me` and
//!   listings' answers, how far its alerts went), told to the followers
//!   through a KV bucket, so every replica shows the same fleet and a new
//!   leader runs the alerts the old one never reached;
//! - [`relay_cursor`]: `[[forward]]` delivers on the leader only (the
//!   relay's [`Gate`](crate::relay::Gate) is the lease), and the targets'
//!   cursors live in a KV bucket so a new leader goes on where the old one
//!   stopped.
//!
//! It imports the listener's parser and trait, the relay's gate, the
//! store and the metrics;
//! nothing imports it but the config (for [`ClusterConfig`]) and `serve`'s
//! wiring.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::metrics::Metrics;

pub mod config;
pub mod consume;
pub mod lease;
pub mod publish;
pub mod relay_cursor;
pub mod replica;
pub mod share;

pub use config::ClusterConfig;

/// The subjects of the stream: `zapi.events.<instance id>`.
pub const SUBJECT_PREFIX: &str = "zapi.events";

/// How long a publish may wait for its PubAck (and a JetStream API call
/// for its answer) before the webhook is answered 503.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the first connection may take at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the cluster could not be joined at start. Never holds a password
/// or a token.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster: cannot read the NATS credentials file {path}: {reason}")]
    Credentials { path: String, reason: String },
    #[error("cluster: cannot connect to NATS at {urls}: {reason}")]
    Connect { urls: String, reason: String },
    #[error("cluster: stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
    #[error("cluster: KV bucket {bucket}: {reason}")]
    Bucket { bucket: String, reason: String },
    #[error("cluster: event log {dir}: {reason}")]
    Log { dir: String, reason: String },
}

/// A joined cluster: the connection, the stream (created if missing) and
/// the metrics that say how it goes.
#[derive(Clone)]
pub struct Cluster {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: stream::Stream,
    config: ClusterConfig,
    metrics: Arc<Metrics>,
    /// Counts the connections made again after a loss: the consumer starts
    /// over on each (from its last message) rather than wait to notice.
    reconnects: tokio::sync::watch::Receiver<u64>,
    /// Why webhooks cannot be held now (`None` while connected).
    health: tokio::sync::watch::Receiver<Option<String>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("stream", &self.config.stream)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects (at most [`CONNECT_TIMEOUT`]), and finds or creates the
    /// stream: subjects `zapi.events.>`, file storage, `replicas`, a
    /// duplicate window of [`crate::store::RETRY_WINDOW`], events kept
    /// `retention_days` (0: forever). Reconnects by itself afterwards.
    pub async fn join(
        config: &ClusterConfig,
        retention_days: u32,
        metrics: Arc<Metrics>,
    ) -> Result<Cluster, ClusterError> {
        let (reconnected, reconnects) = tokio::sync::watch::channel(0);
        let (healthy, health) = tokio::sync::watch::channel(None);
        let told = Told {
            metrics: Arc::clone(&metrics),
            reconnected,
            healthy,
        };
        let client = connect(config, told).await?;
        metrics.cluster_connected(true);
        let js = jetstream::ContextBuilder::new()
            .timeout(ACK_TIMEOUT)
            .build(client.clone());
        let stream = js
            .get_or_create_stream(stream_config(config, retention_days))
            .await
            .map_err(|e| ClusterError::Stream {
                stream: config.stream.clone(),
                reason: e.to_string(),
            })?;
        let held = stream.cached_info().config.num_replicas;
        if held != config.replicas {
            tracing::warn!(
                stream = %config.stream,
                held,
                configured = config.replicas,
                "the stream exists with another number of replicas; it is used as it is"
            );
        }
        Ok(Cluster {
            client,
            js,
            stream,
            config: config.clone(),
            metrics,
            reconnects,
            health,
        })
    }

    /// The listener's publisher over this cluster.
    pub fn publisher(&self) -> Arc<dyn crate::listener::publish::Publish> {
        Arc::new(publish::Publisher::new(
            self.js.clone(),
            self.client.clone(),
            Arc::clone(&self.metrics),
        ))
    }

    /// The stream.
    pub fn stream(&self) -> &stream::Stream {
        &self.stream
    }

    /// Why webhooks cannot be held now, as it changes (`None`: they can).
    pub fn health(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.health.clone()
    }

    /// Every new connection after a loss bumps it.
    pub fn reconnects(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reconnects.clone()
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.config.stream
    }

    /// The leader lease's KV bucket, created if missing.
    pub async fn lease_bucket(&self) -> Result<jetstream::kv::Store, ClusterError> {
        lease::bucket(&self.js, &self.config).await
    }

    /// The bucket in which the leader tells the followers what it saw,
    /// created if missing.
    pub async fn fleet_bucket(&self) -> Result<jetstream::kv::Store, ClusterError> {
        kv_bucket(
            &self.js,
            &self.config.fleet_bucket(),
            self.config.replicas,
            None,
        )
        .await
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// The connection: the credentials file if any, a short first timeout,
/// reconnects forever with a short delay, the metric kept up to date.
/// Who hears of the connection's changes: the metric, the consumer (to
/// start over), the event streams (to say it).
struct Told {
    metrics: Arc<Metrics>,
    reconnected: tokio::sync::watch::Sender<u64>,
    healthy: tokio::sync::watch::Sender<Option<String>>,
}

impl Told {
    fn connected(&self, up: bool) {
        self.metrics.cluster_connected(up);
        if up {
            self.reconnected.send_modify(|n| *n += 1);
            self.healthy.send_replace(None);
        } else {
            self.healthy.send_replace(publish::unreachable(
                &async_nats::connection::State::Disconnected,
            ));
        }
    }
}

async fn connect(config: &ClusterConfig, told: Told) -> Result<async_nats::Client, ClusterError> {
    let told = Arc::new(told);
    let mut opts = async_nats::ConnectOptions::new();
    if let Some(path) = &config.credentials {
        opts = opts
            .credentials_file(path)
            .await
            .map_err(|e| ClusterError::Credentials {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
    }
    let opts = opts
        .name("zapi-dash serve")
        .connection_timeout(CONNECT_TIMEOUT)
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(100 * u64::try_from(attempts).unwrap_or(20).min(20))
        })
        .event_callback(move |event| {
            let told = Arc::clone(&told);
            async move {
                match event {
                    async_nats::Event::Connected => {
                        told.connected(true);
                        tracing::info!("cluster: connected to NATS");
                    }
                    async_nats::Event::Disconnected | async_nats::Event::Closed => {
                        told.connected(false);
                        tracing::warn!("cluster: NATS {event}");
                    }
                    other => tracing::debug!("cluster: NATS {other}"),
                }
            }
        });
    let shown: Vec<String> = config.servers().iter().map(|u| config::shown(u)).collect();
    let urls = shown.join(",");
    let servers: Vec<async_nats::ServerAddr> = config
        .servers()
        .iter()
        .filter_map(|u| u.parse().ok())
        .collect();
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, opts.connect(servers)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(ClusterError::Connect {
            urls,
            reason: e.to_string(),
        }),
        Err(_) => Err(ClusterError::Connect {
            urls,
            reason: "timed out".into(),
        }),
    }
}

/// A KV bucket (history 1, the given replicas, entries expiring after
/// `max_age` if any), found or created. Not through the client's
/// `create_key_value`: it asks the account's info first, whose answer from
/// a NATS 2.9 server (Debian's) the client cannot read; the bucket's stream
/// is made as that call makes it.
pub async fn kv_bucket(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
    max_age: Option<Duration>,
) -> Result<jetstream::kv::Store, ClusterError> {
    let error = |reason: String| ClusterError::Bucket {
        bucket: name.to_string(),
        reason,
    };
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age: max_age.unwrap_or_default(),
        duplicate_window: max_age.unwrap_or(Duration::from_secs(120)),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(|e| error(e.to_string()))?;
    js.get_key_value(name)
        .await
        .map_err(|e| error(e.to_string()))
}

/// The stream `serve` creates when it is missing.
fn stream_config(config: &ClusterConfig, retention_days: u32) -> stream::Config {
    let max_age = match retention_days {
        0 => Duration::ZERO,
        days => Duration::from_secs(u64::from(days) * 24 * 3600),
    };
    let window = crate::store::RETRY_WINDOW
        .to_std()
        .unwrap_or(Duration::from_secs(600));
    stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{SUBJECT_PREFIX}.>")],
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: window,
        max_age,
        ..Default::default()
    }
}

/// The subject of an instance's events: `zapi.events.<id>`, every
/// character that a subject token cannot hold (`.`, `*`, `>`, whitespace,
/// anything outside printable ASCII) written `_`. The consumer does not
/// read it back: the body says the instance.
pub fn subject_of(instance_id: &str) -> String {
    let token: String = instance_id
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '.' | '*' | '>') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let token = if token.is_empty() { "_".into() } else { token };
    format!("{SUBJECT_PREFIX}.{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_hold_any_instance_id() {
        assert_eq!(subject_of("3C8A1F"), "zapi.events.3C8A1F");
        assert_eq!(subject_of("a.b *>c"), "zapi.events.a_b___c");
        assert_eq!(subject_of(""), "zapi.events._");
        assert_eq!(subject_of("ç"), "zapi.events._");
    }
}
