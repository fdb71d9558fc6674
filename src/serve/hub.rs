//! The state of `serve`: one task owns the [`Fleet`] (the domain core the
//! dashboard builds on too), applies every stored event in `seq` order,
//! polls Z-API `/status` through the same [`PollSchedule`] as the
//! dashboard, and tells subscribers (the SSE stream, the metrics, `serve`'s
//! stdout) what changed. It holds no screen state: no view, no overlays.
//!
//! Because events arrive from the log's committed feed in `seq` order, a
//! snapshot taken here is exact: it holds every event up to its `seq` and
//! none after, so a stream that sends the snapshot and then the live events
//! with a higher `seq` misses nothing and repeats nothing.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::app::{Command, Msg, Settings};
use crate::fleet::health::Rules;
use crate::fleet::poll::PollSchedule;
use crate::fleet::{Fleet, HookCheck, Instance, Snapshot, StatusCheck};
use crate::metrics::Metrics;
use crate::model::{ConnState, Event, EventKind, InstanceId};
use crate::reload::Reload;
use crate::runner::{Alerts, Backend, Runner};
use crate::zapi::ApiError;

mod sharing;
use crate::fleet::shared::{ClusterLink, Observation};
use sharing::Sharing;

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
    /// With `[cluster]`: why webhooks cannot be held now (`None`: they
    /// can); the event streams say it to their clients.
    cluster_health: Option<watch::Receiver<Option<String>>>,
}

impl HubHandle {
    /// With `[cluster]`: the event streams tell their clients when the
    /// cluster becomes unreachable (see [`super::events`]).
    pub fn with_cluster_health(mut self, health: watch::Receiver<Option<String>>) -> Self {
        self.cluster_health = Some(health);
        self
    }

    /// What [`HubHandle::with_cluster_health`] gave.
    pub fn cluster_health(&self) -> Option<watch::Receiver<Option<String>>> {
        self.cluster_health.clone()
    }

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
    /// `seq` of the last event replayed into the fleet.
    pub last_seq: u64,
    /// Every applied webhook is also sent here (`serve`'s stdout).
    pub tap: Option<mpsc::Sender<(u64, Event)>>,
}

/// What the hub judges the fleet by: the few settings of the config it
/// needs (the rest are the screen's).
#[derive(Debug, Clone, Copy)]
pub struct HubSettings {
    /// When an instance is down long enough to be an outage.
    pub rules: Rules,
    /// Which alert commands the config has: (on_disconnect, on_connect).
    pub alerts: (bool, bool),
    /// `GET …/me` can be asked.
    pub can_check_hooks: bool,
    /// A Client-Token is configured, so `/status` can be asked.
    pub can_query_status: bool,
}

impl HubSettings {
    /// The hub's part of the config's settings.
    pub fn new(settings: &Settings, can_query_status: bool) -> HubSettings {
        HubSettings {
            rules: settings.rules,
            alerts: settings.alerts,
            can_check_hooks: settings.can_check_hooks,
            can_query_status,
        }
    }
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
    leader: Option<watch::Receiver<bool>>,
    sharing: Option<Sharing>,
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
            cluster_health: None,
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
                leader: None,
                sharing: None,
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
    pub fn with_alerts(mut self, alerts: Alerts) -> Hub {
        self.runner = self.runner.with_alerts(alerts);
        self
    }

    /// With `[cluster]`: side effects (`/status` and `/me` polls, alert
    /// commands) only while `leader` says this replica leads; on becoming
    /// the leader it asks `/status` of every instance at once. API actions
    /// (`register`, `restart`…) still run here whoever leads.
    pub fn with_leader(mut self, leader: watch::Receiver<bool>) -> Hub {
        self.leader = Some(leader);
        self
    }

    /// With `[cluster]`: the leader tells the followers what it saw, a
    /// follower applies it and holds its alerts for a hand-over (see
    /// [`sharing`]).
    pub fn with_sharing(mut self, link: ClusterLink) -> Hub {
        self.sharing = Some(Sharing::new(link));
        self
    }

