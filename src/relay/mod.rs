//! The relay: every webhook the log holds, delivered onward to the
//! operator's own systems (`[[forward]]`), durably, in order per instance.
//!
//! Each target has a task ([`engine`]) that reads the log after the
//! target's cursor (`forward/<target>.cursor` beside the segments, see
//! [`crate::store::Cursor`]) and POSTs each wanted event's original body,
//! byte for byte, with the Standard Webhooks headers ([`sign`]). Delivery
//! is at-least-once: after a crash the events after the saved cursor are
//! sent again with the same `webhook-id` ([`post::webhook_id`]).
//!
//! With `[cluster]` the relay is given a [`Gate`] ([`Relay::set_gate`]):
//! every replica keeps the bodies and runs the tasks, but only the
//! leader's deliver; the others stand by ([`TargetStatus::standby`]). The
//! leader shares each target's cursor as it saves it, and a replica that
//! becomes the leader goes on from the later of its own cursor and the
//! shared one ([`gate`]). Adopted targets are shared too ([`shared`]);
//! dead letters stay in the files of the replica that wrote them.

pub mod adopt;
mod dead;
mod engine;
pub mod gate;
pub mod post;
mod shared;
pub mod sign;
pub mod target;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use dead::DeadLetter;
pub use engine::Control;
pub use gate::{Gate, Shared};
pub use target::{ForwardTarget, Types};

use crate::store::{Cursor, EventLog, read_cursor, write_cursor};

/// Where a target starts: its saved cursor, else the end of the log
/// (`end`), saved at once.
fn first_cursor(dir: &std::path::Path, target: &ForwardTarget, end: u64) -> u64 {
    if let Some(cursor) = read_cursor(dir, &target.name) {
        return cursor.after;
    }
    let cursor = Cursor {
        after: end,
        max_age_secs: target.max_age.as_secs(),
    };
    if let Err(e) = write_cursor(dir, &target.name, cursor) {
        tracing::warn!(target = %target.name, error = %e, "relay: cannot save the first cursor");
    }
    end
}

/// How the relay delivers (the defaults suit production; tests shorten
/// the waits).
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Instances delivered at once per target.
    pub parallel: usize,
    /// First retry delay, doubling per failure of the same event…
    pub backoff_base: Duration,
    /// …up to this.
    pub backoff_cap: Duration,
    /// One attempt's timeout.
    pub timeout: Duration,
    /// Events read from the log at a time.
    pub batch: usize,
    /// Most events read and not finished per target (memory bound).
    pub buffered: usize,
    /// The cursor is saved at most this often while delivering.
    pub persist_every: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            parallel: 16,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            batch: 1024,
            buffered: 10_000,
            persist_every: Duration::from_millis(100),
        }
    }
}

/// The last delivery to a target of one instance's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceResult {
    pub ok: bool,
    pub at: DateTime<Utc>,
    pub error: Option<String>,
}

/// What a target's task reports: for the header, `F`, the detail pane and
/// `GET /api/forward`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TargetStatus {
    pub name: String,
    /// The URL with token-like path segments cut ([`crate::mask::mask_url`]).
    pub url: String,
    pub adopted: bool,
    /// The instances it takes (empty: all).
    pub instance_filter: Vec<String>,
    /// Every event up to this `seq` is delivered or dead.
    pub cursor: u64,
    /// The highest `seq` in the log.
    pub log_seq: u64,
    /// Events not delivered yet (at most: records the target does not want
    /// count until they are read).
    pub lag_events: u64,
    /// Receipt time of the oldest event waiting.
    pub oldest_pending: Option<DateTime<Utc>>,
    pub delivered: u64,
    /// Deliveries per second over the last minute (or since the start).
    pub rate_per_s: f64,
    pub failures: u64,
    pub dead_letters: usize,
    pub last_error: Option<String>,
    pub last_delivery: Option<DateTime<Utc>>,
    /// Instance id → the last result for it.
    pub instances: BTreeMap<String, InstanceResult>,
    /// `[cluster]`: this replica does not lead, so it delivers nothing (the
    /// leader does; its numbers are the ones to read). Its `lag_events`
    /// is 0 meanwhile and its `cursor` the one it last saved.
    pub standby: bool,
    /// What [`TargetStatus::rate_per_s`] is counted from when read: the
    /// oldest delivery count kept (at most a minute old when the task last
    /// looked) and when the task last looked (it looks after every delivery).
    #[serde(skip)]
    pub rate_from: Option<(tokio::time::Instant, u64)>,
    #[serde(skip)]
    pub looked_at: Option<tokio::time::Instant>,
}

