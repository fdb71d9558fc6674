//! `demo`: a simulated Z-API and fleet, and the dashboard pointed at them.

use std::time::Duration;

use chrono::Utc;

use zapi_dash::cli::Flags;
use zapi_dash::config::{Config, InstanceConfig};
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::sim::{self, Sim, SimOptions};
use zapi_dash::zapi::ZapiClient;

use super::Fatal;

/// Starts the simulated Z-API and fleet, then the dashboard pointed at them.
pub async fn run(flags: &Flags, n: usize) -> Result<(), Fatal> {
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
    super::run::run(config, flags, Some((sim, banner))).await
}
