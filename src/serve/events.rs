//! `GET /api/events`: the Server-Sent Events stream of the HTTP API (the
//! protocol is described in [`super::api`]): snapshot, replay from the log
//! after a `Last-Event-ID`, live changes, and a resync after a lag.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch};

use super::hub::{HubEvent, HubHandle};
use crate::fleet::{Instance, Snapshot};
use crate::model::Event;
use crate::store;

use super::api::{Api, stopping};

/// Time between two keep-alive comments of an event stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// SSE events buffered for one client before the stream waits for it.
pub(super) const STREAM_BUFFER: usize = 64;

/// `GET /api/events`: the stream (see the module docs of [`super::api`]).
pub(super) async fn events(State(api): State<Api>, headers: HeaderMap) -> Response {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Subscribe first, then take the snapshot: every change the snapshot
    // does not hold is in the subscription.
    let mut changes = api.hub.subscribe();
    let Some(mut snapshot) = api.hub.snapshot().await else {
        return stopping();
    };
    // `[cluster]`: a client moved here from another replica may know events
    // this one has not copied from the stream yet; they come within
    // moments, and the stream resumes where the client was, not before
    if let Some(ahead) = resume.filter(|r| *r > snapshot.seq)
        && api.hub.cluster_health().is_some()
    {
        // whether it came or not, the snapshot taken now holds every
        // change the wait took from the subscription
        wait_for(&mut changes, ahead).await;
        let Some(later) = api.hub.snapshot().await else {
            return stopping();
        };
        snapshot = later;
    }
    tracing::debug!(?resume, seq = snapshot.seq, "event stream opened");
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(feed(api.hub.clone(), changes, snapshot, resume, tx));
    let mut health = api.hub.cluster_health();
    // a cluster unreachable already when the client comes is said at once
    health.iter_mut().for_each(watch::Receiver::mark_changed);
    let problem = Problem {
        health,
        said: false,
    };
    let stream = futures::stream::unfold((rx, problem), |(mut rx, mut problem)| async move {
        let sse = tokio::select! {
            out = rx.recv() => out?.into_sse(),
            sse = problem.next() => sse,
        };
        Some((Ok::<_, Infallible>(sse), (rx, problem)))
    });
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // reverse proxies (nginx) must not buffer the stream
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// How long a stream waits for the events a client knows and this replica
/// has not copied yet (`[cluster]`).
const RESUME_WAIT: Duration = Duration::from_secs(2);

/// Until the hub applied the event `seq`, at most [`RESUME_WAIT`].
async fn wait_for(changes: &mut broadcast::Receiver<HubEvent>, seq: u64) {
    let wait = async {
        loop {
            match changes.recv().await {
                Ok(HubEvent::Webhook { seq: s, .. }) if s >= seq => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    };
    let _ = tokio::time::timeout(RESUME_WAIT, wait).await;
}

/// What a stream has said of the cluster (`[cluster]`).
struct Problem {
    health: Option<watch::Receiver<Option<String>>>,
    /// A `problem` was sent and not yet cleared.
    said: bool,
}

/// The words the event streams send when the cluster is reachable again.
pub const PROBLEM_CLEARED: &str = "cluster reachable again";

impl Problem {
    /// The next change to tell: the cluster unreachable (`problem`, the
    /// reason), or reachable again after a `problem` (`problem_cleared`).
    /// Never without a cluster.
    async fn next(&mut self) -> SseEvent {
        if let Some(rx) = &mut self.health {
            while rx.changed().await.is_ok() {
                match rx.borrow_and_update().clone() {
                    Some(reason) => {
                        self.said = true;
                        return json_event("problem", &reason);
                    }
                    None if self.said => {
                        self.said = false;
                        return json_event("problem_cleared", &PROBLEM_CLEARED);
                    }
                    None => {}
                }
            }
        }
        std::future::pending().await
    }
}

/// One event of a stream, before it is put in SSE form.
#[derive(Debug)]
pub(super) enum Out {
    Snapshot(Snapshot),
    Webhook(u64, Event),
    Row(Box<Instance>),
}

impl Out {
    fn into_sse(self) -> SseEvent {
        match self {
            Out::Snapshot(s) => json_event("snapshot", &s).id(s.seq.to_string()),
            Out::Webhook(seq, event) => {
                json_event("webhook", &json!({ "seq": seq, "event": event })).id(seq.to_string())
            }
            Out::Row(inst) => json_event("row", &inst),
        }
    }
}

/// Writes one client's stream into `tx` until the client leaves (`tx`
/// closes) or the hub stops. `changes` was subscribed before `snapshot`
/// was taken.
pub(super) async fn feed(
    hub: HubHandle,
    mut changes: broadcast::Receiver<HubEvent>,
    snapshot: Snapshot,
    resume: Option<u64>,
    tx: mpsc::Sender<Out>,
) {
    if let Some(after) = resume
        && !replay(&hub, after, snapshot.seq, &tx).await
    {
        return;
    }
    let mut snapshot = Some(snapshot);
    let mut floor = 0;
    let mut queued = VecDeque::new();
    // The hub's handle keeps its broadcast open, so whether the hub still
    // runs is asked now and then.
    let start = tokio::time::Instant::now() + KEEP_ALIVE;
    let mut alive = tokio::time::interval_at(start, KEEP_ALIVE);
    alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if let Some(s) = snapshot.take() {
            floor = s.seq;
            if tx.send(Out::Snapshot(s)).await.is_err() {
                return;
            }
            queued = match settle(&mut changes, floor) {
                Ok(queued) => queued,
                Err(missed) => {
                    let Some(fresh) = resync(&hub, &mut changes, missed).await else {
                        return;
                    };
                    snapshot = Some(fresh);
                    continue;
                }
            };
        }
        let change = match queued.pop_front() {
            Some(change) => Ok(change),
            None => tokio::select! {
                () = tx.closed() => return,
                _ = alive.tick() => {
                    if hub.snapshot().await.is_none() {
                        return;
                    }
                    continue;
                }
                change = changes.recv() => change,
            },
        };
        let out = match change {
            Ok(HubEvent::Webhook { seq, event }) => {
                if seq <= floor {
                    continue; // the snapshot holds it
                }
                floor = seq;
                Out::Webhook(seq, event)
            }
            Ok(HubEvent::Row(inst)) => Out::Row(inst),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let Some(fresh) = resync(&hub, &mut changes, missed).await else {
                    return;
                };
                snapshot = Some(fresh);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

/// After a lag: drops the backlog, subscribes afresh and takes a new
/// snapshot (in that order, as at the start). `None` when the hub stopped.
async fn resync(
    hub: &HubHandle,
    changes: &mut broadcast::Receiver<HubEvent>,
    missed: u64,
) -> Option<Snapshot> {
    *changes = changes.resubscribe();
    let fresh = hub.snapshot().await?;
    tracing::warn!(
        missed,
        seq = fresh.seq,
        "event stream lagged; sending a fresh snapshot"
    );
    Some(fresh)
}

/// The changes queued in `changes` that a snapshot at `floor` does not
/// hold, or `Err(missed)` if the queue overflowed.
///
/// When the snapshot's answer arrived, every change the hub made before it
/// was already queued (the hub broadcasts a change before it handles the
/// next request), ahead of any change after it. Webhooks carry their `seq`,
/// rows do not; but a row queued before a webhook the snapshot holds is held
/// too, so everything up to the last such webhook is dropped. A row after it
/// is kept: if the snapshot holds it, nothing but other rows (kept too, in
/// order) changed the instance since, so the client still ends at the
/// snapshot's state, never at an older one.
pub(super) fn settle(
    changes: &mut broadcast::Receiver<HubEvent>,
    floor: u64,
) -> Result<VecDeque<HubEvent>, u64> {
    let mut queued = VecDeque::new();
    loop {
        match changes.try_recv() {
            Ok(change) => queued.push_back(change),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => return Err(missed),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => {
                break;
            }
        }
    }
    let held = queued
        .iter()
        .rposition(|c| matches!(c, HubEvent::Webhook { seq, .. } if *seq <= floor))
        .map_or(0, |i| i + 1);
    queued.drain(..held);
    Ok(queued)
}

/// Sends the stored events with `after < seq ≤ upto`, oldest first, read
/// from the log on a blocking thread. `false` when the client left.
async fn replay(hub: &HubHandle, after: u64, upto: u64, tx: &mpsc::Sender<Out>) -> bool {
    if after >= upto {
        return true;
    }
    let (records_tx, mut records) = mpsc::channel::<(u64, Event)>(STREAM_BUFFER);
    let dir = hub.log_dir.clone();
    let reader = tokio::task::spawn_blocking(move || {
        store::replay_after(&dir, after, |seq, event| {
            // once the client is gone the sends fail at once
            if seq <= upto {
                let _ = records_tx.blocking_send((seq, event));
            }
        })
    });
    while let Some((seq, event)) = records.recv().await {
        if tx.send(Out::Webhook(seq, event)).await.is_err() {
            return false;
        }
    }
    match reader.await {
        Ok(Ok(stats)) if stats.corrupt > 0 => {
            tracing::warn!(
                after,
                corrupt = stats.corrupt,
                "event stream resume: corrupt log records skipped"
            );
        }
        Ok(Ok(_)) => {}
        // The snapshot still follows, so the client's state is right; only
        // its history misses the events that could not be read.
        Ok(Err(e)) => tracing::warn!(after, error = %e, "event stream resume: cannot read the log"),
        Err(e) => tracing::warn!(after, error = %e, "event stream resume: log reader failed"),
    }
    true
}

fn json_event(name: &str, data: &impl serde::Serialize) -> SseEvent {
    // The types here always serialise; should one not, the client sees an
    // empty object rather than a broken stream.
    let data = serde_json::to_string(data).unwrap_or_else(|e| {
        tracing::error!("event stream: cannot serialise {name}: {e}");
        "{}".to_owned()
    });
    SseEvent::default().event(name).data(data)
}
