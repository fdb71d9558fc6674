//! The leader: the one replica that carries out side effects (polling
//! Z-API, the alert commands, discovery). It holds a key in a KV bucket
//! whose entries expire [`LEASE_TTL`] after they were written, and writes it
//! again every [`RENEW_EVERY`], each time on the revision it wrote last
//! (a compare-and-set: two replicas never both renew one lease). A replica
//! that is not the leader tries to create the key: that succeeds only once
//! it has expired or been released. A leader that cannot renew stops acting
//! before its lease can have expired on the servers, so two leaders never
//! act at once; when it dies, another takes over within about the TTL.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{ClusterConfig, ClusterError};
use crate::metrics::Metrics;

/// How long a lease lives without a renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// How often the leader renews it (and a follower tries to take it).
pub const RENEW_EVERY: Duration = Duration::from_millis(1000);

/// The key of the lease in its bucket.
const KEY: &str = "leader";

/// The lease's bucket (history 1, entries expiring after [`LEASE_TTL`],
/// the stream's replicas), created if missing.
pub async fn bucket(
    js: &jetstream::Context,
    config: &ClusterConfig,
) -> Result<kv::Store, ClusterError> {
    super::kv_bucket(js, &config.lease_bucket(), config.replicas, Some(LEASE_TTL)).await
}

/// This replica's name in the lease: the host and process, and a random
/// part so a restarted process is another holder.
pub fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// A running election: whether this replica leads, as it changes.
pub struct Lease {
    leader: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Lease {
    /// Starts taking part in the election under `holder`.
    pub fn spawn(store: kv::Store, holder: String, metrics: Arc<Metrics>) -> Lease {
        let (leader_tx, leader) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(store, holder, metrics, leader_tx, stop_rx));
        Lease { leader, stop, task }
    }

    /// True while this replica is the leader.
    pub fn leader(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }

    /// Stops acting and releases the lease (if held), so another replica
    /// takes over at once rather than after the TTL.
    pub async fn release(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// What this replica holds: the revision it wrote and when it wrote it.
#[derive(Clone, Copy)]
struct Held {
    revision: u64,
    since: Instant,
}

async fn run(
    store: kv::Store,
    holder: String,
    metrics: Arc<Metrics>,
    leader: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut held: Option<Held> = None;
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        held = round(&store, &holder, held).await;
        let leads = held.is_some();
        if *leader.borrow() != leads {
            if leads {
                tracing::info!(holder = %holder, "cluster: this replica is the leader");
            } else {
                tracing::warn!(holder = %holder, "cluster: this replica is no longer the leader");
            }
            metrics.cluster_leader(leads);
            leader.send_replace(leads);
        }
    }
    leader.send_replace(false);
    metrics.cluster_leader(false);
    if let Some(h) = held {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            store.delete_expect_revision(KEY, Some(h.revision)),
        )
        .await;
    }
}

/// One round: renew what is held, or try to take the lease. What is held
/// afterwards; a lease that could not be renewed is given up once it may
/// have expired (a margin of one renewal before the TTL).
async fn round(store: &kv::Store, holder: &str, held: Option<Held>) -> Option<Held> {
    let sent = Instant::now();
    let value = holder.as_bytes().to_vec().into();
    match held {
        Some(h) => match store.update(KEY, value, h.revision).await {
            Ok(revision) => Some(Held {
                revision,
                since: sent,
            }),
            // a renewal that timed out may have been written after all
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                match store.entry(KEY).await {
                    Ok(Some(entry))
                        if entry.value == holder.as_bytes()
                            && entry.operation == kv::Operation::Put =>
                    {
                        Some(Held {
                            revision: entry.revision,
                            since: h.since,
                        })
                    }
                    _ => None,
                }
            }
            Err(e) => {
                tracing::warn!("cluster: cannot renew the leader lease: {e}");
                (h.since.elapsed() + RENEW_EVERY < LEASE_TTL).then_some(h)
            }
        },
        None => match store.create(KEY, value).await {
            Ok(revision) => Some(Held {
                revision,
                since: sent,
            }),
            Err(_) => None,
        },
    }
}
