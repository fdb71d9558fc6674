//! Configuration: the TOML file, environment and flags merged into one
//! validated [`Config`]. Every error names the file, the key and what is wrong
//! on one line, and never contains a secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::Flags;
use crate::model::{InstanceId, Secret};

mod accounts;
pub use accounts::{AccountConfig, DEFAULT_DISCOVER_EVERY, IMPLICIT_ACCOUNT};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_API_BASE: &str = "https://api.z-api.io";
/// Environment variable that overrides `client_token`.
pub const ENV_CLIENT_TOKEN: &str = "ZAPI_CLIENT_TOKEN";
/// Environment variable that overrides `webhook_secret`.
pub const ENV_WEBHOOK_SECRET: &str = "ZAPI_DASH_WEBHOOK_SECRET";
/// Environment variable that overrides `api_token`.
pub const ENV_API_TOKEN: &str = "ZAPI_DASH_API_TOKEN";
/// Seconds between two `/status` polls of one instance, by default.
pub const DEFAULT_POLL_INTERVAL: u64 = 60;
/// Days of events the log keeps by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// Seconds a disconnect may go without a connect before it is an outage, by default.
pub const DEFAULT_ALERT_AFTER: u64 = 60;
/// Seconds an alert command may run before it is killed, by default.
pub const DEFAULT_ALERT_TIMEOUT: u64 = 10;
/// The longest `alert_after` and `silence_alert` (30 days): beyond it a
/// typo, not a wish, and far from any duration overflow.
pub const MAX_ALERT_SECS: u64 = 30 * 24 * 3600;
/// The longest `alert_timeout` (1 hour).
pub const MAX_ALERT_TIMEOUT: u64 = 3600;

/// One configured instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceConfig {
    pub id: InstanceId,
    pub token: Secret,
    pub name: Option<String>,
    /// The `[[accounts]]` it is listed under (`None`: the top-level
    /// `[[instances]]`, the implicit account).
    pub account: Option<String>,
}

/// The merged, validated configuration: what the file (with flags and
/// environment) says. Not [`crate::app::Setup`] (what the screen was started
/// with) nor [`crate::app::Settings`] (what a reload can change while running).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    /// `https://…` without a trailing slash.
    pub public_url: Option<String>,
    /// Without a trailing slash.
    pub api_base: String,
    pub client_token: Option<Secret>,
    /// Every configured instance: the top-level ones, then each account's.
    pub instances: Vec<InstanceConfig>,
    /// The `[[accounts]]` tables (the top-level `client_token` and
    /// `[[instances]]` are an implicit account apart from these).
    pub accounts: Vec<AccountConfig>,
    /// The file the config came from, if any.
    pub source: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    /// Days of events the log keeps (0 = forever).
    pub retention_days: u32,
    /// When set, webhooks are only accepted under per-instance secret paths.
    pub webhook_secret: Option<Secret>,
    /// PEM certificate chain and key: serve the listener over HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Things worth telling the operator at start (e.g. a config file others can read).
    pub warnings: Vec<String>,
    /// Bearer token of `/metrics` and `/api/*` (`serve`); without one they answer 404.
    pub api_token: Option<Secret>,
    /// Seconds between two `/status` polls of each instance (0 = no polling).
    pub poll_interval: u64,
    /// Seconds a disconnect not followed by a connect may last before it is
    /// an outage (0 = at once).
    pub alert_after: u64,
    /// Seconds of silence after which an instance that had traffic is
    /// flagged (0 = off).
    pub silence_alert: u64,
    /// Ring the terminal bell on a new outage.
    pub bell: bool,
    /// Shell command line run (`sh -c`, see [`crate::alert`]) on a disconnect.
    pub on_disconnect: Option<String>,
    /// Shell command line run on a connect.
    pub on_connect: Option<String>,
    /// Seconds an alert command may run before its process group is killed (≥ 1).
    pub alert_timeout: u64,
    /// Key bindings: the defaults with the `[keys]` table applied.
    pub keys: crate::keys::Keymap,
    /// Refuse (401) a webhook of a configured instance whose `z-api-token`
    /// header is not that instance's token (see
    /// [`crate::listener::token_header::TokenHeaderCheck`]).
    pub check_token_header: bool,
    /// `[[forward]]`: where the relay delivers every webhook it logs.
    pub forward: Vec<crate::relay::ForwardTarget>,
    /// `r`/`R` point every webhook type at zapi-dash (`update-every-webhooks`).
    pub register_all_types: bool,
    /// `[cluster]`: `serve` replicas sharing a NATS JetStream stream.
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8787))),
            public_url: None,
            api_base: DEFAULT_API_BASE.to_string(),
            client_token: None,
            instances: Vec::new(),
            accounts: Vec::new(),
            source: None,
            state_dir: None,
            retention_days: DEFAULT_RETENTION_DAYS,
            webhook_secret: None,
            tls: None,
            warnings: Vec::new(),
            api_token: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            alert_after: DEFAULT_ALERT_AFTER,
            silence_alert: 0,
            bell: true,
            on_disconnect: None,
            on_connect: None,
            alert_timeout: DEFAULT_ALERT_TIMEOUT,
            keys: crate::keys::Keymap::default(),
            check_token_header: false,
            forward: Vec::new(),
            register_all_types: false,
            cluster: None,
        }
    }
}

