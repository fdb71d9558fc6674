//! The domain core: the instances of the fleet and what is known of each
//! ([`Instance`] and its checks), whether each is healthy ([`health`]), its
//! connection statistics ([`stats`]) and when to poll it ([`poll`]).
//!
//! Pure code: no terminal, no HTTP, no async runtime; the screen
//! (`app`) and the service (`hub`) both build on it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::InstanceId;
use stats::PerMinute;

mod apply;
pub mod discovery;
pub mod health;
mod instance;
pub mod poll;
pub mod shared;
pub mod stats;

pub use apply::{Applied, Snapshot, StatusApplied, seen_change_of};
pub use discovery::{ListedInstance, Listing, ListingApplied, ListingMark};
pub(crate) use instance::Tally;
pub use instance::{
    ActionOutcome, CallResult, HookCheck, Hooks, Instance, InstanceAction, Registration, Source,
    StatusCheck,
};

/// How many events each instance keeps in memory for its history: the
/// newest few, for a quick look. The whole history stays in the event log and
/// is read from there on demand (`store::history`), so memory stays
/// bounded whatever the fleet and the log (10,000 instances × 8 events is about
/// 12 MB; 100 each was over 150 MB).
pub const HISTORY_LEN: usize = 8;

/// Days of state changes kept in memory per instance (uptime over 7 days).
pub const STATS_WINDOW_DAYS: i64 = 7;

/// Every instance known, and what is counted over all of them.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// In the order they became known (configured ones first).
    pub instances: Vec<Instance>,
    /// Where each id is in `instances`.
    pub(crate) index: HashMap<InstanceId, usize>,
    /// Instances per state, kept as states change.
    pub(crate) tally: Tally,
    /// Webhook events applied.
    pub events: u64,
    pub disconnects_per_minute: PerMinute,
    /// The minute statistics were last pruned in.
    pub(crate) pruned_minute: i64,
    /// Changes older than the statistics window were recorded since the
    /// last pruning.
    pub(crate) stats_unsettled: bool,
    /// The `[[accounts]]`, in config order, and how their discovery goes
    /// (empty: one implicit account).
    pub accounts: Vec<discovery::Account>,
}

impl Fleet {
    /// No instance yet, at `now`.
    pub fn new(now: DateTime<Utc>) -> Fleet {
        Fleet {
            instances: Vec::new(),
            index: HashMap::new(),
            tally: Tally::default(),
            events: 0,
            disconnects_per_minute: PerMinute::default(),
            pruned_minute: now.timestamp().div_euclid(60),
            stats_unsettled: false,
            accounts: Vec::new(),
        }
    }

    /// Adds an instance; its position in `instances`.
    pub fn insert(&mut self, inst: Instance) -> usize {
        let i = self.instances.len();
        self.tally.add(inst.state);
        self.index.insert(inst.id.clone(), i);
        self.instances.push(inst);
        i
    }

    /// The instance with this id.
    pub fn get(&self, id: &InstanceId) -> Option<&Instance> {
        self.index.get(id).map(|&i| &self.instances[i])
    }

    /// (connected, disconnected, unknown); O(1), kept as states change.
    pub fn counts(&self) -> (usize, usize, usize) {
        debug_assert_eq!(self.tally, Tally::of(&self.instances), "tally out of step");
        let [c, d, u] = self.tally.counts();
        (c, d, u)
    }
}
