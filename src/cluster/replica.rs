//! One `serve` replica in the cluster, as `serve` wires it: joined, its
//! log brought up to the stream, the stream followed into the log, and its
//! part in the leader election.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::lease::{self, Lease};
use super::relay_cursor::RelayCursors;
use super::{Cluster, ClusterConfig, ClusterError, consume};
use crate::listener::publish::Publish;
use crate::metrics::Metrics;
use crate::relay::Gate;
use crate::store::EventLog;

/// A joined replica taking part in the election.
pub struct Replica {
    cluster: Cluster,
    lease: Lease,
    /// Where the leader tells the followers what it saw.
    fleet: async_nats::jetstream::kv::Store,
    retention_days: u32,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Connects, finds or creates the stream and the lease's bucket, and
    /// starts taking part in the election. Its metrics have the cluster's
    /// series.
    pub async fn join(
        config: &ClusterConfig,
        retention_days: u32,
    ) -> Result<Replica, ClusterError> {
        let metrics = Arc::new(Metrics::new().with_cluster());
        let cluster = Cluster::join(config, retention_days, metrics).await?;
        let bucket = cluster.lease_bucket().await?;
        let fleet = cluster.fleet_bucket().await?;
        let holder = lease::holder_name();
        tracing::info!(stream = cluster.stream_name(), holder = %holder, "cluster: joined");
        let lease = Lease::spawn(bucket, holder, Arc::clone(cluster.metrics()));
        Ok(Replica {
            cluster,
            lease,
            fleet,
            retention_days,
        })
    }

    /// The metrics (with the cluster's series).
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(self.cluster.metrics())
    }

    /// True while this replica leads.
    pub fn leader(&self) -> watch::Receiver<bool> {
        self.lease.leader()
    }

    /// The hub's link to the other replicas: what it tells while it leads,
    /// what the leader told (see [`super::share`]).
    pub fn sharing(&self) -> crate::fleet::shared::ClusterLink {
        super::share::spawn(self.fleet.clone())
    }

    /// What makes the relay deliver on the leader only, from the cursors
    /// the leaders share.
    pub fn relay_gate(&self) -> Gate {
        Gate {
            active: self.leader(),
            shared: Arc::new(RelayCursors::new(&self.cluster)),
        }
    }

    /// Why webhooks cannot be held now, as it changes (`None`: they can).
    pub fn health(&self) -> watch::Receiver<Option<String>> {
        self.cluster.health()
    }

    /// The listener's publisher.
    pub fn publisher(&self) -> Arc<dyn Publish> {
        self.cluster.publisher()
    }

    /// Copies what the stream holds beyond the log in `log_dir` into it
    /// (before the log is replayed and opened for good), with their bodies
    /// when `bodies` (the relay's targets need them).
    pub async fn catch_up(&self, log_dir: &Path, bodies: bool) -> Result<u64, ClusterError> {
        let copied = consume::catch_up(
            self.cluster.stream(),
            self.cluster.stream_name(),
            log_dir,
            self.retention_days,
            bodies,
        )
        .await?;
        tracing::info!(copied, "cluster: the log holds the stream");
        Ok(copied)
    }

    /// Follows the stream into `log` from after its last record.
    pub fn follow(&self, log: &EventLog) -> JoinHandle<()> {
        consume::follow(
            self.cluster.stream().clone(),
            log.clone(),
            log.stats().last_seq,
            self.cluster.reconnects(),
        )
    }

    /// Stops leading and releases the lease, so another replica takes over
    /// at once rather than after the TTL.
    pub async fn leave(self) {
        self.lease.release().await;
    }
}