/// A configuration problem: where (file, key) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or "command line" / "environment".
    pub origin: String,
    /// The key (`public_url`, `instances[1].id`), if one is to blame.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: key `{}`: {}", self.origin, key, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    api_base: Option<String>,
    client_token: Option<Secret>,
    state_dir: Option<PathBuf>,
    retention_days: Option<u32>,
    webhook_secret: Option<Secret>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    api_token: Option<Secret>,
    poll_interval: Option<u64>,
    alert_after: Option<u64>,
    silence_alert: Option<u64>,
    bell: Option<bool>,
    on_disconnect: Option<String>,
    on_connect: Option<String>,
    alert_timeout: Option<u64>,
    keys: Option<toml::Table>,
    check_token_header: Option<bool>,
    register_all_types: Option<bool>,
    #[serde(default)]
    instances: Vec<RawInstance>,
    #[serde(default)]
    accounts: Vec<accounts::RawAccount>,
    #[serde(default)]
    forward: Vec<crate::relay::target::RawForward>,
    cluster: Option<crate::cluster::config::RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    id: String,
    token: Secret,
    name: Option<String>,
}

/// The default config file: `<platform config dir>/zapi-dash/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "zapi-dash").map(|d| d.config_dir().join("config.toml"))
}

/// The default state dir (diagnostics log): the platform's state dir, or its
/// local data dir where there is no state dir (macOS, Windows).
pub fn default_state_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "zapi-dash").map(|d| {
        d.state_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| d.data_local_dir().to_path_buf())
    })
}

