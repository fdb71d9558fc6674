//! The domain core: the instances of the fleet and what is known of each
//! ([`Instance`] and its checks), whether each is healthy ([`health`]), its
//! connection statistics ([`stats`]) and when to poll it ([`poll`]).
//!
//! Pure code: no terminal, no HTTP, no async runtime; the screen
//! (`app`) and the service (`hub`) both build on it.

pub mod health;
mod instance;
pub mod poll;
pub mod stats;

pub(crate) use instance::Tally;
pub use instance::{
    ActionOutcome, HookCheck, Hooks, Instance, InstanceAction, Outcome, Registration, Source,
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