    /// Runs the hub on `fleet` (already holding the replayed log), fed by
    /// the log's committed events, until that feed ends.
    pub fn spawn(
        self,
        fleet: Fleet,
        settings: HubSettings,
        mut committed: mpsc::Receiver<(u64, Event)>,
        opts: HubOptions,
    ) -> JoinHandle<()> {
        let Hub {
            mut requests,
            changes,
            runner,
            mut results,
            metrics,
            lines,
            backend,
            leader,
            sharing,
        } = self;
        let mut core = Core {
            fleet,
            settings,
            poll: None,
            tick: None,
            last_seq: opts.last_seq,
            runner,
            metrics,
            changes,
            lines,
            tap: opts.tap,
            backend,
            leader,
            sharing,
        };
        // the replayed fleet is in the metrics before the task runs, as before
        core.start(opts.poll_interval);
        tokio::spawn(async move {
            let mut requests_open = true;
            let mut batch = Vec::with_capacity(FEED_BATCH);
            loop {
                tokio::select! {
                    taken = committed.recv_many(&mut batch, FEED_BATCH) => {
                        if taken == 0 {
                            break;
                        }
                        core.take(&mut batch).await;
                    }
                    Some(msg) = results.recv() => core.on_result(msg),
                    request = requests.recv(), if requests_open => match request {
                        Some(request) => core.on_request(request),
                        None => requests_open = false,
                    },
                    _ = tick(&mut core.tick) => core.poll(),
                    Some(leads) = leadership(&mut core.leader) => core.on_leadership(leads),
                    Some(heard) = sharing::heard(&mut core.sharing) => core.on_heard(heard),
                }
            }
        })
    }
}

/// The running hub's state and what it tells.
struct Core {
    fleet: Fleet,
    settings: HubSettings,
    /// When each configured instance's `/status` is next asked.
    poll: Option<PollSchedule>,
    /// When to look at `poll` again; `None` when nothing is polled.
    tick: Option<tokio::time::Interval>,
    last_seq: u64,
    runner: Runner,
    metrics: Arc<Metrics>,
    changes: broadcast::Sender<HubEvent>,
    lines: Option<mpsc::Sender<Vec<u8>>>,
    tap: Option<mpsc::Sender<(u64, Event)>>,
    backend: BackendSlot,
    /// `[cluster]`'s leader lease; `None`: a single `serve`, always acting.
    leader: Option<watch::Receiver<bool>>,
    /// `[cluster]`'s words between the leader and the followers.
    sharing: Option<Sharing>,
}

impl Core {
    /// Whether side effects run here: always without `[cluster]`, else
    /// while this replica leads.
    fn acts(&self) -> bool {
        self.leader.as_ref().is_none_or(|l| *l.borrow())
    }

    /// This replica became the leader (or stopped being it): a new leader
    /// asks `/status` of every instance now (the polls go on from there).
    fn on_leadership(&mut self, leads: bool) {
        if leads {
            self.run_taken_over();
        }
        if leads && self.settings.can_query_status {
            let rows: Vec<usize> = (0..self.fleet.instances.len()).collect();
            self.ask_status_of(&rows);
        }
    }

    /// The metrics of the replayed fleet, the calls to make at start
    /// (`/status` and `/me` of every configured instance), the poller.
    fn start(&mut self, poll_interval: Duration) {
        for inst in &self.fleet.instances {
            self.metrics.set_instance(inst);
        }
        self.name_calls();
        let configured = self.fleet.instances.iter().any(|i| i.configured);
        if !self.settings.can_query_status && configured {
            tracing::warn!(
                "client_token is not set (config or ZAPI_CLIENT_TOKEN): /status is not polled and registration is off"
            );
        }
        // outages already under way at start are not new
        self.fleet
            .announce_outages(&self.settings.rules, Utc::now());
        if self.settings.can_query_status {
            let rows: Vec<usize> = (0..self.fleet.instances.len()).collect();
            self.ask_status_of(&rows);
        }
        self.restart_poll(poll_interval);
    }

