//! The commands, one file each, and what they share: the config, the state
//! dir, the listener's options, the Z-API services, the app's setup and
//! settings, reloads and logging.

pub mod completions;
pub mod demo;
pub mod report;
pub mod run;
pub mod serve;
pub mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use zapi_dash::app::{Reconfig, Settings, Setup, TimeZone};
use zapi_dash::cli::Flags;
use zapi_dash::config::{self, Config};
use zapi_dash::discovery::{self, AccountDiscovery, Accounts, Discovery, Found};
use zapi_dash::fleet::health::Rules;
use zapi_dash::listener::secret::WebhookSecret;
use zapi_dash::listener::server::{self, ServerOptions};
use zapi_dash::listener::token_header::TokenHeaderCheck;
use zapi_dash::listener::{ListenerError, ListenerOptions};
use zapi_dash::logfile::{self, RotatingFile};
use zapi_dash::model::InstanceId;
use zapi_dash::reload::{self, Reload, ReloadSignal, Reloaded};
use zapi_dash::runner::{self, Alerts, Backend, Services};
use zapi_dash::tui::{self, Term};
use zapi_dash::zapi::partner::DEFAULT_PAGE_SIZE;
use zapi_dash::zapi::{PartnerClient, ZapiClient};

/// A reason to stop before or instead of running, with its exit code.
pub struct Fatal {
    pub code: u8,
    pub message: String,
}

impl Fatal {
    /// Bad configuration or an address in use: exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<ListenerError> for Fatal {
    fn from(e: ListenerError) -> Self {
        Fatal::usage(e.to_string())
    }
}

/// The terminal for a dashboard, entered; without one (stdin or stdout
/// not a tty) exit code 2 and one line pointing to `serve`, before
/// anything touches the terminal.
pub fn enter_terminal() -> Result<Term, Fatal> {
    if !tui::has_terminal() {
        return Err(Fatal::usage(tui::NO_TERMINAL));
    }
    Term::enter().map_err(|e| Fatal::runtime(format!("cannot set up the terminal: {e}")))
}

pub fn load_config(flags: &Flags) -> Result<Config, Fatal> {
    Config::load(
        flags,
        |k| std::env::var(k).ok(),
        config::default_config_path(),
    )
    .map_err(|e| Fatal::usage(e.to_string()))
}

/// The state dir: the config's or the flag's, else the platform's.
pub fn state_dir(config: &Config) -> Result<PathBuf, Fatal> {
    config
        .state_dir
        .clone()
        .or_else(config::default_state_dir)
        .ok_or_else(|| {
            Fatal::usage("no state dir: this platform has none, set `state_dir` or --state-dir")
        })
}

/// Everything about the listener that comes from the config: secret, TLS.
pub fn service_options(
    config: &Config,
    listen: SocketAddr,
    state: &Path,
) -> Result<ListenerOptions, Fatal> {
    let origin = config
        .source
        .as_ref()
        .map_or("configuration".to_string(), |p| p.display().to_string());
    let secret = webhook_secret(config, &format!("{origin}: key `webhook_secret`"))?;
    let tls = match &config.tls {
        Some((cert, key)) => {
            Some(server::load_tls(cert, key).map_err(|e| Fatal::usage(format!("{origin}: {e}")))?)
        }
        None => None,
    };
    Ok(ListenerOptions {
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
        // always: targets adopted at registration join it while it runs
        relay: Some(zapi_dash::relay::Relay::new(
            config.forward.clone(),
            zapi_dash::relay::RelayOptions::default(),
        )),
    })
}

/// What carries out Z-API calls with the config's tokens.
pub fn zapi_services(config: &Config, secret: Option<WebhookSecret>) -> Result<Services, Fatal> {
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
        concurrency: runner::DEFAULT_CONCURRENCY,
        accounts: account_clients(config)?,
        all_types: config.register_all_types,
    })
}

/// The tokens discovery found and its `s` signal: one per process, so a
/// reloaded config's services keep what the running discovery found.
fn discovered() -> &'static (Found, Arc<Notify>) {
    static DISCOVERED: OnceLock<(Found, Arc<Notify>)> = OnceLock::new();
    DISCOVERED.get_or_init(Default::default)
}

/// Each `[[accounts]]`'s client with its own Client-Token, and which
/// configured instance is whose.
fn account_clients(config: &Config) -> Result<Accounts, Fatal> {
    let mut clients = Vec::with_capacity(config.accounts.len());
    for (i, account) in config.accounts.iter().enumerate() {
        let client = match &account.client_token {
            Some(token) => Some(
                ZapiClient::new(&config.api_base, token.clone())
                    .map_err(|e| Fatal::usage(format!("accounts[{i}].client_token: {e}")))?,
            ),
            None => None,
        };
        clients.push((account.name.clone(), client));
    }
    let of = config
        .instances
        .iter()
        .filter_map(|inst| {
            let name = inst.account.as_deref()?;
            let n = config.accounts.iter().position(|a| a.name == name)?;
            Some((inst.id.clone(), n))
        })
        .collect();
    let (found, relist) = discovered();
    Ok(Accounts {
        clients,
        of,
        found: found.clone(),
        relist: Arc::clone(relist),
    })
}

