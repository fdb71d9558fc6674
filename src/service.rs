//! The listening half of zapi-dash, shared by the dashboard and the tests:
//! bind the listener, open the durable log, replay it, serve webhooks.
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
use crate::server::{self, ServerOptions};
use crate::store::{self, EventLog, LogOptions, ReplayStats, StoreError};
use crate::webhook::{self, HookOptions, ListenerState, TokenHeaderCheck, WebhookSecret};

/// Capacity of the channel from the listener to the consumer: when the
/// consumer falls behind, handlers wait (backpressure) rather than buffer
/// without bound.
pub const EVENT_CHANNEL: usize = 4096;

/// What [`Service::start`] needs.
pub struct ServiceOptions {
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
}

/// Why the service could not start. Each names what and where.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
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
pub struct Service {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    pub log: EventLog,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Service {
    /// Binds, opens and replays the log into `on_replay` (oldest first),
    /// then starts serving. Returns the service, the events it accepts from
    /// now on (each already on disk, with its `seq`, in `seq` order), and
    /// what the replay found.
    pub async fn start(
        opts: ServiceOptions,
        on_replay: impl FnMut(u64, Event),
    ) -> Result<(Service, mpsc::Receiver<(u64, Event)>, ReplayStats), ServiceError> {
        let listener =
            TcpListener::bind(opts.listen)
                .await
                .map_err(|source| ServiceError::Bind {
                    addr: opts.listen,
                    source,
                })?;
        Self::start_on(listener, opts, on_replay).await
    }

    /// [`Service::start`] on a listener the caller bound.
    pub async fn start_on(
        listener: TcpListener,
        opts: ServiceOptions,
        on_replay: impl FnMut(u64, Event),
    ) -> Result<(Service, mpsc::Receiver<(u64, Event)>, ReplayStats), ServiceError> {
        let addr = listener.local_addr().map_err(|source| ServiceError::Bind {
            addr: opts.listen,
            source,
        })?;
        let (committed, events) = mpsc::channel(EVENT_CHANNEL);
        let log = EventLog::open(LogOptions {
            retention_days: opts.retention_days,
            committed: Some(committed),
            ..LogOptions::new(&opts.log_dir)
        })?;
        // Blocking file reads, once, before any webhook is taken (and
        // before anything else runs on this task).
        let stats = store::replay(&opts.log_dir, on_replay)?;

        let router = webhook::router_with(
            ListenerState::logged(log.clone()),
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
            Service {
                addr,
                log,
                stop,
                server,
            },
            events,
            stats,
        ))
    }

    /// Stops taking connections, lets requests in flight finish (within the
    /// server's grace period), then flushes and closes the log.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        self.log.close().await
    }
}
