//! What the relay's replicas share (`[[forward]]` with `[cluster]`), in a
//! KV bucket of the stream (`<stream>_RELAY`, history 1, no expiry, the
//! stream's replicas):
//!
//! - one key per target (its name, [`key_of`]), the value the target's
//!   cursor in decimal. The leader writes it as it saves its file cursor;
//!   a replica that becomes the leader reads it, so it goes on where the
//!   previous leader stopped ([`crate::relay::gate`]);
//! - [`ADOPTED_KEY`], the targets adopted on any replica (JSON, as
//!   `forward/adopted.json`; their URLs may hold the receivers' tokens,
//!   readable by whoever may read the stream's bodies).
//!
//! The bucket is created when first written: a cluster that never had a
//! forward target never has one. The relay bounds every call
//! (`relay::gate::bounded`); the JetStream context bounds each request
//! ([`super::ACK_TIMEOUT`]).

use std::sync::Arc;

use async_nats::jetstream::{self, kv};
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use super::{Cluster, kv_bucket};
use crate::relay::Shared;
use crate::relay::adopt::Adopted;

/// The key of the adopted targets: a `.` no target's key holds.
pub const ADOPTED_KEY: &str = "relay.adopted";

/// The targets' cursors in the cluster's KV bucket.
#[derive(Clone)]
pub struct RelayCursors {
    inner: Arc<Inner>,
}

struct Inner {
    js: jetstream::Context,
    bucket: String,
    replicas: usize,
    store: OnceCell<kv::Store>,
}

impl RelayCursors {
    /// The cursors of `cluster`'s relay (the bucket is found or created at
    /// the first read or write).
    pub fn new(cluster: &Cluster) -> RelayCursors {
        RelayCursors {
            inner: Arc::new(Inner {
                js: cluster.js.clone(),
                bucket: cluster.config.relay_bucket(),
                replicas: cluster.config.replicas,
                store: OnceCell::new(),
            }),
        }
    }
}

impl Inner {
    async fn store(&self) -> Result<&kv::Store, String> {
        self.store
            .get_or_try_init(|| async {
                kv_bucket(&self.js, &self.bucket, self.replicas, None)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
    }

    /// The bucket if it exists: reading the adopted targets (which every
    /// replica does, with or without forward targets) never creates it.
    async fn existing(&self) -> Result<Option<&kv::Store>, String> {
        if let Some(store) = self.store.get() {
            return Ok(Some(store));
        }
        let found = self.js.get_stream(format!("KV_{}", self.bucket)).await;
        match found {
            Ok(_) => self.store().await.map(Some),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), String> {
        let store = self.store().await?;
        store
            .put(key, value.into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Whether `e` says the stream does not exist (rather than that it could
/// not be asked).
fn not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(e)
            if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// A target's key: its name with every character a KV key cannot hold
/// written `_` (target names are letters, digits, `-` and `_` already).
pub fn key_of(target: &str) -> String {
    let key: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.is_empty() { "_".into() } else { key }
}

impl Shared for RelayCursors {
    fn load(&self, target: &str) -> BoxFuture<'static, Result<Option<u64>, String>> {
        let (inner, key) = (Arc::clone(&self.inner), key_of(target));
        Box::pin(async move {
            let store = inner.store().await?;
            let value = store.get(&key).await.map_err(|e| e.to_string())?;
            let Some(value) = value else {
                return Ok(None);
            };
            let text = String::from_utf8_lossy(&value);
            text.trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("the shared cursor of {key} is not a number: {text:?}"))
        })
    }

    fn save(&self, target: &str, after: u64) -> BoxFuture<'static, Result<(), String>> {
        let (inner, key) = (Arc::clone(&self.inner), key_of(target));
        Box::pin(async move { inner.put(&key, after.to_string().into_bytes()).await })
    }

    fn load_adopted(&self) -> BoxFuture<'static, Result<Option<Vec<Adopted>>, String>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let Some(store) = inner.existing().await? else {
                return Ok(None);
            };
            let value = store.get(ADOPTED_KEY).await.map_err(|e| e.to_string())?;
            let Some(value) = value else {
                return Ok(None);
            };
            serde_json::from_slice(&value)
                .map(Some)
                .map_err(|e| format!("the shared adopted targets are not readable: {e}"))
        })
    }

    fn save_adopted(&self, all: Vec<Adopted>) -> BoxFuture<'static, Result<(), String>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let json = serde_json::to_vec(&all).map_err(|e| e.to_string())?;
            inner.put(ADOPTED_KEY, json).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_any_target_name() {
        assert_eq!(key_of("bot-1_a"), "bot-1_a");
        assert_eq!(key_of("adopted-0a1b2c3d"), "adopted-0a1b2c3d");
        assert_eq!(key_of("a.b*>c ç"), "a_b__c__");
        assert_eq!(key_of(""), "_");
    }
}
