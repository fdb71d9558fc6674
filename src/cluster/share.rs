//! The leader tells the followers what only it sees, through a KV bucket
//! ([`ClusterConfig::fleet_bucket`]): the latest `/status` and `/me`
//! answer of each instance (`status.<id>`, `hooks.<id>`), each listed
//! instance of each account (`listed.<account>.<id>`, deleted when it leaves
//! the listing: a listing of 10,000 instances does not fit in one message),
//! and how far its alert commands went (`alerted`). A value is written only
//! when it changes, so a follower shows when the leader last saw a change,
//! not each poll.
//!
//! A watch of the whole bucket (its latest values first, then each
//! change) tells the hub ([`crate::fleet::shared::ClusterLink`]); the writer
//! compares with what that watch last saw, so a new leader does not write
//! again what the old one wrote, and deletes the listed instances that the
//! old one listed and it does not.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::fleet::ListedInstance;
use crate::fleet::shared::ClusterLink;
use crate::fleet::shared::Observation;
use crate::model::InstanceId;

/// The key of how far the leader's alerts went.
const ALERTED_KEY: &str = "alerted";

/// How often, at most, the leader writes how far its alerts went when none
/// ran (at once when one did).
const ALERTED_EVERY: Duration = Duration::from_millis(500);

/// Writes in flight at once.
const PARALLEL_WRITES: usize = 32;

/// How long the watch may be quiet before the listings it changed are told.
const LISTING_SETTLE: Duration = Duration::from_millis(50);

/// One listed instance, as its key holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ListedEntry {
    account: String,
    at: DateTime<Utc>,
    instance: ListedInstance,
}

/// What the bucket holds, as the watch last saw it.
#[derive(Default)]
struct Known {
    /// `status.*` and `hooks.*`.
    seen: HashMap<String, Observation>,
    /// `listed.*`.
    listed: HashMap<String, ListedEntry>,
}

type Shared = Arc<Mutex<Known>>;

fn lock(known: &Shared) -> std::sync::MutexGuard<'_, Known> {
    known.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hub's link over `store`: a task writing what the hub tells (while
/// it leads), a task watching the bucket.
pub fn spawn(store: kv::Store) -> ClusterLink {
    let (tell, told) = mpsc::unbounded_channel();
    let (hear, heard) = mpsc::unbounded_channel();
    let known = Shared::default();
    tokio::spawn(write(store.clone(), told, Arc::clone(&known)));
    tokio::spawn(watch(store, hear, known));
    ClusterLink { tell, heard }
}

/// A key token for any text: itself when it holds only letters, digits,
/// `-` and `_`, else `=` and its bytes in hex.
pub fn token(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        return text.to_string();
    }
    let mut out = String::with_capacity(1 + text.len() * 2);
    out.push('=');
    for b in text.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn listed_key(account: &str, id: &InstanceId) -> String {
    format!("listed.{}.{}", token(account), token(id.as_str()))
}

/// What one round of the writer does.
#[derive(Default)]
struct Round {
    puts: HashMap<String, Vec<u8>>,
    deletes: BTreeSet<String>,
    alerted: Option<u64>,
    urgent: bool,
}

impl Round {
    /// Adds what `observation` changes in the bucket.
    fn take(&mut self, observation: Observation, known: &Known) {
        match &observation {
            Observation::Status { id, .. } | Observation::Hooks { id, .. } => {
                let kind = if matches!(observation, Observation::Status { .. }) {
                    "status"
                } else {
                    "hooks"
                };
                let key = format!("{kind}.{}", token(id.as_str()));
                if known
                    .seen
                    .get(&key)
                    .is_some_and(|k| k.same_as(&observation))
                {
                    self.puts.remove(&key);
                    return;
                }
                if let Ok(value) = serde_json::to_vec(&observation) {
                    self.puts.insert(key, value);
                }
            }
            Observation::Listed {
                account,
                at,
                listed,
            } => self.listing(account, *at, listed, known),
            Observation::Alerted { seq, ran } => {
                self.alerted = Some(self.alerted.map_or(*seq, |a| a.max(*seq)));
                self.urgent |= ran;
            }
        }
    }

