//! The state of `serve`: one task owns the [`App`] (the same pure state the
//! dashboard uses), applies every stored event in `seq` order, polls Z-API
//! `/status`, and tells subscribers (the SSE stream, the metrics, `serve`'s
//! stdout) what changed.
//!
//! Because events arrive from the log's committed feed in `seq` order, a
//! snapshot taken here is exact: it holds every event up to its `seq` and
//! none after, so a stream that sends the snapshot and then the live events
//! with a higher `seq` misses nothing and repeats nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::app::{App, Command, Instance, Msg, Snapshot, StatusCheck};
use crate::metrics::Metrics;
use crate::model::{Event, InstanceId};
use crate::tui::{Backend, Runner};

/// Messages a slow subscriber may fall behind by before it is told it lagged.
pub const BROADCAST_CAPACITY: usize = 16_384;

/// What changed, for subscribers.
#[derive(Debug, Clone)]
pub enum HubEvent {
    /// A stored webhook, applied.
    Webhook { seq: u64, event: Event },
    /// A row changed for another reason (a status or registration result).
    Row(Box<Instance>),
}

enum Request {
    Snapshot(oneshot::Sender<Snapshot>),
    Apply(Box<Msg>),
}

/// A handle on the hub: snapshots, subscriptions, and the backend that
/// carries out actions (so tokens stay in this process).
#[derive(Clone)]
pub struct HubHandle {
    requests: mpsc::Sender<Request>,
    changes: broadcast::Sender<HubEvent>,
    /// Runs Z-API calls with the config's tokens.
    pub backend: Arc<Backend>,
    pub metrics: Arc<Metrics>,
    /// The event log's directory, for resuming streams.
    pub log_dir: PathBuf,
}

impl HubHandle {
    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.changes.subscribe()
    }

    /// The state now; `None` when the hub has stopped.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request::Snapshot(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Applies a result obtained outside the hub (an action of the API).
    pub async fn apply(&self, msg: Msg) {
        let _ = self.requests.send(Request::Apply(Box::new(msg))).await;
    }

    /// Whether this instance is known, and configured (has a token here).
    pub async fn instance(&self, id: &InstanceId) -> Option<Instance> {
        self.snapshot()
            .await?
            .instances
            .into_iter()
            .find(|i| &i.id == id)
    }
}

/// How the hub runs.
pub struct HubOptions {
    /// Ask `/status` of every configured instance this often, spread over
    /// the interval; zero turns polling off.
    pub poll_interval: Duration,
    /// `seq` of the last event replayed into the app.
    pub last_seq: u64,
    /// Every applied webhook is also sent here (`serve`'s stdout).
    pub tap: Option<mpsc::Sender<(u64, Event)>>,
}

/// The hub before it runs: its handle exists first, so the HTTP API can be
/// built (and the listener started) before the state is replayed.
pub struct Hub {
    requests: mpsc::Receiver<Request>,
    changes: broadcast::Sender<HubEvent>,
    runner: Runner,
    results: mpsc::UnboundedReceiver<Msg>,
    metrics: Arc<Metrics>,
}

impl Hub {
    /// A hub whose actions go to `backend`.
    pub fn new(backend: Backend, metrics: Arc<Metrics>, log_dir: PathBuf) -> (Hub, HubHandle) {
        let (requests_tx, requests) = mpsc::channel(256);
        let (changes, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (results_tx, results) = mpsc::unbounded_channel();
        let runner = Runner::new(backend, results_tx);
        let handle = HubHandle {
            requests: requests_tx,
            changes: changes.clone(),
            backend: runner.backend(),
            metrics: Arc::clone(&metrics),
            log_dir,
        };
        (
            Hub {
                requests,
                changes,
                runner,
                results,
                metrics,
            },
            handle,
        )
    }

    /// Runs the hub on `app` (already holding the replayed log), fed by the
    /// log's committed events, until that feed ends.
    pub fn spawn(
        self,
        mut app: App,
        mut committed: mpsc::Receiver<(u64, Event)>,
        opts: HubOptions,
    ) -> JoinHandle<()> {
        let Hub {
            mut requests,
            changes,
            mut runner,
            mut results,
            metrics,
        } = self;
        for inst in &app.instances {
            metrics.set_instance(inst);
        }
        let tap = opts.tap;
        let mut last_seq = opts.last_seq;
        let configured: Vec<InstanceId> = app
            .instances
            .iter()
            .filter(|i| i.configured)
            .map(|i| i.id.clone())
            .collect();
        tokio::spawn(async move {
            for cmd in app.init() {
                runner.run(cmd);
            }
            // one instance per tick, so the whole fleet is polled once per interval
            let mut poll = (!opts.poll_interval.is_zero() && !configured.is_empty()).then(|| {
                let period =
                    (opts.poll_interval / configured.len() as u32).max(Duration::from_millis(10));
                let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                t.set_missed_tick_behavior(MissedTickBehavior::Delay);
                t
            });
            let mut next_poll = 0usize;
            let mut requests_open = true;
            loop {
                tokio::select! {
                    record = committed.recv() => {
                        let Some((seq, event)) = record else { break };
                        last_seq = seq;
                        let id = event.instance_id.clone();
                        app.update(Msg::Webhook(event.clone()), Utc::now());
                        if let Some(inst) = app.get(&id) {
                            metrics.observe_event(&event, inst);
                            metrics.set_instance(inst);
                        }
                        if let Some(tap) = &tap {
                            let _ = tap.send((seq, event.clone())).await;
                        }
                        let _ = changes.send(HubEvent::Webhook { seq, event });
                    }
                    Some(msg) = results.recv() => apply_result(&mut app, msg, &metrics, &changes),
                    request = requests.recv(), if requests_open => match request {
                        Some(Request::Snapshot(reply)) => {
                            let _ = reply.send(app.snapshot(last_seq));
                        }
                        Some(Request::Apply(msg)) => apply_result(&mut app, *msg, &metrics, &changes),
                        None => requests_open = false,
                    },
                    _ = tick(&mut poll) => {
                        if let Some(id) = configured.get(next_poll % configured.len().max(1)) {
                            let pending = app.get(id).is_some_and(|i| i.status == StatusCheck::Pending);
                            if !pending {
                                runner.run(Command::FetchStatus(id.clone()));
                            }
                        }
                        next_poll = next_poll.wrapping_add(1);
                    }
                }
            }
        })
    }
}

async fn tick(poll: &mut Option<tokio::time::Interval>) {
    match poll {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// A status or registration result: apply, count, tell subscribers.
fn apply_result(app: &mut App, msg: Msg, metrics: &Metrics, changes: &broadcast::Sender<HubEvent>) {
    let id = match &msg {
        Msg::StatusResult { id, .. } => id.clone(),
        Msg::RegisterResult { id, result } => {
            if result.is_err() {
                metrics.registration_failed();
            }
            id.clone()
        }
        _ => return,
    };
    app.update(msg, Utc::now());
    if let Some(inst) = app.get(&id) {
        metrics.set_instance(inst);
        let _ = changes.send(HubEvent::Row(Box::new(inst.clone())));
    }
}
