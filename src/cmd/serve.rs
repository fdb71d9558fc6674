//! `serve`: headless — the listener, the event log, the hub with its HTTP
//! API and metrics, and one JSON line per accepted event on stdout.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use zapi_dash::cli::Flags;
use zapi_dash::cluster::replica::Replica;
use zapi_dash::config::Config;
use zapi_dash::discovery::Discovery;
use zapi_dash::fleet::Fleet;
use zapi_dash::listener::{Listener, ListenerOptions};
use zapi_dash::metrics::Metrics;
use zapi_dash::reload::ReloadSignal;
use zapi_dash::runner::Backend;
use zapi_dash::serve::api;
use zapi_dash::serve::hub::{Hub, HubHandle, HubOptions, HubSettings};
use zapi_dash::signals;

use super::{
    Fatal, alerts_of, can_query_status, discovery_for, fleet_accounts, init_logging, reload_config,
    service_options, settings_for, setup_for, state_dir, zapi_services,
};

/// Headless: the listener and the log, one JSON line per accepted event on
/// stdout, until SIGTERM/SIGINT; SIGHUP reloads the config.
pub async fn run(config: Config, flags: &Flags) -> Result<(), Fatal> {
    let state = state_dir(&config)?;
    init_logging(&state, &flags.log_level);
    warn_of(&config);
    let mut opts = service_options(&config, config.listen, &state)?;
    let replica = join(&config).await?;
    let metrics = replica
        .as_ref()
        .map_or_else(|| Arc::new(Metrics::new()), Replica::metrics);
    let services = zapi_services(&config, opts.secret.clone())?;
    let can_query_status = can_query_status(&services);
    let secret = services.secret.clone();
    let discovery = discovery_for(&config, secret.clone())?;
    let settings = HubSettings::new(&settings_for(&config, &services), can_query_status);
    let (hub, handle) = hub_for(&config, services, &metrics, &opts, replica.as_ref());
    let reload_hub = handle.clone();
    opts.extra_routes = Some(api::router_with(
        handle,
        config.api_token.clone(),
        opts.relay.clone(),
    ));
    opts.metrics = Some(Arc::clone(&metrics));
    let configured = setup_for(&config, can_query_status, None).instances;
    let mut fleet = Fleet::with_configured(&configured, Utc::now());
    with_accounts(&mut fleet, &config, &metrics);
    let mut last_seq = 0;
    let on_replay = |seq, event| {
        last_seq = seq;
        fleet.apply_event(event, Utc::now());
    };
    let (service, committed, replay) = start_listener(replica.as_ref(), opts, on_replay).await?;
    let _follow = replica.as_ref().map(|r| r.follow(&service.log));
    // the hub writes the JSON lines of each batch it applies into one
    // buffer; this loop only copies the buffers to stdout
    let (lines, mut accepted) = mpsc::channel::<Vec<u8>>(64);
    let hub_task = hub.with_event_lines(lines).spawn(
        fleet,
        settings,
        committed,
        HubOptions {
            poll_interval: Duration::from_secs(config.poll_interval),
            last_seq,
            tap: None,
        },
    );
    let _discovery = discovery.map(|d| match &replica {
        Some(r) => lead_discovery(&config, secret, r.leader(), &reload_hub),
        None => tokio::spawn(keep(spawn_discovery(d, reload_hub.clone()))),
    });
    // the handlers are installed before readiness is announced: a SIGTERM
    // right after "listening on" is a clean stop, not the default death
    let shutdown = signals::stop_signal();
    let hangup = ReloadSignal::hangup();
    announce(service.addr, &replay, &state);
    // buffered, flushed whenever no more lines are waiting: one write per
    // burst rather than one per event (stdout is line-buffered otherwise)
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let reloads = Reloads {
        hangup,
        running: config,
        flags,
        hub: &reload_hub,
    };
    print_until(shutdown, reloads, &mut accepted, &mut out).await;
    // another replica leads at once, not after the lease's TTL
    if let Some(r) = replica {
        r.leave().await;
    }
    // the log closes, its committed feed ends, and with it the hub; the
    // lines of what is still acknowledged meanwhile are printed (and the hub
    // never waits on a full channel)
    let closed = printing_while(service.shutdown(), &mut accepted, &mut out).await;
    drop(out);
    drop(accepted);
    let _ = tokio::time::timeout(Duration::from_secs(2), hub_task).await;
    tracing::info!("stopped");
    closed.map_err(|e| Fatal::runtime(e.to_string()))
}

/// The hub over Z-API's services, with the config's alert commands; with
/// `[cluster]` it polls and alerts only while this replica leads.
fn hub_for(
    config: &Config,
    services: zapi_dash::runner::Services,
    metrics: &Arc<Metrics>,
    opts: &ListenerOptions,
    replica: Option<&Replica>,
) -> (Hub, HubHandle) {
    let (hub, handle) = Hub::new(
        Backend::Zapi(Box::new(services)),
        Arc::clone(metrics),
        opts.log_dir.clone(),
    );
    let hub = hub.with_alerts(alerts_of(config));
    match replica {
        Some(r) => (
            hub.with_leader(r.leader()).with_sharing(r.sharing()),
            handle.with_cluster_health(r.health()),
        ),
        None => (hub, handle),
    }
}

/// With `[cluster]`: connected to NATS, the stream and the lease's bucket
/// found or created, taking part in the election (exit 1 with the reason
/// when not).
async fn join(config: &Config) -> Result<Option<Replica>, Fatal> {
    let Some(cluster) = &config.cluster else {
        return Ok(None);
    };
    Replica::join(cluster, config.retention_days)
        .await
        .map(Some)
        .map_err(|e| Fatal::runtime(e.to_string()))
}