impl TargetStatus {
    /// How long the oldest waiting event has waited at `now`.
    pub fn lag_age(&self, now: DateTime<Utc>) -> Duration {
        self.oldest_pending
            .and_then(|t| (now - t).to_std().ok())
            .unwrap_or_default()
    }
}

struct TargetHandle {
    name: String,
    status: Arc<Mutex<TargetStatus>>,
    control: mpsc::Sender<Control>,
}

/// A target waiting for [`Relay::start`].
struct Idle {
    target: ForwardTarget,
    status: Arc<Mutex<TargetStatus>>,
    control: mpsc::Receiver<Control>,
}

struct Inner {
    targets: Mutex<Vec<TargetHandle>>,
    idle: Mutex<Vec<Idle>>,
    opts: RelayOptions,
    /// The log, once started.
    log: Mutex<Option<EventLog>>,
    client: reqwest::Client,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// `[cluster]`: deliver only while leading ([`Relay::set_gate`]).
    gate: Mutex<Option<Gate>>,
    /// Held while adopted targets are started: an adoption here and one
    /// heard of from another replica never start one target twice.
    starting: Mutex<()>,
}

/// The relay: one task per target once started, more as targets are
/// adopted. Cheap to clone: the API and the screen hold handles made
/// before the log is open.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.handles(|h| h.name.clone());
        f.debug_struct("Relay").field("targets", &names).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Relay {
    /// The relay of `targets`, not delivering yet ([`Relay::start`]).
    pub fn new(targets: Vec<ForwardTarget>, opts: RelayOptions) -> Relay {
        let client = reqwest::Client::builder()
            .user_agent(concat!("zapi-dash/", env!("CARGO_PKG_VERSION"), " relay"))
            .build()
            .unwrap_or_default();
        let relay = Relay {
            inner: Arc::new(Inner {
                targets: Mutex::new(Vec::new()),
                idle: Mutex::new(Vec::new()),
                opts,
                log: Mutex::new(None),
                client,
                stop: watch::channel(false).0,
                tasks: Mutex::new(Vec::new()),
                gate: Mutex::new(None),
                starting: Mutex::new(()),
            }),
        };
        for target in targets {
            let idle = relay.add_handle(target);
            lock(&relay.inner.idle).push(idle);
        }
        relay
    }

    /// From now on the relay delivers only while `gate` is open, its
    /// cursors shared through it (`[cluster]`: on the leader). For every
    /// clone of it; call it before [`Relay::start`] (targets started before
    /// deliver always).
    pub fn set_gate(&self, gate: Gate) {
        *lock(&self.inner.gate) = Some(gate);
    }

    /// A handle for `target` (seen by [`Relay::status`] at once) and what
    /// its task will need.
    fn add_handle(&self, target: ForwardTarget) -> Idle {
        let status = Arc::new(Mutex::new(TargetStatus {
            name: target.name.clone(),
            url: crate::mask::mask_url(&target.url),
            adopted: target.adopted,
            instance_filter: target
                .instances
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect(),
            ..TargetStatus::default()
        }));
        let (control, control_rx) = mpsc::channel(8);
        lock(&self.inner.targets).push(TargetHandle {
            name: target.name.clone(),
            status: Arc::clone(&status),
            control,
        });
        Idle {
            target,
            status,
            control: control_rx,
        }
    }

    /// [`Relay::new`] and [`Relay::start`] at once.
    pub fn start_new(log: &EventLog, targets: Vec<ForwardTarget>, opts: RelayOptions) -> Relay {
        let relay = Relay::new(targets, opts);
        relay.start(log);
        relay
    }

    /// Starts a task per target over `log`, the targets adopted earlier
    /// (`forward/adopted.json`) among them; with any target the log keeps
    /// bodies from now on. A target without a saved cursor starts at the
    /// end of the log. A second call does nothing. Needs a tokio runtime.
    pub fn start(&self, log: &EventLog) {
        if lock(&self.inner.log).replace(log.clone()).is_some() {
            return;
        }
        let known: Vec<String> = self.handles(|h| h.name.clone());
        for adopted in adopt::load(log.dir()) {
            if !known.contains(&adopted.name()) {
                let idle = self.add_handle(adopted.target());
                lock(&self.inner.idle).push(idle);
            }
        }
        let idle = std::mem::take(&mut *lock(&self.inner.idle));
        for target in idle {
            self.spawn(log, target);
        }
        if self.shared().is_some() {
            let sync = self
                .clone()
                .keep_adopted_in_sync(self.inner.stop.subscribe());
            lock(&self.inner.tasks).push(tokio::spawn(sync));
        }
    }

    /// The log, once started.
    fn running_log(&self) -> Option<EventLog> {
        lock(&self.inner.log).clone()
    }

    /// What the replicas share, with `[cluster]`.
    fn shared(&self) -> Option<Arc<dyn Shared>> {
        lock(&self.inner.gate)
            .as_ref()
            .map(|g| Arc::clone(&g.shared))
    }

    /// Starts one target's task.
    fn spawn(&self, log: &EventLog, idle: Idle) {
        let Idle {
            target,
            status,
            control,
        } = idle;
        log.set_keep_bodies(true);
        let dir = log.dir().to_path_buf();
        let synced = log.synced();
        let gate = lock(&self.inner.gate).clone();
        // gated, a target without a cursor places it when it first leads
        let cursor = match gate {
            Some(_) => read_cursor(&dir, &target.name).map(|c| c.after),
            None => Some(first_cursor(&dir, &target, *synced.borrow())),
        };
        {
            let mut status = lock(&status);
            status.cursor = cursor.unwrap_or_default();
            status.standby = gate.is_some();
            status.dead_letters = dead::load(&dir, &target.name).len();
        }
        let key = target
            .signing_secret
            .as_ref()
            .and_then(|s| sign::key_bytes(s).ok())
            .map(Arc::new);
        let engine = engine::Engine::new(
            engine::Parts {
                target,
                key,
                dir,
                opts: self.inner.opts.clone(),
                client: self.inner.client.clone(),
            },
            engine::Links {
                synced,
                control,
                stop: self.inner.stop.subscribe(),
                status,
                gate: gate.as_ref().map(|g| g.active.clone()),
                cursors: gate.map(|g| g.shared),
            },
            cursor,
        );
        lock(&self.inner.tasks).push(tokio::spawn(engine.run()));
    }

    /// Adopts `urls` (written to `forward/adopted.json` first; with
    /// `[cluster]`, shared with every replica before) and starts a task for
    /// each target that is new; their names. Fails when the relay is not
    /// running or the list cannot be written.
    pub async fn adopt(&self, urls: Vec<adopt::Adopted>) -> Result<Vec<String>, String> {
        let Some(log) = self.running_log() else {
            return Err("the relay is not running".into());
        };
        let shared = self.shared();
        let mut all = shared::adopted(shared.as_deref(), log.dir()).await?;
        let before: Vec<String> = all.iter().map(adopt::Adopted::name).collect();
        for a in urls {
            adopt::merge(&mut all, a);
        }
        if let Some(s) = &shared {
            let end = *log.synced().borrow();
            shared::publish(s.as_ref(), &all, &before, end).await?;
        }
        adopt::save(log.dir(), &all)
            .map_err(|e| format!("cannot save the adopted targets: {e}"))?;
        Ok(self.start_adopted(&log, all))
    }

    /// Starts a task for each target of `all` that has none; their names.
    fn start_adopted(&self, log: &EventLog, all: Vec<adopt::Adopted>) -> Vec<String> {
        let _starting = lock(&self.inner.starting);
        let known: Vec<String> = self.handles(|h| h.name.clone());
        let mut started = Vec::new();
        for a in all {
            let name = a.name();
            if !known.contains(&name) {
                let idle = self.add_handle(a.target());
                self.spawn(log, idle);
                started.push(name);
            }
        }
        started
    }

    /// Stops forwarding `instance`'s events to the targets adopted for it:
    /// they leave `forward/adopted.json` (with `[cluster]`, every
    /// replica's) and their tasks stop (cursor saved). Their names.
    pub async fn remove_adopted(&self, instance: &str) -> Result<Vec<String>, String> {
        let Some(log) = self.running_log() else {
            return Err("the relay is not running".into());
        };
        let shared = self.shared();
        let all = shared::adopted(shared.as_deref(), log.dir()).await?;
        let (gone, kept): (Vec<_>, Vec<_>) = all.into_iter().partition(|a| a.instance == instance);
        if let Some(s) = &shared {
            gate::bounded(s.save_adopted(kept.clone()))
                .await
                .map_err(|e| format!("cannot share the adopted targets: {e}"))?;
        }
        adopt::save(log.dir(), &kept)
            .map_err(|e| format!("cannot save the adopted targets: {e}"))?;
        let names: Vec<String> = gone.iter().map(adopt::Adopted::name).collect();
        // dropping a target's control channel ends its task
        lock(&self.inner.targets).retain(|t| !names.contains(&t.name));
        Ok(names)
    }

    fn handles<T>(&self, f: impl Fn(&TargetHandle) -> T) -> Vec<T> {
        lock(&self.inner.targets).iter().map(f).collect()
    }

    /// Whether there are targets at all.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner.targets).is_empty()
    }

    /// Whether the log in `dir` must keep the bodies from the start: a
    /// target is configured, or one was adopted earlier (it starts with
    /// the relay).
    pub fn wants_bodies(&self, dir: &std::path::Path) -> bool {
        !self.is_empty() || !adopt::load(dir).is_empty()
    }

    /// Every target's numbers, the configured in order, then the adopted;
    /// the delivery rate counted up to now (a task
    /// that delivers nothing does not update it: no delivery for a minute
    /// is 0/s, not the rate of the last burst).
    pub fn status(&self) -> Vec<TargetStatus> {
        let now = tokio::time::Instant::now();
        self.handles(|t| {
            let mut status = lock(&t.status).clone();
            let recent = status
                .looked_at
                .is_some_and(|at| now.duration_since(at).as_secs() < 60);
            status.rate_per_s = if recent {
                engine::rate_per_s(status.rate_from, now, status.delivered)
            } else {
                0.0
            };
            status
        })
    }

    /// The URLs adopted for `instance`, as they are (for `/me`'s drift).
    pub fn adopted_urls(&self, instance: &str) -> Vec<String> {
        let Some(log) = lock(&self.inner.log).clone() else {
            return Vec::new();
        };
        adopt::load(log.dir())
            .into_iter()
            .filter(|a| a.instance == instance)
            .map(|a| a.url)
            .collect()
    }

    /// Queues target `name`'s dead letters again: how many, or `None` for
    /// no such target (or one that stopped).
    pub async fn retry(&self, name: &str) -> Option<usize> {
        self.ask(name, Control::RetryDead).await
    }

    /// Drops target `name`'s dead letters: how many.
    pub async fn drop_dead(&self, name: &str) -> Option<usize> {
        self.ask(name, Control::DropDead).await
    }

    /// Target `name`'s dead letters, oldest first (`None`: no such target,
    /// or not started).
    pub fn dead_letters(&self, name: &str) -> Option<Vec<DeadLetter>> {
        let known = self.handles(|h| h.name == name).contains(&true);
        let dir = lock(&self.inner.log).as_ref()?.dir().to_path_buf();
        known.then(|| dead::load(&dir, name))
    }

    async fn ask(&self, name: &str, make: fn(oneshot::Sender<usize>) -> Control) -> Option<usize> {
        let control = lock(&self.inner.targets)
            .iter()
            .find(|t| t.name == name)?
            .control
            .clone();
        let (reply, answer) = oneshot::channel();
        control.send(make(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Stops every task (in-flight attempts are dropped: they are sent
    /// again after a restart) and waits until each saved its cursor.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let tasks = std::mem::take(&mut *lock(&self.inner.tasks));
        for task in tasks {
            let _ = task.await;
        }
    }
}
