//! What the screen is told at start ([`Setup`]) and by the config
//! ([`Settings`]), what a reloaded config changes ([`Reconfig`]), and how
//! it shows times ([`TimeZone`]).

use super::*;

/// How times are shown: the machine's local zone, or a fixed offset (tests).
#[derive(Debug, Clone, Copy)]
pub enum TimeZone {
    Local,
    Fixed(FixedOffset),
}

impl TimeZone {
    /// Formats `t` in this zone with a chrono format string.
    pub fn format(self, t: DateTime<Utc>, fmt: &str) -> String {
        match self {
            TimeZone::Local => t.with_timezone(&Local).format(fmt).to_string(),
            TimeZone::Fixed(off) => t.with_timezone(&off).format(fmt).to_string(),
        }
    }
}

/// What the app needs to know about its setup: what the program was started
/// with, fixed until a restart (the file is [`crate::config::Config`], what a
/// reload can change is [`Settings`]). No secrets in here.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Base URL of the listener as shown in the header (`http://127.0.0.1:8787`).
    pub listen: String,
    /// Webhooks are only taken under per-instance secret paths.
    pub secret_paths: bool,
    /// The config file in use, if any.
    pub config_file: Option<String>,
    /// Configured instances (id, optional name), in config order.
    pub instances: Vec<(InstanceId, Option<String>)>,
    /// `Some("public_url")` / `Some("client_token")` when `r`/`R` cannot work.
    pub missing_for_register: Option<&'static str>,
    /// A Client-Token is configured, so `/status` can be asked.
    pub can_query_status: bool,
    pub tz: TimeZone,
    /// A banner shown under the header (e.g. "demo mode").
    pub banner: Option<String>,
    /// Problems found at start (corrupt log records, a config readable by
    /// others), shown in the footer until the next action.
    pub warnings: Vec<String>,
}

/// What the config says beyond the [`Setup`]: what can change at runtime
/// (set with [`App::configure`], changed by a reload through [`Reconfig`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Ask `/status` of every configured instance this often, spread over
    /// the interval (zero: never).
    pub poll_interval: std::time::Duration,
    pub rules: Rules,
    /// The bell is on at start.
    pub bell: bool,
    /// `NO_COLOR` is set: no colour at all, state still in words and symbols.
    pub no_color: bool,
    /// `GET …/me` can be asked (a Z-API client here, not through `watch`).
    pub can_check_hooks: bool,
    /// Which alert commands the config has: (on_disconnect, on_connect).
    pub alerts: (bool, bool),
    pub keys: Keymap,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            poll_interval: std::time::Duration::ZERO,
            rules: Rules::default(),
            bell: true,
            no_color: false,
            can_check_hooks: false,
            alerts: (false, false),
            keys: Keymap::default(),
        }
    }
}

/// What a new config changes in the [`App`]; see
/// [`App::reconfigure`].
#[derive(Debug, Clone)]
pub struct Reconfig {
    /// Configured instances (id, optional name), in config order; `None`
    /// leaves the rows alone (`watch`: they are the server's).
    pub instances: Option<Vec<(InstanceId, Option<String>)>>,
    /// As in [`Setup`].
    pub missing_for_register: Option<&'static str>,
    /// As in [`Setup`].
    pub can_query_status: bool,
    pub settings: Settings,
    /// Keys the file changed that only a restart applies.
    pub needs_restart: Vec<&'static str>,
}

/// The dashboard's "config reloaded" notice, or `serve`'s log line.
pub fn summary(added: usize, removed: usize, needs_restart: &[&str]) -> String {
    let mut text = format!("config reloaded: {added} instances added, {removed} removed");
    if !needs_restart.is_empty() {
        text.push_str(&format!(
            "; needs a restart to change: {} (running as before)",
            needs_restart.join(", ")
        ));
    }
    text
}
