//! `[cluster]`: the adopted targets are the cluster's, not one replica's.
//! An adoption (or a removal) on any replica writes the whole list where
//! every replica reads it ([`Shared::save_adopted`]), and each replica
//! brings its `forward/adopted.json` and its tasks in line with it every
//! [`SYNC_EVERY`]: whichever replica leads, now or later, delivers to every
//! adopted target. A target adopted on a follower starts where that
//! replica's log ends (its shared cursor), not where the leader happens to
//! be when it hears of it.

use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;

use super::adopt::{self, Adopted};
use super::gate::{Shared, bounded};
use super::{Relay, lock};
use crate::store::EventLog;

/// How often a replica reads the shared adopted targets.
pub(super) const SYNC_EVERY: Duration = Duration::from_secs(2);

/// The adopted targets as shared, or this replica's while none are (and
/// without `[cluster]`).
pub(super) async fn adopted(
    shared: Option<&dyn Shared>,
    dir: &Path,
) -> Result<Vec<Adopted>, String> {
    let Some(shared) = shared else {
        return Ok(adopt::load(dir));
    };
    match bounded(shared.load_adopted()).await {
        Ok(Some(all)) => Ok(all),
        Ok(None) => Ok(adopt::load(dir)),
        Err(e) => Err(format!("cannot read the cluster's adopted targets: {e}")),
    }
}

/// Shares `all`; each target in it not in `before` first gets the shared
/// cursor `end` (the end of this replica's log).
pub(super) async fn publish(
    shared: &dyn Shared,
    all: &[Adopted],
    before: &[String],
    end: u64,
) -> Result<(), String> {
    for name in all.iter().map(Adopted::name) {
        if !before.contains(&name) {
            bounded(shared.save(&name, end))
                .await
                .map_err(|e| format!("cannot share the cursor of {name}: {e}"))?;
        }
    }
    bounded(shared.save_adopted(all.to_vec()))
        .await
        .map_err(|e| format!("cannot share the adopted targets: {e}"))
}

