//! What the leader of a `[cluster]` saw that its followers are told: the
//! answers of the calls only the leader makes (`/status`, `/me`, the
//! accounts' listings), and how far its alert commands have gone. Plain
//! data: the hub makes and applies them, `cluster::share` carries them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Hooks, ListedInstance};
use crate::model::{InstanceId, Status};

/// The hub's ends of the cluster's sharing (`tokio::sync` channels,
/// which need no runtime).
pub struct ClusterLink {
    /// What this replica tells the others (while it leads).
    pub tell: mpsc::UnboundedSender<Observation>,
    /// What the leader told (this replica's own words among them).
    pub heard: mpsc::UnboundedReceiver<Observation>,
}

/// One thing the leader saw, as the followers apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// A `/status` answer (or why there was none).
    Status {
        id: InstanceId,
        at: DateTime<Utc>,
        result: Result<Status, String>,
    },
    /// A `/me` answer: where the instance's webhooks point.
    Hooks {
        id: InstanceId,
        at: DateTime<Utc>,
        result: Result<Hooks, String>,
    },
    /// An account's whole listing.
    Listed {
        account: String,
        at: DateTime<Utc>,
        listed: Vec<ListedInstance>,
    },
    /// Every event up to `seq` has had its alert command considered (and
    /// run where there was one) by the leader; `ran`: one ran just now, so
    /// the followers should hear of it at once.
    Alerted {
        seq: u64,
        #[serde(skip)]
        ran: bool,
    },
}

impl Observation {
    /// Equal but for when it was seen: nothing new to tell.
    pub fn same_as(&self, other: &Observation) -> bool {
        match (self, other) {
            (
                Observation::Status { id, result, .. },
                Observation::Status {
                    id: i2, result: r2, ..
                },
            ) => id == i2 && result == r2,
            (
                Observation::Hooks { id, result, .. },
                Observation::Hooks {
                    id: i2, result: r2, ..
                },
            ) => id == i2 && result == r2,
            _ => self == other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_survive_json_and_compare_without_their_time() {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let status = Observation::Status {
            id: InstanceId("A1".into()),
            at,
            result: Ok(Status {
                connected: false,
                error: Some("You are not connected.".into()),
                smartphone_connected: None,
            }),
        };
        let json = serde_json::to_string(&status).unwrap();
        let back: Observation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, status);
        let later = Observation::Status {
            id: InstanceId("A1".into()),
            at: at + chrono::Duration::seconds(30),
            result: Ok(Status {
                connected: false,
                error: Some("You are not connected.".into()),
                smartphone_connected: None,
            }),
        };
        assert!(later.same_as(&status));
        let failed = Observation::Status {
            id: InstanceId("A1".into()),
            at,
            result: Err("timed out".into()),
        };
        assert!(!failed.same_as(&status));
        let listed = Observation::Listed {
            account: "main".into(),
            at,
            listed: vec![ListedInstance {
                id: InstanceId("B2".into()),
                name: Some("Loja".into()),
                due: Some(at),
                payment_status: None,
                connected: Some(true),
                phone_connected: None,
                hooks: None,
            }],
        };
        let back: Observation =
            serde_json::from_str(&serde_json::to_string(&listed).unwrap()).unwrap();
        assert_eq!(back, listed);
        let alerted: Observation = serde_json::from_str(r#"{"kind":"alerted","seq":7}"#).unwrap();
        assert_eq!(alerted, Observation::Alerted { seq: 7, ran: false });
    }
}