    /// Asks `/status` (and, where it can, `/me`) of the configured
    /// instances among `rows`, unless already asked.
    fn ask_status_of(&mut self, rows: &[usize]) {
        if !self.acts() {
            return;
        }
        let hooks = self.settings.can_check_hooks;
        for &row in rows {
            let polled = self
                .fleet
                .instances
                .get(row)
                .is_some_and(|i| self.fleet.polled(i));
            let Some(inst) = self.fleet.instances.get_mut(row).filter(|_| polled) else {
                continue;
            };
            if inst.status != StatusCheck::Pending {
                inst.status = StatusCheck::Pending;
                self.runner.run(Command::FetchStatus(inst.id.clone()));
            }
            if hooks && inst.hooks != HookCheck::Pending {
                inst.hooks = HookCheck::Pending;
                self.runner.run(Command::FetchHooks(inst.id.clone()));
            }
        }
    }

    /// One poller over the configured instances, none without a
    /// Client-Token (a poll would only mark every row failed although
    /// nothing failed), as the dashboard's.
    fn restart_poll(&mut self, interval: Duration) {
        let ids = if self.settings.can_query_status {
            self.fleet.configured_ids()
        } else {
            Vec::new()
        };
        let n = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        if interval.is_zero() || n == 0 {
            (self.poll, self.tick) = (None, None);
            return;
        }
        self.poll = Some(PollSchedule::new(ids, interval, Utc::now()));
        // looked at about as often as one instance falls due
        let period = (interval / n).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.tick = Some(tick);
    }

    /// The instances due now: `/status` of each not already asked.
    fn poll(&mut self) {
        if !self.acts() {
            return;
        }
        let Some(poll) = &mut self.poll else {
            return;
        };
        for id in poll.due(Utc::now()) {
            let ask = self
                .fleet
                .get(&id)
                .is_some_and(|i| i.status != StatusCheck::Pending && self.fleet.polled(i));
            if ask {
                self.runner.run(Command::FetchStatus(id));
            }
        }
    }

    /// Stored events taken from the feed, applied in `seq` order; their
    /// JSON lines go to `serve`'s stdout as one buffer.
    async fn take(&mut self, batch: &mut Vec<(u64, Event)>) {
        let now = Utc::now();
        // a line is about 200 bytes: one allocation per batch
        let line_bytes = if self.lines.is_some() { 256 } else { 0 };
        let mut out = Vec::with_capacity(batch.len() * line_bytes);
        let mut ran = false;
        for (seq, event) in batch.drain(..) {
            if self.lines.is_some() {
                write_event_line(&mut out, seq, &event);
            }
            ran |= self.take_one(seq, event, now).await;
        }
        let seq = self.last_seq;
        self.tell(|| Observation::Alerted { seq, ran });
        if let Some(lines) = &self.lines
            && !out.is_empty()
        {
            let _ = lines.send(out).await;
        }
    }

    /// One stored event: applied, counted, its alert run (or held, on a
    /// follower), told. Whether an alert command ran.
    async fn take_one(&mut self, seq: u64, event: Event, now: DateTime<Utc>) -> bool {
        self.last_seq = seq;
        // copies only for whoever takes them once applied
        let tapped = self.tap.as_ref().map(|_| event.clone());
        let subscribed = (self.changes.receiver_count() > 0).then(|| event.clone());
        let alerts = self.settings.alerts;
        let for_alert = (alerts != (false, false) && self.may_alert()).then(|| event.clone());
        self.metrics.observe_received(&event.kind);
        let disconnect = matches!(event.kind, EventKind::Disconnected { .. });
        let applied = self.fleet.apply_event(event, now);
        // alert commands, if the config has them
        let mut ran = false;
        if let (Some(state), Some(event)) = (applied.became, for_alert)
            && let Some(cmd) = crate::app::alert_for(
                alerts,
                state,
                &event,
                self.fleet.instances[applied.row].label(),
            )
        {
            ran = self.alert(seq, cmd);
        }
        let inst = &self.fleet.instances[applied.row];
        if disconnect {
            self.metrics.observe_disconnect(inst);
        }
        self.metrics.set_instance(inst);
        if let (Some(tap), Some(event)) = (&self.tap, tapped) {
            let _ = tap.send((seq, event)).await;
        }
        if let Some(event) = subscribed {
            let _ = self.changes.send(HubEvent::Webhook { seq, event });
        }
        ran
    }

