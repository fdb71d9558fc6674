//! The relay: every webhook the log holds, delivered onward to the
//! operator's own systems (`[[forward]]`), durably, in order per instance.
//!
//! Each target has a task ([`engine`]) that reads the log after the
//! target's cursor (`forward/<target>.cursor` beside the segments, see
//! [`crate::store::Cursor`]) and POSTs each wanted event's original body,
//! byte for byte, with the Standard Webhooks headers ([`sign`]). Delivery
//! is at-least-once: after a crash the events after the saved cursor are
//! sent again with the same `webhook-id` ([`post::webhook_id`]).

mod dead;
mod engine;
pub mod post;
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    pub failures: u64,
    pub dead_letters: usize,
    pub last_error: Option<String>,
    pub last_delivery: Option<DateTime<Utc>>,
    /// Instance id → the last result for it.
    pub instances: BTreeMap<String, InstanceResult>,
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

/// The relay: one task per target once started. Cheap to clone: the API
/// and the screen hold handles made before the log is open.
#[derive(Clone)]
pub struct Relay {
    targets: Arc<Vec<TargetHandle>>,
    idle: Arc<Mutex<Vec<Idle>>>,
    opts: RelayOptions,
    /// The log directory, once started.
    dir: Arc<Mutex<Option<std::path::PathBuf>>>,
    stop: Arc<watch::Sender<bool>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field(
                "targets",
                &self.targets.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Relay {
    /// The relay of `targets`, not delivering yet ([`Relay::start`]).
    pub fn new(targets: Vec<ForwardTarget>, opts: RelayOptions) -> Relay {
        let mut handles = Vec::new();
        let mut idle = Vec::new();
        for target in targets {
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
            handles.push(TargetHandle {
                name: target.name.clone(),
                status: Arc::clone(&status),
                control,
            });
            idle.push(Idle {
                target,
                status,
                control: control_rx,
            });
        }
        Relay {
            targets: Arc::new(handles),
            idle: Arc::new(Mutex::new(idle)),
            opts,
            dir: Arc::new(Mutex::new(None)),
            stop: Arc::new(watch::channel(false).0),
            tasks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// [`Relay::new`] and [`Relay::start`] at once.
    pub fn start_new(log: &EventLog, targets: Vec<ForwardTarget>, opts: RelayOptions) -> Relay {
        let relay = Relay::new(targets, opts);
        relay.start(log);
        relay
    }

    /// Starts a task per target over `log` (which must keep bodies, see
    /// [`crate::store::LogOptions::bodies`]). A target without a saved
    /// cursor starts at the end of the log. A second call does nothing.
    /// Needs a tokio runtime.
    pub fn start(&self, log: &EventLog) {
        let idle = std::mem::take(&mut *engine::lock_idle(&self.idle));
        *engine::lock_any(&self.dir) = Some(log.dir().to_path_buf());
        let client = reqwest::Client::builder()
            .user_agent(concat!("zapi-dash/", env!("CARGO_PKG_VERSION"), " relay"))
            .build()
            .unwrap_or_default();
        let mut tasks = Vec::new();
        for Idle {
            target,
            status,
            control,
        } in idle
        {
            let dir = log.dir().to_path_buf();
            let synced = log.synced();
            let cursor = first_cursor(&dir, &target, *synced.borrow());
            {
                let mut status = engine::lock(&status);
                status.cursor = cursor;
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
                    opts: self.opts.clone(),
                    client: client.clone(),
                },
                engine::Links {
                    synced,
                    control,
                    stop: self.stop.subscribe(),
                    status,
                },
                cursor,
            );
            tasks.push(tokio::spawn(engine.run()));
        }
        engine::lock_tasks(&self.tasks).extend(tasks);
    }

    /// Whether there are targets at all.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Every target's numbers, in configuration order.
    pub fn status(&self) -> Vec<TargetStatus> {
        self.targets
            .iter()
            .map(|t| engine::lock(&t.status).clone())
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
        let target = self.targets.iter().find(|t| t.name == name)?;
        let dir = engine::lock_any(&self.dir).clone()?;
        Some(dead::load(&dir, &target.name))
    }

    async fn ask(&self, name: &str, make: fn(oneshot::Sender<usize>) -> Control) -> Option<usize> {
        let target = self.targets.iter().find(|t| t.name == name)?;
        let (reply, answer) = oneshot::channel();
        target.control.send(make(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Stops every task (in-flight attempts are dropped: they are sent
    /// again after a restart) and waits until each saved its cursor.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *engine::lock_tasks(&self.tasks));
        for task in tasks {
            let _ = task.await;
        }
    }
}
