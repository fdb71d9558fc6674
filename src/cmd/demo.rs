//! `demo`: a simulated Z-API and fleet, and the dashboard pointed at them.
//!
//! The terminal is entered first and the starting screen drawn at once:
//! with hundreds of instances the simulator takes a moment to start, and
//! keys typed meanwhile must neither echo nor reach the dashboard.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;

use zapi_dash::cli::Flags;
use zapi_dash::config::{AccountConfig, Config, InstanceConfig};
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::sim::{self, Sim, SimAccount, SimInstance, SimOptions};
use zapi_dash::words::count;
use zapi_dash::zapi::ZapiClient;

use super::{Fatal, enter_terminal};

/// The URL the demo's webhooks are registered under.
const PUBLIC_URL: &str = "https://zapi-dash.demo.invalid";

/// Registrations sent to the simulator at once while the demo starts.
const REGISTER_CONCURRENCY: usize = 32;

/// The text of the starting screen for `n` instances.
pub fn starting_text(n: usize) -> String {
    format!("starting {}…", count(n, "simulated instance"))
}

/// Enters the terminal, starts the simulated Z-API and fleet under the
/// starting screen (`q` or ctrl-c leave meanwhile), then the dashboard
/// pointed at them.
pub async fn run(flags: &Flags, n: usize) -> Result<(), Fatal> {
    let mut term = enter_terminal()?;
    let started = term
        .while_starting("zapi-dash demo", &starting_text(n), start(flags, n))
        .await
        .map_err(|e| Fatal::runtime(format!("terminal error: {e}")))?;
    let Some(started) = started else {
        // quit before the dashboard was up: nothing to clean but the terminal
        return Ok(());
    };
    let (sim, config, banner) = started?;
    super::run::run(config, flags, Some((sim, banner)), Some(term)).await
}

/// The simulator with its fleet set up, the config pointing at it, and the banner.
async fn start(flags: &Flags, n: usize) -> Result<(Sim, Config, String), Fatal> {
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
    // `c` on a red row: a simulated phone scans the code a few seconds later
    sim.scan_codes_after(Duration::from_secs(4));
    // a fleet is never all green: two numbers start out down
    for (i, error) in [(3, sim::ERR_RESTORE_SESSION), (11, sim::ERR_NOT_CONNECTED)] {
        if let Some(inst) = instances.get(i) {
            sim.set_connected(&inst.id, false, Some(error));
        }
    }
    register(&sim, &client_token, &instances).await;
    let account_b = second_account(&sim, n, seed).await;
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
        public_url: Some(PUBLIC_URL.into()),
        instances: instances
            .iter()
            .map(|i| InstanceConfig {
                id: InstanceId::new(&i.id),
                token: Secret::new(&i.token),
                name: Some(i.name.clone()),
                account: None,
            })
            .collect(),
        accounts: vec![account_b],
        state_dir: Some(state),
        ..Config::default()
    };
    if let Some(listen) = flags.listen {
        config.listen = listen;
    }
    let banner = format!(
        "DEMO · simulated Z-API at {} with {} over 2 accounts · no real account is touched",
        sim.base_url(),
        count(n + account_b_size(n), "simulated instance")
    );
    Ok((sim, config, banner))
}

/// Instances of the demo's second account.
fn account_b_size(n: usize) -> usize {
    (n / 4).clamp(3, 250)
}

/// The demo's second account, "Agency B": its own Client-Token and a
/// partner token, its instances discovered (none in the config), listed
/// every 10 s; 20 s in, one instance joins it and one leaves.
async fn second_account(sim: &Sim, n: usize, seed: u64) -> AccountConfig {
    let size = account_b_size(n);
    let mut found = sim::demo_instances(size + 1, seed ^ 0xB0B);
    for inst in &mut found {
        inst.name = format!("B · {}", inst.name);
    }
    let joins = found.pop();
    let client_token = format!("demo-b-{seed:x}");
    let partner_token = format!("demo-partner-b-{seed:x}");
    sim.add_account(
        SimAccount {
            client_token: client_token.clone(),
            partner_token: Some(partner_token.clone()),
        },
        found.clone(),
    );
    register(sim, &client_token, &found).await;
    if let (Some(joins), Some(leaves)) = (joins, found.get(1)) {
        sim.change_accounts_after(Duration::from_secs(20), 1, joins, leaves.id.clone());
    }
    AccountConfig {
        name: "Agency B".into(),
        client_token: Some(Secret::new(client_token)),
        client_token_env: None,
        partner_token: Some(Secret::new(partner_token)),
        partner_token_env: None,
        discover_every: 10,
        query: None,
    }
}

/// Registers the fleet's webhooks on the simulator, many at once (one
/// after the other took a minute for 200 instances): most point at this
/// dashboard already, one was never registered and one still points at an
/// old server (drift, for `R`).
async fn register(sim: &Sim, client_token: &str, instances: &[SimInstance]) {
    let Ok(client) = ZapiClient::new(&sim.base_url(), Secret::new(client_token)) else {
        return;
    };
    let client = &client;
    futures::stream::iter(instances.iter().enumerate())
        .filter_map(|(i, inst)| async move {
            let url = match i {
                5 => return None,
                8 => "https://old-dashboard.demo.invalid",
                _ => PUBLIC_URL,
            };
            Some((inst, url))
        })
        .map(|(inst, url)| async move {
            let id = InstanceId::new(&inst.id);
            let token = Secret::new(&inst.token);
            let _ = client.register_webhooks(&id, &token, url, None).await;
        })
        .buffer_unordered(REGISTER_CONCURRENCY)
        .collect::<()>()
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starting_text_counts_the_instances() {
        assert_eq!(starting_text(20), "starting 20 simulated instances…");
        assert_eq!(starting_text(1), "starting 1 simulated instance…");
    }
}