    /// An account's listing: its instances that are new or changed, and
    /// the deletion of those it no longer lists.
    fn listing(
        &mut self,
        account: &str,
        at: DateTime<Utc>,
        listed: &[ListedInstance],
        known: &Known,
    ) {
        let mut keys = BTreeSet::new();
        for instance in listed {
            let key = listed_key(account, &instance.id);
            keys.insert(key.clone());
            self.deletes.remove(&key);
            if known
                .listed
                .get(&key)
                .is_some_and(|k| k.account == account && &k.instance == instance)
            {
                continue;
            }
            let entry = ListedEntry {
                account: account.to_string(),
                at,
                instance: instance.clone(),
            };
            if let Ok(value) = serde_json::to_vec(&entry) {
                self.puts.insert(key, value);
            }
        }
        for (key, entry) in &known.listed {
            if entry.account == account && !keys.contains(key) {
                self.puts.remove(key);
                self.deletes.insert(key.clone());
            }
        }
    }
}

/// Writes what the hub tells, a round at a time (everything waiting taken
/// together, the latest value of a key winning).
async fn write(store: kv::Store, mut told: mpsc::UnboundedReceiver<Observation>, known: Shared) {
    let mut round = Round::default();
    // as if written long ago: the first one goes at once
    let mut alerted_written = Instant::now()
        .checked_sub(ALERTED_EVERY)
        .unwrap_or_else(Instant::now);
    loop {
        let due = round.alerted.map(|_| alerted_written + ALERTED_EVERY);
        tokio::select! {
            observation = told.recv() => {
                let Some(observation) = observation else { return };
                let known = lock(&known);
                round.take(observation, &known);
                while let Ok(more) = told.try_recv() {
                    round.take(more, &known);
                }
            }
            () = sleep_until(due), if due.is_some() => {}
        }
        let puts = std::mem::take(&mut round.puts);
        let deletes = std::mem::take(&mut round.deletes);
        let writes = puts
            .into_iter()
            .map(|(key, value)| Write::Put(key, value))
            .chain(deletes.into_iter().map(Write::Delete));
        let alerted_due = round.urgent || alerted_written.elapsed() >= ALERTED_EVERY;
        let alerted = round.alerted.filter(|_| alerted_due);
        let writes: Vec<Write> = match alerted {
            Some(seq) => {
                round.alerted = None;
                round.urgent = false;
                alerted_written = Instant::now();
                writes
                    .chain(std::iter::once(Write::Put(
                        ALERTED_KEY.into(),
                        seq.to_string().into_bytes(),
                    )))
                    .collect()
            }
            None => writes.collect(),
        };
        futures::stream::iter(writes)
            .for_each_concurrent(PARALLEL_WRITES, |w| w.run(&store))
            .await;
    }
}

enum Write {
    Put(String, Vec<u8>),
    Delete(String),
}