    /// The alert command for a change a `/status` answer or a listing saw
    /// (on the leader only, as every alert with `[cluster]`).
    fn seen_alert(&mut self, row: usize, seen: Option<ConnState>, now: DateTime<Utc>) {
        if !self.acts() {
            return;
        }
        let inst = self.fleet.instances.get(row);
        if let Some(cmd) = inst.zip(seen).and_then(|(inst, state)| {
            crate::app::seen_alert(self.settings.alerts, inst, state, now)
        }) {
            self.runner.run(cmd);
        }
    }

    fn on_request(&mut self, request: Request) {
        match request {
            Request::Snapshot(reply) => {
                let _ = reply.send(self.fleet.snapshot(self.last_seq));
            }
            Request::Apply(msg) => self.on_result(*msg),
            Request::Reload(reload) => self.apply_reload(*reload),
        }
    }

    /// A status, `/me`, registration or action result: apply, count, tell
    /// subscribers; a `/me` check after a registration that went well.
    fn on_result(&mut self, msg: Msg) {
        let now = Utc::now();
        let fleet = &mut self.fleet;
        let row = match msg {
            Msg::StatusResult {
                id,
                result: Err(ApiError::Config(_)),
            } => fleet.status_not_asked(&id),
            Msg::StatusResult { id, result } => {
                let result = result.map_err(|e| e.to_string());
                self.tell(|| Observation::Status {
                    id: id.clone(),
                    at: now,
                    result: result.clone(),
                });
                let applied = self.fleet.apply_status(&id, result, now);
                if let Some(a) = applied {
                    self.seen_alert(a.row, a.seen_change, now);
                }
                applied.map(|a| a.row)
            }
            Msg::RegisterResult { id, result } => {
                if result.is_err() {
                    self.metrics.registration_failed();
                }
                let verify = result.is_ok() && self.settings.can_check_hooks;
                let row = fleet.apply_registration(&id, result.map_err(|e| e.to_string()), now);
                if let Some(r) = row.filter(|_| verify)
                    && fleet.ask_hooks(r)
                {
                    self.runner.run(Command::FetchHooks(id));
                }
                row
            }
            Msg::HooksResult { id, result } => {
                let result = result.map_err(|e| e.to_string());
                self.tell(|| Observation::Hooks {
                    id: id.clone(),
                    at: now,
                    result: result.clone(),
                });
                self.fleet.apply_hooks(&id, result, now)
            }
            Msg::ActionResult { id, action, result } => {
                fleet.apply_action(&id, action, result.map_err(|e| e.to_string()), now)
            }
            Msg::Discovered { account, result } => return self.on_listing(&account, result, now),
            _ => return,
        };
        self.row_changed(row);
    }

    /// A row changed for another reason than a webhook: its metrics, and
    /// the subscribers told.
    fn row_changed(&self, row: Option<usize>) {
        if let Some(inst) = row.and_then(|r| self.fleet.instances.get(r)) {
            self.metrics.set_instance(inst);
            let _ = self.changes.send(HubEvent::Row(Box::new(inst.clone())));
        }
    }

