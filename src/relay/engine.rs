//! One target's delivery task: reads the log after its cursor, keeps one
//! queue per instance (in `seq` order, one request in flight each), runs up
//! to [`RelayOptions::parallel`] instances at once, retries with backoff
//! and jitter (or `Retry-After`), gives up after `max_age` into the dead
//! letters, and moves the durable cursor past everything finished.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::dead::{self, DeadLetter};
use super::gate::{self, Shared};
use super::post::{self, Attempt, Outcome};
use super::{ForwardTarget, InstanceResult, RelayOptions, TargetStatus};
use crate::model::InstanceId;
use crate::store::{Cursor, Forwardable, read_forward, write_cursor};

/// How soon a new leader tries again to read the shared cursor.
const SHARED_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Most bytes of bodies a target holds read and not finished: reading
/// the log waits beyond it (bodies are up to 1 MiB each).
const MAX_BUFFERED_BYTES: usize = 64 << 20;

/// What the operator asks of a target.
pub enum Control {
    /// Deliver the dead letters again; answers how many were queued.
    RetryDead(oneshot::Sender<usize>),
    /// Forget the dead letters; answers how many were dropped.
    DropDead(oneshot::Sender<usize>),
}

/// An event on its way to the target.
struct Item {
    seq: u64,
    instance: InstanceId,
    webhook_id: String,
    received: DateTime<Utc>,
    /// After this a failure sends it to the dead letters.
    expires: DateTime<Utc>,
    body: Arc<Vec<u8>>,
}

/// One instance's events, in `seq` order; the front one is being sent or
/// waits for its retry.
#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    busy: bool,
    /// In [`Engine::ready`].
    queued: bool,
    /// Failed attempts of the front item.
    attempt: u32,
    not_before: Option<Instant>,
}

/// What a target's task delivers, where from and how.
pub(super) struct Parts {
    pub(super) target: ForwardTarget,
    pub(super) key: Option<Arc<Vec<u8>>>,
    pub(super) dir: PathBuf,
    pub(super) opts: RelayOptions,
    pub(super) client: reqwest::Client,
}

/// How a target's task hears of the log, the operator and the end, and
/// where it reports.
pub(super) struct Links {
    pub(super) synced: watch::Receiver<u64>,
    pub(super) control: mpsc::Receiver<Control>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) status: Arc<Mutex<TargetStatus>>,
    /// `[cluster]`: delivers only while it says so ([`super::Gate`]).
    pub(super) gate: Option<watch::Receiver<bool>>,
    pub(super) cursors: Option<Arc<dyn Shared>>,
}

pub(super) struct Engine {
    target: ForwardTarget,
    key: Option<Arc<Vec<u8>>>,
    dir: PathBuf,
    opts: RelayOptions,
    client: reqwest::Client,
    synced: watch::Receiver<u64>,
    control: mpsc::Receiver<Control>,
    stop: watch::Receiver<bool>,
    status: Arc<Mutex<TargetStatus>>,
    gate: Option<watch::Receiver<bool>>,
    cursors: Option<Arc<dyn Shared>>,
    /// Delivering (always without a gate; while leading with one).
    active: bool,
    /// When a new leader reads the shared cursor again (it failed).
    lead_retry: Option<Instant>,
    /// Whether `cursor` is a position saved or decided (a gated target
    /// without a file cursor decides it when it first leads).
    placed: bool,
    /// Every event with `seq <= cursor` is finished (delivered or dead).
    cursor: u64,
    persisted: u64,
    last_persist: Instant,
    /// The highest `seq` read from the log.
    read_to: u64,
    /// Read and not finished.
    pending: BTreeSet<u64>,
    queues: HashMap<InstanceId, Queue>,
    ready: VecDeque<InstanceId>,
    in_flight: JoinSet<(InstanceId, Outcome)>,
    log_closed: bool,
    /// Bytes of the bodies read and not finished (with `pending`, the
    /// memory bound).
    buffered_bytes: usize,
    /// (when, delivered so far), a sample a second over the last minute:
    /// the delivery rate.
    samples: VecDeque<(Instant, u64)>,
}