impl Config {
    /// Loads the config the way `zapi-dash` does: `--config FILE` (must
    /// exist), else `default_path` if that file exists, else built-in defaults;
    /// then the environment (`ZAPI_CLIENT_TOKEN`), then the flags.
    pub fn load(
        flags: &Flags,
        env: impl Fn(&str) -> Option<String>,
        default_path: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let path = match (&flags.config, default_path) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(p)) if p.is_file() => Some(p),
            _ => None,
        };
        let mut config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    origin: p.display().to_string(),
                    key: None,
                    message: format!("cannot read the config file: {e}"),
                })?;
                let mut config = Config::from_toml(&text, p)?;
                config.warnings.extend(permission_warning(p, &config));
                config
            }
            None => Config::default(),
        };

        if let Some(token) = env(ENV_CLIENT_TOKEN).filter(|t| !t.trim().is_empty()) {
            config.client_token = Some(Secret::new(token.trim()));
        }
        let origin = path
            .as_ref()
            .map_or("configuration".into(), |p| p.display().to_string());
        accounts::resolve_env(&mut config.accounts, &env, &origin)?;
        if let Some(secret) = env(ENV_WEBHOOK_SECRET).filter(|t| !t.trim().is_empty()) {
            config.webhook_secret = Some(
                validate_secret(secret.trim())
                    .map_err(|m| err("environment", ENV_WEBHOOK_SECRET, m))?,
            );
        }

        if let Some(token) = env(ENV_API_TOKEN).filter(|t| !t.trim().is_empty()) {
            config.api_token = Some(
                validate_api_token(token.trim())
                    .map_err(|m| err("environment", ENV_API_TOKEN, m))?,
            );
        }

        forward_secrets_from_env(&mut config, &env)?;
        if let Some(cluster) = config.cluster.take() {
            let url = env(crate::cluster::config::ENV_NATS_URL);
            config.cluster = Some(crate::cluster::config::with_env_url(cluster, url).map_err(
                |(key, m)| {
                    let from_env = key == crate::cluster::config::ENV_NATS_URL;
                    err(if from_env { "environment" } else { &origin }, &key, m)
                },
            )?);
        }

        let cli = "command line";
        if let Some(listen) = flags.listen {
            config.listen = listen;
        }
        if let Some(url) = &flags.public_url {
            config.public_url =
                Some(validate_public_url(url).map_err(|m| err(cli, "--public-url", m))?);
        }
        if let Some(url) = &flags.api_base {
            config.api_base = validate_api_base(url).map_err(|m| err(cli, "--api-base", m))?;
        }
        if let Some(dir) = &flags.state_dir {
            config.state_dir = Some(dir.clone());
        }
        // the flag may have replaced the file's public_url
        config.warnings.retain(|w| w != PLAIN_HTTP_WARNING);
        config.warnings.extend(config.public_url_warning());
        Ok(config)
    }

    /// Parses and validates a config file's text. `path` is only used in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let mut raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(&origin, text, &e))?;
        let mut config = Config {
            source: Some(path.to_path_buf()),
            ..Config::default()
        };

        endpoints(&mut config, &mut raw, &origin)?;
        config.state_dir = raw.state_dir;
        if let Some(token) = raw.api_token {
            config.api_token =
                Some(validate_api_token(token.expose()).map_err(|m| err(&origin, "api_token", m))?);
        }
        if let Some(secs) = raw.poll_interval {
            config.poll_interval = secs;
        }
        if let Some(days) = raw.retention_days {
            config.retention_days = days;
        }
        if let Some(secs) = raw.alert_after {
            config.alert_after =
                at_most(secs, MAX_ALERT_SECS).map_err(|m| err(&origin, "alert_after", m))?;
        }
        if let Some(secs) = raw.silence_alert {
            config.silence_alert =
                at_most(secs, MAX_ALERT_SECS).map_err(|m| err(&origin, "silence_alert", m))?;
        }
        if let Some(bell) = raw.bell {
            config.bell = bell;
        }
        if let Some(check) = raw.check_token_header {
            config.check_token_header = check;
        }
        if let Some(command) = raw.on_disconnect {
            config.on_disconnect =
                Some(validate_command(&command).map_err(|m| err(&origin, "on_disconnect", m))?);
        }
        if let Some(command) = raw.on_connect {
            config.on_connect =
                Some(validate_command(&command).map_err(|m| err(&origin, "on_connect", m))?);
        }
        if let Some(secs) = raw.alert_timeout {
            if secs == 0 {
                return Err(err(&origin, "alert_timeout", "must be at least 1".into()));
            }
            config.alert_timeout =
                at_most(secs, MAX_ALERT_TIMEOUT).map_err(|m| err(&origin, "alert_timeout", m))?;
        }
        if let Some(table) = &raw.keys {
            config.keys = crate::keys::Keymap::from_table(table)
                .map_err(|(key, message)| err(&origin, &key, message))?;
        }
        if let Some(secret) = raw.webhook_secret {
            config.webhook_secret = Some(
                validate_secret(secret.expose().trim())
                    .map_err(|m| err(&origin, "webhook_secret", m))?,
            );
        }
        config.tls = tls_pair(raw.tls_cert, raw.tls_key, &origin)?;
        let mut seen = std::collections::HashMap::new();
        config.instances = accounts::top_level(raw.instances, &origin, &mut seen)?;
        config.accounts =
            accounts::accounts(raw.accounts, &origin, &mut seen, &mut config.instances)?;
        config.register_all_types = raw.register_all_types.unwrap_or(false);
        let names: Vec<(String, InstanceId)> = config
            .instances
            .iter()
            .filter_map(|i| Some((i.name.clone()?, i.id.clone())))
            .collect();
        config.forward = crate::relay::target::parse_targets(raw.forward, &names)
            .map_err(|(key, message)| err(&origin, &key, message))?;
        config.cluster = cluster_of(raw.cluster, &origin)?;
        config.warnings.extend(config.public_url_warning());
        Ok(config)
    }

    /// [`PLAIN_HTTP_WARNING`] when `public_url` is a plain `http://` URL.
    pub fn public_url_warning(&self) -> Option<String> {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://"))
            .then(|| PLAIN_HTTP_WARNING.to_string())
    }

    /// What is missing to re-register webhooks, if anything.
    pub fn missing_for_register(&self) -> Option<&'static str> {
        if self.public_url.is_none() {
            Some("public_url")
        } else if self.client_token.is_none()
            && !self.accounts.iter().any(|a| a.client_token.is_some())
        {
            Some("client_token")
        } else {
            None
        }
    }
}

/// The addresses and the client token: `listen`, `public_url`,
/// `api_base`, `client_token` (taken out of `raw`).
fn endpoints(config: &mut Config, raw: &mut RawConfig, origin: &str) -> Result<(), ConfigError> {
    if let Some(listen) = raw.listen.take() {
        config.listen = listen.trim().parse().map_err(|_| {
            err(
                origin,
                "listen",
                format!("`{listen}` is not an address like 127.0.0.1:8787"),
            )
        })?;
    }
    if let Some(url) = raw.public_url.take() {
        config.public_url =
            Some(validate_public_url(&url).map_err(|m| err(origin, "public_url", m))?);
    }
    if let Some(url) = raw.api_base.take() {
        config.api_base = validate_api_base(&url).map_err(|m| err(origin, "api_base", m))?;
    }
    if let Some(token) = raw.client_token.take() {
        if token.expose().trim().is_empty() {
            return Err(err(
                origin,
                "client_token",
                "must not be empty (or leave it out)".into(),
            ));
        }
        config.client_token = Some(token);
    }
    Ok(())
}