impl Relay {
    /// Keeps this replica's adopted targets as shared until the relay stops.
    pub(super) async fn keep_adopted_in_sync(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.sync_adopted().await,
                _ = stop.changed() => return,
            }
        }
    }

    /// Brings `forward/adopted.json` and the adopted targets' tasks in line
    /// with the shared list: new ones started, removed ones stopped. While
    /// nothing is shared, this replica's become the shared ones.
    pub(super) async fn sync_adopted(&self) {
        let (Some(log), Some(shared)) = (self.running_log(), self.shared()) else {
            return;
        };
        let local = adopt::load(log.dir());
        let all = match bounded(shared.load_adopted()).await {
            Ok(Some(all)) => all,
            Ok(None) => {
                if !local.is_empty()
                    && let Err(e) = bounded(shared.save_adopted(local)).await
                {
                    tracing::warn!(error = %e, "relay: cannot share the adopted targets");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "relay: cannot read the cluster's adopted targets");
                return;
            }
        };
        if all != local {
            self.replace_adopted(&log, all);
        }
    }

    /// This replica's adopted targets become `all`.
    fn replace_adopted(&self, log: &EventLog, all: Vec<Adopted>) {
        if let Err(e) = adopt::save(log.dir(), &all) {
            tracing::warn!(error = %e, "relay: cannot save the adopted targets");
            return;
        }
        let names: Vec<String> = all.iter().map(Adopted::name).collect();
        // dropping a target's control channel ends its task
        lock(&self.inner.targets).retain(|t| names.contains(&t.name) || !lock(&t.status).adopted);
        let started = self.start_adopted(log, all);
        if !started.is_empty() {
            tracing::info!(?started, "relay: targets adopted on another replica");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use futures::future::BoxFuture;

    use super::*;
    use crate::relay::{Gate, RelayOptions};
    use crate::store::LogOptions;

    /// What a NATS bucket would hold, in memory.
    #[derive(Default)]
    struct Memory {
        cursors: Mutex<HashMap<String, u64>>,
        adopted: Mutex<Option<Vec<Adopted>>>,
    }

    impl Shared for Arc<Memory> {
        fn load(&self, target: &str) -> BoxFuture<'static, Result<Option<u64>, String>> {
            let at = self.cursors.lock().unwrap().get(target).copied();
            Box::pin(async move { Ok(at) })
        }
        fn save(&self, target: &str, after: u64) -> BoxFuture<'static, Result<(), String>> {
            self.cursors.lock().unwrap().insert(target.into(), after);
            Box::pin(async { Ok(()) })
        }
        fn load_adopted(&self) -> BoxFuture<'static, Result<Option<Vec<Adopted>>, String>> {
            let all = self.adopted.lock().unwrap().clone();
            Box::pin(async move { Ok(all) })
        }
        fn save_adopted(&self, all: Vec<Adopted>) -> BoxFuture<'static, Result<(), String>> {
            *self.adopted.lock().unwrap() = Some(all);
            Box::pin(async { Ok(()) })
        }
    }

    fn replica(dir: &Path, memory: &Arc<Memory>, leads: bool) -> (Relay, EventLog) {
        let log = EventLog::open(LogOptions::new(dir)).unwrap();
        let relay = Relay::new(Vec::new(), RelayOptions::default());
        relay.set_gate(Gate {
            active: watch::channel(leads).1,
            shared: Arc::new(Arc::clone(memory)),
        });
        relay.start(&log);
        (relay, log)
    }

    fn adopted_names(relay: &Relay) -> Vec<String> {
        relay
            .status()
            .into_iter()
            .filter(|t| t.adopted)
            .map(|t| t.name)
            .collect()
    }

    #[tokio::test]
    async fn a_target_adopted_on_a_follower_reaches_the_leader_and_leaves_it() {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let memory = Arc::new(Memory::default());
        let (follower, log_a) = replica(dir_a.path(), &memory, false);
        let (leader, log_b) = replica(dir_b.path(), &memory, true);
        let bot = Adopted {
            instance: "I1".into(),
            url: "https://bot.example/zapi".into(),
            types: vec!["DisconnectedCallback".into()],
        };
        let names = follower.adopt(vec![bot.clone()]).await.unwrap();
        assert_eq!(names, vec![bot.name()]);
        assert_eq!(
            memory.adopted.lock().unwrap().clone(),
            Some(vec![bot.clone()])
        );
        // it starts where the adopting replica's log ends, on any leader
        assert_eq!(memory.cursors.lock().unwrap().get(&bot.name()), Some(&0));

        leader.sync_adopted().await;
        assert_eq!(adopted_names(&leader), vec![bot.name()]);
        assert_eq!(adopt::load(dir_b.path()), vec![bot.clone()]);

        let removed = follower.remove_adopted("I1").await.unwrap();
        assert_eq!(removed, vec![bot.name()]);
        leader.sync_adopted().await;
        assert!(adopted_names(&leader).is_empty());
        assert!(adopt::load(dir_b.path()).is_empty());
        for (relay, log) in [(follower, log_a), (leader, log_b)] {
            relay.shutdown().await;
            log.close().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_replicas_own_adopted_targets_are_shared_while_none_are() {
        let dir = tempfile::tempdir().unwrap();
        let bot = Adopted {
            instance: "I1".into(),
            url: "https://bot.example/zapi".into(),
            types: vec!["ConnectedCallback".into()],
        };
        adopt::save(dir.path(), std::slice::from_ref(&bot)).unwrap();
        let memory = Arc::new(Memory::default());
        let (relay, log) = replica(dir.path(), &memory, true);
        relay.sync_adopted().await;
        assert_eq!(memory.adopted.lock().unwrap().clone(), Some(vec![bot]));
        relay.shutdown().await;
        log.close().await.unwrap();
    }
}