impl Engine {
    /// The task of a target whose cursor is `cursor` (`None`: none saved,
    /// only with a gate).
    pub(super) fn new(parts: Parts, links: Links, cursor: Option<u64>) -> Self {
        let placed = cursor.is_some();
        let cursor = cursor.unwrap_or(0);
        Self {
            target: parts.target,
            key: parts.key,
            dir: parts.dir,
            opts: parts.opts,
            client: parts.client,
            synced: links.synced,
            control: links.control,
            stop: links.stop,
            status: links.status,
            active: links.gate.is_none(),
            gate: links.gate,
            cursors: links.cursors,
            lead_retry: None,
            placed,
            cursor,
            persisted: cursor,
            last_persist: Instant::now(),
            read_to: cursor,
            pending: BTreeSet::new(),
            queues: HashMap::new(),
            ready: VecDeque::new(),
            in_flight: JoinSet::new(),
            log_closed: false,
            buffered_bytes: 0,
            samples: VecDeque::new(),
        }
    }

    /// Delivers until told to stop (with a gate, only while it is open);
    /// then saves the cursor.
    pub(super) async fn run(mut self) {
        if self.gate.as_mut().is_some_and(|g| *g.borrow_and_update()) {
            self.lead().await;
        }
        loop {
            if self.active {
                self.fill().await;
                self.start_ready();
                self.advance_cursor(false).await;
            }
            self.publish();
            let wake = self.next_wake();
            tokio::select! {
                Some(done) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {
                    if let Ok((instance, outcome)) = done {
                        self.finish(instance, outcome);
                    }
                }
                changed = self.synced.changed(), if !self.log_closed => {
                    self.log_closed = changed.is_err();
                }
                () = sleep_until(wake), if wake.is_some() => self.wake_waiting().await,
                leads = gate::changed(&mut self.gate) => match (leads, self.active) {
                    (true, false) => self.lead().await,
                    (false, true) => self.stand_by().await,
                    (false, false) => self.lead_retry = None,
                    (true, true) => {}
                },
                control = self.control.recv() => match control {
                    Some(control) => self.on_control(control).await,
                    // the target was removed (an adopted one, `u`)
                    None => break,
                },
                _ = self.stop.changed() => break,
            }
        }
        self.in_flight.abort_all();
        if self.active {
            self.advance_cursor(true).await;
        }
        self.publish();
    }

    /// Reads what the log has after `read_to`, while the buffer has room.
    async fn fill(&mut self) {
        let synced = *self.synced.borrow_and_update();
        while self.pending.len() < self.opts.buffered
            && self.buffered_bytes < MAX_BUFFERED_BYTES
            && synced > self.read_to
        {
            let (dir, after, limit) = (self.dir.clone(), self.read_to, self.opts.batch);
            let read = tokio::task::spawn_blocking(move || read_forward(&dir, after, limit)).await;
            let read = match read {
                Ok(Ok(read)) => read,
                Ok(Err(e)) => {
                    tracing::warn!(target = %self.target.name, error = %e, "relay: cannot read the log");
                    return;
                }
                Err(_) => return,
            };
            if read.last_seen <= after {
                return;
            }
            self.read_to = read.last_seen;
            for record in read.records {
                self.take(record);
            }
        }
    }

    /// Queues `record` if the target wants it (and the log kept its body).
    fn take(&mut self, record: Forwardable) {
        if !self.target.wants(&record.event) {
            return;
        }
        let Some(body) = record.body else {
            // written before the log kept bodies: nothing to send byte for byte
            return;
        };
        let max_age =
            chrono::TimeDelta::from_std(self.target.max_age).unwrap_or(chrono::TimeDelta::MAX);
        let item = Item {
            seq: record.seq,
            instance: record.event.instance_id.clone(),
            webhook_id: post::webhook_id(record.seq, record.fp),
            received: record.event.received,
            expires: record
                .event
                .received
                .checked_add_signed(max_age)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            body: Arc::new(body),
        };
        self.pending.insert(item.seq);
        self.buffered_bytes += item.body.len();
        let instance = item.instance.clone();
        self.queues
            .entry(instance.clone())
            .or_default()
            .items
            .push_back(item);
        self.enqueue(&instance);
    }

