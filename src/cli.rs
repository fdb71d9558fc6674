//! Command line: `zapi-dash [FLAGS]` runs the dashboard, `zapi-dash demo`
//! runs it against a simulated Z-API and fleet.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A terminal dashboard for Z-API WhatsApp instances: it receives Z-API's
/// connect/disconnect webhooks and shows every instance's state live.
#[derive(Debug, Parser)]
#[command(name = "zapi-dash", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Subcommand>,

    #[command(flatten)]
    pub flags: Flags,
}

/// Flags shared by every mode; each overrides the config file.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// Config file (TOML). Default: the platform's config dir, zapi-dash/config.toml, if it exists.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address the webhook listener binds (default 127.0.0.1:8787).
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Public https URL under which Z-API reaches the listener (used when re-registering webhooks).
    #[arg(long, global = true, value_name = "URL")]
    pub public_url: Option<String>,

    /// Base URL of the Z-API REST API (default https://api.z-api.io).
    #[arg(long, global = true, value_name = "URL")]
    pub api_base: Option<String>,

    /// Directory for the event log (<dir>/events) and the diagnostics log (default: the platform's state dir for zapi-dash).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Detail of the diagnostics log (<state dir>/zapi-dash.log).
    #[arg(long, global = true, value_name = "LEVEL", default_value = "info",
          value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,

    /// Panic after the first frame (tests that a panic restores the terminal).
    #[arg(long, global = true, hide = true)]
    pub debug_panic: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Self {
            config: None,
            listen: None,
            public_url: None,
            api_base: None,
            state_dir: None,
            log_level: "info".into(),
            debug_panic: false,
        }
    }
}

/// `report --help`: what its exit codes mean, for scripts.
pub const REPORT_EXIT_CODES: &str = "Exit codes: 0 the report was printed; \
1 the event log could not be read; 2 a bad flag, --since or config; \
3 no event log in the state dir (nothing recorded yet, or another --state-dir).";

/// The subcommand given on the command line (not [`crate::app::Command`],
/// which is what the dashboard asks its loop to do).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Subcommand {
    /// Run the dashboard (the default when no subcommand is given). It
    /// needs a terminal: without one (ssh without -t, cron, a pipe) it
    /// exits 2; use `serve` there.
    Run,
    /// The listener, the event log, the Z-API poller and the HTTP API
    /// (/metrics, /api/*) without a screen, for systemd or a container:
    /// prints one JSON line per accepted event on stdout.
    Serve,
    /// The dashboard fed by a remote `zapi-dash serve` over its HTTP API
    /// instead of a local listener: live over Server-Sent Events, with
    /// reconnection by itself; the action keys (r, R, s, x, e, and c with its
    /// QR and pairing codes) are carried out by the server, so the tokens stay there.
    Watch {
        /// The server's base URL, e.g. https://dash.example.com or http://127.0.0.1:8787.
        #[arg(long, value_name = "URL")]
        remote: String,
        /// The server's `api_token`.
        #[arg(
            long,
            value_name = "TOKEN",
            env = "ZAPI_DASH_API_TOKEN",
            hide_env_values = true
        )]
        api_token: String,
    },
    /// Print a shell completion script: `zapi-dash completions bash > /etc/bash_completion.d/zapi-dash`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Per instance and day, from the event log: uptime, disconnects, mean
    /// time to reconnect, longest outage (days in UTC). Reads the log of
    /// the config's state dir (or --state-dir) without disturbing a
    /// running dashboard or `serve`.
    #[command(after_help = REPORT_EXIT_CODES)]
    Report {
        /// How far back: a whole number of days, hours or minutes (7d, 24h, 30m).
        #[arg(long, value_name = "DURATION", default_value = "7d",
              value_parser = crate::report::parse_since)]
        since: chrono::TimeDelta,
        /// table (readable, the default), csv (one row per instance and day) or json.
        #[arg(long, value_enum, value_name = "FORMAT", default_value_t = crate::report::format::Format::Table)]
        format: crate::report::format::Format,
    },
    /// The whole product with no Z-API account: a simulated Z-API and a fleet
    /// of ~20 instances that disconnect and reconnect at random.
    Demo {
        /// How many simulated instances.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=5000))]
        instances: u16,
    },
}
