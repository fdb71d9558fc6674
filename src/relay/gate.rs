//! When the relay may deliver, for `serve` replicas of one `[cluster]`:
//! only the leader delivers, and the targets' cursors are shared so that a
//! new leader goes on where the old one stopped.
//!
//! The relay knows neither NATS nor the election: it is handed a
//! [`Gate`], a `watch` that says whether this replica leads and a
//! [`Shared`] store (the cluster's KV bucket,
//! `crate::cluster::relay_cursor`), which also holds the targets adopted
//! on any replica. Without a gate (no `[cluster]`) every target always
//! delivers, from its file cursor alone, and adopted targets are this
//! process's.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::watch;

use super::adopt::Adopted;

/// What the replicas share: the targets' cursors (what the leader
/// delivered up to) and the adopted targets. The relay bounds every call
/// (`bounded`).
pub trait Shared: Send + Sync + 'static {
    /// Target `target`'s shared cursor, `None` when none was saved yet.
    fn load(&self, target: &str) -> BoxFuture<'static, Result<Option<u64>, String>>;

    /// Saves target `target`'s cursor: every event up to `after` is
    /// delivered (or dead).
    fn save(&self, target: &str, after: u64) -> BoxFuture<'static, Result<(), String>>;

    /// The targets adopted on any replica, `None` when none were shared.
    fn load_adopted(&self) -> BoxFuture<'static, Result<Option<Vec<Adopted>>, String>>;

    /// Replaces the adopted targets every replica delivers to.
    fn save_adopted(&self, all: Vec<Adopted>) -> BoxFuture<'static, Result<(), String>>;
}

/// What makes the relay deliver on one replica only.
#[derive(Clone)]
pub struct Gate {
    /// True while this replica leads: its targets deliver only then.
    pub active: watch::Receiver<bool>,
    /// The shared cursors, read on becoming the leader, written as the
    /// file cursors are; and the adopted targets.
    pub shared: Arc<dyn Shared>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("active", &*self.active.borrow())
            .finish_non_exhaustive()
    }
}

/// How long one read or write of what is shared may take.
const SHARED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `call`, given up after [`SHARED_TIMEOUT`].
pub(super) async fn bounded<T>(call: BoxFuture<'static, Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(SHARED_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

/// Where a target starts delivering when its replica becomes the leader:
/// the later of its own saved cursor (`file`) and the shared one; with
/// neither, the end of the log (`end`), as a new target without
/// `[cluster]`.
pub(super) fn leading_cursor(file: Option<u64>, shared: Option<u64>, end: u64) -> u64 {
    match (file, shared) {
        (Some(file), Some(shared)) => file.max(shared),
        (Some(at), None) | (None, Some(at)) => at,
        (None, None) => end,
    }
}

/// Whether the gate says "lead" after its next change; pending forever
/// without a gate. An election that ended (its sender dropped: the replica
/// is stopping) leaves the gate `None` and says "stand by".
pub(super) async fn changed(gate: &mut Option<watch::Receiver<bool>>) -> bool {
    let Some(rx) = gate else {
        return std::future::pending().await;
    };
    match rx.changed().await {
        Ok(()) => *rx.borrow_and_update(),
        Err(_) => {
            *gate = None;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_leader_starts_from_the_later_cursor() {
        assert_eq!(leading_cursor(Some(5), Some(9), 20), 9);
        assert_eq!(leading_cursor(Some(12), Some(9), 20), 12);
        assert_eq!(leading_cursor(None, Some(9), 20), 9, "the shared one");
        assert_eq!(leading_cursor(Some(5), None, 20), 5, "its own");
        assert_eq!(leading_cursor(None, None, 20), 20, "the end of the log");
    }

    #[tokio::test]
    async fn an_ended_election_stands_by_for_good() {
        let (tx, rx) = watch::channel(false);
        let mut gate = Some(rx);
        tx.send_replace(true);
        assert!(changed(&mut gate).await);
        drop(tx);
        assert!(!changed(&mut gate).await);
        assert!(gate.is_none());
    }
}
