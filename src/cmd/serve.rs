//! `serve`: headless — the listener, the event log, the hub with its HTTP
//! API and metrics, and one JSON line per accepted event on stdout.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use zapi_dash::cli::Flags;
use zapi_dash::cluster::lease::{self, Lease};
use zapi_dash::cluster::{Cluster, consume};
use zapi_dash::config::Config;
use zapi_dash::discovery::Discovery;
use zapi_dash::fleet::Fleet;
use zapi_dash::listener::Listener;
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
    let cluster = join_cluster(&config).await?;
    let metrics = match &cluster {
        Some(c) => Arc::clone(c.metrics()),
        None => Arc::new(Metrics::new()),
    };
    let services = zapi_services(&config, opts.secret.clone())?;
    let can_query_status = can_query_status(&services);
    let secret = services.secret.clone();
    let discovery = discovery_for(&config, secret.clone())?;
    let settings = HubSettings::new(&settings_for(&config, &services), can_query_status);
    let (hub, handle) = Hub::new(
        Backend::Zapi(Box::new(services)),
        Arc::clone(&metrics),
        opts.log_dir.clone(),
    );
    let hub = hub.with_alerts(alerts_of(&config));
    let replica = match &cluster {
        Some(c) => Some(Replica::elect(c).await?),
        None => None,
    };
    let hub = match &replica {
        Some(r) => hub.with_leader(r.lease.leader()),
        None => hub,
    };
    if cluster.is_some() {
        // every replica would deliver each event; refused with [[forward]]
        opts.relay = None;
    }
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
    let (service, committed, replay) = match &cluster {
        Some(c) => {
            cluster_ready(c, &opts.log_dir, config.retention_days).await?;
            Listener::start_published(opts, c.publisher(), on_replay).await?
        }
        None => Listener::start(opts, on_replay).await?,
    };
    let _follow = cluster.as_ref().map(|c| {
        consume::follow(
            c.stream().clone(),
            service.log.clone(),
            last_seq,
            c.reconnects(),
        )
    });
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
    let _discovery = match &replica {
        Some(r) => {
            discovery.map(|_| lead_discovery(&config, secret, r.lease.leader(), &reload_hub))
        }
        None => discovery.map(|d| tokio::spawn(keep(spawn_discovery(d, reload_hub.clone())))),
    };
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
        r.lease.release().await;
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

/// With `[cluster]`: connected to NATS and the stream found or created
/// (exit 1 with the reason when not).
async fn join_cluster(config: &Config) -> Result<Option<Cluster>, Fatal> {
    let Some(cc) = &config.cluster else {
        return Ok(None);
    };
    let metrics = Arc::new(Metrics::new().with_cluster());
    let cluster = Cluster::join(cc, config.retention_days, metrics)
        .await
        .map_err(|e| Fatal::runtime(e.to_string()))?;
    tracing::info!(stream = cluster.stream_name(), "cluster: joined");
    Ok(Some(cluster))
}

/// The log brought up to the stream before it is replayed.
async fn cluster_ready(
    cluster: &Cluster,
    log_dir: &std::path::Path,
    retention_days: u32,
) -> Result<(), Fatal> {
    let copied = consume::catch_up(
        cluster.stream(),
        cluster.stream_name(),
        log_dir,
        retention_days,
    )
    .await
    .map_err(|e| Fatal::runtime(e.to_string()))?;
    tracing::info!(copied, "cluster: the log holds the stream");
    Ok(())
}

/// This replica in the cluster: its part in the leader election.
struct Replica {
    lease: Lease,
}

impl Replica {
    async fn elect(cluster: &Cluster) -> Result<Replica, Fatal> {
        let bucket = cluster
            .lease_bucket()
            .await
            .map_err(|e| Fatal::runtime(e.to_string()))?;
        let holder = lease::holder_name();
        tracing::info!(holder = %holder, "cluster: taking part in the leader election");
        let lease = Lease::spawn(bucket, holder, Arc::clone(cluster.metrics()));
        Ok(Replica { lease })
    }
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
