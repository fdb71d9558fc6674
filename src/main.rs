//! `zapi-dash`: parse the command line, set up logging, wire the listener,
//! the event log, the Z-API client and the screen together. Nothing else
//! lives here.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use clap::Parser;
use crossterm::event::EventStream;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use zapi_dash::api;
use zapi_dash::app::{App, Msg, Settings, Setup, TimeZone};
use zapi_dash::cli::{Cli, Command, Flags};
use zapi_dash::config::{self, Config, InstanceConfig};
use zapi_dash::health::Rules;
use zapi_dash::hub::{Hub, HubHandle, HubOptions};
use zapi_dash::logfile::{self, RotatingFile};
use zapi_dash::metrics::Metrics;
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::reload::{self, Reconfig, Reload, ReloadSignal, Reloaded};
use zapi_dash::remote::{self, RemoteApi};
use zapi_dash::server::{self, ServerOptions};
use zapi_dash::service::{Service, ServiceError, ServiceOptions};
use zapi_dash::sim::{self, FleetOptions, Sim, SimOptions};
use zapi_dash::tui::{self, Alerts, Backend, Feeds, RealScreen, Runner, Screen, Services};
use zapi_dash::webhook::{TokenHeaderCheck, WebhookSecret};
use zapi_dash::zapi::ZapiClient;

/// A reason to stop before or instead of running, with its exit code.
struct Fatal {
    code: u8,
    message: String,
}

