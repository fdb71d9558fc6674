//! The webhook listener, shared by the dashboard, `serve` and the tests:
//! [`Listener::start`] binds, opens the durable log, replays it and serves
//! webhooks.
//!
//! - [`parse`]: a webhook body to an [`Event`];
//! - [`secret`]: secret paths and the URLs registered with Z-API;
//! - [`token_header`]: the `z-api-token` header check;
//! - [`routes`]: the axum router and its handlers;
//! - [`server`]: the accept loop, TLS, connection and time limits.
//!
//! Order matters: bind first (a taken port fails at once), then open the log
//! and replay it into the caller's state, and only then accept webhooks, so
//! no event is both replayed and delivered live.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::model::Event;
use crate::relay::Relay;
use crate::store::{self, EventLog, LogOptions, Record, ReplayStats, StoreError};

pub mod certs;
pub mod parse;
pub mod publish;
pub mod routes;
pub mod secret;
pub mod server;
pub mod token_header;

use routes::{HookOptions, ListenerState};
use secret::WebhookSecret;
use server::ServerOptions;
use token_header::TokenHeaderCheck;

/// Capacity of the channel from the listener to the consumer: when the
/// consumer falls behind, handlers wait (backpressure) rather than buffer
/// without bound.
pub const EVENT_CHANNEL: usize = 4096;

/// What [`Listener::start`] needs.
pub struct ListenerOptions {
    pub listen: SocketAddr,
    /// The event log directory.
    pub log_dir: PathBuf,
    pub retention_days: u32,
    pub secret: Option<WebhookSecret>,
    pub server: ServerOptions,
    /// More routes served beside the webhooks (the HTTP API of `serve`).
    pub extra_routes: Option<axum::Router>,
    /// Where the webhook routes' refusals, ignored fields and `z-api-token`
    /// observations are counted.
    pub metrics: Option<Arc<Metrics>>,
    /// The `z-api-token` header check (the config's instance tokens and
    /// `check_token_header`); the default knows no instance.
    pub token_header: TokenHeaderCheck,
    /// The relay (`[[forward]]`): started over the log once it is replayed,
    /// stopped before it closes; with targets the log keeps each body.
    pub relay: Option<Relay>,
}

/// Why the service could not start. Each names what and where.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error(
        "cannot listen on {addr}: {source} (another program uses it? set `listen` or --listen)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] StoreError),
}

/// A running listener with its log.
pub struct Listener {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    pub log: EventLog,
    relay: Option<Relay>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Listener {
    /// Binds, opens and replays the log into `on_replay` (oldest first),
    /// then starts serving. Returns the service, the events it accepts from
    /// now on (each already on disk, with its `seq`, in `seq` order), and
    /// what the replay found.
    pub async fn start(
        opts: ListenerOptions,
        on_replay: impl FnMut(u64, Event),
    ) -> Result<(Listener, mpsc::Receiver<(u64, Event)>, ReplayStats), ListenerError> {
        let listener = bind(opts.listen).await?;
        Self::start_on(listener, opts, on_replay).await
    }

    /// [`Listener::start`] on a listener the caller bound.
    pub async fn start_on(
        listener: TcpListener,
        opts: ListenerOptions,
        mut on_replay: impl FnMut(u64, Event),
    ) -> Result<(Listener, mpsc::Receiver<(u64, Event)>, ReplayStats), ListenerError> {
        Self::start_on_records(listener, opts, events_only(&mut on_replay)).await
    }

    /// [`Listener::start`] whose webhooks are held by `publisher` (with
    /// `[cluster]`, the JetStream stream) before they are answered, not
    /// appended to the log: whoever consumes them mirrors them into the
    /// log ([`EventLog::mirror`]), whose committed feed is returned as
    /// usual.
    pub async fn start_published(
        opts: ListenerOptions,
        publisher: Arc<dyn publish::Publish>,
        mut on_replay: impl FnMut(u64, Event),
    ) -> Result<(Listener, mpsc::Receiver<(u64, Event)>, ReplayStats), ListenerError> {
        let listener = bind(opts.listen).await?;
        let on_record = events_only(&mut on_replay);
        Self::start_inner(listener, opts, Some(publisher), on_record).await
    }

    /// [`Listener::start_on`] that replays every record, the dashboard's
    /// acknowledgements with the events ([`store::replay_records`]).
    pub async fn start_on_records(
        listener: TcpListener,
        opts: ListenerOptions,
        on_replay: impl FnMut(u64, Record),
    ) -> Result<(Listener, mpsc::Receiver<(u64, Event)>, ReplayStats), ListenerError> {
        Self::start_inner(listener, opts, None, on_replay).await
    }

    async fn start_inner(
        listener: TcpListener,
        opts: ListenerOptions,
        publisher: Option<Arc<dyn publish::Publish>>,
        on_replay: impl FnMut(u64, Record),
    ) -> Result<(Listener, mpsc::Receiver<(u64, Event)>, ReplayStats), ListenerError> {
        let addr = listener
            .local_addr()
            .map_err(|source| ListenerError::Bind {
                addr: opts.listen,
                source,
            })?;
        let (committed, events) = mpsc::channel(EVENT_CHANNEL);
        let log = EventLog::open(LogOptions {
            retention_days: opts.retention_days,
            committed: Some(committed),
            bodies: opts
                .relay
                .as_ref()
                .is_some_and(|r| r.wants_bodies(&opts.log_dir)),
            ..LogOptions::new(&opts.log_dir)
        })?;
        // Blocking file reads, once, before any webhook is taken (and
        // before anything else runs on this task).
        let stats = store::replay_records(&opts.log_dir, on_replay)?;
        if let Some(relay) = &opts.relay {
            relay.start(&log);
        }

        let state = match publisher {
            Some(publisher) => ListenerState::published(publisher),
            None => ListenerState::logged(log.clone()),
        };
        let router = routes::router_with(
            state,
            HookOptions {
                secret: opts.secret,
                token_header: opts.token_header,
                metrics: opts.metrics.clone(),
            },
        );
        let router = match opts.metrics {
            Some(metrics) => crate::metrics::count_rejections(router, metrics),
            None => router,
        };
        let router = match opts.extra_routes {
            Some(extra) => router.merge(extra),
            None => router,
        };
        let (stop, mut stop_rx) = watch::channel(false);
        let server_opts = opts.server;
        let server = tokio::spawn(async move {
            let stopped = async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            };
            if let Err(e) = server::serve(listener, router, server_opts, stopped).await {
                tracing::error!("listener stopped: {e}");
            }
        });
        tracing::info!(%addr, replayed = stats.records, corrupt = stats.corrupt, "listening");
        Ok((
            Listener {
                addr,
                log,
                relay: opts.relay,
                stop,
                server,
            },
            events,
            stats,
        ))
    }

    /// Stops taking connections, lets requests in flight finish (within the
    /// server's grace period), stops the relay (its cursors saved), then
    /// flushes and closes the log.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        if let Some(relay) = &self.relay {
            relay.shutdown().await;
        }
        self.log.close().await
    }
}

/// The webhook listener's socket on `addr`.
async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ListenerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenerError::Bind { addr, source })
}

/// A replay callback of events that passes the other records by.
fn events_only(on_replay: &mut impl FnMut(u64, Event)) -> impl FnMut(u64, Record) + '_ {
    move |seq, record| {
        if let Record::Event(event) = record {
            on_replay(seq, event);
        }
    }
}