impl Write {
    async fn run(self, store: &kv::Store) {
        let (key, result) = match self {
            Write::Put(key, value) => {
                let r = store.put(&key, value.into()).await.map(|_| ());
                (key, r.map_err(|e| e.to_string()))
            }
            Write::Delete(key) => {
                let r = store.delete(&key).await;
                (key, r.map_err(|e| e.to_string()))
            }
        };
        if let Err(e) = result {
            tracing::warn!(key = %key, "cluster: cannot tell the followers: {e}");
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Watches the bucket (its latest values first), keeping `known` and
/// telling the hub; started again after a failure.
async fn watch(store: kv::Store, hear: mpsc::UnboundedSender<Observation>, known: Shared) {
    loop {
        match store.watch_with_history(">").await {
            Ok(mut entries) => {
                let mut changed = BTreeSet::new();
                loop {
                    let next = if changed.is_empty() {
                        entries.next().await
                    } else {
                        match tokio::time::timeout(LISTING_SETTLE, entries.next()).await {
                            Ok(next) => next,
                            Err(_) => {
                                tell_listings(&known, &mut changed, &hear);
                                continue;
                            }
                        }
                    };
                    match next {
                        Some(Ok(entry)) => {
                            if let Some(told) = heard(&known, entry, &mut changed)
                                && hear.send(told).is_err()
                            {
                                return;
                            }
                        }
                        Some(Err(e)) => {
                            tracing::warn!("cluster: watching the leader's words: {e}");
                            break;
                        }
                        None => break,
                    }
                }
                tell_listings(&known, &mut changed, &hear);
            }
            Err(e) => tracing::warn!("cluster: cannot watch the leader's words: {e}"),
        }
        if hear.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One entry of the bucket: kept in `known`; what the hub is told at once
/// (a listing's account is marked in `changed`, told once the watch settles).
fn heard(known: &Shared, entry: kv::Entry, changed: &mut BTreeSet<String>) -> Option<Observation> {
    let key = entry.key;
    let put = entry.operation == kv::Operation::Put;
    let mut known = lock(known);
    if key == ALERTED_KEY {
        let seq = std::str::from_utf8(&entry.value)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        return Some(Observation::Alerted { seq, ran: false });
    }
    if key.starts_with("listed.") {
        let old = known.listed.remove(&key);
        if let Some(old) = old {
            changed.insert(old.account);
        }
        if put {
            match serde_json::from_slice::<ListedEntry>(&entry.value) {
                Ok(listed) => {
                    changed.insert(listed.account.clone());
                    known.listed.insert(key, listed);
                }
                Err(e) => tracing::warn!(key = %key, "cluster: an unreadable listed instance: {e}"),
            }
        }
        return None;
    }
    if !put {
        known.seen.remove(&key);
        return None;
    }
    match serde_json::from_slice::<Observation>(&entry.value) {
        Ok(observation) => {
            known.seen.insert(key, observation.clone());
            Some(observation)
        }
        Err(e) => {
            tracing::warn!(key = %key, "cluster: an unreadable word of the leader: {e}");
            None
        }
    }
}

/// The listings of the accounts in `changed`, whole, to the hub.
fn tell_listings(
    known: &Shared,
    changed: &mut BTreeSet<String>,
    hear: &mpsc::UnboundedSender<Observation>,
) {
    if changed.is_empty() {
        return;
    }
    let known = lock(known);
    for account in std::mem::take(changed) {
        let entries: Vec<&ListedEntry> = known
            .listed
            .values()
            .filter(|e| e.account == account)
            .collect();
        let at = entries.iter().map(|e| e.at).max().unwrap_or_else(Utc::now);
        let listed = entries.into_iter().map(|e| e.instance.clone()).collect();
        let _ = hear.send(Observation::Listed {
            account,
            at,
            listed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_key_safe_and_distinct() {
        assert_eq!(token("3C8A1F"), "3C8A1F");
        assert_eq!(token("a.b"), "=612e62");
        assert_eq!(token(""), "=");
        assert_ne!(token("=61"), token("a"));
        for t in [token("ç *>"), token("x y")] {
            assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || c == '='));
        }
    }

    fn listed(id: &str, connected: bool) -> ListedInstance {
        ListedInstance {
            id: InstanceId(id.into()),
            name: None,
            due: None,
            payment_status: None,
            connected: Some(connected),
            phone_connected: None,
            hooks: None,
        }
    }

    #[test]
    fn a_listing_writes_what_changed_and_deletes_what_left() {
        let at = Utc::now();
        let mut known = Known::default();
        for id in ["A", "B"] {
            known.listed.insert(
                listed_key("main", &InstanceId(id.into())),
                ListedEntry {
                    account: "main".into(),
                    at,
                    instance: listed(id, true),
                },
            );
        }
        let mut round = Round::default();
        round.take(
            Observation::Listed {
                account: "main".into(),
                at,
                listed: vec![listed("A", true), listed("C", false)],
            },
            &known,
        );
        let puts: BTreeSet<&String> = round.puts.keys().collect();
        assert_eq!(puts, BTreeSet::from([&"listed.main.C".to_string()]));
        assert_eq!(round.deletes, BTreeSet::from(["listed.main.B".to_string()]));
    }

    #[test]
    fn an_unchanged_answer_is_not_written_again() {
        let at = Utc::now();
        let answer = |at, connected| Observation::Status {
            id: InstanceId("A".into()),
            at,
            result: Ok(crate::model::Status {
                connected,
                error: None,
                smartphone_connected: None,
            }),
        };
        let mut known = Known::default();
        known.seen.insert("status.A".into(), answer(at, true));
        let mut round = Round::default();
        round.take(answer(at + chrono::Duration::seconds(5), true), &known);
        assert!(round.puts.is_empty());
        round.take(answer(at, false), &known);
        assert_eq!(round.puts.len(), 1);
        round.take(Observation::Alerted { seq: 4, ran: false }, &known);
        round.take(Observation::Alerted { seq: 9, ran: true }, &known);
        assert_eq!((round.alerted, round.urgent), (Some(9), true));
    }
}