    /// Puts an idle instance with something to send in line.
    fn enqueue(&mut self, instance: &InstanceId) {
        let Some(queue) = self.queues.get_mut(instance) else {
            return;
        };
        let waiting = queue.not_before.is_some_and(|t| t > Instant::now());
        if !queue.queued && !queue.busy && !waiting && !queue.items.is_empty() {
            queue.queued = true;
            self.ready.push_back(instance.clone());
        }
    }

    /// Starts the front item of ready instances, up to `parallel` at once.
    fn start_ready(&mut self) {
        while self.in_flight.len() < self.opts.parallel.max(1) {
            let Some(instance) = self.ready.pop_front() else {
                return;
            };
            let Some(queue) = self.queues.get_mut(&instance) else {
                continue;
            };
            queue.queued = false;
            let Some(item) = queue.items.front() else {
                continue;
            };
            if queue.busy {
                continue;
            }
            queue.busy = true;
            let client = self.client.clone();
            let url = self.target.url.clone();
            let key = self.key.clone();
            let id = item.webhook_id.clone();
            let body = Arc::clone(&item.body);
            let timeout = self.opts.timeout;
            self.in_flight.spawn(async move {
                let attempt = Attempt {
                    url: &url,
                    webhook_id: &id,
                    body: body.as_ref().clone(),
                    key: key.as_deref().map(Vec::as_slice),
                    timeout,
                };
                (instance, post::post(&client, attempt).await)
            });
        }
    }

    /// The answer to an instance's front item.
    fn finish(&mut self, instance: InstanceId, outcome: Outcome) {
        let now = Utc::now();
        let Some(queue) = self.queues.get_mut(&instance) else {
            return;
        };
        queue.busy = false;
        let result = match outcome {
            Outcome::Delivered => {
                if let Some(item) = queue.items.pop_front() {
                    self.pending.remove(&item.seq);
                    self.buffered_bytes = self.buffered_bytes.saturating_sub(item.body.len());
                }
                queue.attempt = 0;
                queue.not_before = None;
                let mut status = lock(&self.status);
                status.delivered += 1;
                status.last_delivery = Some(now);
                InstanceResult {
                    ok: true,
                    at: now,
                    error: None,
                }
            }
            Outcome::Failed { error, retry_after } => {
                lock(&self.status).failures += 1;
                let expired = queue.items.front().is_some_and(|item| now >= item.expires);
                if expired {
                    queue.attempt = 0;
                    queue.not_before = None;
                    if let Some(item) = queue.items.pop_front() {
                        self.pending.remove(&item.seq);
                        self.buffered_bytes = self.buffered_bytes.saturating_sub(item.body.len());
                        self.bury(item, &error, now);
                    }
                } else {
                    queue.attempt = queue.attempt.saturating_add(1);
                    let delay = retry_after.unwrap_or_else(|| {
                        crate::http_retry::backoff(
                            self.opts.backoff_base,
                            self.opts.backoff_cap,
                            queue.attempt,
                            rand::random(),
                        )
                    });
                    queue.not_before = Some(Instant::now() + delay);
                }
                lock(&self.status).last_error = Some(error.clone());
                InstanceResult {
                    ok: false,
                    at: now,
                    error: Some(error),
                }
            }
        };
        lock(&self.status)
            .instances
            .insert(instance.as_str().to_owned(), result);
        self.enqueue(&instance);
        if self
            .queues
            .get(&instance)
            .is_some_and(|q| q.items.is_empty() && !q.busy)
        {
            self.queues.remove(&instance);
        }
    }