impl Fatal {
    /// Bad configuration or an address in use: exit code 2.
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

impl From<ServiceError> for Fatal {
    fn from(e: ServiceError) -> Self {
        Fatal::usage(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Completions { shell }) = cli.command {
        // into a buffer first: clap_complete panics on a closed pipe (`| head`)
        let script = zapi_dash::completions::script(shell);
        let _ = std::io::stdout().write_all(script.as_bytes());
        return ExitCode::SUCCESS;
    }
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
            Some(Command::Demo { instances }) => demo(&cli.flags, usize::from(instances)).await,
            Some(Command::Serve) => serve(load_config(&cli.flags)?, &cli.flags).await,
            Some(Command::Watch { remote, api_token }) => {
                watch(&cli.flags, &remote, Secret::new(api_token)).await
            }
            Some(Command::Completions { .. }) => Ok(()),
            Some(Command::Run) | None => {
                dashboard(load_config(&cli.flags)?, &cli.flags, None).await
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

fn load_config(flags: &Flags) -> Result<Config, Fatal> {
    Config::load(
        flags,
        |k| std::env::var(k).ok(),
        config::default_config_path(),
    )
    .map_err(|e| Fatal::usage(e.to_string()))
}

/// The state dir: the config's or the flag's, else the platform's.
fn state_dir(config: &Config) -> Result<PathBuf, Fatal> {
    config
        .state_dir
        .clone()
        .or_else(config::default_state_dir)
        .ok_or_else(|| {
            Fatal::usage("no state dir: this platform has none, set `state_dir` or --state-dir")
        })
}

/// Everything about the listener that comes from the config: secret, TLS.
fn service_options(
    config: &Config,
    listen: SocketAddr,
    state: &Path,
) -> Result<ServiceOptions, Fatal> {
    let origin = config
        .source
        .as_ref()
        .map_or("configuration".to_string(), |p| p.display().to_string());
    let secret = config
        .webhook_secret
        .as_ref()
        .map(WebhookSecret::new)
        .transpose()
        .map_err(|e| Fatal::usage(format!("{origin}: key `webhook_secret`: {e}")))?;
    let tls = match &config.tls {
        Some((cert, key)) => {
            Some(server::load_tls(cert, key).map_err(|e| Fatal::usage(format!("{origin}: {e}")))?)
        }
        None => None,
    };
    Ok(ServiceOptions {
        listen,
        log_dir: state.join("events"),
        retention_days: config.retention_days,
        secret,
        server: ServerOptions {
            tls,
            shutdown_grace: Duration::from_secs(2),
            ..ServerOptions::default()
        },
        extra_routes: None,
        metrics: None,
        token_header: TokenHeaderCheck::new(
            config
                .instances
                .iter()
                .map(|i| (i.id.clone(), i.token.clone())),
            config.check_token_header,
        ),
    })
}

/// What carries out Z-API calls with the config's tokens.
fn zapi_services(config: &Config, secret: Option<WebhookSecret>) -> Result<Services, Fatal> {
    let client = match &config.client_token {
        Some(token) => Some(
            ZapiClient::new(&config.api_base, token.clone())
                .map_err(|e| Fatal::usage(format!("api_base: {e}")))?,
        ),
        None => None,
    };
    Ok(Services {
        client,
        tokens: config
            .instances
            .iter()
            .map(|i| (i.id.clone(), i.token.clone()))
            .collect(),
        public_url: config.public_url.clone(),
        secret,
        concurrency: tui::DEFAULT_CONCURRENCY,
    })
}

/// The app's setup from the config (the listen address is set once bound).
fn setup_for(config: &Config, can_query_status: bool, banner: Option<String>) -> Setup {
    Setup {
        listen: String::new(),
        config_file: config.source.as_ref().map(|p| p.display().to_string()),
        instances: config
            .instances
            .iter()
            .map(|i| (i.id.clone(), i.name.clone()))
            .collect(),
        missing_for_register: config.missing_for_register(),
        can_query_status,
        tz: TimeZone::Local,
        banner,
        warnings: config.warnings.clone(),
        secret_paths: false,
    }
}

/// Starts the simulated Z-API and fleet, then the dashboard pointed at them.
async fn demo(flags: &Flags, n: usize) -> Result<(), Fatal> {
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
    // nor all registered: most point at this dashboard already, one was never
    // registered and one still points at an old server (drift, for `R`)
    let public_url = "https://zapi-dash.demo.invalid";
    if let Ok(client) = ZapiClient::new(&sim.base_url(), Secret::new(client_token.clone())) {
        for (i, inst) in instances.iter().enumerate() {
            let id = InstanceId::new(&inst.id);
            let token = Secret::new(&inst.token);
            let url = match i {
                5 => continue,
                8 => "https://old-dashboard.demo.invalid",
                _ => public_url,
            };
            let _ = client.register_webhooks(&id, &token, url, None).await;
        }
    }
    // The demo keeps its own state dir, so it never mixes with a real log,
    // and starts from an empty log each time.
    let state = match &flags.state_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("zapi-dash-demo-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(state.join("events"));
    let mut config = Config {
        api_base: sim.base_url(),
        client_token: Some(Secret::new(client_token)),
        // Z-API only takes https webhook URLs; the simulator records this one
        // and its fleet posts to the real listener address.
        public_url: Some(public_url.into()),
        instances: instances
            .iter()
            .map(|i| InstanceConfig {
                id: InstanceId::new(&i.id),
                token: Secret::new(&i.token),
                name: Some(i.name.clone()),
            })
            .collect(),
        state_dir: Some(state),
        ..Config::default()
    };
    if let Some(listen) = flags.listen {
        config.listen = listen;
    }
    let banner = format!(
        "DEMO · simulated Z-API at {} with {n} simulated instances · no real account is touched",
        sim.base_url()
    );
    dashboard(config, flags, Some((sim, banner))).await
}

/// Binds the listener, replays the log, runs the screen, and cleans up.
async fn dashboard(
    config: Config,
    flags: &Flags,
    demo: Option<(Sim, String)>,
) -> Result<(), Fatal> {
    let state = state_dir(&config)?;
    init_logging(&state, &flags.log_level);
    let listener = match TcpListener::bind(config.listen).await {
        Ok(l) => l,
        // the demo falls back to any free port rather than refusing to start
        Err(_) if demo.is_some() => TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| Fatal::runtime(format!("cannot listen on 127.0.0.1: {e}")))?,
        Err(source) => {
            return Err(ServiceError::Bind {
                addr: config.listen,
                source,
            }
            .into());
        }
    };
    let opts = service_options(&config, config.listen, &state)?;
    let log_dir = opts.log_dir.clone();
    let has_secret = opts.secret.is_some();
    let services = zapi_services(&config, opts.secret.clone())?;
    let (banner, demo_sim) = match demo {
        Some((sim, banner)) => (Some(banner), Some(sim)),
        None => (None, None),
    };
    let setup = setup_for(&config, services.client.is_some(), banner);
    for w in &config.warnings {
        tracing::warn!("{w}");
    }

    let mut app = App::new(setup, Utc::now());
    app.configure(settings_for(&config, &services));
    // one clock read for the whole replay, not one per event (a million at most)
    let replay_now = Utc::now();
    let (service, events, replay) = Service::start_on(listener, opts, |_, event| {
        app.update(Msg::Webhook(event), replay_now);
    })
    .await?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    app.setup.listen = format!("{scheme}://{}", service.addr);
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
    let runner = Runner::new(Backend::Zapi(Box::new(services)), results_tx)
        .with_history(log_dir)
        .with_alerts(alerts_of(&config));

    // SIGUSR1 reloads the config file (not the demo's, which has none)
    let reloads = demo_sim
        .is_none()
        .then(|| dashboard_reloads(config.clone(), flags.clone()));

    let mut screen = RealScreen(ratatui::init());
    abort_after_panic_hook();
    if let Ok(size) = screen.0.size() {
        app.update(Msg::Resize(size.width, size.height), Utc::now());
    }
    if flags.debug_panic {
        let _ = screen.draw_app(&app);
        panic!("--debug-panic: testing that a panic restores the terminal");
    }
    let outcome = tui::run_loop(
        &mut screen,
        &mut app,
        EventStream::new(),
        Feeds {
            events,
            results: results_rx,
            log: Some(service.log.clone()),
            reloads,
        },
        runner,
        tui::shutdown_signal(),
    )
    .await;
    release_mouse();
    ratatui::restore();

    if let Some(fleet) = fleet {
        fleet.abort();
    }
    if let Some(sim) = demo_sim {
        sim.shutdown();
    }
    let closed = service.shutdown().await;
    tracing::info!("stopped");
    outcome.map_err(|e| Fatal::runtime(format!("terminal error: {e}")))?;
    closed.map_err(|e| Fatal::runtime(e.to_string()))
}

/// Headless: the listener and the log, one JSON line per accepted event on
/// stdout, until SIGTERM/SIGINT; SIGHUP reloads the config.
async fn serve(config: Config, flags: &Flags) -> Result<(), Fatal> {
    let state = state_dir(&config)?;
    init_logging(&state, &flags.log_level);
    for w in &config.warnings {
        tracing::warn!("{w}");
        let _ = writeln!(std::io::stderr(), "zapi-dash: warning: {w}");
    }
    let mut opts = service_options(&config, config.listen, &state)?;
    let metrics = Arc::new(Metrics::new());
    let services = zapi_services(&config, opts.secret.clone())?;
    let can_query_status = services.client.is_some();
    let mut settings = settings_for(&config, &services);
    // the hub polls /status on its own clock; the app only judges
    settings.poll_interval = Duration::ZERO;
    let (hub, handle) = Hub::new(
        Backend::Zapi(Box::new(services)),
        Arc::clone(&metrics),
        opts.log_dir.clone(),
    );
    let hub = hub.with_alerts(alerts_of(&config));
    let reload_hub = handle.clone();
    opts.extra_routes = Some(api::router(handle, config.api_token.clone()));
    opts.metrics = Some(metrics);

    let mut app = App::new(setup_for(&config, can_query_status, None), Utc::now());
    app.configure(settings);
    let mut last_seq = 0;
    let (service, committed, replay) = Service::start(opts, |seq, event| {
        last_seq = seq;
        app.update(Msg::Webhook(event), Utc::now());
    })
    .await?;
    // the hub writes the JSON lines of each batch it applies into one
    // buffer; this loop only copies the buffers to stdout
    let (lines, mut accepted) = mpsc::channel::<Vec<u8>>(64);
    let hub_task = hub.with_event_lines(lines).spawn(
        app,
        committed,
        HubOptions {
            poll_interval: Duration::from_secs(config.poll_interval),
            last_seq,
            tap: None,
        },
    );
    // not eprintln!: a closed stderr must not panic the service
    let _ = writeln!(
        std::io::stderr(),
        "zapi-dash: listening on {} · {} events in the log · {} corrupt records skipped · {}",
        service.addr,
        replay.records,
        replay.corrupt,
        state.join("events").display()
    );
    let shutdown = tui::stop_signal();
    tokio::pin!(shutdown);
    let mut hangup = ReloadSignal::hangup();
    let mut running = config;
    // buffered, flushed whenever no more lines are waiting: one write per
    // burst rather than one per event (stdout is line-buffered otherwise)
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = hangup.recv() => serve_reload(&mut running, flags, &reload_hub).await,
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
    // the log closes, its committed feed ends, and with it the hub; the
    // lines of what is still acknowledged meanwhile are printed (and the hub
    // never waits on a full channel)
    let closing = service.shutdown();
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
    drop(out);
    drop(accepted);
    let _ = tokio::time::timeout(Duration::from_secs(2), hub_task).await;
    tracing::info!("stopped");
    closed.map_err(|e| Fatal::runtime(e.to_string()))
}

/// The dashboard's reloads of its config file, starting from `running`.
fn dashboard_reloads(mut running: Config, flags: Flags) -> mpsc::Receiver<Reloaded> {
    spawn_reloads(move || {
        let (reload, config) = reload_config(&running, &flags, true)?;
        running = config;
        Ok(reload)
    })
}

/// The dashboard's reloads: on each SIGUSR1 `reload` loads the config
/// again, and what came of it goes to the loop. The handler is installed
/// here, at once: SIGUSR1's default action would end the process.
fn spawn_reloads(
    mut reload: impl FnMut() -> Result<Reload, String> + Send + 'static,
) -> mpsc::Receiver<Reloaded> {
    let (tx, rx) = mpsc::channel(4);
    let mut signal = ReloadSignal::user_defined1();
    tokio::spawn(async move {
        loop {
            signal.recv().await;
            let reloaded = match reload() {
                Ok(reload) => Reloaded::Apply(Box::new(reload)),
                Err(why) => Reloaded::Failed(why),
            };
            if tx.send(reloaded).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// `serve`'s SIGHUP: the config loaded again and handed to the hub, or
/// why not (logged, and on stderr for journald).
async fn serve_reload(running: &mut Config, flags: &Flags, hub: &HubHandle) {
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

/// Loads the config again for a reload signal: the new one with the keys
/// only a restart changes kept as they run (and reported), and what it
/// changes; or why it cannot be used (logged at warn; nothing changes).
/// `app_polls`: the dashboard's app polls `/status`, `serve`'s hub does.
fn reload_config(
    running: &Config,
    flags: &Flags,
    app_polls: bool,
) -> Result<(Reload, Config), String> {
    let loaded = load_config(flags).and_then(|new| {
        let needs_restart = reload::needs_restart(running, &new);
        let config = reload::keep_fixed(running, new);
        let secret = config
            .webhook_secret
            .as_ref()
            .map(WebhookSecret::new)
            .transpose()
            .map_err(|e| Fatal::usage(format!("webhook_secret: {e}")))?;
        let services = zapi_services(&config, secret)?;
        Ok((config, services, needs_restart))
    });
    let (config, services, needs_restart) = loaded.map_err(reload_failed)?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let mut settings = settings_for(&config, &services);
    if !app_polls {
        settings.poll_interval = Duration::ZERO;
    }
    let setup = setup_for(&config, services.client.is_some(), None);
    let reload = Reload {
        reconfig: Reconfig {
            instances: Some(setup.instances),
            missing_for_register: setup.missing_for_register,
            can_query_status: setup.can_query_status,
            settings,
            needs_restart,
        },
        backend: Some(Backend::Zapi(Box::new(services))),
        alerts: alerts_of(&config),
        poll_interval: Duration::from_secs(config.poll_interval),
    };
    Ok((reload, config))
}

/// Why a reload changed nothing, logged at warn.
fn reload_failed(f: Fatal) -> String {
    let why = format!(
        "config reload failed, keeping the running config: {}",
        f.message
    );
    tracing::warn!("{why}");
    why
}

/// What `watch` takes from the local config: keys, thresholds, bell.
fn watch_settings(local: &Config) -> Settings {
    Settings {
        no_color: no_color(),
        rules: Rules::from_secs(local.alert_after, local.silence_alert),
        bell: local.bell,
        keys: local.keys.clone(),
        ..Settings::default()
    }
}

/// `watch`'s reload: the local config's settings; the rows, calls and
/// alerts are the server's.
fn watch_reload(flags: &Flags) -> Result<Reload, String> {
    let local = load_config(flags).map_err(reload_failed)?;
    Ok(Reload {
        reconfig: Reconfig {
            instances: None,
            missing_for_register: None,
            can_query_status: true,
            settings: watch_settings(&local),
            needs_restart: Vec::new(),
        },
        backend: None,
        alerts: Alerts::default(),
        poll_interval: Duration::ZERO,
    })
}

/// The dashboard fed by a remote `serve`: no listener, no event log; the
/// rows come from the server's event stream, the action keys go to its API.
async fn watch(flags: &Flags, remote_url: &str, api_token: Secret) -> Result<(), Fatal> {
    let api = RemoteApi::new(remote_url, api_token).map_err(|e| match e {
        zapi_dash::zapi::ApiError::Config(m) => Fatal::usage(format!("watch: {m}")),
        e => Fatal::usage(format!("watch: {e}")),
    })?;
    if let Some(state) = flags.state_dir.clone().or_else(config::default_state_dir) {
        init_logging(&state, &flags.log_level);
    }
    let setup = Setup {
        // no local listener: the header shows the server in the banner
        listen: String::new(),
        config_file: None,
        instances: Vec::new(),
        missing_for_register: None,
        can_query_status: true,
        tz: TimeZone::Local,
        banner: Some(format!("watching {}", api.display_url())),
        warnings: Vec::new(),
        secret_paths: false,
    };
    let mut app = App::new(setup, Utc::now());
    // the local config's keys, thresholds and bell, if there is one (the
    // server's own config decides what it polls and registers)
    let local = load_config(flags)?;
    app.configure(watch_settings(&local));
    // SIGUSR1 reloads those
    let reload_flags = flags.clone();
    let reloads = spawn_reloads(move || watch_reload(&reload_flags));
    // the feed and the runner share one channel: the server's events and
    // the results of the action keys arrive in the order they happened
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let feed = remote::spawn_feed(api.clone(), results_tx.clone());
    let runner = Runner::new(Backend::Remote(api), results_tx);
    // no listener: an events feed that is closed from the start
    let (_, events) = mpsc::channel(1);

    let mut screen = RealScreen(ratatui::init());
    abort_after_panic_hook();
    if let Ok(size) = screen.0.size() {
        app.update(Msg::Resize(size.width, size.height), Utc::now());
    }
    let outcome = tui::run_loop(
        &mut screen,
        &mut app,
        EventStream::new(),
        Feeds {
            events,
            results: results_rx,
            log: None,
            reloads: Some(reloads),
        },
        runner,
        tui::shutdown_signal(),
    )
    .await;
    release_mouse();
    ratatui::restore();
    feed.abort();
    tracing::info!("stopped");
    outcome.map_err(|e| Fatal::runtime(format!("terminal error: {e}")))
}

/// Mouse capture off (ratatui's restore leaves it as it was).
fn release_mouse() {
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
}

/// `NO_COLOR` set to anything but the empty string (no-color.org).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The config's alert commands.
fn alerts_of(config: &Config) -> Alerts {
    Alerts {
        on_disconnect: config.on_disconnect.clone(),
        on_connect: config.on_connect.clone(),
        timeout: Duration::from_secs(config.alert_timeout),
    }
}

/// What the dashboard takes from the config beyond the setup.
fn settings_for(config: &Config, services: &Services) -> Settings {
    Settings {
        poll_interval: Duration::from_secs(config.poll_interval),
        rules: Rules::from_secs(config.alert_after, config.silence_alert),
        bell: config.bell,
        no_color: no_color(),
        // `/me` tells drift only when we know the URL the webhooks should have
        can_check_hooks: services.client.is_some() && services.public_url.is_some(),
        alerts: (config.on_disconnect.is_some(), config.on_connect.is_some()),
        keys: config.keys.clone(),
    }
}

/// After ratatui's hook has restored the terminal and printed the panic,
/// end the process: a panic on a background task must not leave a
/// dashboard running on a restored (cooked) terminal.
fn abort_after_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        release_mouse();
        previous(info);
        std::process::exit(101);
    }));
}

/// Diagnostics go to `<state dir>/zapi-dash.log`, never to the terminal the
/// dashboard draws on. Without a usable state dir there is no log.
fn init_logging(dir: &Path, level: &str) {
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // rotated by size: `zapi-dash.log.1` … `.5` (see logfile.rs)
    let Ok(file) = RotatingFile::open(
        &dir.join("zapi-dash.log"),
        logfile::max_bytes_from(std::env::var(logfile::MAX_BYTES_ENV).ok()),
        logfile::DEFAULT_KEEP,
    ) else {
        return;
    };
    let level = level.parse().unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_max_level(level)
        .try_init();
}
