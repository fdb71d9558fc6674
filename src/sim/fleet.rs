//! The simulated fleet: instances that drop and come back and POST the
//! matching webhooks to a listener; Z-API's webhook bodies; demo instances.

use std::time::Duration;

use chrono::Utc;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::state::{Post, Shared};
use super::{
    DISCONNECT_ERRORS, ERR_DEVICE_DISCONNECTED, ERR_NOT_CONNECTED, FleetOptions, Sim, SimInstance,
};

/// Z-API's `DisconnectedCallback` body.
pub fn webhook_body_disconnected(id: &str, momment: i64, error: &str) -> Value {
    json!({
        "type": "DisconnectedCallback",
        "instanceId": id,
        "momment": momment,
        "error": error,
        "disconnected": true,
    })
}

/// Z-API's `ConnectedCallback` body (well-formed, unlike the docs' example).
pub fn webhook_body_connected(id: &str, momment: i64, phone: &str) -> Value {
    json!({
        "type": "ConnectedCallback",
        "instanceId": id,
        "momment": momment,
        "connected": true,
        "phone": phone,
    })
}

/// A `ReceivedCallback` (text message) body in Z-API's shape.
pub fn webhook_body_received(
    id: &str,
    momment: i64,
    connected_phone: &str,
    from_phone: &str,
    text: &str,
) -> Value {
    json!({
        "isStatusReply": false,
        "connectedPhone": connected_phone,
        "waitingMessage": false,
        "isEdit": false,
        "isGroup": false,
        "instanceId": id,
        "messageId": format!("3EB0{:016X}", momment.unsigned_abs()),
        "phone": from_phone,
        "fromMe": false,
        "momment": momment,
        "status": "RECEIVED",
        "chatName": "Customer",
        "senderName": "Customer",
        "participantPhone": null,
        "broadcast": false,
        "type": "ReceivedCallback",
        "text": { "message": text },
    })
}

pub(super) const DEMO_NAMES: [&str; 12] = [
    "Sales",
    "Support",
    "Billing",
    "Marketing",
    "Logistics",
    "Onboarding",
    "Collections",
    "Front Desk",
    "Partners",
    "Store SP",
    "Store RJ",
    "After-sales",
];

pub(super) const DEMO_TEXTS: [&str; 6] = [
    "Hi, is my order on its way?",
    "Thanks!",
    "Can I get the invoice?",
    "Bom dia",
    "What time do you open?",
    "ok",
];

/// `n` plausible instances ("Sales", "Support", … then "Sales 2"...) with
/// 32-hex-character ids and random 24-character tokens; the same `seed`
/// gives the same instances.
pub fn demo_instances(n: usize, seed: u64) -> Vec<SimInstance> {
    const HEX: &[u8] = b"0123456789ABCDEF";
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hex = |len: usize| -> String {
        (0..len)
            .map(|_| char::from(HEX[rng.random_range(0..HEX.len())]))
            .collect()
    };
    (0..n)
        .map(|i| {
            let base = DEMO_NAMES[i % DEMO_NAMES.len()];
            let round = i / DEMO_NAMES.len();
            let name = if round == 0 {
                base.to_owned()
            } else {
                format!("{base} {}", round + 1)
            };
            SimInstance {
                id: hex(32),
                token: hex(24),
                name,
            }
        })
        .collect()
}

impl Shared {
    /// One random change of the fleet: returns the webhook to send.
    /// The token of the instance a webhook body is about.
    fn token_of(&self, body: &Value) -> Option<String> {
        let id = body.get("instanceId")?.as_str()?;
        self.lock().instances.get(id).map(|i| i.token.clone())
    }

    fn fleet_step(&self, rng: &mut StdRng) -> Option<Post> {
        let mut st = self.lock();
        let id = st.order.choose(rng)?.clone();
        let inst = st.instances.get_mut(&id)?;
        let now = Utc::now();
        // Z-API itself mixes units: seconds in the disconnect example,
        // milliseconds in message webhooks.
        let momment = if rng.random_bool(0.5) {
            now.timestamp()
        } else {
            now.timestamp_millis()
        };
        let roll: u32 = rng.random_range(0..100);
        if inst.connected {
            if roll < 40 {
                let from = format!("55{:011}", rng.random_range(0..100_000_000_000_u64));
                let text = DEMO_TEXTS.choose(rng).copied().unwrap_or("hi");
                let body =
                    webhook_body_received(&id, now.timestamp_millis(), &inst.phone, &from, text);
                return Some(Post {
                    path: "/hooks",
                    body,
                });
            }
            if roll < 75 {
                let error = DISCONNECT_ERRORS
                    .choose(rng)
                    .copied()
                    .unwrap_or(ERR_DEVICE_DISCONNECTED);
                inst.connected = false;
                inst.smartphone_connected = error != ERR_DEVICE_DISCONNECTED;
                inst.error = if error == ERR_DEVICE_DISCONNECTED {
                    ERR_NOT_CONNECTED.to_owned()
                } else {
                    error.to_owned()
                };
                return Some(Post {
                    path: "/hooks/disconnected",
                    body: webhook_body_disconnected(&id, momment, error),
                });
            }
            None
        } else if roll < 70 {
            inst.connected = true;
            inst.smartphone_connected = true;
            inst.error.clear();
            Some(Post {
                path: "/hooks/connected",
                body: webhook_body_connected(&id, momment, &inst.phone),
            })
        } else {
            None
        }
    }
}