/// `tls_cert` and `tls_key`: both or neither.
fn tls_pair(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    origin: &str,
) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(err(origin, "tls_key", "is needed with tls_cert".into())),
        (None, Some(_)) => Err(err(origin, "tls_cert", "is needed with tls_key".into())),
    }
}

/// Reads each `signing_secret_env` of `[[forward]]`; a variable that is
/// not set (or blank) is an error naming the target's key.
fn forward_secrets_from_env(
    config: &mut Config,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let origin = config
        .source
        .as_ref()
        .map_or_else(|| "environment".to_owned(), |p| p.display().to_string());
    for (i, target) in config.forward.iter_mut().enumerate() {
        let Some(var) = &target.signing_secret_env else {
            continue;
        };
        let key = format!("forward[{i}].signing_secret_env");
        let value = env(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                err(
                    &origin,
                    &key,
                    format!("the environment variable `{var}` is not set"),
                )
            })?;
        let secret = Secret::new(value);
        crate::relay::sign::key_bytes(&secret)
            .map_err(|m| err(&origin, &key, format!("`{var}` {m}")))?;
        target.signing_secret = Some(secret);
    }
    Ok(())
}

/// `[cluster]`, validated. With `[[forward]]` the relay delivers on the
/// leader only ([`crate::relay::Gate`]).
fn cluster_of(
    raw: Option<crate::cluster::config::RawCluster>,
    origin: &str,
) -> Result<Option<crate::cluster::ClusterConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let cluster = crate::cluster::config::parse(raw).map_err(|(key, m)| err(origin, &key, m))?;
    Ok(Some(cluster))
}

fn err(origin: &str, key: &str, message: String) -> ConfigError {
    ConfigError {
        origin: origin.to_string(),
        key: Some(key.to_string()),
        message,
    }
}

/// A number of seconds no larger than `max`.
fn at_most(secs: u64, max: u64) -> Result<u64, String> {
    if secs > max {
        return Err(format!("must be at most {max} (seconds), got {secs}"));
    }
    Ok(secs)
}

/// An alert command line: run as given by `sh -c`; blank is a mistake.
fn validate_command(command: &str) -> Result<String, String> {
    let command = command.trim();
    if command.is_empty() {
        return Err("must not be empty (or leave it out)".into());
    }
    if command.contains('\0') {
        return Err("must not contain a NUL character".into());
    }
    Ok(command.to_string())
}

/// A webhook secret must be long enough not to be guessed (the listener's rule).
fn validate_secret(secret: &str) -> Result<Secret, String> {
    let secret = Secret::new(secret);
    crate::listener::secret::WebhookSecret::new(&secret).map_err(|e| e.to_string())?;
    Ok(secret)
}

/// An API token guards every instance's actions: it must not be guessable.
fn validate_api_token(token: &str) -> Result<Secret, String> {
    if token.trim().chars().count() < 16 {
        return Err(
            "must be at least 16 characters (generate one with `openssl rand -hex 32`)".into(),
        );
    }
    Ok(Secret::new(token.trim()))
}

