//! `run` (the default): the dashboard over its own listener and event log.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use zapi_dash::app::{App, Msg};
use zapi_dash::cli::Flags;
use zapi_dash::config::{self, Config};
use zapi_dash::listener::{Listener, ListenerError};
use zapi_dash::reload::Reloaded;
use zapi_dash::runner::{Backend, Runner, Services};
use zapi_dash::sim::{self, FleetOptions, Sim};
use zapi_dash::store::{Record, ReplayStats};
use zapi_dash::tui::{self, Feeds, Term};

use super::{
    Fatal, alerts_of, can_query_status, discovery_for, enter_terminal, fleet_accounts,
    init_logging, reload_config, service_options, settings_for, setup_for, spawn_reloads,
    state_dir, zapi_services,
};

/// Binds the listener, enters the terminal (unless the caller did: `term`),
/// replays the log, runs the screen, and cleans up. Configuration errors
/// and a taken port come first, then a missing terminal (exit code 2).
/// `demo`: the simulated Z-API the config points at, and the banner.
pub async fn run(
    config: Config,
    flags: &Flags,
    demo: Option<(Sim, String)>,
    term: Option<Term>,
) -> Result<(), Fatal> {
    let state = state_dir(&config)?;
    init_logging(&state, &flags.log_level);
    let listener = bind(&config, demo.is_some()).await?;
    let term = match term {
        Some(term) => term,
        None => {
            let mut term = enter_terminal()?;
            // the replay of a long log takes a moment: never a blank screen
            let _ = term.show_starting("zapi-dash", "reading the event log…");
            term
        }
    };
    let opts = service_options(&config, config.listen, &state)?;
    let log_dir = opts.log_dir.clone();
    let relay = opts.relay.clone();
    let has_secret = opts.secret.is_some();
    let services = zapi_services(&config, opts.secret.clone())?;
    let (banner, demo_sim) = match demo {
        Some((sim, banner)) => (Some(banner), Some(sim)),
        None => (None, None),
    };
    let mut app = new_app(&config, &services, banner);
    // one clock read for the whole replay, not one per event (a million at most)
    let replay_now = Utc::now();
    let (service, events, replay) = Listener::start_on_records(listener, opts, |_, record| {
        app.update(replayed(record), replay_now);
    })
    .await?;
    after_replay(&mut app, &config, service.addr, has_secret, &replay);

    let fleet = demo_sim.as_ref().map(|sim| {
        sim::spawn_fleet(
            sim,
            format!("http://{}", service.addr),
            FleetOptions {
                interval: Duration::from_millis(1500),
                seed: 1,
            },
        )
    });
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let discovery =
        discovery_for(&config, services.secret.clone())?.map(|d| d.spawn(results_tx.clone()));
    let runner = dashboard_runner(&config, services, log_dir, results_tx).with_relay(relay.clone());
    // SIGUSR1 reloads the config file (not the demo's, which has none)
    let reloads = demo_sim
        .is_none()
        .then(|| dashboard_reloads(config.clone(), flags.clone()));
    let feeds = Feeds {
        events,
        results: results_rx,
        log: Some(service.log.clone()),
        reloads,
        relay,
    };
    let outcome = tui::run(term, &mut app, feeds, runner, flags.debug_panic).await;

    if let Some(fleet) = fleet {
        fleet.abort();
    }
    drop(discovery);
    if let Some(sim) = demo_sim {
        sim.shutdown();
    }
    let closed = service.shutdown().await;
    tracing::info!("stopped");
    outcome.map_err(|e| Fatal::runtime(format!("terminal error: {e}")))?;
    closed.map_err(|e| Fatal::runtime(e.to_string()))
}

/// What a record of the event log replays as: an event, or the operator's
/// `a` (in log order with the events it follows).
fn replayed(record: Record) -> Msg {
    match record {
        Record::Event(event) => Msg::Webhook(event),
        Record::Ack(ack) => Msg::Acked {
            id: ack.instance_id,
            acked: ack.acked,
            at: ack.at,
        },
    }
}

/// The dashboard's runner: Z-API calls timed (the header's link state),
/// failures logged with the instances' names, history reads, alerts.
fn dashboard_runner(
    config: &Config,
    services: Services,
    log_dir: std::path::PathBuf,
    results: mpsc::UnboundedSender<Msg>,
) -> Runner {
    let names = config
        .instances
        .iter()
        .filter_map(|i| i.name.clone().map(|n| (i.id.clone(), n)));
    Runner::new(Backend::Zapi(Box::new(services)), results)
        .timed()
        .with_names(names)
        .with_history(log_dir)
        .with_alerts(alerts_of(config))
}

/// The listen address of the config; the demo falls back to any free port
/// rather than refusing to start.
async fn bind(config: &Config, demo: bool) -> Result<TcpListener, Fatal> {
    match TcpListener::bind(config.listen).await {
        Ok(l) => Ok(l),
        Err(_) if demo => TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| Fatal::runtime(format!("cannot listen on 127.0.0.1: {e}"))),
        Err(source) => Err(ListenerError::Bind {
            addr: config.listen,
            source,
        }
        .into()),
    }
}

/// The app before the replay: setup and settings from the config.
fn new_app(config: &Config, services: &Services, banner: Option<String>) -> App {
    let setup = setup_for(config, can_query_status(services), banner);
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let mut app = App::new(setup, Utc::now());
    let (accounts, of) = fleet_accounts(config);
    app.fleet.set_accounts(&accounts, &of);
    app.configure(settings_for(config, services));
    app
}

/// What the app learns once the listener is up and the log replayed: the
/// address, secret paths, corrupt records, the plain-http warning.
fn after_replay(
    app: &mut App,
    config: &Config,
    addr: SocketAddr,
    has_secret: bool,
    replay: &ReplayStats,
) {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    app.setup.listen = format!("{scheme}://{addr}");
    app.setup.secret_paths = has_secret;
    if replay.corrupt > 0 {
        app.setup.warnings.push(format!(
            "{} corrupt event-log records skipped at start (see zapi-dash.log)",
            replay.corrupt
        ));
        tracing::warn!(
            corrupt = replay.corrupt,
            "corrupt event-log records skipped"
        );
    }
    app.show_warnings();
    app.ops.header_warning = config
        .public_url_warning()
        .map(|_| config::PLAIN_HTTP_HEADER.to_string());
}

/// The dashboard's reloads of its config file, starting from `running`.
fn dashboard_reloads(mut running: Config, flags: Flags) -> mpsc::Receiver<Reloaded> {
    spawn_reloads(move || {
        let (reload, config) = reload_config(&running, &flags, true)?;
        running = config;
        Ok(reload)
    })
}