/// Starts a task that, every `opts.interval`, picks a random instance of
/// `sim` and makes it disconnect or reconnect (or receive a message),
/// POSTing the matching webhook to `{listener_base}/hooks/disconnected`,
/// `/hooks/connected` or `/hooks`. Reconnections caused by `restart` and
/// `restore-session` calls are posted too, each with the instance token in
/// a `z-api-token` header as real deliveries carry. Failed POSTs are
/// ignored. The task ends when the sim stops.
pub fn spawn_fleet(sim: &Sim, listener_base: String, opts: FleetOptions) -> JoinHandle<()> {
    let shared = sim.shared.clone();
    shared.lock().fleet_attached = true;
    let mut stopped = sim.stop.subscribe();
    let base = listener_base.trim_end_matches('/').to_owned();
    let interval = opts.interval.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let Ok(http) = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
        else {
            tracing::warn!("fleet: could not build an HTTP client");
            return;
        };
        let mut rng = StdRng::seed_from_u64(opts.seed);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let posts = tokio::select! {
                _ = stopped.wait_for(|s| *s) => break,
                _ = ticker.tick() => shared.fleet_step(&mut rng).into_iter().collect(),
                () = shared.hooks_pending.notified() => std::mem::take(&mut shared.lock().pending_hooks),
            };
            for post in posts {
                let url = format!("{base}{}", post.path);
                let mut request = http.post(url).json(&post.body);
                // as real deliveries do: the instance token in `z-api-token`
                if let Some(token) = shared.token_of(&post.body) {
                    request = request.header(crate::listener::token_header::TOKEN_HEADER, token);
                }
                // The listener may be gone or slow: a demo shrugs.
                let _ = request.send().await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::state::{Inst, SimState, phone_for};
    use crate::sim::{ERR_RESTORE_SESSION, SimOptions};
    use axum::Router;
    use axum::http::StatusCode;
    use std::sync::{Arc, Mutex};
    use tokio::sync::Notify;

    #[test]
    fn demo_instances_are_plausible_unique_and_seeded() {
        let a = demo_instances(30, 7);
        assert_eq!(a, demo_instances(30, 7));
        assert_ne!(a, demo_instances(30, 8));
        assert_eq!(a.len(), 30);
        assert_eq!(a[0].name, "Sales");
        assert_eq!(a[1].name, "Support");
        assert_eq!(a[14].name, "Billing 2");
        let mut ids: Vec<_> = a.iter().map(|i| i.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30);
        for i in &a {
            assert_eq!(i.id.len(), 32);
            assert!(i.id.chars().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(i.token.len(), 24);
            assert_ne!(i.token, i.id[..24]);
        }
    }

    #[test]
    fn webhook_bodies_have_zapi_shape() {
        let d = webhook_body_disconnected("ID", 1_580_163_342, ERR_DEVICE_DISCONNECTED);
        assert_eq!(
            d,
            json!({"momment": 1_580_163_342, "error": "Device has been disconnected",
                   "disconnected": true, "type": "DisconnectedCallback", "instanceId": "ID"})
        );
        let c = webhook_body_connected("ID", 1_732_400_000_000, "5544999999999");
        assert_eq!(
            c,
            json!({"type": "ConnectedCallback", "connected": true, "momment": 1_732_400_000_000_i64,
                   "instanceId": "ID", "phone": "5544999999999"})
        );
        let r = webhook_body_received("ID", 1_632_228_638_000, "554499999999", "5511", "hi");
        assert_eq!(r["type"], "ReceivedCallback");
        assert_eq!(r["instanceId"], "ID");
        assert_eq!(r["momment"], 1_632_228_638_000_i64);
        assert_eq!(r["text"]["message"], "hi");
    }

    #[test]
    fn phone_is_stable_and_plausible() {
        let p = phone_for("ABC");
        assert_eq!(p, phone_for("ABC"));
        assert!(p.starts_with("5544") && p.len() == 13, "{p}");
        assert!(p.chars().all(|c| c.is_ascii_digit()));
    }

    fn shared_with(instances: Vec<SimInstance>) -> Shared {
        let mut st = SimState::default();
        for i in instances {
            st.order.push(i.id.clone());
            st.instances.insert(i.id.clone(), Inst::new(i));
        }
        Shared {
            client_token: "ct".into(),
            latency: Duration::ZERO,
            state: Mutex::new(st),
            calls_changed: Notify::new(),
            hooks_pending: Notify::new(),
        }
    }

    #[test]
    fn fleet_steps_keep_state_and_webhooks_in_agreement() {
        let shared = shared_with(demo_instances(5, 1));
        let mut rng = StdRng::seed_from_u64(3);
        let (mut seconds, mut millis, mut kinds) = (0, 0, std::collections::HashSet::new());
        for _ in 0..500 {
            let Some(post) = shared.fleet_step(&mut rng) else {
                continue;
            };
            let id = post.body["instanceId"].as_str().unwrap().to_owned();
            let momment = post.body["momment"].as_i64().unwrap();
            if momment > crate::model::MOMENT_MS_THRESHOLD {
                millis += 1;
            } else {
                seconds += 1;
            }
            let st = shared.lock();
            let inst = &st.instances[&id];
            let kind = post.body["type"].as_str().unwrap().to_owned();
            match kind.as_str() {
                "DisconnectedCallback" => {
                    assert_eq!(post.path, "/hooks/disconnected");
                    assert!(!inst.connected);
                    assert!(!inst.error.is_empty());
                    assert!(DISCONNECT_ERRORS.contains(&post.body["error"].as_str().unwrap()));
                    assert_eq!(post.body["disconnected"], true);
                }
                "ConnectedCallback" => {
                    assert_eq!(post.path, "/hooks/connected");
                    assert!(inst.connected && inst.error.is_empty());
                    assert_eq!(post.body["phone"], inst.phone.as_str());
                }
                "ReceivedCallback" => {
                    assert_eq!(post.path, "/hooks");
                    assert!(inst.connected);
                }
                other => panic!("unexpected {other}"),
            }
            kinds.insert(kind);
        }
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(seconds > 0 && millis > 0);
    }

    #[test]
    fn fleet_step_on_an_empty_sim_does_nothing() {
        let shared = shared_with(Vec::new());
        assert_eq!(shared.fleet_step(&mut StdRng::seed_from_u64(0)), None);
    }

    /// A listener that records the webhooks it receives.
    async fn recorder() -> (String, Arc<(Mutex<Vec<(String, Value)>>, Notify)>) {
        use axum::Json;
        use axum::extract::OriginalUri;
        let rec = Arc::new((Mutex::new(Vec::new()), Notify::new()));
        let r = rec.clone();
        let app = Router::new().fallback(move |uri: OriginalUri, Json(v): Json<Value>| {
            let r = r.clone();
            async move {
                r.0.lock().unwrap().push((uri.path().to_owned(), v));
                r.1.notify_waiters();
                StatusCode::OK
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/"), rec)
    }

    async fn wait_posts(
        rec: &(Mutex<Vec<(String, Value)>>, Notify),
        pred: impl Fn(&[(String, Value)]) -> bool,
    ) -> Vec<(String, Value)> {
        let wait = async {
            loop {
                let n = rec.1.notified();
                tokio::pin!(n);
                n.as_mut().enable();
                {
                    let got = rec.0.lock().unwrap();
                    if pred(&got) {
                        return got.clone();
                    }
                }
                n.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("webhooks did not arrive")
    }

    #[tokio::test]
    async fn fleet_posts_webhooks_over_http_and_stops_with_the_sim() {
        let sim = Sim::start(SimOptions {
            instances: demo_instances(3, 2),
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let (base, rec) = recorder().await;
        let task = spawn_fleet(
            &sim,
            base,
            FleetOptions {
                interval: Duration::from_millis(5),
                seed: 9,
            },
        );
        let posts = wait_posts(&rec, |p| {
            p.iter().any(|(path, _)| path == "/hooks/disconnected")
                && p.iter().any(|(path, _)| path == "/hooks/connected")
        })
        .await;
        for (path, body) in &posts {
            let kind = body["type"].as_str().unwrap();
            let expected = match kind {
                "DisconnectedCallback" => "/hooks/disconnected",
                "ConnectedCallback" => "/hooks/connected",
                "ReceivedCallback" => "/hooks",
                other => panic!("unexpected {other}"),
            };
            assert_eq!(path, expected);
            assert!(sim.instance(body["instanceId"].as_str().unwrap()).is_some());
        }
        sim.shutdown();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("fleet did not stop with the sim")
            .unwrap();
    }

    #[tokio::test]
    async fn restart_of_a_disconnected_instance_is_announced_by_the_fleet() {
        let inst = demo_instances(1, 4).remove(0);
        let sim = Sim::start(SimOptions {
            client_token: "CT".into(),
            instances: vec![inst.clone()],
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let (base, rec) = recorder().await;
        // An hour between random changes: only the restart can post.
        let _task = spawn_fleet(
            &sim,
            base,
            FleetOptions {
                interval: Duration::from_secs(3600),
                seed: 0,
            },
        );
        sim.set_connected(&inst.id, false, Some(ERR_RESTORE_SESSION));
        let client =
            crate::zapi::ZapiClient::new(&sim.base_url(), crate::model::Secret::new("CT")).unwrap();
        let id = crate::model::InstanceId::new(inst.id.clone());
        let token = crate::model::Secret::new(inst.token.clone());
        client.restore_session(&id, &token).await.unwrap();
        let posts = wait_posts(&rec, |p| !p.is_empty()).await;
        assert_eq!(posts[0].0, "/hooks/connected");
        assert_eq!(posts[0].1["type"], "ConnectedCallback");
        assert_eq!(posts[0].1["instanceId"], inst.id.as_str());
        assert!(sim.instance(&inst.id).unwrap().connected);
    }
}