type Started = (
    Listener,
    mpsc::Receiver<(u64, zapi_dash::model::Event)>,
    zapi_dash::store::ReplayStats,
);

/// The listener; with `[cluster]` its webhooks go to the stream, and the
/// log is first brought up to the stream.
async fn start_listener(
    replica: Option<&Replica>,
    opts: ListenerOptions,
    on_replay: impl FnMut(u64, zapi_dash::model::Event),
) -> Result<Started, Fatal> {
    Ok(match replica {
        Some(r) => {
            // only the leader relays, from the cursors the leaders share
            if let Some(relay) = &opts.relay {
                relay.set_gate(r.relay_gate());
            }
            // the events copied keep their bodies when a target may want
            // them, as the log's own: the relay sends bodies
            let bodies = opts
                .relay
                .as_ref()
                .is_some_and(|r| r.wants_bodies(&opts.log_dir));
            r.catch_up(&opts.log_dir, bodies)
                .await
                .map_err(|e| Fatal::runtime(e.to_string()))?;
            Listener::start_published(opts, r.publisher(), on_replay).await?
        }
        None => Listener::start(opts, on_replay).await?,
    })
}

/// Discovery on the leader only: started when this replica becomes the
/// leader, stopped when it stops being it.
fn lead_discovery(
    config: &Config,
    secret: Option<zapi_dash::listener::secret::WebhookSecret>,
    mut leader: tokio::sync::watch::Receiver<bool>,
    hub: &HubHandle,
) -> tokio::task::JoinHandle<()> {
    let config = config.clone();
    let hub = hub.clone();
    tokio::spawn(async move {
        loop {
            if leader.wait_for(|l| *l).await.is_err() {
                return;
            }
            let Ok(Some(discovery)) = discovery_for(&config, secret.clone()) else {
                return;
            };
            let tasks = spawn_discovery(discovery, hub.clone());
            if leader.wait_for(|l| !*l).await.is_err() {
                return;
            }
            drop(tasks);
        }
    })
}

/// Holds the discovery tasks for as long as serve runs.
async fn keep(tasks: tokio::task::JoinSet<()>) {
    let _tasks = tasks;
    std::future::pending::<()>().await;
}

/// The config's warnings, in the diagnostics log and on stderr.
fn warn_of(config: &Config) {
    for w in &config.warnings {
        tracing::warn!("{w}");
        let _ = writeln!(std::io::stderr(), "zapi-dash: warning: {w}");
    }
}

/// Readiness, on stderr: where it listens and what the replay found.
fn announce(
    addr: std::net::SocketAddr,
    replay: &zapi_dash::store::ReplayStats,
    state: &std::path::Path,
) {
    // not eprintln!: a closed stderr must not panic the service
    let _ = writeln!(
        std::io::stderr(),
        "zapi-dash: listening on {} · {} events in the log · {} corrupt records skipped · {}",
        addr,
        replay.records,
        replay.corrupt,
        state.join("events").display()
    );
}

/// The fleet's accounts, and the metrics of those that discover.
fn with_accounts(fleet: &mut Fleet, config: &Config, metrics: &Metrics) {
    let (accounts, of) = fleet_accounts(config);
    fleet.set_accounts(&accounts, &of);
    let discovering = accounts.iter().filter(|(_, d)| *d).map(|(n, _)| n.as_str());
    metrics.declare_accounts(discovering);
}

/// The discovery tasks; their listings go to the hub like any result.
fn spawn_discovery(discovery: Discovery, hub: HubHandle) -> tokio::task::JoinSet<()> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            hub.apply(msg).await;
        }
    });
    discovery.spawn(tx)
}

/// What a SIGHUP reloads, and where the new config goes.
struct Reloads<'a> {
    hangup: ReloadSignal,
    running: Config,
    flags: &'a Flags,
    hub: &'a HubHandle,
}

/// Copies the accepted lines to `out` until `shutdown` (or the end of the
/// lines), reloading the config on each SIGHUP meanwhile.
async fn print_until(
    shutdown: impl Future<Output = ()>,
    mut reloads: Reloads<'_>,
    accepted: &mut mpsc::Receiver<Vec<u8>>,
    out: &mut impl Write,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = reloads.hangup.recv() => {
                reload(&mut reloads.running, reloads.flags, reloads.hub).await;
            }
            chunk = accepted.recv() => match chunk {
                Some(chunk) => {
                    let _ = out.write_all(&chunk);
                    if accepted.is_empty() {
                        let _ = out.flush();
                    }
                }
                None => break,
            },
        }
    }
}

/// Awaits `closing` while copying the lines still coming to `out`; then the
/// ones left, and a flush.
async fn printing_while<T>(
    closing: impl Future<Output = T>,
    accepted: &mut mpsc::Receiver<Vec<u8>>,
    out: &mut impl Write,
) -> T {
    tokio::pin!(closing);
    let closed = loop {
        tokio::select! {
            closed = &mut closing => break closed,
            Some(chunk) = accepted.recv() => {
                let _ = out.write_all(&chunk);
            }
        }
    };
    while let Ok(chunk) = accepted.try_recv() {
        let _ = out.write_all(&chunk);
    }
    let _ = out.flush();
    closed
}

/// `serve`'s SIGHUP: the config loaded again and handed to the hub, or
/// why not (logged, and on stderr for journald).
async fn reload(running: &mut Config, flags: &Flags, hub: &HubHandle) {
    match reload_config(running, flags, false) {
        Ok((reload, config)) => {
            *running = config;
            hub.reload(reload).await;
        }
        Err(why) => {
            let _ = writeln!(std::io::stderr(), "zapi-dash: {why}");
        }
    }
}