/// A warning when a config file that holds secrets can be read by group or others.
#[cfg(unix)]
pub fn permission_warning(path: &Path, config: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    // Alert commands often carry a webhook URL or a bot token.
    let holds_secrets = config.client_token.is_some()
        || config.webhook_secret.is_some()
        || config.api_token.is_some()
        || config.on_disconnect.is_some()
        || config.on_connect.is_some()
        || !config.instances.is_empty()
        || !config.accounts.is_empty();
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (holds_secrets && mode & 0o077 != 0).then(|| {
        format!(
            "{} holds tokens and is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
pub fn permission_warning(_path: &Path, _config: &Config) -> Option<String> {
    None
}

/// The warning of a plain-`http://` `public_url`, kept in the dashboard's
/// header and logged by `serve` at start.
pub const PLAIN_HTTP_WARNING: &str = "public_url is plain http://: webhooks (and their secret paths) \
     cross the network unencrypted; Z-API's docs ask for https://";

/// [`PLAIN_HTTP_WARNING`] short enough for the dashboard's header, which
/// keeps showing it.
pub const PLAIN_HTTP_HEADER: &str = "public_url is plain http://: webhooks unencrypted";

/// `public_url` must be an absolute http(s) URL. Z-API's docs say it takes
/// only `https://` webhook URLs, but it has been seen delivering to
/// `http://` ones, so plain http is accepted with a warning
/// ([`Config::public_url_warning`]).
pub fn validate_public_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!(
            "must start with https:// (or http://, which Z-API's docs refuse), got `{url}`"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{url}` has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("`{url}` must not have a query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// `api_base` must be an http(s) URL.
pub fn validate_api_base(url: &str) -> Result<String, String> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("`{url}` must be an http:// or https:// URL"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Turns a TOML error into one line: file, line, key, message. The offending
/// line itself is not echoed, since it may hold a token.
fn toml_error(origin: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return ConfigError {
            origin: origin.to_string(),
            key: None,
            message,
        };
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && k.len() < 64 && !k.contains(char::is_whitespace));
    // unknown-field messages already name the key; for the rest, the key on that line.
    let key = if message.contains("unknown field") {
        None
    } else {
        key
    };
    ConfigError {
        origin: format!("{origin}:{line_no}"),
        key,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("/etc/z.toml"))
    }

    const FULL: &str = r#"
listen = "127.0.0.1:9000"
public_url = "https://dash.example.com/"
api_base = "http://127.0.0.1:1234/"
client_token = "CLIENTTOKEN123"

[[instances]]
id = "A1"
token = "TOKENA1XYZ"
name = "Sales"

[[instances]]
id = "B2"
token = "TOKENB2XYZ"
"#;

    #[test]
    fn full_file_parses() {
        let c = parse(FULL).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(c.public_url.as_deref(), Some("https://dash.example.com"));
        assert_eq!(c.api_base, "http://127.0.0.1:1234");
        assert_eq!(
            c.client_token.as_ref().map(Secret::expose),
            Some("CLIENTTOKEN123")
        );
        assert_eq!(c.instances.len(), 2);
        assert_eq!(c.instances[0].name.as_deref(), Some("Sales"));
        assert_eq!(c.instances[1].name, None);
        assert_eq!(c.missing_for_register(), None);
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.api_base, DEFAULT_API_BASE);
        assert_eq!(c.missing_for_register(), Some("public_url"));
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("lisen = \"127.0.0.1:1\"\n").unwrap_err().to_string();
        assert!(e.starts_with("/etc/z.toml:1"), "{e}");
        assert!(e.contains("unknown field `lisen`"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn bad_toml_names_line() {
        let e = parse("listen = \"a\"\npublic_url = \n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/z.toml:2"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn wrong_type_names_key_without_echoing_value_line() {
        let e = parse("client_token = 12345678\n").unwrap_err().to_string();
        assert!(e.contains("key `client_token`"), "{e}");
    }

    #[test]
    fn http_public_url_is_accepted_with_a_warning() {
        let c = parse("public_url = \"http://dash.example.com/\"").unwrap();
        assert_eq!(c.public_url.as_deref(), Some("http://dash.example.com"));
        assert_eq!(c.warnings, [PLAIN_HTTP_WARNING]);
        assert_eq!(c.public_url_warning().as_deref(), Some(PLAIN_HTTP_WARNING));
        let https = parse("public_url = \"https://dash.example.com\"").unwrap();
        assert!(https.warnings.is_empty() && https.public_url_warning().is_none());
        for bad in ["ftp://dash.example.com", "dash.example.com", "http://"] {
            let e = parse(&format!("public_url = \"{bad}\"")).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("public_url"), "{bad}");
        }
    }

    #[test]
    fn check_token_header_defaults_to_off() {
        assert!(!parse("").unwrap().check_token_header);
        assert!(
            parse("check_token_header = true")
                .unwrap()
                .check_token_header
        );
        let e = parse("check_token_header = \"yes\"").unwrap_err();
        assert!(e.to_string().contains("check_token_header"), "{e}");
    }

    #[test]
    fn duplicate_instance_is_refused() {
        let e = parse("[[instances]]\nid='A'\ntoken='t1'\n[[instances]]\nid='A'\ntoken='t2'\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("instances[1].id"));
        assert!(e.message.contains("twice"));
    }

    #[test]
    fn bad_listen_is_refused() {
        let e = parse("listen = \"localhost\"").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("listen"));
    }

    #[test]
    fn errors_never_contain_tokens() {
        let e = parse("client_token = \"SECRETSECRET\"\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRETSECRET"), "{e}");
        let e = parse("[[instances]]\nid='A'\ntoken='SECRETSECRET'\ncolour='x'\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRETSECRET"), "{e}");
    }

    #[test]
    fn env_and_flags_override_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, FULL).unwrap();
        let flags = Flags {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            public_url: Some("https://other.example.com".into()),
            api_base: Some("http://127.0.0.1:5".into()),
            ..Flags::default()
        };
        let env = |k: &str| (k == ENV_CLIENT_TOKEN).then(|| "FROMENV".to_string());
        let c = Config::load(&flags, env, None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(c.public_url.as_deref(), Some("https://other.example.com"));
        assert_eq!(c.api_base, "http://127.0.0.1:5");
        assert_eq!(c.client_token.as_ref().map(Secret::expose), Some("FROMENV"));
        assert_eq!(c.source.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn missing_explicit_file_is_an_error_but_missing_default_is_not() {
        let flags = Flags {
            config: Some("/nonexistent/zapi.toml".into()),
            ..Flags::default()
        };
        let e = Config::load(&flags, |_| None, None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/zapi.toml: cannot read"),
            "{e}"
        );
        let c = Config::load(
            &Flags::default(),
            |_| None,
            Some("/nonexistent/default.toml".into()),
        )
        .unwrap();
        assert_eq!(c.source, None);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn http_public_url_flag_is_accepted_with_a_warning() {
        let flags = Flags {
            public_url: Some("http://x.example".into()),
            ..Flags::default()
        };
        let c = Config::load(&flags, |_| None, None).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("http://x.example"));
        assert_eq!(c.warnings, [PLAIN_HTTP_WARNING]);
        let flags = Flags {
            public_url: Some("gopher://x.example".into()),
            ..Flags::default()
        };
        let e = Config::load(&flags, |_| None, None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("--public-url"));
    }

    #[test]
    fn reliability_and_security_keys() {
        let c = parse(
            "retention_days = 7\nwebhook_secret = \"0123456789abcdefXYZ\"\ntls_cert = \"/etc/c.pem\"\ntls_key = \"/etc/k.pem\"\n",
        )
        .unwrap();
        assert_eq!(c.retention_days, 7);
        assert_eq!(
            c.webhook_secret.as_ref().map(Secret::expose),
            Some("0123456789abcdefXYZ")
        );
        assert_eq!(c.tls, Some(("/etc/c.pem".into(), "/etc/k.pem".into())));
        assert_eq!(parse("").unwrap().retention_days, DEFAULT_RETENTION_DAYS);
    }

    #[test]
    fn short_secret_and_half_tls_are_refused() {
        let e = parse("webhook_secret = \"short\"").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("webhook_secret"));
        assert!(!e.to_string().contains("short\""), "{e}");
        assert_eq!(
            parse("tls_cert = \"/c.pem\"").unwrap_err().key.as_deref(),
            Some("tls_key")
        );
        assert_eq!(
            parse("tls_key = \"/k.pem\"").unwrap_err().key.as_deref(),
            Some("tls_cert")
        );
    }

    #[test]
    fn webhook_secret_from_environment() {
        let env = |k: &str| (k == ENV_WEBHOOK_SECRET).then(|| "env-secret-0123456789".to_string());
        let c = Config::load(&Flags::default(), env, None).unwrap();
        assert_eq!(
            c.webhook_secret.as_ref().map(Secret::expose),
            Some("env-secret-0123456789")
        );
        let short = |k: &str| (k == ENV_WEBHOOK_SECRET).then(|| "abc".to_string());
        let e = Config::load(&Flags::default(), short, None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(ENV_WEBHOOK_SECRET));
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_config_with_tokens_warns() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, FULL).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let flags = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        };
        let c = Config::load(&flags, |_| None, None).unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("chmod 600") && c.warnings[0].contains("644"),
            "{:?}",
            c.warnings
        );
        assert!(!c.warnings[0].contains("TOKENA1XYZ"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            Config::load(&flags, |_| None, None)
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn api_token_and_poll_interval() {
        let c = parse("api_token = \"0123456789abcdef0123\"\npoll_interval = 0\n").unwrap();
        assert_eq!(
            c.api_token.as_ref().map(Secret::expose),
            Some("0123456789abcdef0123")
        );
        assert_eq!(c.poll_interval, 0);
        assert_eq!(parse("").unwrap().poll_interval, DEFAULT_POLL_INTERVAL);
        assert_eq!(
            parse("api_token = \"short\"").unwrap_err().key.as_deref(),
            Some("api_token")
        );
        let env = |k: &str| (k == ENV_API_TOKEN).then(|| "from-the-environment-123".to_string());
        let c = Config::load(&Flags::default(), env, None).unwrap();
        assert_eq!(
            c.api_token.as_ref().map(Secret::expose),
            Some("from-the-environment-123")
        );
    }

    #[test]
    fn alert_and_key_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.alert_after, DEFAULT_ALERT_AFTER);
        assert_eq!(c.alert_after, 60);
        assert_eq!(c.silence_alert, 0);
        assert!(c.bell);
        assert_eq!(c.on_disconnect, None);
        assert_eq!(c.on_connect, None);
        assert_eq!(c.alert_timeout, DEFAULT_ALERT_TIMEOUT);
        assert_eq!(c.alert_timeout, 10);
        assert_eq!(c.keys, crate::keys::Keymap::default());
        assert_eq!(Config::default().alert_after, DEFAULT_ALERT_AFTER);
        assert!(Config::default().bell);
    }

    #[test]
    fn alert_keys_are_read() {
        let c = parse(
            r#"alert_after = 0
silence_alert = 900
bell = false
on_disconnect = "  notify-send \"$ZAPI_INSTANCE_NAME\" down "
on_connect = '''
curl -fsS "$HOOK" \
  -d up
'''
alert_timeout = 3
"#,
        )
        .unwrap();
        assert_eq!(c.alert_after, 0);
        assert_eq!(c.silence_alert, 900);
        assert!(!c.bell);
        assert_eq!(
            c.on_disconnect.as_deref(),
            Some(r#"notify-send "$ZAPI_INSTANCE_NAME" down"#)
        );
        assert_eq!(
            c.on_connect.as_deref(),
            Some("curl -fsS \"$HOOK\" \\\n  -d up")
        );
        assert_eq!(c.alert_timeout, 3);
        let c = parse(&format!(
            "alert_after = {MAX_ALERT_SECS}\nsilence_alert = {MAX_ALERT_SECS}\nalert_timeout = {MAX_ALERT_TIMEOUT}\n"
        ))
        .unwrap();
        assert_eq!(c.alert_after, MAX_ALERT_SECS);
        assert_eq!(c.silence_alert, MAX_ALERT_SECS);
        assert_eq!(c.alert_timeout, MAX_ALERT_TIMEOUT);
    }

    #[test]
    fn bad_alert_values_name_their_key() {
        let cases = [
            ("alert_after = -1", "alert_after"),
            ("alert_after = \"60\"", "alert_after"),
            ("alert_after = 99999999999", "alert_after"),
            ("silence_alert = -5", "silence_alert"),
            ("silence_alert = 1.5", "silence_alert"),
            ("silence_alert = 99999999999", "silence_alert"),
            ("bell = \"yes\"", "bell"),
            ("bell = 1", "bell"),
            ("on_disconnect = \"\"", "on_disconnect"),
            ("on_disconnect = \"   \\t \"", "on_disconnect"),
            ("on_disconnect = 1", "on_disconnect"),
            ("on_disconnect = \"a\\u0000b\"", "on_disconnect"),
            ("on_connect = ''", "on_connect"),
            ("on_connect = [\"curl\"]", "on_connect"),
            ("alert_timeout = 0", "alert_timeout"),
            ("alert_timeout = -1", "alert_timeout"),
            ("alert_timeout = 3601", "alert_timeout"),
            ("keys = 1", "keys"),
        ];
        for (text, key) in cases {
            let e = parse(text).unwrap_err();
            let line = e.to_string();
            assert!(line.contains(&format!("key `{key}`")), "{text}: {line}");
            assert!(!line.contains('\n'), "{text}: {line}");
        }
        let e = parse("alert_timeout = 0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/z.toml: key `alert_timeout`: must be at least 1"
        );
        let e = parse("on_connect = ' '").unwrap_err();
        assert!(e.message.contains("must not be empty"), "{e}");
    }

    #[test]
    fn keys_table_remaps_and_its_errors_name_the_action() {
        use crate::keys::Action;
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let c = parse("bell = false\n[keys]\nquit = \"Q\"\nup = [\"up\", \"w\"]\n").unwrap();
        assert!(!c.bell);
        let q = KeyEvent::new(KeyCode::Char('Q'), KeyModifiers::SHIFT);
        assert_eq!(c.keys.action(&q), Some(Action::Quit));
        assert_eq!(c.keys.keys_of(Action::Up), "↑ / w");

        let e = parse("[keys]\nregster = \"r\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("keys.regster"));
        assert!(
            e.message.starts_with("unknown action; known: up, down"),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("/etc/z.toml: key `keys.regster`: "),
            "{e}"
        );
        let e = parse("[keys]\nrestart = \"r\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/z.toml: key `keys.restart`: `r` is bound to both register and restart"
        );
        let e = parse("[keys]\nquit = \"esc\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("keys.quit"));
        let e = parse("[keys]\nup = []\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("keys.up"));
        let e = parse("[keys]\nup = [\"k\", \"nope\"]\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("keys.up[1]"));
        let e = parse("[keys]\nup = 3\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("keys.up"));
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_config_with_an_alert_command_warns() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "on_disconnect = \"curl https://hooks.example/T0/B0/XXX\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let flags = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        };
        let c = Config::load(&flags, |_| None, None).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(!c.warnings[0].contains("hooks.example"));
    }

    #[test]
    fn the_example_config_in_assets_is_valid() {
        let text = include_str!("../assets/config.example.toml");
        let c = Config::from_toml(text, Path::new("assets/config.example.toml")).unwrap();
        assert_eq!(c.instances.len(), 2);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.retention_days, DEFAULT_RETENTION_DAYS);
        assert_eq!(c.poll_interval, DEFAULT_POLL_INTERVAL);
        assert_eq!(c.alert_after, DEFAULT_ALERT_AFTER);
        assert_eq!(c.alert_timeout, DEFAULT_ALERT_TIMEOUT);
        assert!(c.bell);
    }

    #[test]
    fn the_example_configs_commented_alerts_and_keys_are_valid_and_the_defaults() {
        // Uncomment the alert commands and every `[keys]` line.
        let text = include_str!("../assets/config.example.toml");
        let mut in_keys = false;
        let mut uncommented = 0;
        let lines: Vec<String> = text
            .lines()
            .map(|line| {
                if line.starts_with('[') {
                    in_keys = line == "[keys]";
                }
                let commented_entry = line.strip_prefix("# ").filter(|rest| {
                    (in_keys && rest.contains(" = "))
                        || rest.starts_with("on_disconnect =")
                        || rest.starts_with("on_connect =")
                });
                match commented_entry {
                    Some(rest) => {
                        uncommented += 1;
                        rest.to_string()
                    }
                    None => line.to_string(),
                }
            })
            .collect();
        assert_eq!(uncommented, 2 + crate::keys::Action::ALL.len());
        let c = Config::from_toml(&lines.join("\n"), Path::new("example")).unwrap();
        assert!(
            c.on_disconnect
                .as_deref()
                .is_some_and(|c| c.contains("$SLACK_WEBHOOK_URL"))
        );
        assert!(
            c.on_connect
                .as_deref()
                .is_some_and(|c| c.contains("$TELEGRAM_BOT_TOKEN"))
        );
        // The keys listed there are exactly the defaults.
        assert_eq!(c.keys, crate::keys::Keymap::default());
    }

    #[test]
    fn forward_targets_are_read_and_their_errors_name_file_and_key() {
        let c = parse(
            "register_all_types = true\n[[instances]]\nid='I1'\ntoken='T'\nname='shop'\n\
             [[forward]]\nname='bot'\nurl='https://bot.example.com/zapi'\ninstances=['shop']\n",
        )
        .expect("valid");
        assert!(c.register_all_types);
        assert_eq!(c.forward[0].instances, vec![InstanceId::new("I1")]);
        let e = parse("[[forward]]\nname='bot'\nurl='nope'").unwrap_err();
        assert_eq!(e.origin, "/etc/z.toml");
        assert_eq!(e.key.as_deref(), Some("forward[0].url"));
        assert!(
            e.to_string()
                .starts_with("/etc/z.toml: key `forward[0].url`: "),
            "{e}"
        );
        let e = parse("[[forward]]\nname='bot'\nurl='https://x.y'\ncolour='red'").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn a_forward_signing_secret_from_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[[forward]]\nname='bot'\nurl='https://x.y'\nsigning_secret_env='BOT_SECRET'\n",
        )
        .expect("write");
        let flags = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        };
        let env = |k: &str| {
            (k == "BOT_SECRET").then(|| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string())
        };
        let c = Config::load(&flags, env, None).expect("valid");
        assert_eq!(
            c.forward[0].signing_secret.as_ref().map(Secret::expose),
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        );
        let e = Config::load(&flags, |_: &str| None, None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("forward[0].signing_secret_env"));
        assert!(e.to_string().contains("BOT_SECRET"), "{e}");
    }

    #[test]
    fn the_example_configs_commented_cluster_block_is_valid_and_names_its_errors() {
        let text = include_str!("../assets/config.example.toml");
        let block: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("# [cluster]"))
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.strip_prefix("# "))
            .collect();
        assert_eq!(block.len(), 5, "{block:?}");
        let c = Config::from_toml(&block.join("\n"), Path::new("example")).unwrap();
        let cluster = c.cluster.unwrap();
        assert_eq!(cluster.servers().len(), 3);
        assert_eq!(
            (cluster.stream.as_str(), cluster.replicas),
            ("ZAPI_EVENTS", 3)
        );
        assert!(cluster.credentials.is_some());
        let e = parse("[cluster]\nnats_url = 'nats://a:4222'\nreplicas = 0").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("cluster.replicas"));
        assert!(
            e.to_string()
                .starts_with("/etc/z.toml: key `cluster.replicas`"),
            "{e}"
        );
        // the relay delivers on the leader: the two go together
        let c = parse("[cluster]\nnats_url = 'nats://a:4222'\n[[forward]]\nname = 'b'\nurl = 'https://b.example'")
            .unwrap();
        assert!(c.cluster.is_some());
        assert_eq!(c.forward.len(), 1);
    }

    #[test]
    fn the_example_configs_commented_forward_block_is_valid() {
        let text = include_str!("../assets/config.example.toml");
        let block: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("# register_all_types"))
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.strip_prefix("# "))
            .collect();
        assert!(block.len() >= 8, "{block:?}");
        let c = Config::from_toml(&block.join("\n"), Path::new("example")).unwrap();
        assert_eq!(c.forward.len(), 1);
        assert_eq!(c.forward[0].name, "bot");
        assert_eq!(
            c.forward[0].signing_secret_env.as_deref(),
            Some("BOT_WEBHOOK_SECRET")
        );
    }
}