    /// Moves `item` to the dead letters.
    fn bury(&self, item: Item, error: &str, now: DateTime<Utc>) {
        let letter = DeadLetter {
            seq: item.seq,
            instance_id: item.instance,
            webhook_id: item.webhook_id,
            received: item.received,
            at: now,
            error: error.to_owned(),
        };
        tracing::warn!(target = %self.target.name, seq = letter.seq, error, "relay: event past max_age, moved to the dead letters");
        if let Err(e) = dead::append(&self.dir, &self.target.name, &letter) {
            tracing::error!(target = %self.target.name, error = %e, "relay: cannot write a dead letter");
        }
        lock(&self.status).dead_letters += 1;
    }

    /// When the next waiting instance may try again, the cursor is due, or
    /// a new leader reads the shared cursor again.
    fn next_wake(&self) -> Option<Instant> {
        let retry = self
            .queues
            .values()
            .filter(|q| !q.busy)
            .filter_map(|q| q.not_before)
            .min();
        let persist =
            (self.cursor > self.persisted).then(|| self.last_persist + self.opts.persist_every);
        retry
            .into_iter()
            .chain(persist)
            .chain(self.lead_retry)
            .min()
    }

    /// Instances whose retry time has come go back in line; a leader that
    /// could not read the shared cursor tries again.
    async fn wake_waiting(&mut self) {
        let now = Instant::now();
        if self.lead_retry.is_some_and(|t| t <= now) {
            self.lead_retry = None;
            if !self.active && self.gate.as_ref().is_some_and(|g| *g.borrow()) {
                self.lead().await;
            }
        }
        let due: Vec<InstanceId> = self
            .queues
            .iter_mut()
            .filter(|(_, q)| q.not_before.is_some_and(|t| t <= now))
            .map(|(id, q)| {
                q.not_before = None;
                id.clone()
            })
            .collect();
        for id in due {
            self.enqueue(&id);
        }
    }

    /// This replica became the leader: delivers from the later of its own
    /// cursor and the shared one (the previous leader's). Stays standing by,
    /// trying again shortly, while the shared cursor cannot be read: a
    /// stale own cursor would send again what was delivered, a missing one
    /// would skip what was not.
    async fn lead(&mut self) {
        let Some(cursors) = self.cursors.clone() else {
            self.active = true;
            return;
        };
        let shared = match gate::bounded(cursors.load(&self.target.name)).await {
            Ok(shared) => shared,
            Err(e) => return self.retry_lead(&e),
        };
        let own = self.placed.then_some(self.cursor);
        let start = gate::leading_cursor(own, shared, *self.synced.borrow());
        tracing::info!(target = %self.target.name, cursor = start, "relay: leading, delivering");
        self.cursor = start;
        self.read_to = start;
        self.placed = true;
        self.active = true;
        self.lead_retry = None;
        // placed here: saved and shared at once, even at 0, so the next
        // leader starts from it rather than from the end of its own log
        if own != Some(start) {
            self.persist().await;
        }
        lock(&self.status).standby = false;
    }

    fn retry_lead(&mut self, error: &str) {
        tracing::warn!(target = %self.target.name, error, "relay: cannot read the shared cursor; standing by");
        self.lead_retry = Some(Instant::now() + SHARED_RETRY);
    }

    /// This replica no longer leads: the attempts in flight are dropped
    /// (the next leader sends them again), the cursor saved (here and
    /// shared) and what was read forgotten. Retried dead letters that were
    /// queued go back to the dead letters.
    async fn stand_by(&mut self) {
        tracing::info!(target = %self.target.name, "relay: not the leader, standing by");
        self.in_flight.shutdown().await;
        self.advance_cursor(true).await;
        self.active = false;
        let retried: Vec<Item> = std::mem::take(&mut self.queues)
            .into_values()
            .flat_map(|q| q.items)
            .filter(|item| item.seq <= self.cursor)
            .collect();
        let now = Utc::now();
        for item in retried {
            self.bury(item, "retry stopped: this replica no longer leads", now);
        }
        self.ready.clear();
        self.pending.clear();
        self.buffered_bytes = 0;
        self.read_to = self.cursor;
        lock(&self.status).standby = true;
    }

