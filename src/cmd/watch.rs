//! `watch --remote`: the dashboard fed by a remote `serve`.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use zapi_dash::app::{App, Reconfig, Settings, Setup, TimeZone};
use zapi_dash::cli::Flags;
use zapi_dash::config::{self, Config};
use zapi_dash::fleet::health::Rules;
use zapi_dash::model::Secret;
use zapi_dash::reload::Reload;
use zapi_dash::remote::{self, RemoteApi};
use zapi_dash::runner::{Alerts, Backend, Runner};
use zapi_dash::tui::{self, Feeds};

use super::{
    Fatal, enter_terminal, init_logging, load_config, no_color, reload_failed, spawn_reloads,
};

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
pub async fn run(flags: &Flags, remote_url: &str, api_token: Secret) -> Result<(), Fatal> {
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
    let term = enter_terminal()?;
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

    let feeds = Feeds {
        events,
        results: results_rx,
        log: None,
        reloads: Some(reloads),
        relay: None,
    };
    let outcome = tui::run(term, &mut app, feeds, runner, false).await;
    feed.abort();
    tracing::info!("stopped");
    outcome.map_err(|e| Fatal::runtime(format!("terminal error: {e}")))
}