    /// An account's listing: the rows (metrics for every row of the
    /// account; subscribers told of rows added, removed or changed), or
    /// its failure counted and logged.
    fn on_listing(
        &mut self,
        account: &str,
        result: Result<Vec<crate::fleet::ListedInstance>, String>,
        now: DateTime<Utc>,
    ) {
        let listed = match result {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(account, error = %error, "discovery failed, keeping the instances known");
                self.fleet.listing_failed(account, error);
                self.metrics.discovery_failed(account);
                return;
            }
        };
        self.tell(|| Observation::Listed {
            account: account.to_string(),
            at: now,
            listed: listed.clone(),
        });
        let applied = self.fleet.apply_listing(account, listed, now);
        for &(row, state) in &applied.seen_changes {
            self.seen_alert(row, Some(state), now);
        }
        let mut n = 0;
        for inst in &self.fleet.instances {
            if inst.account.as_deref() == Some(account) {
                n += 1;
                self.metrics.set_instance(inst);
            }
        }
        self.metrics.set_account_instances(account, n);
        if self.changes.receiver_count() == 0 {
            return;
        }
        let changed = applied.added.iter().chain(&applied.removed);
        let rows = changed
            .copied()
            .chain(applied.became.iter().map(|(r, _)| *r));
        let mut sent = std::collections::HashSet::new();
        for row in rows {
            if sent.insert(row)
                && let Some(inst) = self.fleet.instances.get(row)
            {
                let _ = self.changes.send(HubEvent::Row(Box::new(inst.clone())));
            }
        }
    }

    /// A reloaded config: the new backend for calls (the hub's and the
    /// API's), the new alerts, settings and instances, the poller rebuilt;
    /// every row is sent to subscribers and the metrics, since names and
    /// `configured` may have changed.
    fn apply_reload(&mut self, reload: Reload) {
        let Reload {
            reconfig,
            backend,
            alerts,
            poll_interval,
        } = reload;
        let backend = backend.map(Arc::new);
        if let Some(backend) = &backend {
            *self.backend.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(backend);
        }
        self.runner.reconfigure(backend, alerts);
        self.settings = HubSettings::new(&reconfig.settings, reconfig.can_query_status);
        let (added, removed) = match reconfig.instances {
            Some(instances) => self.reconcile(instances),
            None => (0, 0),
        };
        self.name_calls();
        self.restart_poll(poll_interval);
        for inst in &self.fleet.instances {
            self.metrics.set_instance(inst);
            let _ = self.changes.send(HubEvent::Row(Box::new(inst.clone())));
        }
        let notice = crate::app::reload_summary(added, removed, &reconfig.needs_restart);
        if reconfig.needs_restart.is_empty() {
            tracing::info!("{notice}");
        } else {
            tracing::warn!("{notice}");
        }
    }

    /// The diagnostics log names a failed call's instance as the config
    /// does: the runner learns the names of the fleet.
    fn name_calls(&mut self) {
        let names = self
            .fleet
            .instances
            .iter()
            .filter_map(|i| i.name.clone().map(|n| (i.id.clone(), n)));
        self.runner.set_names(names);
    }

    /// The rows for a new list of configured instances (see
    /// [`Fleet::reconcile`]), the new ones asked their `/status`: how many
    /// were added and how many removed.
    fn reconcile(&mut self, instances: Vec<(InstanceId, Option<String>)>) -> (usize, usize) {
        let removed = self.fleet.reconcile(&instances);
        let mut new_rows = Vec::new();
        for (id, name) in instances {
            if self.fleet.get(&id).is_none() {
                new_rows.push(self.fleet.insert(Instance::new(id, name, true)));
            }
        }
        if self.settings.can_query_status {
            self.ask_status_of(&new_rows);
        }
        (new_rows.len(), removed)
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

/// The next change of the leader lease, if there is one to follow; never
/// resolves without one (or once it is gone).
async fn leadership(leader: &mut Option<watch::Receiver<bool>>) -> Option<bool> {
    let Some(rx) = leader else {
        return std::future::pending().await;
    };
    if rx.changed().await.is_err() {
        // the election stopped (serve is stopping): the last word stands
        return std::future::pending().await;
    }
    Some(*rx.borrow_and_update())
}

async fn tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
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
        use crate::runner::Services;

        let dir = tempfile::tempdir().unwrap();
        let id = InstanceId::new("I0");
        let services = Services {
            client: None,
            tokens: [(id.clone(), crate::model::Secret::new("tok"))].into(),
            public_url: Some("https://dash.example".into()),
            secret: None,
            concurrency: 1,
            accounts: Default::default(),
            all_types: false,
        };
        let (hub, handle) = Hub::new(
            Backend::Zapi(Box::new(services)),
            Arc::new(Metrics::new()),
            dir.path().to_path_buf(),
        );
        let mut changes = handle.subscribe();
        let (_committed, feed) = mpsc::channel(16);
        let task = hub.spawn(
            Fleet::with_configured(&[(id.clone(), None)], Utc::now()),
            HubSettings {
                rules: Rules::default(),
                alerts: (false, false),
                can_check_hooks: false,
                can_query_status: false,
            },
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