    /// Moves the cursor past everything finished; saves it at most every
    /// `persist_every` (always when `force`), in its file and, with a gate,
    /// shared.
    async fn advance_cursor(&mut self, force: bool) {
        let finished = self.pending.first().map_or(self.read_to, |first| first - 1);
        self.cursor = self.cursor.max(finished);
        let due = force || self.last_persist.elapsed() >= self.opts.persist_every;
        if self.cursor > self.persisted && due {
            self.persist().await;
        }
    }

    /// Saves the cursor in its file and, with a gate, shares it.
    async fn persist(&mut self) {
        let cursor = Cursor {
            after: self.cursor,
            max_age_secs: self.target.max_age.as_secs(),
        };
        let (dir, name) = (self.dir.clone(), self.target.name.clone());
        let saved = tokio::task::spawn_blocking(move || write_cursor(&dir, &name, cursor)).await;
        match saved {
            Ok(Ok(())) => self.persisted = cursor.after,
            Ok(Err(e)) => {
                tracing::warn!(target = %self.target.name, error = %e, "relay: cannot save the cursor")
            }
            Err(_) => {}
        }
        self.share_cursor().await;
        self.last_persist = Instant::now();
    }

    /// Writes the cursor where the other replicas read it (with a gate).
    async fn share_cursor(&self) {
        let Some(cursors) = &self.cursors else {
            return;
        };
        let Err(error) = gate::bounded(cursors.save(&self.target.name, self.cursor)).await else {
            return;
        };
        tracing::warn!(target = %self.target.name, error, "relay: cannot share the cursor");
    }

    /// Copies the numbers the screen and the API show.
    fn publish(&mut self) {
        let log_seq = *self.synced.borrow();
        let delivered = lock(&self.status).delivered;
        let now = Instant::now();
        if self
            .samples
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at).as_secs() >= 1)
        {
            self.samples.push_back((now, delivered));
        }
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at).as_secs() > 60)
        {
            self.samples.pop_front();
        }
        let oldest = self
            .queues
            .values()
            .filter_map(|q| q.items.front())
            .map(|item| item.received)
            .min();
        let mut status = lock(&self.status);
        status.cursor = self.cursor;
        status.log_seq = log_seq;
        // standing by, nothing waits here: the leader's lag is the one (a
        // follower's would grow forever and fire lag alerts on it)
        status.lag_events = if self.active {
            self.pending.len() as u64 + log_seq.saturating_sub(self.read_to)
        } else {
            0
        };
        status.oldest_pending = oldest;
        // the rate is counted from these when read ([`super::Relay::status`])
        status.rate_from = self.samples.front().copied();
        status.looked_at = Some(now);
    }

    async fn on_control(&mut self, control: Control) {
        match control {
            Control::RetryDead(reply) => {
                // standing by, nothing is sent: the letters stay for the leader
                let n = if self.active {
                    self.retry_dead().await
                } else {
                    0
                };
                let _ = reply.send(n);
            }
            Control::DropDead(reply) => {
                let letters = dead::load(&self.dir, &self.target.name);
                if let Err(e) = dead::replace(&self.dir, &self.target.name, &[]) {
                    tracing::warn!(target = %self.target.name, error = %e, "relay: cannot drop the dead letters");
                    let _ = reply.send(0);
                    return;
                }
                lock(&self.status).dead_letters = 0;
                let _ = reply.send(letters.len());
            }
        }
    }

    /// Reads the dead letters' events from the log again and queues them
    /// (first in their instance's line, a fresh `max_age` from now).
    async fn retry_dead(&mut self) -> usize {
        let letters = dead::load(&self.dir, &self.target.name);
        let Some(first) = letters.iter().map(|l| l.seq).min() else {
            return 0;
        };
        let wanted: BTreeSet<u64> = letters.iter().map(|l| l.seq).collect();
        let dir = self.dir.clone();
        let found = tokio::task::spawn_blocking(move || find_records(&dir, first - 1, &wanted))
            .await
            .unwrap_or_default();
        let now = Utc::now();
        let max_age =
            chrono::TimeDelta::from_std(self.target.max_age).unwrap_or(chrono::TimeDelta::MAX);
        let mut queued = 0;
        let back: BTreeSet<u64> = found
            .iter()
            .filter(|r| r.body.is_some())
            .map(|r| r.seq)
            .collect();
        for record in found.into_iter().rev() {
            let Some(body) = record.body else { continue };
            let item = Item {
                seq: record.seq,
                instance: record.event.instance_id.clone(),
                webhook_id: post::webhook_id(record.seq, record.fp),
                received: record.event.received,
                expires: now
                    .checked_add_signed(max_age)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
                body: Arc::new(body),
            };
            let instance = item.instance.clone();
            self.buffered_bytes += item.body.len();
            let queue = self.queues.entry(instance.clone()).or_default();
            // the front item may be on its way: a retried one goes behind it
            let at = usize::from(queue.busy).min(queue.items.len());
            queue.items.insert(at, item);
            queue.not_before = None;
            self.enqueue(&instance);
            queued += 1;
        }
        // what is queued again leaves the list; what the log lost stays in it
        let kept: Vec<DeadLetter> = letters
            .into_iter()
            .filter(|l| !back.contains(&l.seq))
            .collect();
        if let Err(e) = dead::replace(&self.dir, &self.target.name, &kept) {
            tracing::warn!(target = %self.target.name, error = %e, "relay: cannot update the dead letters");
        }
        lock(&self.status).dead_letters = kept.len();
        queued
    }
}

