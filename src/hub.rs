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
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::app::{App, Command, Instance, Msg, Snapshot, StatusCheck};
use crate::metrics::Metrics;
use crate::model::{Event, EventKind, InstanceId};
use crate::reload::Reload;
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
    Reload(Box<Reload>),
}

/// The backend in use, replaced when the config is reloaded.
type BackendSlot = Arc<RwLock<Arc<Backend>>>;

/// A handle on the hub: snapshots, subscriptions, and the backend that
/// carries out actions (so tokens stay in this process).
#[derive(Clone)]
pub struct HubHandle {
    requests: mpsc::Sender<Request>,
    changes: broadcast::Sender<HubEvent>,
    /// Runs Z-API calls with the config's tokens (see [`HubHandle::backend`]).
    backend: BackendSlot,
    pub metrics: Arc<Metrics>,
    /// The event log's directory, for resuming streams.
    pub log_dir: PathBuf,
}

impl HubHandle {
    /// What runs Z-API calls with the config's tokens now (a reload
    /// replaces it).
    pub fn backend(&self) -> Arc<Backend> {
        Arc::clone(&self.backend.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies a reloaded config: instances, thresholds, alerts, tokens and
    /// polling (see [`crate::reload`]). Returns once the hub has it queued.
    pub async fn reload(&self, reload: Reload) {
        let _ = self.requests.send(Request::Reload(Box::new(reload))).await;
    }

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
    lines: Option<mpsc::Sender<Vec<u8>>>,
    backend: BackendSlot,
}

/// Most stored events the hub takes from the committed feed at once.
const FEED_BATCH: usize = 256;

impl Hub {
    /// A hub whose actions go to `backend`.
    pub fn new(backend: Backend, metrics: Arc<Metrics>, log_dir: PathBuf) -> (Hub, HubHandle) {
        let (requests_tx, requests) = mpsc::channel(256);
        let (changes, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (results_tx, results) = mpsc::unbounded_channel();
        let runner = Runner::new(backend, results_tx);
        let slot = Arc::new(RwLock::new(runner.backend()));
        let handle = HubHandle {
            requests: requests_tx,
            changes: changes.clone(),
            backend: Arc::clone(&slot),
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
                lines: None,
                backend: slot,
            },
            handle,
        )
    }

    /// Every applied webhook is also written as one JSON line (see
    /// [`write_event_line`]) and sent to `lines`, the lines of the events
    /// taken from the feed together in one buffer: `serve`'s stdout, one
    /// hand-off per batch rather than one per event.
    pub fn with_event_lines(mut self, lines: mpsc::Sender<Vec<u8>>) -> Hub {
        self.lines = Some(lines);
        self
    }

    /// State changes run the config's alert commands (`on_disconnect`,
    /// `on_connect`), as on the dashboard.
    pub fn with_alerts(mut self, alerts: crate::tui::Alerts) -> Hub {
        self.runner = self.runner.with_alerts(alerts);
        self
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
            lines,
            backend,
        } = self;
        for inst in &app.fleet.instances {
            metrics.set_instance(inst);
        }
        let tap = opts.tap;
        let mut last_seq = opts.last_seq;
        if !app.setup.can_query_status && app.fleet.instances.iter().any(|i| i.configured) {
            tracing::warn!(
                "client_token is not set (config or ZAPI_CLIENT_TOKEN): /status is not polled and registration is off"
            );
        }
        let mut configured = configured_ids(&app);
        tokio::spawn(async move {
            for cmd in app.init() {
                runner.run(cmd);
            }
            let mut poll = poll_timer(opts.poll_interval, configured.len());
            let mut next_poll = 0usize;
            let mut requests_open = true;
            let mut batch = Vec::with_capacity(FEED_BATCH);
            loop {
                tokio::select! {
                    taken = committed.recv_many(&mut batch, FEED_BATCH) => {
                        if taken == 0 {
                            break;
                        }
                        let now = Utc::now();
                        // a line is about 200 bytes: one allocation per batch
                        let line_bytes = if lines.is_some() { 256 } else { 0 };
                        let mut out = Vec::with_capacity(batch.len() * line_bytes);
                        for (seq, event) in batch.drain(..) {
                            last_seq = seq;
                            if lines.is_some() {
                                write_event_line(&mut out, seq, &event);
                            }
                            // copies only for whoever takes them once applied
                            let tapped = tap.as_ref().map(|_| event.clone());
                            let subscribed = (changes.receiver_count() > 0).then(|| event.clone());
                            metrics.observe_received(&event.kind);
                            let disconnect = matches!(event.kind, EventKind::Disconnected { .. });
                            // alert commands, if the config has them
                            let (cmds, row) = app.apply_webhook(event, now);
                            for cmd in cmds {
                                runner.run(cmd);
                            }
                            if let Some(inst) = app.fleet.instances.get(row) {
                                if disconnect {
                                    metrics.observe_disconnect(inst);
                                }
                                metrics.set_instance(inst);
                            }
                            if let (Some(tap), Some(event)) = (&tap, tapped) {
                                let _ = tap.send((seq, event)).await;
                            }
                            if let Some(event) = subscribed {
                                let _ = changes.send(HubEvent::Webhook { seq, event });
                            }
                        }
                        if let Some(lines) = &lines
                            && !out.is_empty()
                        {
                            let _ = lines.send(out).await;
                        }
                    }
                    Some(msg) = results.recv() => {
                        for cmd in apply_result(&mut app, msg, &metrics, &changes) {
                            runner.run(cmd);
                        }
                    }
                    request = requests.recv(), if requests_open => match request {
                        Some(Request::Snapshot(reply)) => {
                            let _ = reply.send(app.snapshot(last_seq));
                        }
                        Some(Request::Apply(msg)) => {
                            for cmd in apply_result(&mut app, *msg, &metrics, &changes) {
                                runner.run(cmd);
                            }
                        }
                        Some(Request::Reload(reload)) => {
                            let interval = reload.poll_interval;
                            apply_reload(&mut app, &mut runner, *reload, &backend, &metrics, &changes);
                            configured = configured_ids(&app);
                            poll = poll_timer(interval, configured.len());
                        }
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

/// One stored event as the JSON line `serve` prints:
/// `{"instance_id":…,"kind":…,<the kind's field>,"moment":…,"received":…,"seq":N}`
/// with the keys in alphabetical order, followed by `\n`. Byte for byte what
/// `serde_json::to_value(event)` with `seq` inserted prints, without
/// building the map (`event_lines_are_what_the_map_gives`).
pub fn write_event_line(out: &mut Vec<u8>, seq: u64, event: &Event) {
    crate::store::write_event_json_sorted(out, seq, event);
    out.push(b'\n');
}

/// The configured instances, which the hub polls.
/// The instances to poll: the configured ones, none without a Client-Token
/// (a poll would only mark every row failed although nothing failed).
fn configured_ids(app: &App) -> Vec<InstanceId> {
    if !app.setup.can_query_status {
        return Vec::new();
    }
    app.fleet
        .instances
        .iter()
        .filter(|i| i.configured)
        .map(|i| i.id.clone())
        .collect()
}

/// One instance per tick, so the whole fleet is polled once per interval;
/// `None` when polling is off or there is nothing to poll.
fn poll_timer(interval: Duration, instances: usize) -> Option<tokio::time::Interval> {
    let n = u32::try_from(instances).unwrap_or(u32::MAX);
    (!interval.is_zero() && n > 0).then(|| {
        let period = (interval / n).max(Duration::from_millis(10));
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    })
}

/// A reloaded config: the new backend for calls (the hub's and the API's),
/// the new alerts, the app reconfigured; every row is sent to subscribers
/// and the metrics, since names and `configured` may have changed.
fn apply_reload(
    app: &mut App,
    runner: &mut Runner,
    reload: Reload,
    slot: &BackendSlot,
    metrics: &Metrics,
    changes: &broadcast::Sender<HubEvent>,
) {
    let Reload {
        reconfig,
        backend,
        alerts,
        ..
    } = reload;
    let backend = backend.map(Arc::new);
    if let Some(backend) = &backend {
        *slot.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(backend);
    }
    runner.reconfigure(backend, alerts);
    let restart = !reconfig.needs_restart.is_empty();
    for cmd in app.reconfigure(reconfig, Utc::now()) {
        runner.run(cmd);
    }
    for inst in &app.fleet.instances {
        metrics.set_instance(inst);
        let _ = changes.send(HubEvent::Row(Box::new(inst.clone())));
    }
    if let Some(notice) = &app.ops.notice {
        if restart {
            tracing::warn!("{}", notice.text);
        } else {
            tracing::info!("{}", notice.text);
        }
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
/// A status, `/me`, registration or action result: apply, count, tell
/// subscribers; returns the calls it asks for (a `/me` check after a
/// registration).
fn apply_result(
    app: &mut App,
    msg: Msg,
    metrics: &Metrics,
    changes: &broadcast::Sender<HubEvent>,
) -> Vec<Command> {
    let id = match &msg {
        Msg::StatusResult { id, .. }
        | Msg::HooksResult { id, .. }
        | Msg::ActionResult { id, .. } => id.clone(),
        Msg::RegisterResult { id, result } => {
            if result.is_err() {
                metrics.registration_failed();
            }
            id.clone()
        }
        _ => return Vec::new(),
    };
    let cmds = app.update(msg, Utc::now());
    if let Some(inst) = app.get(&id) {
        metrics.set_instance(inst);
        let _ = changes.send(HubEvent::Row(Box::new(inst.clone())));
    }
    cmds
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The line as `serve` first printed it: the event as a JSON map, `seq`
    /// inserted.
    fn by_value(seq: u64, event: &Event) -> Vec<u8> {
        let serde_json::Value::Object(mut line) = serde_json::to_value(event).unwrap() else {
            panic!("not an object");
        };
        line.insert("seq".into(), seq.into());
        let mut out = serde_json::Value::Object(line).to_string().into_bytes();
        out.push(b'\n');
        out
    }

    #[test]
    fn event_lines_are_what_the_map_gives() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let kinds = crate::model::awkward_kinds();
        for (n, kind) in kinds.into_iter().enumerate() {
            for id in ["A", "x\"y", "ünï\t"] {
                let event = Event {
                    instance_id: InstanceId::new(id),
                    kind: kind.clone(),
                    moment: at + chrono::Duration::microseconds(n as i64 * 1_000_001),
                    received: at,
                };
                let mut out = Vec::new();
                write_event_line(&mut out, 9_000_000_001 + n as u64, &event);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    String::from_utf8(by_value(9_000_000_001 + n as u64, &event)).unwrap()
                );
            }
        }
    }

    /// Without a Client-Token nothing can be asked of Z-API: the hub does
    /// not poll, so no row turns "failed" although nothing failed. The
    /// clock is paused: the bound below passes in virtual time, once
    /// nothing else can happen, after many poll periods.
    #[tokio::test(start_paused = true)]
    async fn without_a_client_token_the_hub_polls_nothing() {
        use crate::app::{Setup, TimeZone};
        use crate::tui::{Backend, Services};

        let dir = tempfile::tempdir().unwrap();
        let id = InstanceId::new("I0");
        let services = Services {
            client: None,
            tokens: [(id.clone(), crate::model::Secret::new("tok"))].into(),
            public_url: Some("https://dash.example".into()),
            secret: None,
            concurrency: 1,
        };
        let (hub, handle) = Hub::new(
            Backend::Zapi(Box::new(services)),
            Arc::new(Metrics::new()),
            dir.path().to_path_buf(),
        );
        let setup = Setup {
            listen: String::new(),
            secret_paths: false,
            config_file: None,
            instances: vec![(id.clone(), None)],
            missing_for_register: Some("client_token"),
            can_query_status: false,
            tz: TimeZone::Local,
            banner: None,
            warnings: Vec::new(),
        };
        let mut changes = handle.subscribe();
        let (_committed, feed) = mpsc::channel(16);
        let task = hub.spawn(
            App::new(setup, Utc::now()),
            feed,
            HubOptions {
                poll_interval: Duration::from_secs(1),
                last_seq: 0,
                tap: None,
            },
        );
        let change = tokio::time::timeout(Duration::from_secs(60), changes.recv()).await;
        assert!(
            change.is_err(),
            "a row changed without any event: {:?}",
            change.map(|c| c.map(|c| match c {
                HubEvent::Row(row) => format!("{:?}", row.status),
                HubEvent::Webhook { .. } => "a webhook".to_string(),
            }))
        );
        let row = handle.instance(&id).await.expect("the row");
        assert_eq!(row.status, StatusCheck::Never);
        task.abort();
    }
}