/// The discovery of every account with a partner token (`None`: none has).
pub fn discovery_for(
    config: &Config,
    secret: Option<WebhookSecret>,
) -> Result<Option<Discovery>, Fatal> {
    let mut accounts = Vec::new();
    for (i, account) in config.accounts.iter().enumerate() {
        let Some(token) = &account.partner_token else {
            continue;
        };
        let client = PartnerClient::new(&config.api_base, token.clone())
            .map_err(|e| Fatal::usage(format!("accounts[{i}].partner_token: {e}")))?;
        accounts.push(AccountDiscovery {
            account: i,
            name: account.name.clone(),
            client,
            every: Duration::from_secs(account.discover_every),
            query: account.query.clone(),
        });
    }
    if accounts.is_empty() {
        return Ok(None);
    }
    let (found, relist) = discovered();
    Ok(Some(Discovery {
        accounts,
        found: found.clone(),
        relist: Arc::clone(relist),
        public_url: config.public_url.clone(),
        secret,
        all_types: config.register_all_types,
        page_size: DEFAULT_PAGE_SIZE,
        retry_base: discovery::DEFAULT_RETRY_BASE,
    }))
}

/// The accounts as the fleet knows them (name, discovers), and which
/// configured instance is whose.
type FleetAccounts = (Vec<(String, bool)>, Vec<(InstanceId, String)>);

/// The accounts as the fleet knows them (name, discovers) and which
/// configured instance is whose.
pub fn fleet_accounts(config: &Config) -> FleetAccounts {
    let accounts = config
        .accounts
        .iter()
        .map(|a| (a.name.clone(), a.partner_token.is_some()))
        .collect();
    let of = config
        .instances
        .iter()
        .filter_map(|i| Some((i.id.clone(), i.account.clone()?)))
        .collect();
    (accounts, of)
}

/// Some account has a Client-Token: `/status` can be asked.
pub fn can_query_status(services: &Services) -> bool {
    services.client.is_some() || services.accounts.clients.iter().any(|(_, c)| c.is_some())
}

/// The app's setup from the config (the listen address is set once bound).
pub fn setup_for(config: &Config, can_query_status: bool, banner: Option<String>) -> Setup {
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

/// The dashboard's reloads: on each SIGUSR1 `reload` loads the config
/// again, and what came of it goes to the loop. The handler is installed
/// here, at once: SIGUSR1's default action would end the process.
pub fn spawn_reloads(
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

/// Loads the config again for a reload signal: the new one with the keys
/// only a restart changes kept as they run (and reported), and what it
/// changes; or why it cannot be used (logged at warn; nothing changes).
/// `app_polls`: the dashboard's app polls `/status`, `serve`'s hub does.
pub fn reload_config(
    running: &Config,
    flags: &Flags,
    app_polls: bool,
) -> Result<(Reload, Config), String> {
    let loaded = load_config(flags).and_then(|new| {
        let needs_restart = reload::needs_restart(running, &new);
        let config = reload::keep_fixed(running, new);
        let secret = webhook_secret(&config, "webhook_secret")?;
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
    let setup = setup_for(&config, can_query_status(&services), None);
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
pub fn reload_failed(f: Fatal) -> String {
    let why = format!(
        "config reload failed, keeping the running config: {}",
        f.message
    );
    tracing::warn!("{why}");
    why
}

/// `NO_COLOR` set to anything but the empty string (no-color.org).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The config's alert commands.
pub fn alerts_of(config: &Config) -> Alerts {
    Alerts {
        on_disconnect: config.on_disconnect.clone(),
        on_connect: config.on_connect.clone(),
        timeout: Duration::from_secs(config.alert_timeout),
    }
}

/// What the dashboard takes from the config beyond the setup.
pub fn settings_for(config: &Config, services: &Services) -> Settings {
    Settings {
        poll_interval: Duration::from_secs(config.poll_interval),
        rules: Rules::from_secs(config.alert_after, config.silence_alert),
        bell: config.bell,
        no_color: no_color(),
        // `/me` tells drift only when we know the URL the webhooks should have
        can_check_hooks: can_query_status(services) && services.public_url.is_some(),
        alerts: (config.on_disconnect.is_some(), config.on_connect.is_some()),
        keys: config.keys.clone(),
    }
}

/// Diagnostics go to `<state dir>/zapi-dash.log`, never to the terminal the
/// dashboard draws on. Without a usable state dir there is no log.
pub fn init_logging(dir: &Path, level: &str) {
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

/// The config's `webhook_secret`, checked; an error starts with `what`
/// (where the key stands, as the caller tells it).
fn webhook_secret(config: &Config, what: &str) -> Result<Option<WebhookSecret>, Fatal> {
    config
        .webhook_secret
        .as_ref()
        .map(WebhookSecret::new)
        .transpose()
        .map_err(|e| Fatal::usage(format!("{what}: {e}")))
}
