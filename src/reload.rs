//! Reloading the config without a restart: `serve` on SIGHUP (the daemon
//! convention), the dashboard on SIGUSR1 (there SIGHUP means the terminal
//! hung up, and still ends it).
//!
//! What a reload changes: the instances (added, removed, renamed), the
//! thresholds (`alert_after`, `silence_alert`), `poll_interval`, `bell`, the
//! alert commands and their timeout, the `[keys]` table, and the Z-API
//! settings calls use (`client_token`, `api_base`, `public_url`). What it
//! cannot change while running ([`FIXED_KEYS`]: the listen address, the
//! state dir, the TLS files, the webhook secret, the log's retention, the
//! API token, the `[[accounts]]`) is reported as needing a restart and left as it is. A config
//! that no longer loads changes nothing; the reason is shown (dashboard
//! footer) or logged at warn (`serve`).

use std::time::Duration;

use crate::app::Reconfig;
use crate::config::Config;
use crate::runner::{Alerts, Backend};

/// Keys a running process keeps until it is restarted.
pub const FIXED_KEYS: [&str; 8] = [
    "listen",
    "state_dir",
    "tls_cert/tls_key",
    "webhook_secret",
    "retention_days",
    "api_token",
    "accounts",
    "cluster",
];

/// A reloaded config, ready to apply: to the app, and to whoever carries
/// out its calls and alerts.
pub struct Reload {
    pub reconfig: Reconfig,
    /// Z-API calls with the new tokens; `None` keeps the backend (`watch`:
    /// the server makes the calls).
    pub backend: Option<Backend>,
    pub alerts: Alerts,
    /// `serve`'s `/status` polling (its hub polls, not the app).
    pub poll_interval: Duration,
}

/// What came of a reload signal.
pub enum Reloaded {
    Apply(Box<Reload>),
    /// The config does not load: why. Nothing changed.
    Failed(String),
}

/// The signal that asks for a reload: SIGHUP for `serve`, SIGUSR1 for the
/// dashboard. Never fires where it cannot be installed (or off Unix).
pub struct ReloadSignal {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl ReloadSignal {
    /// SIGHUP (`serve`: the daemon convention).
    pub fn hangup() -> ReloadSignal {
        #[cfg(unix)]
        {
            Self::unix(tokio::signal::unix::SignalKind::hangup())
        }
        #[cfg(not(unix))]
        ReloadSignal {}
    }

    /// SIGUSR1 (the dashboard, where SIGHUP is the terminal hanging up).
    pub fn user_defined1() -> ReloadSignal {
        #[cfg(unix)]
        {
            Self::unix(tokio::signal::unix::SignalKind::user_defined1())
        }
        #[cfg(not(unix))]
        ReloadSignal {}
    }

    #[cfg(unix)]
    fn unix(kind: tokio::signal::unix::SignalKind) -> ReloadSignal {
        let signal = tokio::signal::unix::signal(kind)
            .inspect_err(|e| tracing::warn!("config reload on a signal is off: {e}"))
            .ok();
        ReloadSignal { signal }
    }