/// The records with a `seq` in `wanted`, reading the log after `after` in
/// bounded batches, in `seq` order.
fn find_records(dir: &std::path::Path, mut after: u64, wanted: &BTreeSet<u64>) -> Vec<Forwardable> {
    let last = wanted.last().copied().unwrap_or(0);
    let mut found = Vec::new();
    while after < last {
        let Ok(read) = read_forward(dir, after, 1024) else {
            break;
        };
        if read.last_seen <= after {
            break;
        }
        after = read.last_seen;
        found.extend(read.records.into_iter().filter(|r| wanted.contains(&r.seq)));
    }
    found
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub(super) fn lock(status: &Mutex<TargetStatus>) -> std::sync::MutexGuard<'_, TargetStatus> {
    status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Deliveries per second since the oldest sample kept (`(when, delivered
/// then)`, at most a minute old) up to `now`, to one decimal; 0 before a
/// second has passed (a rate over less would jump).
pub(super) fn rate_per_s(oldest: Option<(Instant, u64)>, now: Instant, delivered: u64) -> f64 {
    let Some((at, first)) = oldest else {
        return 0.0;
    };
    let secs = now.duration_since(at).as_secs_f64();
    if secs < 1.0 {
        return 0.0;
    }
    let rate = delivered.saturating_sub(first) as f64 / secs;
    (rate * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delivery_rate_is_per_second_since_the_oldest_sample() {
        let t0 = Instant::now();
        let later = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        assert_eq!(rate_per_s(None, t0, 5), 0.0);
        assert_eq!(
            rate_per_s(Some((t0, 0)), later(500), 50),
            0.0,
            "under a second"
        );
        assert_eq!(rate_per_s(Some((t0, 100)), later(4_000), 150), 12.5);
        assert_eq!(
            rate_per_s(Some((t0, 0)), later(3_000), 1),
            0.3,
            "one decimal"
        );
        assert_eq!(
            rate_per_s(Some((t0, 9)), later(2_000), 3),
            0.0,
            "never negative"
        );
    }
}
