//! `zapi-dash`: parse the command line, set up logging, wire the listener,
//! the Z-API client and the screen together. Nothing else lives here.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use clap::Parser;
use crossterm::event::EventStream;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use zapi_dash::app::{App, Setup, TimeZone};
use zapi_dash::cli::{Cli, Command};
use zapi_dash::config::{self, Config, InstanceConfig};
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::sim::{self, FleetOptions, Sim, SimOptions};
use zapi_dash::tui::{self, RealScreen, Runner, Services};
use zapi_dash::webhook::{self, ListenerState};
use zapi_dash::zapi::ZapiClient;

/// A reason to stop before or instead of running, with its exit code.
struct Fatal {
    code: u8,
    message: String,
}

impl Fatal {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
    fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zapi-dash: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Command::Demo { instances }) => demo(&cli, usize::from(instances)).await,
            Some(Command::Run) | None => {
                let config = Config::load(
                    &cli.flags,
                    |k| std::env::var(k).ok(),
                    config::default_config_path(),
                )
                .map_err(|e| Fatal::usage(e.to_string()))?;
                dashboard(config, None).await
            }
        }
    });
    // tasks still running (calls in flight) must not hold the exit up
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("zapi-dash: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Starts the simulated Z-API and fleet, then the dashboard pointed at them.
async fn demo(cli: &Cli, n: usize) -> Result<(), Fatal> {
    let seed = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(7);
    let instances = sim::demo_instances(n, seed);
    let client_token = format!("demo-{seed:x}");
    let sim = Sim::start(SimOptions {
        client_token: client_token.clone(),
        instances: instances.clone(),
        latency: Duration::from_millis(150),
    })
    .await
    .map_err(|e| Fatal::runtime(format!("cannot start the simulated Z-API: {e}")))?;
    // a fleet is never all green: two numbers start out down
    for (i, error) in [(3, sim::ERR_RESTORE_SESSION), (11, sim::ERR_NOT_CONNECTED)] {
        if let Some(inst) = instances.get(i) {
            sim.set_connected(&inst.id, false, Some(error));
        }
    }
    let mut config = Config {
        api_base: sim.base_url(),
        client_token: Some(Secret::new(client_token)),
        // Z-API only takes https webhook URLs; the simulator records this one
        // and its fleet posts to the real listener address.
        public_url: Some("https://zapi-dash.demo.invalid".into()),
        instances: instances
            .iter()
            .map(|i| InstanceConfig {
                id: InstanceId::new(&i.id),
                token: Secret::new(&i.token),
                name: Some(i.name.clone()),
            })
            .collect(),
        state_dir: cli.flags.state_dir.clone(),
        ..Config::default()
    };
    if let Some(listen) = cli.flags.listen {
        config.listen = listen;
    }
    let banner = format!(
        "DEMO · simulated Z-API at {} with {n} simulated instances · no real account is touched",
        sim.base_url()
    );
    dashboard(config, Some((sim, banner))).await
}

/// Binds the listener, starts the loop, and cleans up when it ends.
async fn dashboard(config: Config, demo: Option<(Sim, String)>) -> Result<(), Fatal> {
    init_logging(
        config
            .state_dir
            .clone()
            .or_else(config::default_state_dir)
            .as_deref(),
    );
    let listener = match TcpListener::bind(config.listen).await {
        Ok(l) => l,
        // the demo falls back to any free port rather than refusing to start
        Err(_) if demo.is_some() => TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| Fatal::runtime(format!("cannot listen on 127.0.0.1: {e}")))?,
        Err(e) => {
            return Err(Fatal::usage(format!(
                "cannot listen on {}: {e} (another program uses it? set `listen` or --listen)",
                config.listen
            )));
        }
    };
    let addr = listener
        .local_addr()
        .map_err(|e| Fatal::runtime(e.to_string()))?;
    tracing::info!(%addr, instances = config.instances.len(), "listening");

    let (event_tx, event_rx) = mpsc::channel(4096);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let router = webhook::router(ListenerState { events: event_tx });
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!("listener stopped: {e}");
        }
    });

    let (banner, fleet, sim) = match demo {
        Some((sim, banner)) => {
            let fleet = sim::spawn_fleet(
                &sim,
                format!("http://{addr}"),
                FleetOptions {
                    interval: Duration::from_millis(1500),
                    seed: 1,
                },
            );
            (Some(banner), Some(fleet), Some(sim))
        }
        None => (None, None, None),
    };

    let client = match &config.client_token {
        Some(token) => Some(
            ZapiClient::new(&config.api_base, token.clone())
                .map_err(|e| Fatal::usage(format!("api_base: {e}")))?,
        ),
        None => None,
    };
    let setup = Setup {
        listen: addr.to_string(),
        config_file: config.source.as_ref().map(|p| p.display().to_string()),
        instances: config
            .instances
            .iter()
            .map(|i| (i.id.clone(), i.name.clone()))
            .collect(),
        missing_for_register: config.missing_for_register(),
        can_query_status: client.is_some(),
        tz: TimeZone::Local,
        banner,
        warnings: config.warnings.clone(),
    };
    let tokens: HashMap<InstanceId, Secret> = config
        .instances
        .iter()
        .map(|i| (i.id.clone(), i.token.clone()))
        .collect();
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let runner = Runner::new(
        Services {
            client,
            tokens,
            public_url: config.public_url.clone(),
            concurrency: tui::DEFAULT_CONCURRENCY,
        },
        results_tx,
    );
    let mut app = App::new(setup, Utc::now());

    let mut screen = RealScreen(ratatui::init());
    if let Ok(size) = screen.0.size() {
        app.size = (size.width, size.height);
    }
    let outcome = tui::run_loop(
        &mut screen,
        &mut app,
        EventStream::new(),
        event_rx,
        runner,
        results_rx,
        tui::shutdown_signal(),
    )
    .await;
    ratatui::restore();

    let _ = stop_tx.send(true);
    if let Some(fleet) = fleet {
        fleet.abort();
    }
    if let Some(sim) = sim {
        sim.shutdown();
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    tracing::info!("stopped");
    outcome.map_err(|e| Fatal::runtime(format!("terminal error: {e}")))
}

/// Diagnostics go to `<state dir>/zapi-dash.log`, never to the terminal the
/// dashboard draws on. Without a usable state dir there is no log.
fn init_logging(dir: Option<&Path>) {
    let Some(dir) = dir else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("zapi-dash.log"))
    else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .try_init();
}
