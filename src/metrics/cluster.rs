//! The series of `[cluster]` (several `serve` replicas on one NATS
//! JetStream stream): registered only when the config has one, so a single
//! `serve` exposes exactly what it did before.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `zapi_cluster_connected` | gauge | 1 while this replica is connected to NATS, else 0 |
//! | `zapi_cluster_publish_failures_total` | counter | webhooks answered 503 because the stream did not hold them (publish failed or timed out, or NATS unreachable) |
//! | `zapi_cluster_leader` | gauge | 1 while this replica holds the leader lease (it polls Z-API, runs alert commands and discovery) |

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The three series.
#[derive(Debug, Default, Clone)]
pub(super) struct ClusterSeries {
    pub(super) connected: Gauge,
    pub(super) publish_failures: Counter,
    pub(super) leader: Gauge,
}

impl ClusterSeries {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let series = Self::default();
        registry.register(
            "zapi_cluster_connected",
            "Whether this replica is connected to NATS (1) or not (0)",
            series.connected.clone(),
        );
        registry.register(
            "zapi_cluster_publish_failures",
            "Webhooks answered 503 because the JetStream stream did not hold them",
            series.publish_failures.clone(),
        );
        registry.register(
            "zapi_cluster_leader",
            "Whether this replica holds the leader lease (1) or not (0)",
            series.leader.clone(),
        );
        series
    }
}