    /// Waits for the next signal.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// The keys of [`FIXED_KEYS`] that differ between the running config and
/// the new one.
pub fn needs_restart(running: &Config, new: &Config) -> Vec<&'static str> {
    let changed = [
        running.listen != new.listen,
        running.state_dir != new.state_dir,
        running.tls != new.tls,
        running.webhook_secret != new.webhook_secret,
        running.retention_days != new.retention_days,
        running.api_token != new.api_token,
        running.accounts != new.accounts,
        running.cluster != new.cluster,
    ];
    FIXED_KEYS
        .iter()
        .zip(changed)
        .filter(|(_, c)| *c)
        .map(|(k, _)| *k)
        .collect()
}

/// The new config with the keys a restart would change kept as they run.
pub fn keep_fixed(running: &Config, mut new: Config) -> Config {
    new.listen = running.listen;
    new.state_dir.clone_from(&running.state_dir);
    new.tls.clone_from(&running.tls);
    new.webhook_secret.clone_from(&running.webhook_secret);
    new.retention_days = running.retention_days;
    new.api_token.clone_from(&running.api_token);
    new.accounts.clone_from(&running.accounts);
    new.cluster.clone_from(&running.cluster);
    new
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{App, Command, Level, Msg, Settings, Setup, TimeZone};
    use crate::fleet::health::Rules;
    use crate::model::InstanceId;
    use crate::model::{ConnState, Event, EventKind, Secret};
    use chrono::{TimeZone as _, Utc};

    fn ids(list: &[(&str, Option<&str>)]) -> Vec<(InstanceId, Option<String>)> {
        list.iter()
            .map(|(id, n)| (InstanceId::new(*id), n.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn reconfigure_adds_removes_renames_and_keeps_what_is_known() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let setup = Setup {
            listen: String::new(),
            secret_paths: false,
            config_file: None,
            instances: ids(&[("A", Some("a")), ("B", None), ("C", None)]),
            missing_for_register: None,
            can_query_status: true,
            tz: TimeZone::Local,
            banner: None,
            warnings: Vec::new(),
        };
        let mut app = App::new(setup, t0);
        app.configure(Settings::default());
        // B has been heard of; C never
        app.update(
            Msg::Webhook(Event {
                instance_id: InstanceId::new("B"),
                kind: EventKind::Disconnected { error: None },
                moment: t0,
                received: t0,
            }),
            t0,
        );
        let settings = Settings {
            rules: Rules::from_secs(5, 60),
            bell: false,
            ..Settings::default()
        };
        let cmds = app.reconfigure(
            Reconfig {
                instances: Some(ids(&[("A", Some("renamed")), ("D", Some("new"))])),
                missing_for_register: None,
                can_query_status: true,
                settings: settings.clone(),
                needs_restart: vec!["listen"],
            },
            t0,
        );
        assert_eq!(cmds.len(), 1);
        assert!(matches!(&cmds[0], Command::FetchStatus(id) if id.as_str() == "D"));
        let a = app.get(&InstanceId::new("A")).unwrap();
        assert_eq!((a.name.as_deref(), a.configured), (Some("renamed"), true));
        let b = app.get(&InstanceId::new("B")).unwrap();
        assert_eq!((b.configured, b.state), (false, ConnState::Disconnected));
        assert!(app.get(&InstanceId::new("C")).is_none());
        assert!(app.get(&InstanceId::new("D")).unwrap().configured);
        assert_eq!(app.counts(), (0, 1, 2));
        assert_eq!(app.fleet.events, 1, "no event lost");
        assert_eq!(app.settings.rules, settings.rules);
        assert!(!app.switches.bell);
        let notice = app.ops.notice.clone().unwrap();
        assert_eq!(notice.level, Level::Warn);
        assert_eq!(
            notice.text,
            "config reloaded: 1 instances added, 2 removed; needs a restart to change: listen (running as before)"
        );
        // the table still works on the new rows
        app.prepare();
        assert_eq!(app.view.order.len(), 3);
    }

    #[test]
    fn fixed_keys_are_reported_and_kept() {
        let running = Config::default();
        let mut new = Config {
            listen: "127.0.0.1:9999".parse().unwrap(),
            webhook_secret: Some(Secret::new("a-new-secret-that-is-long-enough")),
            alert_after: 7,
            ..Config::default()
        };
        new.tls = Some(("c.pem".into(), "k.pem".into()));
        assert_eq!(
            needs_restart(&running, &new),
            ["listen", "tls_cert/tls_key", "webhook_secret"]
        );
        let kept = keep_fixed(&running, new);
        assert_eq!(kept.listen, running.listen);
        assert!(kept.tls.is_none() && kept.webhook_secret.is_none());
        assert_eq!(kept.alert_after, 7, "what can change does");
        assert!(needs_restart(&running, &kept).is_empty());
    }
}
